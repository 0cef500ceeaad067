//! Arbitrary bytes -> probe, decode and meter, as the CLI and the Lambda do.
//!
//! Any panic is a finding. The engine turns panics inside symphonia into
//! `Error::DecoderPanic`, so that result is treated as a finding too (libfuzzer-sys's panic
//! hook usually aborts before the engine's `catch_unwind` sees the panic anyway).
#![no_main]

use std::io::Cursor;

use audioproc_engine::{AnalyzeOptions, Error, Limits, analyze_source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = AnalyzeOptions {
        // Bound the work per input: a few bytes can claim (and, for some codecs, really decode
        // to) hours of audio.
        limits: Limits { max_duration_s: 60.0, ..Default::default() },
        ..Default::default()
    };
    if let Err(Error::DecoderPanic { message }) = analyze_source(Cursor::new(data.to_vec()), &options) {
        panic!("decoder panicked: {message}");
    }
});
