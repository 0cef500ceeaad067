//! The whole processing job on generated files: every output is decoded again and re-measured
//! with our meter and with the `ebur128` crate as an independent oracle.

use std::path::{Path, PathBuf};

use audioproc_engine::encode::Mp3Bitrate;
use audioproc_engine::tags::Metadata;
use audioproc_engine::{
    Decoder, Error, Limits, OutputFormat, Overwrite, PeakMode, Preset, ProcessOptions, ProcessReport, ProcessingSpec,
    SampleFormat, Threads, process_file, process_file_with,
};
use audioproc_testdata::Signal;
use audioproc_testdata::signal::{db_to_amp, programme, sine, tonal, white_noise};
use audioproc_testdata::writers::{Encoding, WavOptions, flac, wav};
use ebur128::{EbuR128, Mode};

struct Decoded {
    rate: u32,
    planes: Vec<Vec<f32>>,
    codec: String,
}

fn decode(path: &Path) -> Decoded {
    let mut d = Decoder::open_path(path, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut planes = vec![Vec::new(); d.info().channels()];
    while let Some(block) = d.next_block().expect("decodes") {
        for (p, b) in planes.iter_mut().zip(block) {
            p.extend_from_slice(b);
        }
    }
    Decoded { rate: d.info().sample_rate, planes, codec: d.info().codec.clone() }
}

/// (integrated LUFS, true peak dBTP) from the `ebur128` crate.
fn oracle(d: &Decoded) -> (f64, f64) {
    let mut m = EbuR128::new(d.planes.len() as u32, d.rate, Mode::I | Mode::TRUE_PEAK).expect("oracle");
    let planes: Vec<&[f32]> = d.planes.iter().map(Vec::as_slice).collect();
    m.add_frames_planar_f32(&planes).expect("frames");
    let tp = (0..d.planes.len() as u32).map(|c| m.true_peak(c).expect("tp")).fold(0.0f64, f64::max);
    (m.loudness_global().expect("I"), 20.0 * tp.log10())
}

fn ours(path: &Path) -> (f64, f64) {
    let a = audioproc_engine::analyze_path(path, &Default::default()).expect("analyses");
    (a.loudness.integrated_lufs.expect("I"), a.loudness.true_peak_dbtp.expect("TP"))
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn run(input: &Path, output: &Path, spec: &ProcessingSpec) -> ProcessReport {
    process_file(input, output, spec, Overwrite::Never, &|_| {}).unwrap_or_else(|e| panic!("{}: {e}", input.display()))
}

fn spec(preset: Preset, format: OutputFormat) -> ProcessingSpec {
    ProcessingSpec::new(preset, format)
}

/// Every preset can reach its target under its ceiling on this (see `testdata::signal::tonal`).
fn moderate(rate: u32, channels: usize, seconds: f64) -> Signal {
    tonal(rate, channels, seconds, 0.01)
}

/// Only files we wrote remain: no temporary or partial files.
fn assert_only(dir: &Path, names: &[&str]) {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn linear_mode_lands_on_every_preset_target_by_both_meters() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.wav", &wav(&moderate(48_000, 2, 20.0), Encoding::Pcm24, WavOptions::default()));
    for preset in Preset::ALL {
        let out = dir.path().join(format!("{}.wav", preset.name()));
        let mut s = spec(preset, OutputFormat::Wav);
        s.sample_format = Some(SampleFormat::F32);
        let r = run(&input, &out, &s);
        assert!(r.target_met, "{preset:?}: {:?}", r.notes);
        let (i, tp) = ours(&out);
        let (oi, otp) = oracle(&decode(&out));
        for (who, i, tp) in [("ours", i, tp), ("ebur128", oi, otp)] {
            assert!((i - preset.target_lufs()).abs() <= 0.1, "{preset:?} {who}: I = {i}");
            assert!(tp <= preset.true_peak_dbtp() + 0.1, "{preset:?} {who}: TP = {tp}");
        }
        let report_i = r.output.loudness.integrated_lufs.expect("I");
        assert!((report_i - i).abs() < 0.01, "report {report_i} vs re-measured {i}");
    }
}

#[test]
fn linear_mode_held_by_the_ceiling_says_by_how_much_it_missed() {
    let dir = tempfile::tempdir().expect("tmp");
    // Programme with clicks: crest factor too high for −14 LUFS under −1 dBTP.
    let input = put(dir.path(), "hot.flac", &flac(&programme(44_100, 2, 15.0, 3), 24));
    let out = dir.path().join("out.flac");
    let r = run(&input, &out, &spec(Preset::Streaming, OutputFormat::Flac));
    assert!(!r.target_met);
    let (i, tp) = ours(&out);
    assert!(tp <= -1.0 + 0.1, "TP {tp}");
    assert!(i < -14.0 - 0.2, "I {i}");
    let note = r.notes.iter().find(|n| n.contains("target missed")).expect("a note on the miss");
    assert!(note.contains("ceiling") && note.contains(&format!("{:.2}", -14.0 - i)), "{note} (I = {i})");
    let (_, otp) = oracle(&decode(&out));
    assert!(otp <= -1.0 + 0.1, "oracle TP {otp}");
}

#[test]
fn limit_mode_reaches_the_target_and_holds_the_ceiling_on_hot_programme() {
    let dir = tempfile::tempdir().expect("tmp");
    for (rate, channels) in [(44_100, 2), (48_000, 1), (48_000, 6)] {
        let input = put(
            dir.path(),
            "hot.wav",
            &wav(&programme(rate, channels, 15.0, 11), Encoding::Pcm24, WavOptions::default()),
        );
        let out = dir.path().join(format!("limited-{rate}-{channels}.wav"));
        let mut s = spec(Preset::Streaming, OutputFormat::Wav);
        s.mode = PeakMode::Limit;
        s.target_lufs = -11.0;
        let r = run(&input, &out, &s);
        let reduction = r.limiter_max_reduction_db.expect("limit mode reports the reduction");
        assert!(reduction > 1.0, "{rate}/{channels}: the limiter worked: {reduction}");
        assert!(r.target_met, "{rate}/{channels}: {:?}", r.notes);
        let (i, tp) = ours(&out);
        let (oi, otp) = oracle(&decode(&out));
        for (who, i, tp) in [("ours", i, tp), ("ebur128", oi, otp)] {
            assert!((i + 11.0).abs() <= 0.5, "{rate}/{channels} {who}: I = {i}");
            assert!(tp <= -1.0 + 0.1, "{rate}/{channels} {who}: TP = {tp}");
        }
        std::fs::remove_file(&out).expect("rm");
    }
}

#[test]
fn float_wav_is_the_input_times_the_gain_and_flac_is_bit_exact_with_wav() {
    let dir = tempfile::tempdir().expect("tmp");
    let sig = moderate(48_000, 2, 8.0);
    let input = put(dir.path(), "in.wav", &wav(&sig, Encoding::Float32, WavOptions::default()));
    let fl = dir.path().join("o.wav");
    let r = run(&input, &fl, &spec(Preset::Ebu, OutputFormat::Wav));
    assert_eq!(r.output.info.bits_per_sample, Some(32), "float stays float");
    let g = 10f64.powf(r.gain_db / 20.0) as f32;
    let d = decode(&fl);
    for (p, q) in d.planes.iter().zip(&sig.planes) {
        assert_eq!(p.len(), q.len());
        assert!(p.iter().zip(q).all(|(a, b)| *a == b * g), "float output = input × gain, exactly");
    }
    // 24-bit WAV and 24-bit FLAC of the same job hold the same samples.
    let mut s24 = spec(Preset::Ebu, OutputFormat::Wav);
    s24.sample_format = Some(SampleFormat::I24);
    let w24 = dir.path().join("o24.wav");
    run(&input, &w24, &s24);
    let f24 = dir.path().join("o24.flac");
    run(&input, &f24, &spec(Preset::Ebu, OutputFormat::Flac));
    let (a, b) = (decode(&w24), decode(&f24));
    assert_eq!(b.codec, "flac");
    assert_eq!(a.planes, b.planes, "FLAC decodes bit-exactly to the WAV's samples");
}

#[test]
fn resampling_44k1_to_48k_and_back_keeps_loudness_and_exact_length() {
    let dir = tempfile::tempdir().expect("tmp");
    // No noise: white noise above the resampler's passband (0.9 × Nyquist) would not survive.
    let sig = tonal(44_100, 2, 12.0, 0.0);
    let input = put(dir.path(), "in.wav", &wav(&sig, Encoding::Pcm24, WavOptions::default()));
    let mid = dir.path().join("mid.wav");
    let back = dir.path().join("back.wav");
    let mut up = spec(Preset::Ebu, OutputFormat::Wav);
    up.sample_rate = Some(48_000);
    up.sample_format = Some(SampleFormat::F32);
    let r1 = run(&input, &mid, &up);
    assert_eq!(r1.output.frames, (sig.frames() as f64 * 48_000.0 / 44_100.0).round() as u64);
    let mut down = up.clone();
    down.sample_rate = Some(44_100);
    let r2 = run(&mid, &back, &down);
    assert_eq!(r2.output.frames, sig.frames() as u64, "44.1 → 48 → 44.1 k keeps the length");
    let (i_mid, _) = ours(&mid);
    let (i_back, _) = ours(&back);
    assert!((i_mid + 23.0).abs() <= 0.1 && (i_back + 23.0).abs() <= 0.1, "{i_mid} {i_back}");
    // And the round trip is the input (up to the gain), not just as loud.
    let g = 10f64.powf((r1.gain_db + r2.gain_db) / 20.0) as f32;
    let d = decode(&back);
    let (mut err, mut sum) = (0.0f64, 0.0f64);
    for (p, q) in d.planes.iter().zip(&sig.planes) {
        for (a, b) in p[4410..p.len() - 4410].iter().zip(&q[4410..q.len() - 4410]) {
            err += f64::from(a - b * g).powi(2);
            sum += f64::from(b * g).powi(2);
        }
    }
    let snr = 10.0 * (sum / err).log10();
    assert!(snr > 100.0, "round-trip SNR {snr:.1} dB");
}

#[test]
fn lossy_outputs_decode_to_the_input_length_and_are_measured_after_decoding() {
    let dir = tempfile::tempdir().expect("tmp");
    let sig = moderate(48_000, 2, 10.0);
    let input = put(dir.path(), "in.wav", &wav(&sig, Encoding::Pcm16, WavOptions::default()));
    for (name, format, mp3) in [
        ("cbr.mp3", OutputFormat::Mp3, Mp3Bitrate::Cbr(192)),
        ("vbr.mp3", OutputFormat::Mp3, Mp3Bitrate::Vbr(2)),
        ("o.opus", OutputFormat::Opus, Mp3Bitrate::Vbr(2)),
    ] {
        let out = dir.path().join(name);
        let mut s = spec(Preset::Podcast, format);
        s.mp3 = mp3;
        let r = run(&input, &out, &s);
        assert!(r.output.measured_after_decoding, "{name}");
        let d = decode(&out);
        assert_eq!(d.planes[0].len(), sig.frames(), "{name}: delay and padding trimmed");
        let (i, tp) = ours(&out);
        assert!((i + 16.0).abs() <= 0.2, "{name}: I {i}");
        assert_eq!(r.output.loudness.true_peak_dbtp.map(|v| (v * 100.0).round()), Some((tp * 100.0).round()), "{name}");
        if tp > -1.5 + 0.05 {
            assert!(r.notes.iter().any(|n| n.contains("overshoots")), "{name}: overshoot {tp} reported: {:?}", r.notes);
        }
    }
}

#[test]
fn strict_peak_re_encodes_until_the_decoded_mp3_holds_the_ceiling() {
    let dir = tempfile::tempdir().expect("tmp");
    // Full-band noise right at the ceiling: MP3 coding noise pushes the peaks over.
    let input = put(
        dir.path(),
        "noise.wav",
        &wav(&white_noise(44_100, 2, 8.0, 0.3, 5), Encoding::Pcm24, WavOptions::default()),
    );
    let out = dir.path().join("n.mp3");
    let mut s = spec(Preset::Streaming, OutputFormat::Mp3);
    s.mp3 = Mp3Bitrate::Cbr(128);
    s.strict_peak = true;
    let r = run(&input, &out, &s);
    let (_, tp) = ours(&out);
    assert!(tp <= -1.0 + 0.05, "TP after strict re-encode: {tp} ({:?})", r.notes);
}

#[test]
fn silence_short_clips_and_gated_out_audio_pass_through_with_a_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases: [(&str, Signal, &str); 3] = [
        ("silence.wav", Signal::silence(48_000, 2, 48_000 * 3), "digital silence"),
        ("short.wav", sine(48_000, 2, 1000.0, 0.5, 0.3, 0.0), "shorter than 400 ms"),
        ("quiet.wav", sine(48_000, 2, 1000.0, db_to_amp(-85.0), 3.0, 0.0), "−70 LUFS"),
    ];
    for (name, sig, why) in cases {
        let input = put(dir.path(), name, &wav(&sig, Encoding::Float32, WavOptions::default()));
        let out = dir.path().join(format!("out-{name}"));
        let r = run(&input, &out, &spec(Preset::Ebu, OutputFormat::Wav));
        assert_eq!(r.gain_db, 0.0, "{name}");
        assert!(!r.target_met, "{name}");
        assert!(
            r.notes.iter().any(|n| n.contains("passed through unchanged") && n.contains(why)),
            "{name}: {:?}",
            r.notes
        );
        assert_eq!(decode(&out).planes, sig.planes, "{name}: unchanged");
    }
}

#[test]
fn channel_conversion_down_mixes_5_1_and_up_mixes_mono() {
    let dir = tempfile::tempdir().expect("tmp");
    let input =
        put(dir.path(), "surround.wav", &wav(&moderate(48_000, 6, 6.0), Encoding::Pcm24, WavOptions::default()));
    let out = dir.path().join("stereo.flac");
    let mut s = spec(Preset::Ebu, OutputFormat::Flac);
    s.channels = Some(2);
    let r = run(&input, &out, &s);
    assert_eq!(decode(&out).planes.len(), 2);
    assert!(r.target_met, "{:?}", r.notes);

    let mono = put(dir.path(), "mono.wav", &wav(&moderate(44_100, 1, 6.0), Encoding::Pcm16, WavOptions::default()));
    let out = dir.path().join("dual.wav");
    let mut s = spec(Preset::Ebu, OutputFormat::Wav);
    s.channels = Some(2);
    s.sample_format = Some(SampleFormat::F32);
    run(&mono, &out, &s);
    let d = decode(&out);
    assert_eq!(d.planes.len(), 2);
    assert_eq!(d.planes[0], d.planes[1], "dual mono");
    assert!((ours(&out).0 + 23.0).abs() <= 0.1);
}

#[test]
fn metadata_survives_wav_to_flac_flac_to_mp3_and_mp3_to_opus() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.wav", &wav(&moderate(48_000, 2, 4.0), Encoding::Pcm16, WavOptions::default()));
    let mut meta = Metadata::default();
    for (k, v) in [
        ("title", "Ünïcode Song"),
        ("artist", "The Testers"),
        ("album", "Fixtures"),
        ("track", "3"),
        ("date", "2024"),
        ("genre", "Jazz"),
    ] {
        assert!(meta.set(k, v));
    }
    let cover: Vec<u8> = b"\x89PNG\r\n\x1a\n".iter().copied().chain((0..300u32).map(|i| (i * 7) as u8)).collect();
    meta.add_cover("image/png", cover.clone());
    audioproc_engine::tags::write(&input, OutputFormat::Wav, &meta, None).expect("tag the input");
    let got = Metadata::read(&input).expect("reads");
    assert_eq!(got.get("title"), Some("Ünïcode Song"));

    let mut prev = input;
    for (name, format) in [("a.flac", OutputFormat::Flac), ("b.mp3", OutputFormat::Mp3), ("c.opus", OutputFormat::Opus)]
    {
        let out = dir.path().join(name);
        run(&prev, &out, &spec(Preset::Ebu, format));
        let m = Metadata::read(&out).expect("reads");
        for (k, v) in [("title", "Ünïcode Song"), ("artist", "The Testers"), ("album", "Fixtures"), ("genre", "Jazz")]
        {
            assert_eq!(m.get(k), Some(v), "{name}: {k}");
        }
        assert!(m.get("track").is_some_and(|t| t.starts_with('3')), "{name}: track {:?}", m.get("track"));
        assert!(m.get("date").or(m.get("year")).is_some_and(|d| d.starts_with("2024")), "{name}: date");
        assert_eq!(m.first_picture(), Some(cover.as_slice()), "{name}: cover art");
        prev = out;
    }
}

