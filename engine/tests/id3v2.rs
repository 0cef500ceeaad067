//! MP3s with big leading ID3v2 tags (a large embedded cover): the decoder skips the tags by their
//! declared size, so a tag of 1 MiB or more no longer hides the audio from symphonia's probe
//! (which gives up after 1 MiB); a tag claiming more than the file is a clean error.

use std::io::Cursor;
use std::path::PathBuf;

use audioproc_engine::decode::MAX_LEADING_TAG_BYTES;
use audioproc_engine::{Decoder, Error, Limits, OutputFormat, Overwrite, Preset, ProcessingSpec, process_file};

fn fixture_mp3() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/fixtures/programme.mp3");
    std::fs::read(path).expect("fixture")
}

fn syncsafe(n: usize) -> [u8; 4] {
    assert!(n < 1 << 28);
    [(n >> 21) as u8 & 0x7f, (n >> 14) as u8 & 0x7f, (n >> 7) as u8 & 0x7f, n as u8 & 0x7f]
}

/// Deterministic bytes, a PNG signature first.
fn picture(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }))
        .take(len)
        .collect()
}

/// An ID3v2.`version` tag with one frame (`id`, `body`); v2.4 with a footer when asked.
fn tag(version: u8, id: &[u8; 4], body: &[u8], footer: bool) -> Vec<u8> {
    let mut frame = id.to_vec();
    match version {
        3 => frame.extend((body.len() as u32).to_be_bytes()),
        _ => frame.extend(syncsafe(body.len())),
    }
    frame.extend([0, 0]);
    frame.extend_from_slice(body);
    let flags = if footer { 0x10 } else { 0 };
    let mut t = [b'I', b'D', b'3', version, 0, flags].to_vec();
    t.extend(syncsafe(frame.len()));
    t.extend(&frame);
    if footer {
        t.extend([b'3', b'D', b'I', version, 0, flags]);
        t.extend(syncsafe(frame.len()));
    }
    t
}

/// A front cover of `len` bytes as an APIC frame body.
fn apic(len: usize) -> Vec<u8> {
    let mut body = b"\0image/png\0\x03\0".to_vec();
    body.extend(picture(len));
    body
}

fn decode(bytes: Vec<u8>) -> audioproc_engine::Result<Vec<Vec<f32>>> {
    let mut d = Decoder::open(Cursor::new(bytes), &Limits::default())?;
    let mut planes = vec![Vec::new(); d.info().channels()];
    while let Some(block) = d.next_block()? {
        for (p, b) in planes.iter_mut().zip(block) {
            p.extend_from_slice(b);
        }
    }
    Ok(planes)
}

#[test]
fn an_mp3_with_an_id3v2_tag_of_2_mib_decodes_to_the_same_frames() {
    let mp3 = fixture_mp3();
    let plain = decode(mp3.clone()).expect("the fixture decodes");
    let two_mib = 2 << 20;
    let cases: [(&str, Vec<u8>); 4] = [
        ("v2.3 PRIV", tag(3, b"PRIV", &[b"audioproc\0".as_slice(), &picture(two_mib)].concat(), false)),
        ("v2.4 APIC", tag(4, b"APIC", &apic(two_mib), false)),
        ("v2.4 APIC with footer", tag(4, b"APIC", &apic(two_mib), true)),
        ("two tags", [tag(3, b"TIT2", b"\0small", false), tag(4, b"APIC", &apic(two_mib), false)].concat()),
    ];
    for (what, prefix) in cases {
        assert!(prefix.len() > two_mib, "{what}");
        let tagged = [prefix, mp3.clone()].concat();
        let planes = decode(tagged).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(planes.len(), plain.len(), "{what}");
        assert!(planes == plain, "{what}: the same frames as without the tag");
    }
}

#[test]
fn an_mp3_with_a_2_mib_cover_is_processed_and_keeps_its_cover() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("big-cover.mp3");
    std::fs::write(&input, [tag(4, b"APIC", &apic(2 << 20), false), fixture_mp3()].concat()).expect("write");
    let output = dir.path().join("out.flac");
    let r =
        process_file(&input, &output, &ProcessingSpec::new(Preset::Ebu, OutputFormat::Flac), Overwrite::Never, &|_| {})
            .expect("processed");
    assert_eq!(r.output.frames, 264_600);
    let meta = audioproc_engine::tags::Metadata::read(&output).expect("tags");
    assert_eq!(meta.first_picture().map(<[u8]>::len), Some(2 << 20), "{:?}", r.notes);
}

#[test]
fn an_id3v2_tag_claiming_more_than_the_file_is_a_clean_error() {
    let mut bytes = [b'I', b'D', b'3', 4, 0, 0].to_vec();
    bytes.extend(syncsafe(50 << 20));
    bytes.extend(fixture_mp3());
    let err = decode(bytes).expect_err("the tag would end past the file");
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("ID3v2") && err.to_string().contains("past the end of the file"), "{err}");
}

#[test]
fn leading_id3v2_tags_over_the_cap_are_refused() {
    // A sparse 70 MiB file whose tag claims 65 MiB: past the 64 MiB cap.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("huge-tag.mp3");
    let mut head = [b'I', b'D', b'3', 4, 0, 0].to_vec();
    head.extend(syncsafe(65 << 20));
    std::fs::write(&path, &head).expect("write");
    std::fs::OpenOptions::new().write(true).open(&path).expect("open").set_len(70 << 20).expect("sparse");
    let err = Decoder::open_path(&path, &Limits::default()).expect_err("over the cap");
    assert!(
        matches!(err, Error::LimitExceeded { what: "leading ID3v2 tag bytes", limit, .. } if limit == MAX_LEADING_TAG_BYTES),
        "{err:?}"
    );
}
