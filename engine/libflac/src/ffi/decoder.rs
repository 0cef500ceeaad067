//! libFLAC's stream decoder, owned by [`FlacDecoder`].
//!
//! Invariants every `unsafe` block below relies on (as the encoder's, in the parent module):
//! - `raw` is a live decoder from `FLAC__stream_decoder_new`, deleted exactly once (in
//!   `Drop`), and only used through `&mut self`, so libFLAC is never entered twice at once;
//! - `client` comes from `Box::into_raw` and is freed exactly once, after the decoder is
//!   deleted, so every callback (they run inside libFLAC calls made through `&mut self`, on the
//!   caller's thread) finds it alive and unaliased.

use std::ffi::c_void;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use libflac_sys as sys;

use crate::{Error, StreamInfo};

/// The source, what the callbacks learnt, and where decoded frames go.
struct Client<R> {
    source: R,
    /// Bytes in the source, the position the next read starts from, and where reading stops
    /// (the end of the source, or of the window set by [`FlacDecoder::decode_window`]).
    len: u64,
    pos: u64,
    end: u64,
    /// The first error of the source (libFLAC only learns "abort").
    io_error: Option<std::io::Error>,
    info: Option<StreamInfo>,
    /// Decoded planes (`f32`, `sample / 2^(bits-1)`), appended to by the write callback.
    planes: Vec<Vec<f32>>,
    /// Frames the write callback appended during the current call.
    appended: usize,
    /// Errors libFLAC reported (lost sync, bad header, CRC mismatch …): frames it skipped.
    errors: u64,
    /// A frame whose layout disagrees with STREAMINFO (stops decoding).
    mismatch: Option<String>,
    /// The SEEKTABLE's points (placeholders left out).
    seek_points: Vec<SeekPoint>,
}

/// One point of a stream's SEEKTABLE: the frame that starts at `sample` begins `offset` bytes
/// after the first frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeekPoint {
    /// The first sample (per channel) of the frame.
    pub sample: u64,
    /// Its byte offset from the first frame's first byte.
    pub offset: u64,
}

/// A FLAC stream read from `R` by libFLAC, frame by frame, as planar `f32`.
pub struct FlacDecoder<R: Read + Seek> {
    raw: NonNull<sys::FLAC__StreamDecoder>,
    client: NonNull<Client<R>>,
    info: StreamInfo,
    /// Where the first frame starts in the source.
    first_frame: u64,
}

// SAFETY: a libFLAC decoder has no thread affinity (no thread-local state, no threads of its
// own); the decoder owns its client, which is `Send` when `R` is.
unsafe impl<R: Read + Seek + Send> Send for FlacDecoder<R> {}

impl<R: Read + Seek> std::fmt::Debug for FlacDecoder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacDecoder").field("info", &self.info).finish_non_exhaustive()
    }
}

impl<R: Read + Seek> FlacDecoder<R> {
    /// Starts decoding `source` from its current position (leading ID3v2 tags are skipped) and
    /// reads the metadata up to the first audio frame.
    ///
    /// # Errors
    /// [`Error::Io`] when the source fails; [`Error::NotFlac`] when it is not a FLAC stream
    /// (no STREAMINFO); [`Error::Decoder`] when libFLAC cannot start.
    pub fn new(mut source: R) -> Result<Self, Error> {
        let pos = source.stream_position()?;
        let len = source.seek(SeekFrom::End(0))?;
        source.seek(SeekFrom::Start(pos))?;
        // SAFETY: no preconditions; null means out of memory.
        let raw = NonNull::new(unsafe { sys::FLAC__stream_decoder_new() })
            .ok_or_else(|| Error::Decoder("out of memory".to_owned()))?;
        let client = Client {
            source,
            len,
            pos,
            end: len,
            seek_points: Vec::new(),
            io_error: None,
            info: None,
            planes: Vec::new(),
            appended: 0,
            errors: 0,
            mismatch: None,
        };
        let client = NonNull::from(Box::leak(Box::new(client)));
        // From here on, `Drop` frees both.
        let mut decoder = FlacDecoder { raw, client, info: StreamInfo::default(), first_frame: 0 };
        // SAFETY: `raw` is live and not initialised, which is all this setter asks.
        unsafe { sys::FLAC__stream_decoder_set_metadata_respond(raw.as_ptr(), sys::FLAC__METADATA_TYPE_SEEKTABLE) };
        // SAFETY: `raw` is live and not initialised; the callbacks match `R`, `client` is the
        // `Client<R>` they expect and outlives the decoder (module invariants).
        let status = unsafe {
            sys::FLAC__stream_decoder_init_stream(
                raw.as_ptr(),
                Some(read_callback::<R>),
                Some(seek_callback::<R>),
                Some(tell_callback::<R>),
                Some(length_callback::<R>),
                Some(eof_callback::<R>),
                Some(write_callback::<R>),
                Some(metadata_callback::<R>),
                Some(error_callback::<R>),
                client.as_ptr().cast::<c_void>(),
            )
        };
        if status != sys::FLAC__STREAM_DECODER_INIT_STATUS_OK {
            return Err(Error::Decoder(format!("libFLAC could not start (init status {status})")));
        }
        // SAFETY: `raw` is live and initialised.
        let ok = unsafe { sys::FLAC__stream_decoder_process_until_end_of_metadata(raw.as_ptr()) };
        let mut first_frame = 0u64;
        // SAFETY: as above; libFLAC writes the position into `first_frame` (the read position
        // less what it holds unread: the first frame's first byte).
        if unsafe { sys::FLAC__stream_decoder_get_decode_position(raw.as_ptr(), &raw mut first_frame) } != 0 {
            decoder.first_frame = first_frame;
        }
        let client = decoder.client_mut();
        if let Some(e) = client.io_error.take() {
            return Err(Error::Io(e));
        }
        decoder.info = match client.info {
            Some(info) if ok != 0 => info,
            _ => return Err(Error::NotFlac),
        };
        Ok(decoder)
    }

