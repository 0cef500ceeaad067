//! The polyphase oversampling kernel shared by the true-peak meter
//! ([`crate::loudness::true_peak`]) and the true-peak limiter ([`crate::dsp::limiter`]), so
//! both see the same interpolated points.
//!
//! The interpolator is a Kaiser-windowed sinc (β = 7) of odd length `L·N − 1`, split into `L`
//! polyphase branches of `N = 12` taps. The odd length centres one branch exactly on the input
//! samples, so that branch is the identity and is never computed: the original samples' peak
//! (tracked anyway) stands in for it. Each remaining branch is normalised to unit DC gain.
//! Oversampling is 4× below 96 kHz, 2× below 192 kHz and none from there.
//!
//! The kernel is written once ([`PolyphaseInterpolator::peak`] and
//! [`PolyphaseInterpolator::peaks_into`] only differ in where its results go), as `LANES`
//! independent accumulators over a fixed-size window so LLVM vectorises it; its scalar twin is
//! in the tests, with a test that both agree.

/// Taps per polyphase branch.
pub const TAPS: usize = 12;
/// Output positions computed together in the kernel (LLVM vectorises the lane loop).
const LANES: usize = 16;

/// The oversampling factor used at `sample_rate`.
pub fn oversampling_factor(sample_rate: u32) -> usize {
    match sample_rate {
        0..96_000 => 4,
        96_000..192_000 => 2,
        _ => 1,
    }
}

/// The non-identity polyphase branches of the interpolator for factor `l`.
pub fn design_branches(l: usize) -> Vec<[f32; TAPS]> {
    if l <= 1 {
        return Vec::new();
    }
    let m = l * TAPS - 1;
    let centre = (m - 1) / 2;
    let beta = 7.0;
    let i0_beta = bessel_i0(beta);
    let h: Vec<f64> = (0..m)
        .map(|i| {
            let t = (i as f64 - centre as f64) / l as f64;
            let sinc = if t == 0.0 { 1.0 } else { (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t) };
            let r = 2.0 * i as f64 / (m - 1) as f64 - 1.0;
            let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
            sinc * w
        })
        .collect();
    (0..l)
        .filter(|&p| (p as isize - centre as isize).rem_euclid(l as isize) != 0)
        .map(|p| {
            let taps: Vec<f64> = h.iter().skip(p).step_by(l).copied().collect();
            debug_assert_eq!(taps.len(), TAPS);
            let dc: f64 = taps.iter().sum();
            let mut out = [0f32; TAPS];
            for (o, t) in out.iter_mut().zip(&taps) {
                *o = (t / dc) as f32;
            }
            out
        })
        .collect()
}

/// The zeroth-order modified Bessel function of the first kind (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The interpolated points between input samples, as magnitudes.
///
/// A window `w` of input samples has `w.len() + 1 − TAPS` full window positions; the points of
/// position `n` lie between `w[n + TAPS/2 − 1]` and `w[n + TAPS/2]`. Only full positions are
/// computed: the caller keeps the last `TAPS − 1` samples of one block in front of the next.
#[derive(Clone, Debug, PartialEq)]
pub struct PolyphaseInterpolator {
    branches: Vec<[f32; TAPS]>,
    /// No interpolated point is larger than this times the largest input magnitude in its
    /// window: the largest branch's `Σ|h|`, with a margin for the kernel's f32 rounding.
    gain_bound: f32,
}

/// Window positions [`PolyphaseInterpolator::peak_above`] skips or computes together (a
/// multiple of the kernel's `LANES`).
const SKIP_RUN: usize = 256;

impl PolyphaseInterpolator {
    /// The interpolator for `sample_rate` (factor [`oversampling_factor`]).
    pub fn new(sample_rate: u32) -> Self {
        Self::with_factor(oversampling_factor(sample_rate))
    }

    /// The interpolator for oversampling factor `l` (1 or less: no interpolated points).
    pub fn with_factor(l: usize) -> Self {
        let branches = design_branches(l);
        let l1 = branches.iter().map(|h| h.iter().map(|t| t.abs()).sum::<f32>()).fold(0f32, f32::max);
        PolyphaseInterpolator { branches, gain_bound: l1 * 1.001 }
    }

    /// Whether there are no interpolated points (no oversampling at this rate).
    pub fn is_identity(&self) -> bool {
        self.branches.is_empty()
    }

