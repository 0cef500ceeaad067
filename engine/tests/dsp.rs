//! The streaming DSP stages: resampler and true-peak limiter. Run with `--nocapture` to see the
//! measured figures (flatness, rejection, ripple, overshoot, throughput); nothing here asserts
//! on time.

use std::f64::consts::PI;
use std::time::Instant;

use audioproc_engine::Error;
use audioproc_engine::dsp::{LimiterOptions, Resampler, Stage, TruePeakLimiter};
use audioproc_engine::loudness::{LoudnessMeter, MeterOptions};
use audioproc_testdata::signal::{Signal, programme, sine, white_noise};

/// Runs `stage` over `planes` in blocks of `block` frames (0 = one block; a 0-length block is
/// fed between every two blocks), then finishes it.
fn run<S: Stage>(stage: &mut S, planes: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
    let channels = stage.output_channels();
    let mut out = vec![Vec::new(); channels];
    let mut scratch = vec![Vec::new(); channels];
    let frames = planes.first().map_or(0, Vec::len);
    let block = if block == 0 { frames.max(1) } else { block };
    let empty = vec![Vec::new(); planes.len()];
    let mut pos = 0;
    while pos < frames {
        let end = (pos + block).min(frames);
        let chunk: Vec<Vec<f32>> = planes.iter().map(|p| p[pos..end].to_vec()).collect();
        scratch.iter_mut().for_each(Vec::clear);
        stage.process(&chunk, &mut scratch);
        append(&mut out, &scratch);
        scratch.iter_mut().for_each(Vec::clear);
        stage.process(&empty, &mut scratch);
        append(&mut out, &scratch);
        pos = end;
    }
    scratch.iter_mut().for_each(Vec::clear);
    stage.finish(&mut scratch);
    append(&mut out, &scratch);
    let len = out[0].len();
    assert!(out.iter().all(|p| p.len() == len), "planes grew unevenly");
    out
}

fn append(out: &mut [Vec<f32>], add: &[Vec<f32>]) {
    for (o, a) in out.iter_mut().zip(add) {
        o.extend_from_slice(a);
    }
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Least-squares fit of `a·sin(wt) + b·cos(wt) + c` to `y[range]` at `freq`/`rate`; returns
/// (amplitude, phase, residual RMS). Phase is that of `sin(w·i + phase)` at i = 0.
fn fit_sine(y: &[f32], rate: f64, freq: f64, range: std::ops::Range<usize>) -> (f64, f64, f64) {
    let w = 2.0 * PI * freq / rate;
    let mut m = [[0f64; 3]; 3];
    let mut v = [0f64; 3];
    for i in range.clone() {
        let b = [(w * i as f64).sin(), (w * i as f64).cos(), 1.0];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] += b[r] * b[c];
            }
            v[r] += b[r] * f64::from(y[i]);
        }
    }
    let x = solve3(m, v);
    let mut res = 0.0;
    for i in range.clone() {
        let f = x[0] * (w * i as f64).sin() + x[1] * (w * i as f64).cos() + x[2];
        res += (f64::from(y[i]) - f).powi(2);
    }
    let amp = x[0].hypot(x[1]);
    (amp, x[1].atan2(x[0]), (res / range.len() as f64).sqrt())
}

fn solve3(mut m: [[f64; 3]; 3], mut v: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let p = (col..3).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs())).unwrap_or(col);
        m.swap(col, p);
        v.swap(col, p);
        for r in 0..3 {
            if r != col {
                let f = m[r][col] / m[col][col];
                for c in 0..3 {
                    m[r][c] -= f * m[col][c];
                }
                v[r] -= f * v[col];
            }
        }
    }
    [v[0] / m[0][0], v[1] / m[1][1], v[2] / m[2][2]]
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// The middle of a stream, away from the start and end transients (`margin` frames each side).
fn middle(len: usize, margin: usize) -> std::ops::Range<usize> {
    margin..len - margin
}

