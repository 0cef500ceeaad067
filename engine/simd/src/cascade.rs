//! A cascade of two biquads that sums the squares of its output (the loudness meter's
//! K-weighting), two samples per step with fused multiply-adds: [`Cascade`].
//!
//! Each stage computes both outputs of a pair at positions `n` (even) and `n+1` from the
//! outputs before it (`y` the stage's output, `x` its input):
//!
//! - `y[n]   = b0·x[n]   + b1·x[n−1] + b2·x[n−2]             − a1·y[n−1]        − a2·y[n−2]`
//! - `y[n+1] = d0·x[n+1] + d1·x[n]   + d2·x[n−1] + d3·x[n−2] + (a1²−a2)·y[n−1] + a1·a2·y[n−2]`
//!
//! (the second by substituting `y[n]` into the recursion, `d = [b0, b1−a1·b0, b2−a1·b1,
//! −a1·b2]`). Both outputs wait only on the pair before, so the chain advances two samples per
//! two multiply-adds. A channel's even and odd samples sit side by side in a vector, two
//! channels fill a 256-bit register: `[x[n], x[n+1]]`, `[x[n−1], x[n]]`, `[x[n−2], x[n−1]]`,
//! `[x[n−3], x[n−2]]` and the previous pair's outputs, broadcast, make a stage one product and
//! five fused multiply-adds. The squares of even and odd outputs add up in separate sums.
//!
//! A lone sample at either end of a call (the stream cut at an odd position) goes through the
//! same operations, in the same order, on its lane alone, so results are bit-identical however
//! the input is cut, and a channel gives the same result alone as in a pair.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256d, _mm_cvtsd_f64, _mm_setr_ps, _mm_unpackhi_pd, _mm256_castpd256_pd128, _mm256_cvtps_pd,
    _mm256_extractf128_pd, _mm256_fmadd_pd, _mm256_mul_pd, _mm256_permute_pd, _mm256_setr_pd, _mm256_shuffle_pd,
};

use crate::has_avx2_fma;

/// One biquad's coefficients (`a0` normalised to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Biquad {
    /// Feed-forward b0.
    pub b0: f64,
    /// Feed-forward b1.
    pub b1: f64,
    /// Feed-forward b2.
    pub b2: f64,
    /// Feedback a1.
    pub a1: f64,
    /// Feedback a2.
    pub a2: f64,
}

/// One stage's coefficients by lane (`[even, odd]`): the taps on the four input vectors, and
/// the weights of the previous pair's newer (`hi`) and older (`lo`) output.
#[derive(Clone, Copy, Debug)]
struct Stage {
    taps: [[f64; 2]; 4],
    hi: [f64; 2],
    lo: [f64; 2],
}

impl Stage {
    fn new(b: &Biquad) -> Self {
        let even = [b.b0, b.b1, b.b2, 0.0];
        let odd = [b.b0, b.b1 - b.a1 * b.b0, b.b2 - b.a1 * b.b1, -b.a1 * b.b2];
        Stage {
            taps: std::array::from_fn(|k| [even[k], odd[k]]),
            hi: [-b.a1, b.a1 * b.a1 - b.a2],
            lo: [-b.a2, b.a1 * b.a2],
        }
    }

    /// One output on lane `parity` (0: even position, 1: odd): `x` = the input at the position
    /// and the three before it; `y_hi`, `y_lo` = the last whole pair's newer and older output.
    /// The operations of a lane of the vector loop, in the same order.
    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn lane(&self, parity: usize, x: [f64; 4], y_hi: f64, y_lo: f64) -> f64 {
        let t = |k: usize| self.taps[k][parity];
        let g = x[0] * t(0);
        let g = x[1].mul_add(t(1), g);
        let g = x[2].mul_add(t(2), g);
        let g = x[3].mul_add(t(3), g);
        let y = y_hi.mul_add(self.hi[parity], g);
        y_lo.mul_add(self.lo[parity], y)
    }
}

