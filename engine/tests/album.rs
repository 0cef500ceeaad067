//! Album mode: the album's loudness is that of its tracks taken as one programme, every track
//! gets the same gain (so their relative loudness is exactly kept), and the figures agree with
//! loudgain's (libebur128) album figures.

use std::path::{Path, PathBuf};
use std::process::Command;

use audioproc_engine::album::measure_file;
use audioproc_engine::{
    AlbumLoudness, OutputFormat, Overwrite, PeakMode, Preset, ProcessOptions, ProcessingSpec, SampleFormat, Threads,
    analyze_path, measure_for_album, process_file,
};
use audioproc_testdata::Signal;
use audioproc_testdata::signal::tonal;
use audioproc_testdata::writers::{Encoding, WavOptions, flac, wav};

/// Three tracks at clearly different levels; lengths are whole 100 ms sub-blocks so that the
/// concatenation's blocks are the tracks' blocks plus the six that straddle a boundary. Steady
/// material: on programme material with a wide loudness range those six blocks move the
/// relative gate of the concatenation by up to 0.03 LU (cutting one programme in two does the
/// same), which is the concatenation's doing, not the album's.
fn tracks(rate: u32) -> Vec<Signal> {
    [(30.0, 0.0, 0.01), (24.0, -5.0, 0.02), (36.0, -9.0, 0.03)]
        .into_iter()
        .map(|(secs, db, noise)| {
            let mut s = tonal(rate, 2, secs, noise);
            s.gain_db(db);
            s
        })
        .collect()
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn float_wav(s: &Signal) -> Vec<u8> {
    wav(s, Encoding::Float32, WavOptions::default())
}

fn no_progress() -> ProcessOptions<'static> {
    ProcessOptions { overwrite: Overwrite::Never, threads: Threads::Pipelined, progress: &|_| {}, cancel: None }
}

#[test]
fn album_gain_is_the_gain_of_the_concatenation_and_relative_levels_are_kept_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sigs = tracks(48_000);
    let paths: Vec<PathBuf> =
        sigs.iter().enumerate().map(|(i, s)| put(dir.path(), &format!("{i}.wav"), &float_wav(s))).collect();
    let mut whole = sigs[0].clone();
    sigs[1..].iter().for_each(|s| whole.append(s));
    let whole_path = put(dir.path(), "whole.wav", &float_wav(&whole));

    let mut spec = ProcessingSpec::new(Preset::Ebu, OutputFormat::Wav);
    spec.sample_format = Some(SampleFormat::F32);
    let measured: Vec<_> =
        paths.iter().map(|p| measure_for_album(p, &spec, &no_progress()).expect("measures")).collect();
    let album = AlbumLoudness::of(&measured);
    let level = album.level(&spec).expect("loud enough");
    let whole_i = analyze_path(&whole_path, &Default::default()).expect("whole").loudness.integrated_lufs.expect("I");
    let concatenation_gain = spec.target_lufs - whole_i;
    assert!(
        (level.gain_db - concatenation_gain).abs() <= 0.01,
        "album {} vs concatenation {concatenation_gain}",
        level.gain_db
    );
    let tracks_i: Vec<f64> = measured.iter().map(|t| t.loudness.integrated_lufs.expect("I")).collect();
    assert!(tracks_i[0] - tracks_i[2] > 8.0, "the tracks differ: {tracks_i:?}");
    let loudest_tp = measured.iter().filter_map(|t| t.loudness.true_peak_dbtp).fold(f64::MIN, f64::max);
    assert_eq!(album.true_peak_dbtp, Some(loudest_tp));

    spec.album = Some(level);
    let outputs: Vec<f64> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let out = dir.path().join(format!("{i}.out.wav"));
            let r = process_file(p, &out, &spec, Overwrite::Never, &|_| {}).expect("processes");
            assert_eq!(r.gain_db, level.gain_db, "every track gets the album's gain");
            assert!(r.target_met, "{:?}", r.notes);
            assert!(r.notes.iter().any(|n| n.starts_with("album mode: album of 3 tracks")), "{:?}", r.notes);
            r.output.loudness.integrated_lufs.expect("I")
        })
        .collect();
    for (k, (a, b)) in tracks_i.iter().zip(&outputs).enumerate() {
        assert!((b - a - level.gain_db).abs() < 1e-3, "track {k}: {a} + {} ≠ {b}", level.gain_db);
    }
    for k in 1..3 {
        let (before, after) = (tracks_i[0] - tracks_i[k], outputs[0] - outputs[k]);
        assert!((before - after).abs() < 1e-3, "relative level of track {k}: {before} → {after}");
    }
    // The album as written sits on the target.
    let written: Vec<_> = (0..3)
        .map(|i| measure_for_album(&dir.path().join(format!("{i}.out.wav")), &spec, &no_progress()).expect("measures"))
        .collect();
    let out_album = AlbumLoudness::of(&written).integrated_lufs.expect("I");
    assert!((out_album - spec.target_lufs).abs() < 0.01, "{out_album}");
}