    /// What STREAMINFO says.
    pub fn info(&self) -> StreamInfo {
        self.info
    }

    /// The SEEKTABLE's points, in stream order (empty without a SEEKTABLE).
    pub fn seek_points(&self) -> &[SeekPoint] {
        // SAFETY: `client` is live and no libFLAC call is running (we hold `&self`).
        &unsafe { self.client.as_ref() }.seek_points
    }

    /// The byte position of the first frame in the source (0 when libFLAC could not say).
    pub fn first_frame_offset(&self) -> u64 {
        self.first_frame
    }

    /// From now on, decodes the frames in the source's bytes `start .. end` (whole frames, e.g.
    /// between two seek points): what was read ahead is dropped, and the next frame is not
    /// taken as the successor of the last (no gap is filled between windows).
    ///
    /// # Errors
    /// [`Error::Io`] when the source cannot seek; [`Error::Decoder`] when libFLAC cannot flush
    /// (out of memory).
    pub fn decode_window(&mut self, start: u64, end: u64) -> Result<(), Error> {
        // SAFETY: `raw` is live and initialised; flushing drops the bytes read ahead, and fails
        // only when out of memory.
        if unsafe { sys::FLAC__stream_decoder_flush(self.raw.as_ptr()) } == 0 {
            return Err(Error::Decoder("libFLAC could not flush (out of memory)".to_owned()));
        }
        let client = self.client_mut();
        client.pos = client.source.seek(SeekFrom::Start(start))?;
        client.end = end.min(client.len).max(client.pos);
        Ok(())
    }

    /// Frames libFLAC could not decode so far (each error it reported: lost sync, a bad frame
    /// header, a CRC mismatch); the frames after them are decoded as usual, and a gap of missing
    /// frames between two good ones is filled with silence (at most 5 s).
    pub fn errors(&self) -> u64 {
        // SAFETY: `client` is live and no libFLAC call is running (we hold `&self`).
        unsafe { self.client.as_ref() }.errors
    }

    /// Decodes the next frame into `planes` (one per channel, cleared first, as `f32`:
    /// `sample / 2^(bits - 1)`); the frame count, 0 at the end of the stream.
    ///
    /// # Errors
    /// [`Error::Io`] when the source fails; [`Error::Decoder`] when libFLAC stops (memory) or a
    /// frame's channel count or bit depth disagrees with STREAMINFO.
    pub fn next_frame(&mut self, planes: &mut Vec<Vec<f32>>) -> Result<usize, Error> {
        planes.iter_mut().for_each(Vec::clear);
        self.append_frame(planes)
    }

