//! Safe placing of a finished output file: [`place`] moves it under its final name in one step
//! (no reader ever sees a partial file), [`Overwrite::Never`] never clobbers anything, and
//! [`Overwrite::Replace`] only ever replaces a regular file, whose owner and permission bits the
//! new file takes over. [`create_new_file`] makes the temporary file to write first.
//!
//! Front ends that stage outputs themselves (the S3 glue) use these too, so there is one copy of
//! the rules.

use std::ffi::{OsStr, OsString};
use std::fs::{File, FileType, Metadata, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Whether an existing output may be replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overwrite {
    /// Refuse when the output exists ([`crate::Error::OutputExists`]).
    #[default]
    Never,
    /// Replace it (atomically, by rename) if it is a regular file.
    Replace,
}

/// Checks, before any work, that [`place`] could put a file at `to`: with [`Overwrite::Never`]
/// nothing may be there (not even a dangling symbolic link), with [`Overwrite::Replace`] only a
/// regular file. [`place`] checks again at the end; this only fails early.
///
/// # Errors
/// [`Error::OutputExists`], [`Error::NotARegularFile`], [`Error::Io`] when `to` cannot be
/// examined.
pub fn check_target(to: &Path, overwrite: Overwrite) -> Result<()> {
    match (existing(to)?, overwrite) {
        (None, _) => Ok(()),
        (Some(_), Overwrite::Never) => Err(Error::OutputExists { path: to.to_path_buf() }),
        (Some(meta), Overwrite::Replace) => regular_file(to, &meta),
    }
}

/// The directory a file at `path` is in: its parent, or `.` for a bare file name.
pub fn directory_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Moves the finished file `from` to `to` (in the same directory, or at least on the same file
/// system), then syncs `to`'s directory so the new name is durable.
///
/// - [`Overwrite::Never`]: a hard link, which fails atomically if anything is at `to`; then
///   `from` is removed. On file systems without hard links: check, then rename (a file created
///   between the two would be replaced; nothing better exists there).
/// - [`Overwrite::Replace`]: only a regular file is replaced (examined with `symlink_metadata`,
///   so a symbolic link is not followed, and a FIFO, a device such as `/dev/null`, a socket or a
///   directory is refused). The new file first takes over the old one's owner and group (when
///   the process may: a user who is not root cannot give a file away, and then keeps it, with
///   the group when it is one of theirs) and its permission bits (`rwx` for user, group and
///   others; set-id and sticky bits are not carried), then is renamed over it.
/// - A new file (nothing at `to`) keeps `from`'s mode: create `from` with [`create_new_file`]
///   to get the mode any new file of the user has (`0666 & !umask`).
///
/// # Errors
/// [`Error::OutputExists`] (`Never`, something is at `to`); [`Error::NotARegularFile`]
/// (`Replace`, `to` is not a regular file: it is left as it was); [`Error::Io`].
pub fn place(from: &Path, to: &Path, overwrite: Overwrite) -> Result<()> {
    match overwrite {
        Overwrite::Never => place_new(from, to)?,
        Overwrite::Replace => {
            if let Some(old) = existing(to)? {
                regular_file(to, &old)?;
                take_over_owner_and_mode(from, &old)?;
            }
            std::fs::rename(from, to)?;
        }
    }
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename durable where the platform allows syncing a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The longest file name Linux file systems take, bytes.
const NAME_MAX: usize = 255;
/// A longer suffix is left out of a temporary name.
const MAX_SUFFIX: usize = 32;

/// Creates a new, empty file in `dir` with a name no other file has, from `name_hint` (e.g. the
/// output's file name: any bytes, `/` and NUL become `_`), this process's id, a counter and
/// `suffix` (e.g. `".wav"`; one over 32 bytes is left out):
/// `.{name_hint}.audioproc-{pid}-{n}.partial{suffix}`. The hint is shortened (on a character
/// boundary when it is UTF-8) so that the name stays within 255 bytes; the pid and counter keep
/// it unique. The file gets the mode any new file of the user gets (`0666 & !umask`), unlike
/// `tempfile`'s `0600`, so that [`place`] gives a new output the usual permissions.
///
/// # Errors
/// [`Error::Io`] when `dir` is missing or not writable.
pub fn create_new_file(dir: &Path, name_hint: &OsStr, suffix: &str) -> Result<(File, PathBuf)> {
    if !dir.is_dir() {
        return Err(Error::Io(std::io::Error::new(
            ErrorKind::NotFound,
            format!("output directory {} does not exist", dir.display()),
        )));
    }
    let suffix = if suffix.len() <= MAX_SUFFIX { suffix } else { "" };
    // Unique per process and call; `create_new` refuses to reuse a name.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(temp_name(name_hint, &format!(".audioproc-{}-{n}.partial{suffix}", std::process::id())));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot write in {}: {e}", dir.display()),
                )));
            }
        }
    }
    Err(Error::Io(std::io::Error::other("could not find a free temporary file name")))
}

/// `.{hint}{tail}`, the hint shortened so that the whole is at most [`NAME_MAX`] bytes.
fn temp_name(hint: &OsStr, tail: &str) -> OsString {
    let room = NAME_MAX.saturating_sub(1 + tail.len());
    let bytes = hint.as_bytes();
    let cut = match hint.to_str() {
        // Keep a UTF-8 name UTF-8: cut on a character boundary.
        Some(text) => (0..=room.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0),
        None => room.min(bytes.len()),
    };
    let mut name = Vec::with_capacity(1 + cut + tail.len());
    name.push(b'.');
    name.extend(bytes[..cut].iter().map(|&b| if b == b'/' || b == 0 { b'_' } else { b }));
    name.extend_from_slice(tail.as_bytes());
    OsString::from_vec(name)
}

/// `Never`: link (atomic no-clobber), or check-then-rename where links are not supported.
fn place_new(from: &Path, to: &Path) -> Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(Error::OutputExists { path: to.to_path_buf() }),
        // File systems without hard links: check, then rename.
        Err(_) if existing(to)?.is_none() => Ok(std::fs::rename(from, to)?),
        Err(_) => Err(Error::OutputExists { path: to.to_path_buf() }),
    }
}

/// What is at `path` itself (a symbolic link is not followed), if anything.
fn existing(path: &Path) -> Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(e)),
    }
}

/// [`Error::NotARegularFile`] unless `meta` (of `path`) is a regular file's.
fn regular_file(path: &Path, meta: &Metadata) -> Result<()> {
    match kind_of(meta.file_type()) {
        None => Ok(()),
        Some(kind) => Err(Error::NotARegularFile { path: path.to_path_buf(), kind }),
    }
}

/// What a file that is not a regular file is, in words; `None` for a regular file.
fn kind_of(t: FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    Some(if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    })
}

/// Gives `from` the owner, group and permission bits of `old` (the file it replaces). A change
/// of owner the process is not allowed to make is skipped: the file stays the process user's
/// (with `old`'s group if that user may set it), and still gets `old`'s permission bits.
fn take_over_owner_and_mode(from: &Path, old: &Metadata) -> Result<()> {
    let new = std::fs::metadata(from)?;
    if (new.uid(), new.gid()) != (old.uid(), old.gid())
        && std::os::unix::fs::chown(from, Some(old.uid()), Some(old.gid())).is_err()
        && new.gid() != old.gid()
    {
        // Not root: the owner cannot be given away, but the group can be one of ours.
        let _ = std::os::unix::fs::chown(from, None, Some(old.gid()));
    }
    std::fs::set_permissions(from, Permissions::from_mode(old.mode() & 0o777))?;
    Ok(())
}
