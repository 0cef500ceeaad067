//! A native FLAC stream decoded on two threads ([`ParallelFlac`]): its SEEKTABLE cuts it into
//! chunks of whole frames (a few seconds each) at known byte offsets, and two libFLAC decoders,
//! each reading the file through its own handle, take every other chunk. The frames come back
//! in stream order, the same samples as from one decoder; a decoder runs at most one chunk
//! ahead, so memory stays bounded (a chunk is at most [`MAX_CHUNK_S`] seconds).
//!
//! Used only where every chunk's first bytes are the frame header its seek point promises
//! (a SEEKTABLE that lies, or a file cut before a seek point, leaves the stream on one thread).

use std::io::SeekFrom;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use audioproc_libflac::{FlacDecoder, SeekPoint, StreamInfo};
use symphonia::core::io::MediaSource;

use super::BLOCK_FRAMES;
use super::flac::flac_error;
use crate::error::{Error, Result};

/// Chunks are gathered from seek points up to about this long.
const TARGET_CHUNK_S: f64 = 5.0;
/// A stretch between two seek points longer than this leaves the stream on one thread (a
/// decoder running a chunk ahead holds up to a chunk of decoded audio).
const MAX_CHUNK_S: f64 = 12.0;
/// Fewer chunks than this are not worth a second thread.
const MIN_CHUNKS: usize = 4;

/// Whole frames of the stream: bytes `start .. end` of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chunk {
    start: u64,
    end: u64,
    /// The first sample of its first frame.
    sample: u64,
}

/// Chunks from the seek points, when they cut the stream into stretches of at most
/// [`MAX_CHUNK_S`]: absolute byte ranges in a source of `len` bytes whose first frame is at
/// `first_frame`.
pub(super) fn plan(points: &[SeekPoint], info: &StreamInfo, first_frame: u64, len: u64) -> Option<Vec<Chunk>> {
    let rate = f64::from(info.sample_rate.max(1));
    let total = info.total_frames?;
    let mut starts: Vec<SeekPoint> = Vec::new();
    let mut last: Option<SeekPoint> = None;
    for &p in points {
        if let Some(l) = last
            && (p.sample <= l.sample || p.offset <= l.offset)
        {
            return None;
        }
        if p.sample >= total || first_frame.checked_add(p.offset)? >= len {
            return None;
        }
        let from = starts.last().map_or(0, |s| s.sample);
        if starts.is_empty() || (p.sample - from) as f64 >= TARGET_CHUNK_S * rate {
            starts.push(p);
        }
        last = Some(p);
    }
    if starts.first().is_none_or(|p| p.sample != 0 || p.offset != 0) {
        return None;
    }
    let ends = starts.iter().skip(1).map(|p| first_frame + p.offset).chain([len]);
    let chunks: Vec<Chunk> = starts
        .iter()
        .zip(ends)
        .map(|(p, end)| Chunk { start: first_frame + p.offset, end, sample: p.sample })
        .collect();
    let next_samples = chunks.iter().skip(1).map(|c| c.sample).chain([total]);
    let longest = chunks.iter().zip(next_samples).map(|(c, next)| next - c.sample).max()?;
    (chunks.len() >= MIN_CHUNKS && longest as f64 <= MAX_CHUNK_S * rate).then_some(chunks)
}

/// Whether every chunk after the first starts with the header of the frame its seek point
/// names (read through `source`).
pub(super) fn chunks_check_out(chunks: &[Chunk], info: &StreamInfo, source: &mut dyn MediaSource) -> bool {
    chunks.iter().skip(1).all(|c| {
        let mut head = [0u8; 16];
        source.seek(SeekFrom::Start(c.start)).is_ok()
            && source.read_exact(&mut head).is_ok()
            && header_sample(&head, info.min_block_frames) == Some(c.sample)
    })
}

