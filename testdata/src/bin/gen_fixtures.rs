//! Writes the compressed-format decoder fixtures in `testdata/fixtures/` from
//! `signal::programme`, then decodes each with symphonia and prints what it got.
//!
//! ```text
//! cargo run -p audioproc-testdata --features encoders --bin gen-fixtures [-- OUT_DIR]
//! ```
//!
//! Encoders: LAME (MP3), libvorbis/aoTuV (Ogg Vorbis), Fraunhofer FDK AAC (AAC-LC), Apple's ALAC
//! encoder (Rust port), and a Layer I encoder of our own (`layer1.rs`; no packaged encoder writes
//! Layer I). MP4 muxing is done here (`mp4.rs`). Layer II encoding and Matroska / WebM muxing call
//! `ffmpeg` on files written here; without `ffmpeg` on `PATH` those fixtures are skipped with a
//! warning. Set `GEN_FIXTURES_VERBOSE=1` to also print per-channel correlation matrices. See
//! `fixtures/README.md`.

#[path = "gen_fixtures/check.rs"]
mod check;
#[path = "gen_fixtures/layer1.rs"]
mod layer1;
#[path = "gen_fixtures/mp4.rs"]
mod mp4;

use std::error::Error;
use std::fs;
use std::num::{NonZeroU8, NonZeroU32};
use std::path::{Path, PathBuf};
use std::process::Command;

use audioproc_testdata::Signal;
use audioproc_testdata::signal::programme;
use audioproc_testdata::writers::{Encoding, WavOptions, quantize, wav};

type Res<T> = Result<T, Box<dyn Error>>;

const RATE: u32 = 44_100;
const SECONDS: f64 = 6.0;
const SEED: u64 = 7;
/// ALAC is lossless, so 6 s of programme would be ~700 KB; the ALAC fixture is shorter.
const ALAC_SECONDS: f64 = 1.5;
/// The same for the 6-channel ALAC fixture.
const ALAC_51_SECONDS: f64 = 0.5;
const MAX_FILE_BYTES: usize = 250 * 1024;

/// What the generator did for one fixture (for the summary table).
#[derive(Debug)]
struct Made {
    file: &'static str,
    source: Signal,
    notes: String,
}

fn i16_interleaved(sig: &Signal) -> Vec<i16> {
    sig.interleaved().into_iter().map(|x| quantize(x, 16) as i16).collect()
}

/// MPEG-1 Layer III, LAME, CBR 128 kb/s joint stereo, with the Xing "Info" + LAME tag frame
/// (encoder delay and padding) rewritten after the flush, as the `lame` front end does.
fn mp3(sig: &Signal) -> Res<(Vec<u8>, String)> {
    use mp3lame_encoder::{Bitrate, Builder, DualPcm, FlushGap, Mode, Quality};
    let mut b = Builder::new().ok_or("lame_init failed")?;
    b.set_num_channels(2).map_err(|e| format!("{e:?}"))?;
    b.set_sample_rate(sig.rate).map_err(|e| format!("{e:?}"))?;
    b.set_brate(Bitrate::Kbps128).map_err(|e| format!("{e:?}"))?;
    b.set_mode(Mode::JointStereo).map_err(|e| format!("{e:?}"))?;
    b.set_quality(Quality::Good).map_err(|e| format!("{e:?}"))?;
    b.set_vbr_mode(mp3lame_encoder::VbrMode::Off).map_err(|e| format!("{e:?}"))?;
    b.set_to_write_vbr_tag(true).map_err(|e| format!("{e:?}"))?;
    let mut enc = b.build().map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::new();
    for (l, r) in sig.planes[0].chunks(4096).zip(sig.planes[1].chunks(4096)) {
        out.reserve(l.len() * 5 / 4 + 7200);
        enc.encode_to_vec(DualPcm { left: l, right: r }, &mut out).map_err(|e| format!("{e:?}"))?;
    }
    out.reserve(7200);
    enc.flush_to_vec::<FlushGap>(&mut out).map_err(|e| format!("{e:?}"))?;
    let mut tag = Vec::with_capacity(enc.lame_tag_size());
    enc.lame_tag_encode_to_vec(&mut tag).ok_or("no LAME tag")?;
    // No ID3v2 tag was written, so the tag frame is the first frame of the stream.
    out[..tag.len()].copy_from_slice(&tag);
    let notes = lame_tag_notes(&tag);
    Ok((out, format!("LAME {}; {notes}", mp3lame_encoder::mp3lame_version())))
}

