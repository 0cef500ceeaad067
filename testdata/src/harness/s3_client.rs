//! A blocking S3 client for test code: the AWS SDK pointed at the local moto server (or a proxy
//! in front of it), with the calls tests make to set up inputs and inspect outputs.
//!
//! It is independent of the code under test (`audioproc-s3`): uploads, listings and key
//! decoding are done here with the SDK alone, so a bug there can't hide itself in the checks.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, EncodingType};

use super::aws_env::{REGION, TEST_CREDENTIAL};

/// Part size of [`S3::put_file`]'s multipart uploads (and the size above which it uses one).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// A bucket name unique to this test process and `tag`: `<tag>-<pid>` (tests sharing one moto
/// server must not share buckets).
pub fn bucket(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// A blocking S3 client for test code (moto accepts any credentials). Every call panics on
/// failure, except the lookups that answer `None` for a missing object.
#[derive(Debug)]
pub struct S3 {
    /// The runtime the SDK calls are blocked on.
    pub rt: tokio::runtime::Runtime,
    /// The SDK client, path-style, checksums only where required (as moto wants).
    pub client: aws_sdk_s3::Client,
}

impl S3 {
    /// A client for the S3 at `endpoint` (e.g. [`super::MotoServer::endpoint`]).
    ///
    /// # Panics
    ///
    /// If the tokio runtime can't be built.
    pub fn new(endpoint: &str) -> S3 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the S3 test client");
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(TEST_CREDENTIAL, TEST_CREDENTIAL, None, None, "tests"))
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        S3 { rt, client: aws_sdk_s3::Client::from_conf(config) }
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        self.rt
            .block_on(self.client.create_bucket().bucket(bucket).send())
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }

    /// Writes `body` to `s3://bucket/key` in one `PutObject`.
    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.rt
            .block_on(self.client.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send())
            .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
    }

    /// Uploads a file as `audio/wav`, in 8 MiB parts above 8 MiB, reading one part at a time.
    pub fn put_file(&self, bucket: &str, key: &str, path: &Path) {
        let mut file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let size = file.metadata().map_or(0, |m| m.len());
        if size <= PART_BYTES as u64 {
            let mut body = Vec::new();
            file.read_to_end(&mut body).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let put = self.client.put_object().bucket(bucket).key(key).content_type("audio/wav");
            self.rt
                .block_on(put.body(ByteStream::from(body)).send())
                .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
            return;
        }
        let create = self.client.create_multipart_upload().bucket(bucket).key(key).content_type("audio/wav");
        let upload = self.rt.block_on(create.send()).unwrap_or_else(|e| panic!("create multipart upload: {e:?}"));
        let upload_id = upload.upload_id().expect("CreateMultipartUpload answers an upload id").to_owned();
        let mut parts = Vec::new();
        for number in 1.. {
            let mut part = Vec::with_capacity(PART_BYTES);
            (&mut file)
                .take(PART_BYTES as u64)
                .read_to_end(&mut part)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            if part.is_empty() {
                break;
            }
            let request = self.client.upload_part().bucket(bucket).key(key).upload_id(&upload_id).part_number(number);
            let done = self
                .rt
                .block_on(request.body(ByteStream::from(part)).send())
                .unwrap_or_else(|e| panic!("upload part {number} of s3://{bucket}/{key}: {e:?}"));
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(done.e_tag().map(str::to_owned)).build());
        }
        let completed = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
        let complete = self.client.complete_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id);
        self.rt
            .block_on(complete.multipart_upload(completed).send())
            .unwrap_or_else(|e| panic!("complete the upload of s3://{bucket}/{key}: {e:?}"));
    }

    /// The bytes of `s3://bucket/key`, `None` if it can't be read (missing, or no such bucket).
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let out = self.rt.block_on(self.client.get_object().bucket(bucket).key(key).send()).ok()?;
        let body = self.rt.block_on(out.body.collect()).unwrap_or_else(|e| panic!("read s3://{bucket}/{key}: {e}"));
        Some(body.into_bytes().to_vec())
    }

    /// Downloads to a file in `dir` named after the key's file name.
    ///
    /// # Panics
    ///
    /// If the object is missing.
    pub fn get_to(&self, bucket: &str, key: &str, dir: &Path) -> PathBuf {
        let bytes = self.get(bucket, key).unwrap_or_else(|| panic!("s3://{bucket}/{key} is missing"));
        let name = key.rsplit('/').next().unwrap_or(key);
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The object's metadata, `None` if it is missing.
    pub fn head(&self, bucket: &str, key: &str) -> Option<HeadObjectOutput> {
        self.rt.block_on(self.client.head_object().bucket(bucket).key(key).send()).ok()
    }

    /// Every key in `bucket` (every page of the listing), sorted. Listed URL-encoded and
    /// decoded here, so keys with control characters survive the XML.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        // At most 1000 pages of 1000 keys: far more than any test writes.
        for _ in 0..1000 {
            let list = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .encoding_type(EncodingType::Url)
                .set_continuation_token(token.take());
            let out = self.rt.block_on(list.send()).unwrap_or_else(|e| panic!("list s3://{bucket}: {e:?}"));
            keys.extend(out.contents().iter().filter_map(|o| decode_listed_key(o.key()?)));
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        keys
    }

    /// How many multipart uploads of `bucket` are open (neither completed nor aborted).
    pub fn multipart_uploads(&self, bucket: &str) -> usize {
        let out = self
            .rt
            .block_on(self.client.list_multipart_uploads().bucket(bucket).send())
            .unwrap_or_else(|e| panic!("list multipart uploads of {bucket}: {e:?}"));
        out.uploads().len()
    }
}

/// A key of a URL-encoded listing: `+` for spaces, percent-encoding for the rest; `None` if it
/// is not UTF-8 once decoded.
fn decode_listed_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|k| k.into_owned())
}

#[cfg(test)]
mod tests {
    use super::decode_listed_key;

    #[test]
    fn listed_keys_are_decoded_like_event_keys() {
        assert_eq!(decode_listed_key("in/with+space%2Bplus%01.wav").as_deref(), Some("in/with space+plus\u{1}.wav"));
        assert_eq!(decode_listed_key("caf%C3%A9").as_deref(), Some("caf\u{e9}"));
        assert_eq!(decode_listed_key("bad%FF"), None);
    }
}
