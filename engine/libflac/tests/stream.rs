//! The stream libFLAC writes through the safe API: its metadata is complete, the sink's offset
//! and errors are respected, and bad input is refused without a panic. (That the audio decodes
//! bit-exactly is tested where the engine writes FLAC: `engine/tests/output.rs`.)

use std::io::{Cursor, Seek, SeekFrom, Write};

use audioproc_libflac::{Error, FlacEncoder, Settings};
use md5::{Digest, Md5};

/// A two-channel test signal: a ramp and a pseudo-random sequence, within `bits`.
fn signal(frames: usize, bits: u32) -> Vec<i32> {
    let max = (1i64 << (bits - 1)) - 1;
    let mut state = 0x2545_f491_u32;
    (0..frames)
        .flat_map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let ramp = ((i as i64 * 37) % (2 * max) - max) as i32;
            let noise = (i64::from(state) % max) as i32;
            [ramp, noise / 3]
        })
        .collect()
}

/// STREAMINFO fields: (min block, max block, min frame, max frame, rate, channels, bits,
/// total samples, MD5).
fn streaminfo(stream: &[u8]) -> (u16, u16, u32, u32, u32, u32, u32, u64, [u8; 16]) {
    assert_eq!(&stream[..4], b"fLaC");
    let b = &stream[8..42];
    let u24 = |s: &[u8]| u32::from_be_bytes([0, s[0], s[1], s[2]]);
    let packed = u64::from_be_bytes(b[10..18].try_into().expect("8 bytes"));
    (
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
        u24(&b[4..7]),
        u24(&b[7..10]),
        (packed >> 44) as u32,
        ((packed >> 41) & 7) as u32 + 1,
        ((packed >> 36) & 31) as u32 + 1,
        packed & ((1 << 36) - 1),
        b[18..34].try_into().expect("16 bytes"),
    )
}

/// The metadata blocks: (type, length), and the offset of the first frame.
fn metadata(stream: &[u8]) -> (Vec<(u8, usize)>, usize) {
    let (mut blocks, mut at) = (Vec::new(), 4);
    loop {
        let (kind, len) = (stream[at] & 0x7f, u32::from_be_bytes([0, stream[at + 1], stream[at + 2], stream[at + 3]]));
        blocks.push((kind, len as usize));
        at += 4 + len as usize;
        if stream[at - 4 - len as usize] & 0x80 != 0 {
            return (blocks, at);
        }
    }
}

fn md5_of(samples: &[i32], bits: u32) -> [u8; 16] {
    let width = (bits / 8) as usize;
    let mut md5 = Md5::new();
    for s in samples {
        md5.update(&s.to_le_bytes()[..width]);
    }
    md5.finalize().into()
}

fn encode(settings: &Settings, samples: &[i32], chunk: usize) -> Vec<u8> {
    let mut encoder = FlacEncoder::new(settings, Cursor::new(Vec::new())).expect("new");
    for part in samples.chunks(chunk * settings.channels as usize) {
        encoder.write_interleaved(part).expect("write");
    }
    encoder.finish().expect("finish").into_inner()
}

#[test]
fn streaminfo_is_complete_at_every_level_depth_and_thread_count() {
    for bits in [16, 24] {
        let samples = signal(100_000, bits);
        let mut sizes = Vec::new();
        for (level, threads) in [(0, 1), (5, 1), (5, 2), (8, 2)] {
            let settings = Settings { compression_level: level, threads, ..Settings::new(44_100, 2, bits) };
            let stream = encode(&settings, &samples, 1000);
            let (min_block, max_block, min_frame, max_frame, rate, channels, depth, total, md5) = streaminfo(&stream);
            assert_eq!((rate, channels, depth, total), (44_100, 2, bits, 100_000), "level {level}");
            assert!(min_block >= 16 && min_block == max_block, "fixed block size: {min_block} {max_block}");
            assert!(min_frame > 0 && max_frame >= min_frame);
            assert_eq!(md5, md5_of(&samples, bits), "MD5 of the samples, level {level}, {threads} threads");
            // STREAMINFO, libFLAC's VORBIS_COMMENT (its vendor string), then 8 KiB of PADDING last.
            let kinds: Vec<u8> = metadata(&stream).0.iter().map(|b| b.0).collect();
            assert_eq!(kinds, [0, 4, 1]);
            assert_eq!(metadata(&stream).0[2].1, 8192);
            if threads == 1 {
                sizes.push((level, stream.len()));
            } else {
                let single = encode(&Settings { threads: 1, ..settings }, &samples, 4096);
                assert_eq!(stream, single, "threads change nothing in the stream");
            }
        }
        assert!(sizes[0].1 > sizes[1].1, "level 5 compresses better than 0: {sizes:?}");
    }
}

