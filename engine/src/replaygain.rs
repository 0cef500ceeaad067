//! ReplayGain 2.0 tags written into existing files in place, without touching their audio.
//!
//! The figures follow ReplayGain 2.0 (reference −18 LUFS, BS.1770 loudness): a gain is
//! `−18 − integrated loudness`, written `"%.2f dB"`; a peak is the **true peak** as a linear
//! ratio (`"%.6f"`), as loudgain writes it. Opus files get `R128_TRACK_GAIN` /
//! `R128_ALBUM_GAIN` instead (RFC 7845 §5.2.1): Q7.8 fixed-point integers of the gain to
//! −23 LUFS, on top of the header's output gain (which the decoder has already applied to the
//! audio we measured); RFC 7845 forbids REPLAYGAIN_* in Opus.
//!
//! Writing is atomic: the file is copied to a temporary file beside it, the tags are written
//! into the copy (lofty rewrites only the metadata: FLAC metadata blocks, the ID3v2 tag, the
//! Ogg comment header, the MP4 `ilst`), the copy is flushed to disk and renamed over the file.
//! A crash at any moment leaves either the old file or the new one. Tags of other kinds, and
//! fields this module does not write, are kept.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::{AudioFile, FileType};
use lofty::flac::FlacFile;
use lofty::id3::v2::Id3v2Tag;
use lofty::mp4::{Atom, AtomData, AtomIdent, Ilst, Mp4File};
use lofty::mpeg::MpegFile;
use lofty::ogg::tag::VorbisComments;
use lofty::ogg::{OpusFile, VorbisFile};

use crate::album::AlbumLoudness;
use crate::loudness::LoudnessReport;

/// The ReplayGain 2.0 reference loudness, LUFS.
pub const REFERENCE_LUFS: f64 = -18.0;
/// The reference of Opus's R128 gains (RFC 7845), LUFS.
pub const R128_REFERENCE_LUFS: f64 = -23.0;

/// Why tags could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// Reading or writing the file (or its temporary copy) failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// lofty could not parse the file.
    #[error("tags could not be read: {0}")]
    Parse(#[from] lofty::error::FileParseError),
    /// lofty could not write the tags.
    #[error("tags could not be written: {0}")]
    Encode(#[from] lofty::error::FileEncodingError),
    /// Not a file type ReplayGain tags are written into.
    #[error("cannot tag this kind of file ({kind}): FLAC, MP3, Ogg Vorbis, Opus and MP4 are supported")]
    Unsupported {
        /// What the file is.
        kind: String,
    },
}

/// The kinds of files tagged, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagFormat {
    /// FLAC: Vorbis comments.
    Flac,
    /// MP3 (and MP1/MP2): ID3v2 `TXXX` frames.
    Mpeg,
    /// Ogg Vorbis: Vorbis comments.
    Vorbis,
    /// Ogg Opus: `R128_*` Vorbis comments.
    Opus,
    /// MP4/M4A: `----:com.apple.iTunes:replaygain_*` atoms.
    Mp4,
}

impl TagFormat {
    /// The format of the file at `path`, told from its content.
    ///
    /// # Errors
    /// [`TagError::Io`] reading it, [`TagError::Unsupported`] for other kinds of files.
    pub fn of(path: &Path) -> Result<Self, TagError> {
        let kind = lofty::probe::Probe::open(path)?.guess_file_type()?.file_type();
        match kind {
            Some(FileType::Flac) => Ok(TagFormat::Flac),
            Some(FileType::Mpeg) => Ok(TagFormat::Mpeg),
            Some(FileType::Vorbis) => Ok(TagFormat::Vorbis),
            Some(FileType::Opus) => Ok(TagFormat::Opus),
            Some(FileType::Mp4) => Ok(TagFormat::Mp4),
            other => Err(TagError::Unsupported { kind: other.map_or("unknown".to_owned(), |k| format!("{k:?}")) }),
        }
    }
}

/// The loudness figures a file's tags are made from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayGain {
    /// The track's integrated loudness, LUFS.
    pub track_lufs: f64,
    /// The track's true peak, dBTP (`None`: silent).
    pub track_peak_dbtp: Option<f64>,
    /// The album's integrated loudness and true peak (`--album`).
    pub album: Option<(f64, Option<f64>)>,
}

