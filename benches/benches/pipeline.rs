//! criterion group `pipeline`: whole `process_file` jobs (decode, measure, decode again,
//! gain/limit, encode, rename) on a 60 s stereo 44.1 kHz 16-bit WAV, single job. Throughput
//! counts input frames; audio seconds per wall second (x-realtime) = frames/s ÷ 44 100.
//!
//! Run: `cargo bench -p audioproc-benches --bench pipeline`. The head-to-head comparison with
//! ffmpeg `loudnorm` and `ffmpeg-normalize` on a 60-minute file is `benches/compare.sh`.

use std::hint::black_box;

use audioproc_engine::{OutputFormat, Overwrite, PeakMode, Preset, ProcessingSpec, SampleFormat, process_file};
use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut sig = programme(44_100, 2, 60.0, 5);
    sig.gain_db(-10.0);
    let input = dir.path().join("in.wav");
    std::fs::write(&input, wav(&sig, Encoding::Pcm16, WavOptions::default())).expect("write");
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(sig.frames() as u64));
    let wav16 = ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav);
    let mut limit = wav16.clone();
    limit.mode = PeakMode::Limit;
    limit.preset = Preset::Streaming;
    limit.target_lufs = -14.0;
    let mut to48 = wav16.clone();
    to48.sample_rate = Some(48_000);
    to48.sample_format = Some(SampleFormat::I24);
    let cases = [
        ("wav→wav linear", wav16.clone()),
        ("wav→wav limit -14", limit),
        ("wav→wav 48k 24-bit", to48),
        ("wav→flac", ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac)),
        ("wav→mp3 vbr", ProcessingSpec::new(Preset::Ebu, OutputFormat::Mp3)),
        ("wav→opus", ProcessingSpec::new(Preset::Ebu, OutputFormat::Opus)),
    ];
    for (name, spec) in cases {
        let out = dir.path().join(format!("out.{}", spec.format.extension()));
        group.bench_function(BenchmarkId::new(name, "60 s stereo 44.1k"), |b| {
            b.iter(|| black_box(process_file(&input, &out, &spec, Overwrite::Replace, &|_| {}).expect("job")));
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
