//! Replays the fuzzer's findings and seed inputs (see `fuzz/README.md`) through the engine.
//!
//! - `fuzz/regressions/*`: inputs that once crashed, hung or blew memory, minimized. Each must
//!   now give `Ok` or a clean `Err` — never a panic and never `Error::DecoderPanic`. The one
//!   exception is files named `symphonia-panic-*`: documented upstream symphonia panics we
//!   cannot fix here; for those the engine must return `Error::DecoderPanic` (its
//!   `catch_unwind` works) and nothing worse. `symphonia-panic-overflow-*` files are arithmetic
//!   overflows, which only panic in builds with overflow checks (debug/test profiles, and the
//!   fuzzer's build); without them (`--release`) any clean result is accepted.
//! - `fuzz/seeds/*`: the committed starting corpus (tiny valid files of every format the
//!   test-data writers produce, and prefixes of the compressed fixtures). Same rule.
//!
//! The fuzzer's own working corpus (`fuzz/corpus/`) is not committed.
//!
//! `cargo test -p audioproc-engine --test fuzz_regressions -- --ignored write_fuzz_seeds`
//! regenerates `fuzz/seeds/`.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audioproc_engine::{AnalyzeOptions, Error, Limits, analyze_source};
use audioproc_testdata::signal;
use audioproc_testdata::writers::{self, Encoding, WavOptions};

/// The limits the fuzz target uses.
fn fuzz_options() -> AnalyzeOptions {
    AnalyzeOptions { limits: Limits { max_duration_s: 60.0, ..Default::default() }, ..Default::default() }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Regular files directly in `dir`, sorted; none if the directory does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn name_of(path: &Path) -> String {
    path.file_name().expect("file name").to_string_lossy().into_owned()
}

/// Runs one input; returns a description of what went wrong, if anything did.
fn replay(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).expect("readable fuzz input");
    let name = name_of(path);
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(|| analyze_source(Cursor::new(bytes), &fuzz_options()));
    let elapsed = started.elapsed();
    // Generous: a debug-profile test run on a loaded 2-core machine; the fuzzer's timeout is 10 s.
    if elapsed > Duration::from_secs(10) {
        return Some(format!("{name}: took {elapsed:?}"));
    }
    let known_panic = name.starts_with("symphonia-panic-");
    // Overflow checks follow debug assertions in every profile this workspace defines.
    let overflow_only = name.starts_with("symphonia-panic-overflow-");
    let must_panic = known_panic && (!overflow_only || cfg!(debug_assertions));
    match outcome {
        Err(_) => Some(format!("{name}: panic escaped analyze_source")),
        Ok(Err(Error::DecoderPanic { message })) if !known_panic => {
            Some(format!("{name}: decoder panicked: {message}"))
        }
        Ok(Err(Error::DecoderPanic { message })) if overflow_only && !message.contains("overflow") => {
            Some(format!("{name}: expected an overflow panic, got: {message}"))
        }
        Ok(Err(Error::DecoderPanic { .. })) => None,
        Ok(other) if must_panic => Some(format!(
            "{name}: named as an upstream symphonia panic but gave {:?}; the bug seems fixed, rename it",
            other.map(|a| a.warnings)
        )),
        Ok(_) => None,
    }
}

#[test]
fn fuzz_regressions_give_clean_results() {
    let files = files_in(&fuzz_dir().join("regressions"));
    let failures: Vec<String> = files.iter().filter_map(|p| replay(p)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} regression input(s) failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn regression_files_are_small() {
    for path in files_in(&fuzz_dir().join("regressions")) {
        let len = std::fs::metadata(&path).expect("stat").len();
        assert!(len < 64 * 1024, "{}: {len} bytes; minimize it with `cargo fuzz tmin`", path.display());
    }
}

#[test]
fn fuzz_seeds_give_clean_results() {
    let files = files_in(&fuzz_dir().join("seeds"));
    // An empty or missing seed set would make this test (and the fuzzer's start) vacuous.
    assert!(files.len() >= 6, "fuzz/seeds holds only {} file(s); regenerate it (see fuzz/README.md)", files.len());
    let failures: Vec<String> = files.iter().filter_map(|p| replay(p)).collect();
    assert!(failures.is_empty(), "{} of {} seed(s) failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn generated_seeds_decode() {
    // The generated seeds are valid files: they must measure, not merely not crash.
    for (name, bytes) in generated_seeds() {
        let a = analyze_source(Cursor::new(bytes), &fuzz_options()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(a.frames > 0, "{name}: no frames");
        assert!(a.warnings.is_empty(), "{name}: {:?}", a.warnings);
    }
}

/// Tiny valid files of every format the test-data writers produce (a few hundred bytes each).
fn generated_seeds() -> Vec<(String, Vec<u8>)> {
    let mono = signal::sine(8_000, 1, 440.0, 0.5, 0.02, 0.0);
    let stereo = signal::white_noise(8_000, 2, 0.02, 0.5, 7);
    let mut seeds = vec![
        ("gen-wav-pcm8-mono.wav".to_owned(), writers::wav(&mono, Encoding::Pcm8, WavOptions::default())),
        ("gen-wav-pcm16-stereo.wav".to_owned(), writers::wav(&stereo, Encoding::Pcm16, WavOptions::default())),
        ("gen-wav-pcm24-mono.wav".to_owned(), writers::wav(&mono, Encoding::Pcm24, WavOptions::default())),
        ("gen-wav-float32-stereo.wav".to_owned(), writers::wav(&stereo, Encoding::Float32, WavOptions::default())),
        (
            "gen-wav-extensible-stereo.wav".to_owned(),
            writers::wav(&stereo, Encoding::Pcm16, WavOptions { extensible_mask: Some(0x3) }),
        ),
        ("gen-aiff-pcm16-stereo.aiff".to_owned(), writers::aiff(&stereo, Encoding::Pcm16)),
        ("gen-caf-pcm16-stereo.caf".to_owned(), writers::caf(&stereo, Encoding::Pcm16)),
        ("gen-caf-float32-mono.caf".to_owned(), writers::caf(&mono, Encoding::Float32)),
    ];
    // FLAC needs a few blocks to exercise frame parsing; 8 kHz keeps it small.
    let flac_sig = signal::white_noise(8_000, 2, 0.05, 0.1, 9);
    seeds.push(("gen-flac-16-stereo.flac".to_owned(), writers::flac(&flac_sig, 16)));
    seeds.push(("gen-flac-24-mono.flac".to_owned(), writers::flac(&signal::sine(8_000, 1, 440.0, 0.5, 0.05, 0.0), 24)));
    seeds
}

/// Writes `fuzz/seeds/`: the generated seeds and an 8 KiB prefix of each bundled fixture (the
/// fixtures put their headers first, so a prefix covers header parsing and the first packets
/// without slowing the fuzzer down with 100+ KiB inputs).
#[test]
#[ignore = "generator: run with --ignored write_fuzz_seeds to refresh fuzz/seeds"]
fn write_fuzz_seeds() {
    let dir = fuzz_dir().join("seeds");
    std::fs::create_dir_all(&dir).expect("create fuzz/seeds");
    for (name, bytes) in generated_seeds() {
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures");
    for path in files_in(&fixtures) {
        let bytes = std::fs::read(&path).expect("read fixture");
        let prefix = &bytes[..bytes.len().min(8 * 1024)];
        std::fs::write(dir.join(format!("fixture-prefix-{}", name_of(&path))), prefix).expect("write seed");
    }
}
