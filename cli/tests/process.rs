//! The real `audioproc` binary normalising and converting generated files, in a temp dir per
//! test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audioproc_testdata::signal::{programme, tonal};
use audioproc_testdata::writers::{Encoding, WavOptions, wav};
use serde_json::Value;

fn audioproc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audioproc")).args(args).current_dir(dir).output().expect("runs")
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn song(seconds: f64) -> Vec<u8> {
    wav(&tonal(44_100, 2, seconds, 0.01), Encoding::Pcm16, WavOptions::default())
}

const MEASUREMENT_KEYS: [&str; 15] = [
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
fn everyday_command_writes_a_normalized_file_beside_the_input_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let original = song(6.0);
    put(d, "song.wav", &original);
    let out = audioproc(&["song.wav"], d);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(names(d), ["song.normalized.wav", "song.wav"]);
    assert_eq!(std::fs::read(d.join("song.wav")).expect("read"), original, "input untouched");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("song.normalized.wav") && text.contains("-23.0 LUFS") && text.contains("Target met"),
        "{text}"
    );

    // Again: the output exists, so it is refused and left alone.
    let before = std::fs::read(d.join("song.normalized.wav")).expect("read");
    let again = audioproc(&["song.wav"], d);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    assert_eq!(std::fs::read(d.join("song.normalized.wav")).expect("read"), before);
    // --force replaces it; --in-place replaces the input itself.
    assert_eq!(audioproc(&["--force", "--preset", "streaming", "song.wav"], d).status.code(), Some(0));
    assert_ne!(std::fs::read(d.join("song.normalized.wav")).expect("read"), before);
    assert_eq!(audioproc(&["--in-place", "song.wav"], d).status.code(), Some(0));
    assert_ne!(std::fs::read(d.join("song.wav")).expect("read"), original);
    assert_eq!(names(d), ["song.normalized.wav", "song.wav"], "no temporary files left");
}

#[test]
fn process_json_has_the_schema_and_the_measurements_agree_with_analyze() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    put(d, "in.wav", &song(8.0));
    let out = audioproc(
        &["process", "in.wav", "-o", "out.flac", "--preset", "podcast", "--rate", "48000", "--bits", "16", "--json"],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "audioproc.process/1");
    for side in ["input", "output"] {
        let mut keys: Vec<&str> = v[side].as_object().expect(side).keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = MEASUREMENT_KEYS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "{side}");
    }
    for k in ["gain_db", "mode", "limiter_max_reduction_db", "target_met", "notes"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert_eq!(v["mode"], "linear");
    assert_eq!(v["target_met"], true);
    assert_eq!(v["output"]["sample_rate"], 48_000);
    assert!(v["notes"].as_array().expect("notes").iter().any(|n| n.as_str().is_some_and(|s| s.contains("dither"))));
    let analysed = json(&audioproc(&["analyze", "--json", "out.flac"], d));
    let a = &analysed["files"][0];
    for k in ["integrated_lufs", "true_peak_dbtp", "loudness_range_lu"] {
        let (x, y) = (a[k].as_f64().expect(k), v["output"][k].as_f64().expect(k));
        assert!((x - y).abs() < 0.02, "{k}: analyze {x} vs report {y}");
    }
    assert!((a["integrated_lufs"].as_f64().expect("I") + 16.0).abs() <= 0.1);
}

#[test]
fn limit_mode_reports_the_reduction() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    put(d, "in.wav", &wav(&programme(48_000, 2, 8.0, 4), Encoding::Pcm24, WavOptions::default()));
    let out = audioproc(&["process", "in.wav", "-o", "o.wav", "--preset", "streaming", "--mode", "limit", "--json"], d);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["mode"], "limit");
    assert!(v["limiter_max_reduction_db"].as_f64().expect("reduction") > 0.5);
    assert!(v["output"]["true_peak_dbtp"].as_f64().expect("tp") <= -1.0 + 0.1);
}

#[test]
fn refusals_are_clean_errors_with_no_partial_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    put(d, "in.wav", &song(3.0));
    put(d, "bad.wav", b"RIFF\x24\x00\x00\x00WAVEfmt garbage");
    let cases: [(&[&str], i32, &str); 6] = [
        // Usage errors (issue 16 item 14: they exited 1, the documented status is 2).
        (&["process", "in.wav", "-o", "out.xyz"], 2, "cannot tell the output format"),
        (&["process", "in.wav", "-o", "out.wav", "--format", "aiff"], 2, "expected one of"),
        (&["process", "in.wav", "-o", "no/such/dir/out.wav"], 1, "does not exist"),
        (&["process", "bad.wav", "-o", "out.wav"], 1, "bad.wav"),
        (&["process", "in.wav", "-o", "out.opus", "--rate", "44100"], 2, "44100"),
        (&["process", "in.wav", "-o", "in.wav", "--force"], 2, "the output is the input"),
    ];
    for (args, code, msg) in cases {
        let out = audioproc(args, d);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(msg), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
    assert_eq!(names(d), ["bad.wav", "in.wav"]);
}

#[test]
fn one_bad_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    put(d, "a.wav", &song(3.0));
    put(d, "b.flac", b"fLaC but not really");
    put(d, "c.wav", &song(3.0));
    let out = audioproc(&["--json", "a.wav", "b.flac", "c.wav"], d);
    assert_eq!(out.status.code(), Some(1));
    let docs: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs.iter().filter(|v| v["ok"] == true).count(), 2);
    assert_eq!(names(d), ["a.normalized.wav", "a.wav", "b.flac", "c.normalized.wav", "c.wav"]);
}

#[test]
fn a_60_minute_file_processes_in_bounded_memory() {
    let Ok(python) = which("python3") else {
        eprintln!("note: python3 not found; the peak-RSS check needs it to read the child's ru_maxrss");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("hour.wav");
    audioproc_testdata::writers::long_wav(&input, 60).expect("write");
    // Peak resident memory of the child, read by the parent through getrusage(RUSAGE_CHILDREN).
    let script = "import resource, subprocess, sys\n\
                  r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n\
                  sys.stderr.write(r.stderr.decode())\n\
                  print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  sys.exit(r.returncode)";
    let out = Command::new(python)
        .args(["-c", script, env!("CARGO_BIN_EXE_audioproc"), "process"])
        .arg(&input)
        .args(["-o"])
        .arg(dir.path().join("hour.flac"))
        .args(["--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("ru_maxrss");
    eprintln!("60-minute stereo 44.1 kHz WAV → FLAC: peak RSS {:.1} MiB", kib as f64 / 1024.0);
    assert!(kib < 100 * 1024, "peak RSS {kib} KiB");
    let a = json(&audioproc(&["analyze", "--json", "hour.flac"], dir.path()));
    assert!((a["files"][0]["duration_s"].as_f64().expect("duration") - 3600.0).abs() < 1e-3);
    assert!((a["files"][0]["integrated_lufs"].as_f64().expect("I") + 23.0).abs() <= 0.1);
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        .ok_or(())
}
