//! Cancellation (`ProcessOptions::cancel`): a job asked to stop returns `Error::Cancelled`
//! within one block of the pass it is in, from every pass, with or without helper threads, and
//! leaves nothing behind: no output and no temporary file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use audioproc_engine::{
    Error, OutputFormat, Overwrite, PeakMode, Preset, ProcessOptions, ProcessingSpec, Progress, Threads,
    process_file_with,
};
use audioproc_testdata::signal::tonal;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    got
}

/// When to set the flag, from the progress callback.
#[derive(Clone, Copy, Debug)]
enum When {
    /// The `n`th progress report of pass `pass` (a few blocks in).
    Report { pass: u8, n: u32 },
    /// The last report of the first pass 2 (its whole input decoded): what follows is the
    /// lossy output's verification decode.
    EndOfPass2,
}

/// Runs a job that sets the cancel flag at `when`; returns its result and how many progress
/// reports came after the flag was set.
fn run_cancelled(input: &Path, output: &Path, spec: &ProcessingSpec, threads: Threads, when: When) -> (Error, u32) {
    let cancel = AtomicBool::new(false);
    let (seen, after) = (AtomicU32::new(0), AtomicU32::new(0));
    let progress = |p: Progress| {
        if cancel.load(Ordering::SeqCst) {
            after.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let hit = match when {
            When::Report { pass, n } => p.pass == pass && seen.fetch_add(1, Ordering::SeqCst) + 1 == n,
            When::EndOfPass2 => p.pass == 2 && p.frames_total == Some(p.frames_done),
        };
        if hit {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let options = ProcessOptions { overwrite: Overwrite::Never, threads, progress: &progress, cancel: Some(&cancel) };
    let err = process_file_with(input, output, spec, &options).expect_err("the job is cancelled");
    assert!(cancel.load(Ordering::SeqCst), "{when:?}: the flag was set");
    (err, after.load(Ordering::SeqCst))
}

#[test]
fn cancel_flag_stops_every_pass_and_leaves_no_output_or_temporary_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("long.wav");
    std::fs::write(&input, wav(&tonal(48_000, 2, 30.0, 0.01), Encoding::Pcm24, WavOptions::default())).expect("write");
    let limit = {
        let mut s = ProcessingSpec::new(Preset::Streaming, OutputFormat::Flac);
        s.mode = PeakMode::Limit;
        s
    };
    let cases: [(&str, ProcessingSpec, Threads, When); 6] = [
        (
            "measure",
            ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav),
            Threads::Pipelined,
            When::Report { pass: 1, n: 3 },
        ),
        (
            "measure-single",
            ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav),
            Threads::Single,
            When::Report { pass: 1, n: 3 },
        ),
        (
            "apply",
            ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac),
            Threads::Pipelined,
            When::Report { pass: 2, n: 3 },
        ),
        (
            "apply-single",
            ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac),
            Threads::Single,
            When::Report { pass: 2, n: 3 },
        ),
        ("calibrate", limit, Threads::Pipelined, When::Report { pass: 2, n: 3 }),
        ("verify", ProcessingSpec::new(Preset::Ebu, OutputFormat::Mp3), Threads::Pipelined, When::EndOfPass2),
    ];
    for (name, spec, threads, when) in cases {
        let output = dir.path().join(format!("out-{name}.{}", spec.format.extension()));
        let (err, after) = run_cancelled(&input, &output, &spec, threads, when);
        assert!(matches!(err, Error::Cancelled), "{name}: {err:?}");
        assert_eq!(after, 0, "{name}: no progress report after the flag was set");
        assert!(!output.exists(), "{name}: no output");
        assert_eq!(names(dir.path()), ["long.wav"], "{name}: no temporary file left");
    }
}

#[test]
fn an_unset_cancel_flag_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav(&tonal(44_100, 2, 3.0, 0.01), Encoding::Pcm16, WavOptions::default())).expect("write");
    let cancel = AtomicBool::new(false);
    let spec = ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac);
    let quiet = |_| {};
    let with = ProcessOptions {
        overwrite: Overwrite::Never,
        threads: Threads::Pipelined,
        progress: &quiet,
        cancel: Some(&cancel),
    };
    let without = ProcessOptions { cancel: None, ..with };
    let (a, b) = (dir.path().join("a.flac"), dir.path().join("b.flac"));
    process_file_with(&input, &a, &spec, &with).expect("not cancelled");
    process_file_with(&input, &b, &spec, &without).expect("no flag");
    assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
}
