//! Writes COUNT distinct programme-like 16-bit stereo 44.1 kHz WAV tracks of SECONDS each into
//! DIR (`track-0000.wav`, …), for the batch benchmarks.
//!
//! Run: `cargo run --release -p audioproc-testdata --bin gen-tracks -- DIR COUNT SECONDS`

use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::{Encoding, WavOptions, wav};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(count), Some(seconds)) = (
        args.first(),
        args.get(1).and_then(|c| c.parse::<u64>().ok()),
        args.get(2).and_then(|s| s.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: gen-tracks DIR COUNT SECONDS");
        std::process::exit(2);
    };
    std::fs::create_dir_all(dir)?;
    // One generated signal per seed would take as long as processing; tile a few instead.
    let tiles: Vec<Vec<u8>> =
        (0..8).map(|seed| wav(&programme(44_100, 2, seconds, seed), Encoding::Pcm16, WavOptions::default())).collect();
    for i in 0..count {
        std::fs::write(format!("{dir}/track-{i:04}.wav"), &tiles[(i % 8) as usize])?;
    }
    println!("wrote {count} × {seconds} s tracks to {dir}");
    Ok(())
}