// ---------------------------------------------------------------------------------------------
// Resampler
// ---------------------------------------------------------------------------------------------

const RATE_PAIRS: [(u32, u32); 10] = [
    (44_100, 48_000),
    (48_000, 44_100),
    (96_000, 44_100),
    (44_100, 96_000),
    (22_050, 48_000),
    (8_000, 48_000),
    (192_000, 48_000),
    (48_000, 96_000),
    (32_000, 44_100),
    (48_000, 48_000),
];

#[test]
fn resampler_rejects_bad_parameters() {
    assert!(matches!(Resampler::new(0, 48_000, 2), Err(Error::InvalidParameter(_))));
    assert!(matches!(Resampler::new(44_100, 0, 2), Err(Error::InvalidParameter(_))));
    assert!(matches!(Resampler::new(44_100, 48_000, 0), Err(Error::InvalidParameter(_))));
    // Coprime rates whose minimum block is absurd.
    assert!(matches!(Resampler::new(1_000_003, 999_983, 1), Err(Error::InvalidParameter(_))));
}

#[test]
fn resampler_emits_exactly_the_rounded_length_for_any_block_size() {
    for (from, to) in RATE_PAIRS {
        for n in [0usize, 1, 2, 99, 4_410, 12_345, 100_003] {
            for block in [1usize, 7, 1000, 65_536] {
                if block == 1 && n > 20_000 {
                    continue;
                }
                let mut r = Resampler::new(from, to, 2).expect("resampler");
                let input = vec![vec![0.25f32; n]; 2];
                let out = run(&mut r, &input, block);
                let expect = ((n as u128 * to as u128 * 2 + from as u128) / (2 * from as u128)) as u64;
                assert_eq!(r.output_frames_for(n as u64), expect, "{from}->{to} n {n}");
                assert_eq!(out[0].len() as u64, expect, "{from}->{to} n {n} block {block}");
            }
        }
    }
}

#[test]
fn resampler_is_reusable_after_finish() {
    let mut r = Resampler::new(44_100, 48_000, 1).expect("resampler");
    let x = sine(44_100, 1, 997.0, 0.5, 0.5, 0.0).planes;
    let a = run(&mut r, &x, 1000);
    let b = run(&mut r, &x, 333);
    assert_eq!(a, b);
}

#[test]
fn resampler_output_does_not_depend_on_block_size() {
    for (from, to) in [(44_100, 48_000), (96_000, 44_100), (8_000, 48_000)] {
        let x = programme(from, 2, 1.3, 7).planes;
        let mut r = Resampler::new(from, to, 2).expect("resampler");
        let reference = run(&mut r, &x, 0);
        for block in [1usize, 7, 1000, 65_536] {
            let mut r = Resampler::new(from, to, 2).expect("resampler");
            assert!(run(&mut r, &x, block) == reference, "{from}->{to} block {block} differs");
        }
    }
}

