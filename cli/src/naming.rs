//! The everyday output name: the CLI's rule for where a normalised copy goes when no output is
//! named.

use std::path::{Path, PathBuf};

use audioproc_engine::OutputFormat;

/// The everyday output name: `dir/stem.normalized.ext` beside the input.
pub fn normalized_name(input: &Path, format: OutputFormat) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_owned());
    input.with_file_name(format!("{stem}.normalized.{}", format.extension()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normalized_copy_sits_beside_the_input_with_the_output_extension() {
        assert_eq!(
            normalized_name(Path::new("music/song.wav"), OutputFormat::Flac),
            Path::new("music/song.normalized.flac")
        );
        assert_eq!(normalized_name(Path::new("take.1.mp3"), OutputFormat::Mp3), Path::new("take.1.normalized.mp3"));
    }
}
