//! A minimal MP4/M4A muxer for one audio track: `ftyp`, `moov` (with an optional edit list) and
//! one `mdat` after it, laid out the way ffmpeg and iTunes write audio-only files. It writes no
//! dates, so the same packets always give the same bytes.

/// One audio track to mux.
#[derive(Debug)]
pub struct Track<'a> {
    /// The complete sample entry box (`mp4a`, `alac`, ...).
    pub sample_entry: Vec<u8>,
    /// Media timescale; the sample rate.
    pub timescale: u32,
    /// Encoded packets in decode order.
    pub packets: &'a [Vec<u8>],
    /// Duration of each packet in `timescale` units.
    pub durations: &'a [u32],
    /// `(media_time, segment_duration)` of a single-entry `elst`, both in `timescale` units
    /// (the movie timescale is set to the media timescale). `None` writes no `edts`.
    pub edit: Option<(u32, u32)>,
    /// Packets per chunk (one `stco` entry each).
    pub packets_per_chunk: usize,
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend(((body.len() + 8) as u32).to_be_bytes());
    out.extend(kind);
    out.extend(body);
    out
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.push(version);
    b.extend(&flags.to_be_bytes()[1..]);
    b.extend(body);
    bx(kind, &b)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The fields every audio sample entry starts with (ISO/IEC 14496-12 `AudioSampleEntry`).
pub fn audio_sample_entry(kind: &[u8; 4], channels: u16, bits: u16, rate: u32, children: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend([0u8; 6]); // reserved
    b.extend(1u16.to_be_bytes()); // data_reference_index
    b.extend([0u8; 8]); // version, revision, vendor
    b.extend(channels.to_be_bytes());
    b.extend(bits.to_be_bytes());
    b.extend([0u8; 4]); // compression id, packet size
    b.extend((rate << 16).to_be_bytes());
    b.extend(children);
    bx(kind, &b)
}

fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    // ffmpeg and iTunes write the length in the 4-byte expandable form.
    let n = body.len() as u32;
    let mut out = vec![
        tag,
        0x80 | ((n >> 21) & 0x7F) as u8,
        0x80 | ((n >> 14) & 0x7F) as u8,
        0x80 | ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ];
    out.extend(body);
    out
}

/// An `esds` box for MPEG-4 audio with the given AudioSpecificConfig.
pub fn esds(asc: &[u8], max_bitrate: u32, avg_bitrate: u32, buffer_size: u32) -> Vec<u8> {
    let mut dcd = vec![0x40, 0x15]; // MPEG-4 audio; audio stream, reserved bit set
    dcd.extend(&buffer_size.to_be_bytes()[1..]);
    dcd.extend(max_bitrate.to_be_bytes());
    dcd.extend(avg_bitrate.to_be_bytes());
    dcd.extend(descriptor(0x05, asc));
    let mut es = vec![0x00, 0x01, 0x00]; // ES_ID 1, no flags
    es.extend(descriptor(0x04, &dcd));
    es.extend(descriptor(0x06, &[0x02]));
    full(b"esds", 0, 0, &descriptor(0x03, &es))
}

fn runs(durations: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &d in durations {
        match out.last_mut() {
            Some((n, v)) if *v == d => *n += 1,
            _ => out.push((1, d)),
        }
    }
    out
}

