//! Album loudness: the tracks of an album measured together, as BS.1770 and ReplayGain 2.0
//! define it — the integrated loudness gated over the union of every track's 400 ms blocks, the
//! album's true peak the loudest track's — and the one gain that brings the album to a target
//! while keeping the tracks' loudness relative to each other.
//!
//! Each track is measured on its own, keeping the gating blocks of its integrated loudness
//! ([`measure_file`] for a file as it is; [`crate::process::measure_for_album`] for the signal a
//! job will encode, after any channel mix and resampling). [`AlbumLoudness::of`] merges them:
//! the histograms' counts and energy sums add up, so the album is gated exactly as one
//! programme made of all the tracks' blocks would be. A front end then puts
//! [`AlbumLoudness::level`] in each track's [`ProcessingSpec::album`] and runs the one job per
//! track, which applies that gain instead of the track's own.

use std::path::Path;

use crate::analyze::{Analysis, AnalyzeOptions, analyze_path_gated};
use crate::error::Result;
use crate::loudness::LoudnessReport;
use crate::loudness::histogram::GatingHistogram;
use crate::process::{AlbumLevel, PeakMode, ProcessingSpec, TRUE_PEAK_HEADROOM_DB};
use crate::threads::Threads;

/// One track's measurement with the gating blocks of its integrated loudness.
#[derive(Clone, Debug)]
pub struct TrackLoudness {
    /// The track's own figures.
    pub loudness: LoudnessReport,
    /// The blocks its integrated loudness was gated from.
    pub gating: GatingHistogram,
}

/// The loudness of an album: its tracks taken together.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AlbumLoudness {
    /// Integrated loudness over the union of the tracks' blocks, LUFS (`None` when no block of
    /// any track passes the gates).
    pub integrated_lufs: Option<f64>,
    /// The loudest track's true peak, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// The loudest track's sample peak, dBFS.
    pub sample_peak_dbfs: Option<f64>,
    /// Number of tracks.
    pub tracks: usize,
}

impl AlbumLoudness {
    /// The album made of `tracks`.
    pub fn of<'a>(tracks: impl IntoIterator<Item = &'a TrackLoudness>) -> Self {
        let mut gating = GatingHistogram::new();
        let mut album = AlbumLoudness::default();
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for t in tracks {
            gating.merge(&t.gating);
            album.true_peak_dbtp = max(album.true_peak_dbtp, t.loudness.true_peak_dbtp);
            album.sample_peak_dbfs = max(album.sample_peak_dbfs, t.loudness.sample_peak_dbfs);
            album.tracks += 1;
        }
        album.integrated_lufs = gating.gated_mean_lufs(-10.0);
        album
    }

    /// The gain every track gets under `spec`: the target minus the album's loudness, lowered
    /// in linear mode so that the loudest peak of the album meets the ceiling (the job's usual
    /// [`TRUE_PEAK_HEADROOM_DB`] under it). `None` when the album has no integrated loudness.
    pub fn gain_db(&self, spec: &ProcessingSpec) -> Option<f64> {
        let wanted = spec.target_lufs - self.integrated_lufs?;
        let aim = spec.true_peak_dbtp - TRUE_PEAK_HEADROOM_DB;
        Some(match (spec.mode, self.true_peak_dbtp) {
            (PeakMode::Linear, Some(tp)) if tp + wanted > aim => aim - tp,
            _ => wanted,
        })
    }

    /// What to put in each track's [`ProcessingSpec::album`]; `None` when the album has no
    /// integrated loudness (its tracks are then processed as in track mode, and passed
    /// through).
    pub fn level(&self, spec: &ProcessingSpec) -> Option<AlbumLevel> {
        Some(AlbumLevel {
            integrated_lufs: self.integrated_lufs?,
            true_peak_dbtp: self.true_peak_dbtp,
            gain_db: self.gain_db(spec)?,
            tracks: self.tracks,
        })
    }
}

/// Measures the file at `path` as it is (no conversion), keeping its gating blocks; `threads`
/// as for [`crate::analyze::analyze_path_gated`].
///
/// # Errors
/// As [`crate::analyze_path`].
pub fn measure_file(path: &Path, options: &AnalyzeOptions, threads: Threads) -> Result<(Analysis, TrackLoudness)> {
    let (analysis, gating) = analyze_path_gated(path, options, threads)?;
    let track = TrackLoudness { loudness: analysis.loudness.clone(), gating };
    Ok((analysis, track))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::OutputFormat;
    use crate::loudness::{LoudnessMeter, MeterOptions};
    use crate::process::Preset;

    fn tone(amp: f64, secs: f64) -> Vec<f32> {
        (0..(secs * 48_000.0) as usize)
            .map(|i| (amp * (2.0 * std::f64::consts::PI * 997.0 * i as f64 / 48_000.0).sin()) as f32)
            .collect()
    }

    fn track(x: &[f32]) -> TrackLoudness {
        let mut m = LoudnessMeter::new(48_000, &[1.0, 1.0], MeterOptions::default()).expect("valid");
        m.process(&[x, x]);
        TrackLoudness { loudness: m.report(), gating: m.gating().clone() }
    }

    #[test]
    fn an_album_of_one_track_is_that_track() {
        let t = track(&tone(0.1, 10.0));
        let album = AlbumLoudness::of([&t]);
        assert_eq!(album.integrated_lufs, t.loudness.integrated_lufs);
        assert_eq!(album.true_peak_dbtp, t.loudness.true_peak_dbtp);
        assert_eq!(album.tracks, 1);
    }

    #[test]
    fn a_loud_peak_anywhere_in_the_album_lowers_the_linear_gain_of_every_track() {
        let (quiet, peaky) = (track(&tone(0.05, 30.0)), track(&tone(0.9, 0.5)));
        let spec = ProcessingSpec::new(Preset::Streaming, OutputFormat::Flac);
        let album = AlbumLoudness::of([&quiet, &peaky]);
        let gain = album.gain_db(&spec).expect("loud enough");
        let tp = album.true_peak_dbtp.expect("peak");
        assert!((tp + gain - (-1.0 - TRUE_PEAK_HEADROOM_DB)).abs() < 1e-9, "{tp} {gain}");
        let limit = ProcessingSpec { mode: PeakMode::Limit, ..spec };
        let wanted = -14.0 - album.integrated_lufs.expect("loud");
        assert_eq!(album.gain_db(&limit), Some(wanted));
    }

    #[test]
    fn a_silent_album_has_no_gain() {
        let silent = track(&[0.0; 48_000]);
        let album = AlbumLoudness::of([&silent, &silent]);
        assert_eq!(album.integrated_lufs, None);
        assert_eq!(album.level(&ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav)), None);
    }
}
