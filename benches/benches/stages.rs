//! criterion groups `resample`, `limiter` and `encode`: one processing stage at a time,
//! single thread, on 10 s of programme-like material fed in 4096-frame blocks. Throughput
//! counts samples (frames × channels).
//!
//! Run: `cargo bench -p audioproc-benches --bench stages` (or add a group name to filter).

use std::hint::black_box;
use std::io::Cursor;

use audioproc_engine::channels::default_layout;
use audioproc_engine::dsp::{LimiterOptions, Resampler, Stage, TruePeakLimiter};
use audioproc_engine::encode::{EncodeOptions, Encoder, Mp3Bitrate, OutputFormat, SampleFormat};
use audioproc_testdata::Signal;
use audioproc_testdata::signal::programme;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const BLOCK: usize = 4096;

fn blocks(sig: &Signal) -> Vec<Vec<Vec<f32>>> {
    (0..sig.frames())
        .step_by(BLOCK)
        .map(|s| sig.planes.iter().map(|p| p[s..(s + BLOCK).min(p.len())].to_vec()).collect())
        .collect()
}

fn run_stage(stage: &mut dyn Stage, blocks: &[Vec<Vec<f32>>]) -> usize {
    let mut out = vec![Vec::new(); stage.output_channels()];
    let mut n = 0;
    for b in blocks {
        for p in &mut out {
            p.clear();
        }
        stage.process(b, &mut out).expect("the stage accepts the block");
        n += out[0].len();
    }
    stage.finish(&mut out).expect("the stage flushes");
    n + out[0].len()
}

fn resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample");
    group.sample_size(10);
    for (from, to) in [(44_100u32, 48_000u32), (48_000, 44_100), (96_000, 44_100)] {
        let sig = programme(from, 2, 10.0, 1);
        let b = blocks(&sig);
        group.throughput(Throughput::Elements((sig.frames() * 2) as u64));
        group.bench_function(BenchmarkId::new("audioproc (rubato)", format!("{from}->{to} 2ch")), |bench| {
            bench.iter(|| {
                let mut r = Resampler::new(from, to, 2).expect("resampler");
                black_box(run_stage(&mut r, &b))
            });
        });
    }
    group.finish();
}

fn limiter(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter");
    group.sample_size(10);
    for (rate, channels) in [(44_100u32, 2usize), (48_000, 2), (48_000, 6), (96_000, 2)] {
        let mut sig = programme(rate, channels, 10.0, 2);
        sig.gain_db(6.0);
        let b = blocks(&sig);
        group.throughput(Throughput::Elements((sig.frames() * channels) as u64));
        group.bench_function(BenchmarkId::new("true-peak limiter", format!("{rate} {channels}ch")), |bench| {
            bench.iter(|| {
                let mut l = TruePeakLimiter::new(rate, channels, &LimiterOptions::default()).expect("limiter");
                black_box(run_stage(&mut l, &b))
            });
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.sample_size(10);
    let sig = programme(44_100, 2, 10.0, 3);
    let b = blocks(&sig);
    group.throughput(Throughput::Elements((sig.frames() * 2) as u64));
    let layout = default_layout(2);
    let cases: Vec<(&str, EncodeOptions, u32)> = vec![
        (
            "wav 16-bit dithered",
            EncodeOptions { sample_format: SampleFormat::I16, ..EncodeOptions::new(OutputFormat::Wav) },
            44_100,
        ),
        ("wav 24-bit", EncodeOptions::new(OutputFormat::Wav), 44_100),
        (
            "wav float",
            EncodeOptions { sample_format: SampleFormat::F32, ..EncodeOptions::new(OutputFormat::Wav) },
            44_100,
        ),
        (
            "flac 16-bit",
            EncodeOptions { sample_format: SampleFormat::I16, ..EncodeOptions::new(OutputFormat::Flac) },
            44_100,
        ),
        ("flac 24-bit", EncodeOptions::new(OutputFormat::Flac), 44_100),
        ("mp3 cbr 192", EncodeOptions { mp3: Mp3Bitrate::Cbr(192), ..EncodeOptions::new(OutputFormat::Mp3) }, 44_100),
        ("mp3 vbr q2", EncodeOptions::new(OutputFormat::Mp3), 44_100),
    ];
    for (name, options, rate) in cases {
        group.bench_function(BenchmarkId::new(name, "2ch 44.1k"), |bench| {
            bench.iter(|| {
                let mut e = Encoder::new(&options, rate, &layout, Cursor::new(Vec::new())).expect("encoder");
                for block in &b {
                    e.write(block).expect("write");
                }
                black_box(e.finish().expect("finish").into_inner().len())
            });
        });
    }
    // Opus carries 48 kHz.
    let sig48 = programme(48_000, 2, 10.0, 3);
    let b48 = blocks(&sig48);
    group.throughput(Throughput::Elements((sig48.frames() * 2) as u64));
    group.bench_function(BenchmarkId::new("opus 160k", "2ch 48k"), |bench| {
        bench.iter(|| {
            let mut e = Encoder::new(&EncodeOptions::new(OutputFormat::Opus), 48_000, &layout, Cursor::new(Vec::new()))
                .expect("encoder");
            for block in &b48 {
                e.write(block).expect("write");
            }
            black_box(e.finish().expect("finish").into_inner().len())
        });
    });
    group.finish();
}

criterion_group!(stages, resample, limiter, encode);
criterion_main!(stages);