#[test]
fn resampler_output_is_aligned_with_the_input() {
    // An impulse at an input frame that maps to a whole output frame comes out there.
    for (from, to) in RATE_PAIRS {
        let g = gcd(from, to);
        let k_in = (from / g) as usize * 40;
        let k_out = (to / g) as usize * 40;
        let mut x = vec![0f32; k_in * 3];
        x[k_in] = 1.0;
        let mut r = Resampler::new(from, to, 1).expect("resampler");
        let y = run(&mut r, &[x], 999);
        let peak = y[0].iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map(|(i, _)| i);
        assert_eq!(peak, Some(k_out), "{from}->{to}");
        // Symmetric around it (linear phase, no fractional offset).
        if to >= from {
            for d in 1..20 {
                let (a, b) = (y[0][k_out - d], y[0][k_out + d]);
                assert!((a - b).abs() < 1e-6, "{from}->{to}: asymmetric at ±{d}: {a} vs {b}");
            }
        }
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Resamples a sine and returns (gain dB, phase error in output samples, residual dB relative
/// to the amplitude) over the middle of the output.
fn sine_through(from: u32, to: u32, freq: f64) -> (f64, f64, f64) {
    let amp = 0.5;
    let x = sine(from, 1, freq, amp, 1.0, 0.0).planes;
    let mut r = Resampler::new(from, to, 1).expect("resampler");
    let y = run(&mut r, &x, 4096);
    let range = middle(y[0].len(), to as usize / 10);
    let (a, phase, res) = fit_sine(&y[0], f64::from(to), freq, range);
    let w = 2.0 * PI * freq / f64::from(to);
    let mut ph = phase;
    while ph > PI {
        ph -= 2.0 * PI;
    }
    while ph < -PI {
        ph += 2.0 * PI;
    }
    (db(a / amp), ph / w, db(res / amp))
}

#[test]
fn resampler_passband_is_flat_and_in_phase() {
    let mut worst_gain = 0f64;
    let mut worst_res = -400f64;
    for (from, to) in RATE_PAIRS {
        let top = (f64::from(from.min(to)) * 0.5 * 0.9).min(20_000.0);
        let mut freqs = vec![20.0, 100.0, 1_000.0, 3_000.0];
        freqs.extend([10_000.0, 18_000.0, 20_000.0].into_iter().filter(|&f| f < top));
        freqs.push(top);
        for f in freqs {
            let (g, lag, res) = sine_through(from, to, f);
            println!("flatness {from}->{to} {f:>7.0} Hz: gain {g:+.5} dB, lag {lag:+.2e} samples, residual {res:.1} dB");
            assert!(g.abs() < 0.001, "{from}->{to} at {f} Hz: gain {g} dB");
            assert!(lag.abs() < 1e-3, "{from}->{to} at {f} Hz: lag {lag} samples");
            assert!(res < -120.0, "{from}->{to} at {f} Hz: residual {res} dB");
            worst_gain = worst_gain.max(g.abs());
            worst_res = worst_res.max(res);
        }
    }
    for (from, to) in [(44_100, 48_000), (48_000, 44_100)] {
        for f in [21_000.0, 21_500.0, 21_800.0] {
            let (g, _, _) = sine_through(from, to, f);
            println!("transition band {from}->{to} {f:>7.0} Hz: gain {g:+.4} dB");
        }
    }
    println!("flatness: worst |gain| {worst_gain:.5} dB, worst residual {worst_res:.1} dB (up to 0.9 × the lower Nyquist, ≤ 20 kHz)");
}

/// Energy that comes out of the resampler for a full-scale tone at `freq`, relative to the
/// tone, in dB (the middle of the output only).
fn rejection_db(from: u32, to: u32, freq: f64) -> f64 {
    let x = sine(from, 1, freq, 1.0, 1.0, 0.3).planes;
    let mut r = Resampler::new(from, to, 1).expect("resampler");
    let y = run(&mut r, &x, 8192);
    let range = middle(y[0].len(), to as usize / 10);
    db(rms(&y[0][range]) / (1.0 / 2f64.sqrt()))
}

#[test]
fn resampler_rejects_aliases_when_downsampling() {
    for (from, to, f, limit) in [
        (96_000, 44_100, 30_000.0, -140.0),
        (96_000, 44_100, 23_000.0, -140.0),
        (48_000, 44_100, 23_000.0, -140.0),
        (48_000, 44_100, 22_500.0, -120.0),
        (192_000, 48_000, 40_000.0, -140.0),
        (48_000, 8_000, 5_000.0, -140.0),
    ] {
        let r = rejection_db(from, to, f);
        println!("alias rejection {from}->{to}, tone {f} Hz: {r:.1} dB");
        assert!(r < limit, "{from}->{to} tone {f}: {r:.1} dB");
    }
}

#[test]
fn resampler_rejects_images_when_upsampling() {
    // Everything but the tone itself is an image (or noise).
    for (from, to, f) in [(44_100, 48_000, 15_000.0), (22_050, 48_000, 9_000.0), (8_000, 48_000, 3_000.0), (44_100, 96_000, 19_000.0)] {
        let (_, _, res) = sine_through(from, to, f);
        println!("image rejection {from}->{to}, tone {f} Hz: residual {res:.1} dB");
        assert!(res < -130.0, "{from}->{to} tone {f}: {res:.1} dB");
    }
}

#[test]
fn resampler_survives_non_finite_input() {
    let mut x = sine(44_100, 2, 440.0, 0.5, 0.5, 0.0).planes;
    x[0][1000] = f32::NAN;
    x[1][2000] = f32::INFINITY;
    x[0][3000] = f32::NEG_INFINITY;
    let mut r = Resampler::new(44_100, 48_000, 2).expect("resampler");
    let y = run(&mut r, &x, 512);
    assert!(y.iter().flatten().all(|s| s.is_finite()));
    let mut same = Resampler::new(48_000, 48_000, 2).expect("resampler");
    let y = run(&mut same, &x, 512);
    assert!(y.iter().flatten().all(|s| s.is_finite()));
}

fn integrated(planes: &[Vec<f32>], rate: u32) -> f64 {
    let mut m = LoudnessMeter::new(rate, &vec![1.0; planes.len()], MeterOptions { true_peak: false }).expect("meter");
    m.process(planes);
    m.report().integrated_lufs.expect("loud enough")
}

#[test]
fn resampler_round_trip_keeps_loudness() {
    let x = programme(44_100, 2, 10.0, 3);
    let mut up = Resampler::new(44_100, 48_000, 2).expect("resampler");
    let mid = run(&mut up, &x.planes, 4000);
    let mut down = Resampler::new(48_000, 44_100, 2).expect("resampler");
    let back = run(&mut down, &mid, 3000);
    assert_eq!(back[0].len(), x.frames());
    let (l0, l1, l2) = (integrated(&x.planes, 44_100), integrated(&mid, 48_000), integrated(&back, 44_100));
    println!("44.1 -> 48 -> 44.1 k on programme: {l0:.3} / {l1:.3} / {l2:.3} LUFS");
    assert!((l1 - l0).abs() < 0.01 && (l2 - l0).abs() < 0.01, "{l0} {l1} {l2}");
    // A band-limited signal (below the filters' transition band) comes back almost unchanged.
    let tones = sine(44_100, 1, 1234.5, 0.3, 2.0, 0.1).planes;
    let mut up = Resampler::new(44_100, 48_000, 1).expect("resampler");
    let mut down = Resampler::new(48_000, 44_100, 1).expect("resampler");
    let back = run(&mut down, &run(&mut up, &tones, 1024), 1024);
    let range = middle(tones[0].len(), 4410);
    let d: Vec<f32> = range.clone().map(|i| tones[0][i] - back[0][i]).collect();
    let err = db(rms(&d) / rms(&tones[0][range]));
    println!("44.1 -> 48 -> 44.1 k on a 1234.5 Hz tone: difference {err:.1} dB");
    assert!(err < -120.0, "round trip difference {err:.1} dB");
}

#[test]
fn resampler_throughput() {
    // Rough figures only (printed with --nocapture), no assertion on time.
    for (from, to) in [(44_100, 48_000), (48_000, 44_100), (96_000, 44_100)] {
        let x = white_noise(from, 2, 5.0, 0.5, 1).planes;
        let mut r = Resampler::new(from, to, 2).expect("resampler");
        let t = Instant::now();
        let y = run(&mut r, &x, 4096);
        let s = t.elapsed().as_secs_f64();
        println!(
            "resampler {from}->{to} stereo (blocks {:?}): {:.1} M input samples/s, {:.0}x real time",
            r.block_sizes(),
            (x[0].len() * 2) as f64 / s / 1e6,
            x[0].len() as f64 / f64::from(from) / s
        );
        assert_eq!(y[0].len() as u64, r.output_frames_for(x[0].len() as u64));
    }
}
