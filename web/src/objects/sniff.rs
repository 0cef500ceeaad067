//! Whether an uploaded input reads as audio, checked before any work is queued for it: its
//! container opens and yields a first block of samples.
//!
//! On S3 only the first [`PREFIX_BYTES`] are fetched (enough for WAV, FLAC, MP3, Ogg and most
//! MP4 files); a file whose prefix does not open (an MP4 whose index sits at its end) is fetched
//! whole before it is refused.

use std::path::{Path, PathBuf};

use audioproc_engine::{Decoder, Limits};
use audioproc_s3::direct_upload;

use super::{Backend, Objects};
use crate::tracks::Track;

/// How much of an S3 object is read to tell whether it is audio.
pub const PREFIX_BYTES: u64 = 4 << 20;

/// Why a file is not audio, for people (without server paths).
pub type NotAudio = String;

/// Whether `path` opens as audio and yields a first block.
async fn decodes(path: PathBuf) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let mut decoder = Decoder::open_path(&path, &Limits::default()).map_err(|e| e.to_string())?;
        match decoder.next_block() {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("it holds no audio".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .unwrap_or_else(|_| Err("it could not be read".to_owned()))
}

fn refusal(why: &str, shown: &Path, track: &Track) -> NotAudio {
    format!("this file is not audio we can read: {}", why.replace(&shown.display().to_string(), &track.filename))
}

impl Objects {
    /// Whether `track`'s stored input reads as audio; `Err(Ok(why))` when it does not,
    /// `Err(Err(e))` when it could not be read (a retryable failure of the store).
    ///
    /// # Errors
    /// As above.
    pub async fn sniff(
        &self,
        track: &Track,
        work_dir: &Path,
        max_bytes: u64,
    ) -> Result<(), Result<NotAudio, audioproc_s3::S3Error>> {
        match &self.backend {
            Backend::Local(store) => {
                let path = store.path(&track.input_key).map_err(Err)?;
                decodes(path.clone()).await.map_err(|why| Ok(refusal(&why, &path, track)))
            }
            Backend::S3(client) => {
                let temp = tempfile::Builder::new()
                    .prefix(".audioproc-sniff-")
                    .tempfile_in(work_dir)
                    .map_err(|e| Err(e.into()))?;
                let obj = self.input_ref(&track.input_key);
                let got = direct_upload::head_bytes(client, &obj, PREFIX_BYTES, temp.path()).await.map_err(Err)?;
                let first = decodes(temp.path().to_owned()).await;
                if first.is_ok() || got < PREFIX_BYTES {
                    return first.map_err(|why| Ok(refusal(&why, temp.path(), track)));
                }
                let whole = self.input.fetch(&track.input_key, None, "", max_bytes, work_dir).await.map_err(Err)?;
                let path = whole.path().to_owned();
                decodes(path.clone()).await.map_err(|why| Ok(refusal(&why, &path, track)))
            }
        }
    }
}
