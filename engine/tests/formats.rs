//! Every compressed format through the real decoder, on the fixtures in `testdata/fixtures/`
//! (made by `gen-fixtures` from `programme(44100, 2, 6.0, 7)`, 264 600 frames): codec and
//! container found by content, exact gapless durations where the file records them, channel
//! layouts kept, loudness close to the source's, and truncation handled.

use std::io::Cursor;
use std::path::PathBuf;

use audioproc_engine::loudness::{LoudnessMeter, MeterOptions, MonoMode, channel_weights};
use audioproc_engine::{AnalyzeOptions, ChannelRole, Error, Warning, analyze_path, analyze_source};
use audioproc_testdata::signal::programme;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures").join(name)
}

const SOURCE_FRAMES: u64 = 264_600;

fn source_integrated() -> f64 {
    let sig = programme(44_100, 2, 6.0, 7);
    let mut m = LoudnessMeter::new(44_100, &[1.0, 1.0], MeterOptions::default()).expect("meter");
    m.process(&sig.planes);
    m.report().integrated_lufs.expect("measured")
}

struct Expect {
    file: &'static str,
    codec: &'static str,
    container: &'static str,
    channels: usize,
    frames: u64,
    /// Lossy or full-length files are compared with the source's loudness.
    compare_loudness: bool,
}

const FIXTURES: &[Expect] = &[
    // LAME/Xing gapless header: exact.
    Expect {
        file: "programme.mp3",
        codec: "mp3",
        container: "mp3",
        channels: 2,
        frames: SOURCE_FRAMES,
        compare_loudness: true,
    },
    // Ogg granule positions: exact.
    Expect {
        file: "programme.ogg",
        codec: "vorbis",
        container: "ogg",
        channels: 2,
        frames: SOURCE_FRAMES,
        compare_loudness: true,
    },
    // MP4 edit list (media_time 2048, duration 264 600), applied by decode/mp4.rs: exact.
    Expect {
        file: "programme.m4a",
        codec: "aac",
        container: "isomp4",
        channels: 2,
        frames: SOURCE_FRAMES,
        compare_loudness: true,
    },
    Expect {
        file: "programme_alac.m4a",
        codec: "alac",
        container: "isomp4",
        channels: 2,
        frames: 66_150,
        compare_loudness: false,
    },
    // No gapless metadata in MPEG audio layer I/II streams: whole frames.
    Expect {
        file: "programme.mp2",
        codec: "mp2",
        container: "mp2",
        channels: 2,
        frames: 264_960,
        compare_loudness: true,
    },
    Expect {
        file: "programme.mp1",
        codec: "mp1",
        container: "mp1",
        channels: 2,
        frames: 264_960,
        compare_loudness: true,
    },
    // Matroska: symphonia 0.6 ignores DiscardPadding, and AAC in MKV has no delay field.
    Expect {
        file: "programme.webm",
        codec: "vorbis",
        container: "matroska",
        channels: 2,
        frames: 264_704,
        compare_loudness: true,
    },
    Expect {
        file: "programme.mka",
        codec: "aac",
        container: "matroska",
        channels: 2,
        frames: 267_264,
        compare_loudness: true,
    },
];

#[test]
fn every_fixture_decodes_with_the_expected_codec_length_and_loudness() {
    let reference = source_integrated();
    for e in FIXTURES {
        let a = analyze_path(&fixture(e.file), &AnalyzeOptions::default())
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(a.info.codec, e.codec, "{}", e.file);
        assert_eq!(a.info.container, e.container, "{}", e.file);
        assert_eq!(a.info.sample_rate, 44_100, "{}", e.file);
        assert_eq!(a.info.channels(), e.channels, "{}", e.file);
        assert_eq!(a.frames, e.frames, "{}: frames", e.file);
        assert!(a.warnings.is_empty(), "{}: {:?}", e.file, a.warnings);
        if e.compare_loudness {
            let i = a.loudness.integrated_lufs.expect("measured");
            eprintln!("{}: integrated {i:.3} LUFS, source {reference:.3} LUFS", e.file);
            // Lossy encoders low-pass the programme's sweep to 18 kHz and its clicks, which the
            // K-weighting shelf boosts: measured losses are 0.1–0.5 LU at these bit rates.
            assert!((i - reference).abs() < 0.75, "{}: integrated {i:.3} vs source {reference:.3}", e.file);
        }
    }
}

