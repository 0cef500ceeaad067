//! `batch --album`: before the pipeline starts, the inputs under a local SRC are grouped into
//! albums (`--album-by dir|tag`) and measured (pass 1, on `--jobs` threads); each input's job
//! then gets its album's level in its spec. The spec (with the album's gain) is what an
//! output's report records, so a rerun skips an album whose tracks have not changed and redoes
//! every track of an album that gained or lost one.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use audioproc_engine::{AlbumLevel, ProcessingSpec};

use super::listing::{self, Item};
use super::roots::{Filter, Root};
use crate::album::{self, AlbumBy};

/// The album level of every input key under `dir` that belongs to a measurable album.
///
/// # Errors
/// A listing failure, or the worker threads not starting.
pub fn measure(
    dir: &Path,
    filter: &Filter,
    by: AlbumBy,
    spec: &ProcessingSpec,
    jobs: usize,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<HashMap<String, AlbumLevel>> {
    let keys = Mutex::new(Vec::new());
    listing::list(&Root::Local(dir.to_owned()), filter, None, runtime, &|item: Item| {
        if item.refused.is_none() {
            keys.lock().unwrap_or_else(|e| e.into_inner()).push(item.key);
        }
        true
    })?;
    let keys = keys.into_inner().unwrap_or_else(|e| e.into_inner());
    let keyed = keys.into_iter().map(|k| (album::album_key(&dir.join(&k), &k, by), k)).collect();
    let (albums, _alone) = album::group(keyed);
    let pool = crate::thread_pool(Some(jobs))?;
    let mut levels = HashMap::new();
    for keys in albums {
        let tracks: Vec<_> = keys.iter().map(|k| (dir.join(k), spec.clone())).collect();
        let measured = pool.install(|| album::measure(&tracks));
        let found = album::album(&measured, spec);
        let name = keys.first().map_or("", |k| k.rsplit_once('/').map_or(".", |(d, _)| d));
        eprintln!("audioproc: {}", album::summary(name, &found));
        if let Some(level) = found.level {
            levels.extend(keys.into_iter().map(|k| (k, level)));
        }
    }
    Ok(levels)
}
