//! The one module with `unsafe`: libFLAC's stream encoder, owned by [`FlacEncoder`].
//!
//! Invariants every `unsafe` block below relies on:
//! - `raw` is a live encoder from `FLAC__stream_encoder_new`, deleted exactly once (in
//!   `release`), and only used through `&mut self`, so libFLAC is never entered twice at once;
//! - `sink` comes from `Box::into_raw` and is freed exactly once, after the encoder is deleted,
//!   so every callback (they run inside libFLAC calls made through `&mut self`, on the caller's
//!   thread: libFLAC's worker threads only encode, the write/seek/tell calls stay on the thread
//!   that called it) finds it alive and unaliased;
//! - the PADDING object handed to `FLAC__stream_encoder_set_metadata` lives until the encoder is
//!   deleted (libFLAC keeps a pointer to it until then).

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io::{Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use libflac_sys as sys;

use crate::{Error, Settings};

mod decoder;

pub use decoder::{FlacDecoder, SeekPoint};

/// Frames handed to libFLAC per call (its sample count is a `u32`).
const FRAMES_PER_CALL: usize = 1 << 16;

/// The sink, and the first error a callback met (libFLAC only learns "fatal").
struct Sink<W> {
    out: W,
    error: Option<std::io::Error>,
}

/// A FLAC stream being written into `W` by libFLAC.
///
/// [`FlacEncoder::finish`] completes the stream (STREAMINFO is rewritten in place, so the sink
/// must seek); dropping an encoder without finishing leaves an unfinished stream.
pub struct FlacEncoder<W: Write + Seek> {
    raw: Option<NonNull<sys::FLAC__StreamEncoder>>,
    sink: Option<NonNull<Sink<W>>>,
    padding: Option<NonNull<sys::FLAC__StreamMetadata>>,
    channels: usize,
    range: (i32, i32),
}

// SAFETY: a libFLAC encoder has no thread affinity (no thread-local state; its worker threads
// are its own and joined by finish/delete); the encoder owns its sink, which is `Send`.
unsafe impl<W: Write + Seek + Send> Send for FlacEncoder<W> {}

impl<W: Write + Seek> std::fmt::Debug for FlacEncoder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacEncoder").field("channels", &self.channels).finish_non_exhaustive()
    }
}

impl<W: Write + Seek> FlacEncoder<W> {
    /// Starts a stream at the sink's current position (the metadata is written at once).
    ///
    /// # Errors
    /// [`Error::Settings`] for a setting out of range; [`Error::Io`] when the sink fails;
    /// [`Error::Encoder`] when libFLAC cannot start (out of memory).
    pub fn new(settings: &Settings, out: W) -> Result<Self, Error> {
        settings.check()?;
        // SAFETY: no preconditions; null means out of memory.
        let raw = NonNull::new(unsafe { sys::FLAC__stream_encoder_new() })
            .ok_or_else(|| Error::Encoder("out of memory".to_owned()))?;
        let sink = NonNull::from(Box::leak(Box::new(Sink { out, error: None })));
        // From here on, `Drop` frees all three.
        let mut encoder = FlacEncoder {
            raw: Some(raw),
            sink: Some(sink),
            padding: None,
            channels: settings.channels as usize,
            range: settings.sample_range(),
        };
        encoder.configure(settings)?;
        // SAFETY: `raw` is live and not initialised; the callbacks match `W`, `sink` is the
        // `Sink<W>` they expect and outlives the encoder (module invariants).
        let status = unsafe {
            sys::FLAC__stream_encoder_init_stream(
                raw.as_ptr(),
                Some(write_callback::<W>),
                Some(seek_callback::<W>),
                Some(tell_callback::<W>),
                None,
                sink.as_ptr().cast::<c_void>(),
            )
        };
        if status != sys::FLAC__STREAM_ENCODER_INIT_STATUS_OK {
            return Err(encoder.take_io_error().unwrap_or_else(|| Error::Settings(init_status(status).to_owned())));
        }
        Ok(encoder)
    }

