//! ITU-R BS.1770-4 / EBU R128 loudness measurement, written in-house.
//!
//! - [`kweight`]: the K-weighting pre-filter, derived for any sample rate (its recursion runs
//!   two samples per step: `recursion`; on CPUs with AVX2 and FMA, `audioproc_simd::cascade`).
//! - [`true_peak`]: oversampled true-peak detection with an interpolation filter that passes
//!   EBU Tech 3341 cases 15–19.
//! - [`histogram`]: O(1)-memory gating for integrated loudness and loudness range.
//! - [`meter`]: the [`LoudnessMeter`] that ties them together and its [`LoudnessReport`].
//! - [`curve`]: the bounded loudness curve a meter records when asked ([`Curve`]).
//! - [`threaded`]: the [`ThreadedMeter`] that runs the meter's two halves (loudness, true peak)
//!   on helper threads.

pub mod curve;
pub mod histogram;
pub mod kweight;
pub mod meter;
mod recursion;
pub mod threaded;
pub mod true_peak;

pub use curve::{CURVE_MAX_POINTS, CURVE_SCHEMA, Curve};
pub use meter::{LoudnessMeter, LoudnessReport, MeterOptions, MonoMode, channel_weights};
pub use threaded::ThreadedMeter;

/// Converts a mean-square energy (already channel-weighted) to loudness in LUFS.
/// Zero energy gives −∞.
#[inline]
pub fn energy_to_lufs(energy: f64) -> f64 {
    -0.691 + 10.0 * energy.log10()
}

/// Converts loudness in LUFS to the mean-square energy that produces it.
#[inline]
pub fn lufs_to_energy(lufs: f64) -> f64 {
    10f64.powf((lufs + 0.691) / 10.0)
}
