//! The real `audioproc` binary on generated files, in a temp dir per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audioproc_testdata::signal::{db_to_amp, programme, sine};
use audioproc_testdata::writers::{Encoding, WavOptions, flac, wav};
use serde_json::Value;

fn audioproc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audioproc")).args(args).current_dir(dir).output().expect("runs")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

const KEYS: [&str; 15] = [
    "path",
    "ok",
    "error",
    "codec",
    "container",
    "sample_rate",
    "channels",
    "duration_s",
    "integrated_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "momentary_max_lufs",
    "short_term_max_lufs",
    "mono_mode",
];

#[test]
fn json_reports_every_file_with_exactly_the_schema_keys_and_exit_1_on_any_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(
        d,
        "tone.wav",
        &wav(&sine(48_000, 2, 1000.0, db_to_amp(-23.0), 10.0, 0.0), Encoding::Pcm24, WavOptions::default()),
    );
    // FLAC content under a .wav name: detected by content.
    write(d, "really_flac.wav", &flac(&programme(44_100, 2, 6.0, 1), 16));
    write(d, "mono.wav", &wav(&sine(44_100, 1, 1000.0, 0.25, 5.0, 0.0), Encoding::Pcm16, WavOptions::default()));
    write(d, "silence.wav", &wav(&sine(44_100, 2, 1000.0, 0.0, 5.0, 0.0), Encoding::Pcm16, WavOptions::default()));
    write(d, "garbage.mp3", b"this is not audio at all, just text pretending");
    write(d, "empty.flac", b"");

    let out = audioproc(
        &[
            "analyze",
            "--json",
            "tone.wav",
            "really_flac.wav",
            "mono.wav",
            "silence.wav",
            "garbage.mp3",
            "empty.flac",
            "missing.wav",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["schema"], "audioproc.analysis/1");
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 7);
    for f in files {
        let keys: Vec<&str> = f.as_object().expect("object").keys().map(String::as_str).collect();
        let mut want = KEYS.to_vec();
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
    }
    let by = |name: &str| files.iter().find(|f| f["path"] == name).unwrap_or_else(|| panic!("{name} reported"));

    let tone = by("tone.wav");
    assert_eq!(tone["ok"], true);
    assert_eq!(tone["error"], Value::Null);
    assert!((tone["integrated_lufs"].as_f64().expect("number") + 23.0).abs() < 0.1);
    assert_eq!(tone["sample_rate"], 48_000);
    assert_eq!(tone["channels"], 2);
    assert_eq!(tone["container"], "wave");
    assert_eq!(tone["mono_mode"], Value::Null);
    assert!((tone["duration_s"].as_f64().expect("number") - 10.0).abs() < 1e-3);

    assert_eq!(by("really_flac.wav")["container"], "flac");
    assert_eq!(by("mono.wav")["mono_mode"], "mono");

    let silence = by("silence.wav");
    assert_eq!(silence["ok"], true);
    for k in [
        "integrated_lufs",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "momentary_max_lufs",
        "short_term_max_lufs",
        "loudness_range_lu",
    ] {
        assert_eq!(silence[k], Value::Null, "{k} of silence must be null");
    }

    for bad in ["garbage.mp3", "empty.flac", "missing.wav"] {
        let f = by(bad);
        assert_eq!(f["ok"], false);
        assert!(f["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(f["integrated_lufs"], Value::Null);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("garbage.mp3: unsupported input"), "{stderr}");
    assert!(stderr.contains("empty.flac: file is empty"), "{stderr}");
}

#[test]
fn dual_mono_reads_3_lu_louder_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "m.wav", &wav(&sine(48_000, 1, 1000.0, 0.25, 5.0, 0.0), Encoding::Pcm16, WavOptions::default()));
    let a = json(&audioproc(&["analyze", "--json", "m.wav"], dir.path()));
    let b = json(&audioproc(&["analyze", "--json", "--dual-mono", "m.wav"], dir.path()));
    assert_eq!(b["files"][0]["mono_mode"], "dual_mono");
    let d =
        b["files"][0]["integrated_lufs"].as_f64().expect("n") - a["files"][0]["integrated_lufs"].as_f64().expect("n");
    assert!((d - 3.01).abs() < 0.01, "{d}");
}

#[test]
fn all_good_files_exit_0_with_a_readable_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.flac", &flac(&programme(48_000, 2, 5.0, 2), 24));
    let out = audioproc(&["analyze", "a.flac"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("a.flac") && text.contains("LUFS") && text.contains("dBTP"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(audioproc(&["analyze"], dir.path()).status.code(), Some(2));
    assert_eq!(audioproc(&["analyze", "--no-such-flag", "x.wav"], dir.path()).status.code(), Some(2));
    assert_eq!(audioproc(&["--frobnicate"], dir.path()).status.code(), Some(2));
    let help = audioproc(&["analyze", "--help"], dir.path());
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit status"));
}

#[test]
fn limits_from_the_command_line_refuse_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "st.wav", &wav(&sine(48_000, 2, 1000.0, 0.25, 3.0, 0.0), Encoding::Pcm16, WavOptions::default()));
    let out = audioproc(&["analyze", "--json", "--max-channels", "1", "st.wav"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        json(&out)["files"][0]["error"].as_str().expect("error").contains("channel count 2 exceeds the limit of 1")
    );
    let out = audioproc(&["analyze", "--json", "--max-duration", "1", "st.wav"], dir.path());
    assert_eq!(out.status.code(), Some(1));
}