#[test]
fn loudness_tags_describe_the_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.wav", &wav(&moderate(44_100, 2, 5.0), Encoding::Pcm16, WavOptions::default()));
    let out = dir.path().join("o.flac");
    let mut s = spec(Preset::Streaming, OutputFormat::Flac);
    s.loudness_tags = true;
    let r = run(&input, &out, &s);
    let bytes = std::fs::read(&out).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let i = r.output.loudness.integrated_lufs.expect("I");
    assert!(text.contains(&format!("REPLAYGAIN_TRACK_GAIN={:.2} dB", -18.0 - i)), "RG gain for I = {i}");
    assert!(text.contains("REPLAYGAIN_TRACK_PEAK="));
}

#[test]
fn refusals_leave_no_partial_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let good = put(d, "good.wav", &wav(&moderate(48_000, 2, 3.0), Encoding::Pcm16, WavOptions::default()));
    // Existing output: refused, untouched.
    let existing = put(d, "exists.wav", b"keep me");
    let e = process_file(&good, &existing, &spec(Preset::Ebu, OutputFormat::Wav), Overwrite::Never, &|_| {});
    assert!(matches!(e, Err(Error::OutputExists { .. })), "{e:?}");
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");
    // Missing output directory.
    let e = process_file(
        &good,
        &d.join("no/such/dir/o.wav"),
        &spec(Preset::Ebu, OutputFormat::Wav),
        Overwrite::Never,
        &|_| {},
    );
    assert!(e.is_err());
    // Bad inputs: clean errors, nothing left behind.
    let mut truncated = wav(&moderate(48_000, 2, 3.0), Encoding::Pcm16, WavOptions::default());
    truncated.truncate(30);
    let bad: [(&str, Vec<u8>); 4] = [
        ("empty.wav", Vec::new()),
        ("text.mp3", b"not audio, only words".to_vec()),
        ("trunc.wav", truncated),
        ("zeros.flac", vec![0u8; 4096]),
    ];
    for (name, bytes) in bad {
        let input = put(d, name, &bytes);
        for format in OutputFormat::ALL {
            let out = d.join(format!("out-{name}.{}", format.extension()));
            let r = process_file(&input, &out, &spec(Preset::Ebu, format), Overwrite::Never, &|_| {});
            assert!(r.is_err(), "{name} → {format:?} must fail");
            assert!(!out.exists());
        }
        std::fs::remove_file(&input).expect("rm");
    }
    assert_only(d, &["good.wav", "exists.wav"]);
}

