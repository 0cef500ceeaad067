//! criterion group `meter`: throughput in samples of our loudness meter against the `ebur128`
//! crate (a Rust port of libebur128), single thread, on 10 s of programme-like material.
//!
//! Run: `cargo bench -p audioproc-benches --bench meter`

use audioproc_engine::channels::default_layout;
use audioproc_engine::loudness::{LoudnessMeter, MeterOptions, MonoMode, channel_weights};
use audioproc_testdata::signal::programme;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ebur128::{EbuR128, Mode};
use std::hint::black_box;

/// Decoder-sized blocks, as the pipeline feeds the meter.
const BLOCK: usize = 4096;

fn meter(c: &mut Criterion) {
    let mut group = c.benchmark_group("meter");
    group.sample_size(10);
    for channels in [1usize, 2, 6] {
        let rate = 44_100;
        let sig = programme(rate, channels, 10.0, 42);
        let frames = sig.frames();
        group.throughput(Throughput::Elements((frames * channels) as u64));
        let weights = channel_weights(&default_layout(channels), MonoMode::Mono);

        for (name, true_peak) in [("audioproc I+LRA+TP", true), ("audioproc I only", false)] {
            group.bench_with_input(BenchmarkId::new(name, format!("{channels}ch")), &sig, |b, sig| {
                b.iter(|| {
                    let mut m =
                        LoudnessMeter::new(rate, &weights, MeterOptions { true_peak, curve: false }).expect("meter");
                    for start in (0..frames).step_by(BLOCK) {
                        let end = (start + BLOCK).min(frames);
                        let planes: Vec<&[f32]> = sig.planes.iter().map(|p| &p[start..end]).collect();
                        m.process(&planes);
                    }
                    black_box(m.report())
                });
            });
        }

        for (name, mode) in [
            ("ebur128 crate I+LRA+TP", Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::HISTOGRAM),
            ("ebur128 crate I only", Mode::I | Mode::HISTOGRAM),
        ] {
            group.bench_with_input(BenchmarkId::new(name, format!("{channels}ch")), &sig, |b, sig| {
                b.iter(|| {
                    let mut e = EbuR128::new(channels as u32, rate, mode).expect("ebur128");
                    for start in (0..frames).step_by(BLOCK) {
                        let end = (start + BLOCK).min(frames);
                        let planes: Vec<&[f32]> = sig.planes.iter().map(|p| &p[start..end]).collect();
                        e.add_frames_planar_f32(&planes).expect("add");
                    }
                    black_box(e.loudness_global().expect("integrated"))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, meter);
criterion_main!(benches);