impl ReplayGain {
    /// The figures of a track (and its album); `None` when the track has no integrated loudness.
    pub fn new(track: &LoudnessReport, album: Option<&AlbumLoudness>) -> Option<Self> {
        Some(ReplayGain {
            track_lufs: track.integrated_lufs?,
            track_peak_dbtp: track.true_peak_dbtp,
            album: album.and_then(|a| Some((a.integrated_lufs?, a.true_peak_dbtp))),
        })
    }

    /// The fields written into a file of `format`, as (name, value).
    pub fn fields(&self, format: TagFormat) -> Vec<(&'static str, String)> {
        let peak = |dbtp: Option<f64>| format!("{:.6}", dbtp.map_or(0.0, |d| 10f64.powf(d / 20.0)));
        let gain = |lufs: f64| format!("{:.2} dB", REFERENCE_LUFS - lufs);
        let q78 =
            |lufs: f64| (((R128_REFERENCE_LUFS - lufs) * 256.0).round().clamp(-32768.0, 32767.0) as i32).to_string();
        match (format, self.album) {
            (TagFormat::Opus, None) => vec![("R128_TRACK_GAIN", q78(self.track_lufs))],
            (TagFormat::Opus, Some((a, _))) => {
                vec![("R128_TRACK_GAIN", q78(self.track_lufs)), ("R128_ALBUM_GAIN", q78(a))]
            }
            (_, album) => {
                let mut f = vec![
                    ("REPLAYGAIN_TRACK_GAIN", gain(self.track_lufs)),
                    ("REPLAYGAIN_TRACK_PEAK", peak(self.track_peak_dbtp)),
                ];
                if let Some((a, tp)) = album {
                    f.push(("REPLAYGAIN_ALBUM_GAIN", gain(a)));
                    f.push(("REPLAYGAIN_ALBUM_PEAK", peak(tp)));
                }
                f
            }
        }
    }
}

/// Reads the values of `names` from the file at `path` (`None` for a missing field).
///
/// # Errors
/// As [`TagFormat::of`], or a file lofty cannot parse.
pub fn read_fields(path: &Path, format: TagFormat, names: &[&str]) -> Result<Vec<Option<String>>, TagError> {
    let mut file = File::open(path)?;
    let opts = ParseOptions::new().read_properties(false);
    let get_vc = |vc: Option<&VorbisComments>| -> Vec<Option<String>> {
        names.iter().map(|n| vc.and_then(|v| v.get(n)).map(str::to_owned)).collect()
    };
    Ok(match format {
        TagFormat::Flac => get_vc(<FlacFile as AudioFile>::read_from(&mut file, opts)?.vorbis_comments()),
        TagFormat::Vorbis => get_vc(Some(<VorbisFile as AudioFile>::read_from(&mut file, opts)?.vorbis_comments())),
        TagFormat::Opus => get_vc(Some(<OpusFile as AudioFile>::read_from(&mut file, opts)?.vorbis_comments())),
        TagFormat::Mpeg => {
            let mp3 = <MpegFile as AudioFile>::read_from(&mut file, opts)?;
            names.iter().map(|n| mp3.id3v2().and_then(|t| t.get_user_text(n)).map(str::to_owned)).collect()
        }
        TagFormat::Mp4 => {
            let mp4 = <Mp4File as AudioFile>::read_from(&mut file, opts)?;
            names
                .iter()
                .map(|n| {
                    let atom = mp4.ilst()?.get(&freeform(n))?;
                    atom.data().find_map(|d| match d {
                        AtomData::UTF8(s) | AtomData::UTF16(s) => Some(s.clone()),
                        _ => None,
                    })
                })
                .collect()
        }
    })
}

fn freeform(name: &str) -> AtomIdent<'static> {
    AtomIdent::Freeform { mean: "com.apple.iTunes".into(), name: name.to_ascii_lowercase().into() }
}

