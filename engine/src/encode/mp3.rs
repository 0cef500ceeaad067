//! MP3 writer (LAME through `mp3lame-encoder`), mono or stereo, CBR or VBR.
//!
//! LAME writes a placeholder Xing/Info frame first; [`Mp3Writer::finish`] seeks back and
//! overwrites it with the final LAME tag (frame count, encoder delay and padding), so decoders
//! that honour it (symphonia, ffmpeg, most players) play back exactly the frames written.

use std::io::{BufWriter, Seek, SeekFrom, Write};

use mp3lame_encoder::{Bitrate, Builder, DualPcm, FlushGap, Mode, MonoPcm, Quality, VbrMode};

use super::{EncodeOptions, Mp3Bitrate, sanitize, unbuffer};
use crate::error::{Error, Result};

/// Input frames handed to LAME per call (bounds the output buffer).
const CHUNK: usize = 4096;

/// Streaming MP3 writer.
pub struct Mp3Writer<W: Write + Seek> {
    out: BufWriter<W>,
    lame: mp3lame_encoder::Encoder,
    channels: usize,
    /// Position of the first (tag) frame in the sink.
    start: u64,
    planes: [Vec<f32>; 2],
    buf: Vec<u8>,
}

impl<W: Write + Seek> std::fmt::Debug for Mp3Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Writer").field("channels", &self.channels).finish_non_exhaustive()
    }
}

fn cbr(kbps: u32) -> Option<Bitrate> {
    Some(match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        _ => return None,
    })
}

fn quality(q: u8) -> Quality {
    match q {
        0 => Quality::Best,
        1 => Quality::SecondBest,
        2 => Quality::NearBest,
        3 => Quality::VeryNice,
        4 => Quality::Nice,
        5 => Quality::Good,
        6 => Quality::Decent,
        7 => Quality::Ok,
        8 => Quality::SecondWorst,
        _ => Quality::Worst,
    }
}

fn refused(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::InvalidParameter(format!("LAME refused the {what}: {e:?}"))
}

fn lame_error(e: impl std::fmt::Debug) -> Error {
    Error::Encode(format!("lame: {e:?}"))
}

impl<W: Write + Seek> Mp3Writer<W> {
    /// Configures LAME for `channels` (1 or 2) at `sample_rate`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for more than two channels, a bit rate LAME does not offer,
    /// a VBR quality above 9, or a configuration LAME refuses.
    pub fn new(options: &EncodeOptions, sample_rate: u32, channels: usize, mut sink: W) -> Result<Self> {
        if !(1..=2).contains(&channels) {
            return Err(Error::InvalidParameter(format!("MP3 carries 1 or 2 channels, not {channels}")));
        }
        let mut b = Builder::new().ok_or_else(|| Error::Encode("lame_init failed".to_owned()))?;
        b.set_num_channels(channels as u8).map_err(|e| refused("channel count", e))?;
        b.set_sample_rate(sample_rate).map_err(|e| refused("sample rate", e))?;
        b.set_mode(if channels == 1 { Mode::Mono } else { Mode::JointStereo }).map_err(|e| refused("mode", e))?;
        // Algorithm quality 2 ("-q 2"): near-best, a few times faster than 0.
        b.set_quality(Quality::NearBest).map_err(|e| refused("quality", e))?;
        match options.mp3 {
            Mp3Bitrate::Cbr(kbps) => {
                let rate =
                    cbr(kbps).ok_or_else(|| Error::InvalidParameter(format!("{kbps} kb/s is not an MP3 bit rate")))?;
                b.set_vbr_mode(VbrMode::Off).map_err(|e| refused("VBR mode", e))?;
                b.set_brate(rate).map_err(|e| refused("bit rate", e))?;
            }
            Mp3Bitrate::Vbr(q) => {
                if q > 9 {
                    return Err(Error::InvalidParameter(format!("MP3 VBR quality is 0..=9, not {q}")));
                }
                b.set_vbr_mode(VbrMode::Mtrh).map_err(|e| refused("VBR mode", e))?;
                b.set_vbr_quality(quality(q)).map_err(|e| refused("VBR quality", e))?;
            }
        }
        b.set_to_write_vbr_tag(true).map_err(|e| refused("LAME tag", e))?;
        let lame = b.build().map_err(|e| refused("configuration", e))?;
        let start = sink.stream_position()?;
        Ok(Mp3Writer {
            out: BufWriter::with_capacity(1 << 16, sink),
            lame,
            channels,
            start,
            planes: [Vec::with_capacity(CHUNK), Vec::with_capacity(CHUNK)],
            buf: Vec::new(),
        })
    }

    /// Encodes one planar block.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`].
    pub fn write(&mut self, block: &[Vec<f32>]) -> Result<()> {
        let n = block.first().map_or(0, Vec::len);
        let mut pos = 0;
        while pos < n {
            let end = (pos + CHUNK).min(n);
            for (dst, src) in self.planes.iter_mut().zip(block) {
                dst.clear();
                dst.extend(src[pos..end].iter().map(|&x| sanitize(x)));
            }
            self.buf.clear();
            self.buf.reserve((end - pos) * 5 / 4 + 7200);
            let [l, r] = &self.planes;
            if self.channels == 1 {
                self.lame.encode_to_vec(MonoPcm(l.as_slice()), &mut self.buf).map_err(lame_error)?;
            } else {
                self.lame.encode_to_vec(DualPcm { left: l, right: r }, &mut self.buf).map_err(lame_error)?;
            }
            self.out.write_all(&self.buf)?;
            pos = end;
        }
        Ok(())
    }

    /// Flushes LAME, writes the final LAME tag over the placeholder frame and returns the sink.
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::Io`].
    pub fn finish(mut self) -> Result<W> {
        self.buf.clear();
        self.buf.reserve(7200);
        self.lame.flush_to_vec::<FlushGap>(&mut self.buf).map_err(lame_error)?;
        self.out.write_all(&self.buf)?;
        let end = self.out.stream_position()?;
        let mut tag = Vec::with_capacity(self.lame.lame_tag_size().max(1));
        if self.lame.lame_tag_encode_to_vec(&mut tag).is_some() && (tag.len() as u64) <= end - self.start {
            self.out.seek(SeekFrom::Start(self.start))?;
            self.out.write_all(&tag)?;
            self.out.seek(SeekFrom::Start(end))?;
        } else {
            return Err(Error::Encode("lame: no LAME tag to write".to_owned()));
        }
        unbuffer(self.out)
    }
}
