//! Deterministic test signals and file writers for audioproc's tests, benches and bundled
//! fixtures.
//!
//! Everything here is generated in code: EBU Tech 3341/3342 compliance signals, programme-like
//! material (noise, sweeps, level changes) and writers for WAV, AIFF, CAF and FLAC that produce
//! bytes in memory, so tests can also corrupt them on purpose. The same seed always yields the
//! same bytes.

pub mod ebu;
#[cfg(feature = "harness")]
pub mod harness;
pub mod signal;
pub mod writers;

pub use signal::Signal;

/// The bytes of the bundled demo file `testdata/demo.flac`.
pub fn demo_flac() -> Vec<u8> {
    writers::flac(&signal::programme(44_100, 2, 6.0, 2026), 16)
}

/// A 44.1 kHz stereo 16-bit WAV of programme-like material, `seconds` long; the same `seed`
/// always gives the same bytes. The stock input of the front ends' end-to-end tests.
pub fn programme_wav(seconds: f64, seed: u64) -> Vec<u8> {
    writers::wav(&signal::programme(44_100, 2, seconds, seed), writers::Encoding::Pcm16, writers::WavOptions::default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_file_is_what_the_generator_writes() {
        let committed = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.flac"))
            .expect("testdata/demo.flac is committed");
        assert!(committed == super::demo_flac(), "regenerate with `cargo run -p audioproc-testdata --bin gen-demo`");
    }
}
