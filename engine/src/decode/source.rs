//! Byte sources for the decoder.
//!
//! - [`FileSource`]: a reader over an open file that keeps its own position: every read is a
//!   positioned read (`pread`), so several readers made from one open file (each pass of a job,
//!   the tag reader) never move each other, and all of them read the very file that was opened,
//!   whatever happens to its name meanwhile.
//! - [`SeekableSource`]: any `Read + Seek` as symphonia's `MediaSource`, from an offset on (the
//!   bytes after leading ID3v2 tags).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use symphonia::core::io::MediaSource;

/// An open file read through positioned reads, from its own position.
#[derive(Debug)]
pub(crate) struct FileSource {
    file: File,
    pos: u64,
    /// The file's length when the source was made (what `SeekFrom::End` is relative to).
    len: u64,
}

impl FileSource {
    /// A source over its own handle on `file` (a duplicate: the caller keeps `file`), at 0.
    ///
    /// # Errors
    /// When the handle cannot be duplicated or examined.
    pub(crate) fn new(file: &File) -> std::io::Result<Self> {
        let file = file.try_clone()?;
        let len = file.metadata()?.len();
        Ok(FileSource { file, pos: 0, len })
    }
}

impl Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileSource {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = to.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek to a negative or overflowing position")
        })?;
        Ok(self.pos)
    }
}

/// Adapts any `Read + Seek` to symphonia's `MediaSource` (seekable, known length), as the
/// bytes from `start` on (after leading ID3v2 tags): positions are relative to `start`.
pub(super) struct SeekableSource<S> {
    /// The whole source.
    pub(super) inner: S,
    /// Where the view starts in `inner`.
    pub(super) start: u64,
    /// The view's length.
    pub(super) len: u64,
}

impl<S: Read> Read for SeekableSource<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Seek> Seek for SeekableSource<S> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let to = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.inner.stream_position()?.saturating_sub(self.start).checked_add_signed(d),
        };
        let to = to.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.inner.seek(SeekFrom::Start(self.start + to))?;
        Ok(to)
    }
}

impl<S: Read + Seek + Send + Sync> MediaSource for SeekableSource<S> {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sources_on_one_file_keep_their_own_positions() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").expect("write");
        let file = File::open(&path).expect("open");
        let (mut a, mut b) = (FileSource::new(&file).expect("a"), FileSource::new(&file).expect("b"));
        let mut buf = [0u8; 3];
        a.read_exact(&mut buf).expect("a reads");
        assert_eq!(&buf, b"012");
        b.seek(SeekFrom::End(-2)).expect("b seeks");
        b.read_exact(&mut buf[..2]).expect("b reads");
        assert_eq!(&buf[..2], b"89");
        a.read_exact(&mut buf).expect("a reads on");
        assert_eq!(&buf, b"345");
        assert!(a.seek(SeekFrom::Current(-100)).is_err());
    }
}
