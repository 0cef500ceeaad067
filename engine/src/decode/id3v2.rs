//! Leading ID3v2 tags, skipped by their declared size before the container is probed.
//!
//! symphonia's probe scans at most 1 MiB for a container marker, so an MP3 (or FLAC) whose
//! ID3v2 tag holds a big embedded picture would be refused as "not a recognised audio format".
//! The tags are metadata only (their text and pictures are read separately, by `lofty`), so the
//! decoder starts after them: each is a 10-byte header, a syncsafe 28-bit size, and a 10-byte
//! footer when the (v2.4) footer flag is set; several may follow each other.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{Error, Result};

/// Most bytes of leading ID3v2 tags skipped (64 MiB): a cover picture is far smaller.
pub const MAX_LEADING_TAG_BYTES: u64 = 64 << 20;

/// The bytes of ID3v2 tags at the start of `source` (of `len` bytes); 0 when it does not start
/// with a well-formed ID3v2 header (anything else is left to the probe).
///
/// # Errors
/// [`Error::Malformed`] when a tag claims to go past the end of the file;
/// [`Error::LimitExceeded`] past [`MAX_LEADING_TAG_BYTES`]; [`Error::Io`].
pub(super) fn leading_tags_len<S: Read + Seek>(source: &mut S, len: u64) -> Result<u64> {
    let mut at = 0u64;
    while let Some(size) = tag_size_at(source, at, len)? {
        let end = at + size;
        if end > len {
            return Err(Error::Malformed {
                reason: format!(
                    "the ID3v2 tag at byte {at} claims {size} bytes, past the end of the file ({len} bytes)"
                ),
            });
        }
        if end > MAX_LEADING_TAG_BYTES {
            return Err(Error::LimitExceeded {
                what: "leading ID3v2 tag bytes",
                value: end,
                limit: MAX_LEADING_TAG_BYTES,
            });
        }
        at = end;
    }
    Ok(at)
}

/// The whole size (header, body, footer) of the ID3v2 tag at `at`, if one starts there.
fn tag_size_at<S: Read + Seek>(source: &mut S, at: u64, len: u64) -> Result<Option<u64>> {
    if len.saturating_sub(at) < 10 {
        return Ok(None);
    }
    source.seek(SeekFrom::Start(at))?;
    let mut h = [0u8; 10];
    source.read_exact(&mut h)?;
    let (version, revision, flags, size) = (h[3], h[4], h[5], &h[6..10]);
    if &h[..3] != b"ID3" || !(2..=4).contains(&version) || revision == 0xff || size.iter().any(|b| b & 0x80 != 0) {
        return Ok(None);
    }
    let body = size.iter().fold(0u64, |acc, &b| (acc << 7) | u64::from(b));
    let footer = if version == 4 && flags & 0x10 != 0 { 10 } else { 0 };
    Ok(Some(10 + body + footer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u8, flags: u8, body: u32) -> Vec<u8> {
        let s = [(body >> 21) as u8 & 0x7f, (body >> 14) as u8 & 0x7f, (body >> 7) as u8 & 0x7f, body as u8 & 0x7f];
        [b'I', b'D', b'3', version, 0, flags, s[0], s[1], s[2], s[3]].to_vec()
    }

    fn skipped(bytes: &[u8]) -> Result<u64> {
        leading_tags_len(&mut std::io::Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn consecutive_tags_and_footers_are_skipped_by_their_declared_sizes() {
        let mut bytes = header(3, 0, 200);
        bytes.resize(210, 0);
        bytes.extend(header(4, 0x10, 300));
        bytes.resize(210 + 320, 0);
        bytes.extend_from_slice(b"\xff\xfbaudio");
        assert_eq!(skipped(&bytes).expect("skips"), 530);
        assert_eq!(skipped(b"fLaC\0\0\0\x22").expect("no tag"), 0);
        assert_eq!(skipped(b"ID3\x04\0\0\x80\0\0\0 not syncsafe").expect("not a tag"), 0);
    }

    #[test]
    fn a_tag_claiming_more_than_the_file_is_malformed() {
        let mut bytes = header(4, 0, 5_000_000);
        bytes.resize(1000, 0);
        let err = skipped(&bytes).expect_err("past the end");
        assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
        assert!(err.to_string().contains("past the end of the file (1000 bytes)"), "{err}");
    }
}
