//! EBU Tech 3341 / 3342 compliance, through the real decoder: each signal is written as a file
//! (WAV or FLAC, alternating), decoded by probing its content, and metered.

use std::io::Cursor;

use audioproc_engine::decode::{Decoder, Limits};
use audioproc_engine::loudness::{LoudnessMeter, LoudnessReport, MeterOptions, MonoMode, channel_weights};
use audioproc_testdata::ebu::{Case, Expect, loudness_cases, true_peak_cases};
use audioproc_testdata::writers::{Encoding, WavOptions, flac, wav};

/// What a run of the meter over a decoded file saw.
struct Run {
    report: LoudnessReport,
    /// (time in s, momentary, short-term) after every 1024 frames.
    trace: Vec<(f64, Option<f64>, Option<f64>)>,
    container: String,
}

fn encode(case: &Case, as_flac: bool) -> Vec<u8> {
    if as_flac && case.channel_mask.is_none() {
        flac(&case.signal, 24)
    } else {
        wav(&case.signal, Encoding::Float32, WavOptions { extensible_mask: case.channel_mask })
    }
}

fn run(bytes: Vec<u8>) -> Run {
    let mut dec = Decoder::open(Cursor::new(bytes), &Limits::default()).expect("decodes");
    let info = dec.info().clone();
    let weights = channel_weights(&info.layout, MonoMode::Mono);
    let mut meter = LoudnessMeter::new(info.sample_rate, &weights, MeterOptions::default()).expect("meter");
    let mut trace = Vec::new();
    let mut frames = 0u64;
    while let Some(block) = dec.next_block().expect("no decode error") {
        // Read the meter every 1024 frames (a decoded block holds several thousand).
        for at in (0..block[0].len()).step_by(1024) {
            let part: Vec<&[f32]> = block.iter().map(|p| &p[at..(at + 1024).min(p.len())]).collect();
            frames += part[0].len() as u64;
            meter.process(&part);
            trace.push((frames as f64 / f64::from(info.sample_rate), meter.momentary_lufs(), meter.short_term_lufs()));
        }
    }
    Run { report: meter.report(), trace, container: info.container }
}

fn within(name: &str, what: &str, value: Option<f64>, expect: f64, minus: f64, plus: f64) {
    let v = value.unwrap_or_else(|| panic!("{name}: {what} not measured"));
    assert!(v >= expect - minus && v <= expect + plus, "{name}: {what} = {v:.3}, expected {expect} +{plus}/-{minus}");
}

fn check(case: &Case, r: &Run) {
    let name = format!("{} ({} Hz, {})", case.name, case.signal.rate, r.container);
    match case.expect {
        Expect::Integrated(x) => within(&name, "integrated", r.report.integrated_lufs, x, 0.1, 0.1),
        Expect::IntegratedMomentaryShortTerm(x) => {
            within(&name, "integrated", r.report.integrated_lufs, x, 0.1, 0.1);
            within(&name, "momentary max", r.report.momentary_max_lufs, x, 0.1, 0.1);
            within(&name, "short-term max", r.report.short_term_max_lufs, x, 0.1, 0.1);
        }
        Expect::ShortTermAfter3s(x) => {
            let values: Vec<f64> = r.trace.iter().filter(|t| t.0 >= 3.0).filter_map(|t| t.2).collect();
            assert!(values.len() > 100, "{name}: too few short-term values");
            for v in values {
                within(&name, "short-term", Some(v), x, 0.1, 0.1);
            }
        }
        Expect::MomentaryAfter400ms(x) => {
            let values: Vec<f64> = r.trace.iter().filter(|t| t.0 >= 0.4).filter_map(|t| t.1).collect();
            assert!(values.len() > 100, "{name}: too few momentary values");
            for v in values {
                within(&name, "momentary", Some(v), x, 0.1, 0.1);
            }
        }
        Expect::TruePeak(x) => within(&name, "true peak", r.report.true_peak_dbtp, x, 0.4, 0.2),
        Expect::LoudnessRange(x) => within(&name, "loudness range", r.report.loudness_range_lu, x, 1.0, 1.0),
    }
}

#[test]
fn tech_3341_and_3342_loudness_cases_at_44k1_and_48k() {
    for rate in [44_100, 48_000] {
        for (i, case) in loudness_cases(rate).iter().enumerate() {
            let r = run(encode(case, i % 2 == 1));
            check(case, &r);
        }
    }
}

#[test]
fn tech_3341_case_1_at_96k() {
    let case = loudness_cases(96_000).into_iter().find(|c| c.name == "3341-1").expect("case 1 exists");
    check(&case, &run(encode(&case, false)));
    check(&case, &run(encode(&case, true)));
}

#[test]
fn tech_3341_true_peak_cases_15_to_19() {
    for rate in [48_000, 44_100] {
        for case in true_peak_cases(rate) {
            check(&case, &run(encode(&case, false)));
        }
    }
}

#[test]
fn flac_and_wav_of_the_same_case_agree() {
    let case = loudness_cases(48_000).into_iter().find(|c| c.name == "3341-5").expect("case 5 exists");
    let (a, b) = (run(encode(&case, false)), run(encode(&case, true)));
    assert_eq!(a.container, "wave");
    assert_eq!(b.container, "flac");
    let (ia, ib) = (a.report.integrated_lufs.expect("measured"), b.report.integrated_lufs.expect("measured"));
    assert!((ia - ib).abs() < 0.001, "{ia} vs {ib}");
}
