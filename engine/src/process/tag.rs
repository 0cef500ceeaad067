//! Phase `tag`: metadata on the finished temporary output — the input's tags and cover art
//! (when asked), and ReplayGain / R128 tags describing the output (when asked). A failure here
//! is a note, not an error: the audio is already right.

use crate::error::Result;
use crate::loudness::LoudnessReport;
use crate::tags::{LoudnessTags, Metadata};

use super::Job;

/// Writes the tags of `output` into the job's temporary file; the input's tags are read from
/// the job's open input file.
///
/// # Errors
/// [`crate::Error::InputChanged`] when the input was written to meanwhile; a tag that cannot be
/// read or written is only a note.
pub(super) fn tag(job: &Job<'_>, output: &LoudnessReport, notes: &mut Vec<String>) -> Result<()> {
    let spec = job.spec;
    let mut meta = Metadata::default();
    if spec.copy_metadata {
        job.input.check_unchanged()?;
        match Metadata::read_file(job.input.file()) {
            Ok(m) => meta = m,
            Err(e) => notes.push(format!("metadata not copied: {e}")),
        }
    }
    let loudness_tags = match (spec.loudness_tags, output.integrated_lufs, output.true_peak_dbtp) {
        (true, Some(integrated_lufs), Some(true_peak_dbtp)) => Some(LoudnessTags { integrated_lufs, true_peak_dbtp }),
        (true, _, _) => {
            notes.push("no loudness tags written: the output has no measurable loudness".to_owned());
            None
        }
        _ => None,
    };
    if let Err(e) = crate::tags::write(job.temp, spec.format, &meta, loudness_tags) {
        notes.push(format!("metadata not written: {e}"));
    }
    Ok(())
}
