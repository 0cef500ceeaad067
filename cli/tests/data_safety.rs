//! Data safety (issue 16): what a hostile or careless user did to lose or corrupt data, each
//! case on the real binary, named after what broke.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::programme_wav as wav;
use audioproc_testdata::{signal, writers};
use serde_json::Value;

fn audioproc<S: AsRef<OsStr>>(args: &[S], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audioproc")).args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Waits (at most 30 s) until `child` has begun writing into `dir` (an entry besides `before`
/// appears), so a signal sent next lands mid-write whatever the machine's speed.
fn writing_into(dir: &Path, before: usize, child: &mut std::process::Child) {
    let started = Instant::now();
    while std::fs::read_dir(dir).map_or(0, Iterator::count) <= before {
        assert!(child.try_wait().unwrap().is_none(), "the job ended before it wrote anything");
        assert!(started.elapsed() < Duration::from_secs(30), "nothing written in 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn lufs(path: &Path) -> f64 {
    let a = audioproc_engine::analyze_path(path, &audioproc_engine::AnalyzeOptions::default()).unwrap();
    a.loudness.integrated_lufs.unwrap()
}

fn report_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn force_never_turns_a_fifo_or_a_symlink_into_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("in.wav"), wav(2.0, 1)).unwrap();
    assert!(Command::new("mkfifo").arg(d.join("pipe.wav")).status().unwrap().success());
    std::fs::write(d.join("keep.wav"), b"precious").unwrap();
    std::os::unix::fs::symlink(d.join("keep.wav"), d.join("link.wav")).unwrap();
    for out in ["pipe.wav", "link.wav"] {
        let o = audioproc(&["process", "in.wav", "-o", out, "--format", "wav", "--force"], d);
        assert_eq!(o.status.code(), Some(1), "{out}: {}", stderr(&o));
        assert!(stderr(&o).contains("only a regular file can be replaced"), "{}", stderr(&o));
    }
    assert!(std::fs::symlink_metadata(d.join("pipe.wav")).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(d.join("link.wav")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(d.join("keep.wav")).unwrap(), b"precious");
    assert_eq!(names(d), ["in.wav", "keep.wav", "link.wav", "pipe.wav"], "temporary files left");
}

#[test]
fn overlapping_in_place_runs_never_apply_the_gain_twice() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("song.wav");
    for round in 0..3 {
        let mut quiet = signal::programme(44_100, 2, 20.0, 7 + round);
        quiet.gain_db(-12.0);
        std::fs::write(&f, writers::wav(&quiet, writers::Encoding::Pcm16, writers::WavOptions::default())).unwrap();
        let run = || {
            Command::new(env!("CARGO_BIN_EXE_audioproc"))
                .args(["--in-place", "song.wav"])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (run(), run());
        a.wait().unwrap();
        b.wait().unwrap();
        let l = lufs(&f);
        assert!((l + 23.0).abs() < 0.2, "round {round}: {l} LUFS after two overlapping runs");
    }
}

#[test]
fn outputs_that_would_collide_are_refused_each_named_and_reruns_settle() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    let sig = signal::programme(44_100, 2, 2.0, 3);
    std::fs::write(src.join("x.flac"), writers::flac(&sig, 16)).unwrap();
    std::fs::write(src.join("x.aiff"), writers::aiff(&sig, writers::Encoding::Pcm16)).unwrap();
    std::fs::write(src.join("x.wav"), wav(2.0, 4)).unwrap();
    let report = dir.path().join("run.jsonl");
    for run in 0..2 {
        let _ = std::fs::remove_file(&report);
        let args = ["batch".as_ref(), src.as_os_str(), dst.as_os_str(), "--report".as_ref(), report.as_os_str()];
        let o = audioproc(&args, dir.path());
        assert_eq!(o.status.code(), Some(1), "run {run}: {}", stderr(&o));
        let lines = report_lines(&report);
        let status: Vec<(&str, &str)> =
            lines.iter().map(|l| (l["source"].as_str().unwrap(), l["status"].as_str().unwrap())).collect();
        let first = if run == 0 { "ok" } else { "skipped" };
        assert_eq!(status.iter().filter(|(_, s)| *s == first).count(), 1, "run {run}: {status:?}");
        assert_eq!(status.iter().filter(|(_, s)| *s == "failed").count(), 2, "run {run}: {status:?}");
        for l in lines.iter().filter(|l| l["status"] == "failed") {
            assert!(l["error"].as_str().unwrap().contains("x.aiff"), "the owner is named: {l}");
        }
    }
    assert_eq!(names(&dst), ["x.flac", "x.flac.json"]);

    // The everyday form: both inputs would become x.normalized.mp3.
    let o = audioproc(&["--force", "--format", "mp3", "x.wav", "x.flac"], &src);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("would all be written to"), "{}", stderr(&o));
    assert_eq!(names(&src), ["x.aiff", "x.flac", "x.wav"]);
}