#[test]
fn replace_overwrites_atomically_and_two_runs_are_byte_identical() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.wav", &wav(&moderate(44_100, 2, 4.0), Encoding::Pcm16, WavOptions::default()));
    let out = dir.path().join("o.flac");
    let s = spec(Preset::Ebu, OutputFormat::Flac);
    run(&input, &out, &s);
    let first = std::fs::read(&out).expect("read");
    process_file(&input, &out, &s, Overwrite::Replace, &|_| {}).expect("replace");
    assert_eq!(std::fs::read(&out).expect("read"), first, "deterministic output (dither is seeded)");
    assert_only(dir.path(), &["in.wav", "o.flac"]);
}

/// The malformed corpus of the foundation work (fuzz regressions and seeds, truncated and
/// corrupted): every job ends in a clean error or a complete output that decodes, never a panic,
/// and never leaves a partial or temporary file behind.
#[test]
fn malformed_inputs_fail_cleanly_or_produce_complete_outputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for sub in ["regressions", "seeds"] {
        for e in std::fs::read_dir(root.join(sub)).expect("corpus") {
            let p = e.expect("entry").path();
            let bytes = std::fs::read(&p).expect("read");
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            if sub == "seeds" {
                for (tag, cut) in [("third", bytes.len() / 3), ("half", bytes.len() / 2)] {
                    inputs.push((format!("{name}.{tag}"), bytes[..cut].to_vec()));
                }
                let mut flipped = bytes.clone();
                let mut rng = audioproc_testdata::signal::SplitMix64::new(bytes.len() as u64);
                for _ in 0..32 {
                    let at = (rng.next_u64() as usize) % flipped.len().max(1);
                    if let Some(b) = flipped.get_mut(at) {
                        *b ^= 0x5a;
                    }
                }
                inputs.push((format!("{name}.flipped"), flipped));
            }
            inputs.push((name, bytes));
        }
    }
    assert!(inputs.len() > 60, "corpus found: {}", inputs.len());
    let dir = tempfile::tempdir().expect("tmp");
    let (mut ok, mut failed) = (0, 0);
    for (name, bytes) in &inputs {
        let input = put(dir.path(), "input.bin", bytes);
        let out = dir.path().join("out.wav");
        match process_file(&input, &out, &spec(Preset::Ebu, OutputFormat::Wav), Overwrite::Never, &|_| {}) {
            Ok(r) => {
                ok += 1;
                assert_eq!(decode(&out).planes[0].len() as u64, r.output.frames, "{name}: complete output");
                std::fs::remove_file(&out).expect("rm");
            }
            Err(e) => {
                failed += 1;
                assert!(!matches!(e, Error::InvalidParameter(_)), "{name}: {e}");
                assert!(!out.exists(), "{name}: no output after {e}");
            }
        }
        assert_only(dir.path(), &["input.bin"]);
    }
    eprintln!("malformed corpus: {} inputs, {ok} processed, {failed} refused", inputs.len());
    assert!(failed > 0 && ok > 0);
}

