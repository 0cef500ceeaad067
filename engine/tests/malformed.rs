//! Regression tests for hostile, broken and degenerate inputs.
//!
//! Every input is generated here (no downloaded or committed binaries). Each test asserts the
//! precise outcome the engine gives today — a specific [`Error`] variant whose Display names the
//! cause, or `Ok` with specific warnings and plausible figures — and that it comes back quickly.
//! None may panic. Where today's outcome is questionable (silent frame loss, truncated AIFF/CAF
//! refused as "not a recognised audio format"), the assertion says so in a comment; change it
//! together with the engine.

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use audioproc_engine::{Analysis, AnalyzeOptions, Error, Limits, Warning, analyze_path, analyze_source};
use audioproc_testdata::signal::{self, Signal, SplitMix64};
use audioproc_testdata::writers::{self, Encoding, WavOptions};

/// Every single analysis in this file must come back within this (debug profile, loaded CI box).
const MAX_TIME: Duration = Duration::from_secs(2);

fn analyze_with(bytes: Vec<u8>, options: &AnalyzeOptions) -> Result<Analysis, Error> {
    let started = Instant::now();
    let result = analyze_source(Cursor::new(bytes), options);
    let elapsed = started.elapsed();
    assert!(elapsed < MAX_TIME, "analysis took {elapsed:?}");
    result
}

fn analyze(bytes: Vec<u8>) -> Result<Analysis, Error> {
    analyze_with(bytes, &AnalyzeOptions::default())
}

/// Writes `bytes` to a temporary file called `name` and analyses it by path.
fn analyze_file(name: &str, bytes: &[u8]) -> Result<Analysis, Error> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::File::create(&path).and_then(|mut f| f.write_all(bytes)).expect("write temp file");
    let started = Instant::now();
    let result = analyze_path(&path, &AnalyzeOptions::default());
    assert!(started.elapsed() < MAX_TIME, "analysis took {:?}", started.elapsed());
    result
}

