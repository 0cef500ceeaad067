//! Stage 1 of `batch`: the inputs under SRC, streamed (a directory walk, or S3 listing pages)
//! without ever holding the whole list.

use std::path::Path;

use audioproc_s3::{S3Client, object};

use super::roots::{Filter, Root};

/// One input found by the listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its key in the source store: the path under SRC for a directory, the whole key on S3.
    /// For an input that cannot be processed, its path as shown.
    pub key: String,
    /// Why the input cannot be processed at all (it is counted and reported as failed).
    pub refused: Option<String>,
}

impl Item {
    /// An input to process.
    pub fn new(key: impl Into<String>) -> Self {
        Item { key: key.into(), refused: None }
    }
}

/// Why the listing stopped early.
#[derive(Debug, thiserror::Error)]
#[error("listing {root}: {message}")]
pub struct ListError {
    /// The root being listed.
    pub root: String,
    /// What failed.
    pub message: String,
}

/// Lists `root`, handing each accepted input to `send` (which returns `false` to stop).
///
/// # Errors
/// A directory that cannot be read, or a listing request that failed.
pub fn list(
    root: &Root,
    filter: &Filter,
    client: Option<&S3Client>,
    runtime: &tokio::runtime::Handle,
    send: &dyn Fn(Item) -> bool,
) -> Result<(), ListError> {
    let fail = |message: String| ListError { root: root.display(), message };
    match root {
        Root::Local(dir) => list_local(dir, filter, send).map_err(fail),
        Root::S3 { bucket, prefix } => {
            let client = client.ok_or_else(|| fail("no S3 client".to_owned()))?;
            // One page at a time: the next page is fetched only when this one is queued.
            let mut token = None;
            loop {
                let (page, next) = runtime
                    .block_on(object::list_page(client, bucket, prefix, token.take()))
                    .map_err(|e| fail(e.to_string()))?;
                // Keys ending in '/' are folder markers (zero-byte objects the console makes).
                let go_on = page
                    .into_iter()
                    .filter(|o| !o.key.ends_with('/') && filter.accepts(&o.key[prefix.len()..]))
                    .all(|o| send(Item::new(o.key)));
                match next {
                    Some(t) if go_on => token = Some(t),
                    _ => return Ok(()),
                }
            }
        }
    }
}

/// Walks `dir` depth-first in name order without collecting it. Symbolic links to directories
/// are not followed.
fn list_local(dir: &Path, filter: &Filter, send: &dyn Fn(Item) -> bool) -> Result<(), String> {
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let mut entries: Vec<_> =
            std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        let (mut files, mut refused) = (Vec::new(), Vec::new());
        for e in entries {
            if e.file_name().as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                // Keys are UTF-8 (as on S3): such a file cannot be mirrored, but it is counted
                // and reported (a directory once, for all it holds).
                refused.push(not_utf8(&e.path(), e.file_type().is_ok_and(|t| t.is_dir())));
                continue;
            };
            let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push((e.path(), child_rel)),
                Ok(_) => files.push((e.path(), child_rel)),
                Err(_) => {}
            }
        }
        // Files of this directory in name order, before its subdirectories.
        for (p, r) in files.into_iter().rev() {
            if !filter.accepts(&r) || !std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
                continue;
            }
            if !send(Item::new(r)) {
                return Ok(());
            }
        }
        if !refused.into_iter().rev().all(send) {
            return Ok(());
        }
    }
    Ok(())
}

/// The item of a file (or directory) whose name is not UTF-8.
fn not_utf8(path: &Path, dir: bool) -> Item {
    let why = if dir {
        "the directory name is not valid UTF-8: the files in it were left out (rename it to process them)"
    } else {
        "the file name is not valid UTF-8: rename it to process it"
    };
    Item { key: path.display().to_string(), refused: Some(why.to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_directory_is_listed_in_name_order_files_before_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.wav", "a.wav", "sub/c.wav", "sub/.hidden.wav", "notes.json", ".git/x.wav"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let seen = Mutex::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let filter = Filter::new(&[], &[], None).unwrap();
        list(&Root::Local(dir.path().to_owned()), &filter, None, rt.handle(), &|i| {
            seen.lock().unwrap().push(i.key);
            true
        })
        .unwrap();
        assert_eq!(seen.into_inner().unwrap(), ["a.wav", "b.wav", "sub/c.wav"]);
    }

    #[test]
    fn a_file_name_that_is_not_utf8_is_listed_as_refused_not_dropped() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wav"), b"x").unwrap();
        std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"b\xff.wav")), b"x").unwrap();
        let seen = Mutex::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let filter = Filter::new(&[], &[], None).unwrap();
        list(&Root::Local(dir.path().to_owned()), &filter, None, rt.handle(), &|i| {
            seen.lock().unwrap().push(i);
            true
        })
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], Item::new("a.wav"));
        assert!(seen[1].refused.as_deref().is_some_and(|w| w.contains("UTF-8")), "{seen:?}");
    }
}
