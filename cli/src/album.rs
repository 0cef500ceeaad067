//! Album mode (`--album`) for the front ends: pass 1 measures every track of an album (in
//! parallel, each as its job will encode it), the engine merges them into the album's loudness
//! ([`AlbumLoudness::of`]: gating over the union of the tracks' blocks), and every track's spec
//! gets the album's level; the tracks are then processed by the one job as usual, each with the
//! same gain, so their loudness relative to each other is kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use audioproc_engine::tags::Metadata;
use audioproc_engine::{
    AlbumLevel, AlbumLoudness, Overwrite, ProcessOptions, ProcessingSpec, Threads, TrackLoudness, measure_for_album,
};
use rayon::prelude::*;

/// How `batch --album` groups its inputs into albums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AlbumBy {
    /// The files of one directory are one album.
    #[default]
    Dir,
    /// Files with the same `album` and `albumartist` tags are one album (anywhere under SRC);
    /// a file without an album tag is processed on its own (track mode).
    Tag,
}

/// The album key of the file `path` (shown as `rel`, `/`-separated): its directory, or its
/// album and album-artist tags; `None` when `by` is [`AlbumBy::Tag`] and it has no album tag.
pub fn album_key(path: &Path, rel: &str, by: AlbumBy) -> Option<String> {
    match by {
        AlbumBy::Dir => Some(rel.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned()),
        AlbumBy::Tag => {
            let meta = Metadata::read(path).ok()?;
            let album = meta.get("album")?.to_owned();
            let artist = meta.get("album_artist").unwrap_or("");
            Some(format!("{artist}\u{0}{album}"))
        }
    }
}

/// One album's tracks measured together.
#[derive(Debug)]
pub struct Album {
    /// The album's figures.
    pub loudness: AlbumLoudness,
    /// What each track's spec gets (`None`: nothing measurable; the tracks go in track mode).
    pub level: Option<AlbumLevel>,
}

/// Pass 1 of album mode: measures every `(file, spec)` on the current rayon pool, one thread
/// per track; a track that fails to measure gives its message (it is left out of the album).
pub fn measure(tracks: &[(PathBuf, ProcessingSpec)]) -> Vec<Result<TrackLoudness, String>> {
    let cancel = crate::interrupt::cancel();
    tracks
        .par_iter()
        .map(|(path, spec)| {
            let options = ProcessOptions {
                overwrite: Overwrite::Never,
                threads: Threads::Single,
                progress: &|_| {},
                cancel: Some(cancel.abort_flag()),
            };
            measure_for_album(path, spec, &options).map_err(|e| format!("measuring for the album: {e}"))
        })
        .collect()
}

/// The album of the tracks measured by [`measure`] under `spec` (its target, ceiling and mode).
pub fn album(measured: &[Result<TrackLoudness, String>], spec: &ProcessingSpec) -> Album {
    let loudness = AlbumLoudness::of(measured.iter().filter_map(|m| m.as_ref().ok()));
    Album { level: loudness.level(spec), loudness }
}

/// Groups `items` (any value with an album key) by key, keeping their first-seen order.
pub fn group<T>(items: Vec<(Option<String>, T)>) -> (Vec<Vec<T>>, Vec<T>) {
    let mut albums: BTreeMap<String, (usize, Vec<T>)> = BTreeMap::new();
    let mut alone = Vec::new();
    for (i, (key, item)) in items.into_iter().enumerate() {
        match key {
            Some(k) => albums.entry(k).or_insert_with(|| (i, Vec::new())).1.push(item),
            None => alone.push(item),
        }
    }
    let mut albums: Vec<_> = albums.into_values().collect();
    albums.sort_by_key(|(first, _)| *first);
    (albums.into_iter().map(|(_, v)| v).collect(), alone)
}

/// One line on an album for people.
pub fn summary(name: &str, album: &Album) -> String {
    let l = &album.loudness;
    let figure = |v: Option<f64>, unit: &str| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} {unit}"));
    format!(
        "album {name}: {} tracks, {}, true peak {}; {}",
        l.tracks,
        figure(l.integrated_lufs, "LUFS"),
        figure(l.true_peak_dbtp, "dBTP"),
        album.level.map_or_else(
            || "no measurable loudness: its tracks are processed one by one".to_owned(),
            |a| format!("gain {:+.2} dB for every track", a.gain_db)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_albums_and_groups_keep_the_listing_order() {
        assert_eq!(album_key(Path::new("x"), "a/b/c.flac", AlbumBy::Dir).as_deref(), Some("a/b"));
        assert_eq!(album_key(Path::new("x"), "c.flac", AlbumBy::Dir).as_deref(), Some(""));
        let (albums, alone) =
            group(vec![(Some("b".to_owned()), 1), (None, 2), (Some("a".to_owned()), 3), (Some("b".to_owned()), 4)]);
        assert_eq!(albums, vec![vec![1, 4], vec![3]]);
        assert_eq!(alone, vec![2]);
    }
}
