//! A job reads one input file, opened once: a file renamed over the input's path between passes
//! (two overlapping `--in-place` runs) is not mixed in, and a write into the input file itself
//! stops the job with `Error::InputChanged` and no output.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use audioproc_engine::{
    Error, OutputFormat, Overwrite, Preset, ProcessOptions, ProcessReport, ProcessingSpec, Progress, Threads,
    analyze_path, process_file_with,
};
use audioproc_testdata::Signal;
use audioproc_testdata::signal::tonal;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};

/// `seconds` of the tonal test signal at `gain_db` (0 dB: about −20 LUFS).
fn signal_at(seconds: f64, gain_db: f64) -> Signal {
    let mut s = tonal(44_100, 2, seconds, 0.01);
    s.gain_db(gain_db);
    s
}

/// Runs an EBU → FLAC job that calls `during_pass_1` once, from pass 1's first progress report.
fn run_with(input: &Path, output: &Path, during_pass_1: impl Fn() + Sync) -> audioproc_engine::Result<ProcessReport> {
    let done = AtomicBool::new(false);
    let progress = |p: Progress| {
        if p.pass == 1 && !done.swap(true, Ordering::SeqCst) {
            during_pass_1();
        }
    };
    let options =
        ProcessOptions { overwrite: Overwrite::Never, threads: Threads::Pipelined, progress: &progress, cancel: None };
    let result = process_file_with(input, output, &ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac), &options);
    assert!(done.load(Ordering::SeqCst), "pass 1 reported progress");
    result
}

fn names(dir: &Path) -> Vec<String> {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    got
}

#[test]
fn a_file_renamed_over_the_input_between_passes_is_not_mixed_in() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    // The original is 6 s, 15 dB under the target; the file that takes its name is 9 s and
    // already at about −20 LUFS: the original's +15 dB on it would be obvious (and so would its
    // length).
    let original = signal_at(6.0, -15.0);
    std::fs::write(&input, wav(&original, Encoding::Pcm24, WavOptions::default())).expect("write");
    let sibling = dir.path().join("other.wav");
    std::fs::write(&sibling, wav(&signal_at(9.0, 0.0), Encoding::Pcm24, WavOptions::default())).expect("write");
    let output = dir.path().join("out.flac");
    let r = run_with(&input, &output, || std::fs::rename(&sibling, &input).expect("rename over the input"))
        .expect("the job goes on with the file it opened");
    assert_eq!(r.input.frames, original.frames() as u64);
    assert_eq!(r.output.frames, original.frames() as u64, "the original's length, not the replacement's");
    let out = analyze_path(&output, &Default::default()).expect("output");
    assert_eq!(out.frames, original.frames() as u64);
    let i = out.loudness.integrated_lufs.expect("I");
    assert!((i + 23.0).abs() <= 0.2, "the original brought to −23 LUFS, not the replacement pushed +15 dB: {i}");
    // The tags came from the same file too (none): no error note.
    assert!(!r.notes.iter().any(|n| n.contains("metadata")), "{:?}", r.notes);
}

#[test]
fn a_write_into_the_input_between_passes_stops_the_job_with_input_changed() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    let bytes = wav(&signal_at(6.0, -15.0), Encoding::Pcm24, WavOptions::default());
    type Change = fn(&Path);
    let cases: [(&str, Change); 2] = [
        ("appended", |p| {
            let mut f = std::fs::OpenOptions::new().append(true).open(p).expect("open");
            f.write_all(&[0u8; 4096]).expect("append");
        }),
        ("rewritten in place", |p| {
            // Same inode, same length: different samples, and a later modification time (set
            // explicitly, as a coarse file-system clock may not have ticked yet).
            let mut f = std::fs::OpenOptions::new().write(true).open(p).expect("open");
            f.seek(SeekFrom::Start(1000)).expect("seek");
            f.write_all(&[0x55u8; 4096]).expect("overwrite");
            let later = f.metadata().expect("stat").modified().expect("mtime") + std::time::Duration::from_secs(2);
            f.set_modified(later).expect("touch");
        }),
    ];
    for (what, change) in cases {
        std::fs::write(&input, &bytes).expect("write");
        let output = dir.path().join("out.flac");
        let err = run_with(&input, &output, || change(&input)).expect_err(what);
        assert!(matches!(&err, Error::InputChanged { path } if *path == input), "{what}: {err:?}");
        assert!(err.to_string().ends_with("changed while being processed"), "{err}");
        assert!(!output.exists(), "{what}: no output");
        assert_eq!(names(dir.path()), ["in.wav"], "{what}: no temporary file left");
    }
}
