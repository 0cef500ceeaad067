//! What a job is asked to produce: the named presets, the peak modes, the [`ProcessingSpec`]
//! with its validation and canonical form, and the tolerances a result is judged by.

use serde::Serialize;

use crate::decode::Limits;
use crate::encode::{EncodeOptions, Mp3Bitrate, OutputFormat, SampleFormat};
use crate::error::{Error, Result};
use crate::loudness::MonoMode;

/// The quietest target accepted, LUFS. Below it, BS.1770's −70 LUFS absolute gate takes more
/// and more of a programme's quiet passages out of the measurement (a −70 LUFS target ended at
/// −67.4 LUFS): such targets cannot be met, so they are refused.
pub const MIN_TARGET_LUFS: f64 = -50.0;

/// How close to the target the output's integrated loudness must be for `target_met`, LU.
pub const TARGET_TOLERANCE_LU: f64 = 0.2;
/// How far above the ceiling the output's true peak may read for `target_met`, dB. The
/// meter's own uncertainty on inter-sample peaks is about this size.
pub const CEILING_TOLERANCE_DB: f64 = 0.05;

/// How far under the true-peak ceiling the gain and the limiter aim, dB. Our meter reads the
/// true peak within ±0.02 dB on the Tech 3341 cases; meters with coarser interpolation filters
/// (libebur128 and its ports read up to 0.3 dB high near fs/4) then still read at or near the
/// ceiling.
pub const TRUE_PEAK_HEADROOM_DB: f64 = 0.1;
/// A lossy output whose decoded loudness is further than this from the target is encoded
/// again with the gain corrected, LU.
pub const LOSSY_CORRECTION_LU: f64 = 0.05;

/// A named loudness target and true-peak ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// EBU R128 broadcast: −23 LUFS, −1 dBTP.
    Ebu,
    /// Music streaming services: −14 LUFS, −1 dBTP.
    Streaming,
    /// Podcasts (AES TD1004 / Apple): −16 LUFS, −1.5 dBTP.
    Podcast,
    /// ATSC A/85 (US broadcast): −24 LKFS, −2 dBTP.
    Atsc,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 4] = [Preset::Ebu, Preset::Streaming, Preset::Podcast, Preset::Atsc];

    /// The preset called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Preset::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Ebu => "ebu",
            Preset::Streaming => "streaming",
            Preset::Podcast => "podcast",
            Preset::Atsc => "atsc",
        }
    }

    /// Integrated loudness target, LUFS.
    pub fn target_lufs(self) -> f64 {
        match self {
            Preset::Ebu => -23.0,
            Preset::Streaming => -14.0,
            Preset::Podcast => -16.0,
            Preset::Atsc => -24.0,
        }
    }

    /// True-peak ceiling, dBTP.
    pub fn true_peak_dbtp(self) -> f64 {
        match self {
            Preset::Ebu | Preset::Streaming => -1.0,
            Preset::Podcast => -1.5,
            Preset::Atsc => -2.0,
        }
    }
}

/// How the true-peak ceiling is held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeakMode {
    /// One constant gain; lowered to meet the ceiling if need be (the target is then missed,
    /// and the report says by how much).
    #[default]
    Linear,
    /// The gain the target needs, and a look-ahead true-peak limiter holding the ceiling.
    Limit,
}

impl PeakMode {
    /// The mode called `name`: `linear` or `limit`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "linear" => Some(PeakMode::Linear),
            "limit" | "limiter" => Some(PeakMode::Limit),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            PeakMode::Linear => "linear",
            PeakMode::Limit => "limit",
        }
    }
}

/// Album mode: the album a track belongs to, measured as one programme, and the one gain every
/// track of it gets (see [`crate::album`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AlbumLevel {
    /// The album's integrated loudness (gated over the union of its tracks' blocks), LUFS.
    pub integrated_lufs: f64,
    /// The album's true peak (the loudest track's), dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// The gain every track gets, dB: target − album loudness, lowered in linear mode so the
    /// loudest peak of the album meets the ceiling.
    pub gain_db: f64,
    /// Tracks measured together.
    pub tracks: usize,
}

