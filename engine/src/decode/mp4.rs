//! Gapless information from MP4/M4A edit lists.
//!
//! symphonia 0.6 does not apply MP4 edit lists, so AAC in MP4 decodes with the encoder's
//! priming frames in front and its padding at the end. This module walks the box tree of an
//! ISO-BMFF file (seeking over everything but the few boxes it needs, never allocating from a
//! size the file claims) and turns the audio track's `elst` into a [`Trim`].

use std::io::{Read, Seek, SeekFrom};

use super::Trim;

/// Deepest box nesting followed (moov/trak/mdia/minf… is 5 deep).
const MAX_DEPTH: usize = 6;
/// Most boxes visited at one level before giving up (a hostile file may hold millions).
const MAX_BOXES_PER_LEVEL: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct BoxHeader {
    kind: [u8; 4],
    /// Offset of the payload.
    start: u64,
    /// Offset one past the end of the box.
    end: u64,
}

fn read_u32<R: Read>(r: &mut R) -> Option<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).ok()?;
    Some(u32::from_be_bytes(b))
}

fn read_u64<R: Read>(r: &mut R) -> Option<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b).ok()?;
    Some(u64::from_be_bytes(b))
}

/// Reads the box header at the current position, bounded by `parent_end`.
fn read_header<R: Read + Seek>(r: &mut R, parent_end: u64) -> Option<BoxHeader> {
    let pos = r.stream_position().ok()?;
    if pos + 8 > parent_end {
        return None;
    }
    let size32 = read_u32(r)?;
    let mut kind = [0u8; 4];
    r.read_exact(&mut kind).ok()?;
    let (size, header_len) = match size32 {
        0 => (parent_end - pos, 8),
        1 => (read_u64(r)?, 16),
        n => (u64::from(n), 8),
    };
    let end = pos.checked_add(size)?;
    if size < header_len || end > parent_end {
        return None;
    }
    Some(BoxHeader { kind, start: pos + header_len, end })
}

/// Finds the first child of kind `kind` within `[start, end)`.
fn find_child<R: Read + Seek>(r: &mut R, start: u64, end: u64, kind: &[u8; 4]) -> Option<BoxHeader> {
    children(r, start, end).into_iter().find(|b| &b.kind == kind)
}

/// Lists the children within `[start, end)` (at most [`MAX_BOXES_PER_LEVEL`]).
fn children<R: Read + Seek>(r: &mut R, start: u64, end: u64) -> Vec<BoxHeader> {
    let mut out = Vec::new();
    let mut pos = start;
    while out.len() < MAX_BOXES_PER_LEVEL {
        if r.seek(SeekFrom::Start(pos)).is_err() {
            break;
        }
        let Some(h) = read_header(r, end) else { break };
        pos = h.end;
        out.push(h);
    }
    out
}

/// Follows a path of box kinds from `[start, end)`.
fn descend<R: Read + Seek>(r: &mut R, start: u64, end: u64, path: &[&[u8; 4]]) -> Option<BoxHeader> {
    debug_assert!(path.len() <= MAX_DEPTH);
    let mut cur = BoxHeader { kind: *b"root", start, end };
    for kind in path {
        cur = find_child(r, cur.start, cur.end, kind)?;
    }
    Some(cur)
}

/// Reads a full box's version byte (skipping the 3 flag bytes).
fn version<R: Read + Seek>(r: &mut R, b: &BoxHeader) -> Option<u8> {
    r.seek(SeekFrom::Start(b.start)).ok()?;
    let v = read_u32(r)?;
    Some((v >> 24) as u8)
}

/// The timescale of an `mvhd` or `mdhd` box.
fn timescale<R: Read + Seek>(r: &mut R, b: &BoxHeader) -> Option<u32> {
    let v = version(r, b)?;
    // v0: creation(4) modification(4) timescale; v1: creation(8) modification(8) timescale.
    let skip = if v == 1 { 16 } else { 8 };
    r.seek(SeekFrom::Current(skip)).ok()?;
    read_u32(r).filter(|&t| t > 0)
}

/// The gapless trim of the first sound track of an MP4 file, if it has a usable edit list.
///
/// Returns `None` for anything that is not MP4, has no edit list, or has an edit list this
/// reader does not understand (several non-empty edits, rate ≠ 1); the audio is then decoded
/// untrimmed. Values are converted to frames assuming the media timescale is the sample rate
/// (true of AAC and ALAC as written by iTunes, ffmpeg and afconvert); otherwise `None`.
pub fn gapless_trim<R: Read + Seek>(r: &mut R) -> Option<Trim> {
    let len = r.seek(SeekFrom::End(0)).ok()?;
    r.seek(SeekFrom::Start(0)).ok()?;
    let first = read_header(r, len)?;
    if &first.kind != b"ftyp" {
        return None;
    }
    let moov = find_child(r, 0, len, b"moov")?;
    let mvhd = descend(r, moov.start, moov.end, &[b"mvhd"])?;
    let movie_ts = timescale(r, &mvhd)?;
    for trak in children(r, moov.start, moov.end).into_iter().filter(|b| &b.kind == b"trak") {
        let Some(hdlr) = descend(r, trak.start, trak.end, &[b"mdia", b"hdlr"]) else { continue };
        r.seek(SeekFrom::Start(hdlr.start + 8)).ok()?; // version/flags, pre_defined
        let mut handler = [0u8; 4];
        r.read_exact(&mut handler).ok()?;
        if &handler != b"soun" {
            continue;
        }
        let mdhd = descend(r, trak.start, trak.end, &[b"mdia", b"mdhd"])?;
        let media_ts = timescale(r, &mdhd)?;
        let sample_rate = sound_sample_rate(r, &trak)?;
        if media_ts != sample_rate {
            return None;
        }
        let elst = descend(r, trak.start, trak.end, &[b"edts", b"elst"])?;
        return parse_elst(r, &elst, movie_ts, media_ts);
    }
    None
}

