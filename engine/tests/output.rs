//! `audioproc_engine::output`: placing a finished file never clobbers with `Never`, only ever
//! replaces a regular file with `Replace` (never a FIFO, a device or a symbolic link), and a
//! replaced file's owner and permission bits survive.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use audioproc_engine::output::{Overwrite, check_target, create_new_file, place};
use audioproc_engine::{Error, OutputFormat, Preset, ProcessOptions, ProcessingSpec, Threads, process_file_with};
use audioproc_testdata::signal::tonal;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").mode() & 0o7777
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
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
fn replace_refuses_a_fifo_and_a_symlink_and_leaves_them_unchanged() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let from = d.join("new.wav");
    write(&from, b"new", 0o644);
    let fifo = d.join("fifo.wav");
    mkfifo(&fifo);
    let target = d.join("target.wav");
    write(&target, b"pointed at", 0o644);
    let link = d.join("link.wav");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");

    for (to, kind) in [(&fifo, "a FIFO (named pipe)"), (&link, "a symbolic link")] {
        let err = place(&from, to, Overwrite::Replace).expect_err("refused");
        assert!(matches!(&err, Error::NotARegularFile { kind: k, .. } if *k == kind), "{err:?}");
        assert!(err.to_string().ends_with(&format!("is {kind}; only a regular file can be replaced")), "{err}");
        assert_eq!(std::fs::read(&from).expect("from is still there"), b"new");
    }
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo());
    assert_eq!(std::fs::read_link(&link).expect("still a link"), target);
    assert_eq!(std::fs::read(&target).expect("target"), b"pointed at");
    // A directory, too.
    let sub = d.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    assert!(matches!(place(&from, &sub, Overwrite::Replace), Err(Error::NotARegularFile { kind: "a directory", .. })));
    // `/dev/null` is only examined here: check_target never changes anything.
    let err = check_target(Path::new("/dev/null"), Overwrite::Replace).expect_err("a device");
    assert!(err.to_string().contains("is a character device; only a regular file can be replaced"), "{err}");
}

#[test]
fn processing_with_replace_onto_a_fifo_is_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav(&tonal(44_100, 2, 2.0, 0.01), Encoding::Pcm16, WavOptions::default())).expect("write");
    let fifo = dir.path().join("out.wav");
    mkfifo(&fifo);
    let quiet = |_| {};
    let options =
        ProcessOptions { overwrite: Overwrite::Replace, threads: Threads::Single, progress: &quiet, cancel: None };
    let err = process_file_with(&input, &fifo, &ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav), &options)
        .expect_err("a FIFO is not replaced");
    assert!(matches!(err, Error::NotARegularFile { .. }), "{err:?}");
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo());
    assert_eq!(names(dir.path()), ["in.wav", "out.wav"]);
}

#[test]
fn replace_keeps_the_replaced_files_mode_0600() {
    let dir = tempfile::tempdir().expect("tmp");
    let (from, to) = (dir.path().join("new"), dir.path().join("old"));
    write(&from, b"new", 0o644);
    write(&to, b"old", 0o600);
    place(&from, &to, Overwrite::Replace).expect("replaced");
    assert_eq!(std::fs::read(&to).expect("read"), b"new");
    assert_eq!(mode(&to), 0o600, "the private file stays private");
    assert!(!from.exists());
    // And the other way round: a 0600 temporary file replacing a 0640 file gets 0640.
    write(&from, b"newer", 0o600);
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    place(&from, &to, Overwrite::Replace).expect("replaced");
    assert_eq!((std::fs::read(&to).expect("read"), mode(&to)), (b"newer".to_vec(), 0o640));
}

#[test]
fn replace_keeps_the_replaced_files_owner_and_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let (from, to) = (dir.path().join("new"), dir.path().join("old"));
    write(&from, b"new", 0o644);
    write(&to, b"old", 0o644);
    if std::fs::metadata(&from).expect("stat").uid() != 0 {
        eprintln!("not root: a file cannot be given to another user here; skipped");
        return;
    }
    std::os::unix::fs::chown(&to, Some(4321), Some(4322)).expect("chown as root");
    place(&from, &to, Overwrite::Replace).expect("replaced");
    let meta = std::fs::metadata(&to).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    assert_eq!(std::fs::read(&to).expect("read"), b"new");
}

