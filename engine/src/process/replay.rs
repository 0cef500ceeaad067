//! Pass 1's decoded audio, kept for the later passes of the job so a compressed input (MP3,
//! AAC, Vorbis, Opus, FLAC …) is decoded once instead of once per pass.
//!
//! While pass 1 measures, each decoded block is also written, as it is (planar `f32`), to an
//! unnamed temporary file beside the output (`O_TMPFILE` where the system has it: the file has
//! no name and vanishes when closed, even if the process is killed). The apply pass, the limiter
//! calibrations and any re-encode then read those blocks back instead of decoding again:
//! reading is a copy from the page cache, far cheaper than decoding, and the samples are the
//! very ones pass 1 measured, so the output is the same to the bit. Memory does not grow: the
//! audio is on disk, not in RAM.
//!
//! Kept only when it is worth it and fits: not for PCM inputs (reading them again costs no
//! more than reading the copy), and only when the copy takes at most half the free space of
//! the output's file system and at most [`MAX_REPLAY_BYTES`]. A copy that stops fitting (the
//! container did not declare its length), or any write error, is dropped and the later passes
//! decode the input as before. [`super::ProcessReport::decodes`] says how many decodes a job
//! did.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::block_worker::BlockWorker;
use crate::decode::{Decoder, StreamInfo};
use crate::error::{Error, Result};
use crate::handoff::Ready;
use crate::threads::Threads;

/// The largest copy kept (about 3 h of 44.1 kHz stereo); longer inputs are decoded per pass.
pub const MAX_REPLAY_BYTES: u64 = 4 << 30;

/// Bytes of one block's header: its frame count.
const HEADER_BYTES: u64 = 4;

/// Whether pass 1 should keep a copy of `info`'s audio in `dir`, and the most bytes it may take.
pub(super) fn budget(info: &StreamInfo, dir: &Path) -> Option<u64> {
    if info.codec.starts_with("pcm_") {
        return None;
    }
    let cap = free_bytes(dir).map_or(MAX_REPLAY_BYTES, |free| (free / 2).min(MAX_REPLAY_BYTES));
    let expected = info.declared_frames.map(|f| f * info.channels() as u64 * 4);
    expected.is_none_or(|bytes| bytes <= cap).then_some(cap)
}

/// Free bytes for an unprivileged user on the file system of `dir`, when the system says.
fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Writes pass 1's blocks to the copy. A write error, or a copy growing past its cap, drops it.
#[derive(Debug)]
pub(super) struct ReplayWriter {
    out: Option<BufWriter<File>>,
    channels: usize,
    bytes: u64,
    cap: u64,
    frames: u64,
    scratch: Vec<u8>,
}

impl ReplayWriter {
    /// A copy for `channels` channels in an unnamed temporary file in `dir`, of at most `cap`
    /// bytes. `None` when the file cannot be created (the job then decodes per pass).
    pub(super) fn create(dir: &Path, channels: usize, cap: u64) -> Option<Self> {
        let file = tempfile::tempfile_in(dir).ok()?;
        let out = Some(BufWriter::with_capacity(1 << 20, file));
        Some(ReplayWriter { out, channels, bytes: 0, cap, frames: 0, scratch: Vec::new() })
    }

    /// Appends one block (one plane per channel).
    pub(super) fn write_block(&mut self, planes: &[Vec<f32>]) {
        let Some(out) = &mut self.out else { return };
        let frames = planes.first().map_or(0, Vec::len);
        let size = HEADER_BYTES + (frames * self.channels * 4) as u64;
        if planes.len() != self.channels || frames > u32::MAX as usize || self.bytes + size > self.cap {
            self.out = None;
            return;
        }
        self.scratch.resize(size as usize, 0);
        let (header, mut body) = self.scratch.split_at_mut(HEADER_BYTES as usize);
        header.copy_from_slice(&(frames as u32).to_le_bytes());
        for plane in planes {
            let (this, rest) = body.split_at_mut(frames * 4);
            for (b, x) in this.chunks_exact_mut(4).zip(plane) {
                b.copy_from_slice(&x.to_le_bytes());
            }
            body = rest;
        }
        if out.write_all(&self.scratch).is_err() {
            self.out = None;
            return;
        }
        self.bytes += size;
        self.frames += frames as u64;
    }

