//! One job on one thread or on helper threads, fed in any block size: the same figures to the
//! bit (the loudness and the true peak measured on their own threads, the curve included), and
//! the same frames from a FLAC decoder that decodes on two threads.

use audioproc_engine::channels::default_layout;
use audioproc_engine::loudness::{
    LoudnessMeter, LoudnessReport, MeterOptions, MonoMode, ThreadedMeter, channel_weights,
};
use audioproc_engine::{Decoder, Limits, Threads, Warning};
use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::flac;

fn chunks(planes: &[Vec<f32>], chunk: usize) -> impl Iterator<Item = Vec<&[f32]>> {
    let frames = planes[0].len();
    (0..frames).step_by(chunk).map(move |at| planes.iter().map(|p| &p[at..(at + chunk).min(frames)]).collect())
}

#[test]
fn the_meter_gives_the_same_report_for_every_chunk_size_and_thread_choice() {
    for (rate, channels) in [(44_100, 2), (48_000, 6)] {
        let sig = programme(rate, channels, 12.0, 4);
        let weights = channel_weights(&default_layout(channels), MonoMode::Mono);
        let mut plain =
            LoudnessMeter::new(rate, &weights, MeterOptions { true_peak: true, curve: true }).expect("meter");
        chunks(&sig.planes, 4096).for_each(|block| plain.process(&block));
        let want: LoudnessReport = plain.report();
        assert!(want.true_peak_dbtp.is_some() && want.curve.is_some());
        for chunk in [1, 17, 1000, 4096, 48_000] {
            for threads in [Threads::Single, Threads::Pipelined] {
                let mut meter = ThreadedMeter::new(rate, &weights, threads, true).expect("meter");
                chunks(&sig.planes, chunk).for_each(|block| meter.process(&block));
                assert_eq!(meter.report(), want, "{channels} ch, chunk {chunk}, {threads:?}");
            }
        }
    }
}

/// Every frame a decoder hands out, and what it warned about (or the error it stopped with).
fn decode_all(bytes: &[u8], two_threads: bool) -> (Vec<Vec<f32>>, Result<Vec<Warning>, String>) {
    let mut d = match Decoder::open(std::io::Cursor::new(bytes.to_vec()), &Limits::default()) {
        Ok(d) => d,
        Err(e) => return (Vec::new(), Err(e.to_string())),
    };
    if two_threads {
        d.decode_on_two_threads().expect("helper thread");
    }
    let mut planes = vec![Vec::new(); d.info().channels()];
    loop {
        match d.next_block() {
            Ok(Some(block)) => planes.iter_mut().zip(block).for_each(|(p, b)| p.extend_from_slice(b)),
            Ok(None) => return (planes, Ok(d.warnings())),
            Err(e) => return (planes, Err(e.to_string())),
        }
    }
}

#[test]
fn flac_decoded_on_two_threads_gives_the_same_frames_and_warnings_even_when_damaged() {
    let sig = programme(44_100, 2, 20.0, 3);
    let good = flac(&sig, 16);
    let mut damaged = good.clone();
    // Scribble over a few frames in the middle (their CRCs fail: the frames are skipped).
    for at in [damaged.len() / 3, damaged.len() / 2, damaged.len() * 2 / 3] {
        damaged[at..at + 64].iter_mut().for_each(|b| *b ^= 0x5A);
    }
    let truncated = good[..good.len() * 3 / 5].to_vec();
    for (name, bytes) in [("good", &good), ("damaged", &damaged), ("truncated", &truncated)] {
        let one = decode_all(bytes, false);
        let two = decode_all(bytes, true);
        assert_eq!(one.1, two.1, "{name}: warnings");
        assert!(one.0 == two.0, "{name}: frames differ");
        if name == "good" {
            assert_eq!(one.0[0].len(), sig.planes[0].len());
            assert_eq!(one.1, Ok(Vec::new()));
        } else if name == "damaged" {
            // The damaged frames are skipped and said so; libFLAC fills their gap with silence.
            assert_eq!(one.0[0].len(), sig.planes[0].len());
            assert!(matches!(&one.1, Ok(w) if matches!(w[..], [Warning::SkippedPackets(_)])), "{:?}", one.1);
        } else {
            assert!(one.0[0].len() < sig.planes[0].len(), "{name}: {} frames", one.0[0].len());
        }
    }
}

