//! An S3 bucket as an [`ObjectStore`], through the transfers of [`crate::object`].

use std::path::Path;

use super::{BoxFuture, Cancel, Clobber, Fetched, ObjectInfo, ObjectStore, PutOptions};
use crate::client::S3Client;
use crate::error::S3Error;
use crate::location::ObjectRef;
use crate::object;

/// One bucket of an S3 (or S3-compatible) service.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: S3Client,
    bucket: String,
}

impl S3Store {
    /// The bucket `bucket`, reached through `client`.
    pub fn new(client: S3Client, bucket: impl Into<String>) -> Self {
        S3Store { client, bucket: bucket.into() }
    }

    /// The client.
    pub fn client(&self) -> &S3Client {
        &self.client
    }

    fn object(&self, key: &str, version: Option<&str>) -> ObjectRef {
        ObjectRef { bucket: self.bucket.clone(), key: key.to_owned(), version_id: version.map(str::to_owned) }
    }
}

impl ObjectStore for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn check_destination<'a>(&'a self) -> BoxFuture<'a, Result<(), S3Error>> {
        Box::pin(async move {
            match self.client.head_bucket().bucket(&self.bucket).send().await {
                Ok(_) => Ok(()),
                Err(e) if S3Error::status(&e) == Some(404) => {
                    Err(S3Error::permanent(format!("s3://{}: no such bucket", self.bucket)))
                }
                Err(e) => Err(S3Error::from_sdk(&format!("checking the bucket s3://{}", self.bucket), &e)),
            }
        })
    }

    fn display(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn head<'a>(
        &'a self,
        key: &'a str,
        version: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<ObjectInfo>, S3Error>> {
        Box::pin(async move { object::head(&self.client, &self.object(key, version)).await })
    }

    fn fetch<'a>(
        &'a self,
        key: &'a str,
        version: Option<&'a str>,
        expect: &'a str,
        max_bytes: u64,
        work_dir: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, S3Error>> {
        Box::pin(async move {
            let obj = self.object(key, version);
            let if_match = (!expect.is_empty()).then_some(expect);
            object::download(&self.client, &obj, if_match, max_bytes, work_dir).await.map(Fetched::downloaded)
        })
    }

    fn stage(&self, _key: &str, suffix: &str, work_dir: &Path) -> Result<tempfile::TempPath, S3Error> {
        Ok(tempfile::Builder::new().prefix(".audioproc-out-").suffix(suffix).tempfile_in(work_dir)?.into_temp_path())
    }

    fn publish<'a>(
        &'a self,
        file: tempfile::TempPath,
        key: &'a str,
        options: &'a PutOptions,
        _clobber: Clobber,
        cancel: &'a Cancel,
    ) -> BoxFuture<'a, Result<(), S3Error>> {
        Box::pin(async move {
            let dest = self.object(key, None);
            let cancelled = || cancel.is_aborted();
            object::upload_file_cancellable(&self.client, &file, &dest, options, &cancelled).await.map(|_| ())
        })
    }

    fn put_bytes<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), S3Error>> {
        Box::pin(async move { object::put_bytes(&self.client, &self.object(key, None), body, content_type).await })
    }

    fn get_bytes<'a>(&'a self, key: &'a str, max_bytes: u64) -> BoxFuture<'a, Result<Option<Vec<u8>>, S3Error>> {
        Box::pin(async move { object::get_bytes(&self.client, &self.object(key, None), max_bytes).await })
    }

    fn delete_quietly<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move { object::delete_quietly(&self.client, &self.object(key, None)).await })
    }
}