/// Reads encoder delay and padding back out of a Xing/Info + LAME tag frame.
fn lame_tag_notes(frame: &[u8]) -> String {
    let Some(x) = frame.windows(4).position(|w| w == b"Info" || w == b"Xing") else {
        return "no Xing/Info tag".to_owned();
    };
    let flags = u32::from_be_bytes([frame[x + 4], frame[x + 5], frame[x + 6], frame[x + 7]]);
    let mut p = x + 8;
    let mut frames = None;
    if flags & 1 != 0 {
        frames = Some(u32::from_be_bytes([frame[p], frame[p + 1], frame[p + 2], frame[p + 3]]));
        p += 4;
    }
    if flags & 2 != 0 {
        p += 4;
    }
    if flags & 4 != 0 {
        p += 100;
    }
    if flags & 8 != 0 {
        p += 4;
    }
    // LAME extension: 9-byte version string, then 12 bytes to the delay/padding field.
    let version = String::from_utf8_lossy(&frame[p..p + 9]).trim_end_matches('\0').to_owned();
    let d = &frame[p + 21..p + 24];
    let delay = (u32::from(d[0]) << 4) | (u32::from(d[1]) >> 4);
    let padding = ((u32::from(d[1]) & 0x0F) << 8) | u32::from(d[2]);
    format!(
        "{} tag frames={} encoder-delay={delay} padding={padding} ({version})",
        String::from_utf8_lossy(&frame[x..x + 4]),
        frames.map_or_else(|| "?".to_owned(), |f| f.to_string())
    )
}

/// Ogg Vorbis (aoTuV/libvorbis via vorbis_rs), quality VBR, fixed stream serial.
fn vorbis(sig: &Signal, quality: f32, serial: i32) -> Res<Vec<u8>> {
    use vorbis_rs::{VorbisBitrateManagementStrategy, VorbisEncoderBuilder};
    let channels = NonZeroU8::new(sig.channels() as u8).ok_or("no channels")?;
    let rate = NonZeroU32::new(sig.rate).ok_or("zero rate")?;
    let mut b = VorbisEncoderBuilder::new_with_serial(rate, channels, Vec::new(), serial);
    b.bitrate_management_strategy(VorbisBitrateManagementStrategy::QualityVbr { target_quality: quality });
    let mut enc = b.build()?;
    let mut pos = 0;
    while pos < sig.frames() {
        let end = (pos + 1024).min(sig.frames());
        let block: Vec<&[f32]> = sig.planes.iter().map(|p| &p[pos..end]).collect();
        enc.encode_audio_block(&block)?;
        pos = end;
    }
    Ok(enc.finish()?)
}