    /// Sets every parameter before `init`.
    fn configure(&mut self, settings: &Settings) -> Result<(), Error> {
        let raw = self.raw().as_ptr();
        // SAFETY: `raw` is live and not yet initialised, which is all these setters ask; a
        // setter returns false only on an initialised encoder.
        let ok = unsafe {
            let subset = sys::FLAC__format_sample_rate_is_subset(settings.sample_rate);
            sys::FLAC__stream_encoder_set_verify(raw, 0) != 0
                && sys::FLAC__stream_encoder_set_streamable_subset(raw, subset) != 0
                && sys::FLAC__stream_encoder_set_channels(raw, settings.channels) != 0
                && sys::FLAC__stream_encoder_set_bits_per_sample(raw, settings.bits_per_sample) != 0
                && sys::FLAC__stream_encoder_set_sample_rate(raw, settings.sample_rate) != 0
                && sys::FLAC__stream_encoder_set_compression_level(raw, settings.compression_level) != 0
        };
        if !ok {
            return Err(Error::Settings("libFLAC refused a setting".to_owned()));
        }
        // SAFETY: as above.
        let threads = unsafe { sys::FLAC__stream_encoder_set_num_threads(raw, settings.threads) };
        // A libFLAC built without threads encodes on the caller's thread: same stream, slower.
        if threads != sys::FLAC__STREAM_ENCODER_SET_NUM_THREADS_OK
            && threads != sys::FLAC__STREAM_ENCODER_SET_NUM_THREADS_NOT_COMPILED_WITH_MULTITHREADING_ENABLED
        {
            return Err(Error::Settings(format!("libFLAC refused {} threads", settings.threads)));
        }
        if settings.padding > 0 {
            // SAFETY: no preconditions; null means out of memory.
            let padding = NonNull::new(unsafe { sys::FLAC__metadata_object_new(sys::FLAC__METADATA_TYPE_PADDING) })
                .ok_or_else(|| Error::Encoder("out of memory".to_owned()))?;
            self.padding = Some(padding);
            let mut blocks = [padding.as_ptr()];
            // SAFETY: `padding` is a live PADDING object, whose `length` is its byte count; the
            // encoder copies the array of pointers and the object lives until the encoder is
            // deleted (module invariants).
            let set = unsafe {
                (*padding.as_ptr()).length = settings.padding;
                sys::FLAC__stream_encoder_set_metadata(raw, blocks.as_mut_ptr(), 1)
            };
            if set == 0 {
                return Err(Error::Settings("libFLAC refused the PADDING block".to_owned()));
            }
        }
        Ok(())
    }

    /// Encodes interleaved samples (whole frames, each sample within the bit depth).
    ///
    /// # Errors
    /// [`Error::Input`] for a partial frame or a sample out of range (nothing of this call is
    /// encoded); [`Error::Io`] when the sink failed; [`Error::Encoder`] when libFLAC stopped.
    pub fn write_interleaved(&mut self, samples: &[i32]) -> Result<(), Error> {
        if !samples.len().is_multiple_of(self.channels) {
            return Err(Error::Input(format!("{} samples are not whole frames of {}", samples.len(), self.channels)));
        }
        let (min, max) = self.range;
        if let Some(bad) = samples.iter().find(|&&s| s < min || s > max) {
            return Err(Error::Input(format!("sample {bad} is outside {min} ..= {max}")));
        }
        for chunk in samples.chunks(FRAMES_PER_CALL * self.channels) {
            let frames = (chunk.len() / self.channels) as u32;
            // SAFETY: `raw` is live and initialised; `chunk` holds `frames × channels` samples,
            // read during the call only.
            let ok =
                unsafe { sys::FLAC__stream_encoder_process_interleaved(self.raw().as_ptr(), chunk.as_ptr(), frames) };
            if ok == 0 {
                return Err(self.failure());
            }
        }
        Ok(())
    }

    /// Encodes what is buffered, rewrites STREAMINFO (MD5, total samples, frame sizes) and
    /// returns the sink, positioned at its end (after the last frame).
    ///
    /// # Errors
    /// [`Error::Io`] when the sink failed; [`Error::Encoder`] when libFLAC stopped.
    pub fn finish(mut self) -> Result<W, Error> {
        // SAFETY: `raw` is live and initialised.
        let ok = unsafe { sys::FLAC__stream_encoder_finish(self.raw().as_ptr()) };
        if ok == 0 {
            return Err(self.failure());
        }
        let mut sink = self.release().ok_or_else(|| Error::Encoder("no sink".to_owned()))?;
        if let Some(e) = sink.error {
            return Err(Error::Io(e));
        }
        // libFLAC leaves the sink just after the STREAMINFO it rewrote.
        sink.out.seek(SeekFrom::End(0))?;
        Ok(sink.out)
    }

    fn raw(&self) -> NonNull<sys::FLAC__StreamEncoder> {
        self.raw.expect("the encoder is live until finish or drop")
    }

    /// The error behind a failed libFLAC call: the sink's, or libFLAC's state.
    fn failure(&mut self) -> Error {
        if let Some(e) = self.take_io_error() {
            return e;
        }
        // SAFETY: `raw` is live.
        let state = unsafe { sys::FLAC__stream_encoder_get_state(self.raw().as_ptr()) };
        Error::Encoder(encoder_state(state).to_owned())
    }

    fn take_io_error(&mut self) -> Option<Error> {
        // SAFETY: `sink` is live and no libFLAC call is running (we hold `&mut self`).
        let sink = unsafe { self.sink?.as_mut() };
        sink.error.take().map(Error::Io)
    }

