//! Files and folders on the command line (`analyze`, `tag`, `audioproc FILE...`): a file is
//! taken as given; a directory is walked in name order, keeping the files that read as audio
//! (by their content, not their name: the container must open), leaving out hidden files and
//! directories and whatever `--include`/`--exclude` (globs on the path under the directory, as
//! in `batch`) leave out. Symbolic links are followed, but a directory already visited is not
//! entered again, so a link loop ends. Under `--album`, each directory is one album, and the
//! files given by name are one album together.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use audioproc_engine::{Decoder, Limits};

use crate::batch::roots::Filter;

/// `--include` / `--exclude` of the commands that walk directories.
#[derive(Debug, Clone, clap::Args)]
pub struct WalkArgs {
    /// In directories, only files whose path under the directory matches this glob (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// In directories, leave out files whose path under the directory matches this glob.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

impl WalkArgs {
    /// The filter these globs make.
    ///
    /// # Errors
    /// A glob that does not parse.
    pub fn filter(&self) -> anyhow::Result<Filter> {
        Filter::new(&self.include, &self.exclude, None)
    }
}

/// One input found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its path.
    pub path: PathBuf,
    /// Its album under `--album`: the directory it was found in, or empty for a file given by
    /// name.
    pub album: PathBuf,
}

/// Expands `args` into inputs (in order), and the directories that could not be read.
pub fn expand(args: &[PathBuf], filter: &Filter) -> (Vec<Found>, Vec<(PathBuf, String)>) {
    let (mut found, mut failed) = (Vec::new(), Vec::new());
    let mut visited = HashSet::new();
    for arg in args {
        match std::fs::metadata(arg) {
            Ok(m) if m.is_dir() => walk(arg, filter, &mut visited, &mut found, &mut failed),
            _ => found.push(Found { path: arg.clone(), album: PathBuf::new() }),
        }
    }
    (found, failed)
}

/// Whether the file at `path` opens as audio.
pub fn is_audio(path: &Path) -> bool {
    Decoder::open_path(path, &Limits::default()).is_ok()
}

fn walk(
    root: &Path,
    filter: &Filter,
    visited: &mut HashSet<(u64, u64)>,
    found: &mut Vec<Found>,
    failed: &mut Vec<(PathBuf, String)>,
) {
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        if !visited.insert((meta.dev(), meta.ino())) {
            continue; // a link back to a directory already walked
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                failed.push((dir.clone(), e.to_string()));
                continue;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.file_name()).collect();
        entries.sort();
        let mut subdirs = Vec::new();
        for name in entries {
            if name.as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            let path = dir.join(&name);
            let child = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => subdirs.push((path, child)),
                Ok(m) if m.is_file() && filter.accepts(&child) && is_audio(&path) => {
                    found.push(Found { path, album: dir.clone() });
                }
                _ => {}
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_walked_by_content_skipping_hidden_files_and_link_loops() {
        let dir = tempfile::tempdir().unwrap();
        let sig = audioproc_testdata::signal::sine(8_000, 1, 440.0, 0.5, 0.5, 0.0);
        let wav =
            audioproc_testdata::writers::wav(&sig, audioproc_testdata::writers::Encoding::Pcm16, Default::default());
        for f in ["b/2.audio", "b/1.wav", "a.mp3", ".hidden/x.wav", "b/.y.wav", "c/skip.wav"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &wav).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"not audio").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("b/loop")).unwrap();
        let filter = Filter::new(&[], &["c/**".to_owned()], None).unwrap();
        let (found, failed) = expand(&[dir.path().to_owned()], &filter);
        let names: Vec<_> = found.iter().map(|f| f.path.strip_prefix(dir.path()).unwrap().to_owned()).collect();
        assert_eq!(names, [PathBuf::from("a.mp3"), "b/1.wav".into(), "b/2.audio".into()]);
        assert_eq!(found[1].album, dir.path().join("b"));
        assert!(failed.is_empty(), "{failed:?}");
    }
}
