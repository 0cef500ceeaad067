//! Where objects live: an S3 bucket or a local directory, behind one trait.
//!
//! The job ([`crate::job`]) only speaks [`ObjectStore`]: it asks a store what an object is
//! ([`ObjectStore::head`]), for a local file it can decode ([`ObjectStore::fetch`]: a download on
//! S3, the file itself locally), for a place to write an output ([`ObjectStore::stage`]) and to
//! make that output visible, complete or not at all ([`ObjectStore::publish`]). Keys are
//! `/`-separated on both; a local store refuses keys that could leave its root.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::S3Error;

pub mod local;
pub mod s3;

pub use local::LocalStore;
pub use s3::S3Store;

/// A boxed future, so that [`ObjectStore`] can be used as `dyn ObjectStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a store says about one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    /// What identifies this version of the object: the entity tag (with its quotes) on S3,
    /// `size=N;mtime=NS` for a local file.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Version id, on versioned buckets.
    pub version_id: Option<String>,
    /// User metadata (`x-amz-meta-*`, keys without the prefix, lower case); always empty for a
    /// local file (its sidecar records the same facts).
    pub metadata: HashMap<String, String>,
}

/// What an upload carries besides the bytes.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    /// `Content-Type`.
    pub content_type: String,
    /// User metadata (`x-amz-meta-*`); a local store does not keep it.
    pub metadata: HashMap<String, String>,
}

/// What to do when the object to publish exists already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clobber {
    /// Replace it.
    Replace,
    /// Fail with a permanent error naming it (atomically for a local file; S3 has no cheap
    /// conditional write, so the job checks first).
    Never,
}

/// A stop request shared between a front end and its jobs, in two steps: *stop* (set by a
/// signal: start nothing new, let work in progress finish) and *abort* (the grace period is
/// over: give up transfers in progress, aborting multipart uploads).
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<[AtomicBool; 2]>);

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Start nothing new.
    pub fn stop(&self) {
        self.0[0].store(true, Ordering::SeqCst);
    }

    /// Give up what is in progress too (implies [`Cancel::stop`]).
    pub fn abort(&self) {
        self.stop();
        self.0[1].store(true, Ordering::SeqCst);
    }

    /// Whether [`Cancel::stop`] (or [`Cancel::abort`]) was called.
    pub fn is_stopping(&self) -> bool {
        self.0[0].load(Ordering::SeqCst)
    }

    /// Whether [`Cancel::abort`] was called.
    pub fn is_aborted(&self) -> bool {
        self.0[1].load(Ordering::SeqCst)
    }

    /// The flag [`Cancel::abort`] sets, for the engine to poll (it stops within one block).
    pub fn abort_flag(&self) -> &AtomicBool {
        &self.0[1]
    }
}

/// A local file holding an object's bytes, for as long as this value lives.
#[derive(Debug)]
pub struct Fetched {
    path: PathBuf,
    /// A downloaded copy, removed on drop (`None` when the object is a local file).
    _temp: Option<tempfile::NamedTempFile>,
}

impl Fetched {
    /// The object's own file (a local store).
    pub fn in_place(path: PathBuf) -> Self {
        Fetched { path, _temp: None }
    }

    /// A downloaded copy, removed when this is dropped.
    pub fn downloaded(temp: tempfile::NamedTempFile) -> Self {
        Fetched { path: temp.path().to_owned(), _temp: Some(temp) }
    }

    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A place objects live. Implemented by [`S3Store`] and [`LocalStore`].
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// The bucket name as recorded in reports and metadata (empty for a local directory).
    fn bucket(&self) -> &str;

    /// How `key` is shown to people: `s3://bucket/key`, or the local path.
    fn display(&self, key: &str) -> String;

    /// Whether `key` can name an object here (a local store refuses keys that could leave its
    /// root).
    ///
    /// # Errors
    /// A permanent error naming the key.
    fn check_key(&self, _key: &str) -> Result<(), S3Error> {
        Ok(())
    }

    /// Whether an output could be published as `key` under `clobber` (a local store refuses to
    /// replace anything but a regular file, and anything at all under [`Clobber::Never`]):
    /// checked before the work, so that a refusal costs nothing.
    ///
    /// # Errors
    /// A permanent error saying why not.
    fn check_output(&self, _key: &str, _clobber: Clobber) -> Result<(), S3Error> {
        Ok(())
    }

    /// What the object `key` (optionally one version of it) is; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// Retryable for network and disk trouble; permanent for a refused key.
    fn head<'a>(&'a self, key: &'a str, version: Option<&'a str>)
    -> BoxFuture<'a, Result<Option<ObjectInfo>, S3Error>>;

    /// A local file with the object's bytes, refusing more than `max_bytes`. `expect` is the
    /// [`ObjectInfo::etag`] read before: the fetch fails (retryably) if the object changed.
    /// Downloads go to a temporary file in `work_dir`.
    ///
    /// # Errors
    /// Permanent when the object is missing or too large; retryable when it changed or the
    /// transfer failed.
    fn fetch<'a>(
        &'a self,
        key: &'a str,
        version: Option<&'a str>,
        expect: &'a str,
        max_bytes: u64,
        work_dir: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, S3Error>>;

    /// A new empty temporary file to write the output of `key` into, ending in `suffix`
    /// (`.flac`). A local store keeps it under its root (so that publishing is a rename); an S3
    /// store in `work_dir`.
    ///
    /// # Errors
    /// Retryable local I/O errors; permanent for a refused key.
    fn stage(&self, key: &str, suffix: &str, work_dir: &Path) -> Result<tempfile::TempPath, S3Error>;

    /// Makes `file` the object `key`, complete or not at all: a rename for a local file, a PUT
    /// or a multipart upload (aborted on failure or when `cancel` is set) on S3.
    ///
    /// # Errors
    /// As the store's transfers; a permanent error when the object exists and `clobber` is
    /// [`Clobber::Never`] (local stores only).
    fn publish<'a>(
        &'a self,
        file: tempfile::TempPath,
        key: &'a str,
        options: &'a PutOptions,
        clobber: Clobber,
        cancel: &'a Cancel,
    ) -> BoxFuture<'a, Result<(), S3Error>>;

    /// Writes a small document (a JSON report) as `key`, atomically.
    ///
    /// # Errors
    /// As the store's transfers.
    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), S3Error>>;

    /// Reads a small document, at most `max_bytes`; `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// As the store's transfers; permanent when it is larger than `max_bytes`.
    fn get_bytes<'a>(&'a self, key: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>, S3Error>>;

    /// Whether outputs can be written here at all (the bucket exists and is reachable), checked
    /// before the work of a one-off job so that a typo fails in a second, not after processing.
    ///
    /// # Errors
    /// Permanent when the bucket does not exist or access is denied; retryable otherwise.
    fn check_destination<'a>(&'a self) -> BoxFuture<'a, Result<(), S3Error>> {
        Box::pin(async { Ok(()) })
    }

    /// SHA-256 (lower-case hex) of the object `key`, when the store can tell it without a
    /// download (a local file); `Ok(None)` otherwise or when it does not exist.
    ///
    /// # Errors
    /// Retryable local I/O errors; permanent for a refused key.
    fn sha256<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<String>, S3Error>> {
        Box::pin(async { Ok(None) })
    }

    /// Deletes `key` if it exists, logging (not returning) a failure.
    fn delete_quietly<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()>;
}