    /// The finished copy of `frames` frames, or `None` if it was dropped or does not hold them.
    pub(super) fn finish(self, frames: u64) -> Option<Replay> {
        let file = self.out?.into_inner().ok()?;
        (self.frames == frames).then_some(Replay { file, channels: self.channels, frames })
    }
}

/// Pass 1's side of the copy: the writer on the caller's thread ([`Threads::Single`]) or on a
/// helper thread fed the blocks the meters share ([`Threads::Pipelined`]).
#[derive(Debug)]
pub(super) enum Keeper {
    Inline(ReplayWriter),
    Worker(BlockWorker<ReplayWriter>),
}

impl Keeper {
    /// Starts keeping a copy of `info`'s audio beside the output in `dir`, when [`budget`]
    /// allows it and the file and thread can be made.
    pub(super) fn start(info: &StreamInfo, dir: &Path, threads: Threads) -> Option<Self> {
        let writer = ReplayWriter::create(dir, info.channels(), budget(info, dir)?)?;
        match threads {
            Threads::Single => Some(Keeper::Inline(writer)),
            Threads::Pipelined => {
                BlockWorker::spawn("keep-decoded", writer, ReplayWriter::write_block).ok().map(Keeper::Worker)
            }
        }
    }

    /// Keeps one block, as the pass hands it on.
    pub(super) fn keep(&mut self, ready: &Ready<'_>) {
        match self {
            Keeper::Inline(writer) => writer.write_block(ready.planes()),
            Keeper::Worker(worker) => worker.send(&ready.shared()),
        }
    }

    /// The finished copy of `frames` frames (see [`ReplayWriter::finish`]).
    pub(super) fn finish(self, frames: u64) -> Option<Replay> {
        match self {
            Keeper::Inline(writer) => writer,
            Keeper::Worker(worker) => worker.finish(),
        }
        .finish(frames)
    }
}

/// Pass 1's decoded audio, complete, ready to be read by each later pass.
#[derive(Debug)]
pub(super) struct Replay {
    file: File,
    channels: usize,
    frames: u64,
}

impl Replay {
    /// A reader from the start of the copy.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be rewound.
    pub(super) fn reader(&self) -> Result<ReplayReader<'_>> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(ReplayReader {
            input: BufReader::with_capacity(1 << 20, file),
            replay: self,
            planes: vec![Vec::new(); self.channels],
            bytes: Vec::new(),
            frames_out: 0,
        })
    }
}

/// Reads the copy back block by block, as the decoder handed them to pass 1.
#[derive(Debug)]
pub(super) struct ReplayReader<'r> {
    input: BufReader<&'r File>,
    replay: &'r Replay,
    planes: Vec<Vec<f32>>,
    bytes: Vec<u8>,
    frames_out: u64,
}

impl ReplayReader<'_> {
    /// The next block, `Ok(None)` after the last.
    ///
    /// # Errors
    /// [`Error::Io`] when the copy cannot be read or ends before the frames pass 1 decoded.
    pub(super) fn next_block(&mut self) -> Result<Option<&[Vec<f32>]>> {
        if self.frames_out == self.replay.frames {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_BYTES as usize];
        self.input.read_exact(&mut header).map_err(cut_short)?;
        let frames = u32::from_le_bytes(header) as usize;
        if frames as u64 > self.replay.frames - self.frames_out {
            return Err(Error::Io(std::io::Error::other("the kept copy of the decoded input is damaged")));
        }
        self.bytes.resize(frames * 4, 0);
        for plane in &mut self.planes {
            self.input.read_exact(&mut self.bytes).map_err(cut_short)?;
            plane.clear();
            plane.extend(self.bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        }
        self.frames_out += frames as u64;
        Ok(Some(&self.planes))
    }

    /// Frames handed out so far.
    pub(super) fn frames(&self) -> u64 {
        self.frames_out
    }
}