fn moov(t: &Track<'_>, mdat_payload_start: u32) -> Vec<u8> {
    let media_duration: u32 = t.durations.iter().sum();
    let movie_duration = t.edit.map_or(media_duration, |(_, d)| d);

    let mut mvhd = Vec::new();
    mvhd.extend([0u8; 8]); // creation, modification time
    mvhd.extend(t.timescale.to_be_bytes());
    mvhd.extend(movie_duration.to_be_bytes());
    mvhd.extend(0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd.extend(0x0100u16.to_be_bytes()); // volume 1.0
    mvhd.extend([0u8; 10]);
    MATRIX.iter().for_each(|m| mvhd.extend(m.to_be_bytes()));
    mvhd.extend([0u8; 24]); // pre_defined
    mvhd.extend(2u32.to_be_bytes()); // next_track_ID
    let mvhd = full(b"mvhd", 0, 0, &mvhd);

    let mut tkhd = Vec::new();
    tkhd.extend([0u8; 8]);
    tkhd.extend(1u32.to_be_bytes()); // track_ID
    tkhd.extend([0u8; 4]);
    tkhd.extend(movie_duration.to_be_bytes());
    tkhd.extend([0u8; 8]);
    tkhd.extend(0u16.to_be_bytes()); // layer
    tkhd.extend(1u16.to_be_bytes()); // alternate_group
    tkhd.extend(0x0100u16.to_be_bytes()); // volume
    tkhd.extend([0u8; 2]);
    MATRIX.iter().for_each(|m| tkhd.extend(m.to_be_bytes()));
    tkhd.extend([0u8; 8]); // width, height
    let tkhd = full(b"tkhd", 0, 3, &tkhd); // enabled | in movie

    let edts = t.edit.map_or_else(Vec::new, |(media_time, duration)| {
        let mut e = Vec::new();
        e.extend(1u32.to_be_bytes());
        e.extend(duration.to_be_bytes());
        e.extend(media_time.to_be_bytes());
        e.extend(1u16.to_be_bytes()); // media_rate_integer
        e.extend(0u16.to_be_bytes()); // media_rate_fraction
        bx(b"edts", &full(b"elst", 0, 0, &e))
    });

    let mut mdhd = Vec::new();
    mdhd.extend([0u8; 8]);
    mdhd.extend(t.timescale.to_be_bytes());
    mdhd.extend(media_duration.to_be_bytes());
    mdhd.extend(0x55C4u16.to_be_bytes()); // "und"
    mdhd.extend([0u8; 2]);
    let mdhd = full(b"mdhd", 0, 0, &mdhd);

    let mut hdlr = Vec::new();
    hdlr.extend([0u8; 4]);
    hdlr.extend(b"soun");
    hdlr.extend([0u8; 12]);
    hdlr.extend(b"SoundHandler\0");
    let hdlr = full(b"hdlr", 0, 0, &hdlr);

    let smhd = full(b"smhd", 0, 0, &[0u8; 4]);
    let dref = full(b"dref", 0, 0, &cat(&[&1u32.to_be_bytes(), &full(b"url ", 0, 1, &[])]));
    let dinf = bx(b"dinf", &dref);

    let stsd = full(b"stsd", 0, 0, &cat(&[&1u32.to_be_bytes(), &t.sample_entry]));

    let stts_runs = runs(t.durations);
    let mut stts = (stts_runs.len() as u32).to_be_bytes().to_vec();
    for (n, d) in stts_runs {
        stts.extend(n.to_be_bytes());
        stts.extend(d.to_be_bytes());
    }
    let stts = full(b"stts", 0, 0, &stts);

    let per = t.packets_per_chunk.max(1);
    let chunks: Vec<&[Vec<u8>]> = t.packets.chunks(per).collect();
    let mut stsc_entries: Vec<(u32, u32)> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        if stsc_entries.last().is_none_or(|&(_, n)| n != c.len() as u32) {
            stsc_entries.push((i as u32 + 1, c.len() as u32));
        }
    }
    let mut stsc = (stsc_entries.len() as u32).to_be_bytes().to_vec();
    for (first, n) in stsc_entries {
        stsc.extend(first.to_be_bytes());
        stsc.extend(n.to_be_bytes());
        stsc.extend(1u32.to_be_bytes());
    }
    let stsc = full(b"stsc", 0, 0, &stsc);

    let mut stsz = Vec::new();
    stsz.extend(0u32.to_be_bytes());
    stsz.extend((t.packets.len() as u32).to_be_bytes());
    t.packets.iter().for_each(|p| stsz.extend((p.len() as u32).to_be_bytes()));
    let stsz = full(b"stsz", 0, 0, &stsz);

    let mut stco = (chunks.len() as u32).to_be_bytes().to_vec();
    let mut offset = mdat_payload_start;
    for c in &chunks {
        stco.extend(offset.to_be_bytes());
        offset += c.iter().map(|p| p.len() as u32).sum::<u32>();
    }
    let stco = full(b"stco", 0, 0, &stco);

    let stbl = bx(b"stbl", &cat(&[&stsd, &stts, &stsc, &stsz, &stco]));
    let minf = bx(b"minf", &cat(&[&smhd, &dinf, &stbl]));
    let mdia = bx(b"mdia", &cat(&[&mdhd, &hdlr, &minf]));
    let trak = bx(b"trak", &cat(&[&tkhd, &edts, &mdia]));
    bx(b"moov", &cat(&[&mvhd, &trak]))
}

/// Muxes `t` into an M4A file: `ftyp`, `moov`, `mdat`.
pub fn mux(t: &Track<'_>) -> Vec<u8> {
    assert_eq!(t.packets.len(), t.durations.len());
    let ftyp = bx(b"ftyp", &cat(&[b"M4A ", &0x200u32.to_be_bytes(), b"M4A ", b"isom", b"iso2", b"mp41"]));
    // The moov size does not depend on the offsets in it, so size it once with a dummy base.
    let moov_len = moov(t, 0).len();
    let payload_start = (ftyp.len() + moov_len + 8) as u32;
    let moov = moov(t, payload_start);
    let data: Vec<u8> = t.packets.concat();
    let mdat = bx(b"mdat", &data);
    cat(&[&ftyp, &moov, &mdat])
}