/// The sample rate in the first sound sample entry (`stsd`), in Hz.
fn sound_sample_rate<R: Read + Seek>(r: &mut R, trak: &BoxHeader) -> Option<u32> {
    let stsd = descend(r, trak.start, trak.end, &[b"mdia", b"minf", b"stbl", b"stsd"])?;
    // stsd: version/flags(4) entry_count(4), then the first sample entry box header (8),
    // reserved(6) data_reference_index(2) version(2) revision(2) vendor(4) channels(2)
    // sample_size(2) compression_id(2) packet_size(2) sample_rate (16.16).
    r.seek(SeekFrom::Start(stsd.start + 8 + 8 + 24)).ok()?;
    let rate = read_u32(r)? >> 16;
    (rate > 0).then_some(rate)
}

fn parse_elst<R: Read + Seek>(r: &mut R, elst: &BoxHeader, movie_ts: u32, media_ts: u32) -> Option<Trim> {
    let v = version(r, elst)?;
    let count = read_u32(r)?;
    if count == 0 || count > 16 {
        return None;
    }
    let mut edit = None;
    for _ in 0..count {
        let (duration, media_time) = if v == 1 {
            (read_u64(r)?, read_u64(r)? as i64)
        } else {
            (u64::from(read_u32(r)?), i64::from(read_u32(r)? as i32))
        };
        let rate = read_u32(r)?;
        if media_time == -1 {
            continue; // An empty edit (a delay before the track starts): nothing to trim.
        }
        if edit.is_some() || rate != 0x0001_0000 || media_time < 0 {
            return None;
        }
        edit = Some((duration, media_time as u64));
    }
    let (duration, media_time) = edit?;
    // duration is in the movie timescale; convert to media frames, rounding to nearest.
    let keep = (u128::from(duration) * u128::from(media_ts) + u128::from(movie_ts) / 2) / u128::from(movie_ts);
    let keep = u64::try_from(keep).ok()?;
    Some(Trim { skip: media_time, keep: (keep > 0).then_some(keep) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend(kind);
        v.extend(payload);
        v
    }

    fn full(kind: &[u8; 4], version: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![version, 0, 0, 0];
        p.extend(payload);
        bx(kind, &p)
    }

    fn movie(elst: Vec<u8>) -> Vec<u8> {
        let mvhd = full(b"mvhd", 0, &[&[0u8; 8][..], &1000u32.to_be_bytes(), &[0u8; 84]].concat());
        let mdhd = full(b"mdhd", 0, &[&[0u8; 8][..], &44100u32.to_be_bytes(), &[0u8; 8]].concat());
        let hdlr = full(b"hdlr", 0, &[&[0u8; 4][..], b"soun", &[0u8; 13]].concat());
        let mut entry = vec![0u8; 6 + 2 + 2 + 2 + 4 + 2 + 2 + 2 + 2];
        entry.extend((44100u32 << 16).to_be_bytes());
        let mp4a = bx(b"mp4a", &entry);
        let stsd = full(b"stsd", 0, &[&1u32.to_be_bytes()[..], &mp4a].concat());
        let stbl = bx(b"stbl", &stsd);
        let minf = bx(b"minf", &stbl);
        let mdia = bx(b"mdia", &[mdhd, hdlr, minf].concat());
        let edts = bx(b"edts", &elst);
        let trak = bx(b"trak", &[edts, mdia].concat());
        let moov = bx(b"moov", &[mvhd, trak].concat());
        [bx(b"ftyp", b"M4A \0\0\0\0"), moov].concat()
    }

    #[test]
    fn reads_priming_and_duration_from_elst() {
        // 6 s at 1000/s movie timescale, 2112 frames of priming.
        let elst = full(
            b"elst",
            0,
            &[&1u32.to_be_bytes()[..], &6000u32.to_be_bytes(), &2112u32.to_be_bytes(), &0x10000u32.to_be_bytes()]
                .concat(),
        );
        let t = gapless_trim(&mut Cursor::new(movie(elst)));
        assert_eq!(t, Some(Trim { skip: 2112, keep: Some(264_600) }));
    }

    #[test]
    fn ignores_non_mp4_and_garbage() {
        assert_eq!(gapless_trim(&mut Cursor::new(b"RIFF\0\0\0\0WAVE".to_vec())), None);
        assert_eq!(gapless_trim(&mut Cursor::new(Vec::new())), None);
        // A box claiming to be larger than the file.
        let mut v = bx(b"ftyp", b"M4A ");
        v.extend(0xFFFF_FFF0u32.to_be_bytes());
        v.extend(b"moov");
        assert_eq!(gapless_trim(&mut Cursor::new(v)), None);
    }

    #[test]
    fn refuses_edit_lists_it_does_not_understand() {
        let two = full(
            b"elst",
            0,
            &[
                &2u32.to_be_bytes()[..],
                &3000u32.to_be_bytes(),
                &0u32.to_be_bytes(),
                &0x10000u32.to_be_bytes(),
                &3000u32.to_be_bytes(),
                &5000u32.to_be_bytes(),
                &0x10000u32.to_be_bytes(),
            ]
            .concat(),
        );
        assert_eq!(gapless_trim(&mut Cursor::new(movie(two))), None);
    }
}
