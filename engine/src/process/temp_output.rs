//! The atomic output: a temporary file in the destination's directory, renamed into place only
//! when complete, so a failure or crash never leaves a partial file under the real name.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::Overwrite;

/// A temporary output file in the destination's directory, removed on drop unless persisted.
#[derive(Debug)]
pub(super) struct TempOutput {
    /// Where the job writes.
    pub(super) path: PathBuf,
    persisted: bool,
}

impl TempOutput {
    /// Creates an empty temporary file beside `output`.
    pub(super) fn create(output: &Path) -> Result<Self> {
        let dir = match output.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("output directory {} does not exist", dir.display()),
            )));
        }
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_owned());
        let ext = output.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        // Unique per process and call; `create_new` refuses to reuse a name.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = dir.join(format!(".{name}.audioproc-{}-{n}.partial{ext}", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    return Ok(TempOutput { path, persisted: false });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
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

    /// Moves the finished file to `output`.
    pub(super) fn persist(mut self, output: &Path, overwrite: Overwrite) -> Result<()> {
        match overwrite {
            Overwrite::Replace => std::fs::rename(&self.path, output)?,
            Overwrite::Never => {
                // A hard link fails if `output` appeared meanwhile: no clobbering, atomically.
                match std::fs::hard_link(&self.path, output) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&self.path);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Err(Error::OutputExists { path: output.to_path_buf() });
                    }
                    // File systems without hard links: check, then rename.
                    Err(_) if !output.exists() => std::fs::rename(&self.path, output)?,
                    Err(_) => {
                        return Err(Error::OutputExists { path: output.to_path_buf() });
                    }
                }
            }
        }
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename durable where the platform allows syncing a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