#[test]
fn batch_report_never_truncates_an_existing_file_or_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.wav"), wav(1.0, 5)).unwrap();
    std::fs::write(dir.path().join("old.jsonl"), b"keep me").unwrap();
    for report in [src.join("a.wav"), dir.path().join("old.jsonl"), src.join("new.jsonl")] {
        let args = ["batch".as_ref(), src.as_os_str(), dst.as_os_str(), "--report".as_ref(), report.as_os_str()];
        let o = audioproc(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{}: {}", report.display(), stderr(&o));
    }
    assert_eq!(std::fs::read(dir.path().join("old.jsonl")).unwrap(), b"keep me");
    assert_eq!(std::fs::read(src.join("a.wav")).unwrap(), wav(1.0, 5));
    assert!(!dst.join("a.flac").exists(), "nothing processed");
}

#[test]
fn in_place_keeps_mode_and_owner_writes_through_symlinks_and_refuses_read_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let real = d.join("real.wav");
    std::fs::write(&real, wav(2.0, 6)).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("real.wav", d.join("link.wav")).unwrap();
    let (uid, gid) = (std::fs::metadata(&real).unwrap().uid(), std::fs::metadata(&real).unwrap().gid());
    let o = audioproc(&["--in-place", "link.wav"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(d.join("link.wav")).unwrap().file_type().is_symlink(), "link replaced");
    let meta = std::fs::metadata(&real).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode changed");
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert!((lufs(&real) + 23.0).abs() < 0.2);

    let ro = d.join("ro.wav");
    std::fs::write(&ro, wav(2.0, 7)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    let o = audioproc(&["--in-place", "ro.wav"], d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ro).unwrap(), wav(2.0, 7));

    std::fs::hard_link(&ro, d.join("twin.wav")).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = audioproc(&["--in-place", "ro.wav"], d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("hard links"), "{}", stderr(&o));
}

#[test]
fn non_utf8_names_are_processed_apart_or_counted_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = (OsStr::from_bytes(b"song\xff.wav"), OsStr::from_bytes(b"song\xfe.wav"));
    std::fs::write(d.join(a), wav(1.0, 8)).unwrap();
    std::fs::write(d.join(b), wav(1.0, 9)).unwrap();
    let o = audioproc(&[a, b], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join(OsStr::from_bytes(b"song\xff.normalized.wav")).is_file());
    assert!(d.join(OsStr::from_bytes(b"song\xfe.normalized.wav")).is_file());

    let (src, dst, report) = (d.join("src"), d.join("dst"), d.join("run.jsonl"));
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join(a), wav(1.0, 8)).unwrap();
    std::fs::write(src.join("fine.wav"), wav(1.0, 9)).unwrap();
    let args = ["batch".as_ref(), src.as_os_str(), dst.as_os_str(), "--report".as_ref(), report.as_os_str()];
    let o = audioproc(&args, d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines = report_lines(&report);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().any(|l| l["status"] == "failed" && l["error"].as_str().unwrap().contains("UTF-8")));
}