/// Writes `fields` into the file at `path` in place and atomically (a copy beside it, tagged,
/// flushed, renamed over it; through a symbolic link, the link's target). The audio is not
/// touched.
///
/// # Errors
/// [`TagError`] when the file cannot be parsed, copied or written; the file is then unchanged.
pub fn write_in_place(path: &Path, format: TagFormat, fields: &[(&str, String)]) -> Result<(), TagError> {
    let target = std::fs::canonicalize(path)?;
    let temp = TempCopy::of(&target)?;
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(&temp.0)?;
    set_fields(&mut file, format, fields)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp.0, &target)?;
    std::mem::forget(temp);
    if let Some(dir) = target.parent() {
        // Make the rename durable (best effort: some file systems refuse to sync a directory).
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn set_fields(file: &mut File, format: TagFormat, fields: &[(&str, String)]) -> Result<(), TagError> {
    let opts = ParseOptions::new().read_properties(false);
    let set_vc = |vc: &mut VorbisComments| fields.iter().for_each(|(n, v)| vc.insert((*n).to_owned(), v.clone()));
    let write = WriteOptions::default();
    match format {
        TagFormat::Flac => {
            let mut f = <FlacFile as AudioFile>::read_from(file, opts)?;
            if f.vorbis_comments().is_none() {
                f.set_vorbis_comments(VorbisComments::default());
            }
            f.vorbis_comments_mut().into_iter().for_each(set_vc);
            file.seek(SeekFrom::Start(0))?;
            f.save_to(file, write)?;
        }
        TagFormat::Vorbis => {
            let mut f = <VorbisFile as AudioFile>::read_from(file, opts)?;
            set_vc(f.vorbis_comments_mut());
            file.seek(SeekFrom::Start(0))?;
            f.save_to(file, write)?;
        }
        TagFormat::Opus => {
            let mut f = <OpusFile as AudioFile>::read_from(file, opts)?;
            set_vc(f.vorbis_comments_mut());
            file.seek(SeekFrom::Start(0))?;
            f.save_to(file, write)?;
        }
        TagFormat::Mpeg => {
            let mut f = <MpegFile as AudioFile>::read_from(file, opts)?;
            if f.id3v2().is_none() {
                f.set_id3v2(Id3v2Tag::default());
            }
            if let Some(tag) = f.id3v2_mut() {
                fields.iter().for_each(|(n, v)| {
                    tag.insert_user_text((*n).to_owned(), v.clone());
                });
            }
            file.seek(SeekFrom::Start(0))?;
            f.save_to(file, write)?;
        }
        TagFormat::Mp4 => {
            let mut f = <Mp4File as AudioFile>::read_from(file, opts)?;
            if f.ilst().is_none() {
                f.set_ilst(Ilst::new());
            }
            if let Some(ilst) = f.ilst_mut() {
                fields.iter().for_each(|(n, v)| ilst.replace_atom(Atom::new(freeform(n), AtomData::UTF8(v.clone()))));
            }
            file.seek(SeekFrom::Start(0))?;
            f.save_to(file, write)?;
        }
    }
    Ok(())
}

/// A copy of a file beside it (same directory, so the rename is atomic), removed on drop.
struct TempCopy(PathBuf);

impl TempCopy {
    fn of(target: &Path) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = target.with_file_name(format!(".{name}.audioproc-tag-{}-{n}", std::process::id()));
        let copy = TempCopy(path);
        std::fs::copy(target, &copy.0)?;
        Ok(copy)
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_are_to_minus_18_lufs_and_opus_gets_q7_8_to_minus_23() {
        let rg = ReplayGain { track_lufs: -9.5, track_peak_dbtp: Some(-1.0), album: Some((-10.0, Some(0.5))) };
        let f = rg.fields(TagFormat::Flac);
        assert_eq!(f[0], ("REPLAYGAIN_TRACK_GAIN", "-8.50 dB".to_owned()));
        assert_eq!(f[1], ("REPLAYGAIN_TRACK_PEAK", "0.891251".to_owned()));
        assert_eq!(f[2], ("REPLAYGAIN_ALBUM_GAIN", "-8.00 dB".to_owned()));
        assert_eq!(f[3], ("REPLAYGAIN_ALBUM_PEAK", "1.059254".to_owned()));
        let o = rg.fields(TagFormat::Opus);
        assert_eq!(o, vec![("R128_TRACK_GAIN", "-3456".to_owned()), ("R128_ALBUM_GAIN", "-3328".to_owned())]);
    }
}
