//! The loudness curve (`audioproc.curve/1`): readings at the right time and level, a length
//! bounded whatever the programme's length, the same figures on one thread or two, and the
//! documents unchanged when it is not asked for.

use std::path::Path;

use audioproc_engine::loudness::{CURVE_MAX_POINTS, Curve, ThreadedMeter};
use audioproc_engine::report::{Measurement, ProcessDocument};
use audioproc_engine::{
    AnalyzeOptions, LoudnessMeter, MeterOptions, OutputFormat, Overwrite, Preset, ProcessingSpec, Threads,
    analyze_path, process_file,
};
use audioproc_testdata::ebu::stereo_steps;
use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};
use serde_json::Value;

/// Feeds `planes` to `meter` in blocks of varying sizes (the curve must not depend on them).
fn feed(planes: &[Vec<f32>], mut process: impl FnMut(&[&[f32]])) {
    let frames = planes[0].len();
    let sizes = [1_000, 4_800, 333, 16_384, 7];
    let (mut start, mut i) = (0, 0);
    while start < frames {
        let end = (start + sizes[i % sizes.len()]).min(frames);
        let block: Vec<&[f32]> = planes.iter().map(|p| &p[start..end]).collect();
        process(&block);
        (start, i) = (end, i + 1);
    }
}

fn curve_of(planes: &[Vec<f32>], rate: u32, threads: Threads) -> Curve {
    let mut meter = ThreadedMeter::new(rate, &vec![1.0; planes.len()], threads, true).expect("meter");
    feed(planes, |block| meter.process(block));
    meter.report().curve.expect("asked for")
}

/// The end time of the first point of `series` that satisfies `test`.
fn first_time(c: &Curve, series: &[Option<f64>], test: impl Fn(f64) -> bool) -> f64 {
    let i = series.iter().position(|v| v.is_some_and(&test)).expect("found");
    c.time_s(i)
}

#[test]
fn a_level_step_shows_at_the_right_time_and_level() {
    // 10 s at −30 dBFS then 10 s at −20 dBFS: a stereo 1 kHz sine reads its level in LUFS.
    let rate = 48_000;
    let sig = stereo_steps(rate, &[(-30.0, 10.0), (-20.0, 10.0)]);
    let c = curve_of(&sig.planes, rate, Threads::Pipelined);
    assert_eq!((c.interval_s, c.len()), (0.1, 200));
    assert_eq!((c.short_term.len(), c.true_peak.len()), (200, 200));
    // Windows not yet filled are null: 3 momentary points, 29 short-term ones.
    assert!(c.momentary[..3].iter().all(Option::is_none) && c.momentary[3].is_some());
    assert!(c.short_term[..29].iter().all(Option::is_none) && c.short_term[29].is_some());

    let step = 10.0;
    // The last momentary reading of the low level ends at the step, the first of the high one
    // 400 ms later (its whole window after the step); short-term 3 s later.
    let last_low = c.time_s(c.momentary.iter().rposition(|v| v.is_some_and(|v| v < -29.9)).expect("low"));
    assert!((last_low - step).abs() <= 0.1 + 1e-9, "{last_low}");
    let high = first_time(&c, &c.momentary, |v| v > -20.1);
    assert!((high - (step + 0.4)).abs() <= 0.1 + 1e-9, "{high}");
    let high = first_time(&c, &c.short_term, |v| v > -20.1);
    assert!((high - (step + 3.0)).abs() <= 0.1 + 1e-9, "{high}");
    // Levels within 0.1 LU on both sides, true peak within 0.1 dB of the sine's peak.
    let at = |series: &[Option<f64>], t: f64| series[(t / c.interval_s).round() as usize - 1].expect("reading");
    for (t, level) in [(5.0, -30.0), (9.9, -30.0), (12.0, -20.0), (19.9, -20.0)] {
        assert!((at(&c.momentary, t) - level).abs() < 0.1, "momentary at {t}: {}", at(&c.momentary, t));
        assert!((at(&c.true_peak, t) - level).abs() < 0.1, "true peak at {t}: {}", at(&c.true_peak, t));
    }
    assert!((at(&c.short_term, 9.9) + 30.0).abs() < 0.1 && (at(&c.short_term, 19.9) + 20.0).abs() < 0.1);
}

#[test]
fn one_thread_or_two_give_the_same_curve_and_it_agrees_with_the_report() {
    let rate = 44_100;
    let sig = programme(rate, 2, 40.0, 7);
    let single = curve_of(&sig.planes, rate, Threads::Single);
    assert_eq!(single, curve_of(&sig.planes, rate, Threads::Pipelined));

    let mut meter = LoudnessMeter::new(rate, &[1.0, 1.0], MeterOptions { true_peak: true, curve: true }).expect("m");
    feed(&sig.planes, |block| meter.process(block));
    let r = meter.report();
    let c = r.curve.as_ref().expect("asked for");
    assert_eq!(c, &single);
    let max = |s: &[Option<f64>]| s.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    let near = |a: f64, b: Option<f64>| (a - b.expect("measured")).abs() <= 0.005 + 1e-9;
    assert!(near(max(&c.momentary), r.momentary_max_lufs), "{} {:?}", max(&c.momentary), r.momentary_max_lufs);
    assert!(near(max(&c.short_term), r.short_term_max_lufs));
    assert!(near(max(&c.true_peak), r.true_peak_dbtp), "{} {:?}", max(&c.true_peak), r.true_peak_dbtp);
}

