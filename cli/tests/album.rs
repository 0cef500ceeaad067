//! Album mode and `audioproc tag`: the real binary on generated files, in a temp dir per test.
//! The figures are checked against loudgain (libebur128), tags are read back with lofty and
//! `metaflac`, and the audio of a tagged file is proved untouched (decoded samples, and the
//! audio frames' bytes).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use audioproc_engine::replaygain::{TagFormat, read_fields};
use audioproc_engine::{Decoder, Limits};
use audioproc_testdata::Signal;
use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::{Encoding, WavOptions, flac, wav};
use serde_json::Value;

fn audioproc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_audioproc")).args(args).current_dir(dir).output().expect("runs")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Three tracks at clearly different levels.
fn tracks(rate: u32, seconds: f64) -> Vec<Signal> {
    [(0.0, 1), (-7.0, 2), (-13.0, 3)]
        .into_iter()
        .map(|(db, seed)| {
            let mut s = programme(rate, 2, seconds, seed);
            s.gain_db(db);
            s
        })
        .collect()
}

fn decoded(path: &Path) -> Vec<Vec<f32>> {
    let mut d = Decoder::open_path(path, &Limits::default()).unwrap();
    let mut planes = vec![Vec::new(); d.info().channels()];
    while let Some(block) = d.next_block().unwrap() {
        planes.iter_mut().zip(block).for_each(|(p, b)| p.extend_from_slice(b));
    }
    planes
}

