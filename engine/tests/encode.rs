//! Encoders round-tripped through our own Decoder: PCM formats bit-exact against the quantiser,
//! lossy formats with exact gapless lengths, no time offset and a sane SNR; dither; streaming
//! FLAC; refused configurations.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

use audioproc_engine::channels::default_layout;
use audioproc_engine::encode::dither::quantize;
use audioproc_engine::encode::{EncodeOptions, Encoder, Mp3Bitrate, OutputFormat, SampleFormat};
use audioproc_engine::{Decoder, Error, Limits, StreamInfo, Threads};
use audioproc_testdata::signal::{Signal, log_sweep, programme, sine};

/// Encodes `sig` into a new temp file, in blocks of `chunk` frames (plus an empty block).
fn encode(opts: &EncodeOptions, sig: &Signal, chunk: usize) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(&format!(".{}", opts.format.extension())).tempfile().expect("temp");
    let layout = default_layout(sig.channels());
    let sink = file.reopen().expect("reopen");
    let mut enc = Encoder::new(opts, sig.rate, &layout, sink).expect("encoder");
    enc.write(&vec![Vec::new(); sig.channels()]).expect("empty block");
    let mut pos = 0;
    while pos < sig.frames() {
        let end = (pos + chunk).min(sig.frames());
        let block: Vec<Vec<f32>> = sig.planes.iter().map(|p| p[pos..end].to_vec()).collect();
        enc.write(&block).expect("write");
        pos = end;
    }
    assert_eq!(enc.frames(), sig.frames() as u64);
    enc.finish().expect("finish");
    file
}

/// Decodes a whole file to planes.
fn decode(path: &Path) -> (StreamInfo, Vec<Vec<f32>>) {
    let mut dec = Decoder::open_path(path, &Limits::default()).expect("open");
    let info = dec.info().clone();
    let mut planes = vec![Vec::new(); info.channels()];
    while let Some(block) = dec.next_block().expect("decode") {
        for (dst, src) in planes.iter_mut().zip(block) {
            dst.extend_from_slice(src);
        }
    }
    assert!(dec.warnings().is_empty(), "warnings: {:?}", dec.warnings());
    (info, planes)
}

fn opts(format: OutputFormat, sample_format: SampleFormat, dither: bool) -> EncodeOptions {
    let mut o = EncodeOptions::new(format);
    o.sample_format = sample_format;
    o.dither = dither;
    o
}

/// Signal-to-noise ratio of `out` against `reference` at lag 0, in dB.
fn snr_db(reference: &[f32], out: &[f32]) -> f64 {
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for (&r, &o) in reference.iter().zip(out) {
        s += f64::from(r).powi(2);
        e += f64::from(r - o).powi(2);
    }
    10.0 * (s / e.max(1e-30)).log10()
}

/// The lag in `-max..=max` (output later = positive) with the highest cross-correlation.
fn best_lag(reference: &[f32], out: &[f32], max: i64) -> i64 {
    let n = reference.len() as i64;
    (-max..=max)
        .max_by(|&a, &b| {
            let corr = |lag: i64| -> f64 {
                (max..n - max).map(|i| f64::from(reference[i as usize]) * f64::from(out[(i + lag) as usize])).sum()
            };
            corr(a).total_cmp(&corr(b))
        })
        .unwrap_or(0)
}

#[test]
fn pcm_round_trips_are_bit_exact() {
    let cases = [
        (OutputFormat::Wav, SampleFormat::I16),
        (OutputFormat::Wav, SampleFormat::I24),
        (OutputFormat::Wav, SampleFormat::F32),
        (OutputFormat::Flac, SampleFormat::I16),
        (OutputFormat::Flac, SampleFormat::I24),
    ];
    for (format, sf) in cases {
        for channels in [1, 2, 6] {
            for rate in [44_100, 48_000, 96_000] {
                let mut sig = programme(rate, channels, 0.3, 11);
                // Out-of-range and non-finite samples: clipped / zeroed, never a panic.
                sig.planes[0][10] = 1.5;
                sig.planes[0][11] = f32::NAN;
                sig.planes[0][12] = -3.0;
                sig.planes[0][13] = f32::INFINITY;
                let file = encode(&opts(format, sf, false), &sig, 1000);
                let (info, planes) = decode(file.path());
                let what = format!("{format:?} {sf:?} {channels} ch {rate} Hz");
                assert_eq!(info.sample_rate, rate, "{what}");
                assert_eq!(info.layout, default_layout(channels), "{what}");
                assert_eq!(planes[0].len(), sig.frames(), "{what}");
                for (c, (src, got)) in sig.planes.iter().zip(&planes).enumerate() {
                    for (i, (&x, &y)) in src.iter().zip(got).enumerate() {
                        let want = match sf {
                            SampleFormat::F32 if x.is_nan() => 0.0,
                            SampleFormat::F32 if x.is_infinite() => x.clamp(-1.0, 1.0),
                            SampleFormat::F32 => x,
                            _ => quantize(x, sf.bits()) as f32 / (1u32 << (sf.bits() - 1)) as f32,
                        };
                        assert_eq!(want.to_bits(), y.to_bits(), "{what}: channel {c} frame {i}: {x} -> {y}");
                    }
                }
            }
        }
    }
}

