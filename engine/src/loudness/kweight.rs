//! The K-weighting pre-filter of BS.1770: a high shelf (+4 dB above ~1.7 kHz, modelling the
//! head) followed by a high-pass (RLB weighting, ~38 Hz).
//!
//! Coefficients are derived for any sample rate from analog prototypes (not taken from the
//! 48 kHz table), so the response is the same at 8 kHz as at 192 kHz: within 0.015 dB of the
//! BS.1770 table's response up to 20 kHz from 11.025 kHz up, and within 0.04 dB at 8 kHz.
//! The prototype parameters are those fitted to the BS.1770 table by libebur128's author.

/// Biquad coefficients (a0 normalised to 1): the type the fused recursion takes.
pub use audioproc_simd::cascade::Biquad;
use audioproc_simd::cascade::{Cascade, State};

use super::recursion::{self, History, Pair};

/// Magnitude response (linear) of `b` at normalised angular frequency `w` (radians per sample).
fn magnitude(b: &Biquad, w: f64) -> f64 {
    let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
    let nr = b.b0 + b.b1 * c1 + b.b2 * c2;
    let ni = -(b.b1 * s1 + b.b2 * s2);
    let dr = 1.0 + b.a1 * c1 + b.a2 * c2;
    let di = -(b.a1 * s1 + b.a2 * s2);
    ((nr * nr + ni * ni) / (dr * dr + di * di)).sqrt()
}

/// The two stages of K-weighting at one sample rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KWeightingCoefficients {
    /// Stage 1: high shelf.
    pub shelf: Biquad,
    /// Stage 2: high-pass.
    pub high_pass: Biquad,
}

impl KWeightingCoefficients {
    /// Coefficients for `sample_rate` Hz (audioproc uses 8–384 kHz).
    pub fn new(sample_rate: u32) -> Self {
        if sample_rate == 48_000 {
            // The definition itself.
            return Self::bs1770_table_48k();
        }
        let fs = f64::from(sample_rate);
        // The high-pass is far below Nyquist at every rate, so the bilinear transform keeps its
        // shape; its numerator is scaled so the pass-band gain is the same at every rate
        // (libebur128 keeps [1, -2, 1], whose gain drifts to +0.26 dB at 8 kHz).
        let (mut high_pass, a0) = bilinear_high_pass(fs);
        let g = bilinear_high_pass(48_000.0).1 / a0 * calibration();
        (high_pass.b0, high_pass.b1, high_pass.b2) = (g, -2.0 * g, g);
        KWeightingCoefficients { shelf: matched_shelf(fs), high_pass }
    }

    /// The BS.1770-4 table (48 kHz): the definition of K-weighting.
    pub fn bs1770_table_48k() -> Self {
        KWeightingCoefficients {
            shelf: Biquad {
                b0: 1.535_124_859_586_97,
                b1: -2.691_696_189_406_38,
                b2: 1.198_392_810_852_85,
                a1: -1.690_659_293_182_41,
                a2: 0.732_480_774_215_85,
            },
            high_pass: Biquad { b0: 1.0, b1: -2.0, b2: 1.0, a1: -1.990_047_454_833_98, a2: 0.990_072_250_366_21 },
        }
    }

    /// Magnitude response (linear) at `freq` Hz when running at `sample_rate`.
    pub fn gain(&self, sample_rate: u32, freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(sample_rate);
        magnitude(&self.shelf, w) * magnitude(&self.high_pass, w)
    }
}

// The analog prototypes.
const SHELF_F0: f64 = 1_681.974_450_955_533;
const SHELF_GAIN_DB: f64 = 3.999_843_853_973_347;
const SHELF_Q: f64 = 0.707_175_236_955_419_6;
const SHELF_VB_EXPONENT: f64 = 0.499_666_774_154_541_6;
const HP_F0: f64 = 38.135_470_876_024_44;
const HP_Q: f64 = 0.500_327_037_323_877_3;

/// |H(jΩ)|² of the analog high shelf at Ω = f / f0.
fn shelf_analog_power(omega: f64) -> f64 {
    let vh = 10f64.powf(SHELF_GAIN_DB / 20.0);
    let vb = vh.powf(SHELF_VB_EXPONENT);
    let num = (1.0 - vh * omega * omega).powi(2) + (vb * omega / SHELF_Q).powi(2);
    let den = (1.0 - omega * omega).powi(2) + (omega / SHELF_Q).powi(2);
    num / den
}

