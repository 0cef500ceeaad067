//! Decodes a fixture with symphonia and compares it with the source signal, so the README table
//! can be regenerated along with the files.

#![allow(clippy::needless_range_loop)] // index loops read better in the DSP here

use std::error::Error;
use std::fs::File;
use std::path::Path;

use audioproc_testdata::Signal;
use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// What symphonia made of one file.
#[derive(Debug)]
pub struct Decoded {
    pub format: String,
    pub codec: String,
    pub rate: u32,
    pub channels: String,
    pub channel_count: usize,
    /// Track-level frame count, delay and padding as the demuxer reported them.
    pub track_frames: Option<u64>,
    pub track_delay: Option<u32>,
    pub track_padding: Option<u32>,
    /// Sum of packets' trim_start / trim_end.
    pub trim_start: u64,
    pub trim_end: u64,
    pub packets: usize,
    /// Frames each packet decoded to.
    pub packet_frames: Vec<usize>,
    pub planes: Vec<Vec<f32>>,
}

impl Decoded {
    pub fn frames(&self) -> usize {
        self.planes.first().map_or(0, Vec::len)
    }
}

pub fn decode(path: &Path) -> Result<Decoded, Box<dyn Error>> {
    let mss = MediaSourceStream::new(Box::new(File::open(path)?), Default::default());
    let mut format = symphonia::default::get_probe().probe(
        &Hint::new(),
        mss,
        FormatOptions::default(),
        MetadataOptions::default(),
    )?;
    let track = format.default_track(TrackType::Audio).ok_or("no audio track")?;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or("no audio params")?.clone();
    let (track_id, track_frames, track_delay, track_padding) = (track.id, track.num_frames, track.delay, track.padding);
    let mut decoder = symphonia::default::get_codecs().make_audio_decoder(&params, &AudioDecoderOptions::default())?;
    let mut out = Decoded {
        format: format.format_info().short_name.to_owned(),
        codec: decoder.codec_info().short_name.to_owned(),
        rate: params.sample_rate.unwrap_or(0),
        channels: params.channels.as_ref().map_or_else(|| "?".to_owned(), describe),
        channel_count: params.channels.as_ref().map_or(0, Channels::count),
        track_frames,
        track_delay,
        track_padding,
        trim_start: 0,
        trim_end: 0,
        packets: 0,
        packet_frames: Vec::new(),
        planes: Vec::new(),
    };
    let mut tmp: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(e.into()),
        };
        if packet.track_id != track_id {
            continue;
        }
        out.packets += 1;
        out.trim_start += packet.trim_start.get();
        out.trim_end += packet.trim_end.get();
        match decoder.decode(&packet) {
            Ok(buf) => {
                if out.channels == "?" {
                    out.channels = describe(buf.spec().channels());
                    out.channel_count = buf.spec().channels().count();
                }
                if out.rate == 0 {
                    out.rate = buf.spec().rate();
                }
                out.packet_frames.push(buf.frames());
                tmp.clear();
                buf.copy_to_vecs_planar::<f32>(&mut tmp);
                if out.planes.is_empty() {
                    out.planes = vec![Vec::new(); tmp.len()];
                }
                for (dst, src) in out.planes.iter_mut().zip(&tmp) {
                    dst.extend_from_slice(src);
                }
            }
            Err(SymError::DecodeError(e)) => return Err(format!("decode error: {e}").into()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

fn describe(ch: &Channels) -> String {
    match ch {
        Channels::Positioned(p) => format!("{p:?}").replace("Position(", "").replace(')', "").replace(" | ", "+"),
        other => format!("{other:?}"),
    }
}

/// The source span the comparisons use: 16384 frames from 1 s in (less for short signals).
fn window(src: &Signal) -> (usize, usize) {
    let n = src.frames();
    ((n / 4).min(44_100), (n / 2).min(16_384))
}

fn corr_at(a: &[f32], b: &[f32], start: usize, len: usize, lag: isize) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for i in start..start + len {
        let j = i as isize + lag;
        let y = if j >= 0 && (j as usize) < b.len() { f64::from(b[j as usize]) } else { 0.0 };
        let x = f64::from(a[i]);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 { 0.0 } else { ab / (aa * bb).sqrt() }
}

/// The lag (decoded index minus source index) that best aligns decoded channel `dch` with source
/// channel `sch`, searched over ±`max_lag`, and the normalised correlation there.
pub fn best_lag(src: &Signal, sch: usize, dec: &Decoded, dch: usize, max_lag: isize) -> (isize, f64) {
    let (start, len) = window(src);
    let a = &src.planes[sch];
    let b = &dec.planes[dch];
    (-max_lag..=max_lag)
        .map(|lag| (lag, corr_at(a, b, start, len, lag)))
        .fold((0, f64::MIN), |best, cur| if cur.1 > best.1 { cur } else { best })
}

/// For each decoded channel, the source channel it correlates best with at `lag`, and how well.
pub fn channel_map(src: &Signal, dec: &Decoded, lag: isize) -> Vec<(usize, f64)> {
    let (start, len) = window(src);
    (0..dec.planes.len())
        .map(|d| {
            (0..src.channels())
                .map(|s| (s, corr_at(&src.planes[s], &dec.planes[d], start, len, lag)))
                .fold((0, f64::MIN), |best, cur| if cur.1 > best.1 { cur } else { best })
        })
        .collect()
}

/// Correlation of every decoded channel (rows) with every source channel (columns) at `lag`.
pub fn matrix(src: &Signal, dec: &Decoded, lag: isize) -> Vec<Vec<f64>> {
    let (start, len) = window(src);
    (0..dec.planes.len())
        .map(|d| (0..src.channels()).map(|s| corr_at(&src.planes[s], &dec.planes[d], start, len, lag)).collect())
        .collect()
}

/// Level of decoded channel `ch` relative to the source (dB) and the SNR of the decoded
/// signal against the source (dB), over the comparison window at `lag`.
pub fn level_and_snr(src: &Signal, dec: &Decoded, ch: usize, lag: isize) -> (f64, f64) {
    let (start, len) = window(src);
    let (a, b) = (&src.planes[ch], &dec.planes[ch]);
    let (mut ss, mut dd, mut ee) = (0.0f64, 0.0f64, 0.0f64);
    for i in start..start + len {
        let j = i as isize + lag;
        let y = if j >= 0 && (j as usize) < b.len() { f64::from(b[j as usize]) } else { 0.0 };
        let x = f64::from(a[i]);
        ss += x * x;
        dd += y * y;
        ee += (y - x) * (y - x);
    }
    (10.0 * (dd / ss).log10(), 10.0 * (ss / ee.max(1e-30)).log10())
}
