//! Cross-checks against the `ebur128` crate (a port of libebur128) as an independent oracle,
//! and properties any correct meter has.

use audioproc_engine::ChannelRole;
use audioproc_engine::channels::default_layout;
use audioproc_engine::loudness::{LoudnessMeter, LoudnessReport, MeterOptions, MonoMode, channel_weights};
use audioproc_testdata::Signal;
use audioproc_testdata::signal::{SplitMix64, log_sweep, programme, white_noise};
use ebur128::{Channel, EbuR128, Mode};

fn ours(sig: &Signal, layout: &[ChannelRole], chunk: usize) -> LoudnessReport {
    let mut m =
        LoudnessMeter::new(sig.rate, &channel_weights(layout, MonoMode::Mono), MeterOptions::default()).expect("meter");
    let mut start = 0;
    while start < sig.frames() {
        let end = (start + chunk).min(sig.frames());
        let planes: Vec<&[f32]> = sig.planes.iter().map(|p| &p[start..end]).collect();
        m.process(&planes);
        start = end;
    }
    m.report()
}

struct Oracle {
    integrated: f64,
    /// The oracle's own loudness range (short-term values at 1 Hz, as libebur128 does).
    range_1hz: f64,
    /// Loudness range per Tech 3342 (2016: short-term sampled at ≥ 10 Hz) computed here from
    /// the oracle's short-term loudness read every 100 ms.
    range_10hz: Option<f64>,
    sample_peak: f64,
}

/// Tech 3342 from a list of short-term loudness values: absolute gate −70 LUFS, relative gate
/// 20 LU below the mean energy, 95th minus 10th nearest-rank percentile.
fn range_from_short_term(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|&l| l > -70.0).collect();
    if v.is_empty() {
        return None;
    }
    let mean = v.iter().map(|l| 10f64.powf(l / 10.0)).sum::<f64>() / v.len() as f64;
    let gate = 10.0 * mean.log10() - 20.0;
    v.retain(|&l| l > gate);
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() - 1) as f64 * p + 0.5) as usize];
    Some(at(0.95) - at(0.10))
}

fn oracle(sig: &Signal, layout: &[ChannelRole]) -> Oracle {
    let mut e = EbuR128::new(sig.channels() as u32, sig.rate, Mode::I | Mode::LRA | Mode::SAMPLE_PEAK).expect("oracle");
    let map: Vec<Channel> = layout
        .iter()
        .map(|r| match r {
            ChannelRole::Mono | ChannelRole::Center => Channel::Center,
            ChannelRole::Left => Channel::Left,
            ChannelRole::Right => Channel::Right,
            ChannelRole::Lfe => Channel::Unused,
            ChannelRole::Surround => Channel::LeftSurround,
            _ => Channel::Center,
        })
        .collect();
    e.set_channel_map(&map).expect("map");
    let step = (sig.rate as usize + 5) / 10;
    let mut short_term = Vec::new();
    let mut start = 0;
    while start + step <= sig.frames() {
        let planes: Vec<&[f32]> = sig.planes.iter().map(|p| &p[start..start + step]).collect();
        e.add_frames_planar_f32(&planes).expect("add");
        start += step;
        if start >= 30 * step {
            short_term.push(e.loudness_shortterm().expect("short-term"));
        }
    }
    let sample_peak = (0..sig.channels() as u32).map(|c| e.sample_peak(c).expect("peak")).fold(0.0, f64::max);
    Oracle {
        integrated: e.loudness_global().expect("integrated"),
        range_1hz: e.loudness_range().expect("range"),
        range_10hz: range_from_short_term(&short_term),
        sample_peak,
    }
}

/// Noise, sweeps, level changes: the material to compare on.
fn material(rate: u32, channels: usize, seed: u64) -> Vec<(String, Signal)> {
    let mut level_steps = white_noise(rate, channels, 10.0, 0.3, seed);
    let mut quiet = white_noise(rate, channels, 10.0, 0.3, seed + 1);
    quiet.gain_db(-15.0);
    level_steps.append(&quiet);
    let mut loud = white_noise(rate, channels, 10.0, 0.3, seed + 2);
    loud.gain_db(-5.0);
    level_steps.append(&loud);
    vec![
        ("programme".to_owned(), programme(rate, channels, 40.0, seed)),
        ("noise level steps".to_owned(), level_steps),
        ("log sweep".to_owned(), log_sweep(rate, channels, 30.0, 0.45 * f64::from(rate), 0.4, 20.0)),
    ]
}

