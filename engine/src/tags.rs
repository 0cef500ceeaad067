//! Metadata: carry title/artist/album/track/date/genre and cover art from the input file to the
//! output file, and optionally write loudness tags (ReplayGain 2.0, or `R128_TRACK_GAIN` for Opus) that
//! describe the output. Built on the `lofty` crate, which reads and writes every tag format we
//! meet (ID3v2, RIFF INFO, Vorbis comments, MP4 ilst, APE).

use std::path::Path;

use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::TaggedFileExt;
use lofty::ogg::tag::VorbisComments;
use lofty::probe::Probe;
use lofty::tag::{ItemKey, ItemValue, Tag, TagExt, TagItem, TagType};

use crate::encode::OutputFormat;

/// The fields carried from input to output.
const CARRIED: [ItemKey; 11] = [
    ItemKey::TrackTitle,
    ItemKey::TrackArtist,
    ItemKey::AlbumTitle,
    ItemKey::AlbumArtist,
    ItemKey::TrackNumber,
    ItemKey::TrackTotal,
    ItemKey::DiscNumber,
    ItemKey::DiscTotal,
    ItemKey::RecordingDate,
    ItemKey::Year,
    ItemKey::Genre,
];

/// Metadata read from an input: text fields and pictures, format-neutral.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    items: Vec<(ItemKey, String)>,
    pictures: Vec<lofty::picture::Picture>,
}