/// Everything that decides what a job produces. Two jobs with equal specs on the same input
/// produce byte-identical outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessingSpec {
    /// The preset the targets came from (for reports).
    pub preset: Preset,
    /// Integrated loudness target, LUFS.
    pub target_lufs: f64,
    /// True-peak ceiling, dBTP.
    pub true_peak_dbtp: f64,
    /// How the ceiling is held.
    pub mode: PeakMode,
    /// Output sample rate; `None` keeps the input's (or the nearest the format can carry).
    pub sample_rate: Option<u32>,
    /// Output channel count (1 or 2); `None` keeps the input's (MP3: at most 2).
    pub channels: Option<usize>,
    /// Output format.
    pub format: OutputFormat,
    /// PCM sample format for WAV/FLAC; `None` follows the input (16-bit stays 16-bit, float
    /// stays float in WAV, everything else becomes 24-bit).
    pub sample_format: Option<SampleFormat>,
    /// TPDF dither when quantising to 16 bits.
    pub dither: bool,
    /// MP3 rate control.
    pub mp3: Mp3Bitrate,
    /// Opus bit rate, kb/s.
    pub opus_kbps: u32,
    /// FLAC compression level, 0 (fastest) ..= 8 (smallest); default 5, as `flac`.
    pub flac_level: u8,
    /// Copy title/artist/album/track/date/genre and cover art from the input.
    pub copy_metadata: bool,
    /// Write ReplayGain 2.0 (or Opus R128) tags describing the output.
    pub loudness_tags: bool,
    /// For lossy outputs: when the encoded stream overshoots the ceiling, lower the gain (or
    /// the limiter ceiling) and encode again.
    pub strict_peak: bool,
    /// How a one-channel input is weighted by the meter.
    pub mono_mode: MonoMode,
    /// Decoder caps.
    pub limits: Limits,
    /// Record the loudness curves of the input and of the output in the report
    /// ([`crate::LoudnessReport::curve`]). Changes the report only, never the output's bytes,
    /// so it is not part of [`ProcessingSpec::canonical`].
    pub curve: bool,
    /// Album mode: apply the album's gain instead of the track's own (`None`: track mode).
    pub album: Option<AlbumLevel>,
}

impl ProcessingSpec {
    /// The spec of a preset, writing `format`, with defaults for everything else.
    pub fn new(preset: Preset, format: OutputFormat) -> Self {
        let encode = EncodeOptions::new(format);
        ProcessingSpec {
            preset,
            target_lufs: preset.target_lufs(),
            true_peak_dbtp: preset.true_peak_dbtp(),
            mode: PeakMode::Linear,
            sample_rate: None,
            channels: None,
            format,
            sample_format: None,
            dither: true,
            mp3: encode.mp3,
            opus_kbps: encode.opus_kbps,
            flac_level: encode.flac_level,
            copy_metadata: true,
            loudness_tags: false,
            strict_peak: false,
            mono_mode: MonoMode::Mono,
            limits: Limits::default(),
            curve: false,
            album: None,
        }
    }