#[test]
fn the_curve_of_ten_hours_stays_within_the_point_cap() {
    // 10 hours at 8 kHz, generated block by block (never held whole): a 1 kHz tone whose level
    // changes every minute, and one loud second at 7 h.
    let rate = 8_000;
    let period: Vec<f32> = (0..8).map(|i| (2.0 * std::f32::consts::PI * i as f32 / 8.0).sin()).collect();
    let mut meter = LoudnessMeter::new(rate, &[1.0], MeterOptions { true_peak: true, curve: true }).expect("meter");
    let mut block = vec![0f32; rate as usize];
    let seconds = 10 * 3600;
    for s in 0..seconds {
        let db = if s == 7 * 3600 { -3.0 } else { -40.0 + f64::from(s / 60 % 20) };
        let amp = 10f32.powf(db as f32 / 20.0);
        block.iter_mut().zip(period.iter().cycle()).for_each(|(x, p)| *x = amp * p);
        meter.process(&[&block]);
        if s == 3600 {
            // After an hour the curve is already as long as it will be (or shorter).
            let c = meter.report().curve.expect("asked for");
            assert!(c.len() <= CURVE_MAX_POINTS, "{}", c.len());
        }
    }
    let c = meter.report().curve.expect("asked for");
    // 360 000 readings at 256 per point (25.6 s): 1407 points.
    assert_eq!((c.interval_s, c.len()), (25.6, 1407));
    assert_eq!((c.short_term.len(), c.true_peak.len()), (1407, 1407));
    // The loud second survives the decimation, in the right place.
    let loudest = c.true_peak.iter().enumerate().max_by(|a, b| a.1.partial_cmp(b.1).expect("numbers")).expect("some");
    assert!((loudest.1.expect("peak") + 3.0).abs() < 0.5, "{loudest:?}");
    assert_eq!(loudest.0, (7 * 3600 * 10 / 256) as usize);
}

fn write_programme(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("in.wav");
    std::fs::write(&path, wav(&programme(44_100, 2, 8.0, 3), Encoding::Pcm16, WavOptions::default())).expect("write");
    path
}

/// The document as a JSON value, with its wall time (which varies) zeroed.
fn json(doc: &impl serde::Serialize) -> Value {
    let mut v = serde_json::to_value(doc).expect("serializes");
    if let Some(e) = v.get_mut("elapsed_s") {
        *e = Value::from(0.0);
    }
    v
}

#[test]
fn without_the_option_the_documents_are_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write_programme(dir.path());
    let off = analyze_path(&input, &AnalyzeOptions::default()).expect("analyses");
    assert_eq!(off.loudness.curve, None);
    let on = analyze_path(&input, &AnalyzeOptions { curve: true, ..AnalyzeOptions::default() }).expect("analyses");
    let curve = on.loudness.curve.clone().expect("asked for");
    // An analysis entry: the same bytes unless the curve is added to it.
    let entry = |a| serde_json::to_string(&Measurement::of_analysis("in.wav", a)).expect("json");
    assert_eq!(entry(&off), entry(&on));
    assert!(!entry(&off).contains("curve"));
    let with = json(&Measurement::of_analysis("in.wav", &on).with_curve(Some(curve)));
    assert_eq!(with["curve"]["schema"], "audioproc.curve/1");
    assert_eq!(with["curve"]["momentary"].as_array().map(Vec::len), Some(80));
    assert!(with["curve"]["momentary"][0].is_null(), "unfilled window → null");

    // A process document: no `curve` key without the option, and otherwise the same.
    let spec = ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac);
    let run = |spec: &ProcessingSpec, name: &str| {
        let out = dir.path().join(name);
        let report = process_file(&input, &out, spec, Overwrite::Never, &|_| {}).expect("processes");
        json(&ProcessDocument::new("in.wav", "out.flac", &Ok(report), 0.0))
    };
    let off = run(&spec, "off.flac");
    let mut on = run(&ProcessingSpec { curve: true, ..spec.clone() }, "on.flac");
    assert!(off.get("curve").is_none(), "{off}");
    let curves = on.as_object_mut().expect("object").remove("curve").expect("asked for");
    assert_eq!(off, on);
    for side in ["input", "output"] {
        assert_eq!(curves[side]["schema"], "audioproc.curve/1");
        assert_eq!(curves[side]["short_term"].as_array().map(Vec::len), Some(80), "{side}");
    }
    // The output curve is measured on the output: one gain apart from the input's.
    let top = |side: &str| {
        curves[side]["short_term"].as_array().expect("array").iter().filter_map(Value::as_f64).fold(-99.0, f64::max)
    };
    let gain = off["gain_db"].as_f64().expect("gain");
    assert!(gain.abs() > 1.0, "{gain}");
    assert!((top("output") - top("input") - gain).abs() < 0.05, "{} {} {gain}", top("output"), top("input"));
}
