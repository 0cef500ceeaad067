//! The everyday output name: the CLI's rule for where a normalised copy goes when no output is
//! named.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use audioproc_engine::OutputFormat;

/// The everyday output name: `dir/stem.normalized.ext` beside the input, `ext` being the
/// format's. The name is built from the input's bytes, so names that are not UTF-8 stay distinct.
pub fn normalized_name(input: &Path, format: OutputFormat) -> PathBuf {
    normalized_with_ext(input, OsStr::new(format.extension()))
}

/// `dir/stem.normalized.ext` beside the input, for a given extension (the input's own, to keep
/// `.ogg` or `.FLAC`).
pub fn normalized_with_ext(input: &Path, ext: &OsStr) -> PathBuf {
    let mut name = OsString::from(input.file_stem().unwrap_or(OsStr::new("output")));
    name.push(".normalized.");
    name.push(ext);
    input.with_file_name(name)
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

    #[test]
    fn names_that_are_not_utf8_keep_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let a = normalized_name(Path::new(OsStr::from_bytes(b"a\xff.wav")), OutputFormat::Flac);
        let b = normalized_name(Path::new(OsStr::from_bytes(b"a\xfe.wav")), OutputFormat::Flac);
        assert_ne!(a, b);
        assert_eq!(a.as_os_str().as_bytes(), b"a\xff.normalized.flac");
    }
}
