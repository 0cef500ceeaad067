//! Quantisation of `f32` samples to signed integers, with optional TPDF dither.
//!
//! A sample `x` becomes `round(x · 2^(bits−1) + d)` (halves upwards) clipped to `[−2^(bits−1), 2^(bits−1) − 1]`,
//! where `d` is 0 without dither, or the sum of two independent uniform values in `[−½, ½)`
//! LSB with dither: a triangular (TPDF) distribution over ±1 LSB, which makes the quantisation
//! error independent of the signal. NaN is quantised as 0.
//! Up to 16 bits the sum is formed in `f32` (four samples per SSE2 instruction, eight with
//! AVX2 where the CPU has it): the scaled sample is exact and only the noise's finest bits
//! (below 2^−8 LSB) are rounded. The loops are built for both and give the same bits.
//!
//! Dither is applied for every integer target (16 and 24 bits): at 24 bits it is far below any
//! converter's noise floor and costs little, and the rule stays the same for every output.
//! The noise of each sample is a hash of its position in the stream (fixed seed),
//! so the same input always gives the same bytes, however it is split into blocks.

use audioproc_simd::{Kernel, run_with_avx2};

/// Seed of the dither generator (fixed so outputs are reproducible).
const DITHER_SEED: u32 = 0x9E37_79B9;

/// A 32-bit integer hash with good avalanche (C. Wellons, "lowbias32").
#[inline(always)]
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// Quantises `x` to a signed integer of `bits` bits (2..=32) without dither: round to nearest
/// (halves upwards), clipped to the integer range; NaN gives 0.
#[inline]
pub fn quantize(x: f32, bits: u32) -> i32 {
    Quantizer::new(bits, false).quantize(x)
}

/// A quantiser to one integer width, with its own dither generator.
#[derive(Clone, Debug)]
pub struct Quantizer {
    scale: f64,
    dither: bool,
    /// Samples quantised so far (interleaved): the index of the next sample's noise.
    position: u64,
    /// One block's noise, one value per interleaved sample (0 without dither).
    noise: Vec<f32>,
}

impl Quantizer {
    /// A quantiser to `bits` bits (clamped to 2..=32); `dither` adds TPDF noise of ±1 LSB.
    pub fn new(bits: u32, dither: bool) -> Self {
        Quantizer { scale: (1u64 << (bits.clamp(2, 32) - 1)) as f64, dither, position: 0, noise: Vec::new() }
    }

    /// Whether this quantiser adds dither.
    pub fn dithers(&self) -> bool {
        self.dither
    }

    /// The TPDF noise of the sample whose position in the stream has low 32 bits `low`, in
    /// [−1, 1) LSB: the sum of two independent uniform values in [−½, ½), the two 16-bit halves
    /// of a 32-bit integer hash (Wellons' "lowbias32") of the position mixed with `mix` (which
    /// stands for the high 32 bits). A counter-based generator: every value is computed from its
    /// position alone, so no state chains one sample to the next and the loop vectorises.
    #[inline(always)]
    fn tpdf(low: u32, mix: u32) -> f32 {
        let x = hash32(low ^ mix);
        (i32::from(x as i16) + i32::from((x >> 16) as i16)) as f32 * (1.0 / 65_536.0)
    }

    /// The next `count` noise values of the stream into `self.noise` (zeros without dither).
    fn fill_noise(&mut self, count: usize) {
        self.noise.clear();
        self.noise.resize(count, 0.0);
        let mut done = 0;
        while self.dither && done < count {
            // A run over which the high 32 bits of the position stay the same.
            let at = self.position + done as u64;
            let (high, low) = ((at >> 32) as u32, at as u32);
            let run = ((1u64 << 32) - u64::from(low)).min((count - done) as u64) as usize;
            let fill = FillNoise { noise: &mut self.noise[done..done + run], low, mix: hash32(high ^ DITHER_SEED) };
            if let Err(fill) = run_with_avx2(fill) {
                fill.run();
            }
            done += run;
        }
        self.position += count as u64;
    }