    /// The largest interpolated magnitude over every full window position of `w` (0 when
    /// there is none).
    #[inline]
    pub fn peak(&self, w: &[f32]) -> f32 {
        let mut lane_max = [0f32; LANES];
        kernel(&self.branches, w, positions(w), |_, peaks| {
            for (m, &p) in lane_max.iter_mut().zip(peaks) {
                *m = if p > *m { p } else { *m };
            }
        });
        lane_max.iter().fold(0f32, |m, &v| m.max(v))
    }

    /// The largest interpolated magnitude over the full window positions of `w` that could
    /// exceed `floor`; runs of positions that provably cannot (the largest input magnitude in
    /// their window times the filter's gain bound is at most `floor`) are not computed, and
    /// neither are those under a larger value found earlier in `w`.
    ///
    /// So `max(floor, peak_above(w, floor)) == max(floor, peak(w))` exactly (each position is
    /// computed the same way, or shown to be no larger): a meter that keeps a running maximum
    /// gets the same figure while skipping most of a programme's quieter passages.
    #[inline]
    pub fn peak_above(&self, w: &[f32], floor: f32) -> f32 {
        let total = positions(w);
        let mut best = 0f32;
        let mut n = 0;
        while n < total {
            let run = SKIP_RUN.min(total - n);
            let window = &w[n..n + run + TAPS - 1];
            let level = window.iter().fold(0f32, |m, &x| m.max(x.abs()));
            if level * self.gain_bound > floor.max(best) {
                best = best.max(self.peak(window));
            }
            n += run;
        }
        best
    }

    /// Per-position peaks, for detectors that need to know *where* the peaks are: for every
    /// full window position `n < out.len()`, `out[n] = max(out[n], largest interpolated
    /// magnitude at n)`. With no oversampling `out` is left as it is.
    #[inline]
    pub fn peaks_into(&self, w: &[f32], out: &mut [f32]) {
        let outputs = positions(w).min(out.len());
        kernel(&self.branches, w, outputs, |n, peaks| {
            for (o, &p) in out[n..n + peaks.len()].iter_mut().zip(peaks) {
                *o = if p > *o { p } else { *o };
            }
        });
    }
}

/// Full window positions of `w`.
fn positions(w: &[f32]) -> usize {
    (w.len() + 1).saturating_sub(TAPS)
}