    /// As [`FlacDecoder::next_frame`], but the frame is appended to what `planes` hold.
    ///
    /// # Errors
    /// As [`FlacDecoder::next_frame`].
    pub fn append_frame(&mut self, planes: &mut Vec<Vec<f32>>) -> Result<usize, Error> {
        let raw = self.raw.as_ptr();
        let client = self.client_mut();
        std::mem::swap(&mut client.planes, planes);
        client.planes.resize_with(client.info.map_or(0, |i| i.channels as usize), Vec::new);
        client.appended = 0;
        let result = loop {
            // SAFETY: `raw` is live and initialised; the callbacks it makes find `client` alive
            // (module invariants); we do not touch `client` until it returns.
            let ok = unsafe { sys::FLAC__stream_decoder_process_single(raw) };
            // SAFETY: as above; the call is over.
            let state = unsafe { sys::FLAC__stream_decoder_get_state(raw) };
            let client = self.client_mut();
            if let Some(e) = client.io_error.take() {
                break Err(Error::Io(e));
            }
            if let Some(m) = client.mismatch.take() {
                break Err(Error::Decoder(m));
            }
            if client.appended > 0 || state == sys::FLAC__STREAM_DECODER_END_OF_STREAM {
                break Ok(client.appended);
            }
            if ok == 0 {
                break Err(Error::Decoder(format!("libFLAC stopped (decoder state {state})")));
            }
        };
        std::mem::swap(&mut self.client_mut().planes, planes);
        result
    }

    fn client_mut(&mut self) -> &mut Client<R> {
        // SAFETY: `client` is live and no libFLAC call is running (we hold `&mut self`).
        unsafe { self.client.as_mut() }
    }
}

impl<R: Read + Seek> Drop for FlacDecoder<R> {
    fn drop(&mut self) {
        // SAFETY: `raw` is live and deleted once, here; `finish` inside delete may not call
        // back for anything but MD5 checking, which is off.
        unsafe { sys::FLAC__stream_decoder_delete(self.raw.as_ptr()) };
        // SAFETY: `client` came from `Box::leak` and is freed once, here, after the decoder
        // that pointed to it is gone.
        drop(unsafe { Box::from_raw(self.client.as_ptr()) });
    }
}

/// Runs `op` on the client for a callback; a panic (which must not unwind into C) becomes an
/// I/O error kept for the caller. `None` when `op` failed.
///
/// # Safety
/// `data` must point to a live `Client<R>` that nothing else uses during the call.
unsafe fn with_client<R, T>(data: *mut c_void, op: impl FnOnce(&mut Client<R>) -> std::io::Result<T>) -> Option<T> {
    // SAFETY: the caller's contract.
    let client = unsafe { &mut *data.cast::<Client<R>>() };
    let result = catch_unwind(AssertUnwindSafe(|| op(client)))
        .unwrap_or_else(|_| Err(std::io::Error::other("the FLAC input's reader panicked")));
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            client.io_error.get_or_insert(e);
            None
        }
    }
}

unsafe extern "C" fn read_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    buffer: *mut sys::FLAC__byte,
    bytes: *mut usize,
    data: *mut c_void,
) -> sys::FLAC__StreamDecoderReadStatus {
    // SAFETY: libFLAC passes a valid `bytes` holding the buffer's room.
    let room = unsafe { *bytes };
    if room == 0 {
        return sys::FLAC__STREAM_DECODER_READ_STATUS_ABORT;
    }
    // SAFETY: libFLAC passes `room` writable bytes at `buffer` for the call.
    let buf = unsafe { std::slice::from_raw_parts_mut(buffer, room) };
    let read = |c: &mut Client<R>| loop {
        let room = buf.len().min(usize::try_from(c.end.saturating_sub(c.pos)).unwrap_or(usize::MAX));
        match c.source.read(&mut buf[..room]) {
            Ok(n) => {
                c.pos += n as u64;
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    // SAFETY: `data` is the decoder's `Client<R>`, alive and unaliased while libFLAC runs.
    match unsafe { with_client::<R, usize>(data, read) } {
        Some(n) => {
            // SAFETY: as above.
            unsafe { *bytes = n };
            if n == 0 {
                sys::FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM
            } else {
                sys::FLAC__STREAM_DECODER_READ_STATUS_CONTINUE
            }
        }
        None => sys::FLAC__STREAM_DECODER_READ_STATUS_ABORT,
    }
}

unsafe extern "C" fn seek_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    offset: u64,
    data: *mut c_void,
) -> sys::FLAC__StreamDecoderSeekStatus {
    let seek = |c: &mut Client<R>| {
        c.pos = c.source.seek(SeekFrom::Start(offset))?;
        Ok(())
    };
    // SAFETY: as in `read_callback`.
    match unsafe { with_client::<R, ()>(data, seek) } {
        Some(()) => sys::FLAC__STREAM_DECODER_SEEK_STATUS_OK,
        None => sys::FLAC__STREAM_DECODER_SEEK_STATUS_ERROR,
    }
}

unsafe extern "C" fn tell_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    offset: *mut u64,
    data: *mut c_void,
) -> sys::FLAC__StreamDecoderTellStatus {
    // SAFETY: as in `read_callback`; libFLAC passes a writable `u64` for the answer.
    unsafe { *offset = (*data.cast::<Client<R>>()).pos };
    sys::FLAC__STREAM_DECODER_TELL_STATUS_OK
}

unsafe extern "C" fn length_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    length: *mut u64,
    data: *mut c_void,
) -> sys::FLAC__StreamDecoderLengthStatus {
    // SAFETY: as in `tell_callback`.
    unsafe { *length = (*data.cast::<Client<R>>()).len };
    sys::FLAC__STREAM_DECODER_LENGTH_STATUS_OK
}

