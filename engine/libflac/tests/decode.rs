//! The decoder through the safe API: what the encoder wrote comes back bit-exactly (as `f32`
//! over `2^(bits-1)`), and damaged or foreign input gives an error or skipped frames, never a
//! panic.

use std::io::Cursor;

use audioproc_libflac::{Error, FlacDecoder, FlacEncoder, Settings};

/// Interleaved test samples of `channels` within `bits`: a ramp per channel plus noise.
fn signal(frames: usize, channels: usize, bits: u32) -> Vec<i32> {
    let max = (1i64 << (bits - 1)) - 1;
    let mut state = 0x2545_f491_u32;
    (0..frames * channels)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let ramp = ((i as i64 * 37) % (2 * max) - max) / 2;
            (ramp + (i64::from(state) % max) / 3).clamp(-max - 1, max) as i32
        })
        .collect()
}

fn encode(samples: &[i32], channels: u32, bits: u32) -> Vec<u8> {
    let mut encoder =
        FlacEncoder::new(&Settings::new(44_100, channels, bits), Cursor::new(Vec::new())).expect("settings");
    encoder.write_interleaved(samples).expect("samples");
    encoder.finish().expect("finish").into_inner()
}

/// Every frame of `stream` as planes, and the decoder's error count.
fn decode_all(stream: Vec<u8>) -> Result<(Vec<Vec<f32>>, u64), Error> {
    let mut decoder = FlacDecoder::new(Cursor::new(stream))?;
    let channels = decoder.info().channels as usize;
    let (mut all, mut planes) = (vec![Vec::new(); channels], Vec::new());
    while decoder.next_frame(&mut planes)? > 0 {
        for (a, p) in all.iter_mut().zip(&planes) {
            a.extend_from_slice(p);
        }
    }
    Ok((all, decoder.errors()))
}

#[test]
fn decodes_what_the_encoder_wrote_bit_exactly() {
    for (channels, bits) in [(1, 16), (2, 16), (2, 24), (6, 24), (2, 8)] {
        let frames = 10_000;
        let samples = signal(frames, channels, bits);
        let stream = encode(&samples, channels as u32, bits);
        let decoder = FlacDecoder::new(Cursor::new(stream.clone())).expect("a FLAC stream");
        let info = decoder.info();
        assert_eq!((info.sample_rate, info.channels, info.bits_per_sample), (44_100, channels as u32, bits));
        assert_eq!(info.total_frames, Some(frames as u64));
        let (planes, errors) = decode_all(stream).expect("decodes");
        assert_eq!(errors, 0);
        let scale = (1u64 << (bits - 1)) as f32;
        for (c, plane) in planes.iter().enumerate() {
            let want: Vec<f32> = samples.iter().skip(c).step_by(channels).map(|&s| s as f32 / scale).collect();
            assert_eq!(plane, &want, "{channels} channels at {bits} bits, plane {c}");
        }
    }
}

#[test]
fn foreign_or_empty_input_is_an_error() {
    for bytes in [Vec::new(), b"RIFF\0\0\0\0WAVEfmt ".to_vec(), vec![0xff; 5000], b"fLaC".to_vec()] {
        match FlacDecoder::new(Cursor::new(bytes.clone())) {
            Err(Error::NotFlac) => {}
            other => panic!("{:?}: {other:?}", &bytes[..bytes.len().min(8)]),
        }
    }
}

#[test]
fn a_damaged_frame_is_skipped_and_a_cut_stream_decodes_what_is_there() {
    let samples = signal(40_000, 2, 16);
    let stream = encode(&samples, 2, 16);
    // A byte flipped in the middle of the audio: that frame fails its CRC and is reported.
    let mut damaged = stream.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let (planes, errors) = decode_all(damaged).expect("decodes");
    assert!(errors > 0, "the damage was reported");
    assert!(planes[0].len() >= 30_000, "the other frames were decoded: {}", planes[0].len());
    // Cut anywhere in the audio: what is whole is decoded, without a panic.
    for cut in [stream.len() / 3, stream.len() - 1, 8500] {
        let (planes, _) = decode_all(stream[..cut].to_vec()).expect("decodes");
        assert!(planes[0].len() < 40_000, "cut at {cut}");
        let want: Vec<f32> = samples.iter().step_by(2).take(planes[0].len()).map(|&s| s as f32 / 32_768.0).collect();
        assert_eq!(planes[0], want, "cut at {cut}: the frames decoded are right");
    }
}