impl Metadata {
    /// Reads the carried fields (every value of each) and pictures from `path`, merging all its
    /// tags (the primary tag wins). A file without tags, or one `lofty` cannot parse, gives empty metadata.
    ///
    /// # Errors
    /// A message when the file has tags that cannot be read (the caller reports it as a note).
    pub fn read(path: &Path) -> std::result::Result<Self, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("tags could not be read: {e}"))?;
        Self::read_file(&file)
    }

    /// As [`Metadata::read`], from an open file (read through a handle of its own, from the
    /// start; `file`'s position is neither used nor moved).
    ///
    /// # Errors
    /// As [`Metadata::read`].
    pub fn read_file(file: &std::fs::File) -> std::result::Result<Self, String> {
        let options = ParseOptions::new().read_properties(false);
        let source = crate::decode::FileSource::new(file).map_err(|e| format!("tags could not be read: {e}"))?;
        let tagged = match Probe::new(std::io::BufReader::new(source)).options(options).guess_file_type() {
            Ok(probe) if probe.file_type().is_none() => return Ok(Metadata::default()),
            Ok(probe) => probe.read().map_err(|e| format!("tags could not be read: {e}"))?,
            Err(e) => return Err(format!("tags could not be read: {e}")),
        };
        let mut tags: Vec<&Tag> = Vec::new();
        if let Some(primary) = tagged.primary_tag() {
            tags.push(primary);
        }
        tags.extend(tagged.tags().iter().filter(|t| Some(t.tag_type()) != tagged.primary_tag().map(Tag::tag_type)));
        let mut meta = Metadata::default();
        for key in CARRIED {
            // Every value of the first tag that has the field (two ARTIST comments stay two).
            if let Some(tag) = tags.iter().find(|t| t.get_string(key).is_some()) {
                for value in tag.get_strings(key) {
                    let value = value.trim_end_matches('\0').trim();
                    if !value.is_empty() {
                        meta.items.push((key, value.to_owned()));
                    }
                }
            }
        }
        if let Some(t) = tags.iter().find(|t| !t.pictures().is_empty()) {
            meta.pictures = t.pictures().to_vec();
        }
        Ok(meta)
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.pictures.is_empty()
    }

    /// Sets a carried field (names as for [`Metadata::get`]); `false` for an unknown name.
    pub fn set(&mut self, field: &str, value: &str) -> bool {
        let Some(key) = key_of(field) else {
            return false;
        };
        self.items.retain(|(k, _)| *k != key);
        self.items.push((key, value.to_owned()));
        true
    }

    /// Adds a front-cover picture (`mime` e.g. `"image/png"`).
    pub fn add_cover(&mut self, mime: &str, data: Vec<u8>) {
        use lofty::picture::{MimeType, Picture, PictureType};
        self.pictures.push(
            Picture::unchecked(data).pic_type(PictureType::CoverFront).mime_type(MimeType::from_str(mime)).build(),
        );
    }

    /// The value of a carried field (for tests and reports): `"title"`, `"artist"`, `"album"`,
    /// `"album_artist"`, `"track"`, `"track_total"`, `"disc"`, `"disc_total"`, `"date"`,
    /// `"year"`, `"genre"`.
    pub fn get(&self, field: &str) -> Option<&str> {
        let key = key_of(field)?;
        self.items.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of a carried field, in order (names as for [`Metadata::get`]): a field
    /// may have several, e.g. two artists.
    pub fn get_all(&self, field: &str) -> Vec<&str> {
        let key = key_of(field);
        self.items.iter().filter(|(k, _)| Some(*k) == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Number of pictures (cover art).
    pub fn picture_count(&self) -> usize {
        self.pictures.len()
    }

    /// Bytes of the first picture, if any.
    pub fn first_picture(&self) -> Option<&[u8]> {
        self.pictures.first().map(lofty::picture::Picture::data)
    }
}

fn key_of(field: &str) -> Option<ItemKey> {
    Some(match field {
        "title" => ItemKey::TrackTitle,
        "artist" => ItemKey::TrackArtist,
        "album" => ItemKey::AlbumTitle,
        "album_artist" => ItemKey::AlbumArtist,
        "track" => ItemKey::TrackNumber,
        "track_total" => ItemKey::TrackTotal,
        "disc" => ItemKey::DiscNumber,
        "disc_total" => ItemKey::DiscTotal,
        "date" => ItemKey::RecordingDate,
        "year" => ItemKey::Year,
        "genre" => ItemKey::Genre,
        _ => return None,
    })
}

/// Loudness tags describing an output file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoudnessTags {
    /// The output's integrated loudness, LUFS.
    pub integrated_lufs: f64,
    /// The output's true peak, dBTP.
    pub true_peak_dbtp: f64,
}

/// Writes `meta` (and `loudness`, if given) into the file at `path`, which holds `format`.
/// WAV gets ID3v2 (which carries cover art) and RIFF INFO; FLAC and Opus Vorbis comments
/// (with pictures); MP3 ID3v2.
///
/// # Errors
/// A message when the tag cannot be written (the caller reports it as a note).
pub fn write(
    path: &Path,
    format: OutputFormat,
    meta: &Metadata,
    loudness: Option<LoudnessTags>,
) -> std::result::Result<(), String> {
    if meta.is_empty() && loudness.is_none() {
        return Ok(());
    }
    let tag_types: &[TagType] = match format {
        OutputFormat::Wav => &[TagType::Id3v2, TagType::RiffInfo],
        OutputFormat::Flac | OutputFormat::Opus => &[TagType::VorbisComments],
        OutputFormat::Mp3 => &[TagType::Id3v2],
    };
    for &tag_type in tag_types {
        let mut tag = Tag::new(tag_type);
        for (key, value) in &meta.items {
            // `push`, not `insert`: every value of a multi-valued field is kept.
            tag.push(TagItem::new(*key, ItemValue::Text(value.clone())));
        }
        if tag_type != TagType::RiffInfo {
            for p in &meta.pictures {
                tag.push_picture(p.clone());
            }
        }
        if let Some(l) = loudness
            && tag_type != TagType::RiffInfo
        {
            if format == OutputFormat::Opus {
                // RFC 7845: Opus players read R128_TRACK_GAIN (Q7.8 dB relative to −23 LUFS).
                let mut comments = VorbisComments::from(tag);
                let q78 = ((-23.0 - l.integrated_lufs) * 256.0).round().clamp(-32768.0, 32767.0) as i32;
                comments.insert(String::from("R128_TRACK_GAIN"), q78.to_string());
                save(&comments, path)?;
                continue;
            }
            add_replaygain(&mut tag, l);
        }
        if !tag.is_empty() {
            save(&tag, path)?;
        }
    }
    Ok(())
}

fn save<T: TagExt>(tag: &T, path: &Path) -> std::result::Result<(), String> {
    tag.save_to_path(path, WriteOptions::default()).map_err(|e| format!("tags could not be written: {e}"))
}

/// ReplayGain 2.0: gain to a −18 LUFS reference, peak as a linear true-peak value.
fn add_replaygain(tag: &mut Tag, l: LoudnessTags) {
    let gain = -18.0 - l.integrated_lufs;
    let peak = 10f64.powf(l.true_peak_dbtp / 20.0);
    tag.insert_text(ItemKey::ReplayGainTrackGain, format!("{gain:.2} dB"));
    tag.insert_text(ItemKey::ReplayGainTrackPeak, format!("{peak:.6}"));
}
