//! A local directory as an [`ObjectStore`]: keys are `/`-separated paths under its root.
//!
//! Outputs are written into a private staging directory under the root
//! (`.audioproc-tmp-<pid>-<n>`, short names whatever the key, removed when the store is dropped
//! and swept by the next store on the same root if the process died) and renamed into place, so
//! a file under the root is always complete. Keys that could leave the root (`..`, `.`, empty
//! segments, control characters, absolute paths) are refused.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use audioproc_engine::Error as EngineError;
use audioproc_engine::output::{self, Overwrite};

use super::{BoxFuture, Cancel, Clobber, Fetched, ObjectInfo, ObjectStore, PutOptions};
use crate::error::S3Error;

/// Prefix of the staging directories of local stores.
pub const STAGING_PREFIX: &str = ".audioproc-tmp-";

/// A directory of files.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    /// The staging directory, made on first use.
    staging: Mutex<Option<PathBuf>>,
    /// One file of the root whose name is not UTF-8, under the UTF-8 key that stands for it.
    alias: Option<(String, std::ffi::OsString)>,
}

impl LocalStore {
    /// The directory `root` (which need not exist yet: publishing creates what it needs).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into(), staging: Mutex::new(None), alias: None }
    }

    /// The directory of `path`, and the key that names `path` in it. A file name that is not
    /// UTF-8 gets a UTF-8 key (its lossy form) that stands for its exact bytes in this store,
    /// so such a file can be read and written without being confused with another.
    ///
    /// # Errors
    /// `path` has no file name.
    pub fn for_file(path: &Path) -> Result<(Self, String), S3Error> {
        let name =
            path.file_name().ok_or_else(|| S3Error::permanent(format!("{}: not a file name", path.display())))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut store = LocalStore::new(dir);
        let key = match name.to_str() {
            Some(k) => k.to_owned(),
            None => {
                let key = name.to_string_lossy().into_owned();
                store.alias = Some((key.clone(), name.to_owned()));
                key
            }
        };
        Ok((store, key))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `key`, refusing keys that could name anything outside the root.
    ///
    /// # Errors
    /// A permanent error naming the key.
    pub fn path(&self, key: &str) -> Result<PathBuf, S3Error> {
        if let Some((alias, name)) = &self.alias
            && alias == key
        {
            return Ok(self.root.join(name));
        }
        let bad_segment = key.split('/').any(|c| c.is_empty() || c == "." || c == "..");
        let rel = Path::new(key);
        if bad_segment
            || key.chars().any(char::is_control)
            || !rel.components().all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(S3Error::permanent(format!(
                "{key:?} cannot be a path under {} (empty, '.', '..' or control characters)",
                self.root.display()
            )));
        }
        Ok(self.root.join(rel))
    }

    /// The staging directory, made (and stale ones of dead processes swept) on first use.
    fn staging_dir(&self) -> Result<PathBuf, S3Error> {
        let mut staging = self.staging.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = staging.as_ref() {
            return Ok(dir.clone());
        }
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = if self.root.as_os_str().is_empty() { Path::new(".") } else { &self.root };
        std::fs::create_dir_all(root).map_err(|e| io_error(&format!("creating {}", root.display()), e))?;
        crate::work_dir::sweep_stale(root, STAGING_PREFIX);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = root.join(format!("{STAGING_PREFIX}{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&format!("creating {}", dir.display()), e))?;
        *staging = Some(dir.clone());
        Ok(dir)
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        if let Some(dir) = self.staging.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn io_error(what: &str, e: std::io::Error) -> S3Error {
    S3Error::retryable(format!("{what}: {e}"))
}

/// The identity of a local file's contents: its size and modification time.
pub fn identity(meta: &std::fs::Metadata) -> String {
    let mtime = meta.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    format!("size={};mtime={mtime}", meta.len())
}

fn head_path(path: &Path) -> Result<Option<ObjectInfo>, S3Error> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(ObjectInfo { etag: identity(&m), size: m.len(), ..ObjectInfo::default() })),
        Ok(_) => Err(S3Error::permanent(format!("{}: not a regular file", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path.display().to_string(), e)),
    }
}

/// Moves `from` to `to` by the engine's rules ([`audioproc_engine::output::place`]): never
/// clobbering under [`Clobber::Never`], replacing only a regular file (keeping its owner and
/// mode) under [`Clobber::Replace`].
fn place(from: &Path, to: &Path, clobber: Clobber) -> Result<(), S3Error> {
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_error(&format!("creating {}", parent.display()), e))?;
    }
    output::place(from, to, overwrite(clobber)).map_err(|e| output_error(to, e))
}

fn overwrite(clobber: Clobber) -> Overwrite {
    match clobber {
        Clobber::Replace => Overwrite::Replace,
        Clobber::Never => Overwrite::Never,
    }
}

/// The engine's refusals are permanent (the same command fails the same way); I/O is not.
fn output_error(to: &Path, e: EngineError) -> S3Error {
    match e {
        EngineError::Io(io) => io_error(&format!("writing {}", to.display()), io),
        other => S3Error::permanent(other.to_string()),
    }
}

