//! Where tracks' files live, and their keys: `<input prefix><user>/<track>/<safe name>` for
//! the input and `<output prefix><user>/<track>/<stem>.<ext>` for the output (and its `.json`
//! report sidecar).
//!
//! Two backends behind the same [`ObjectStore`] trait the job uses, so the job cannot tell the
//! difference:
//! - the embedded mode keeps both in a directory (`--data DIR/objects`, prefixes `incoming/` and
//!   `processed/`); clients upload to and download from signed URLs of the app itself;
//! - the fleet mode keeps them in S3 (`--bucket s3://B/incoming/`, `--output s3://B/processed/`);
//!   clients upload to and download from presigned S3 URLs, and the bytes never pass through
//!   the app.

pub mod names;
pub mod sniff;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audioproc_s3::location::REPORT_SUFFIX;
use audioproc_s3::sidecar::MAX_SIDECAR_BYTES;
use audioproc_s3::store::{LocalStore, S3Store};
use audioproc_s3::{ObjectRef, ObjectStore, S3Client, S3Error, S3Url, direct_upload};
use tokio::sync::Mutex;

pub use names::{output_name, safe_name};

use crate::tracks::Track;

/// How long a successful readiness check of S3 is trusted (the load balancer asks several times
/// a second).
const READY_CACHE: Duration = Duration::from_secs(2);

/// The stores behind the tracks' files.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A local directory (the embedded mode).
    Local(Arc<LocalStore>),
    /// S3 (the fleet mode), with the client that signs URLs and calls S3.
    S3(S3Client),
}

/// The tracks' files: where inputs are uploaded and outputs written.
#[derive(Debug, Clone)]
pub struct Objects {
    input: Arc<dyn ObjectStore>,
    output: Arc<dyn ObjectStore>,
    input_prefix: String,
    output_prefix: String,
    /// The output key mirrors the whole input key under the output prefix, as the Lambda
    /// function and `audioproc worker` write it (`--process external`).
    mirror: bool,
    backend: Backend,
    ready_at: Arc<Mutex<Option<Instant>>>,
}

/// `prefix` as a folder: empty, or ending in `/`.
fn folder(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") }
}

impl Objects {
    /// The directory `root`: inputs under `incoming/`, outputs under `processed/`.
    pub fn local(root: impl Into<std::path::PathBuf>) -> Self {
        let store = Arc::new(LocalStore::new(root));
        Objects {
            input: Arc::clone(&store) as Arc<dyn ObjectStore>,
            output: Arc::clone(&store) as Arc<dyn ObjectStore>,
            input_prefix: "incoming/".to_owned(),
            output_prefix: "processed/".to_owned(),
            mirror: false,
            backend: Backend::Local(store),
            ready_at: Arc::default(),
        }
    }

