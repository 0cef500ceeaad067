//! A fleet-mode setup for the `audioproc serve` end-to-end tests: a bucket on the shared moto
//! server, a database on the shared PostgreSQL server, instances started against both.

use audioproc_testdata::harness::{MotoServer, Postgres, S3, bucket, header};

use super::client::request;
use super::server::Server;

/// A bucket on moto and a database on the shared PostgreSQL server for one test.
pub struct Fleet {
    pub s3: S3,
    pub bucket: String,
    pub database: String,
}

impl Fleet {
    pub fn new(tag: &str) -> Fleet {
        let s3 = S3::new(&MotoServer::shared().endpoint());
        let bucket = bucket(tag);
        s3.create_bucket(&bucket);
        Fleet { s3, bucket, database: Postgres::shared().create_database(tag) }
    }

    /// An instance; `extra` flags after the fleet's own.
    pub fn instance(&self, extra: &[&str]) -> Server {
        self.instance_with(extra, &[])
    }

    /// An instance with more environment variables.
    pub fn instance_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let (input, output) = (format!("s3://{}/incoming/", self.bucket), format!("s3://{}/processed/", self.bucket));
        let mut args = vec!["--bucket", &input, "--output", &output];
        args.extend_from_slice(extra);
        Server::start_fleet(&self.database, &MotoServer::shared().endpoint(), &args, env)
    }

    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.s3.keys(&self.bucket).into_iter().filter(|k| k.starts_with(prefix)).collect()
    }
}

/// The value of the query parameter `name` of `url` (as it is written in the URL).
pub fn query<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Follows a download/play redirect to S3: the response's headers and body.
pub fn fetch_output(s: &Server, cookie: &str, id: &str, what: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let (status, headers, _) = s.call("GET", &format!("/api/v1/tracks/{id}/{what}"), &[("cookie", cookie)], None);
    assert_eq!(status, 302);
    let location = header(&headers, "location").unwrap().to_owned();
    assert!(location.starts_with(&MotoServer::shared().endpoint()), "a presigned S3 URL: {location}");
    assert!(query(&location, "X-Amz-Signature").is_some() && query(&location, "X-Amz-Expires").is_some());
    let (status, headers, bytes) = request(s, "GET", &location, &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    (headers, bytes)
}