#[test]
fn dither_is_tpdf_of_one_lsb_and_reproducible() {
    let sig = sine(48_000, 1, 1000.0, 1e-5, 1.0, 0.0); // -100 dBFS: 0.33 LSB at 16 bits
    let on = opts(OutputFormat::Wav, SampleFormat::I16, true);
    let a = encode(&on, &sig, 4096);
    let b = encode(&on, &sig, 777);
    assert_eq!(std::fs::read(a.path()).expect("read"), std::fs::read(b.path()).expect("read"), "not reproducible");
    let (_, planes) = decode(a.path());
    let out = &planes[0];
    assert!(out.iter().any(|&y| y != 0.0), "dithered output is all zero");
    let mut sum = 0.0;
    for (&x, &y) in sig.planes[0].iter().zip(out) {
        let err = f64::from(y) * 32768.0 - f64::from(x) * 32768.0;
        assert!(err.abs() <= 1.5, "error {err} LSB");
        sum += err;
    }
    let mean = sum / out.len() as f64;
    assert!(mean.abs() < 0.02, "dither is biased: mean error {mean} LSB");
    // The dithered signal still carries the sine: correlation with it is positive.
    let corr: f64 = sig.planes[0].iter().zip(out).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    assert!(corr > 0.0);
    // Without dither the same signal rounds to silence.
    let off = encode(&opts(OutputFormat::Wav, SampleFormat::I16, false), &sig, 4096);
    assert!(decode(off.path()).1[0].iter().all(|&y| y == 0.0));
    // FLAC output is reproducible too.
    let f = opts(OutputFormat::Flac, SampleFormat::I16, true);
    assert_eq!(
        std::fs::read(encode(&f, &sig, 1000).path()).expect("read"),
        std::fs::read(encode(&f, &sig, 3000).path()).expect("read")
    );
}

/// A deterministic long signal generated chunk by chunk (sine + noise), never held whole.
fn long_chunk(start: usize, len: usize, rate: u32) -> Vec<f32> {
    (start..start + len)
        .map(|i| {
            let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            let noise = (h as f64 / (1u64 << 24) as f64 - 0.5) * 0.1;
            (0.4 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / f64::from(rate)).sin() + noise) as f32
        })
        .collect()
}

#[test]
fn flac_streams_ten_minutes_in_bounded_blocks() {
    let rate = 8_000;
    let total = 10 * 60 * rate as usize;
    let o = opts(OutputFormat::Flac, SampleFormat::I16, false);
    let file = tempfile::Builder::new().suffix(".flac").tempfile().expect("temp");
    let mut enc = Encoder::new(&o, rate, &default_layout(1), file.reopen().expect("reopen")).expect("encoder");
    let chunk = 10_007;
    let mut pos = 0;
    while pos < total {
        let n = chunk.min(total - pos);
        enc.write(&[long_chunk(pos, n, rate)]).expect("write");
        pos += n;
    }
    enc.finish().expect("finish");

    // STREAMINFO: total samples (36 bits) and min block size = max block size = 4096.
    let mut head = [0u8; 42];
    File::open(file.path()).expect("open").read_exact(&mut head).expect("read");
    assert_eq!(&head[..4], b"fLaC");
    let packed = u64::from_be_bytes(head[18..26].try_into().expect("8 bytes"));
    assert_eq!(packed & ((1 << 36) - 1), total as u64);
    assert_eq!(&head[8..12], &[0x10, 0x00, 0x10, 0x00]);
    assert_ne!(&head[26..42], &[0u8; 16], "MD5 missing");

    let mut dec = Decoder::open_path(file.path(), &Limits::default()).expect("open");
    let mut pos = 0;
    while let Some(block) = dec.next_block().expect("decode") {
        let want = long_chunk(pos, block[0].len(), rate);
        for (i, (&x, &y)) in want.iter().zip(&block[0]).enumerate() {
            assert_eq!(quantize(x, 16) as f32 / 32768.0, y, "frame {}", pos + i);
        }
        pos += block[0].len();
    }
    assert_eq!(pos, total);
    flac_test(file.path());
}

