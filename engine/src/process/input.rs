//! The job's input, opened once: every pass decodes from that one open file, and the tags are
//! read from it too, so a file renamed over the input's path meanwhile (another run writing the
//! same name) is never mixed in — the gain measured on one file is applied to that file. A write
//! into the open file itself (its length or modification time changes) stops the job with
//! [`Error::InputChanged`]; it is checked before every pass after the first and at the end.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::decode::{Decoder, Limits};
use crate::error::{Error, Result};
use crate::threads::Threads;

/// The input file, open, and what it was when opened.
#[derive(Debug)]
pub(super) struct Input {
    path: PathBuf,
    file: File,
    /// Length and modification time when opened.
    identity: (u64, Option<SystemTime>),
}

impl Input {
    /// Opens the input at `path`.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let identity = identity(&file)?;
        Ok(Input { path: path.to_path_buf(), file, identity })
    }

    /// A decoder from the start of the input (after checking it is unchanged); with
    /// [`Threads::Pipelined`] it decodes on two threads where the codec allows
    /// ([`Decoder::decode_on_two_threads`]).
    pub(super) fn decoder(&self, limits: &Limits, threads: Threads) -> Result<Decoder> {
        self.check_unchanged()?;
        let mut decoder = Decoder::open_file(&self.file, limits)?;
        if threads == Threads::Pipelined {
            decoder.decode_on_two_threads()?;
        }
        Ok(decoder)
    }

    /// The open file (for reading its tags); check [`Input::check_unchanged`] before use.
    pub(super) fn file(&self) -> &File {
        &self.file
    }

    /// [`Error::InputChanged`] when the open file's length or modification time is no longer
    /// what it was when opened.
    pub(super) fn check_unchanged(&self) -> Result<()> {
        if identity(&self.file)? == self.identity {
            Ok(())
        } else {
            Err(Error::InputChanged { path: self.path.clone() })
        }
    }
}

fn identity(file: &File) -> Result<(u64, Option<SystemTime>)> {
    let meta = file.metadata()?;
    Ok((meta.len(), meta.modified().ok()))
}
