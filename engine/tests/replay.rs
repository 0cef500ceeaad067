//! A compressed input is decoded once: pass 1 keeps a copy of the decoded audio and the later
//! passes (limiter calibrations, the encode) read it back. The output must be the same as if
//! every pass had decoded, and nothing may be left behind.

use std::path::{Path, PathBuf};

use audioproc_engine::{
    Decoder, Limits, OutputFormat, Overwrite, PeakMode, Preset, ProcessOptions, ProcessReport, ProcessingSpec, Threads,
    process_file_with,
};
use audioproc_testdata::signal::tonal;
use audioproc_testdata::writers::{Encoding, WavOptions, flac, wav};

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn run(input: &Path, output: &Path, spec: &ProcessingSpec, threads: Threads) -> ProcessReport {
    let quiet = |_| {};
    let options = ProcessOptions { overwrite: Overwrite::Never, threads, progress: &quiet, cancel: None };
    process_file_with(input, output, spec, &options).unwrap_or_else(|e| panic!("{}: {e}", input.display()))
}

fn samples(path: &Path) -> Vec<Vec<f32>> {
    let mut d = Decoder::open_path(path, &Limits::default()).expect("decodes");
    let mut planes = vec![Vec::new(); d.info().channels()];
    while let Some(block) = d.next_block().expect("decodes") {
        planes.iter_mut().zip(block).for_each(|(p, b)| p.extend_from_slice(b));
    }
    planes
}

fn names(dir: &Path) -> Vec<String> {
    let mut got: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    got
}

#[test]
fn a_flac_input_is_decoded_once_and_gives_the_output_of_its_pcm_twin() {
    let dir = tempfile::tempdir().expect("tmp");
    let signal = tonal(44_100, 2, 8.0, 0.01);
    // The same samples, as PCM (read again by every pass) and as FLAC (decoded once).
    let pcm = put(dir.path(), "in.wav", &wav(&signal, Encoding::Pcm16, WavOptions::default()));
    let compressed = put(dir.path(), "in.flac", &flac(&signal, 16));
    let mut limit = ProcessingSpec::new(Preset::Streaming, OutputFormat::Wav);
    limit.mode = PeakMode::Limit;
    for threads in [Threads::Pipelined, Threads::Single] {
        let tag = format!("{threads:?}");
        let from_pcm = run(&pcm, &dir.path().join(format!("pcm-{tag}.wav")), &limit, threads);
        let from_flac = run(&compressed, &dir.path().join(format!("flac-{tag}.wav")), &limit, threads);
        assert!(from_pcm.passes >= 3, "measure, a dry run, the encode: {}", from_pcm.passes);
        assert_eq!(from_pcm.decodes, from_pcm.passes, "PCM is read again by every pass");
        assert_eq!(from_flac.passes, from_pcm.passes);
        assert_eq!(from_flac.decodes, 1, "the FLAC input is decoded by pass 1 only");
        assert_eq!(from_flac.gain_db, from_pcm.gain_db);
        assert_eq!(from_flac.output.loudness, from_pcm.output.loudness);
        assert_eq!(
            samples(&dir.path().join(format!("flac-{tag}.wav"))),
            samples(&dir.path().join(format!("pcm-{tag}.wav"))),
            "{tag}"
        );
    }
    // The kept copy has no name: only the inputs and outputs are in the directory.
    assert_eq!(
        names(dir.path()),
        ["flac-Pipelined.wav", "flac-Single.wav", "in.flac", "in.wav", "pcm-Pipelined.wav", "pcm-Single.wav"]
    );
}

#[test]
fn a_lossy_output_still_decodes_what_it_wrote() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = put(dir.path(), "in.flac", &flac(&tonal(44_100, 2, 6.0, 0.01), 16));
    let spec = ProcessingSpec::new(Preset::Ebu, OutputFormat::Mp3);
    let r = run(&input, &dir.path().join("out.mp3"), &spec, Threads::Pipelined);
    // One decode of the input, then per encode a read of the copy and a decode of the MP3.
    assert_eq!(r.passes, 1 + 2 * r.encode_attempts);
    assert_eq!(r.decodes, 1 + r.encode_attempts);
    assert!(r.output.measured_after_decoding);
    assert_eq!(names(dir.path()), ["in.flac", "out.mp3"]);
}