#[test]
fn surround_layouts_are_kept_and_weighted() {
    use ChannelRole::*;
    let want = vec![Left, Right, Center, Lfe, Surround, Surround];
    for name in ["programme_5_1_alac.m4a", "programme_5_1.ogg"] {
        let a = analyze_path(&fixture(name), &AnalyzeOptions::default()).expect("decodes");
        assert_eq!(a.info.layout, want, "{name}");
        assert_eq!(channel_weights(&a.info.layout, MonoMode::Mono), vec![1.0, 1.0, 1.0, 0.0, 1.41, 1.41]);
    }
}

#[test]
fn truncated_compressed_files_never_panic() {
    for e in FIXTURES.iter().map(|e| e.file).chain(["programme_5_1_alac.m4a", "programme_5_1.ogg"]) {
        let bytes = std::fs::read(fixture(e)).expect("fixture");
        for cut in [12, 100, 1000, bytes.len() / 10, bytes.len() / 2, bytes.len() * 9 / 10, bytes.len() - 1] {
            let r = analyze_source(Cursor::new(bytes[..cut].to_vec()), &AnalyzeOptions::default());
            match r {
                Err(Error::DecoderPanic { message }) => panic!("{e} cut at {cut}: decoder panicked: {message}"),
                Err(_) => {}
                Ok(a) => {
                    assert!(a.frames <= 270_000, "{e} cut at {cut}: {} frames", a.frames);
                    if cut >= bytes.len() / 2 && a.frames < 100_000 {
                        panic!("{e} cut at {cut}: only {} frames kept", a.frames);
                    }
                    let _ = a.warnings.contains(&Warning::Truncated);
                }
            }
        }
    }
}

/// Decodes `name` whole: its planes in our layout.
fn planes_of(name: &str) -> Vec<Vec<f32>> {
    let mut d =
        audioproc_engine::Decoder::open_path(&fixture(name), &audioproc_engine::Limits::default()).expect("open");
    let mut planes = vec![Vec::new(); d.info().channels()];
    while let Some(block) = d.next_block().expect("decode") {
        for (p, b) in planes.iter_mut().zip(block) {
            p.extend_from_slice(b);
        }
    }
    planes
}

/// Correlation of `a` and `b` over their common length.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        let (x, y) = (f64::from(a[i]), f64::from(b[i]));
        (ab, aa, bb) = (ab + x * y, aa + x * x, bb + y * y);
    }
    ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE)
}

#[test]
fn surround_channels_come_back_in_their_places() {
    // The fixtures' six channels are independent programmes (WAV/SMPTE order); each decoded
    // channel must match its own source channel and no other. symphonia-codec-vorbis 0.6.1
    // undid the coupling steps in the wrong order (patched in vendor/): the 5.1 Vorbis file
    // came back scrambled.
    let source = programme(44_100, 6, 6.0, 7);
    for name in ["programme_5_1.ogg", "programme_5_1_alac.m4a"] {
        let decoded = planes_of(name);
        for (k, plane) in decoded.iter().enumerate() {
            let c: Vec<f64> = source.planes.iter().map(|s| correlation(plane, s)).collect();
            let best = c.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
            assert_eq!(best, Some(k), "{name} channel {k}: correlations {c:.3?}");
            // Vorbis is lossy (0.95 here) and band-limits the LFE channel (0.57); a channel
            // scrambled by the wrong coupling order read 0.6–0.8, or nothing at all.
            let least = if k == 3 { 0.5 } else { 0.9 };
            let others = c.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, v)| *v).fold(f64::MIN, f64::max);
            assert!(c[k] >= least && c[k] - others >= 0.3, "{name} channel {k}: correlations {c:.3?}");
        }
    }
}