/// The first sample of the frame whose header starts `head`: its coded number, times the
/// block size in a fixed-block-size stream.
fn header_sample(head: &[u8; 16], block: u32) -> Option<u64> {
    if head[0] != 0xFF || head[1] & 0xFE != 0xF8 {
        return None;
    }
    let variable = head[1] & 1 == 1;
    // The number is coded as UTF-8 is (extended to 7 bytes, 36 bits).
    let first = head[4];
    let extra = match first.leading_ones() {
        0 => 0,
        n @ 2..=7 => n as usize - 1,
        _ => return None,
    };
    let mut number = u64::from(first & (0x7F >> extra));
    for &b in &head[5..5 + extra] {
        if b & 0xC0 != 0x80 {
            return None;
        }
        number = (number << 6) | u64::from(b & 0x3F);
    }
    Some(if variable { number } else { number * u64::from(block) })
}

/// What a decoder thread sends: frames (whole frames, at least [`BLOCK_FRAMES`] but at the end
/// of a chunk, with its decoder's error count so far), the end of a chunk (likewise), or why it
/// stopped.
enum Msg {
    Frames(Vec<Vec<f32>>, u64),
    ChunkEnd(u64),
    Failed(Error),
}

/// The two decoder threads and where the consumer stands.
pub(super) struct ParallelFlac {
    workers: Vec<(Receiver<Msg>, JoinHandle<()>)>,
    current: usize,
    chunks_left: usize,
    /// Errors of each decoder already handed out.
    reported: [u64; 2],
}

impl std::fmt::Debug for ParallelFlac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelFlac").field("chunks_left", &self.chunks_left).finish_non_exhaustive()
    }
}

impl ParallelFlac {
    /// Starts two threads, each with its decoder (of the same stream), on every other chunk.
    pub(super) fn spawn(decoders: [FlacDecoder<Box<dyn MediaSource>>; 2], chunks: &[Chunk]) -> Result<Self> {
        let info = decoders[0].info();
        let rate = f64::from(info.sample_rate.max(1));
        // A decoder runs up to one chunk ahead: room for a chunk's blocks.
        let bound = (MAX_CHUNK_S * rate / BLOCK_FRAMES as f64).ceil() as usize + 2;
        let mut workers = Vec::with_capacity(2);
        for (w, decoder) in decoders.into_iter().enumerate() {
            let mine: Vec<Chunk> = chunks.iter().skip(w).step_by(2).copied().collect();
            let (tx, rx) = sync_channel::<Msg>(bound.min(4096));
            let thread =
                std::thread::Builder::new().name("flac".to_owned()).spawn(move || work(decoder, &mine, &tx))?;
            workers.push((rx, thread));
        }
        Ok(ParallelFlac { workers, current: 0, chunks_left: chunks.len(), reported: [0; 2] })
    }

    /// The next frames into `planes`, in stream order (0 at the end of the stream), and the
    /// frames libFLAC could not decode before them.
    pub(super) fn next(&mut self, planes: &mut Vec<Vec<f32>>) -> Result<(usize, u64)> {
        // Errors at the end of a chunk go with the next chunk's first frames.
        let mut carried = 0;
        while self.chunks_left > 0 {
            let w = self.current;
            let message = self.workers[w]
                .0
                .recv()
                .map_err(|_| Error::DecoderPanic { message: "a FLAC decoder thread stopped".to_owned() })?;
            match message {
                Msg::Frames(frames, errors) => {
                    *planes = frames;
                    carried += errors.saturating_sub(self.reported[w]);
                    self.reported[w] = errors;
                    return Ok((planes.first().map_or(0, Vec::len), carried));
                }
                Msg::ChunkEnd(errors) => {
                    // Errors after the last frame of the stream are its cut or trailing tags.
                    if self.chunks_left > 1 {
                        carried += errors.saturating_sub(self.reported[w]);
                    }
                    self.reported[w] = errors;
                    self.chunks_left -= 1;
                    self.current ^= 1;
                }
                Msg::Failed(e) => return Err(e),
            }
        }
        Ok((0, 0))
    }
}

impl Drop for ParallelFlac {
    /// Closes the queues (a thread waiting to send stops) and joins the threads.
    fn drop(&mut self) {
        for (rx, thread) in std::mem::take(&mut self.workers) {
            drop(rx);
            let _ = thread.join();
        }
    }
}