#[test]
fn an_interrupted_process_leaves_no_partial_file_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    audioproc_testdata::writers::long_wav(&d.join("long.wav"), 10).unwrap();
    for (signal, code) in [("-INT", 130), ("-TERM", 143), ("-HUP", 129)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_audioproc"))
            // The limiter at 96 kHz keeps the job busy for several seconds (a plain 10-minute
            // WAV → FLAC can be done before the signal arrives).
            .args(["process", "long.wav", "-o", "out.flac", "--mode", "limit", "--rate", "96000"])
            .current_dir(d)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        writing_into(d, 1, &mut child);
        assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        let started = Instant::now();
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?} to stop", started.elapsed());
        assert_eq!(status.code(), Some(code), "{signal}");
        assert_eq!(names(d), ["long.wav"], "{signal}: left behind");
    }
}

#[test]
fn long_output_names_get_their_sidecar_and_are_not_redone() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    let stem = "n".repeat(245);
    std::fs::write(src.join(format!("{stem}.wav")), wav(1.0, 10)).unwrap();
    for (run, expect) in [(0, "processed"), (1, "skipped")] {
        let o = audioproc(&["batch".as_ref(), src.as_os_str(), dst.as_os_str(), "--json".as_ref()], dir.path());
        assert!(o.status.success(), "run {run}: {}", stderr(&o));
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        let key = if expect == "processed" { "ok" } else { "skipped" };
        assert_eq!(summary[key], 1, "run {run}: {summary}");
    }
    assert_eq!(names(&dst), [format!("{stem}.flac"), format!("{stem}.flac.json")]);
}

#[test]
fn a_damaged_output_is_redone_not_skipped_forever() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.wav"), wav(1.0, 11)).unwrap();
    let run = || {
        let o = audioproc(&["batch".as_ref(), src.as_os_str(), dst.as_os_str(), "--json".as_ref()], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    assert_eq!(run()["ok"], 1);
    let sidecar: Value = serde_json::from_slice(&std::fs::read(dst.join("a.flac.json")).unwrap()).unwrap();
    assert!(sidecar["elapsed_s"].as_f64().unwrap() > 0.0, "local batch sidecars said elapsed_s 0.0: {sidecar}");
    let good = std::fs::read(dst.join("a.flac")).unwrap();
    std::fs::write(dst.join("a.flac"), b"garbage!").unwrap();
    assert_eq!(run()["ok"], 1, "garbage of another size was trusted");
    // The same size, other bytes: only the hash tells.
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    std::fs::write(dst.join("a.flac"), &flipped).unwrap();
    assert_eq!(run()["ok"], 1, "a damaged output of the same size was trusted");
    assert_eq!(std::fs::read(dst.join("a.flac")).unwrap(), good);
    assert_eq!(run()["skipped"], 1);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dst.join("a.flac.json")), mode(&dst.join("a.flac")), "sidecar mode differs from the output's");
}

