//! Kernels for CPUs with AVX2 and FMA, chosen at run time: [`cascade`], the loudness meter's
//! K-weighting recursion (two biquads and a sum of squares) two samples per step with fused
//! multiply-adds.
//!
//! The workspace builds for the x86-64 baseline (SSE2), so a binary runs on every x86-64 CPU;
//! a kernel here is compiled for AVX2 and FMA (`#[target_feature]`) and entered only after
//! [`has_avx2_fma`] asked the CPU; otherwise it reports that it did nothing and the caller runs
//! its portable code. Entering a `#[target_feature]` function is `unsafe` (it would be
//! undefined behaviour on a CPU without the features): that call, once per kernel, is the only
//! `unsafe` here, and everything this crate exports is safe. The intrinsics themselves are
//! safe inside such functions.

pub mod cascade;

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