fn random_bytes(rng: &mut SplitMix64, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// A one-second stereo programme at 48 kHz: the material every truncation test cuts.
fn programme() -> Signal {
    signal::programme(48_000, 2, 1.0, 3)
}

/// A stereo 997 Hz sine at half scale (−6.02 dBFS peak, −6.02 LUFS).
fn half_scale_sine(seconds: f64) -> Signal {
    signal::sine(48_000, 2, 997.0, 0.5, seconds, 0.0)
}

fn wav16(sig: &Signal) -> Vec<u8> {
    writers::wav(sig, Encoding::Pcm16, WavOptions::default())
}

fn put_u16_le(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32_le(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

// Fields of the `fmt ` chunk as `writers::wav` lays it out (RIFF header 12 bytes, chunk header 8).
const WAV_CHANNELS: usize = 22;
const WAV_RATE: usize = 24;
const WAV_BYTE_RATE: usize = 28;
const WAV_BLOCK_ALIGN: usize = 32;
const WAV_HEADER_LEN: usize = 44;

/// Asserts `result` is `Error::Unsupported` for an unrecognised input.
#[track_caller]
fn assert_unrecognised(result: Result<Analysis, Error>, what: &str) {
    match result {
        Err(e @ Error::Unsupported { .. }) => {
            assert!(e.to_string().starts_with("unsupported input: not a recognised audio format"), "{what}: {e}");
        }
        other => panic!("{what}: expected Unsupported, got {other:?}"),
    }
}

fn close(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
    matches!((a, b), (Some(a), Some(b)) if (a - b).abs() <= tol)
}

// ---------------------------------------------------------------------------------------------
// Not audio at all
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_input_is_refused_as_empty() {
    let err = analyze(Vec::new()).expect_err("no bytes");
    assert!(matches!(err, Error::Empty), "{err:?}");
    assert_eq!(err.to_string(), "file is empty");
}

#[test]
fn empty_file_by_path_is_refused_as_empty() {
    let err = analyze_file("empty.wav", &[]).expect_err("no bytes");
    assert!(matches!(err, Error::Empty), "{err:?}");
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = analyze_path(&dir.path().join("nope.wav"), &AnalyzeOptions::default()).expect_err("missing");
    match &err {
        Error::Io(io) => assert_eq!(io.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("read error: "), "{err}");
}

#[test]
fn one_to_sixteen_random_bytes_are_unrecognised() {
    let mut rng = SplitMix64::new(0x5EED_0001);
    for n in 1..=16 {
        for _ in 0..8 {
            let bytes = random_bytes(&mut rng, n);
            assert_unrecognised(analyze(bytes.clone()), &format!("{bytes:02x?}"));
        }
    }
}

#[test]
fn random_64_kib_is_unrecognised() {
    let mut rng = SplitMix64::new(0x5EED_0002);
    for i in 0..8 {
        assert_unrecognised(analyze(random_bytes(&mut rng, 64 * 1024)), &format!("random block {i}"));
    }
}

#[test]
fn text_file_is_unrecognised() {
    let text = "Track list\n1. Intro\t3:12\n2. Outro\t4:01\nRIFF WAVE fLaC OggS ID3 are just words here.\n";
    assert_unrecognised(analyze(text.repeat(40).into_bytes()), "text");
    // The name does not make it audio either.
    assert_unrecognised(analyze_file("notes.wav", text.as_bytes()), "text named .wav");
}

#[test]
fn png_header_is_unrecognised() {
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x02\x00\x00\x00".to_vec();
    png.extend(random_bytes(&mut SplitMix64::new(3), 2048));
    assert_unrecognised(analyze_file("cover.png", &png), "png");
}

#[test]
fn jpeg_header_is_unrecognised() {
    let mut jpeg = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    jpeg.extend(random_bytes(&mut SplitMix64::new(4), 2048));
    // 0xFF bytes could look like an MPEG audio sync to a loose prober; they must not here.
    assert_unrecognised(analyze_file("cover.mp3", &jpeg), "jpeg named .mp3");
}

// ---------------------------------------------------------------------------------------------
// The content decides the format, never the name
// ---------------------------------------------------------------------------------------------

#[test]
fn flac_bytes_named_wav_decode_as_flac() {
    let sig = programme();
    let a = analyze_file("x.wav", &writers::flac(&sig, 16)).expect("FLAC decodes whatever its name");
    assert_eq!(a.info.container, "flac");
    assert_eq!(a.info.codec, "flac");
    assert_eq!(a.frames, sig.frames() as u64);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[test]
fn wav_bytes_named_flac_decode_as_wav() {
    let sig = programme();
    let a = analyze_file("x.flac", &wav16(&sig)).expect("WAV decodes whatever its name");
    assert_eq!(a.info.container, "wave");
    assert_eq!(a.info.codec, "pcm_s16le");
    assert_eq!(a.frames, sig.frames() as u64);
}

#[test]
fn aiff_bytes_named_mp3_decode_as_aiff() {
    let a = analyze_file("x.mp3", &writers::aiff(&programme(), Encoding::Pcm16)).expect("AIFF decodes");
    assert_eq!(a.info.container, "aiff");
    assert_eq!(a.frames, 48_000);
}

// ---------------------------------------------------------------------------------------------
// Truncation
// ---------------------------------------------------------------------------------------------

/// Cut points: every byte of the header region, then a spread through the data, then the last
/// few bytes.
fn cut_points(len: usize, header: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (1..=header + 16).collect();
    cuts.extend((header..len).step_by(len / 37));
    cuts.extend([len / 2, len / 2 + 1, len - 4096, len - 9, len - 8, len - 5, len - 4, len - 3, len - 2, len - 1]);
    cuts.retain(|&c| c > 0 && c < len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// WAV: a cut in the 44-byte header is unrecognised; a cut anywhere after it is measured up to
/// the last whole frame. `Warning::Truncated` is given when at least one whole frame is missing.
/// Less than one frame missing (e.g. one byte short) is silent: symphonia's RIFF reader sees no
/// whole block left and reports a clean end — the partial frame is dropped without a warning.
fn check_wav_truncations(enc: Encoding) {
    let sig = programme();
    let bytes = writers::wav(&sig, enc, WavOptions::default());
    let block = 2 * usize::from(enc.bits() / 8);
    let len = bytes.len();
    assert_eq!(len, WAV_HEADER_LEN + block * sig.frames());
    for cut in cut_points(len, WAV_HEADER_LEN) {
        let result = analyze(bytes[..cut].to_vec());
        if cut < WAV_HEADER_LEN {
            assert_unrecognised(result, &format!("{enc:?} cut at {cut}"));
            continue;
        }
        let a = result.unwrap_or_else(|e| panic!("{enc:?} cut at {cut}: {e}"));
        assert_eq!(a.frames, ((cut - WAV_HEADER_LEN) / block) as u64, "{enc:?} cut at {cut}");
        assert_eq!(a.info.declared_frames, Some(sig.frames() as u64));
        let missing_whole_frame = len - cut >= block;
        let expected: &[Warning] = if missing_whole_frame { &[Warning::Truncated] } else { &[] };
        assert_eq!(a.warnings, expected, "{enc:?} cut at {cut}");
        if a.frames == 0 {
            assert_eq!(a.loudness.sample_peak_dbfs, None);
        }
    }
}

#[test]
fn wav_pcm16_truncated_anywhere_measures_the_frames_before_the_cut() {
    check_wav_truncations(Encoding::Pcm16);
}

#[test]
fn wav_pcm24_truncated_anywhere_measures_the_frames_before_the_cut() {
    check_wav_truncations(Encoding::Pcm24);
}

#[test]
fn wav_float32_truncated_anywhere_measures_the_frames_before_the_cut() {
    check_wav_truncations(Encoding::Float32);
}

#[test]
fn wav_truncated_to_half_measures_the_first_half() {
    let sig = programme();
    let bytes = wav16(&sig);
    let a = analyze(bytes[..WAV_HEADER_LEN + 4 * 24_000].to_vec()).expect("measured");
    assert_eq!(a.frames, 24_000);
    assert_eq!(a.warnings, [Warning::Truncated]);
    let mut first_half = sig.clone();
    first_half.planes.iter_mut().for_each(|p| p.truncate(24_000));
    let whole = analyze(wav16(&first_half)).expect("measured");
    assert_eq!(a.loudness, whole.loudness);
}

/// AIFF: any truncation at all — even one byte short — makes the file unreadable. On a seekable
/// source symphonia's AIFF reader skips over the whole SSND chunk while probing to look for
/// chunks after it, hits the end of the file, and the probe fails; the engine reports that as
/// "not a recognised audio format (too short)". Reported: a truncated AIFF should be measured
/// (with `Warning::Truncated`) like a truncated WAV, or at least be called truncated.
#[test]
fn aiff_truncated_anywhere_is_refused_as_too_short() {
    let bytes = writers::aiff(&programme(), Encoding::Pcm16);
    let len = bytes.len();
    for cut in cut_points(len, 54) {
        let result = analyze(bytes[..cut].to_vec());
        if cut >= 12 {
            match &result {
                Err(Error::Unsupported { reason }) => {
                    assert_eq!(reason, "not a recognised audio format (too short)", "cut at {cut}");
                }
                other => panic!("AIFF cut at {cut}: {other:?}"),
            }
        }
        assert_unrecognised(result, &format!("AIFF cut at {cut}"));
    }
    assert_eq!(analyze(bytes).expect("whole file").frames, 48_000);
}

/// CAF: like AIFF, any cut into or after the `data` chunk header is refused as "too short". A
/// cut exactly at the end of the `desc` chunk (no `data` chunk at all) gives `Ok` with no frames
/// and `Warning::Truncated`.
#[test]
fn caf_truncated_anywhere_is_refused_as_too_short() {
    let bytes = writers::caf(&programme(), Encoding::Pcm16);
    let len = bytes.len();
    const DESC_END: usize = 8 + 12 + 32;
    for cut in cut_points(len, 64) {
        let result = analyze(bytes[..cut].to_vec());
        if cut == DESC_END {
            let a = result.expect("header only");
            assert_eq!((a.frames, a.warnings.as_slice()), (0, &[Warning::Truncated][..]));
            assert_eq!(a.info.container, "caf");
            continue;
        }
        assert_unrecognised(result, &format!("CAF cut at {cut}"));
    }
    assert_eq!(analyze(bytes).expect("whole file").frames, 48_000);
}

/// STREAMINFO fields of a FLAC stream from `writers::flac` (one metadata block, no padding).
struct FlacLayout {
    first_frame: usize,
    max_frame_bytes: usize,
    block: u64,
}

fn flac_layout(bytes: &[u8]) -> FlacLayout {
    assert_eq!(&bytes[..4], b"fLaC");
    assert_eq!(bytes[4], 0x80, "STREAMINFO is the last and only metadata block");
    let be24 =
        |at: usize| (usize::from(bytes[at]) << 16) | (usize::from(bytes[at + 1]) << 8) | usize::from(bytes[at + 2]);
    FlacLayout {
        first_frame: 8 + 34,
        max_frame_bytes: be24(8 + 7),
        block: u64::from(u16::from_be_bytes([bytes[10], bytes[11]])),
    }
}

/// FLAC (decoded by libFLAC): a cut inside the metadata is unrecognised; after it, `Ok` with
/// whole blocks only, every complete frame before the cut decoded, and `Warning::Truncated`
/// (fewer frames than STREAMINFO declares), even when no block survived.
#[test]
fn flac_truncated_anywhere_keeps_whole_blocks_or_is_refused() {
    let sig = programme();
    let bytes = writers::flac(&sig, 16);
    let layout = flac_layout(&bytes);
    let len = bytes.len();
    for cut in cut_points(len, layout.first_frame + 8) {
        let result = analyze(bytes[..cut].to_vec());
        if cut < layout.first_frame {
            assert_unrecognised(result, &format!("FLAC cut at {cut}"));
            continue;
        }
        let a = result.unwrap_or_else(|e| panic!("FLAC cut at {cut}: {e}"));
        assert_eq!(a.info.declared_frames, Some(sig.frames() as u64));
        assert_eq!(a.frames % layout.block, 0, "cut at {cut}: whole blocks only");
        assert!(a.frames < sig.frames() as u64, "cut at {cut}");
        let surely_complete = ((cut - layout.first_frame) / layout.max_frame_bytes) as u64;
        assert!(a.frames >= surely_complete * layout.block, "cut at {cut}: {} frames", a.frames);
        assert_eq!(a.warnings, [Warning::Truncated], "cut at {cut}");
    }
}

#[test]
fn flac_cut_inside_its_first_frame_measures_nothing_and_says_truncated() {
    let bytes = writers::flac(&programme(), 16);
    let layout = flac_layout(&bytes);
    let a = analyze(bytes[..layout.first_frame + 100].to_vec()).expect("Ok");
    assert_eq!(a.frames, 0);
    assert_eq!(a.info.declared_frames, Some(48_000));
    // 48 000 frames declared, none decoded.
    assert_eq!(a.warnings, [Warning::Truncated]);
    assert_eq!(a.loudness, Default::default());
}

#[test]
fn flac_with_tags_after_the_last_frame_decodes_whole_without_a_warning() {
    let sig = programme();
    let clean = writers::flac(&sig, 16);
    let mut id3v1 = b"TAG".to_vec();
    id3v1.resize(128, b' ');
    let ape = b"APETAGEX\xd0\x07\0\0\x20\0\0\0\0\0\0\0\0\0\0\x80\0\0\0\0\0\0\0\0";
    for (what, tail) in [("ID3v1", &id3v1[..]), ("APE footer", &ape[..])] {
        let mut bytes = clean.clone();
        bytes.extend_from_slice(tail);
        let a = analyze(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!((a.frames, a.warnings.as_slice()), (sig.frames() as u64, &[][..]), "{what}");
    }
}

#[test]
fn flac_one_byte_short_loses_only_the_last_block() {
    let sig = programme();
    let bytes = writers::flac(&sig, 16);
    let a = analyze(bytes[..bytes.len() - 1].to_vec()).expect("Ok");
    // 48 000 = 11 × 4096 + 2944: the short last block is gone.
    assert_eq!(a.frames, 11 * 4096);
    assert_eq!(a.warnings, [Warning::Truncated]);
}

// ---------------------------------------------------------------------------------------------
// Corruption
// ---------------------------------------------------------------------------------------------

/// Bytes overwritten in the middle of a FLAC stream: the damaged frames fail their CRC, libFLAC
/// drops them, says so (`Warning::SkippedPackets`) and fills the gap before the next good frame
/// with silence, so the file keeps its length and the frames after the damage their timing.
#[test]
fn flac_with_corrupt_bytes_mid_stream_skips_the_damaged_blocks_and_fills_the_gap() {
    let sig = signal::programme(48_000, 2, 4.0, 11);
    let clean_bytes = writers::flac(&sig, 16);
    let clean = analyze(clean_bytes.clone()).expect("clean");
    assert_eq!(clean.frames, sig.frames() as u64);
    let mid = clean_bytes.len() / 2;
    let mut rng = SplitMix64::new(0xBAD);
    for (what, start, n) in [
        ("one byte", mid, 1),
        ("16 random bytes", mid, 16),
        ("200 random bytes", mid, 200),
        ("5000 random bytes", mid / 2, 5000),
    ] {
        let mut bytes = clean_bytes.clone();
        for b in &mut bytes[start..start + n] {
            *b ^= (rng.next_u64() as u8) | 1; // always changes the byte
        }
        let a = analyze(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(a.frames, clean.frames, "{what}: the gap is filled");
        assert!(
            matches!(a.warnings[..], [Warning::SkippedPackets(n)] if (1..=3).contains(&n)),
            "{what}: {:?}",
            a.warnings
        );
        assert!(close(a.loudness.integrated_lufs, clean.loudness.integrated_lufs, 0.5), "{what}: {:?}", a.loudness);
    }
}

#[test]
fn flac_with_zeroed_region_mid_stream_skips_the_damaged_blocks_and_fills_the_gap() {
    let sig = signal::programme(48_000, 2, 4.0, 12);
    let mut bytes = writers::flac(&sig, 16);
    let mid = bytes.len() / 2;
    bytes[mid..mid + 512].fill(0);
    let a = analyze(bytes).expect("Ok");
    assert_eq!(a.frames, sig.frames() as u64, "the gap is filled");
    assert!(matches!(a.warnings[..], [Warning::SkippedPackets(n)] if (1..=3).contains(&n)), "{:?}", a.warnings);
}

// ---------------------------------------------------------------------------------------------
// Header fields that lie
// ---------------------------------------------------------------------------------------------

/// 8-bit so the 16-bit block-align field can hold 65 535 × 1 consistently. symphonia refuses the
/// count itself before the engine's `max_channels` check runs.
#[test]
fn wav_claiming_65535_channels_is_refused() {
    let mut bytes = writers::wav(&signal::sine(48_000, 1, 997.0, 0.5, 0.1, 0.0), Encoding::Pcm8, WavOptions::default());
    put_u16_le(&mut bytes, WAV_CHANNELS, 65_535);
    put_u16_le(&mut bytes, WAV_BLOCK_ALIGN, 65_535);
    put_u32_le(&mut bytes, WAV_BYTE_RATE, 48_000 * 65_535);
    let err = analyze(bytes).expect_err("65 535 channels");
    match &err {
        Error::Malformed { reason } => assert_eq!(reason, "riff: invalid channel count"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("channel count"), "{err}");
}

/// 16-bit with 65 535 channels: symphonia computes the expected block align as
/// `channels * 2` in `u16` (symphonia-format-riff 0.6.1, wave/chunks.rs:100), which overflows.
/// With overflow checks (debug/test builds) that is a panic the engine must turn into
/// `Error::DecoderPanic`; without (release) it wraps and the channel count is refused.
#[test]
fn wav_claiming_65535_channels_at_16_bits_never_escapes_as_a_panic() {
    let mut bytes = wav16(&half_scale_sine(0.1));
    put_u16_le(&mut bytes, WAV_CHANNELS, 65_535);
    let err = analyze(bytes).expect_err("65 535 channels");
    match &err {
        Error::DecoderPanic { message } if cfg!(debug_assertions) => {
            assert_eq!(message, "attempt to multiply with overflow");
            assert!(err.to_string().starts_with("decoder crashed on this input"), "{err}");
        }
        Error::Malformed { reason } if !cfg!(debug_assertions) => assert_eq!(reason, "riff: invalid channel count"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wav_with_more_channels_than_the_limit_is_refused() {
    let err = analyze(wav16(&signal::sine(48_000, 9, 997.0, 0.5, 0.1, 0.0))).expect_err("9 channels");
    match err {
        Error::LimitExceeded { what, value, limit } => assert_eq!((what, value, limit), ("channel count", 9, 8)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn custom_max_channels_of_one_refuses_stereo() {
    let options = AnalyzeOptions { limits: Limits { max_channels: 1, ..Default::default() }, ..Default::default() };
    let sig = half_scale_sine(0.5);
    for (what, bytes) in [("wav", wav16(&sig)), ("flac", writers::flac(&sig, 16))] {
        let err = analyze_with(bytes, &options).expect_err(what);
        assert_eq!(err.to_string(), "channel count 2 exceeds the limit of 1", "{what}");
        assert!(matches!(err, Error::LimitExceeded { what: "channel count", value: 2, limit: 1 }), "{what}: {err:?}");
    }
    // Mono still passes.
    let mono = signal::sine(48_000, 1, 997.0, 0.5, 0.5, 0.0);
    assert_eq!(analyze_with(wav16(&mono), &options).expect("mono").info.channels(), 1);
}

#[test]
fn wav_with_sample_rate_zero_is_refused_as_below_minimum() {
    let mut bytes = wav16(&half_scale_sine(0.5));
    put_u32_le(&mut bytes, WAV_RATE, 0);
    put_u32_le(&mut bytes, WAV_BYTE_RATE, 0);
    let err = analyze(bytes).expect_err("0 Hz");
    assert!(matches!(err, Error::BelowMinimum { what: "sample rate (Hz)", value: 0, minimum: 8_000 }), "{err:?}");
    assert_eq!(err.to_string(), "sample rate (Hz) 0 is below the minimum of 8000");
}

#[test]
fn wav_with_sample_rate_2_pow_31_minus_1_is_refused_as_over_the_limit() {
    let mut bytes = wav16(&half_scale_sine(0.5));
    put_u32_le(&mut bytes, WAV_RATE, i32::MAX as u32);
    let err = analyze(bytes).expect_err("2^31-1 Hz");
    assert!(
        matches!(err, Error::LimitExceeded { what: "sample rate (Hz)", value: 2_147_483_647, limit: 384_000 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("sample rate"), "{err}");
}

#[test]
fn wav_with_sample_rate_u32_max_is_refused_as_over_the_limit() {
    let mut bytes = wav16(&half_scale_sine(0.5));
    put_u32_le(&mut bytes, WAV_RATE, u32::MAX);
    let err = analyze(bytes).expect_err("u32::MAX Hz");
    assert!(matches!(err, Error::LimitExceeded { what: "sample rate (Hz)", value: 4_294_967_295, .. }), "{err:?}");
}

/// The streaming-WAV convention (ffmpeg/sox writing to a pipe): RIFF and `data` sizes both
/// 0xFFFFFFFF. The frames present are measured, all of them; the file "ends early" relative to
/// its claim, hence `Warning::Truncated`.
#[test]
fn wav_data_size_ffffffff_measures_the_frames_present() {
    for seconds in [0.01, 0.5, 2.0] {
        let sig = half_scale_sine(seconds);
        let mut bytes = wav16(&sig);
        let at = writers::wav_data_size_offset(&bytes).expect("data chunk");
        put_u32_le(&mut bytes, at, u32::MAX);
        put_u32_le(&mut bytes, 4, u32::MAX);
        let a = analyze(bytes).expect("measured");
        assert_eq!(a.frames, sig.frames() as u64, "{seconds} s");
        assert!((a.duration_s() - seconds).abs() < 1e-9);
        assert_eq!(a.info.declared_frames, None);
        assert_eq!(a.warnings, [Warning::Truncated]);
        assert!(close(a.loudness.sample_peak_dbfs, Some(-6.02), 0.01), "{:?}", a.loudness);
        if seconds >= 0.5 {
            assert!(close(a.loudness.integrated_lufs, Some(-6.02), 0.05), "{:?}", a.loudness);
        }
    }
}

/// A `data` size of 0xFFFFFFFF inside a RIFF chunk that gives its true size: symphonia rejects the
/// child chunk as larger than its parent. Clean, but stricter than the streaming case above.
#[test]
fn wav_data_size_ffffffff_inside_a_sized_riff_is_malformed() {
    let mut bytes = wav16(&half_scale_sine(0.5));
    let at = writers::wav_data_size_offset(&bytes).expect("data chunk");
    put_u32_le(&mut bytes, at, u32::MAX);
    let err = analyze(bytes).expect_err("data larger than RIFF");
    match &err {
        Error::Malformed { reason } => assert_eq!(reason, "riff: chunk length exceeds parent (list) chunk length"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("malformed input: "), "{err}");
}

#[test]
fn wav_data_size_twice_the_real_size_measures_the_frames_present() {
    let sig = half_scale_sine(1.0);
    let mut bytes = wav16(&sig);
    let at = writers::wav_data_size_offset(&bytes).expect("data chunk");
    let real = u32::try_from(bytes.len() - WAV_HEADER_LEN).expect("small");
    put_u32_le(&mut bytes, at, 2 * real);
    put_u32_le(&mut bytes, 4, 2 * real + 36);
    let a = analyze(bytes).expect("measured");
    assert_eq!((a.frames, a.info.declared_frames), (48_000, Some(96_000)));
    assert_eq!(a.warnings, [Warning::Truncated]);
}

#[test]
fn wav_data_size_zero_measures_nothing() {
    let mut bytes = wav16(&half_scale_sine(0.5));
    let at = writers::wav_data_size_offset(&bytes).expect("data chunk");
    put_u32_le(&mut bytes, at, 0);
    let a = analyze(bytes).expect("Ok");
    assert_eq!((a.frames, a.info.declared_frames), (0, Some(0)));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.loudness, Default::default());
}

/// Sets STREAMINFO's 36-bit total-samples field.
fn patch_flac_total_samples(bytes: &mut [u8], total: u64) {
    const AT: usize = 8 + 10; // sample rate (20) | channels (3) | bits (5) | total samples (36)
    let mut packed = u64::from_be_bytes(bytes[AT..AT + 8].try_into().expect("8 bytes"));
    packed = (packed & !((1 << 36) - 1)) | (total & ((1 << 36) - 1));
    bytes[AT..AT + 8].copy_from_slice(&packed.to_be_bytes());
}

/// Peak resident memory of this process in KiB (Linux), to bound allocations.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn flac_streaminfo_claiming_10_hours_measures_the_real_second_quickly() {
    let sig = half_scale_sine(1.0);
    let mut bytes = writers::flac(&sig, 16);
    let ten_hours = 10 * 3600 * 48_000;
    patch_flac_total_samples(&mut bytes, ten_hours);
    let rss_before = peak_rss_kib();
    let started = Instant::now();
    let a = analyze(bytes).expect("measured");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        // 10 h of stereo f32 would be 13 GiB; nothing near that may be allocated.
        assert!(after.saturating_sub(before) < 256 * 1024, "peak RSS grew by {} KiB", after - before);
    }
    assert_eq!(a.info.declared_frames, Some(ten_hours));
    assert_eq!(a.frames, 48_000);
    assert!((a.duration_s() - 1.0).abs() < 1e-9);
    assert_eq!(a.warnings, [Warning::Truncated]);
    assert!(close(a.loudness.integrated_lufs, Some(-6.02), 0.05), "{:?}", a.loudness);
}

#[test]
fn flac_streaminfo_claiming_2_pow_36_samples_measures_the_real_second() {
    let mut bytes = writers::flac(&half_scale_sine(1.0), 16);
    patch_flac_total_samples(&mut bytes, (1 << 36) - 1);
    let a = analyze(bytes).expect("measured");
    assert_eq!((a.frames, a.info.declared_frames), (48_000, Some((1 << 36) - 1)));
    assert_eq!(a.warnings, [Warning::Truncated]);
}

// ---------------------------------------------------------------------------------------------
// Non-finite samples
// ---------------------------------------------------------------------------------------------

/// A four-second half-scale sine with 385 non-finite samples sprinkled in: NaN on the left every
/// 1000 frames, +∞ on the right likewise, and one −∞.
fn sine_with_non_finite() -> Signal {
    let mut sig = half_scale_sine(4.0);
    for i in (0..sig.frames()).step_by(1000) {
        sig.planes[0][i] = f32::NAN;
        sig.planes[1][i] = f32::INFINITY;
    }
    sig.planes[1][5] = f32::NEG_INFINITY;
    sig
}

#[track_caller]
fn assert_non_finite_replaced(a: &Analysis) {
    assert_eq!(a.frames, 192_000);
    assert_eq!(a.warnings, [Warning::NonFiniteSamples(385)]);
    assert_eq!(Warning::NonFiniteSamples(385).to_string(), "385 NaN/infinite sample(s) replaced by silence");
    let l = &a.loudness;
    for v in [l.integrated_lufs, l.momentary_max_lufs, l.short_term_max_lufs, l.sample_peak_dbfs, l.true_peak_dbtp] {
        assert!(v.is_some_and(f64::is_finite), "{l:?}");
    }
    // Zeroing 385 of 384 000 samples barely moves the loudness; the dropouts are steps, though,
    // so the true peak rises above the sine's (about −4.7 dBTP here).
    assert!(close(l.integrated_lufs, Some(-6.02), 0.05), "{l:?}");
    assert!(close(l.short_term_max_lufs, Some(-6.02), 0.05), "{l:?}");
    assert!(close(l.sample_peak_dbfs, Some(-6.02), 0.01), "{l:?}");
    assert!(l.true_peak_dbtp.is_some_and(|tp| tp > -6.1 && tp < 0.0), "{l:?}");
}

#[test]
fn nan_and_inf_in_float32_wav_are_replaced_and_counted() {
    let a = analyze(writers::wav(&sine_with_non_finite(), Encoding::Float32, WavOptions::default())).expect("Ok");
    assert_eq!(a.info.codec, "pcm_f32le");
    assert_non_finite_replaced(&a);
}

#[test]
fn nan_and_inf_in_float64_wav_are_replaced_and_counted() {
    let a = analyze(writers::wav(&sine_with_non_finite(), Encoding::Float64, WavOptions::default())).expect("Ok");
    assert_eq!(a.info.codec, "pcm_f64le");
    assert_non_finite_replaced(&a);
}

#[test]
fn nan_and_inf_in_float32_caf_are_replaced_and_counted() {
    let a = analyze(writers::caf(&sine_with_non_finite(), Encoding::Float32)).expect("Ok");
    assert_eq!(a.info.container, "caf");
    assert_non_finite_replaced(&a);
}

#[test]
fn float_wav_that_is_all_nan_measures_as_silence() {
    let mut sig = half_scale_sine(1.0);
    sig.planes.iter_mut().flatten().for_each(|x| *x = f32::NAN);
    let a = analyze(writers::wav(&sig, Encoding::Float32, WavOptions::default())).expect("Ok");
    assert_eq!(a.warnings, [Warning::NonFiniteSamples(96_000)]);
    assert_eq!(a.loudness, Default::default());
}

// ---------------------------------------------------------------------------------------------
// Duration cap
// ---------------------------------------------------------------------------------------------

/// The cap is enforced while decoding (declared lengths are not trusted either way); the
/// message gives the declared duration and the cap in seconds.
#[test]
fn max_duration_refuses_a_longer_file() {
    let options = AnalyzeOptions { limits: Limits { max_duration_s: 0.5, ..Default::default() }, ..Default::default() };
    let sig = half_scale_sine(5.0);
    for (what, bytes) in [("wav", wav16(&sig)), ("flac", writers::flac(&sig, 16))] {
        let err = analyze_with(bytes, &options).expect_err(what);
        assert!(matches!(err, Error::DurationExceeded { at_least: false, .. }), "{what}: {err:?}");
        assert_eq!(err.to_string(), "5 s is longer than the limit of 0.5 s", "{what}");
    }
    // Exactly at the cap is fine.
    let a = analyze_with(wav16(&half_scale_sine(0.5)), &options).expect("0.5 s under a 0.5 s cap");
    assert_eq!(a.frames, 24_000);
}

#[test]
fn max_duration_is_not_fooled_by_a_short_declared_length() {
    // STREAMINFO says 0.1 s; the stream really holds 3 s. The cap is on what is decoded.
    let mut bytes = writers::flac(&half_scale_sine(3.0), 16);
    patch_flac_total_samples(&mut bytes, 4_800);
    let options = AnalyzeOptions { limits: Limits { max_duration_s: 1.0, ..Default::default() }, ..Default::default() };
    let err = analyze_with(bytes, &options).expect_err("3 s decoded under a 1 s cap");
    assert!(matches!(err, Error::DurationExceeded { at_least: true, .. }), "{err:?}");
    assert!(err.to_string().starts_with("the audio is longer than the limit of 1 s (stopped after 1."), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Degenerate but valid
// ---------------------------------------------------------------------------------------------

#[test]
fn five_seconds_of_silence_gives_no_loudness_figures() {
    let sig = Signal::silence(48_000, 2, 5 * 48_000);
    for (what, bytes) in [("wav", wav16(&sig)), ("flac", writers::flac(&sig, 16))] {
        let a = analyze(bytes).expect(what);
        assert_eq!(a.frames, 240_000, "{what}");
        assert!(a.warnings.is_empty(), "{what}: {:?}", a.warnings);
        let l = &a.loudness;
        assert_eq!(l.integrated_lufs, None, "{what}");
        assert_eq!(l.momentary_max_lufs, None, "{what}");
        assert_eq!(l.short_term_max_lufs, None, "{what}");
        assert_eq!(l.loudness_range_lu, None, "{what}");
        assert_eq!(l.sample_peak_dbfs, None, "{what}");
        assert_eq!(l.true_peak_dbtp, None, "{what}");
    }
}

#[test]
fn clip_of_0_2_s_has_peaks_but_no_loudness() {
    let a = analyze(wav16(&half_scale_sine(0.2))).expect("Ok");
    assert_eq!(a.frames, 9_600);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    let l = &a.loudness;
    // Shorter than one 400 ms gating block: nothing to gate.
    assert_eq!(l.integrated_lufs, None);
    assert_eq!(l.momentary_max_lufs, None);
    assert_eq!(l.short_term_max_lufs, None);
    assert_eq!(l.loudness_range_lu, None);
    assert!(close(l.sample_peak_dbfs, Some(-6.02), 0.01), "{l:?}");
    assert!(l.true_peak_dbtp.is_some_and(|tp| (-6.03..-5.5).contains(&tp)), "{l:?}");
}

#[test]
fn single_frame_wav_is_measured() {
    let mut sig = Signal::silence(48_000, 2, 1);
    sig.planes[0][0] = 0.25;
    let a = analyze(wav16(&sig)).expect("Ok");
    assert_eq!(a.frames, 1);
    assert!(close(a.loudness.sample_peak_dbfs, Some(-12.04), 0.01), "{:?}", a.loudness);
    assert_eq!(a.loudness.integrated_lufs, None);
}

/// The temp-file helper used above, checked against the in-memory path.
#[test]
fn analyze_path_and_analyze_source_agree() {
    let bytes = wav16(&programme());
    let by_path = analyze_file("agree.wav", &bytes).expect("path");
    let by_source = analyze(bytes).expect("source");
    assert_eq!(by_path, by_source);
}