/// AAC-LC (FDK AAC, CBR 128 kb/s, raw access units) in M4A with an iTunes/ffmpeg-style edit
/// list: `media_time` = the encoder's delay, `segment_duration` = the source frame count.
fn aac_m4a(sig: &Signal) -> Res<(Vec<u8>, Vec<Vec<u8>>, String)> {
    use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};
    let enc = Encoder::new(EncoderParams {
        bit_rate: BitRate::Cbr(128_000),
        sample_rate: sig.rate,
        transport: Transport::Raw,
        channels: ChannelMode::Stereo,
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .map_err(|e| format!("fdk-aac: {e:?}"))?;
    let info = enc.info().map_err(|e| format!("fdk-aac: {e:?}"))?;
    let frame_len = info.frameLength as usize;
    let delay = info.nDelay as usize;
    let asc = info.confBuf[..info.confSize as usize].to_vec();
    let n = sig.frames();
    // Enough access units that the last source frame is decoded: ceil((delay + n) / 1024).
    let needed = (delay + n).div_ceil(frame_len);
    let mut input = i16_interleaved(sig);
    input.resize((needed + 8) * frame_len * 2, 0);
    let mut buf = vec![0u8; info.maxOutBufBytes as usize];
    let mut packets = Vec::new();
    let mut pos = 0;
    while packets.len() < needed {
        let end = (pos + frame_len * 2).min(input.len());
        if pos >= end {
            return Err("fdk-aac produced too few access units".into());
        }
        let r = enc.encode(&input[pos..end], &mut buf).map_err(|e| format!("fdk-aac: {e:?}"))?;
        pos += r.input_consumed;
        if r.output_size > 0 {
            packets.push(buf[..r.output_size].to_vec());
        }
    }
    let bits: usize = packets.iter().map(|p| p.len() * 8).sum();
    let avg = (bits as f64 / (packets.len() * frame_len) as f64 * f64::from(sig.rate)) as u32;
    let max_packet = packets.iter().map(Vec::len).max().unwrap_or(0);
    let max_rate = (max_packet * 8 * sig.rate as usize / frame_len) as u32;
    let esds = mp4::esds(&asc, max_rate, avg, max_packet as u32);
    let entry = mp4::audio_sample_entry(b"mp4a", 2, 16, sig.rate, &esds);
    let durations = vec![frame_len as u32; packets.len()];
    let file = mp4::mux(&mp4::Track {
        sample_entry: entry,
        timescale: sig.rate,
        packets: &packets,
        durations: &durations,
        edit: Some((delay as u32, n as u32)),
        packets_per_chunk: 43,
    });
    let notes = format!(
        "FDK AAC libAACenc (fdk-aac-sys 0.5.0), AAC-LC CBR 128 kb/s, ASC {}, nDelay={} nDelayCore={}; {} access units x {} = {} frames; \
         elst: media_time={delay} segment_duration={n} (timescale {}); mdhd duration={}",
        asc.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        info.nDelay,
        info.nDelayCore,
        packets.len(),
        frame_len,
        packets.len() * frame_len,
        sig.rate,
        packets.len() * frame_len,
    );
    Ok((file, packets, notes))
}

/// ALAC (Rust port of Apple's encoder), 16-bit, 4096 frames per packet, in M4A. No edit list:
/// ALAC has no priming, and the last packet is simply shorter. `sig` is in ALAC channel order.
fn alac_m4a(sig: &Signal) -> Res<(Vec<u8>, String)> {
    use alac_encoder::{AlacEncoder, FormatDescription};
    let frames_per_packet = 4096u32;
    let out_fmt = FormatDescription::alac(f64::from(sig.rate), frames_per_packet, sig.channels() as u32);
    let in_fmt = FormatDescription::pcm::<i16>(f64::from(sig.rate), sig.channels() as u32);
    let mut enc = AlacEncoder::new(&out_fmt);
    let pcm: Vec<u8> = i16_interleaved(sig).into_iter().flat_map(i16::to_le_bytes).collect();
    let bytes_per_frame = 2 * sig.channels();
    let mut buf = vec![0u8; out_fmt.max_packet_size()];
    let mut packets = Vec::new();
    let mut durations = Vec::new();
    for chunk in pcm.chunks(frames_per_packet as usize * bytes_per_frame) {
        let size = enc.encode(&in_fmt, chunk, &mut buf);
        packets.push(buf[..size].to_vec());
        durations.push((chunk.len() / bytes_per_frame) as u32);
    }
    // The cookie carries max frame bytes and average bit rate, so take it after encoding.
    let mut cookie = enc.magic_cookie();
    // alac-encoder 0.3.0 writes the `chan` layout tag as the bytes [n, 0, tag, 0]; ALAC's
    // ALACAudioChannelLayout has it as a big-endian u32 (tag << 16 | n).
    if cookie.len() == 48 && &cookie[28..32] == b"chan" {
        let (n, tag) = (u32::from(cookie[36]), u32::from(cookie[38]));
        cookie[36..40].copy_from_slice(&((tag << 16) | n).to_be_bytes());
    }
    let alac_box = {
        let mut b = Vec::new();
        b.extend(((cookie.len() + 12) as u32).to_be_bytes());
        b.extend(b"alac");
        b.extend([0u8; 4]);
        b.extend(&cookie);
        b
    };
    let entry = mp4::audio_sample_entry(b"alac", sig.channels() as u16, 16, sig.rate, &alac_box);
    let file = mp4::mux(&mp4::Track {
        sample_entry: entry,
        timescale: sig.rate,
        packets: &packets,
        durations: &durations,
        edit: None,
        packets_per_chunk: 10,
    });
    let notes = format!(
        "alac-encoder 0.3.0, 16-bit, {frames_per_packet} frames/packet, {} packets (last {} frames); no edit list; {} s of programme; cookie {}",
        packets.len(),
        durations.last().copied().unwrap_or(0),
        sig.seconds(),
        cookie.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    );
    Ok((file, notes))
}

fn ffmpeg_available() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok_and(|o| o.status.success())
}