/// The bytes after a FLAC file's metadata blocks: its audio frames.
fn flac_frames(bytes: &[u8]) -> &[u8] {
    let mut at = 4;
    loop {
        let last = bytes[at] & 0x80 != 0;
        let len = u32::from_be_bytes([0, bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        at += 4 + len;
        if last {
            return &bytes[at..];
        }
    }
}

/// The bytes after an MP3 file's ID3v2 tag (if any): its frames.
fn mp3_frames(bytes: &[u8]) -> &[u8] {
    if bytes.starts_with(b"ID3") {
        let size = bytes[6..10].iter().fold(0usize, |s, b| (s << 7) | usize::from(b & 0x7f));
        &bytes[10 + size..]
    } else {
        bytes
    }
}

/// Runs `batch src out --album --album-by BY` in `dir` and returns its report's lines.
fn batch_album(dir: &Path, by: &str) -> Vec<Value> {
    let o = audioproc(
        &["batch", "src", "out", "--album", "--album-by", by, "--json", "--report", "r.jsonl", "--force"],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(dir.join("r.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The report line of the source ending in `name`.
fn line_of<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines.iter().find(|l| l["source"].as_str().unwrap().ends_with(name)).unwrap()
}

fn metaflac(path: &Path, name: &str) -> Option<String> {
    let out = Command::new("metaflac").arg(format!("--show-tag={name}")).arg(path).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().next().and_then(|l| l.split_once('=')).map(|(_, v)| v.to_owned())
}

fn gain(v: &str) -> f64 {
    v.trim_end_matches(" dB").parse().unwrap()
}

/// loudgain's `-O` table: (file name, gain dB), the album's row named "Album".
fn loudgain(files: &[PathBuf]) -> Vec<(String, f64)> {
    let out = Command::new("loudgain")
        .args(["-q", "-a", "-O", "-s", "s"])
        .args(files)
        .output()
        .expect("loudgain is this test's reference (scripts/test.sh installs it)");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let name = Path::new(c[0]).file_name().unwrap().to_string_lossy().into_owned();
            (name, gain(c[8]))
        })
        .collect()
}

#[test]
fn tag_album_gains_agree_with_loudgain_and_read_back_with_metaflac_and_lofty() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = tracks(44_100, 20.0)
        .iter()
        .enumerate()
        .map(|(i, s)| put(dir.path(), &format!("{i}.flac"), &flac(s, 16)))
        .collect();
    let theirs = loudgain(&files);
    let o = audioproc(&["tag", "--album", "--json", "."], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc = json(&o);
    assert_eq!(doc["schema"], "audioproc.tag/1");
    assert!(doc["files"].as_array().unwrap().iter().all(|f| f["status"] == "written"), "{doc}");
    let album = theirs.iter().find(|(n, _)| n == "Album").unwrap().1;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let lg = theirs.iter().find(|(n, _)| *n == name).unwrap().1;
        let read = read_fields(
            f,
            TagFormat::Flac,
            &["REPLAYGAIN_TRACK_GAIN", "REPLAYGAIN_ALBUM_GAIN", "REPLAYGAIN_TRACK_PEAK"],
        )
        .unwrap();
        let (track, alb) = (gain(read[0].as_deref().unwrap()), gain(read[1].as_deref().unwrap()));
        assert!((track - lg).abs() <= 0.05, "{name}: track {track} vs loudgain {lg}");
        assert!((alb - album).abs() <= 0.05, "{name}: album {alb} vs loudgain {album}");
        assert!(read[2].as_deref().unwrap().parse::<f64>().unwrap() > 0.0);
        if let Some(v) = metaflac(f, "REPLAYGAIN_TRACK_GAIN") {
            assert_eq!(v, read[0].clone().unwrap(), "metaflac reads what lofty reads");
            assert_eq!(metaflac(f, "REPLAYGAIN_ALBUM_GAIN"), read[1].clone());
        }
    }
}

#[test]
fn tag_leaves_the_audio_alone_skips_what_is_done_and_never_touches_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let sigs = tracks(48_000, 8.0);
    put(dir.path(), "a.flac", &flac(&sigs[0], 24));
    put(dir.path(), "src.wav", &wav(&sigs[1], Encoding::Pcm16, WavOptions::default()));
    for out in ["b.mp3", "c.opus"] {
        let o = audioproc(&["process", "src.wav", "-o", out], dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::remove_file(dir.path().join("src.wav")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures");
    for f in ["programme.ogg", "programme.m4a"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let mut truncated = flac(&sigs[2], 16);
    truncated.truncate(truncated.len() / 2);
    let broken = put(dir.path(), "broken/z.flac", &truncated);
    let names = ["a.flac", "b.mp3", "c.opus", "programme.ogg", "programme.m4a"];
    let before: Vec<(Vec<u8>, Vec<Vec<f32>>)> =
        names.iter().map(|n| (std::fs::read(dir.path().join(n)).unwrap(), decoded(&dir.path().join(n)))).collect();

    let o = audioproc(&["tag", "--json", "."], dir.path());
    assert_eq!(o.status.code(), Some(1), "the damaged file fails the run");
    let doc = json(&o);
    let status = |doc: &Value, name: &str| {
        doc["files"].as_array().unwrap().iter().find(|f| f["path"].as_str().unwrap().ends_with(name)).unwrap()["status"]
            .clone()
    };
    for n in names {
        assert_eq!(status(&doc, n), "written", "{doc}");
    }
    assert_eq!(status(&doc, "z.flac"), "failed");
    assert_eq!(std::fs::read(&broken).unwrap(), truncated, "a damaged file stays as it was");
    for (n, (bytes, samples)) in names.iter().zip(&before) {
        let path = dir.path().join(n);
        assert_eq!(&decoded(&path), samples, "{n}: decoded samples changed");
        let after = std::fs::read(&path).unwrap();
        assert_ne!(&after, bytes, "{n}: tags were written");
        match *n {
            "a.flac" => assert_eq!(flac_frames(&after), flac_frames(bytes), "FLAC frames changed"),
            "b.mp3" => assert_eq!(mp3_frames(&after), mp3_frames(bytes), "MP3 frames changed"),
            _ => {}
        }
    }
    let opus = read_fields(&dir.path().join("c.opus"), TagFormat::Opus, &["R128_TRACK_GAIN", "REPLAYGAIN_TRACK_GAIN"])
        .unwrap();
    assert!(opus[0].as_deref().unwrap().parse::<i32>().is_ok(), "{opus:?}");
    assert_eq!(opus[1], None, "RFC 7845: no REPLAYGAIN_* in Opus");
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));

    // Again: nothing to do; --dry-run writes nothing; --force writes again.
    let mtime = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().modified().unwrap();
    let stamp = mtime("a.flac");
    let again = json(&audioproc(&["tag", "--json", "--exclude", "broken/**", "."], dir.path()));
    assert!(names.iter().all(|n| status(&again, n) == "skipped"), "{again}");
    assert_eq!(mtime("a.flac"), stamp);
    let dry = json(&audioproc(&["tag", "--album", "--dry-run", "--json", "a.flac"], dir.path()));
    assert_eq!(status(&dry, "a.flac"), "planned");
    assert_eq!(read_fields(&dir.path().join("a.flac"), TagFormat::Flac, &["REPLAYGAIN_ALBUM_GAIN"]).unwrap(), [None]);
    let forced = audioproc(&["tag", "--force", "a.flac"], dir.path());
    assert!(forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stdout).contains("a.flac: tagged: REPLAYGAIN_TRACK_GAIN="));
}

#[test]
fn everyday_album_gives_every_track_one_gain_and_keeps_their_relative_loudness() {
    let dir = tempfile::tempdir().unwrap();
    for (i, s) in tracks(44_100, 12.0).iter().enumerate() {
        put(dir.path(), &format!("{i}.wav"), &wav(s, Encoding::Pcm24, WavOptions::default()));
    }
    let o = audioproc(&["--album", "--json", "0.wav", "1.wav", "2.wav"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let docs = json_lines(&o);
    assert_eq!(docs.len(), 3);
    let album_gain = docs[0]["album"]["gain_db"].as_f64().unwrap();
    assert_eq!(docs[0]["album"]["tracks"], 3);
    for d in &docs {
        assert_eq!(d["gain_db"].as_f64(), Some(album_gain), "{d}");
        let (i, o) =
            (d["input"]["integrated_lufs"].as_f64().unwrap(), d["output"]["integrated_lufs"].as_f64().unwrap());
        assert!((o - i - album_gain).abs() < 0.01, "{d}");
    }
    // Without --album the documents have no album key (reports unchanged).
    let o = audioproc(&["--json", "--force", "0.wav"], dir.path());
    assert!(json_lines(&o)[0].get("album").is_none());
}

#[test]
fn batch_album_by_directory_gives_each_directory_its_own_gain_and_reruns_skip() {
    let dir = tempfile::tempdir().unwrap();
    let sigs = tracks(44_100, 10.0);
    for (i, s) in sigs.iter().enumerate() {
        put(dir.path(), &format!("src/one/{i}.wav"), &wav(s, Encoding::Pcm16, WavOptions::default()));
    }
    put(dir.path(), "src/two/x.wav", &wav(&sigs[2], Encoding::Pcm16, WavOptions::default()));
    let lines = batch_album(dir.path(), "dir");
    let gain_of = |name: &str| line_of(&lines, name)["gain_db"].as_f64().unwrap();
    assert_eq!(gain_of("one/0.wav"), gain_of("one/2.wav"));
    assert_eq!(gain_of("one/1.wav"), gain_of("one/2.wav"));
    assert!((gain_of("two/x.wav") - gain_of("one/2.wav")).abs() > 1.0, "two is an album of its own");
    let sidecar = std::fs::read_to_string(dir.path().join("out/one/0.flac.json")).unwrap();
    assert!(sidecar.contains("album_gain="), "the album's gain is part of the recorded settings");
    std::fs::remove_file(dir.path().join("r.jsonl")).unwrap();
    let again = audioproc(&["batch", "src", "out", "--album", "--json"], dir.path());
    assert!(again.status.success());
    assert_eq!(json(&again)["skipped"], 4, "{}", String::from_utf8_lossy(&again.stdout));
}

/// `--album-by tag`: files sharing `ALBUM` + `ALBUMARTIST` are one album wherever they are; the
/// same album title by another artist is another album; a file without an album tag goes alone.
#[test]
fn batch_album_by_tag_groups_by_album_and_album_artist_across_directories() {
    let dir = tempfile::tempdir().unwrap();
    let sigs = tracks(44_100, 10.0);
    let files = [
        ("src/cd1/a.flac", &sigs[0], Some(("Blue", "Ann"))),
        ("src/cd2/b.flac", &sigs[1], Some(("Blue", "Ann"))),
        ("src/cd2/c.flac", &sigs[2], Some(("Blue", "Bob"))),
        ("src/cd1/d.flac", &sigs[1], Some(("Blue", "Bob"))),
        ("src/cd1/e.flac", &sigs[2], None),
    ];
    for (name, sig, tags) in files {
        let path = put(dir.path(), name, &flac(sig, 16));
        if let Some((album, artist)) = tags {
            let ok = Command::new("metaflac")
                .args([format!("--set-tag=ALBUM={album}"), format!("--set-tag=ALBUMARTIST={artist}")])
                .arg(&path)
                .status()
                .expect("metaflac (scripts/test.sh installs flac)");
            assert!(ok.success());
        }
    }
    let lines = batch_album(dir.path(), "tag");
    let line = |name: &str| line_of(&lines, name);
    let gain_of = |name: &str| line(name)["gain_db"].as_f64().unwrap();
    assert_eq!(gain_of("cd1/a.flac"), gain_of("cd2/b.flac"), "Ann's Blue spans two directories");
    assert_eq!(gain_of("cd2/c.flac"), gain_of("cd1/d.flac"), "Bob's Blue spans two directories");
    assert!((gain_of("cd1/a.flac") - gain_of("cd2/c.flac")).abs() > 1.0, "same title, other artist: {lines:?}");
    // Ann's album is led by the loud track a, Bob's by the quieter d: each album's gain sits
    // between its own tracks' gains, and the untagged file gets its own track gain.
    let track_gain = |name: &str| -23.0 - line(name)["input_lufs"].as_f64().unwrap();
    for (name, other) in [("cd1/a.flac", "cd2/b.flac"), ("cd2/c.flac", "cd1/d.flac")] {
        let (lo, hi) = (track_gain(name).min(track_gain(other)), track_gain(name).max(track_gain(other)));
        assert!(gain_of(name) > lo + 0.5 && gain_of(name) < hi - 0.5, "{name}: {lo} < {} < {hi}", gain_of(name));
    }
    assert!((gain_of("cd1/e.flac") - track_gain("cd1/e.flac")).abs() < 0.05, "untagged: track mode");
}
