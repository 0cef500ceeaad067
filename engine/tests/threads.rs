//! One job on one thread or on helper threads, fed in any block size: the same figures to the
//! bit (the true peak measured beside the loudness on its own thread, the curve included).

use audioproc_engine::Threads;
use audioproc_engine::channels::default_layout;
use audioproc_engine::loudness::{
    LoudnessMeter, LoudnessReport, MeterOptions, MonoMode, ThreadedMeter, channel_weights,
};
use audioproc_testdata::signal::programme;

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