    /// `floor(x · scale + noise + ½)` clipped to the integer range; NaN as 0.
    ///
    /// Written so the loop vectorises (no float-to-integer conversion, which saturates and so
    /// branches): adding 1.5·2^52 rounds the clipped value to an integer held in the low 32 bits
    /// of the sum, and the comparison turns that rounding (to nearest) into `floor`.
    #[inline(always)]
    fn to_int(scale: f64, x: f32, noise: f32) -> i32 {
        const MAGIC: f64 = 6_755_399_441_055_744.0;
        let v = f64::from(x) * scale + f64::from(noise) + 0.5;
        let c = v.max(-scale).min(scale - 0.5);
        let m = c + MAGIC;
        let i = (m.to_bits() as i32).wrapping_sub(i32::from(m - MAGIC > c));
        if x.is_nan() { 0 } else { i }
    }

    /// [`Self::to_int`] in `f32`, for widths up to 16 bits (`scale` ≤ 2^15): `x · scale` is
    /// exact, and the sum rounds the noise to 2^−8 LSB at full scale (finer below), far under
    /// the dither's own ±1 LSB. Four samples per SSE2 instruction instead of two.
    #[inline(always)]
    fn to_int_narrow(scale: f32, x: f32, noise: f32) -> i32 {
        const MAGIC: f32 = 12_582_912.0;
        let v = x * scale + noise + 0.5;
        let c = v.max(-scale).min(scale - 0.5);
        let m = c + MAGIC;
        let i = (m.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32).wrapping_sub(i32::from(m - MAGIC > c));
        if x.is_nan() { 0 } else { i }
    }

    /// Whether this width takes [`Self::to_int_narrow`] (up to 16 bits) rather than
    /// [`Self::to_int`].
    #[inline(always)]
    fn narrow(&self) -> bool {
        self.scale <= 32_768.0
    }

    /// Quantises one sample (see the module docs).
    #[inline]
    pub fn quantize(&mut self, x: f32) -> i32 {
        self.fill_noise(1);
        if self.narrow() {
            Self::to_int_narrow(self.scale as f32, x, self.noise[0])
        } else {
            Self::to_int(self.scale, x, self.noise[0])
        }
    }

    /// Quantises a planar block into `out`, interleaved (frame by frame, channel by channel).
    /// `out` is cleared first. The result does not depend on how a stream is split into blocks.
    pub fn quantize_interleaved(&mut self, block: &[Vec<f32>], out: &mut Vec<i32>) {
        let channels = block.len();
        let n = block.first().map_or(0, Vec::len);
        self.fill_noise(n * channels);
        out.clear();
        out.resize(n * channels, 0);
        let work = Quantize { block, noise: &self.noise, out, scale: self.scale, narrow: self.narrow() };
        if let Err(work) = run_with_avx2(work) {
            work.run();
        }
    }
}

/// [`Quantizer::fill_noise`]'s loop: the noise of the positions from `low` on, whose high 32
/// bits hash to `mix`. Built for AVX2 where the CPU has it (eight hashes per instruction
/// instead of four, with a native 32-bit multiply); the same values either way.
struct FillNoise<'a> {
    noise: &'a mut [f32],
    low: u32,
    mix: u32,
}

impl Kernel for FillNoise<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        for (i, d) in self.noise.iter_mut().enumerate() {
            *d = Quantizer::tpdf(self.low.wrapping_add(i as u32), self.mix);
        }
    }
}

/// [`Quantizer::quantize_interleaved`]'s loop, built for AVX2 where the CPU has it; the same
/// integers either way (no multiply and add are fused).
struct Quantize<'a> {
    block: &'a [Vec<f32>],
    noise: &'a [f32],
    out: &'a mut [i32],
    scale: f64,
    narrow: bool,
}