#[test]
fn grace_zero_stops_a_local_batch_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::create_dir(&src).unwrap();
    audioproc_testdata::writers::long_wav(&src.join("long.wav"), 10).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_audioproc"))
        .arg("batch")
        // The limiter at 96 kHz keeps the job busy for several seconds.
        .args([src.as_os_str(), dst.as_os_str()])
        .args(["--grace", "0", "--mode", "limit", "--rate", "96000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writing_into(&dst, 0, &mut child);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let started = Instant::now();
    child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?} to stop", started.elapsed());
    let left: Vec<PathBuf> =
        std::fs::read_dir(&dst).map_or_else(|_| Vec::new(), |r| r.map(|e| e.unwrap().path()).collect());
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn invalid_parameters_exit_2_and_say_why_under_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.wav"), wav(1.0, 12)).unwrap();
    std::fs::create_dir(d.join("src")).unwrap();
    let cases: [&[&str]; 9] = [
        &["--json", "--target", "-200", "a.wav"],
        &["--json", "--target", "-70", "a.wav"],
        &["--json", "--rate", "1", "a.wav"],
        &["--json", "--channels", "3", "a.wav"],
        &["--json", "--format", "flac", "--bits", "32", "a.wav"],
        &["process", "--json", "a.wav", "-o", "b.flac", "--bits", "32"],
        &["batch", "--json", "src", "out", "--include", "[x"],
        &["batch", "--json", "src", "src/out"],
        &["process", "--json", "a.wav", "-o", "-"],
    ];
    for args in cases {
        let o = audioproc(args, d);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!((doc["ok"].as_bool(), doc["usage"].as_bool()), (Some(false), Some(true)), "{args:?}");
        assert!(!doc["error"].as_str().unwrap().is_empty());
    }
    let started = Instant::now();
    let o = audioproc(&["-j", "100000", "a.wav"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(names(d), ["a.wav", "src"], "something was written");
}

fn s3_audioproc(args: &[&str], dir: &Path) -> Output {
    use audioproc_testdata::harness::{MotoServer, aws_command};
    aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn folder_marker_keys_do_not_fail_an_s3_batch() {
    use audioproc_testdata::harness::{MotoServer, S3, bucket};
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket("markers");
    s3.create_bucket(&b);
    s3.put(&b, "in/folder/", Vec::new());
    s3.put(&b, "in/folder/a.wav", wav(1.0, 13));
    let dir = tempfile::tempdir().unwrap();
    let o = s3_audioproc(&["batch", &format!("s3://{b}/in/"), &format!("s3://{b}/out/"), "--json"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((summary["listed"].as_u64(), summary["ok"].as_u64()), (Some(1), Some(1)), "{summary}");
}

#[test]
fn a_missing_destination_bucket_fails_before_processing_in_one_line() {
    use audioproc_testdata::harness::{MotoServer, S3, bucket};
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket("dest-check");
    s3.create_bucket(&b);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wav"), wav(1.0, 14)).unwrap();
    for args in [
        vec!["process".to_owned(), "a.wav".into(), "-o".into(), "s3://no-such-bucket-here/a.flac".into()],
        vec!["batch".to_owned(), ".".into(), "s3://no-such-bucket-here/out/".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = s3_audioproc(&args, dir.path());
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("no such bucket"), "{args:?}: {err}");
        assert!(err.lines().count() <= 2 && err.len() < 600, "{args:?}: not one short line: {err}");
    }
    assert_eq!(s3.keys(&b), Vec::<String>::new());
}

#[test]
fn an_interrupted_upload_leaves_no_report_without_its_output_and_no_multipart_upload() {
    use audioproc_testdata::harness::{MotoServer, S3, aws_command, bucket};
    let endpoint = MotoServer::shared().endpoint();
    let s3 = S3::new(&endpoint);
    let b = bucket("interrupt");
    s3.create_bucket(&b);
    let dir = tempfile::tempdir().unwrap();
    audioproc_testdata::writers::long_wav(&dir.path().join("long.wav"), 3).unwrap();
    // Killed at several moments: while processing, around and during the (multipart) upload.
    for (i, delay_ms) in [300u64, 1500, 2500, 3500, 5000].into_iter().enumerate() {
        let key = format!("out/{i}.wav");
        let mut child = aws_command(env!("CARGO_BIN_EXE_audioproc"), &endpoint)
            .args(["process", "long.wav", "-o", &format!("s3://{b}/{key}"), "--format", "wav"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let code = child.wait().unwrap().code();
        assert!(matches!(code, Some(0 | 130)), "{delay_ms} ms: exit {code:?}");
        let (output, report) = (s3.head(&b, &key).is_some(), s3.head(&b, &format!("{key}.json")).is_some());
        assert_eq!(output, report, "{delay_ms} ms: output {output}, report {report}");
        // A signal after the last byte was published still exits 130; success always has both.
        assert!(code != Some(0) || output, "{delay_ms} ms: exit 0 without the output");
        assert_eq!(s3.multipart_uploads(&b), 0, "{delay_ms} ms: a multipart upload was left open");
    }
    assert_eq!(names(dir.path()), ["long.wav"]);
}
