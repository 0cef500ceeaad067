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
        stage.process(&chunk, &mut scratch).expect("the stage accepts the block");
        append(&mut out, &scratch);
        scratch.iter_mut().for_each(Vec::clear);
        stage.process(&empty, &mut scratch).expect("the stage accepts an empty block");
        append(&mut out, &scratch);
        pos = end;
    }
    scratch.iter_mut().for_each(Vec::clear);
    stage.finish(&mut scratch).expect("the stage flushes");
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
                let pivot = m[col];
                let f = m[r][col] / pivot[col];
                for (x, p) in m[r].iter_mut().zip(pivot) {
                    *x -= f * p;
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
                let channels = [1, 2, 6][(n + block) % 3];
                let mut r = Resampler::new(from, to, channels).expect("resampler");
                let input = vec![vec![0.25f32; n]; channels];
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
            println!(
                "flatness {from}->{to} {f:>7.0} Hz: gain {g:+.5} dB, lag {lag:+.2e} samples, residual {res:.1} dB"
            );
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
    println!(
        "flatness: worst |gain| {worst_gain:.5} dB, worst residual {worst_res:.1} dB (up to 0.9 × the lower Nyquist, ≤ 20 kHz)"
    );
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
    for (from, to, f) in
        [(44_100, 48_000, 15_000.0), (22_050, 48_000, 9_000.0), (8_000, 48_000, 3_000.0), (44_100, 96_000, 19_000.0)]
    {
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
    let mut m = LoudnessMeter::new(rate, &vec![1.0; planes.len()], MeterOptions { true_peak: false, curve: false })
        .expect("meter");
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

/// Why the FFT resampler: rubato's long-filter sinc interpolator on the same job, for
/// comparison (printed only).
#[test]
fn resampler_choice_fft_vs_sinc() {
    use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
    use rubato::{
        Async, FixedAsync, Indexing, Resampler as _, SincInterpolationParameters, SincInterpolationType, WindowFunction,
    };
    let (from, to) = (44_100u32, 48_000u32);
    let seconds = 2.0;
    let x = sine(from, 2, 15_000.0, 0.5, seconds, 0.0).planes;
    for (name, len, interp) in [
        ("sinc 256 taps, cubic, x256", 256, SincInterpolationType::Cubic),
        ("sinc 512 taps, cubic, x256", 512, SincInterpolationType::Cubic),
    ] {
        let params = SincInterpolationParameters::new(len, WindowFunction::BlackmanHarris2)
            .oversampling_factor(256)
            .interpolation(interp);
        let chunk = 4096;
        let mut r = Async::<f64>::new_sinc(f64::from(to) / f64::from(from), 1.0, &params, chunk, 2, FixedAsync::Input)
            .expect("sinc resampler");
        let xin: Vec<Vec<f64>> = x.iter().map(|p| p.iter().map(|&s| f64::from(s)).collect()).collect();
        let mut out = vec![vec![0f64; r.output_frames_max()]; 2];
        let mut y = vec![Vec::new(); 2];
        let t = Instant::now();
        let mut pos = 0;
        while pos < xin[0].len() {
            let n = (xin[0].len() - pos).min(chunk);
            let idx = Indexing::new().input_offset(pos).partial_len(n);
            let inp = SequentialSliceOfVecs::new(&xin, 2, xin[0].len()).expect("input");
            let frames_out = r.output_frames_next();
            let mut o = SequentialSliceOfVecs::new_mut(&mut out, 2, frames_out).expect("output");
            let (_, produced) = r.process_into_buffer(&inp, &mut o, Some(&idx)).expect("process");
            for (yy, oo) in y.iter_mut().zip(&out) {
                yy.extend(oo[..produced].iter().map(|&s| s as f32));
            }
            pos += n;
        }
        let s = t.elapsed().as_secs_f64();
        let y0: Vec<f32> = y[0][r.output_delay()..].to_vec();
        let (_, _, res) = fit_sine(&y0, f64::from(to), 15_000.0, middle(y0.len().min(x[0].len()), 4800));
        println!(
            "{name}: {:.1} M input samples/s, residual on a 15 kHz tone {:.1} dB",
            (x[0].len() * 2) as f64 / s / 1e6,
            db(res / 0.5)
        );
    }
    let mut r = Resampler::new(from, to, 2).expect("resampler");
    let t = Instant::now();
    let y = run(&mut r, &x, 4096);
    let s = t.elapsed().as_secs_f64();
    let (_, _, res) = fit_sine(&y[0], f64::from(to), 15_000.0, middle(y[0].len(), 4800));
    println!(
        "FFT (ours): {:.1} M input samples/s, residual {:.1} dB",
        (x[0].len() * 2) as f64 / s / 1e6,
        db(res / 0.5)
    );
}

// ---------------------------------------------------------------------------------------------
// True-peak limiter
// ---------------------------------------------------------------------------------------------

/// True peak of `planes` in dBTP as our meter reads it.
fn true_peak_dbtp(planes: &[Vec<f32>], rate: u32) -> f64 {
    let mut m = LoudnessMeter::new(rate, &vec![1.0; planes.len()], MeterOptions { true_peak: true, curve: false })
        .expect("meter");
    m.process(planes);
    m.report().true_peak_dbtp.expect("not silent")
}

fn limiter(rate: u32, channels: usize, ceiling: f64) -> TruePeakLimiter {
    TruePeakLimiter::new(rate, channels, &LimiterOptions { ceiling_dbtp: ceiling, ..LimiterOptions::default() })
        .expect("limiter")
}

/// Limits `sig` and checks length and the ceiling; returns (output, TP overshoot in dB, max reduction).
fn limit_and_check(sig: &Signal, ceiling: f64, block: usize, what: &str) -> (Vec<Vec<f32>>, f64, f64) {
    let mut l = limiter(sig.rate, sig.channels(), ceiling);
    let y = run(&mut l, &sig.planes, block);
    assert_eq!(y[0].len(), sig.frames(), "{what}: length");
    let tp = true_peak_dbtp(&y, sig.rate);
    let over = tp - ceiling;
    assert!(over <= 0.05, "{what}: true peak {tp:.3} dBTP over the ceiling {ceiling}");
    (y, over, l.max_reduction_db())
}

#[test]
fn limiter_rejects_bad_parameters() {
    let ok = LimiterOptions::default();
    assert!(matches!(TruePeakLimiter::new(0, 2, &ok), Err(Error::InvalidParameter(_))));
    assert!(matches!(TruePeakLimiter::new(48_000, 0, &ok), Err(Error::InvalidParameter(_))));
    for bad in [
        LimiterOptions { ceiling_dbtp: f64::NAN, ..ok.clone() },
        LimiterOptions { ceiling_dbtp: f64::INFINITY, ..ok.clone() },
        LimiterOptions { lookahead_ms: -1.0, ..ok.clone() },
        LimiterOptions { lookahead_ms: f64::NAN, ..ok.clone() },
        LimiterOptions { lookahead_ms: 1e9, ..ok.clone() },
        LimiterOptions { release_ms: -5.0, ..ok.clone() },
        LimiterOptions { release_ms: f64::INFINITY, ..ok.clone() },
    ] {
        assert!(matches!(TruePeakLimiter::new(48_000, 2, &bad), Err(Error::InvalidParameter(_))), "{bad:?}");
    }
    assert!(TruePeakLimiter::new(48_000, 2, &LimiterOptions { lookahead_ms: 0.0, release_ms: 0.0, ..ok }).is_ok());
}

#[test]
fn limiter_keeps_hot_programme_under_the_ceiling() {
    let mut worst = f64::NEG_INFINITY;
    for rate in [44_100, 48_000] {
        for channels in [1, 2, 6] {
            for push in [10.0, 20.0] {
                let mut sig = programme(rate, channels, 8.0, 11 + channels as u64);
                let ceiling = -1.0;
                // Normalised so the true peak is `push` dB over the ceiling.
                sig.gain_db(push + ceiling - true_peak_dbtp(&sig.planes, rate));
                let what = format!("programme +{push} dB, {rate} Hz, {channels} ch");
                let (y, over, red) = limit_and_check(&sig, ceiling, 4096, &what);
                let (li, lo) = (integrated(&sig.planes, rate), integrated(&y, rate));
                println!(
                    "{what}: input TP {:+.2} dBTP, output TP {over:+.5} dB re ceiling, max reduction {red:.2} dB, loudness {li:.2} -> {lo:.2} LUFS ({:+.2} LU)",
                    true_peak_dbtp(&sig.planes, rate),
                    lo - li
                );
                worst = worst.max(over);
            }
        }
    }
    // Higher rates: 2x oversampling at 96 kHz, none at 192 kHz.
    for rate in [96_000, 192_000] {
        let mut sig = programme(rate, 2, 4.0, 5);
        sig.gain_db(15.0);
        let (_, over, _) = limit_and_check(&sig, -1.0, 1000, &format!("programme {rate} Hz"));
        println!("programme +15 dB, {rate} Hz: output TP {over:+.4} dB re ceiling");
        worst = worst.max(over);
    }
    println!("limiter: worst true-peak overshoot on programme {worst:+.6} dB");
}

#[test]
fn limiter_keeps_white_noise_and_inter_sample_peaks_under_the_ceiling() {
    for rate in [44_100, 48_000] {
        for (amp, ceiling) in [(4.0, -1.0), (1.0, -6.0), (10.0, -0.1)] {
            let sig = white_noise(rate, 2, 4.0, amp, 3);
            let (_, over, red) = limit_and_check(&sig, ceiling, 777, "white noise");
            println!(
                "white noise ±{amp} at {rate} Hz, ceiling {ceiling}: output TP {over:+.5} dB re ceiling, reduction {red:.2} dB"
            );
        }
    }
    // Bursts at random levels with gaps shorter than the release: the gain is still released
    // (not flat) when the next burst arrives.
    for rate in [44_100, 48_000] {
        let mut rng = audioproc_testdata::signal::SplitMix64::new(77);
        let noise = white_noise(rate, 2, 6.0, 1.0, 5);
        let burst = rate as usize / 40;
        let mut sig = noise.clone();
        for start in (0..sig.frames()).step_by(burst) {
            let level = if rng.uniform() > 0.0 { 10f32.powf(rng.uniform() as f32 * 1.2) } else { 0.0 };
            for p in &mut sig.planes {
                for v in &mut p[start..(start + burst / 2).min(noise.frames())] {
                    *v *= level;
                }
                for v in &mut p[(start + burst / 2).min(noise.frames())..(start + burst).min(noise.frames())] {
                    *v = 0.0;
                }
            }
        }
        let (_, over, red) = limit_and_check(&sig, -1.0, 1000, "bursts");
        println!("noise bursts at {rate} Hz: output TP {over:+.5} dB re ceiling, reduction {red:.2} dB");
    }
    // EBU Tech 3341 cases 15-19 shapes: sample values understate the true peak.
    for (num, den, phase_deg, amp) in
        [(1.0, 4.0, 45.0, 1.41), (1.0, 4.0, 0.0, 2.0), (1.0, 6.0, 60.0, 2.0), (1.0, 8.0, 67.5, 1.41)]
    {
        for rate in [44_100, 48_000] {
            let f = f64::from(rate) * num / den;
            let sig = sine(rate, 2, f, amp, 3.0, phase_deg * PI / 180.0);
            let (_, over, red) = limit_and_check(&sig, -1.0, 1024, "inter-sample peaks");
            println!(
                "fs·{num}/{den} at {phase_deg}°, amplitude {amp}, {rate} Hz: output TP {over:+.5} dB re ceiling, reduction {red:.2} dB"
            );
        }
    }
}

#[test]
fn limiter_passes_signals_below_the_ceiling_bit_identical() {
    for rate in [44_100, 48_000] {
        for channels in [1, 2, 6] {
            let mut sig = programme(rate, channels, 3.0, 2);
            sig.gain_db(-8.0);
            assert!(true_peak_dbtp(&sig.planes, rate) < -1.5);
            for block in [1usize, 7, 1000, 65_536] {
                let mut l = limiter(rate, channels, -1.0);
                let y = run(&mut l, &sig.planes, block);
                assert!(y == sig.planes, "{rate} Hz {channels} ch block {block}: output differs from input");
                assert_eq!(l.max_reduction_db(), 0.0);
            }
        }
    }
}

#[test]
fn limiter_output_does_not_depend_on_block_size() {
    let mut sig = programme(48_000, 2, 3.0, 9);
    sig.gain_db(14.0);
    let mut l = limiter(48_000, 2, -1.0);
    let reference = run(&mut l, &sig.planes, 0);
    for block in [1usize, 7, 1000, 65_536] {
        let mut l = limiter(48_000, 2, -1.0);
        assert!(run(&mut l, &sig.planes, block) == reference, "block {block}");
    }
    // And it is reusable after finish.
    assert!(run(&mut l, &sig.planes, 500) == reference);
}

#[test]
fn limiter_output_is_aligned_with_the_input() {
    let mut sig = programme(44_100, 2, 3.0, 4);
    sig.gain_db(15.0);
    let mut l = limiter(44_100, 2, -1.0);
    let y = run(&mut l, &sig.planes, 1000);
    let x = &sig.planes[0];
    let corr = |lag: i64| -> f64 {
        (0..x.len() as i64)
            .filter(|&i| i + lag >= 0 && ((i + lag) as usize) < x.len())
            .map(|i| f64::from(x[i as usize]) * f64::from(y[0][(i + lag) as usize]))
            .sum()
    };
    let best = (-40..=40).max_by(|&a, &b| corr(a).total_cmp(&corr(b)));
    assert_eq!(best, Some(0));
    // Sign and sample position are kept everywhere: the gain y/x lies in (0, 1].
    for (xs, ys) in sig.planes.iter().zip(&y) {
        for (&a, &b) in xs.iter().zip(ys) {
            if a.abs() > 1e-3 {
                let g = b / a;
                assert!(g > 0.0 && g <= 1.0, "gain {g}");
            }
        }
    }
}

/// The gain the limiter applied to a signal that is non-zero everywhere: y / x.
fn applied_gain(x: &[f32], y: &[f32]) -> Vec<f64> {
    x.iter().zip(y).map(|(&a, &b)| f64::from(b) / f64::from(a)).collect()
}

#[test]
fn limiter_holds_a_steady_gain_on_steady_tones() {
    for (rate, freq) in [(48_000, 1000.0), (44_100, 997.0), (48_000, 100.0), (44_100, 50.0), (48_000, 5000.0)] {
        let amp = 2.0; // +6 dBFS
        let ceiling = -1.0;
        let sig = sine(rate, 2, freq, amp, 2.0, 0.2);
        let mut l = limiter(rate, 2, ceiling);
        let y = run(&mut l, &sig.planes, 1024);
        let settle = rate as usize / 10;
        let g: Vec<f64> = applied_gain(&sig.planes[0], &y[0])
            .into_iter()
            .zip(&sig.planes[0])
            .skip(settle)
            .filter(|&(_, &x)| x.abs() > 0.2)
            .map(|(g, _)| db(g))
            .collect();
        let (lo, hi) = g.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let expect = db(amp) - ceiling; // true peak of a sine ≈ its amplitude
        println!(
            "steady {freq} Hz at {rate} Hz, +6 dBFS: gain {hi:+.4} .. {lo:+.4} dB (ripple {:.5} dB), max reduction {:.3} dB (needed ≈ {expect:.3})",
            hi - lo,
            l.max_reduction_db()
        );
        assert!(hi - lo < 0.1, "{freq} Hz: ripple {} dB", hi - lo);
        assert!((l.max_reduction_db() - expect).abs() < 0.05, "{freq} Hz: reduction {}", l.max_reduction_db());
    }
}

#[test]
fn limiter_attack_is_a_continuous_ramp_that_is_in_place_at_the_peak() {
    let rate = 48_000;
    let mut x = vec![0.5f32; rate as usize];
    let at = 20_000;
    x[at] = 5.0;
    let mut l = limiter(rate, 1, -1.0);
    let y = run(&mut l, &[x.clone()], 512);
    let g = applied_gain(&x, &y[0]);
    let needed = 10f64.powf(-1.0 / 20.0) / 5.0;
    // In place at the peak (and over its interpolation window), not before the ramp.
    assert!(g[at] <= needed * (1.0 + 1e-6), "gain at the peak {} > {needed}", g[at]);
    // Flat over every sample the peak's interpolated neighbours are made of.
    for n in at - 5..=at + 6 {
        assert!((g[n] - g[at]).abs() < 1e-6, "not flat at {}", n as i64 - at as i64);
    }
    let w = (0.005 * f64::from(rate)) as usize;
    // Nothing happens earlier than look-ahead + interpolation window before the peak.
    assert!(g[..at - w - 11].iter().all(|&v| v == 1.0), "reduction starts before the look-ahead");
    // Continuous: no step bigger than the ramp slope.
    let slope = (1.0 - needed) / w as f64;
    let max_step = g.windows(2).map(|p| (p[1] - p[0]).abs()).fold(0.0, f64::max);
    assert!(max_step <= slope * 1.001, "step {max_step} > ramp slope {slope}");
    // Held 10 ms, then released exponentially in dB: one time constant (200 ms) later the
    // reduction is 1/e of what it was.
    let hold = rate as usize / 100;
    let tau = rate as usize / 5;
    assert!((g[at + 6 + hold] - g[at]).abs() < 1e-6, "not held");
    let after = db(g[at + 6 + hold + tau]) / db(needed);
    println!(
        "attack: ramp {w} frames, slope {slope:.5}/frame; reduction one release time constant later: {after:.3} of the peak's"
    );
    assert!((after - (-1f64).exp()).abs() < 0.02, "release: {after}");
}

#[test]
fn limiter_survives_non_finite_input() {
    let mut sig = programme(48_000, 2, 2.0, 1);
    sig.gain_db(10.0);
    sig.planes[0][1000] = f32::NAN;
    sig.planes[1][5000] = f32::INFINITY;
    sig.planes[0][9000] = f32::NEG_INFINITY;
    let mut l = limiter(48_000, 2, -1.0);
    let y = run(&mut l, &sig.planes, 1000);
    assert!(y.iter().flatten().all(|s| s.is_finite()));
    assert!(l.max_reduction_db().is_finite() && l.max_reduction_db() > 0.0);
    assert!(true_peak_dbtp(&y, 48_000) <= -0.95);
}

#[test]
fn limiter_throughput() {
    for channels in [2, 6] {
        let mut sig = programme(48_000, channels, 10.0, 8);
        sig.gain_db(12.0);
        let mut l = limiter(48_000, channels, -1.0);
        let t = Instant::now();
        let y = run(&mut l, &sig.planes, 4096);
        let s = t.elapsed().as_secs_f64();
        assert_eq!(y[0].len(), sig.frames());
        println!(
            "limiter 48 kHz {channels} ch, +12 dB programme: {:.1} M samples/s ({:.0}x real time)",
            (sig.frames() * channels) as f64 / s / 1e6,
            sig.seconds() / s
        );
    }
}