/// Every frame of the file at `path` opened as a file, on two threads or one: the frames, the
/// warnings (or the error), and whether two threads were used.
fn decode_file(path: &std::path::Path, two_threads: bool) -> (Vec<Vec<f32>>, Result<Vec<Warning>, String>, bool) {
    let file = std::fs::File::open(path).expect("open");
    let mut d = Decoder::open_file(&file, &Limits::default()).expect("a FLAC stream");
    let used = two_threads && d.decode_on_two_threads().expect("threads");
    let mut planes = vec![Vec::new(); d.info().channels()];
    loop {
        match d.next_block() {
            Ok(Some(block)) => planes.iter_mut().zip(block).for_each(|(p, b)| p.extend_from_slice(b)),
            Ok(None) => return (planes, Ok(d.warnings()), used),
            Err(e) => return (planes, Err(e.to_string()), used),
        }
    }
}

/// The byte offset of the SEEKTABLE's points in a FLAC file.
fn seek_table_at(bytes: &[u8]) -> usize {
    let mut at = 4;
    loop {
        let len = u32::from_be_bytes([0, bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if bytes[at] & 0x7F == 3 {
            return at + 4;
        }
        assert_eq!(bytes[at] & 0x80, 0, "no SEEKTABLE");
        at += 4 + len;
    }
}

#[test]
fn a_flac_file_with_a_seek_table_decodes_on_two_threads_to_the_same_frames_and_warnings() {
    let dir = tempfile::tempdir().expect("tmp");
    let sig = programme(44_100, 2, 60.0, 7);
    let wav = dir.path().join("in.wav");
    let options = audioproc_testdata::writers::WavOptions::default();
    std::fs::write(&wav, audioproc_testdata::writers::wav(&sig, audioproc_testdata::writers::Encoding::Pcm16, options))
        .expect("write");
    let good = dir.path().join("good.flac");
    // The reference encoder writes a SEEKTABLE (here a point every second).
    match std::process::Command::new("flac").args(["-s", "-f", "-S", "1s", "-o"]).arg(&good).arg(&wav).status() {
        Ok(status) => assert!(status.success(), "flac failed"),
        Err(_) => {
            eprintln!("note: `flac` not installed; skipping the SEEKTABLE test");
            return;
        }
    }
    let bytes = std::fs::read(&good).expect("read");
    let mut damaged = bytes.clone();
    for at in [bytes.len() / 3, bytes.len() / 2 + 777] {
        damaged[at..at + 64].iter_mut().for_each(|b| *b ^= 0x5A);
    }
    // Every seek point but the first a byte off (offsets are big-endian, 8 bytes after the
    // sample number; a point is 18 bytes).
    let mut lying = bytes.clone();
    let table = seek_table_at(&lying);
    for k in 1..50 {
        let last = table + k * 18 + 8 + 7;
        lying[last] = lying[last].wrapping_add(1);
    }
    let mut tagged = bytes.clone();
    tagged.extend_from_slice(b"TAG");
    tagged.resize(bytes.len() + 128, b' ');
    let cases = [
        ("good", bytes.clone(), true),
        ("an ID3v1 tag after the last frame", tagged, true),
        ("damaged", damaged, true),
        ("truncated", bytes[..bytes.len() * 3 / 5].to_vec(), false),
        ("seek points off by a byte", lying, false),
    ];
    for (name, content, parallel) in cases {
        let path = dir.path().join(format!("{name}.flac"));
        std::fs::write(&path, content).expect("write");
        let one = decode_file(&path, false);
        let two = decode_file(&path, true);
        assert_eq!(two.2, parallel, "{name}: two threads used");
        assert_eq!(one.1, two.1, "{name}: warnings");
        assert!(one.0 == two.0, "{name}: frames differ");
        match name {
            "good" | "an ID3v1 tag after the last frame" => {
                assert_eq!(two.0[0].len(), sig.planes[0].len(), "{name}: every frame");
                assert_eq!(two.1, Ok(Vec::new()));
            }
            "damaged" => {
                assert_eq!(two.0[0].len(), sig.planes[0].len(), "{name}: gaps filled");
                assert!(matches!(&two.1, Ok(w) if matches!(w[..], [Warning::SkippedPackets(_)])), "{:?}", two.1);
            }
            "truncated" => assert_eq!(two.1, Ok(vec![Warning::Truncated])),
            _ => assert_eq!(two.1, Ok(Vec::new())),
        }
    }
}
