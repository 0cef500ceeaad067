//! The atomic output: a temporary file in the destination's directory, placed under the real
//! name only when complete ([`crate::output::place`]), so a failure or crash never leaves a
//! partial file under the real name.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::output::{Overwrite, create_new_file, directory_of, place};

/// A temporary output file in the destination's directory, removed on drop unless persisted.
#[derive(Debug)]
pub(super) struct TempOutput {
    /// Where the job writes.
    pub(super) path: PathBuf,
    persisted: bool,
}

impl TempOutput {
    /// Creates an empty temporary file beside `output`, with the mode of any new file of the
    /// user (`0666 & !umask`).
    pub(super) fn create(output: &Path) -> Result<Self> {
        let dir = directory_of(output);
        let name = output.file_name().unwrap_or("output".as_ref());
        let ext = output.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        let (_, path) = create_new_file(dir, name, &ext)?;
        Ok(TempOutput { path, persisted: false })
    }

    /// Moves the finished file to `output` ([`place`]).
    pub(super) fn persist(mut self, output: &Path, overwrite: Overwrite) -> Result<()> {
        place(&self.path, output, overwrite)?;
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