    /// Deletes the encoder, then the PADDING object, and hands back the sink.
    fn release(&mut self) -> Option<Box<Sink<W>>> {
        if let Some(raw) = self.raw.take() {
            // SAFETY: `raw` is live and deleted once (taken out of `self`); an initialised
            // encoder finishes inside delete, calling back into `sink`, which is still alive.
            unsafe { sys::FLAC__stream_encoder_delete(raw.as_ptr()) };
        }
        if let Some(padding) = self.padding.take() {
            // SAFETY: the object came from `FLAC__metadata_object_new`; the encoder that pointed
            // to it is gone.
            unsafe { sys::FLAC__metadata_object_delete(padding.as_ptr()) };
        }
        // SAFETY: `sink` came from `Box::into_raw` (`Box::leak`) and is taken out of `self`, so
        // it is turned back into a box once; nothing points to it any more.
        self.sink.take().map(|sink| unsafe { Box::from_raw(sink.as_ptr()) })
    }
}

impl<W: Write + Seek> Drop for FlacEncoder<W> {
    fn drop(&mut self) {
        drop(self.release());
    }
}

/// Runs a sink operation for a callback: its error (or a panic, which must not unwind into C)
/// is kept for the caller and reported to libFLAC as a failure.
///
/// # Safety
/// `client` must point to a live `Sink<W>` that nothing else uses during the call.
unsafe fn sink_op<W, T>(client: *mut c_void, op: impl FnOnce(&mut W) -> std::io::Result<T>) -> Option<T> {
    // SAFETY: the caller's contract.
    let sink = unsafe { &mut *client.cast::<Sink<W>>() };
    let result = catch_unwind(AssertUnwindSafe(|| op(&mut sink.out)))
        .unwrap_or_else(|_| Err(std::io::Error::other("the FLAC output's writer panicked")));
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            sink.error.get_or_insert(e);
            None
        }
    }
}

unsafe extern "C" fn write_callback<W: Write + Seek>(
    _encoder: *const sys::FLAC__StreamEncoder,
    buffer: *const sys::FLAC__byte,
    bytes: usize,
    _samples: u32,
    _current_frame: u32,
    client: *mut c_void,
) -> sys::FLAC__StreamEncoderWriteStatus {
    let data = match bytes {
        0 => &[][..],
        // SAFETY: libFLAC passes `bytes` readable bytes at `buffer` for the call.
        _ => unsafe { std::slice::from_raw_parts(buffer, bytes) },
    };
    // SAFETY: `client` is the encoder's `Sink<W>`, alive and unaliased while libFLAC runs
    // (module invariants).
    match unsafe { sink_op::<W, ()>(client, |out| out.write_all(data)) } {
        Some(()) => sys::FLAC__STREAM_ENCODER_WRITE_STATUS_OK,
        None => sys::FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR,
    }
}

unsafe extern "C" fn seek_callback<W: Write + Seek>(
    _encoder: *const sys::FLAC__StreamEncoder,
    offset: u64,
    client: *mut c_void,
) -> sys::FLAC__StreamEncoderSeekStatus {
    // SAFETY: as in `write_callback`.
    match unsafe { sink_op::<W, u64>(client, |out| out.seek(SeekFrom::Start(offset))) } {
        Some(_) => sys::FLAC__STREAM_ENCODER_SEEK_STATUS_OK,
        None => sys::FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR,
    }
}

unsafe extern "C" fn tell_callback<W: Write + Seek>(
    _encoder: *const sys::FLAC__StreamEncoder,
    offset: *mut u64,
    client: *mut c_void,
) -> sys::FLAC__StreamEncoderTellStatus {
    // SAFETY: as in `write_callback`.
    match unsafe { sink_op::<W, u64>(client, |out| out.stream_position()) } {
        Some(position) => {
            // SAFETY: libFLAC passes a writable `u64` for the answer.
            unsafe { *offset = position };
            sys::FLAC__STREAM_ENCODER_TELL_STATUS_OK
        }
        None => sys::FLAC__STREAM_ENCODER_TELL_STATUS_ERROR,
    }
}

/// libFLAC's name for an encoder state (`FLAC__StreamEncoderState`).
fn encoder_state(state: sys::FLAC__StreamEncoderState) -> &'static str {
    const NAMES: [&str; 9] = [
        "ok",
        "uninitialized",
        "Ogg error",
        "verify decoder error",
        "verify mismatch in audio data",
        "client error",
        "I/O error",
        "framing error",
        "memory allocation error",
    ];
    NAMES.get(state as usize).copied().unwrap_or("unknown state")
}

/// libFLAC's name for an init status (`FLAC__StreamEncoderInitStatus`).
fn init_status(status: sys::FLAC__StreamEncoderInitStatus) -> &'static str {
    const NAMES: [&str; 14] = [
        "ok",
        "encoder error",
        "unsupported container",
        "invalid callbacks",
        "invalid number of channels",
        "invalid bits per sample",
        "invalid sample rate",
        "invalid block size",
        "invalid maximum LPC order",
        "invalid QLP coefficient precision",
        "block size too small for the LPC order",
        "not streamable",
        "invalid metadata",
        "already initialized",
    ];
    NAMES.get(status as usize).copied().unwrap_or("unknown init status")
}