/// Without helper threads (`Threads::Single`, as the batch job runs), the same bytes and the
/// same figures.
#[test]
fn single_threaded_processing_is_identical() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.wav", &wav(&moderate(44_100, 2, 3.0), Encoding::Pcm16, WavOptions::default()));
    for format in [OutputFormat::Flac, OutputFormat::Wav] {
        let mut s = spec(Preset::Ebu, format);
        s.mode = PeakMode::Limit;
        let (a, b) = (
            dir.path().join(format!("a.{}", format.extension())),
            dir.path().join(format!("b.{}", format.extension())),
        );
        let quiet = |_| {};
        let options = |threads| ProcessOptions { overwrite: Overwrite::Never, threads, progress: &quiet, cancel: None };
        let ra = process_file_with(&input, &a, &s, &options(Threads::Pipelined)).expect("pipelined");
        let rb = process_file_with(&input, &b, &s, &options(Threads::Single)).expect("single-threaded");
        assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"), "{format:?}");
        assert_eq!(ra.output.loudness, rb.output.loudness);
        assert_eq!(ra.input.loudness, rb.input.loudness);
    }
}

/// `passes` counts every decode: 1 measure, the limiter's dry runs, and per encode one decode of
/// the input plus, for lossy outputs, one of the written file; never over the budget.
#[test]
fn passes_count_every_decode_within_the_budget() {
    use audioproc_engine::process::DECODE_BUDGET;
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.wav", &wav(&moderate(44_100, 2, 3.0), Encoding::Pcm16, WavOptions::default()));
    let lossless = run(&input, &dir.path().join("a.flac"), &spec(Preset::Ebu, OutputFormat::Flac));
    assert_eq!((lossless.passes, lossless.encode_attempts), (2, 1));
    let lossy = run(&input, &dir.path().join("a.mp3"), &spec(Preset::Ebu, OutputFormat::Mp3));
    assert_eq!(lossy.passes, 1 + 2 * lossy.encode_attempts);
    let mut limit = spec(Preset::Streaming, OutputFormat::Flac);
    limit.mode = PeakMode::Limit;
    let limited = run(&input, &dir.path().join("b.flac"), &limit);
    assert!(limited.passes >= 3, "measure, at least one dry run, the encode: {}", limited.passes);
    for r in [&lossless, &lossy, &limited] {
        assert!(r.passes <= DECODE_BUDGET.max_passes());
    }
}