#[test]
fn never_refuses_an_existing_file_and_a_dangling_symlink() {
    let dir = tempfile::tempdir().expect("tmp");
    let (from, to) = (dir.path().join("new"), dir.path().join("old"));
    write(&from, b"new", 0o644);
    write(&to, b"old", 0o644);
    assert!(matches!(place(&from, &to, Overwrite::Never), Err(Error::OutputExists { .. })));
    assert!(matches!(check_target(&to, Overwrite::Never), Err(Error::OutputExists { .. })));
    assert_eq!(
        (std::fs::read(&from).expect("from"), std::fs::read(&to).expect("to")),
        (b"new".to_vec(), b"old".to_vec())
    );
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
    assert!(matches!(place(&from, &dangling, Overwrite::Never), Err(Error::OutputExists { .. })));
    assert!(!dir.path().join("nowhere").exists(), "nothing written through the link");
    // Nothing there: placed, and `from` is gone.
    let fresh = dir.path().join("fresh");
    place(&from, &fresh, Overwrite::Never).expect("placed");
    assert_eq!(std::fs::read(&fresh).expect("fresh"), b"new");
    assert!(!from.exists());
}

#[test]
fn a_new_file_gets_the_users_default_mode_not_0600() {
    let dir = tempfile::tempdir().expect("tmp");
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).expect("create");
    let (_, temp) = create_new_file(dir.path(), "out.wav".as_ref(), ".wav").expect("temp");
    assert_eq!(mode(&temp), mode(&reference), "0666 & !umask, as any new file");
    let to = dir.path().join("out.wav");
    place(&temp, &to, Overwrite::Never).expect("placed");
    assert_eq!(mode(&to), mode(&reference));
}

#[test]
fn an_output_name_of_255_bytes_processes_and_leaves_no_temporary_file() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav(&tonal(44_100, 2, 2.0, 0.01), Encoding::Pcm16, WavOptions::default())).expect("write");
    let quiet = |_| {};
    let options =
        ProcessOptions { overwrite: Overwrite::Never, threads: Threads::Single, progress: &quiet, cancel: None };
    let ascii = format!("{}.wav", "a".repeat(251));
    let mut not_utf8 = vec![0xffu8; 251];
    not_utf8.extend_from_slice(b".wav");
    for name in [OsStr::new(&ascii), OsStr::from_bytes(&not_utf8)] {
        assert_eq!(name.len(), 255);
        let output = dir.path().join(name);
        process_file_with(&input, &output, &ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav), &options)
            .unwrap_or_else(|e| panic!("{} bytes: {e}", name.len()));
        assert!(audioproc_engine::analyze_path(&output, &Default::default()).is_ok());
        let left = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(left, 2, "the input and the output, no temporary file");
        std::fs::remove_file(&output).expect("rm");
    }
}

#[test]
fn temporary_names_stay_within_255_bytes_and_keep_utf8_names_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("tmp");
    let accented = format!("{}.flac", "é".repeat(125));
    let (_, a) = create_new_file(dir.path(), accented.as_ref(), ".flac").expect("created");
    let (_, b) = create_new_file(dir.path(), accented.as_ref(), ".flac").expect("created");
    assert_ne!(a, b, "unique");
    for p in [&a, &b] {
        let name = p.file_name().expect("name");
        assert!(name.len() <= 255, "{} bytes", name.len());
        assert!(name.to_str().is_some_and(|n| n.starts_with(".éé") && n.ends_with(".partial.flac")), "{name:?}");
    }
    let (_, c) = create_new_file(dir.path(), "x/y".as_ref(), ".wav").expect("a slash in the hint");
    assert_eq!(c.parent(), Some(dir.path()));
    let (_, d) = create_new_file(dir.path(), "x".as_ref(), &".e".repeat(100)).expect("a long suffix is left out");
    assert!(d.file_name().expect("name").as_bytes().ends_with(b".partial"));
}
