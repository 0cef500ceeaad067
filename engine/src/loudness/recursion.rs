//! The K-weighting recursion, two samples per step.
//!
//! Each stage is a biquad in direct form I: `y[n] = F[n] − a2·y[n−2] − a1·y[n−1]` with the
//! feed-forward `F[n] = b0·x[n] + b1·x[n−1] + b2·x[n−2]`. Run sample by sample, every output
//! waits for the one before it (a multiply and a subtraction): that latency, not the
//! arithmetic, bounds the loop. So samples go in pairs: the even one as above, the odd one from
//! the outputs before the pair (substituting `y[n−1]`):
//!
//! `y[n] = F[n] − a1·F[n−1] + (a1² − a2)·y[n−2] + a1·a2·y[n−3]`
//!
//! Both outputs of a pair depend only on outputs before it, so the chain advances two samples
//! per multiply-add. Which formula a sample gets depends on the parity of its position in the
//! stream (not on how the stream is split into calls), so results are bit-identical however the
//! input is cut; against the sample-by-sample recursion they differ only by rounding (~1e-15
//! relative).

use std::ops::{Add, Mul, Sub};

use super::kweight::{Biquad, KWeightingCoefficients};

/// What the recursion runs on: one channel's `f64`, or two channels' in the two lanes of a
/// [`Pair`].
pub(super) trait Lane: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    /// A coefficient in every lane.
    fn splat(v: f64) -> Self;
}

impl Lane for f64 {
    #[inline(always)]
    fn splat(v: f64) -> Self {
        v
    }
}

/// Two channels' values side by side. Every operation is the scalar one in each lane, in the
/// same order, so results are bit-identical to filtering each channel alone; the compiler turns
/// them into packed SSE2 instructions.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pair(pub [f64; 2]);

impl Lane for Pair {
    #[inline(always)]
    fn splat(v: f64) -> Self {
        Pair([v; 2])
    }
}

impl Add for Pair {
    type Output = Pair;
    #[inline(always)]
    fn add(self, o: Pair) -> Pair {
        Pair([self.0[0] + o.0[0], self.0[1] + o.0[1]])
    }
}

impl Sub for Pair {
    type Output = Pair;
    #[inline(always)]
    fn sub(self, o: Pair) -> Pair {
        Pair([self.0[0] - o.0[0], self.0[1] - o.0[1]])
    }
}

impl Mul for Pair {
    type Output = Pair;
    #[inline(always)]
    fn mul(self, o: Pair) -> Pair {
        Pair([self.0[0] * o.0[0], self.0[1] * o.0[1]])
    }
}

/// The cascade's state: the last three inputs, shelf outputs and high-pass outputs, newest
/// first, and whether the next sample is at an odd position in the stream.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct History<T> {
    /// x[n−1], x[n−2], x[n−3].
    pub x: [T; 3],
    /// The shelf's last three outputs (the high-pass's inputs).
    pub y: [T; 3],
    /// The high-pass's last three outputs.
    pub z: [T; 3],
    /// The next sample is the second of a pair.
    pub odd: bool,
}

/// `F[n]` from `x[n]`, `x[n−1]`, `x[n−2]`.
#[inline(always)]
fn feed<T: Lane>(b: &Biquad, x0: T, x1: T, x2: T) -> T {
    T::splat(b.b0) * x0 + T::splat(b.b1) * x1 + T::splat(b.b2) * x2
}

/// `y[n]` sample by sample: `x` = x[n], x[n−1], x[n−2]; `y1`, `y2` = y[n−1], y[n−2].
#[inline(always)]
fn direct<T: Lane>(b: &Biquad, x: [T; 3], y1: T, y2: T) -> T {
    (feed(b, x[0], x[1], x[2]) - T::splat(b.a2) * y2) - T::splat(b.a1) * y1
}

/// `y[n]` from outputs two and three back: `x` = x[n] … x[n−3]; `y2`, `y3` = y[n−2], y[n−3].
/// `F[n] − a1·F[n−1]` is one 4-tap filter of `x`.
#[inline(always)]
fn ahead<T: Lane>(b: &Biquad, x: [T; 4], y2: T, y3: T) -> T {
    let s = T::splat;
    let d = [b.b0, b.b1 - b.a1 * b.b0, b.b2 - b.a1 * b.b1, -b.a1 * b.b2];
    let (c1, c2) = (b.a1 * b.a1 - b.a2, b.a1 * b.a2);
    ((s(d[0]) * x[0] + s(d[1]) * x[1] + s(d[2]) * x[2] + s(d[3]) * x[3]) + s(c2) * y3) + s(c1) * y2
}

impl<T: Copy> History<T> {
    /// The newest input and outputs in front, the oldest dropped.
    #[inline(always)]
    fn push(&mut self, x: T, y: T, z: T) {
        self.x = [x, self.x[0], self.x[1]];
        self.y = [y, self.y[0], self.y[1]];
        self.z = [z, self.z[0], self.z[1]];
    }
}

/// The first sample of a pair (or a lone last one): sample by sample.
#[inline(always)]
fn even<T: Lane>(c: &KWeightingCoefficients, xi: T, h: &mut History<T>, acc: &mut T) {
    let yi = direct(&c.shelf, [xi, h.x[0], h.x[1]], h.y[0], h.y[1]);
    let zi = direct(&c.high_pass, [yi, h.y[0], h.y[1]], h.z[0], h.z[1]);
    h.push(xi, yi, zi);
    *acc = *acc + zi * zi;
}

/// The second sample of a pair, from the history before the pair.
#[inline(always)]
fn odd<T: Lane>(c: &KWeightingCoefficients, xi: T, h: &mut History<T>, acc: &mut T) {
    let yi = ahead(&c.shelf, [xi, h.x[0], h.x[1], h.x[2]], h.y[1], h.y[2]);
    let zi = ahead(&c.high_pass, [yi, h.y[0], h.y[1], h.y[2]], h.z[1], h.z[2]);
    h.push(xi, yi, zi);
    *acc = *acc + zi * zi;
}

/// Filters `input` (one value per frame, in `T`'s lanes) from the state `h`, adding the squares
/// of the output to `acc` in order.
#[inline(always)]
pub(super) fn run<T: Lane>(
    c: &KWeightingCoefficients,
    mut input: impl Iterator<Item = T>,
    h: &mut History<T>,
    acc: &mut T,
) {
    if h.odd {
        match input.next() {
            Some(xi) => odd(c, xi, h, acc),
            None => return,
        }
        h.odd = false;
    }
    let mut s = *h;
    let mut sum = *acc;
    while let Some(a) = input.next() {
        // `odd` reads no output of `even` but as a feed-forward input: the two overlap.
        even(c, a, &mut s, &mut sum);
        match input.next() {
            Some(b) => odd(c, b, &mut s, &mut sum),
            None => {
                s.odd = true;
                break;
            }
        }
    }
    *h = s;
    *acc = sum;
}