fn ffmpeg_version() -> String {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default()
}

/// Runs ffmpeg with options that keep the output free of dates, versions and random IDs.
fn ffmpeg(input_opts: &[&str], input: &Path, output_opts: &[&str], output: &Path) -> Res<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-fflags", "+bitexact"]);
    cmd.args(input_opts).arg("-i").arg(input);
    cmd.args([
        "-map",
        "0:a",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
    ]);
    cmd.args(output_opts).arg(output);
    let st = cmd.status()?;
    if !st.success() {
        return Err(format!("ffmpeg failed ({st}) writing {}", output.display()).into());
    }
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Res<()> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!("{name} is {} bytes, over the {MAX_FILE_BYTES}-byte budget", bytes.len()).into());
    }
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

/// Reorders planes: output plane `k` is input plane `order[k]`.
fn reorder(sig: &Signal, order: &[usize]) -> Signal {
    Signal { rate: sig.rate, planes: order.iter().map(|&i| sig.planes[i].clone()).collect() }
}

/// WAV/SMPTE 5.1 order (L R C LFE Ls Rs) to Vorbis' 5.1 order (L C R Ls Rs LFE).
const WAV_TO_VORBIS_51: [usize; 6] = [0, 2, 1, 4, 5, 3];
/// WAV/SMPTE 5.1 order to ALAC's 5.1 order (C L R Ls Rs LFE, layout tag MPEG_5_1_D).
const WAV_TO_ALAC_51: [usize; 6] = [2, 0, 1, 4, 5, 3];

