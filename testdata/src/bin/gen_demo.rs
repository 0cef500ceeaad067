//! Writes the bundled demo file `testdata/demo.flac`: 6 s of programme-like stereo material
//! at 44.1 kHz, 16-bit FLAC. Deterministic: the `demo_file_is_what_the_generator_writes` test
//! checks the committed file against this program's output.
//!
//! Run: `cargo run -p audioproc-testdata --bin gen-demo`

fn main() -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.flac");
    std::fs::write(&path, audioproc_testdata::demo_flac())?;
    println!("wrote {}", path.display());
    Ok(())
}