/// Runs `flac -t` on a file when the tool is installed.
fn flac_test(path: &Path) {
    match Command::new("flac").arg("-t").arg("-s").arg(path).status() {
        Ok(status) => assert!(status.success(), "flac -t failed on {}", path.display()),
        Err(_) => eprintln!("note: `flac` not installed; skipping the reference decoder check"),
    }
}

#[test]
fn flac_passes_the_reference_decoder() {
    for (channels, rate, sf) in
        [(2, 44_100, SampleFormat::I16), (6, 96_000, SampleFormat::I24), (1, 48_000, SampleFormat::I24)]
    {
        let sig = programme(rate, channels, 1.3, 5);
        flac_test(encode(&opts(OutputFormat::Flac, sf, true), &sig, 4000).path());
    }
    // Short streams: a single short block, a block shorter than FLAC's usual minimum of 16.
    for frames in [1, 5, 17, 4096, 4097] {
        let mut sig = programme(44_100, 2, 1.0, 3);
        sig.planes.iter_mut().for_each(|p| p.truncate(frames));
        let file = encode(&opts(OutputFormat::Flac, SampleFormat::I16, false), &sig, 1000);
        assert_eq!(decode(file.path()).1[0].len(), frames);
        flac_test(file.path());
    }
}

/// Every `flac` level decodes to the same samples; higher levels are no larger; the stream is
/// the same whether libFLAC may use a second thread or not; a level over 8 is refused.
#[test]
fn flac_levels_change_the_size_not_the_audio() {
    let sig = programme(44_100, 2, 6.0, 9);
    let mut sizes = Vec::new();
    let mut first: Option<Vec<Vec<f32>>> = None;
    for level in [0, 5, 8] {
        let o = EncodeOptions { flac_level: level, ..opts(OutputFormat::Flac, SampleFormat::I16, true) };
        let file = encode(&o, &sig, 3000);
        flac_test(file.path());
        let planes = decode(file.path()).1;
        match &first {
            None => first = Some(planes),
            Some(want) => assert!(want == &planes, "level {level} decodes differently"),
        }
        let bytes = std::fs::read(file.path()).expect("read");
        for threads in [Threads::Single, Threads::Pipelined] {
            let mut sink = std::io::Cursor::new(Vec::new());
            let mut enc = Encoder::with_threads(&o, 44_100, &default_layout(2), &mut sink, threads).expect("encoder");
            for at in (0..sig.frames()).step_by(1234) {
                let end = (at + 1234).min(sig.frames());
                enc.write(&sig.planes.iter().map(|p| p[at..end].to_vec()).collect::<Vec<_>>()).expect("write");
            }
            enc.finish().expect("finish");
            assert!(sink.into_inner() == bytes, "level {level}, {threads:?}: other bytes");
        }
        sizes.push(bytes.len());
    }
    assert!(sizes[0] > sizes[1] && sizes[1] >= sizes[2], "sizes by level 0, 5, 8: {sizes:?}");
    let o = EncodeOptions { flac_level: 9, ..opts(OutputFormat::Flac, SampleFormat::I16, true) };
    let refused = Encoder::new(&o, 44_100, &default_layout(2), std::io::Cursor::new(Vec::new()));
    assert!(matches!(refused, Err(Error::InvalidParameter(_))));
}

/// Checks a lossy round trip: exact length (at `out_rate`), no offset, SNR above `min_snr`.
fn check_lossy(format_opts: &EncodeOptions, rate: u32, channels: usize, min_snr: f64) {
    let sig = log_sweep(rate, channels, 200.0, 3000.0, 0.5, 2.0);
    let file = encode(format_opts, &sig, 1152 * 3 + 7);
    let (info, planes) = decode(file.path());
    let what = format!("{:?} {:?} {channels} ch {rate} Hz", format_opts.format, format_opts.mp3);
    assert_eq!(info.channels(), channels, "{what}");
    assert_eq!(planes[0].len(), sig.frames(), "{what}: frame count");
    for (c, (src, got)) in sig.planes.iter().zip(&planes).enumerate() {
        let lag = best_lag(src, got, 100);
        assert_eq!(lag, 0, "{what}: channel {c} is offset by {lag} frames");
        let snr = snr_db(src, got);
        assert!(snr > min_snr, "{what}: channel {c} SNR {snr:.1} dB");
    }
}