/// Where a pass over the input reads its blocks: a fresh decoder, or pass 1's copy.
#[derive(Debug)]
pub(super) enum Source<'r> {
    Decoder(Box<Decoder>),
    Replay(ReplayReader<'r>),
}

impl Source<'_> {
    /// The next block, `Ok(None)` at the end.
    ///
    /// # Errors
    /// As [`Decoder::next_block`] and [`ReplayReader::next_block`].
    pub(super) fn next_block(&mut self) -> Result<Option<&[Vec<f32>]>> {
        match self {
            Source::Decoder(d) => d.next_block(),
            Source::Replay(r) => r.next_block(),
        }
    }

    /// Frames handed out so far.
    pub(super) fn frames(&self) -> u64 {
        match self {
            Source::Decoder(d) => d.frames(),
            Source::Replay(r) => r.frames(),
        }
    }
}

fn cut_short(e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(e.kind(), format!("reading the kept copy of the decoded input: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(codec: &str, frames: Option<u64>) -> StreamInfo {
        StreamInfo {
            codec: codec.to_owned(),
            container: "x".to_owned(),
            sample_rate: 44_100,
            layout: crate::channels::default_layout(2),
            declared_frames: frames,
            bits_per_sample: None,
            float: false,
        }
    }

    #[test]
    fn blocks_come_back_as_they_were_written_every_time() {
        let dir = tempfile::tempdir().expect("dir");
        let mut w = ReplayWriter::create(dir.path(), 2, u64::MAX).expect("file");
        let blocks: Vec<Vec<Vec<f32>>> = (0..5)
            .map(|b| {
                (0..2).map(|c| (0..(100 + b * 37)).map(|i| (i * (c + 1) * (b + 1)) as f32 * 1e-3).collect()).collect()
            })
            .collect();
        blocks.iter().for_each(|b| w.write_block(b));
        let frames: u64 = blocks.iter().map(|b| b[0].len() as u64).sum();
        let replay = w.finish(frames).expect("kept");
        for _ in 0..2 {
            let mut r = replay.reader().expect("reader");
            let mut got = Vec::new();
            while let Some(b) = r.next_block().expect("reads") {
                got.push(b.to_vec());
            }
            assert_eq!(got, blocks);
            assert_eq!(r.frames(), frames);
        }
        // Nothing is left behind in the directory (the file has no name).
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn a_copy_past_its_cap_or_short_of_the_frames_is_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let block = vec![vec![0.5f32; 1000]; 2];
        let mut w = ReplayWriter::create(dir.path(), 2, 10_000).expect("file");
        w.write_block(&block);
        w.write_block(&block);
        assert!(w.finish(2000).is_none(), "over the cap");
        let mut w = ReplayWriter::create(dir.path(), 2, u64::MAX).expect("file");
        w.write_block(&block);
        assert!(w.finish(2000).is_none(), "fewer frames than pass 1 decoded");
        let mut w = ReplayWriter::create(dir.path(), 2, u64::MAX).expect("file");
        w.write_block(&vec![vec![0.5f32; 10]; 3]);
        assert!(w.finish(10).is_none(), "wrong channel count");
    }

    #[test]
    fn pcm_is_read_again_and_a_declared_length_must_fit() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(budget(&info("pcm_s16le", Some(1000)), dir.path()), None);
        assert!(budget(&info("mp3", Some(1000)), dir.path()).is_some());
        assert!(budget(&info("mp3", None), dir.path()).is_some());
        assert_eq!(budget(&info("mp3", Some(MAX_REPLAY_BYTES)), dir.path()), None);
    }
}
