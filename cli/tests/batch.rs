//! `audioproc batch`: the real binary over generated trees, locally and against a real
//! S3-compatible server (moto), including kills, signals and hostile keys.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{MotoServer, S3, aws_command, bucket};
use audioproc_testdata::programme_wav as wav;
use serde_json::Value;

fn command(dir: &Path) -> Command {
    let mut cmd = aws_command(env!("CARGO_BIN_EXE_audioproc"), &MotoServer::shared().endpoint());
    cmd.current_dir(dir);
    cmd
}

fn audioproc(args: &[&str], dir: &Path) -> Output {
    command(dir).args(args).output().unwrap()
}

fn spawn(args: &[&str], dir: &Path) -> Child {
    command(dir).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad report line ({e}): {l}")))
        .collect()
}

fn count(lines: &[Value], status: &str) -> usize {
    lines.iter().filter(|l| l["status"] == status).count()
}

/// Every file under `dir`, as `/`-separated relative paths.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

/// `n` short good tracks spread over nested directories.
fn good_tree(src: &Path, n: usize, seconds: f64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let rel = format!("artist{}/album{}/track {i:03}.wav", i % 4, i % 3);
            let p = src.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, wav(seconds, i as u64)).unwrap();
            rel
        })
        .collect()
}

/// Files that must fail: empty, text, zeros, a truncated header, random bytes, a WAV header
/// chunk claiming 4 GiB inside a RIFF of 88 kB, under audio names.
fn bad_tree(src: &Path, n: usize) -> Vec<String> {
    let mut huge = wav(0.5, 1);
    huge[40..44].copy_from_slice(&u32::MAX.to_le_bytes()); // data chunk larger than its RIFF
    let mut rng = audioproc_testdata::signal::SplitMix64::new(7);
    let kinds: Vec<(&str, Vec<u8>)> = vec![
        ("wav", Vec::new()),
        ("mp3", b"this is text, not audio".repeat(40)),
        ("flac", vec![0u8; 4096]),
        ("wav", wav(1.0, 3)[..30].to_vec()),
        ("ogg", (0..8192).map(|_| rng.next_u64() as u8).collect()),
        ("wav", huge),
    ];
    (0..n)
        .map(|i| {
            let (ext, bytes) = &kinds[i % kinds.len()];
            let rel = format!("broken/bad {i:02}.{ext}");
            let p = src.join(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
            rel
        })
        .collect()
}

fn out_name(rel: &str) -> String {
    format!("{}.flac", rel.rsplit_once('.').unwrap().0)
}

/// Every audio output decodes completely, to `seconds`.
fn assert_complete(dst: &Path, seconds: f64) {
    // Temporary files of a killed run (in `.audioproc-tmp-<pid>/`) are not outputs.
    for f in tree(dst).iter().filter(|f| f.ends_with(".flac") && !f.starts_with(".audioproc-tmp-")) {
        let a = audioproc_engine::analyze_path(&dst.join(f), &audioproc_engine::AnalyzeOptions::default())
            .unwrap_or_else(|e| panic!("{f} is not a complete output: {e}"));
        let secs = a.frames as f64 / f64::from(a.info.sample_rate);
        assert!((secs - seconds).abs() < 0.01, "{f}: {secs} s");
    }
}

#[test]
fn a_local_batch_processes_every_good_file_and_reports_every_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let good = good_tree(&src, 170, 1.0);
    let bad = bad_tree(&src, 30);
    std::fs::write(src.join("notes.json"), "{}").unwrap(); // left out: reports are not inputs
    std::fs::write(src.join(".DS_Store"), "x").unwrap(); // left out: hidden
    let o = audioproc(&["batch", "src", "dst", "--report", "run.jsonl", "--json", "-j", "2"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines = report(&dir.path().join("run.jsonl"));
    assert_eq!(lines.len(), 200);
    let bad_ok: Vec<&Value> =
        lines.iter().filter(|l| l["status"] == "ok" && l["source"].as_str().unwrap().contains("broken/")).collect();
    assert_eq!((count(&lines, "ok"), count(&lines, "failed")), (170, 30), "{bad_ok:?}");
    for l in lines.iter().filter(|l| l["status"] == "failed") {
        assert!(l["source"].as_str().unwrap().contains("broken/"), "{l}");
        assert!(l["error"].as_str().is_some_and(|e| !e.is_empty()), "{l}");
    }
    for l in lines.iter().filter(|l| l["status"] == "ok") {
        assert!((l["output_lufs"].as_f64().unwrap() + 23.0).abs() <= 0.1 || l["target_met"] == false, "{l}");
        assert!(l["process_s"].as_f64().is_some() && l["duration_s"].as_f64().unwrap() > 0.99, "{l}");
    }
    let expected: BTreeSet<String> = good.iter().flat_map(|g| [out_name(g), format!("{}.json", out_name(g))]).collect();
    assert_eq!(tree(&dst), expected, "outputs for exactly the good files, nothing else left behind");
    let _ = bad;
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["schema"], "audioproc.batch/1");
    assert_eq!(
        (summary["listed"].as_u64(), summary["ok"].as_u64(), summary["failed"].as_u64()),
        (Some(200), Some(170), Some(30))
    );
    assert!((summary["audio_hours"].as_f64().unwrap() - 170.0 / 3600.0).abs() < 1e-3);

    // Run again: everything done is skipped, the bad ones fail again.
    let o = audioproc(&["batch", "src", "dst", "--report", "again.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let lines = report(&dir.path().join("again.jsonl"));
    assert_eq!((count(&lines, "skipped"), count(&lines, "failed")), (170, 30));

    // A changed input (new mtime and size) is processed again; --dry-run touches nothing.
    std::fs::write(src.join(&good[0]), wav(1.5, 999)).unwrap();
    let o =
        audioproc(&["batch", "src", "dst", "--dry-run", "--report", "dry.jsonl", "--exclude", "broken/**"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = report(&dir.path().join("dry.jsonl"));
    assert_eq!((count(&lines, "planned"), count(&lines, "skipped")), (1, 169));
    let o = audioproc(&["batch", "src", "dst", "--include", "artist0/**", "--report", "inc.jsonl"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = report(&dir.path().join("inc.jsonl"));
    assert_eq!(lines.len(), good.iter().filter(|g| g.starts_with("artist0/")).count());
    assert_eq!(count(&lines, "ok"), 1);
}

#[test]
fn a_killed_batch_finishes_on_restart_with_no_duplicates_and_no_partial_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let good = good_tree(&src, 40, 3.0);
    // A pseudo-random kill point: after 2 to 9 finished files.
    let kill_after = 2 + (std::process::id() as usize % 8);
    let mut child = spawn(&["batch", "src", "dst", "--report", "first.jsonl", "-j", "2"], dir.path());
    let first = dir.path().join("first.jsonl");
    let until = Instant::now() + Duration::from_secs(120);
    while report(&first).len() < kill_after {
        assert!(Instant::now() < until, "the batch made no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let done_first = report(&first).len();
    assert_complete(&dst, 3.0);

    let o = audioproc(&["batch", "src", "dst", "--report", "second.jsonl", "-j", "2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = report(&dir.path().join("second.jsonl"));
    assert_eq!(lines.len(), 40);
    assert!(
        count(&lines, "skipped") >= done_first,
        "{} skipped, {done_first} done before the kill",
        count(&lines, "skipped")
    );
    assert_eq!(count(&lines, "ok") + count(&lines, "skipped"), 40);
    let expected: BTreeSet<String> = good.iter().flat_map(|g| [out_name(g), format!("{}.json", out_name(g))]).collect();
    assert_eq!(tree(&dst), expected, "every output exactly once, no temporary files left");
    assert_complete(&dst, 3.0);
}

#[test]
fn sigterm_stops_cleanly_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    good_tree(&src, 60, 3.0);
    let mut child =
        spawn(&["batch", "src", "dst", "--report", "run.jsonl", "-j", "2", "--grace", "20", "--json"], dir.path());
    let path = dir.path().join("run.jsonl");
    let until = Instant::now() + Duration::from_secs(120);
    while report(&path).len() < 3 {
        assert!(Instant::now() < until, "the batch made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(signalled.elapsed() < Duration::from_secs(25), "did not stop within the grace period");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["interrupted"], "SIGTERM");
    let lines = report(&path);
    assert!(lines.len() < 60, "stopped early");
    assert_eq!(count(&lines, "ok"), lines.len(), "files in flight finish within the grace period");
    assert_eq!(summary["ok"].as_u64(), Some(lines.len() as u64));
    let outputs = tree(&dst);
    assert_eq!(outputs.len(), 2 * lines.len(), "exactly the reported outputs and their reports: {outputs:?}");
    assert_complete(&dst, 3.0);
}

#[test]
fn s3_batches_match_the_lambda_job_and_hostile_keys_never_leave_the_destination() {
    let s3 = S3::new(&MotoServer::shared().endpoint());
    let b = bucket("batch");
    s3.create_bucket(&b);
    let track = wav(2.0, 31);
    for k in ["lib/a.wav", "lib/sub/b.wav", "lib/caf\u{e9} & co.wav"] {
        s3.put(&b, k, track.clone());
    }
    let hostile = ["lib/../escape.wav", "lib/x/../../up.wav", "lib//rooted.wav", "lib/./dot.wav", "lib/ctl\u{1}.wav"];
    for k in hostile {
        s3.put(&b, k, track.clone());
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("sandbox")).unwrap();
    let sandbox = root.join("sandbox");

    // S3 → local: hostile keys are reported, nothing lands outside the destination.
    let o = audioproc(&["batch", &format!("s3://{b}/lib/"), "out", "--report", "../r.jsonl"], &sandbox);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines = report(&root.join("r.jsonl"));
    let listed: Vec<&str> = lines.iter().map(|l| l["source"].as_str().unwrap()).collect();
    assert_eq!(count(&lines, "ok"), 3, "{lines:?}");
    assert_eq!(count(&lines, "failed"), lines.len() - 3, "{listed:?}");
    let mut files = tree(root);
    files.remove("r.jsonl");
    let expected: BTreeSet<String> = ["a", "sub/b", "caf\u{e9} & co"]
        .iter()
        .flat_map(|n| [format!("sandbox/out/{n}.flac"), format!("sandbox/out/{n}.flac.json")])
        .collect();
    assert_eq!(files, expected);

    // S3 → S3 gives the bytes the Lambda function's job gives for the same object and spec.
    let o =
        audioproc(&["batch", &format!("s3://{b}/lib/"), &format!("s3://{b}/batch-out/"), "--include", "sub/*"], root);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = audioproc(&["process", &format!("s3://{b}/lib/sub/b.wav"), "-o", &format!("s3://{b}/single/b.flac")], root);
    assert!(o.status.success(), "{}", stderr(&o));
    let batch = s3.get(&b, "batch-out/sub/b.flac").expect("batch output");
    assert!(batch == s3.get(&b, "single/b.flac").unwrap(), "batch and the S3 job differ");
    let head = s3.head(&b, "batch-out/sub/b.flac").unwrap();
    assert_eq!(
        head.metadata().unwrap()["audioproc-source-etag"],
        s3.head(&b, "lib/sub/b.wav").unwrap().e_tag().unwrap()
    );
    assert!(s3.get(&b, "batch-out/sub/b.flac.json").is_some());
    // Run again: skipped by the metadata.
    let o = audioproc(
        &["batch", &format!("s3://{b}/lib/"), &format!("s3://{b}/batch-out/"), "--include", "sub/*", "--json"],
        root,
    );
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["skipped"], 1, "{summary}");

    // local → S3, and --shard splits without overlap.
    let src = root.join("src");
    good_tree(&src, 12, 1.0);
    let mut seen = 0;
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let o = audioproc(&["batch", "src", &format!("s3://{b}/sharded/"), "--shard", &shard, "--json"], root);
        assert!(o.status.success(), "{}", stderr(&o));
        let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
        seen += summary["ok"].as_u64().unwrap();
    }
    assert_eq!(seen, 12);
    let keys: Vec<String> =
        s3.keys(&b).into_iter().filter(|k| k.starts_with("sharded/") && k.ends_with(".flac")).collect();
    assert_eq!(keys.len(), 12, "{keys:?}");
}