/// A new empty file in `dir` with the user's default mode (not a temporary file's 0600: it
/// becomes an output or a report), removed when dropped.
fn new_temp_file(dir: &Path, suffix: &str) -> Result<(std::fs::File, tempfile::TempPath), S3Error> {
    let (file, path) =
        output::create_new_file(dir, std::ffi::OsStr::new("out"), suffix).map_err(|e| output_error(dir, e))?;
    let path = tempfile::TempPath::try_from_path(path)?;
    Ok((file, path))
}

impl ObjectStore for LocalStore {
    fn bucket(&self) -> &str {
        ""
    }

    fn display(&self, key: &str) -> String {
        self.path(key).unwrap_or_else(|_| self.root.join(key)).display().to_string()
    }

    fn check_key(&self, key: &str) -> Result<(), S3Error> {
        self.path(key).map(|_| ())
    }

    fn check_output(&self, key: &str, clobber: Clobber) -> Result<(), S3Error> {
        let path = self.path(key)?;
        output::check_target(&path, overwrite(clobber)).map_err(|e| output_error(&path, e))
    }

    fn head<'a>(
        &'a self,
        key: &'a str,
        _version: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, S3Error>> {
        Box::pin(async move { head_path(&self.path(key)?) })
    }

    fn fetch<'a>(
        &'a self,
        key: &'a str,
        _version: Option<&'a str>,
        expect: &'a str,
        max_bytes: u64,
        _work_dir: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, S3Error>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let info =
                head_path(&path)?.ok_or_else(|| S3Error::permanent(format!("{}: no such file", path.display())))?;
            if info.size > max_bytes {
                return Err(S3Error::permanent(format!(
                    "{} is {} bytes, over the {max_bytes}-byte input limit",
                    path.display(),
                    info.size
                )));
            }
            if !expect.is_empty() && info.etag != expect {
                return Err(S3Error::retryable(format!("{}: changed while being read", path.display())));
            }
            Ok(Fetched::in_place(path))
        })
    }

    fn stage(&self, key: &str, suffix: &str, _work_dir: &Path) -> Result<tempfile::TempPath, S3Error> {
        self.path(key)?;
        let dir = self.staging_dir()?;
        Ok(new_temp_file(&dir, suffix)?.1)
    }

    fn publish<'a>(
        &'a self,
        file: tempfile::TempPath,
        key: &'a str,
        _options: &'a PutOptions,
        clobber: Clobber,
        _cancel: &'a Cancel,
    ) -> BoxFuture<'a, Result<(), S3Error>> {
        Box::pin(async move {
            let to = self.path(key)?;
            place(&file, &to, clobber)?;
            // Renamed away: nothing left for the temporary path to remove.
            let _ = file.keep();
            Ok(())
        })
    }

    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        _content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), S3Error>> {
        Box::pin(async move {
            let to = self.path(key)?;
            let (mut file, tmp) = new_temp_file(&self.staging_dir()?, ".json")?;
            file.write_all(&body)?;
            file.sync_all()?;
            place(&tmp, &to, Clobber::Replace)?;
            // Renamed away: nothing left for the temporary path to remove.
            let _ = tmp.keep();
            Ok(())
        })
    }

    fn get_bytes<'a>(&'a self, key: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>, S3Error>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let Some(info) = head_path(&path)? else { return Ok(None) };
            if info.size > max_bytes {
                return Err(S3Error::permanent(format!("{} is over {max_bytes} bytes", path.display())));
            }
            match std::fs::read(&path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error(&path.display().to_string(), e)),
            }
        })
    }

    fn sha256<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, S3Error>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let shown = path.display().to_string();
            match tokio::task::spawn_blocking(move || crate::digest::sha256_file(&path)).await {
                Ok(Ok((hash, _))) => Ok(Some(hash)),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Ok(Err(e)) => Err(io_error(&shown, e)),
                Err(e) => Err(S3Error::retryable(format!("hashing {shown}: {e}"))),
            }
        })
    }

    fn delete_quietly<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(path) = self.path(key)
                && let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(path = %path.display(), error = %e, "could not delete");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_the_root_are_refused() {
        let store = LocalStore::new("/data/out");
        for bad in ["", "a//b", "../x", "a/../b", "./a", "/etc/passwd", "a/\u{7}b", "a/"] {
            assert!(store.path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(store.path("a/b c.flac").unwrap(), Path::new("/data/out/a/b c.flac"));
    }

    #[tokio::test]
    async fn publish_is_a_rename_and_never_clobbers_when_asked_not_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let cancel = Cancel::new();
        let opts = PutOptions::default();
        for round in 0..2 {
            let staged = store.stage("x/y.flac", ".flac", dir.path()).unwrap();
            std::fs::write(&staged, b"one").unwrap();
            let r = store.publish(staged, "x/y.flac", &opts, Clobber::Never, &cancel).await;
            assert_eq!(r.is_ok(), round == 0, "{r:?}");
        }
        let staged = store.stage("x/y.flac", ".flac", dir.path()).unwrap();
        std::fs::write(&staged, b"two").unwrap();
        store.publish(staged, "x/y.flac", &opts, Clobber::Replace, &cancel).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("x/y.flac")).unwrap(), b"two");
        store.put_bytes("x/y.flac.json", b"{}".to_vec(), "application/json").await.unwrap();
        assert_eq!(store.get_bytes("x/y.flac.json", 10).await.unwrap().unwrap(), b"{}");
        drop(store);
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["x"], "the staging directory is gone");
    }
}