/// One channel's state: the last three inputs, first-stage outputs and second-stage outputs
/// (newest first), whether the next sample is at an odd position of the stream, and the sums
/// of the squares of the output at even and odd positions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct State {
    /// x[n−1], x[n−2], x[n−3].
    pub x: [f64; 3],
    /// The first stage's last three outputs.
    pub y: [f64; 3],
    /// The second stage's last three outputs.
    pub z: [f64; 3],
    /// The next sample is the second of a pair.
    pub odd: bool,
    /// Sums of the squares of the output at even and odd positions.
    pub sums: [f64; 2],
}

impl State {
    /// One sample on lane `parity` alone: at an even position (the last of a call, its pair
    /// comes with the next call) or an odd one (the first of a call).
    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn lone(&mut self, c: &Cascade, parity: usize, xi: f32) {
        let xi = f64::from(xi);
        // The last whole pair's outputs are one and two back at an even position, two and
        // three back at an odd one.
        let (hi, lo) = (parity, parity + 1);
        let yi = c.stages[0].lane(parity, [xi, self.x[0], self.x[1], self.x[2]], self.y[hi], self.y[lo]);
        let zi = c.stages[1].lane(parity, [yi, self.y[0], self.y[1], self.y[2]], self.z[hi], self.z[lo]);
        self.x = [xi, self.x[0], self.x[1]];
        self.y = [yi, self.y[0], self.y[1]];
        self.z = [zi, self.z[0], self.z[1]];
        self.sums[parity] = zi.mul_add(zi, self.sums[parity]);
        self.odd = parity == 0;
    }
}

/// Two biquads in series whose output's squares are summed, run with AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub struct Cascade {
    stages: [Stage; 2],
}

impl Cascade {
    /// `first` then `second`.
    pub fn new(first: &Biquad, second: &Biquad) -> Self {
        Cascade { stages: [Stage::new(first), Stage::new(second)] }
    }

    /// Filters two channels at the same position of their streams (as many samples as the
    /// shorter input holds), adding the squares of the output to each state's sums. Returns
    /// `false`, having done nothing, when the CPU lacks AVX2 or FMA.
    ///
    /// # Panics
    /// If the two states are not at the same position (`odd` differs).
    pub fn run_pair(&self, inputs: [&[f32]; 2], states: [&mut State; 2]) -> bool {
        assert_eq!(states[0].odd, states[1].odd, "the two channels are at the same position");
        #[cfg(target_arch = "x86_64")]
        if has_avx2_fma() {
            // SAFETY: `run_avx2` is only marked to use AVX2 and FMA, and the CPU running this
            // has both (checked just above by `has_avx2_fma`, which asks CPUID).
            #[allow(unsafe_code)]
            unsafe {
                self.run_avx2(inputs, states);
            }
            return true;
        }
        let _ = (inputs, states, has_avx2_fma);
        false
    }