unsafe extern "C" fn eof_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    data: *mut c_void,
) -> sys::FLAC__bool {
    // SAFETY: as in `read_callback`.
    let client = unsafe { &*data.cast::<Client<R>>() };
    sys::FLAC__bool::from(client.pos >= client.end)
}

unsafe extern "C" fn write_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    frame: *const sys::FLAC__Frame,
    buffer: *const *const sys::FLAC__int32,
    data: *mut c_void,
) -> sys::FLAC__StreamDecoderWriteStatus {
    // SAFETY: as in `read_callback`; libFLAC passes a valid frame for the call.
    let (client, header) = unsafe { (&mut *data.cast::<Client<R>>(), &(*frame).header) };
    let Some(info) = client.info else {
        client.mismatch = Some("an audio frame before STREAMINFO".to_owned());
        return sys::FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    };
    if header.channels != info.channels || header.bits_per_sample != info.bits_per_sample {
        client.mismatch = Some(format!(
            "a frame of {} channels at {} bits in a stream of {} at {}",
            header.channels, header.bits_per_sample, info.channels, info.bits_per_sample
        ));
        return sys::FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    let n = header.blocksize as usize;
    let scale = 1.0 / (1u64 << (info.bits_per_sample - 1)) as f32;
    for (c, plane) in client.planes.iter_mut().enumerate() {
        // SAFETY: libFLAC passes one pointer per channel of the frame (`channels` of them,
        // checked above to equal the planes'), each to `blocksize` samples, for the call.
        let samples = unsafe { std::slice::from_raw_parts(*buffer.add(c), n) };
        // Written once (no zero fill first): a slice's mapped iterator knows its length.
        plane.extend(samples.iter().map(|&x| x as f32 * scale));
    }
    client.appended += n;
    sys::FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
}

unsafe extern "C" fn metadata_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    metadata: *const sys::FLAC__StreamMetadata,
    data: *mut c_void,
) {
    // SAFETY: as in `read_callback`; libFLAC passes a valid metadata block for the call.
    let (client, block) = unsafe { (&mut *data.cast::<Client<R>>(), &*metadata) };
    if block.type_ == sys::FLAC__METADATA_TYPE_SEEKTABLE {
        // SAFETY: the block is a SEEKTABLE, whose union member is `seek_table`, holding
        // `num_points` points at `points` for the call.
        let points = unsafe {
            let table = &block.data.seek_table;
            match table.num_points {
                0 => &[][..],
                n => std::slice::from_raw_parts(table.points, n as usize),
            }
        };
        client.seek_points = points
            .iter()
            .filter(|p| p.sample_number != u64::MAX)
            .map(|p| SeekPoint { sample: p.sample_number, offset: p.stream_offset })
            .collect();
        return;
    }
    if block.type_ != sys::FLAC__METADATA_TYPE_STREAMINFO {
        return;
    }
    // SAFETY: the block is STREAMINFO (checked above).
    let s = unsafe { &block.data.stream_info };
    client.info = Some(StreamInfo {
        sample_rate: s.sample_rate,
        channels: s.channels,
        bits_per_sample: s.bits_per_sample,
        total_frames: (s.total_samples > 0).then_some(s.total_samples),
        min_block_frames: s.min_blocksize,
        max_block_frames: s.max_blocksize,
    });
}

unsafe extern "C" fn error_callback<R: Read + Seek>(
    _decoder: *const sys::FLAC__StreamDecoder,
    _status: sys::FLAC__StreamDecoderErrorStatus,
    data: *mut c_void,
) {
    // SAFETY: as in `read_callback`.
    unsafe { (*data.cast::<Client<R>>()).errors += 1 };
}