#[test]
fn the_stream_starts_where_the_sink_is() {
    let mut sink = Cursor::new(Vec::new());
    sink.write_all(b"prefix").expect("prefix");
    let samples = signal(5000, 16);
    let mut encoder = FlacEncoder::new(&Settings::new(48_000, 2, 16), sink).expect("new");
    encoder.write_interleaved(&samples).expect("write");
    let out = encoder.finish().expect("finish").into_inner();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(streaminfo(&out[6..]).7, 5000);
}

#[test]
fn no_frames_is_a_valid_empty_stream() {
    let stream = encode(&Settings::new(44_100, 1, 16), &[], 1);
    assert_eq!(streaminfo(&stream).7, 0);
    assert_eq!(metadata(&stream).1, stream.len(), "metadata only");
}

#[test]
fn bad_settings_and_input_are_errors_not_panics() {
    for settings in [
        Settings { channels: 9, ..Settings::new(44_100, 2, 16) },
        Settings { compression_level: 9, ..Settings::new(44_100, 2, 16) },
        Settings { threads: 0, ..Settings::new(44_100, 2, 16) },
        Settings::new(0, 2, 16),
        Settings::new(44_100, 2, 3),
    ] {
        assert!(
            matches!(FlacEncoder::new(&settings, Cursor::new(Vec::new())), Err(Error::Settings(_))),
            "{settings:?}"
        );
    }
    let mut encoder = FlacEncoder::new(&Settings::new(44_100, 2, 16), Cursor::new(Vec::new())).expect("new");
    assert!(matches!(encoder.write_interleaved(&[1, 2, 3]), Err(Error::Input(_))));
    assert!(matches!(encoder.write_interleaved(&[0, 40_000]), Err(Error::Input(_))));
    encoder.write_interleaved(&[0, -32_768]).expect("in range");
    assert_eq!(streaminfo(&encoder.finish().expect("finish").into_inner()).7, 1);
}

/// A sink that fails once it holds `limit` bytes.
#[derive(Debug)]
struct Failing {
    inner: Cursor<Vec<u8>>,
    limit: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.inner.get_ref().len() + buf.len() > self.limit {
            return Err(std::io::Error::other("disk full"));
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Failing {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

#[test]
fn the_sinks_error_comes_back_as_it_was() {
    for threads in [1, 2] {
        let settings = Settings { threads, ..Settings::new(44_100, 2, 16) };
        let mut encoder =
            FlacEncoder::new(&settings, Failing { inner: Cursor::new(Vec::new()), limit: 50_000 }).expect("new");
        let samples = signal(400_000, 16);
        let result = samples.chunks(8192).try_for_each(|part| encoder.write_interleaved(part));
        let error = match result {
            Err(e) => e,
            Ok(()) => encoder.finish().expect_err("the sink is full"),
        };
        assert!(matches!(&error, Error::Io(e) if e.to_string() == "disk full"), "{error:?}");
    }
    // The metadata alone does not fit: the error comes from `new`.
    let full = FlacEncoder::new(&Settings::new(44_100, 2, 16), Failing { inner: Cursor::new(Vec::new()), limit: 100 });
    assert!(matches!(full, Err(Error::Io(_))));
}

#[test]
fn an_encoder_moves_between_threads() {
    let encoder = FlacEncoder::new(&Settings::new(44_100, 2, 16), Cursor::new(Vec::new())).expect("new");
    let out = std::thread::spawn(move || {
        let mut encoder = encoder;
        encoder.write_interleaved(&signal(10_000, 16)).expect("write");
        encoder.finish().expect("finish").into_inner()
    })
    .join()
    .expect("thread");
    assert_eq!(streaminfo(&out).7, 10_000);
}
