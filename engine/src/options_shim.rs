//! TEMPORARY: the explicit per-job options, until the process/ split lands.
#![allow(missing_docs)]

use std::path::Path;

use crate::process::{Overwrite, ProcessReport, ProcessingSpec, Progress};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threads {
    #[default]
    Pipelined,
    Single,
}

pub struct ProcessOptions<'a> {
    pub overwrite: Overwrite,
    pub threads: Threads,
    pub progress: &'a (dyn Fn(Progress) + Sync),
}

pub fn process_file_with(
    input: &Path,
    output: &Path,
    spec: &ProcessingSpec,
    options: &ProcessOptions<'_>,
) -> crate::error::Result<ProcessReport> {
    if options.threads == Threads::Single {
        crate::process::set_pipelined(false);
    }
    crate::process::process_file(input, output, spec, options.overwrite, options.progress)
}