    /// Checks every value before any work is done.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the value that is out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidParameter(m));
        if !self.target_lufs.is_finite() || self.target_lufs > 0.0 {
            return bad(format!("target {} LUFS is outside {MIN_TARGET_LUFS}…0", self.target_lufs));
        }
        if self.target_lufs < MIN_TARGET_LUFS {
            return bad(format!(
                "target {} LUFS is below {MIN_TARGET_LUFS} LUFS: BS.1770's absolute gate at −70 LUFS drops the \
                 quieter parts of a programme that low from the measurement, so such a target can be neither \
                 measured nor reached",
                self.target_lufs
            ));
        }
        if !self.true_peak_dbtp.is_finite() || !(-20.0..=0.0).contains(&self.true_peak_dbtp) {
            return bad(format!("true-peak ceiling {} dBTP is outside −20…0", self.true_peak_dbtp));
        }
        if let Some(rate) = self.sample_rate {
            if !(8_000..=384_000).contains(&rate) {
                return bad(format!("sample rate {rate} Hz is outside 8000…384000"));
            }
            if self.format.writable_rate(rate) != rate {
                return bad(format!(
                    "{} cannot be written at {rate} Hz (nearest: {} Hz)",
                    self.format.extension(),
                    self.format.writable_rate(rate)
                ));
            }
        }
        if let Some(ch) = self.channels
            && !(1..=2).contains(&ch)
        {
            return bad(format!("--channels {ch}: the output can be mixed to 1 or 2 channels"));
        }
        if self.sample_format == Some(SampleFormat::F32) && self.format == OutputFormat::Flac {
            return bad("FLAC holds integer samples: use 16 or 24 bits".to_owned());
        }
        if self.sample_format.is_some() && self.format.is_lossy() {
            return bad(format!("--bits applies to WAV and FLAC, not {}", self.format.extension()));
        }
        if let Mp3Bitrate::Cbr(k) = self.mp3
            && !(32..=320).contains(&k)
        {
            return bad(format!("MP3 bit rate {k} kb/s is outside 32…320"));
        }
        if let Some(a) = self.album
            && (!a.integrated_lufs.is_finite() || !a.gain_db.is_finite() || a.true_peak_dbtp.is_some_and(f64::is_nan))
        {
            return bad(format!("album level {a:?} is not finite"));
        }
        if self.flac_level > crate::encode::flac::MAX_LEVEL {
            return bad(format!("FLAC compression level {} is outside 0…8", self.flac_level));
        }
        if !(6..=512).contains(&self.opus_kbps) {
            return bad(format!("Opus bit rate {} kb/s is outside 6…512", self.opus_kbps));
        }
        Ok(())
    }

    /// A canonical one-line description of everything that affects the output bytes, for
    /// idempotency checks (two equal strings ⇒ equal outputs for the same input). Track mode
    /// and the default FLAC level give the same string as before album mode and FLAC levels
    /// existed.
    pub fn canonical(&self) -> String {
        let mut album = self.album.map_or_else(String::new, |a| format!(";album_gain={:.4}", a.gain_db));
        if self.format == OutputFormat::Flac && self.flac_level != EncodeOptions::new(self.format).flac_level {
            album.push_str(&format!(";flac_level={}", self.flac_level));
        }
        format!(
            "v1;target={:.2};tp={:.2};mode={};rate={};ch={};fmt={};bits={};dither={};mp3={:?};opus={};meta={};tags={};strict={};mono={:?}{album}",
            self.target_lufs,
            self.true_peak_dbtp,
            self.mode.name(),
            self.sample_rate.map_or("keep".to_owned(), |r| r.to_string()),
            self.channels.map_or("keep".to_owned(), |c| c.to_string()),
            self.format.extension(),
            self.sample_format.map_or("auto".to_owned(), |s| s.bits().to_string()),
            self.dither,
            self.mp3,
            self.opus_kbps,
            self.copy_metadata,
            self.loudness_tags,
            self.strict_peak,
            self.mono_mode,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_targets() {
        assert_eq!((Preset::Ebu.target_lufs(), Preset::Ebu.true_peak_dbtp()), (-23.0, -1.0));
        assert_eq!((Preset::Streaming.target_lufs(), Preset::Streaming.true_peak_dbtp()), (-14.0, -1.0));
        assert_eq!((Preset::Podcast.target_lufs(), Preset::Podcast.true_peak_dbtp()), (-16.0, -1.5));
        assert_eq!((Preset::Atsc.target_lufs(), Preset::Atsc.true_peak_dbtp()), (-24.0, -2.0));
        assert_eq!(Preset::from_name("STREAMING"), Some(Preset::Streaming));
    }

    #[test]
    fn validation_names_the_bad_value() {
        let mut s = ProcessingSpec::new(Preset::Ebu, OutputFormat::Opus);
        s.sample_rate = Some(44_100);
        assert!(s.validate().expect_err("44.1 kHz Opus").to_string().contains("44100"));
        let mut s = ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac);
        s.sample_format = Some(SampleFormat::F32);
        assert!(s.validate().is_err());
        s.sample_format = None;
        s.target_lufs = f64::NAN;
        assert!(s.validate().is_err());
    }
}