/// The kernel: for window positions `0..outputs` of `w`, the largest `|Σ_k h[k]·w[n+k]|` over
/// the branches `h`, handed to `sink(first position, peaks)` in runs of `LANES` positions (the
/// last run may be shorter). Branch-free lane-wise maxima over a fixed-size window, so no
/// bounds checks in the inner loops and the lane loop vectorises.
#[inline(always)]
fn kernel(branches: &[[f32; TAPS]], w: &[f32], outputs: usize, mut sink: impl FnMut(usize, &[f32])) {
    if branches.is_empty() {
        return;
    }
    let mut n = 0;
    while n + LANES <= outputs {
        let Ok(x) = <&[f32; LANES + TAPS - 1]>::try_from(&w[n..n + LANES + TAPS - 1]) else { unreachable!() };
        let mut run = [0f32; LANES];
        for h in branches {
            let mut acc = [0f32; LANES];
            for (k, &hk) in h.iter().enumerate() {
                for j in 0..LANES {
                    acc[j] += hk * x[k + j];
                }
            }
            for j in 0..LANES {
                let a = acc[j].abs();
                run[j] = if a > run[j] { a } else { run[j] };
            }
        }
        sink(n, &run);
        n += LANES;
    }
    if n < outputs {
        let mut run = [0f32; LANES];
        for (r, m) in run.iter_mut().zip(n..outputs) {
            for h in branches {
                let mut y = 0f32;
                for (hk, xk) in h.iter().zip(&w[m..m + TAPS]) {
                    y += hk * xk;
                }
                *r = r.max(y.abs());
            }
        }
        sink(n, &run[..outputs - n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's scalar twin: one position, one branch, one sum at a time.
    fn scalar_peaks(branches: &[[f32; TAPS]], w: &[f32]) -> Vec<f32> {
        (0..positions(w))
            .map(|n| {
                branches
                    .iter()
                    .map(|h| h.iter().zip(&w[n..]).map(|(a, b)| a * b).sum::<f32>().abs())
                    .fold(0.0, f32::max)
            })
            .collect()
    }

    fn test_window(len: usize) -> Vec<f32> {
        (0..len).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect()
    }

    #[test]
    fn kernel_matches_its_scalar_twin() {
        for l in [2, 4] {
            let interp = PolyphaseInterpolator::with_factor(l);
            for len in [TAPS - 1, TAPS, TAPS + 1, 40, 100, 1000 + TAPS - 1] {
                let w = test_window(len);
                let scalar = scalar_peaks(&interp.branches, &w);
                let mut out = vec![0.25f32; scalar.len()];
                interp.peaks_into(&w, &mut out);
                for (n, (&o, &s)) in out.iter().zip(&scalar).enumerate() {
                    let s = s.max(0.25);
                    assert!((o - s).abs() <= 1e-6 * s.max(1.0), "{o} vs {s} at {n} (len {len}, x{l})");
                }
                // The overall maximum is the per-position maximum.
                let (a, s) = (interp.peak(&w), scalar.iter().fold(0f32, |m, &v| m.max(v)));
                assert!((a - s).abs() <= 1e-6 * s.max(1.0), "{a} vs {s} at len {len}");
                assert_eq!(a.max(0.25), out.iter().fold(0.25f32, |m, &v| m.max(v)));
            }
        }
    }

    #[test]
    fn skipping_positions_under_the_floor_never_changes_the_running_maximum() {
        // A programme whose level swings over 40 dB, so whole runs fall under the floor.
        let w: Vec<f32> = (0..20_000)
            .map(|i| {
                let envelope = 10f32.powf(-2.0 * ((i as f32 / 3000.0).sin() * 0.5 + 0.5));
                envelope * (((i * 7919) % 101) as f32 / 50.0 - 1.0)
            })
            .collect();
        for l in [2, 4] {
            let interp = PolyphaseInterpolator::with_factor(l);
            let all = interp.peak(&w);
            for floor in [0.0, 0.001, 0.1, all * 0.5, all * 0.999, all, 2.0] {
                let skipped = interp.peak_above(&w, floor);
                assert_eq!(skipped.max(floor), all.max(floor), "x{l}, floor {floor}");
                assert!(skipped <= all);
            }
            // Split into chunks with a running floor, as the meter feeds it: the same maximum.
            let mut running = 0f32;
            for at in (0..w.len() - TAPS).step_by(1000) {
                let end = (at + 1000 + TAPS - 1).min(w.len());
                running = running.max(interp.peak_above(&w[at..end], running));
            }
            assert_eq!(running, all, "x{l}");
        }
    }

    #[test]
    fn the_gain_bound_holds_for_the_worst_input() {
        // Each branch's largest output is Σ|h| (signs of the input matching the taps').
        for l in [2, 4] {
            let interp = PolyphaseInterpolator::with_factor(l);
            for h in &interp.branches {
                let w: Vec<f32> = h.iter().map(|t| t.signum()).collect();
                assert!(interp.peak(&w) <= interp.gain_bound, "x{l}");
            }
            assert!(interp.gain_bound >= 1.0 && interp.gain_bound < 2.0, "{}", interp.gain_bound);
        }
    }

    #[test]
    fn no_oversampling_leaves_the_peaks_alone() {
        let interp = PolyphaseInterpolator::new(192_000);
        assert!(interp.is_identity());
        let mut out = vec![0.5; 10];
        interp.peaks_into(&test_window(40), &mut out);
        assert_eq!(out, vec![0.5; 10]);
        assert_eq!(interp.peak(&test_window(40)), 0.0);
    }

    #[test]
    fn branches_have_unit_dc_gain_and_half_band_symmetry() {
        for l in [2, 4] {
            let b = design_branches(l);
            assert_eq!(b.len(), l - 1);
            for br in &b {
                let s: f32 = br.iter().sum();
                assert!((s - 1.0).abs() < 1e-5);
            }
        }
        // The middle branch (half-sample offset) of the 4x filter is symmetric.
        let b = design_branches(4);
        for k in 0..TAPS {
            assert!((b[1][k] - b[1][TAPS - 1 - k]).abs() < 1e-6);
        }
    }
}