    /// Filters one channel: the same figures as in a pair ([`Cascade::run_pair`]).
    pub fn run_one(&self, input: &[f32], state: &mut State) -> bool {
        let mut twin = *state;
        self.run_pair([input, input], [state, &mut twin])
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(&self, inputs: [&[f32]; 2], mut states: [&mut State; 2]) {
        let len = inputs[0].len().min(inputs[1].len());
        let mut start = 0;
        if len > 0 && states[0].odd {
            states.iter_mut().zip(inputs).for_each(|(s, x)| s.lone(self, 1, x[0]));
            start = 1;
        }
        let pairs = (len - start) / 2;
        if pairs > 0 {
            let span = start..start + 2 * pairs;
            self.pairs_avx2([&inputs[0][span.clone()], &inputs[1][span]], states.each_mut().map(|s| &mut **s));
            start += 2 * pairs;
        }
        if start < len {
            states.into_iter().zip(inputs).for_each(|(s, x)| s.lone(self, 0, x[start]));
        }
    }

    /// Whole pairs from an even position; the two inputs hold the same even number of samples.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn pairs_avx2(&self, inputs: [&[f32]; 2], states: [&mut State; 2]) {
        let lanes = |v: [f64; 2]| _mm256_setr_pd(v[0], v[1], v[0], v[1]);
        let coefficients = |s: &Stage| StageV { taps: s.taps.map(lanes), hi: lanes(s.hi), lo: lanes(s.lo) };
        let (first, second) = (coefficients(&self.stages[0]), coefficients(&self.stages[1]));
        // The vectors before the first pair, from the newest-first histories: `[v[n−2], v[n−1]]`
        // and `[v[n−3], v[n−2]]`.
        let (l, r) = (&*states[0], &*states[1]);
        let prev = |a: [f64; 3], b: [f64; 3]| _mm256_setr_pd(a[1], a[0], b[1], b[0]);
        let mid = |a: [f64; 3], b: [f64; 3]| _mm256_setr_pd(a[2], a[1], b[2], b[1]);
        let (mut x_prev, mut x_mid) = (prev(l.x, r.x), mid(l.x, r.x));
        let (mut y_prev, mut y_mid) = (prev(l.y, r.y), mid(l.y, r.y));
        let mut z_prev = prev(l.z, r.z);
        let mut z_last = z_prev;
        let mut acc = _mm256_setr_pd(l.sums[0], l.sums[1], r.sums[0], r.sums[1]);
        for (a, b) in inputs[0].chunks_exact(2).zip(inputs[1].chunks_exact(2)) {
            let x_now = _mm256_cvtps_pd(_mm_setr_ps(a[0], a[1], b[0], b[1]));
            let x_between = _mm256_shuffle_pd::<0b0101>(x_prev, x_now);
            let y_now = first.pair([x_now, x_between, x_prev, x_mid], y_prev);
            let y_between = _mm256_shuffle_pd::<0b0101>(y_prev, y_now);
            let z_now = second.pair([y_now, y_between, y_prev, y_mid], z_prev);
            acc = _mm256_fmadd_pd(z_now, z_now, acc);
            (x_prev, x_mid) = (x_now, x_between);
            (y_prev, y_mid) = (y_now, y_between);
            (z_last, z_prev) = (z_prev, z_now);
        }
        let z_mid = _mm256_shuffle_pd::<0b0101>(z_last, z_prev);
        let [x_prev, x_mid, y_prev, y_mid, z_prev, z_mid, acc] =
            [x_prev, x_mid, y_prev, y_mid, z_prev, z_mid, acc].map(|v| to_array(v));
        for (k, s) in states.into_iter().enumerate() {
            let (e, o) = (2 * k, 2 * k + 1);
            s.x = [x_prev[o], x_prev[e], x_mid[e]];
            s.y = [y_prev[o], y_prev[e], y_mid[e]];
            s.z = [z_prev[o], z_prev[e], z_mid[e]];
            s.sums = [acc[e], acc[o]];
            s.odd = false;
        }
    }
}

/// A stage's coefficients in vectors of lanes `[even, odd, even, odd]`.
#[cfg(target_arch = "x86_64")]
struct StageV {
    taps: [__m256d; 4],
    hi: __m256d,
    lo: __m256d,
}

#[cfg(target_arch = "x86_64")]
impl StageV {
    /// One pair of outputs per channel: `x` = `[x[n], x[n+1]]`, `[x[n−1], x[n]]`,
    /// `[x[n−2], x[n−1]]`, `[x[n−3], x[n−2]]`; `y` = `[y[n−2], y[n−1]]` (two channels each).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pair(&self, x: [__m256d; 4], y: __m256d) -> __m256d {
        let g = _mm256_mul_pd(x[0], self.taps[0]);
        let g = _mm256_fmadd_pd(x[1], self.taps[1], g);
        let g = _mm256_fmadd_pd(x[2], self.taps[2], g);
        let g = _mm256_fmadd_pd(x[3], self.taps[3], g);
        let out = _mm256_fmadd_pd(_mm256_permute_pd::<0b1111>(y), self.hi, g);
        _mm256_fmadd_pd(_mm256_permute_pd::<0b0000>(y), self.lo, out)
    }
}

