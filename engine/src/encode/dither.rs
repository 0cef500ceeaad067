//! Quantisation of `f32` samples to signed integers, with optional TPDF dither.
//!
//! A sample `x` becomes `round(x · 2^(bits−1) + d)` clipped to `[−2^(bits−1), 2^(bits−1) − 1]`,
//! where `d` is 0 without dither, or the sum of two independent uniform values in `[−½, ½)`
//! LSB with dither: a triangular (TPDF) distribution over ±1 LSB, which makes the quantisation
//! error independent of the signal. NaN is quantised as 0.
//!
//! Dither is applied for every integer target (16 and 24 bits): at 24 bits it is far below any
//! converter's noise floor and costs little, and the rule stays the same for every output.
//! The noise comes from a fixed-seed xorshift generator, so the same input always gives the
//! same bytes.

/// Seed of the dither generator (any non-zero value; fixed so outputs are reproducible).
const DITHER_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

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
    state: Option<u64>,
}

impl Quantizer {
    /// A quantiser to `bits` bits (clamped to 2..=32); `dither` adds TPDF noise of ±1 LSB.
    pub fn new(bits: u32, dither: bool) -> Self {
        Quantizer { scale: (1u64 << (bits.clamp(2, 32) - 1)) as f64, state: dither.then_some(DITHER_SEED) }
    }

    /// Whether this quantiser adds dither.
    pub fn dithers(&self) -> bool {
        self.state.is_some()
    }

    /// TPDF noise in [−1, 1) LSB: the sum of two independent uniform values in [−½, ½), taken
    /// from the two 32-bit halves of one xorshift64* draw.
    #[inline]
    fn tpdf(state: &mut u64) -> f64 {
        let mut s = *state;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        *state = s;
        let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
        const TWO_POW_32: f64 = (1u64 << 32) as f64;
        // Through i64: a signed conversion is one instruction, an unsigned 64-bit one is not.
        ((r >> 32) as i64 as f64 + (r & 0xFFFF_FFFF) as i64 as f64) * (1.0 / TWO_POW_32) - 1.0
    }

    /// `round(v)` (halves upwards) clipped to the integer range, NaN as 0. Rounds by truncating
    /// a positive number, which compiles to one conversion instruction on every x86-64 (`f64::round`
    /// is a library call without SSE4.1).
    #[inline]
    fn to_int(&self, v: f64) -> i32 {
        /// Larger than any scale, so `v + OFFSET` is positive and truncation is `floor`.
        const OFFSET: f64 = (1u64 << 33) as f64;
        if v.is_nan() {
            return 0;
        }
        let c = v.clamp(-self.scale, self.scale - 1.0);
        ((c + (OFFSET + 0.5)) as i64 - OFFSET as i64) as i32
    }

    /// Quantises one sample (see the module docs).
    #[inline]
    pub fn quantize(&mut self, x: f32) -> i32 {
        let mut v = f64::from(x) * self.scale;
        if let Some(state) = &mut self.state {
            v += Self::tpdf(state);
        }
        self.to_int(v)
    }

    /// Quantises a planar block into `out`, interleaved (frame by frame, channel by channel).
    /// `out` is cleared first.
    pub fn quantize_interleaved(&mut self, block: &[Vec<f32>], out: &mut Vec<i32>) {
        out.clear();
        let n = block.first().map_or(0, Vec::len);
        out.reserve(n * block.len());
        match block {
            [mono] => out.extend(mono.iter().map(|&x| self.quantize(x))),
            [l, r] => {
                for (&a, &b) in l.iter().zip(r) {
                    out.push(self.quantize(a));
                    out.push(self.quantize(b));
                }
            }
            _ => {
                for i in 0..n {
                    for plane in block {
                        out.push(self.quantize(plane[i]));
                    }
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