#[test]
fn in_linear_mode_the_loudest_peak_of_the_album_meets_the_ceiling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sigs = tracks(44_100);
    let paths: Vec<PathBuf> =
        sigs.iter().enumerate().map(|(i, s)| put(dir.path(), &format!("{i}.wav"), &float_wav(s))).collect();
    let mut spec = ProcessingSpec::new(Preset::Streaming, OutputFormat::Wav);
    spec.sample_format = Some(SampleFormat::F32);
    spec.target_lufs = -9.0; // +10 dB would put the loudest track's peaks over the ceiling
    let measured: Vec<_> =
        paths.iter().map(|p| measure_for_album(p, &spec, &no_progress()).expect("measures")).collect();
    let level = AlbumLoudness::of(&measured).level(&spec).expect("loud");
    spec.album = Some(level);
    let mut peaks = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let out = dir.path().join(format!("{i}.out.wav"));
        let r = process_file(p, &out, &spec, Overwrite::Never, &|_| {}).expect("processes");
        peaks.push(r.output.loudness.true_peak_dbtp.expect("peak"));
    }
    let loudest = peaks.iter().copied().fold(f64::MIN, f64::max);
    assert!(loudest <= spec.true_peak_dbtp + 0.02 && loudest > spec.true_peak_dbtp - 0.2, "{peaks:?}");
    let limit = ProcessingSpec { mode: PeakMode::Limit, album: None, ..spec.clone() };
    assert!(AlbumLoudness::of(&measured).gain_db(&limit).expect("gain") > level.gain_db, "linear gain was lowered");
}

/// loudgain's `-O` table: (file name, gain dB) rows, the album's as "Album".
fn loudgain_gains(files: &[PathBuf]) -> Option<Vec<(String, f64)>> {
    let out = Command::new("loudgain").args(["-q", "-a", "-O", "-s", "s"]).args(files).output().ok()?;
    assert!(out.status.success(), "loudgain: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    Some(
        text.lines()
            .skip(1)
            .map(|l| {
                let cols: Vec<&str> = l.split('\t').collect();
                let name = Path::new(cols[0]).file_name().map_or(cols[0].to_owned(), |n| n.to_string_lossy().into());
                (name, cols[8].trim_end_matches(" dB").parse().expect("gain"))
            })
            .collect(),
    )
}

#[test]
fn track_and_album_gains_agree_with_loudgain_within_five_hundredths_of_a_db() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<PathBuf> =
        tracks(44_100).iter().enumerate().map(|(i, s)| put(dir.path(), &format!("{i}.flac"), &flac(s, 16))).collect();
    let Some(theirs) = loudgain_gains(&paths) else {
        panic!("loudgain is not installed (scripts/test.sh installs it): it is this test's reference");
    };
    let ours: Vec<_> =
        paths.iter().map(|p| measure_file(p, &Default::default(), Threads::Pipelined).expect("measures").1).collect();
    let album = AlbumLoudness::of(&ours);
    for (i, t) in ours.iter().enumerate() {
        let gain = -18.0 - t.loudness.integrated_lufs.expect("I");
        let (_, lg) = theirs.iter().find(|(n, _)| *n == format!("{i}.flac")).expect("loudgain row");
        assert!((gain - lg).abs() <= 0.05, "track {i}: ours {gain:.3} dB, loudgain {lg} dB");
    }
    let gain = -18.0 - album.integrated_lufs.expect("I");
    let (_, lg) = theirs.iter().find(|(n, _)| n == "Album").expect("album row");
    assert!((gain - lg).abs() <= 0.05, "album: ours {gain:.3} dB, loudgain {lg} dB");
}