/// The four lanes of `v`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
fn to_array(v: __m256d) -> [f64; 4] {
    let (low, high) = (_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
    [
        _mm_cvtsd_f64(low),
        _mm_cvtsd_f64(_mm_unpackhi_pd(low, low)),
        _mm_cvtsd_f64(high),
        _mm_cvtsd_f64(_mm_unpackhi_pd(high, high)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BS.1770 K-weighting at 48 kHz.
    fn k_weighting() -> (Biquad, Biquad) {
        (
            Biquad {
                b0: 1.535_124_859_586_97,
                b1: -2.691_696_189_406_38,
                b2: 1.198_392_810_852_85,
                a1: -1.690_659_293_182_41,
                a2: 0.732_480_774_215_85,
            },
            Biquad { b0: 1.0, b1: -2.0, b2: 1.0, a1: -1.990_047_454_833_98, a2: 0.990_072_250_366_21 },
        )
    }

    fn signal(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (s >> 8) as f32 / (1 << 24) as f32 - 0.5;
                0.4 * (i as f32 * 0.0041).sin() + 0.2 * noise
            })
            .collect()
    }

    /// The two biquads sample by sample, the textbook way.
    fn reference(first: &Biquad, second: &Biquad, x: &[f32]) -> f64 {
        let biquad = |b: &Biquad, input: &[f64]| {
            let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
            input
                .iter()
                .map(|&x0| {
                    let y0 = b.b0 * x0 + b.b1 * x1 + b.b2 * x2 - b.a1 * y1 - b.a2 * y2;
                    (x2, x1, y2, y1) = (x1, x0, y1, y0);
                    y0
                })
                .collect::<Vec<f64>>()
        };
        let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        biquad(second, &biquad(first, &x)).iter().map(|z| z * z).sum()
    }

    #[test]
    fn agrees_with_the_textbook_recursion_and_gives_the_same_figures_however_cut() {
        if !has_avx2_fma() {
            eprintln!("this CPU has no AVX2 and FMA: nothing to test");
            return;
        }
        let (first, second) = k_weighting();
        let cascade = Cascade::new(&first, &second);
        let (left, right) = (signal(48_001, 1), signal(48_001, 2));
        let whole = |x: &[f32]| {
            let mut s = State::default();
            assert!(cascade.run_one(x, &mut s));
            s
        };
        let (l, r) = (whole(&left), whole(&right));
        for (state, x) in [(l, &left), (r, &right)] {
            let ours = state.sums[0] + state.sums[1];
            let textbook = reference(&first, &second, x);
            assert!((ours / textbook - 1.0).abs() < 1e-12, "{ours} vs {textbook}");
            assert!(state.odd, "48001 samples end on an even position");
        }
        for size in [1, 2, 3, 7, 4410, 4801] {
            let (mut a, mut b) = (State::default(), State::default());
            for (x, y) in left.chunks(size).zip(right.chunks(size)) {
                assert!(cascade.run_pair([x, y], [&mut a, &mut b]));
            }
            assert_eq!((a, b), (l, r), "cut every {size}");
        }
    }

    #[test]
    fn a_cpu_without_the_extensions_is_told_so_and_nothing_changes() {
        let (first, second) = k_weighting();
        let mut s = State::default();
        let ran = Cascade::new(&first, &second).run_one(&[0.5; 10], &mut s);
        assert_eq!(ran, has_avx2_fma());
        assert_eq!(s == State::default(), !ran);
    }
}