/// The high shelf by magnitude matching (M. Vicanek, "Matched Second Order Digital Filters",
/// 2016): poles by the exact mapping z = e^{sT}, zeros chosen so the magnitude equals the
/// analog prototype's at DC, at f0 and at Nyquist. Unlike the bilinear transform this does not
/// squeeze the shelf towards Nyquist, so it holds at 8 kHz (0.04 dB from the 48 kHz curve where
/// the bilinear design is 0.5 dB off).
fn matched_shelf(fs: f64) -> Biquad {
    use std::f64::consts::PI;
    let w0 = 2.0 * PI * SHELF_F0 / fs;
    let zeta = 1.0 / (2.0 * SHELF_Q);
    let a1 = -2.0 * (-zeta * w0).exp() * (w0 * (1.0 - zeta * zeta).sqrt()).cos();
    let a2 = (-2.0 * zeta * w0).exp();
    let pa0 = (1.0 + a1 + a2).powi(2);
    let pa1 = (1.0 - a1 + a2).powi(2);
    let pa2 = -4.0 * a2;
    let pb0 = pa0 * shelf_analog_power(0.0);
    let pb1 = pa1 * shelf_analog_power(fs / 2.0 / SHELF_F0);
    let phi1 = (w0 / 2.0).sin().powi(2);
    let phi0 = 1.0 - phi1;
    let phi2 = 4.0 * phi0 * phi1;
    let r = shelf_analog_power(1.0) * (pa0 * phi0 + pa1 * phi1 + pa2 * phi2);
    let pb2 = (r - pb0 * phi0 - pb1 * phi1) / phi2;
    let (sb0, sb1) = (pb0.sqrt(), pb1.sqrt());
    let w = (sb0 + sb1) / 2.0;
    let b0 = (w + (w * w + pb2).sqrt()) / 2.0;
    Biquad { b0, b1: (sb0 - sb1) / 2.0, b2: -pb2 / (4.0 * b0), a1, a2 }
}

/// The bilinear high-pass with numerator [1, -2, 1], and its a0 (its pass-band gain).
fn bilinear_high_pass(fs: f64) -> (Biquad, f64) {
    let k = (std::f64::consts::PI * HP_F0 / fs).tan();
    let a0 = 1.0 + k / HP_Q + k * k;
    let bq = Biquad { b0: 1.0, b1: -2.0, b2: 1.0, a1: 2.0 * (k * k - 1.0) / a0, a2: (1.0 - k / HP_Q + k * k) / a0 };
    (bq, a0)
}

/// The factor that makes the design's gain at 997 Hz equal the BS.1770 table's (the point the
/// −0.691 dB calibration refers to): a 0.006 dB correction.
fn calibration() -> f64 {
    let table = KWeightingCoefficients::bs1770_table_48k().gain(48_000, 997.0);
    let ours = KWeightingCoefficients { shelf: matched_shelf(48_000.0), high_pass: bilinear_high_pass(48_000.0).0 };
    table / ours.gain(48_000, 997.0)
}

/// One channel's K-weighting filter state and the running sum of the squares of its output
/// (direct form I, in f64, two samples per step: see [`super::recursion`]; on CPUs with AVX2
/// and FMA, [`audioproc_simd::cascade`], with fused multiply-adds). In f64 this agrees with the
/// textbook transposed direct form II to within rounding (~1e-15 relative).
#[derive(Clone, Debug)]
pub struct KWeighting {
    c: KWeightingCoefficients,
    /// The fused recursion, when this CPU runs it.
    fused: Option<Cascade>,
    h: History<f64>,
    /// Sums of the squares of the output at even and odd positions of the stream (the portable
    /// recursion uses the first only).
    sums: [f64; 2],
}