fn main() -> Res<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"), PathBuf::from);
    fs::create_dir_all(&out)?;

    let stereo = programme(RATE, 2, SECONDS, SEED);
    let six = programme(RATE, 6, SECONDS, SEED);
    let short = programme(RATE, 2, ALAC_SECONDS, SEED);
    let short_six = programme(RATE, 6, ALAC_51_SECONDS, SEED);
    let mut made: Vec<Made> = Vec::new();

    let (bytes, notes) = mp3(&stereo)?;
    write(&out, "programme.mp3", &bytes)?;
    made.push(Made { file: "programme.mp3", source: stereo.clone(), notes });

    write(&out, "programme.mp1", &layer1::encode(&stereo, 256))?;
    made.push(Made {
        file: "programme.mp1",
        source: stereo.clone(),
        notes: "this generator's own Layer I encoder (layer1.rs), 256 kb/s stereo, no CRC".to_owned(),
    });

    write(&out, "programme.ogg", &vorbis(&stereo, 0.3, 0x4150_0001)?)?;
    made.push(Made {
        file: "programme.ogg",
        source: stereo.clone(),
        notes: "vorbis_rs 0.5.6 (aoTuV b6.03 + Lancer libvorbis), quality 0.3 VBR, serial 0x41500001".to_owned(),
    });

    write(&out, "programme_5_1.ogg", &vorbis(&reorder(&six, &WAV_TO_VORBIS_51), 0.3, 0x4150_0051)?)?;
    made.push(Made {
        file: "programme_5_1.ogg",
        source: six.clone(),
        notes: "vorbis_rs 0.5.6, quality 0.3 VBR, 6 ch: source planes (WAV order L R C LFE Ls Rs) written in Vorbis order L C R Ls Rs LFE"
            .to_owned(),
    });

    let (m4a, _, notes) = aac_m4a(&stereo)?;
    write(&out, "programme.m4a", &m4a)?;
    made.push(Made { file: "programme.m4a", source: stereo.clone(), notes });

    let (bytes, notes) = alac_m4a(&short)?;
    write(&out, "programme_alac.m4a", &bytes)?;
    made.push(Made { file: "programme_alac.m4a", source: short.clone(), notes });

    let (bytes, notes) = alac_m4a(&reorder(&short_six, &WAV_TO_ALAC_51))?;
    write(&out, "programme_5_1_alac.m4a", &bytes)?;
    let notes = format!("{notes}; source planes (WAV order) written in ALAC order C L R Ls Rs LFE");
    made.push(Made { file: "programme_5_1_alac.m4a", source: short_six.clone(), notes });

    if ffmpeg_available() {
        let version = ffmpeg_version();
        let wav_path = std::env::temp_dir().join(format!("audioproc-gen-fixtures-{}.wav", std::process::id()));
        fs::write(&wav_path, wav(&stereo, Encoding::Pcm16, WavOptions::default()))?;
        let mp2 = ffmpeg(&[], &wav_path, &["-c:a", "mp2", "-b:a", "160k", "-f", "mp2"], &out.join("programme.mp2"));
        let _ = fs::remove_file(&wav_path);
        mp2?;
        made.push(Made {
            file: "programme.mp2",
            source: stereo.clone(),
            notes: format!("{version}, native mp2 encoder, 160 kb/s, from 16-bit WAV"),
        });
        ffmpeg(&[], &out.join("programme.ogg"), &["-c:a", "copy", "-f", "webm"], &out.join("programme.webm"))?;
        made.push(Made {
            file: "programme.webm",
            source: stereo.clone(),
            notes: format!("{version}, stream copy of programme.ogg's Vorbis packets"),
        });
        // Stream copy of the AAC access units; -ignore_editlist keeps the priming units, and
        // Matroska gets no delay information (ffmpeg writes CodecDelay only for Opus).
        ffmpeg(
            &["-ignore_editlist", "1"],
            &out.join("programme.m4a"),
            &["-c:a", "copy", "-f", "matroska"],
            &out.join("programme.mka"),
        )?;
        made.push(Made {
            file: "programme.mka",
            source: stereo.clone(),
            notes: format!("{version}, stream copy of programme.m4a's AAC access units (-ignore_editlist 1)"),
        });
        for f in ["programme.mp2", "programme.webm", "programme.mka"] {
            let len = fs::metadata(out.join(f))?.len() as usize;
            if len > MAX_FILE_BYTES {
                return Err(format!("{f} is {len} bytes, over budget").into());
            }
        }
    } else {
        eprintln!("WARNING: ffmpeg not on PATH: programme.mp2, programme.webm and programme.mka not written");
    }

    println!("| file | bytes | container | codec | rate | channels | source frames | symphonia frames | lag | notes |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for m in &made {
        let path = out.join(m.file);
        let size = fs::metadata(&path)?.len();
        match check::decode(&path) {
            Ok(d) => {
                let (lag, corr) = check::best_lag(&m.source, 0, &d, 0, 4_000);
                if std::env::var_os("GEN_FIXTURES_VERBOSE").is_some() {
                    eprintln!(
                        "{}: first packets' frames {:?}",
                        m.file,
                        &d.packet_frames[..d.packet_frames.len().min(4)]
                    );
                    for row in check::matrix(&m.source, &d, lag) {
                        eprintln!("  {}", row.iter().map(|c| format!("{c:6.3}")).collect::<Vec<_>>().join(" "));
                    }
                }
                let map = check::channel_map(&m.source, &d, lag);
                let (level, snr) = check::level_and_snr(&m.source, &d, 0, lag);
                let exact = if d.codec == "alac" && d.frames() == m.source.frames() {
                    let q = |x: f32| f32::from(quantize(x, 16) as i16) / 32_768.0;
                    let same =
                        m.source.planes.iter().zip(&d.planes).all(|(s, d)| s.iter().zip(d).all(|(&a, &b)| q(a) == b));
                    if same { "; bit-exact with the 16-bit source" } else { "; NOT bit-exact" }
                } else {
                    ""
                };
                let map: Vec<String> = map.iter().map(|(s, c)| format!("{s}({c:.2})")).collect();
                println!(
                    "| {} | {size} | {} | {} | {} | {} {} | {} | {} | {lag} (r={corr:.3}, level {level:+.2} dB, SNR {snr:.1} dB) | track num_frames={:?} delay={:?} padding={:?}; packets={} trim_start={} trim_end={}; decoded ch -> source ch: {}{exact}; {} |",
                    m.file,
                    d.format,
                    d.codec,
                    d.rate,
                    d.channel_count,
                    d.channels,
                    m.source.frames(),
                    d.frames(),
                    d.track_frames,
                    d.track_delay,
                    d.track_padding,
                    d.packets,
                    d.trim_start,
                    d.trim_end,
                    map.join(" "),
                    m.notes
                );
            }
            Err(e) => println!(
                "| {} | {size} | symphonia error: {e} | | | | {} | | | {} |",
                m.file,
                m.source.frames(),
                m.notes
            ),
        }
    }
    Ok(())
}
