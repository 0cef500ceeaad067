//! Code for CPUs with AVX2 and FMA, chosen at run time: [`cascade`], the loudness meter's
//! K-weighting recursion (two biquads and a sum of squares) two samples per step with fused
//! multiply-adds, written with the intrinsics; and [`run_with_avx2`], which compiles any
//! [`Kernel`] (plain loops the compiler vectorises, such as the dither's) for AVX2.
//!
//! The workspace builds for the x86-64 baseline (SSE2), so a binary runs on every x86-64 CPU;
//! code here is compiled for AVX2 and FMA (`#[target_feature]`) and entered only after
//! [`has_avx2_fma`] asked the CPU; otherwise it reports that it did nothing and the caller runs
//! its portable code. Entering a `#[target_feature]` function is `unsafe` (it would be
//! undefined behaviour on a CPU without the features): that call, once in each of the two entry
//! points, is the only `unsafe` here, and everything this crate exports is safe. The
//! intrinsics themselves are safe inside such functions.

pub mod cascade;

/// Work to compile for AVX2: implement [`Kernel::run`] with `#[inline(always)]` (and the
/// functions it calls), so that it is built into the one function that enables the extension;
/// what it calls out of line is built for the baseline. Only the instruction set changes, not
/// the arithmetic: without `mul_add` no multiply and add are fused, so results are the same
/// bits as the portable build's.
pub trait Kernel {
    /// What the kernel returns.
    type Output;

    /// Does the work.
    fn run(self) -> Self::Output;
}

/// Runs `kernel` compiled for AVX2 (and FMA), or hands it back unrun when the CPU lacks them,
/// for the caller to run as built for the baseline ([`Kernel::run`]).
///
/// # Errors
/// The kernel itself, when the CPU cannot run it so.
#[inline]
pub fn run_with_avx2<K: Kernel>(kernel: K) -> Result<K::Output, K> {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        fn enter<K: Kernel>(kernel: K) -> K::Output {
            kernel.run()
        }
        if has_avx2_fma() {
            // SAFETY: `enter` is only marked to use AVX2 and FMA, and the CPU running this has
            // both (checked just above by `has_avx2_fma`, which asks CPUID).
            #[allow(unsafe_code)]
            let output = unsafe { enter(kernel) };
            return Ok(output);
        }
    }
    Err(kernel)
}

/// Whether this CPU has AVX2 and FMA (and the operating system saves their registers).
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sum<'a>(&'a [u32]);

    impl Kernel for Sum<'_> {
        type Output = u32;

        #[inline(always)]
        fn run(self) -> u32 {
            self.0.iter().fold(0u32, |a, &b| a.wrapping_add(b.wrapping_mul(0x9E37_79B9)))
        }
    }

    #[test]
    fn a_kernel_gives_the_same_result_whether_built_for_avx2_or_not() {
        let data: Vec<u32> = (0..10_000).collect();
        let want = Sum(&data).run();
        match run_with_avx2(Sum(&data)) {
            Ok(got) => {
                assert!(has_avx2_fma());
                assert_eq!(got, want);
            }
            Err(unrun) => {
                assert!(!has_avx2_fma());
                assert_eq!(unrun.run(), want);
            }
        }
    }
}