    /// Inputs under `input`, outputs under `output` (`s3://bucket/prefix/`). With `mirror`,
    /// output keys are where the Lambda function and `audioproc worker` write them: the output
    /// prefix + the whole input key with the format's extension (`processed/incoming/u/t/a.flac`).
    ///
    /// # Errors
    /// The two overlap (in one bucket, one prefix holds the other): outputs would land where
    /// uploads are expected, and the S3 trigger of the input prefix would fire on them.
    pub fn s3(client: S3Client, input: &S3Url, output: &S3Url, mirror: bool) -> Result<Self, String> {
        let (input_prefix, output_prefix) = (folder(&input.key), folder(&output.key));
        if input.bucket == output.bucket
            && (input_prefix.starts_with(&output_prefix) || output_prefix.starts_with(&input_prefix))
        {
            return Err(format!(
                "--bucket s3://{}/{input_prefix} and --output s3://{}/{output_prefix} overlap: give them separate \
                 prefixes (or buckets)",
                input.bucket, output.bucket
            ));
        }
        Ok(Objects {
            input: Arc::new(S3Store::new(client.clone(), &input.bucket)),
            output: Arc::new(S3Store::new(client.clone(), &output.bucket)),
            input_prefix,
            output_prefix,
            mirror,
            backend: Backend::S3(client),
            ready_at: Arc::default(),
        })
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Where inputs are uploaded.
    pub fn input_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.input)
    }

    /// Where outputs are written.
    pub fn output_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.output)
    }

    /// The input key of a track.
    pub fn input_key(&self, user: &str, track: &str, filename: &str) -> String {
        format!("{}{user}/{track}/{}", self.input_prefix, safe_name(filename))
    }

    /// The output key of a track.
    pub fn output_key(&self, user: &str, track: &str, filename: &str, extension: &str) -> String {
        let mirrored = if self.mirror { self.input_prefix.as_str() } else { "" };
        format!("{}{mirrored}{user}/{track}/{}", self.output_prefix, output_name(filename, extension))
    }

    /// The key of the error report an external processor writes for a track's input that failed
    /// (`None` unless outputs are mirrored).
    pub fn error_report_key(&self, track: &Track) -> Option<String> {
        self.mirror.then(|| audioproc_s3::location::error_key(&self.output_prefix, &track.input_key))
    }

    /// The user and track an object of the output store belongs to (an output, its report or
    /// its error report), from its key; `None` for anything else.
    pub fn track_of_output(&self, bucket: &str, key: &str) -> Option<(String, String)> {
        if bucket != self.output.bucket() {
            return None;
        }
        let mut rest = key.strip_prefix(&self.output_prefix)?;
        if self.mirror {
            rest = rest.strip_prefix(&self.input_prefix)?;
        }
        let mut parts = rest.splitn(3, '/');
        let (user, track, name) = (parts.next()?, parts.next()?, parts.next()?);
        (!user.is_empty() && !track.is_empty() && !name.is_empty() && !name.contains('/'))
            .then(|| (user.to_owned(), track.to_owned()))
    }

    /// The input `key` as an S3 object.
    pub fn input_ref(&self, key: &str) -> ObjectRef {
        ObjectRef::new(self.input.bucket(), key)
    }

    /// The output `key` as an S3 object.
    pub fn output_ref(&self, key: &str) -> ObjectRef {
        ObjectRef::new(self.output.bucket(), key)
    }

    /// The key of the report sidecar of the output `output_key`.
    pub fn report_key(output_key: &str) -> String {
        format!("{output_key}{REPORT_SUFFIX}")
    }

    /// The report sidecar of the output `output_key`, if it is there.
    ///
    /// # Errors
    /// As the store's reads.
    pub async fn report(&self, output_key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        self.output.get_bytes(&Self::report_key(output_key), MAX_SIDECAR_BYTES).await
    }

    /// Removes a track's input (and its multipart upload in progress), output and report
    /// (what is there of them).
    pub async fn remove_track(&self, track: &Track) {
        if let (Backend::S3(client), Some(upload_id)) = (&self.backend, &track.upload_id)
            && let Err(e) = direct_upload::abort(client, &self.input_ref(&track.input_key), upload_id).await
        {
            tracing::warn!(track = %track.id, error = %e, "could not abort the upload (the lifecycle rule will)");
        }
        self.input.delete_quietly(&track.input_key).await;
        self.output.delete_quietly(&track.output_key).await;
        self.output.delete_quietly(&Self::report_key(&track.output_key)).await;
        if let Some(key) = self.error_report_key(track) {
            self.output.delete_quietly(&key).await;
        }
        if let Backend::Local(store) = &self.backend {
            // The now-empty per-track directories.
            for key in [&track.input_key, &track.output_key] {
                if let Some(dir) = Path::new(key).parent() {
                    let _ = std::fs::remove_dir(store.root().join(dir));
                }
            }
        }
    }

    /// Whether the stores answer: the directory is there, or both buckets can be reached.
    pub async fn ready(&self) -> bool {
        match &self.backend {
            Backend::Local(store) => tokio::fs::metadata(store.root()).await.is_ok_and(|m| m.is_dir()),
            Backend::S3(_) => {
                let mut at = self.ready_at.lock().await;
                if at.is_some_and(|t| t.elapsed() < READY_CACHE) {
                    return true;
                }
                let ok = self.input.check_destination().await.is_ok() && self.output.check_destination().await.is_ok();
                *at = ok.then(Instant::now);
                ok
            }
        }
    }

    /// Gets a local store ready at start: its directory made, and what a killed server left
    /// staged there removed. Nothing to do on S3 (its lifecycle rule aborts stale uploads).
    ///
    /// # Errors
    /// The directory cannot be made.
    pub fn prepare(&self) -> std::io::Result<()> {
        if let Backend::Local(store) = &self.backend {
            std::fs::create_dir_all(store.root())?;
            audioproc_s3::work_dir::sweep_stale(store.root(), audioproc_s3::store::local::STAGING_PREFIX);
        }
        Ok(())
    }

    /// `message` with the stores' names for a track's files replaced by names its owner knows.
    pub fn for_people(&self, track: &Track, message: &str) -> String {
        let mut shown = message
            .replace(&self.input.display(&track.input_key), &track.filename)
            .replace(&self.output.display(&track.output_key), "the output");
        if let Backend::Local(store) = &self.backend {
            shown = shown.replace(&store.root().display().to_string(), "");
        }
        shown
    }

    /// The origin (`http://host:port`) of a custom S3 endpoint the page must be allowed to send
    /// uploads to and play from (AWS's own are `https:`, which the page allows already).
    pub fn extra_origin(&self) -> Option<String> {
        if !matches!(self.backend, Backend::S3(_)) {
            return None;
        }
        let endpoint = audioproc_s3::client::custom_endpoint()?;
        let (scheme, rest) = endpoint.split_once("://")?;
        let host = rest.split('/').next()?;
        let safe = host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        (safe && matches!(scheme, "http" | "https")).then(|| format!("{scheme}://{host}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> S3Url {
        S3Url::parse(s).unwrap().unwrap()
    }

    fn client() -> S3Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::v2026_01_12())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        S3Client::from_conf(config)
    }

    #[test]
    fn keys_sit_under_the_prefixes_and_overlapping_prefixes_are_refused() {
        let o = Objects::s3(client(), &url("s3://media/uploads"), &url("s3://media/results/"), false).unwrap();
        assert_eq!(o.input_key("u", "t", "../a b.wav"), "uploads/u/t/_a b.wav");
        assert_eq!(o.output_key("u", "t", "../a b.wav", "flac"), "results/u/t/_a b.flac");
        assert_eq!(o.track_of_output("media", "results/u/t/a.flac.json"), Some(("u".into(), "t".into())));
        assert_eq!(o.track_of_output("other", "results/u/t/a.flac.json"), None);
        assert_eq!(o.track_of_output("media", "results/u/t/x/a.flac"), None);
        assert_eq!(o.track_of_output("media", "uploads/u/t/a.wav"), None);
        for (input, output) in [("s3://media/", "s3://media/processed/"), ("s3://media/in/", "s3://media/in/out/")] {
            assert!(Objects::s3(client(), &url(input), &url(output), false).is_err(), "{input} {output}");
        }
        assert!(Objects::s3(client(), &url("s3://media/in/"), &url("s3://media/in"), false).is_err());
        assert!(Objects::s3(client(), &url("s3://in-bucket"), &url("s3://out-bucket"), false).is_ok());
        // As the Lambda function writes them: the whole input key under the output prefix.
        let m = Objects::s3(client(), &url("s3://media/incoming/"), &url("s3://media/processed/"), true).unwrap();
        let input = m.input_key("u", "t", "a.b.wav");
        let lambda = audioproc_s3::output_key("processed/", &input, audioproc_engine::OutputFormat::Mp3).unwrap();
        assert_eq!(m.output_key("u", "t", "a.b.wav", "mp3"), lambda);
        assert_eq!(m.track_of_output("media", &format!("{lambda}.json")), Some(("u".into(), "t".into())));
        assert_eq!(
            m.track_of_output("media", "processed/incoming/u/t/a.b.wav.error.json"),
            Some(("u".into(), "t".into()))
        );
        let local = Objects::local("/tmp/x");
        assert_eq!(local.input_key("u", "t", "a.wav"), "incoming/u/t/a.wav");
        assert_eq!(local.output_key("u", "t", "a.wav", "mp3"), "processed/u/t/a.mp3");
    }
}
