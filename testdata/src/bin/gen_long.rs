//! Writes a long 16-bit stereo 44.1 kHz WAV for benchmarks (default 60 minutes, ~635 MB).
//!
//! Run: `cargo run --release -p audioproc-testdata --bin gen-long -- OUT.wav [MINUTES]`

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: gen-long OUT.wav [MINUTES]");
        std::process::exit(2);
    };
    let minutes: u32 = args.next().and_then(|m| m.parse().ok()).unwrap_or(60);
    audioproc_testdata::writers::long_wav(std::path::Path::new(&out), minutes)?;
    println!("wrote {out} ({minutes} min)");
    Ok(())
}