/// A decoder thread: decodes `chunks` in turn, sending each frame.
fn work(mut decoder: FlacDecoder<Box<dyn MediaSource>>, chunks: &[Chunk], tx: &SyncSender<Msg>) {
    for c in chunks {
        if let Err(e) = decoder.decode_window(c.start, c.end) {
            let _ = tx.send(Msg::Failed(flac_error(e)));
            return;
        }
        // Frames go out gathered into blocks (the consumer hands a block this large on without
        // a copy, and there are fewer hand-offs).
        // Errors are counted as of the last frame decoded: what libFLAC meets after it (the
        // end of the file: its cut, or tags after the last frame) goes with the chunk's end.
        let (mut block, mut errors): (Vec<Vec<f32>>, u64) = (Vec::new(), decoder.errors());
        loop {
            match decoder.append_frame(&mut block) {
                Ok(0) => break,
                Ok(_) => {
                    errors = decoder.errors();
                    if block.first().map_or(0, Vec::len) >= BLOCK_FRAMES
                        && tx.send(Msg::Frames(std::mem::take(&mut block), errors)).is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Msg::Failed(flac_error(e)));
                    return;
                }
            }
        }
        if block.first().is_some_and(|p| !p.is_empty()) && tx.send(Msg::Frames(block, errors)).is_err() {
            return;
        }
        if tx.send(Msg::ChunkEnd(decoder.errors())).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(total: u64) -> StreamInfo {
        StreamInfo {
            sample_rate: 44_100,
            channels: 2,
            bits_per_sample: 16,
            total_frames: Some(total),
            min_block_frames: 4096,
            max_block_frames: 4096,
        }
    }

    fn point(sample: u64, offset: u64) -> SeekPoint {
        SeekPoint { sample, offset }
    }

    #[test]
    fn seek_points_are_gathered_into_chunks_of_about_five_seconds() {
        // A point every 4096 samples (0.09 s): gathered into chunks of at least 5 s.
        let points: Vec<SeekPoint> = (0..2000).map(|k| point(k * 4096, k * 10_000)).collect();
        let chunks = plan(&points, &info(2000 * 4096), 100, 100 + 2000 * 10_000).expect("chunks");
        assert_eq!(chunks[0], Chunk { start: 100, end: 100 + 54 * 10_000, sample: 0 });
        assert!(chunks.windows(2).all(|w| w[0].end == w[1].start && w[1].sample - w[0].sample >= 5 * 44_100));
        assert_eq!(chunks.last().map(|c| c.end), Some(100 + 2000 * 10_000));
    }

    #[test]
    fn unusable_seek_tables_give_no_chunks() {
        let every = |s: u64| (0..20).map(|k| point(k * s, k * 1000)).collect::<Vec<_>>();
        let total = 20 * 441_000;
        assert!(plan(&every(441_000), &info(total), 0, 20_000).is_some(), "10 s apart");
        assert!(plan(&every(20 * 44_100), &info(20 * 20 * 44_100), 0, 20_000).is_none(), "20 s apart");
        assert!(plan(&[], &info(total), 0, 20_000).is_none(), "none");
        assert!(plan(&every(441_000)[..2], &info(3 * 441_000), 0, 20_000).is_none(), "too few");
        let mut back = every(441_000);
        back.swap(3, 4);
        assert!(plan(&back, &info(total), 0, 20_000).is_none(), "out of order");
        assert!(plan(&every(441_000), &info(total), 0, 15_000).is_none(), "past the end of the file");
        let unknown = StreamInfo { total_frames: None, ..info(total) };
        assert!(plan(&every(441_000), &unknown, 0, 20_000).is_none(), "length unknown");
    }

    #[test]
    fn frame_numbers_are_read_from_headers() {
        let head = |b1: u8, number: &[u8]| {
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&[0xFF, b1, 0x69, 0x08]);
            h[4..4 + number.len()].copy_from_slice(number);
            h
        };
        assert_eq!(header_sample(&head(0xF8, &[0x05]), 4096), Some(5 * 4096));
        assert_eq!(header_sample(&head(0xF8, &[0xC2, 0x80]), 4096), Some(128 * 4096));
        assert_eq!(header_sample(&head(0xF9, &[0xE0, 0xA0, 0x80]), 4096), Some(2048));
        assert_eq!(header_sample(&head(0xF8, &[0xC2, 0x00]), 4096), None, "bad continuation");
        assert_eq!(header_sample(&head(0xF0, &[0x05]), 4096), None, "no sync");
    }
}