#[test]
fn mp3_is_gapless_and_aligned() {
    for rate in [44_100, 48_000, 32_000, 22_050] {
        for channels in [1, 2] {
            for mp3 in [Mp3Bitrate::Cbr(128), Mp3Bitrate::Vbr(2)] {
                let mut o = EncodeOptions::new(OutputFormat::Mp3);
                o.mp3 = mp3;
                check_lossy(&o, rate, channels, 20.0);
            }
        }
    }
}

#[test]
fn opus_is_gapless_and_aligned() {
    for channels in [1, 2] {
        let o = EncodeOptions::new(OutputFormat::Opus);
        check_lossy(&o, 48_000, channels, 15.0);
    }
}

#[test]
fn opus_at_lower_rates_decodes_at_48k_with_exact_length() {
    for rate in [16_000, 24_000] {
        let sig = log_sweep(rate, 1, 200.0, 3000.0, 0.5, 1.0);
        let file = encode(&EncodeOptions::new(OutputFormat::Opus), &sig, 999);
        let (info, planes) = decode(file.path());
        assert_eq!(info.sample_rate, 48_000);
        assert_eq!(planes[0].len() as u64, sig.frames() as u64 * u64::from(48_000 / rate), "{rate} Hz");
    }
}

/// Energy of `plane` at `freq` Hz (Goertzel), per sample.
fn tone_energy(plane: &[f32], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in plane {
        let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
        (s2, s1) = (s1, s);
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / plane.len() as f64
}

#[test]
fn opus_multichannel_is_written_with_family_1_and_read_back_channel_by_channel() {
    // 5.1 in our WAV/SMPTE order (L R C LFE Ls Rs), each channel its own tone (LFE low).
    let tones = [440.0, 660.0, 880.0, 60.0, 1_320.0, 1_760.0];
    let frames = 48_000;
    let planes = tones.iter().map(|&f| sine(48_000, 1, f, 0.25, 1.0, 0.0).planes[0][..frames].to_vec()).collect();
    let sig = Signal { rate: 48_000, planes };
    let file = encode(&EncodeOptions::new(OutputFormat::Opus), &sig, 4800);
    let bytes = std::fs::read(file.path()).expect("read");
    // First page holds OpusHead: 6 channels, mapping family 1, 4 streams, 2 coupled.
    let head = bytes.windows(8).position(|w| w == b"OpusHead").expect("OpusHead");
    assert_eq!(bytes[head + 9], 6);
    assert_eq!(&bytes[head + 18..head + 27], &[1, 4, 2, 0, 4, 1, 2, 3, 5]);
    // Our decoder splits each packet into its four streams and puts every channel back where it
    // was: plane k carries tone k and not the others.
    let (info, decoded) = decode(file.path());
    assert_eq!((info.sample_rate, decoded.len()), (48_000, 6));
    assert_eq!(decoded[0].len(), frames, "exact length");
    for (k, plane) in decoded.iter().enumerate() {
        let energies: Vec<f64> = tones.iter().map(|&f| tone_energy(&plane[4_800..], 48_000.0, f)).collect();
        let loudest = energies.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        assert_eq!(loudest, Some(k), "channel {k}: energies {energies:?}");
        for (j, e) in energies.iter().enumerate().filter(|(j, _)| *j != k) {
            assert!(*e < energies[k] / 1_000.0, "channel {k} leaks tone {j}: {energies:?}");
        }
    }
    // An independent decoder (ffmpeg), when installed, reads it back at the exact length.
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(file.path()).args(["-f", "f32le", "-"]).output();
    match out {
        Ok(o) if o.status.success() => {
            assert_eq!(o.stdout.len(), sig.frames() * 6 * 4, "ffmpeg decoded length");
        }
        _ => eprintln!("note: ffmpeg not available; skipping the independent multichannel Opus check"),
    }
}

#[test]
fn refused_configurations_are_errors() {
    let layout2 = default_layout(2);
    let sink = || std::io::Cursor::new(Vec::new());
    let flac_f32 = opts(OutputFormat::Flac, SampleFormat::F32, false);
    assert!(matches!(Encoder::new(&flac_f32, 48_000, &layout2, sink()), Err(Error::InvalidParameter(_))));
    let mp3 = EncodeOptions::new(OutputFormat::Mp3);
    assert!(matches!(Encoder::new(&mp3, 48_000, &default_layout(3), sink()), Err(Error::InvalidParameter(_))));
    assert!(matches!(Encoder::new(&mp3, 96_000, &layout2, sink()), Err(Error::InvalidParameter(_))));
    let mut bad_cbr = mp3.clone();
    bad_cbr.mp3 = Mp3Bitrate::Cbr(100);
    assert!(matches!(Encoder::new(&bad_cbr, 48_000, &layout2, sink()), Err(Error::InvalidParameter(_))));
    let opus = EncodeOptions::new(OutputFormat::Opus);
    assert!(matches!(Encoder::new(&opus, 44_100, &layout2, sink()), Err(Error::InvalidParameter(_))));
    assert!(matches!(Encoder::new(&opus, 48_000, &default_layout(9), sink()), Err(Error::InvalidParameter(_))));
    let wav = EncodeOptions::new(OutputFormat::Wav);
    assert!(matches!(Encoder::new(&wav, 48_000, &[], sink()), Err(Error::InvalidParameter(_))));
    assert!(matches!(Encoder::new(&wav, 0, &layout2, sink()), Err(Error::InvalidParameter(_))));
    // Malformed blocks.
    let mut enc = Encoder::new(&wav, 48_000, &layout2, sink()).expect("encoder");
    assert!(matches!(enc.write(&[vec![0.0; 4]]), Err(Error::InvalidParameter(_))));
    assert!(matches!(enc.write(&[vec![0.0; 4], vec![0.0; 3]]), Err(Error::InvalidParameter(_))));
    enc.write(&[vec![0.0; 4], vec![0.0; 4]]).expect("good block");
    assert_eq!(enc.frames(), 4);
}

/// Zero frames give a valid file. WAV decodes to nothing; the others decode to nothing or are
/// refused by symphonia as holding no audio (an empty FLAC, only headers, is refused as
/// "too short" though the reference decoder accepts it), never a panic.
#[test]
fn empty_streams_are_valid_files() {
    for format in OutputFormat::ALL {
        let sig = Signal::silence(48_000, 2, 0);
        let o = opts(format, SampleFormat::I16, true);
        let file = encode(&o, &sig, 1);
        assert!(std::fs::metadata(file.path()).expect("meta").len() > 0);
        match Decoder::open_path(file.path(), &Limits::default()) {
            Ok(mut dec) => {
                let mut frames = 0;
                while let Some(b) = dec.next_block().expect("decode") {
                    frames += b[0].len();
                }
                assert_eq!(frames, 0, "{format:?}");
            }
            Err(e) => {
                eprintln!("note: empty {format:?} refused by the decoder: {e}");
                assert!(format != OutputFormat::Wav, "{format:?}: empty file refused: {e}");
            }
        }
        if format == OutputFormat::Flac {
            flac_test(file.path());
        }
    }
}

#[test]
fn encoders_write_after_existing_bytes_and_wav_sizes_are_patched() {
    // A sink that already holds bytes: headers are patched relative to where the stream began.
    let sig = programme(44_100, 2, 0.2, 1);
    let mut cursor = std::io::Cursor::new(b"JUNK".to_vec());
    cursor.seek(SeekFrom::End(0)).expect("seek");
    let o = opts(OutputFormat::Wav, SampleFormat::I24, false);
    let mut enc = Encoder::new(&o, 44_100, &default_layout(2), cursor).expect("encoder");
    enc.write(&sig.planes).expect("write");
    let bytes = enc.finish().expect("finish").into_inner();
    let wav = &bytes[4..];
    assert_eq!(&wav[..4], b"RIFF");
    let riff = u32::from_le_bytes(wav[4..8].try_into().expect("4 bytes")) as usize;
    assert_eq!(riff + 8, wav.len());
    let data = wav.windows(4).position(|w| w == b"data").expect("data chunk");
    let size = u32::from_le_bytes(wav[data + 4..data + 8].try_into().expect("4 bytes")) as usize;
    assert_eq!(size, sig.frames() * 2 * 3);
}