impl KWeighting {
    /// A filter at rest for `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        let c = KWeightingCoefficients::new(sample_rate);
        let fused = audioproc_simd::has_avx2_fma().then(|| Cascade::new(&c.shelf, &c.high_pass));
        KWeighting { c, fused, h: History::default(), sums: [0.0; 2] }
    }

    /// Filters `input` and adds the squares of the output to the running sum, so that the sum
    /// does not depend on how the input is split into calls.
    #[inline]
    pub fn accumulate_squares(&mut self, input: &[f32]) {
        if let Some(fused) = &self.fused {
            let mut state = self.state();
            if fused.run_one(input, &mut state) {
                self.set_state(state);
                return;
            }
        }
        let c = self.c;
        recursion::run(&c, input.iter().map(|&v| f64::from(v)), &mut self.h, &mut self.sums[0]);
    }

    /// Filters two channels in one pass, in the lanes of one vector register (which halves the
    /// instructions). Same results as a [`Self::accumulate_squares`] call for each.
    ///
    /// # Panics
    /// If the two are not at the same position of their streams.
    #[inline]
    pub fn accumulate_squares_pair(l: &mut Self, r: &mut Self, xl: &[f32], xr: &[f32]) {
        assert_eq!(l.h.odd, r.h.odd, "the two channels are at the same position");
        if let Some(fused) = &l.fused {
            let (mut sl, mut sr) = (l.state(), r.state());
            if fused.run_pair([xl, xr], [&mut sl, &mut sr]) {
                l.set_state(sl);
                r.set_state(sr);
                return;
            }
        }
        let join = |a: [f64; 3], b: [f64; 3]| std::array::from_fn(|i| Pair([a[i], b[i]]));
        let mut h = History { x: join(l.h.x, r.h.x), y: join(l.h.y, r.h.y), z: join(l.h.z, r.h.z), odd: l.h.odd };
        let mut acc = Pair([l.sums[0], r.sums[0]]);
        let c = l.c;
        recursion::run(&c, xl.iter().zip(xr).map(|(&a, &b)| Pair([f64::from(a), f64::from(b)])), &mut h, &mut acc);
        [l.sums[0], r.sums[0]] = acc.0;
        for (lane, f) in [&mut l.h, &mut r.h].into_iter().enumerate() {
            let part = |v: [Pair; 3]| v.map(|p| p.0[lane]);
            (f.x, f.y, f.z, f.odd) = (part(h.x), part(h.y), part(h.z), h.odd);
        }
    }

    /// The filter's state as the fused recursion takes it.
    fn state(&self) -> State {
        State { x: self.h.x, y: self.h.y, z: self.h.z, odd: self.h.odd, sums: self.sums }
    }

    fn set_state(&mut self, s: State) {
        self.h = History { x: s.x, y: s.y, z: s.z, odd: s.odd };
        self.sums = s.sums;
    }

    /// The sum of the squares of the output since the last call (or since the start), and a
    /// new sum from zero.
    pub fn take_sum_of_squares(&mut self) -> f64 {
        let sum = self.sums[0] + self.sums[1];
        self.sums = [0.0; 2];
        sum
    }

    /// Flushes state values too small to matter to zero, so long silences never run the
    /// recursion on subnormal numbers (which are ~100x slower on x86).
    pub fn flush_tiny(&mut self) {
        for v in self.h.x.iter_mut().chain(self.h.y.iter_mut()).chain(self.h.z.iter_mut()) {
            if v.abs() < 1e-25 {
                *v = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    #[test]
    fn follows_the_bs1770_curve_at_every_rate() {
        // The definition is the 48 kHz table; every rate must give its response up to
        // 0.45·fs (20 kHz at most), within these measured bounds.
        let table = KWeightingCoefficients::bs1770_table_48k();
        let bounds = [
            (8_000, 0.04),
            (11_025, 0.015),
            (16_000, 0.015),
            (22_050, 0.015),
            (32_000, 0.015),
            (44_100, 0.015),
            (48_000, 0.015),
            (88_200, 0.015),
            (96_000, 0.015),
            (192_000, 0.015),
            (384_000, 0.015),
        ];
        for (rate, bound) in bounds {
            let c = KWeightingCoefficients::new(rate);
            let mut worst = 0f64;
            for i in 0..300 {
                let freq = 20.0 * (1000.0f64).powf(i as f64 / 299.0);
                if freq > (0.45 * f64::from(rate)).min(20_000.0) {
                    break;
                }
                worst = worst.max((db(c.gain(rate, freq)) - db(table.gain(48_000, freq))).abs());
            }
            eprintln!("k-weighting at {rate} Hz: worst {worst:.4} dB from the table");
            assert!(worst <= bound, "rate {rate}: {worst} dB off");
            assert!((db(c.gain(rate, 997.0)) - db(table.gain(48_000, 997.0))).abs() < bound, "rate {rate}");
        }
        // The table's own calibration point: +0.691 dB at 997 Hz.
        assert!((db(table.gain(48_000, 997.0)) - 0.691).abs() < 0.01);
    }

    /// The textbook transposed direct form II, as the filter was written before: the direct
    /// form I must agree with it far below anything a loudness figure shows.
    fn transposed_form_ii_energy(c: KWeightingCoefficients, x: &[f32]) -> f64 {
        let (a, b) = (c.shelf, c.high_pass);
        let (mut s1, mut s2, mut h1, mut h2, mut acc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &xi in x {
            let xi = f64::from(xi);
            let y = a.b0 * xi + s1;
            s1 = a.b1 * xi - a.a1 * y + s2;
            s2 = a.b2 * xi - a.a2 * y;
            let z = b.b0 * y + h1;
            h1 = b.b1 * y - b.a1 * z + h2;
            h2 = b.b2 * y - b.a2 * z;
            acc += z * z;
        }
        acc
    }

    #[test]
    fn direct_form_i_agrees_with_transposed_form_ii() {
        for rate in [8_000, 44_100, 48_000, 192_000] {
            // Noise-like music with a low-frequency rumble, a minute long.
            let x: Vec<f32> = (0..rate as usize * 60)
                .map(|i| {
                    let t = i as f64 / f64::from(rate);
                    (0.3 * (2.0 * std::f64::consts::PI * 31.0 * t).sin()
                        + 0.2 * ((i as f64 * 0.618_034).fract() - 0.5)
                        + 0.1 * (2.0 * std::f64::consts::PI * 3_000.0 * t).sin()) as f32
                })
                .collect();
            let mut k = KWeighting::new(rate);
            k.accumulate_squares(&x);
            let ours = k.take_sum_of_squares();
            let reference = transposed_form_ii_energy(KWeightingCoefficients::new(rate), &x);
            let lu = 10.0 * (ours / reference).log10();
            assert!(lu.abs() < 1e-9, "rate {rate}: {lu} LU apart");
        }
    }

    #[test]
    fn split_input_gives_identical_energy() {
        let x: Vec<f32> = (0..10_000).map(|i| ((i as f32) * 0.37).sin() * 0.5).collect();
        let y: Vec<f32> = x.iter().rev().map(|v| v * 0.7).collect();
        let whole = |x: &[f32]| {
            let mut k = KWeighting::new(44_100);
            k.accumulate_squares(x);
            k.take_sum_of_squares()
        };
        let (sx, sy) = (whole(&x), whole(&y));
        // Odd and even cuts: the pairs of the two-sample recursion follow the stream's positions;
        // two channels in one pass give what each gives alone.
        for size in [1, 2, 3, 333, 777, 4410] {
            let mut b = KWeighting::new(44_100);
            x.chunks(size).for_each(|chunk| b.accumulate_squares(chunk));
            assert_eq!(b.take_sum_of_squares(), sx, "cut every {size}");
            let (mut l, mut r) = (KWeighting::new(44_100), KWeighting::new(44_100));
            for (a, b) in x.chunks(size).zip(y.chunks(size)) {
                KWeighting::accumulate_squares_pair(&mut l, &mut r, a, b);
            }
            assert_eq!((l.take_sum_of_squares(), r.take_sum_of_squares()), (sx, sy), "pair cut every {size}");
        }
        // A sum taken mid-stream and the rest add up to the whole (up to the one addition).
        let mut k = KWeighting::new(44_100);
        k.accumulate_squares(&x[..4411]);
        let first = k.take_sum_of_squares();
        k.accumulate_squares(&x[4411..]);
        let rest = k.take_sum_of_squares();
        assert!(((first + rest) / sx - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_fused_and_portable_recursions_agree_to_rounding() {
        let x: Vec<f32> =
            (0..48_000).map(|i| ((i as f32) * 0.011).sin() * 0.3 + ((i * 7919) % 1000) as f32 * 1e-4).collect();
        let mut fused = KWeighting::new(48_000);
        let mut portable = KWeighting { fused: None, ..KWeighting::new(48_000) };
        fused.accumulate_squares(&x[..1001]);
        fused.accumulate_squares(&x[1001..]);
        portable.accumulate_squares(&x);
        let (a, b) = (fused.take_sum_of_squares(), portable.take_sum_of_squares());
        eprintln!("fused {a:e}, portable {b:e} (fused kernel in use: {})", audioproc_simd::has_avx2_fma());
        assert!((a / b - 1.0).abs() < 1e-12, "{a} vs {b}");
        assert_eq!(portable.sums, [0.0; 2]);
    }
}