#[test]
fn integrated_lra_and_sample_peak_agree_with_the_ebur128_crate() {
    // Direct agreement at 44.1 and 48 kHz. At other rates the oracle's K-weighting drifts from
    // the BS.1770 curve (its high-pass gain follows the rate: −0.03 dB at 32 kHz, +0.03 dB at
    // 192 kHz, +0.26 dB at 8 kHz) while ours does not; `every_rate_agrees_with_the_oracle_at_48k`
    // checks those rates against the oracle where it is exact.
    let mut worst_i = 0f64;
    let mut worst_lra = 0f64;
    for rate in [44_100, 48_000] {
        for channels in [1, 2, 6] {
            let layout = default_layout(channels);
            for (name, sig) in material(rate, channels, u64::from(rate) + channels as u64) {
                let (a, b) = (ours(&sig, &layout, 4096), oracle(&sig, &layout));
                let i = a.integrated_lufs.expect("measured");
                let lra = a.loudness_range_lu.expect("measured");
                let lra10 = b.range_10hz.expect("oracle short-term values");
                let ctx = format!("{name}, {channels} ch, {rate} Hz");
                eprintln!(
                    "{ctx}: ΔI {:+.4} LU, ΔLRA {:+.3} LU (oracle's own 1 Hz LRA differs by {:+.3})",
                    i - b.integrated,
                    lra - lra10,
                    lra - b.range_1hz
                );
                assert!((i - b.integrated).abs() <= 0.02, "{ctx}: integrated {i:.4} vs oracle {:.4}", b.integrated);
                assert!((lra - lra10).abs() <= 0.1, "{ctx}: LRA {lra:.3} vs oracle short-term at 10 Hz {lra10:.3}");
                let sp = 10f64.powf(a.sample_peak_dbfs.expect("measured") / 20.0);
                assert_eq!(sp as f32, b.sample_peak as f32, "{ctx}: sample peak");
                worst_i = worst_i.max((i - b.integrated).abs());
                worst_lra = worst_lra.max((lra - lra10).abs());
            }
        }
    }
    eprintln!("worst |ΔI| = {worst_i:.4} LU, worst |ΔLRA| = {worst_lra:.3} LU");
}

/// A band-limited multi-tone with level changes, synthesized exactly at any rate (all content
/// below 3.5 kHz, so it is the same programme at 8 kHz and at 48 kHz).
#[allow(clippy::approx_constant)] // the phases are drawn from 0..6.28, not 0..2π: kept so the signal is unchanged
fn multitone(rate: u32, seconds: f64) -> Signal {
    let fs = f64::from(rate);
    let mut rng = SplitMix64::new(99);
    let tones: Vec<(f64, f64, f64)> = (0..24)
        .map(|_| (60.0 + 3400.0 * (rng.uniform() * 0.5 + 0.5), 0.05 * (rng.uniform() + 1.2), 6.28 * rng.uniform()))
        .collect();
    let frames = (seconds * fs) as usize;
    let plane: Vec<f32> = (0..frames)
        .map(|i| {
            let t = i as f64 / fs;
            let env = if (t as u64 / 4).is_multiple_of(2) { 1.0 } else { 0.3 };
            (env * tones.iter().map(|(f, a, p)| a * (2.0 * std::f64::consts::PI * f * t + p).sin()).sum::<f64>()) as f32
        })
        .collect();
    Signal { rate, planes: vec![plane.clone(), plane] }
}

#[test]
fn every_rate_agrees_with_the_oracle_at_48k() {
    let layout = default_layout(2);
    let reference = oracle(&multitone(48_000, 30.0), &layout);
    for rate in [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 88_200, 96_000, 192_000] {
        let sig = multitone(rate, 30.0);
        let i = ours(&sig, &layout, 4096).integrated_lufs.expect("measured");
        let theirs = oracle(&sig, &layout).integrated;
        eprintln!(
            "{rate} Hz: ours {i:.4}, oracle at this rate {theirs:.4}, oracle at 48 kHz {:.4}",
            reference.integrated
        );
        assert!((i - reference.integrated).abs() <= 0.02, "{rate} Hz: {i:.4} vs {:.4}", reference.integrated);
    }
}

#[test]
fn gain_of_x_db_raises_integrated_loudness_by_x_lu() {
    let sig = programme(48_000, 2, 30.0, 5);
    let layout = default_layout(2);
    let base = ours(&sig, &layout, 4096);
    for db in [-20.0, -6.0, 3.5, 6.0] {
        let mut louder = sig.clone();
        louder.gain_db(db);
        let r = ours(&louder, &layout, 4096);
        let d = r.integrated_lufs.expect("measured") - base.integrated_lufs.expect("measured");
        assert!((d - db).abs() < 0.01, "gain {db}: integrated moved {d}");
        let dm = r.momentary_max_lufs.expect("m") - base.momentary_max_lufs.expect("m");
        assert!((dm - db).abs() < 0.001, "gain {db}: momentary max moved {dm}");
        let dl = r.loudness_range_lu.expect("lra") - base.loudness_range_lu.expect("lra");
        assert!(dl.abs() < 0.05, "gain {db}: LRA moved {dl}");
    }
}

#[test]
fn swapping_channels_changes_nothing() {
    for channels in [2, 6] {
        let sig = programme(44_100, channels, 20.0, 11);
        let mut layout = default_layout(channels);
        let a = ours(&sig, &layout, 4096);
        let mut swapped = sig.clone();
        swapped.planes.swap(0, 1);
        if channels == 6 {
            swapped.planes.swap(4, 5);
            layout.swap(4, 5);
        }
        let b = ours(&swapped, &layout, 4096);
        let close = |x: Option<f64>, y: Option<f64>| (x.expect("m") - y.expect("m")).abs() < 1e-9;
        assert!(close(a.integrated_lufs, b.integrated_lufs));
        assert!(close(a.loudness_range_lu, b.loudness_range_lu));
        assert!(close(a.true_peak_dbtp, b.true_peak_dbtp));
        assert_eq!(a.sample_peak_dbfs, b.sample_peak_dbfs);
    }
}

#[test]
fn block_size_of_the_input_changes_no_figure() {
    for channels in [1, 2, 6] {
        let sig = programme(44_100, channels, 12.0, 3);
        let layout = default_layout(channels);
        let reference = ours(&sig, &layout, sig.frames());
        for chunk in [1, 7, 100, 1152, 4410, 4411, 65_536] {
            assert_eq!(ours(&sig, &layout, chunk), reference, "{channels} ch, chunk {chunk}");
        }
    }
}