impl Kernel for Quantize<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Quantize { block, noise, out, scale, narrow } = self;
        if narrow {
            interleave(block, noise, out, |x, d| Quantizer::to_int_narrow(scale as f32, x, d));
        } else {
            interleave(block, noise, out, |x, d| Quantizer::to_int(scale, x, d));
        }
    }
}

/// `out[i] = kernel(sample i, noise i)` over the planar `block` interleaved.
#[inline(always)]
fn interleave(block: &[Vec<f32>], noise: &[f32], out: &mut [i32], kernel: impl Fn(f32, f32) -> i32) {
    match block {
        [mono] => {
            for ((o, &x), &d) in out.iter_mut().zip(mono).zip(noise) {
                *o = kernel(x, d);
            }
        }
        [l, r] => {
            for ((o, (&a, &b)), d) in out.chunks_exact_mut(2).zip(l.iter().zip(r)).zip(noise.chunks_exact(2)) {
                o[0] = kernel(a, d[0]);
                o[1] = kernel(b, d[1]);
            }
        }
        _ => {
            let channels = block.len();
            for (i, (o, d)) in out.chunks_exact_mut(channels).zip(noise.chunks_exact(channels)).enumerate() {
                for ((o, d), plane) in o.iter_mut().zip(d).zip(block) {
                    *o = kernel(plane[i], *d);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_and_clips() {
        assert_eq!(quantize(0.0, 16), 0);
        assert_eq!(quantize(1.0, 16), 32767);
        assert_eq!(quantize(-1.0, 16), -32768);
        assert_eq!(quantize(2.0, 24), (1 << 23) - 1);
        assert_eq!(quantize(f32::NAN, 16), 0);
        assert_eq!(quantize(f32::NEG_INFINITY, 16), -32768);
        assert_eq!(quantize(0.5 / 32768.0, 16), 1);
    }

    #[test]
    fn the_narrow_kernel_differs_from_the_wide_one_only_on_rare_near_ties() {
        // Up to 16 bits the quantiser sums in f32: where the exact sum lies within 2^-8 LSB of
        // an integer, f32 rounding may move it across; nowhere else.
        let (mut differ, n) = (0u32, 200_000u32);
        for i in 0..n {
            let x = ((i as f32) * 0.000_37).sin() * 0.99;
            let d = Quantizer::tpdf(i, 0x1234_5678);
            let (narrow, wide) = (Quantizer::to_int_narrow(32_768.0, x, d), Quantizer::to_int(32_768.0, x, d));
            assert!((narrow - wide).abs() <= 1, "{x} {d}: {narrow} vs {wide}");
            differ += u32::from(narrow != wide);
        }
        assert!(differ < n / 100, "{differ} of {n} differ");
        for x in [0.0, 1.0, -1.0, 2.0, -3.0, f32::INFINITY, f32::NEG_INFINITY, 0.5 / 32768.0, -0.5 / 32768.0] {
            for d in [0.0, 0.999_984_7, -1.0, 0.25] {
                assert_eq!(Quantizer::to_int_narrow(32_768.0, x, d), Quantizer::to_int(32_768.0, x, d), "{x} {d}");
            }
        }
        assert_eq!(Quantizer::to_int_narrow(32_768.0, f32::NAN, 0.5), 0);
    }

    #[test]
    fn blocks_of_any_size_give_the_same_samples_as_one_at_a_time() {
        let planes: Vec<Vec<f32>> =
            (0..3).map(|c| (0..1000).map(|i| ((i * (c + 3)) as f32 * 0.01).sin() * 0.7).collect()).collect();
        for channels in 1..=3 {
            let block = &planes[..channels];
            let mut one = Quantizer::new(16, true);
            let want: Vec<i32> = (0..1000)
                .flat_map(|i| block.iter().map(|p| p[i]).collect::<Vec<_>>())
                .map(|x| one.quantize(x))
                .collect();
            for size in [1, 3, 7, 64, 1000] {
                let mut q = Quantizer::new(16, true);
                let (mut got, mut out) = (Vec::new(), Vec::new());
                for at in (0..1000).step_by(size) {
                    let part: Vec<Vec<f32>> = block.iter().map(|p| p[at..(at + size).min(1000)].to_vec()).collect();
                    q.quantize_interleaved(&part, &mut out);
                    got.extend_from_slice(&out);
                }
                assert_eq!(got, want, "{channels} channels, blocks of {size}");
            }
        }
    }

    #[test]
    fn the_dither_is_triangular_over_plus_minus_one_lsb() {
        let mut q = Quantizer::new(16, true);
        q.fill_noise(400_000);
        let noise: Vec<f64> = q.noise.iter().map(|&d| f64::from(d)).collect();
        assert!(noise.iter().all(|d| (-1.0..1.0).contains(d)));
        let mean = noise.iter().sum::<f64>() / noise.len() as f64;
        let var = noise.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / noise.len() as f64;
        // TPDF over ±1: mean 0, variance 1/6; a quarter of the mass lies beyond ±0.5.
        assert!(mean.abs() < 0.005, "{mean}");
        assert!((var - 1.0 / 6.0).abs() < 0.003, "{var}");
        let outer = noise.iter().filter(|d| d.abs() > 0.5).count() as f64 / noise.len() as f64;
        assert!((outer - 0.25).abs() < 0.005, "{outer}");
    }

    #[test]
    fn the_noise_goes_on_across_the_32_bit_boundary_of_the_position() {
        let mut q = Quantizer::new(16, true);
        q.position = (1u64 << 32) - 3;
        q.fill_noise(6);
        let across = q.noise.clone();
        // The low half of the position starts again, the noise does not repeat.
        let mut start = Quantizer::new(16, true);
        start.fill_noise(3);
        assert_ne!(&across[3..], &start.noise[..]);
        assert!(across.iter().all(|d| (-1.0..1.0).contains(d)));
    }

    #[test]
    fn the_loops_built_for_avx2_give_the_bits_of_the_baseline_build() {
        let (mut fast, mut base) = (vec![0.0; 10_001], vec![0.0; 10_001]);
        let _ = run_with_avx2(FillNoise { noise: &mut fast, low: u32::MAX - 5000, mix: 77 });
        FillNoise { noise: &mut base, low: u32::MAX - 5000, mix: 77 }.run();
        assert_eq!(fast, base);
        let planes: Vec<Vec<f32>> =
            (0..2).map(|c| (0..10_001).map(|i| ((i * (c + 2)) as f32 * 0.003).sin() * 1.2).collect()).collect();
        for (channels, scale, narrow) in [(1, 32_768.0, true), (2, 32_768.0, true), (2, 8_388_608.0, false)] {
            let block = &planes[..channels];
            let (mut fast, mut base) = (vec![0; 10_001 * channels], vec![0; 10_001 * channels]);
            let noise = &base_noise(10_001 * channels);
            let _ = run_with_avx2(Quantize { block, noise, out: &mut fast, scale, narrow });
            Quantize { block, noise, out: &mut base, scale, narrow }.run();
            assert_eq!(fast, base, "{channels} channels at scale {scale}");
        }
    }

    fn base_noise(n: usize) -> Vec<f32> {
        let mut q = Quantizer::new(16, true);
        q.fill_noise(n);
        q.noise
    }

    #[test]
    fn dither_is_bounded_and_reproducible() {
        let mut a = Quantizer::new(16, true);
        let mut b = Quantizer::new(16, true);
        for i in 0..10_000 {
            let x = (i as f32 * 0.001).sin() * 0.5;
            let qa = a.quantize(x);
            assert_eq!(qa, b.quantize(x));
            assert!((f64::from(qa) - f64::from(x) * 32768.0).abs() <= 1.5);
        }
    }
}
