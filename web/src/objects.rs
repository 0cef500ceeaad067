//! Where tracks' files live, and their keys: `incoming/<user>/<track>/<safe name>` for the input
//! and `processed/<user>/<track>/<stem>.<ext>` for the output (and its `.json` report sidecar).
//!
//! The embedded mode keeps them in a directory (`--data DIR/objects`) behind the same
//! [`ObjectStore`] trait the job uses for S3, so the job cannot tell the difference.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audioproc_s3::location::REPORT_SUFFIX;
use audioproc_s3::store::LocalStore;
use audioproc_s3::{ObjectStore, S3Error};

/// Longest safe name kept, bytes.
const MAX_NAME_BYTES: usize = 120;

/// The object store of the tracks.
#[derive(Debug, Clone)]
pub struct Objects {
    /// The store the job reads and writes.
    pub store: Arc<LocalStore>,
}

impl Objects {
    /// The directory `root` as the store.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Objects { store: Arc::new(LocalStore::new(root)) }
    }

    /// The store, as the job takes it.
    pub fn job_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store) as Arc<dyn ObjectStore>
    }

    /// Its root directory.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// The file of `key` (refusing keys that would leave the root).
    ///
    /// # Errors
    /// A key the store refuses.
    pub fn path(&self, key: &str) -> Result<PathBuf, S3Error> {
        self.store.path(key)
    }

    /// The key of the report sidecar of the output `output_key`.
    pub fn report_key(output_key: &str) -> String {
        format!("{output_key}{REPORT_SUFFIX}")
    }

    /// Removes a track's input, output and report (what is there of them).
    pub async fn remove_track(&self, input_key: &str, output_key: &str) {
        for key in [input_key.to_owned(), output_key.to_owned(), Self::report_key(output_key)] {
            self.store.delete_quietly(&key).await;
        }
        // The now-empty per-track directories.
        for key in [input_key, output_key] {
            if let Some(dir) = Path::new(key).parent() {
                let _ = std::fs::remove_dir(self.root().join(dir));
            }
        }
    }
}

/// A file name safe as the last segment of a key and of a local path: letters, digits, and
/// ` .-_()+,` kept (any script), anything else (slashes, controls, quotes…) becomes `_`; no
/// leading dot or space; at most [`MAX_NAME_BYTES`]; `upload` if nothing is left. The extension
/// is kept when the name is shortened.
pub fn safe_name(name: &str) -> String {
    let mapped: String =
        name.chars().map(|c| if c.is_alphanumeric() || " .-_()+,".contains(c) { c } else { '_' }).collect();
    let trimmed = mapped.trim_start_matches(['.', ' ']).trim_end_matches([' ', '.']);
    if trimmed.is_empty() || trimmed.chars().all(|c| c == '_') {
        return "upload".to_owned();
    }
    if trimmed.len() <= MAX_NAME_BYTES {
        return trimmed.to_owned();
    }
    let ext = trimmed.rsplit_once('.').map(|(_, e)| e).filter(|e| e.len() <= 10).unwrap_or("");
    let mut stem: String = String::new();
    for c in trimmed.chars() {
        if stem.len() + c.len_utf8() + ext.len() + 1 > MAX_NAME_BYTES {
            break;
        }
        stem.push(c);
    }
    if ext.is_empty() { stem } else { format!("{stem}.{ext}") }
}

/// The input key of a track.
pub fn input_key(user: &str, track: &str, filename: &str) -> String {
    format!("incoming/{user}/{track}/{}", safe_name(filename))
}

/// The output's file name: the input's stem with the format's extension.
pub fn output_name(filename: &str, extension: &str) -> String {
    let safe = safe_name(filename);
    let stem = safe.rsplit_once('.').map_or(safe.as_str(), |(s, _)| s);
    format!("{}.{extension}", if stem.is_empty() { "output" } else { stem })
}

/// The output key of a track.
pub fn output_key(user: &str, track: &str, filename: &str, extension: &str) -> String {
    format!("processed/{user}/{track}/{}", output_name(filename, extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_become_safe_segments_and_keep_their_extension() {
        assert_eq!(safe_name("My Song (live).wav"), "My Song (live).wav");
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name("a/b\\c\u{0}d\n.flac"), "a_b_c_d_.flac");
        assert_eq!(safe_name("Ünïcødé 日本語.mp3"), "Ünïcødé 日本語.mp3");
        assert_eq!(safe_name(".hidden"), "hidden");
        assert_eq!(safe_name("\u{202e}txt.exe"), "_txt.exe", "a direction override is not kept");
        assert_eq!(safe_name(""), "upload");
        assert_eq!(safe_name("///"), "upload");
        let long = format!("{}.wav", "é".repeat(200));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".wav"), "{s}");
        assert_eq!(output_name("x.y.wav", "flac"), "x.y.flac");
        assert_eq!(input_key("u", "t", "'; DROP TABLE tracks; --.wav"), "incoming/u/t/__ DROP TABLE tracks_ --.wav");
    }
}
