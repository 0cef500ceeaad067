//! Deterministic test signals and file writers for audioproc's tests, benches and bundled
//! fixtures.
//!
//! Everything here is generated in code: EBU Tech 3341/3342 compliance signals, programme-like
//! material (noise, sweeps, level changes) and writers for WAV, AIFF, CAF and FLAC that produce
//! bytes in memory, so tests can also corrupt them on purpose. The same seed always yields the
//! same bytes.

pub mod ebu;
pub mod signal;
pub mod writers;

pub use signal::Signal;
