//! The worker's health endpoints, for load balancers, Auto Scaling health checks and people:
//! a minimal HTTP/1.1 server (one request per connection).
//!
//! - `GET /healthz`: `200 ok` while the process runs.
//! - `GET /readyz`: `200 ready` when a check no older than [`READY_TTL`] found the output
//!   bucket (S3 `HeadBucket`) and the queue (SQS `GetQueueAttributes`) reachable with the
//!   worker's credentials; `503` with the reason otherwise, and while the worker is stopping.
//!   Checks are cached, so probes cost at most one pair of requests per [`READY_TTL`]
//!   ([`FAILED_TTL`] after a failure).

use std::sync::Arc;
use std::time::{Duration, Instant};

use audioproc_s3::queue::{self, SqsClient};
use audioproc_s3::{S3Client, S3Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tracing::warn;

use super::Stage;

/// How long a successful check is trusted.
pub const READY_TTL: Duration = Duration::from_secs(30);
/// How long a failed check is trusted (shorter: recover quickly).
pub const FAILED_TTL: Duration = Duration::from_secs(5);
/// A check taking longer than this fails.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// A client must send its request head within this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The readiness check and its cached result.
#[derive(Debug)]
pub struct Readiness {
    s3: S3Client,
    sqs: SqsClient,
    bucket: String,
    queue: String,
    stage: watch::Receiver<Stage>,
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Readiness {
    /// Checks `bucket` with `s3` and `queue` with `sqs`; not ready once `stage` leaves
    /// [`Stage::Running`].
    pub fn new(s3: S3Client, sqs: SqsClient, bucket: String, queue: String, stage: watch::Receiver<Stage>) -> Self {
        Readiness { s3, sqs, bucket, queue, stage, last: Mutex::new(None) }
    }

    /// `Ok` when ready, else why not.
    pub async fn check(&self) -> Result<(), String> {
        if *self.stage.borrow() != Stage::Running {
            return Err("the worker is stopping".to_owned());
        }
        // One check at a time; concurrent probes wait for it and share its result.
        let mut last = self.last.lock().await;
        if let Some((at, result)) = &*last {
            let ttl = if result.is_ok() { READY_TTL } else { FAILED_TTL };
            if at.elapsed() <= ttl {
                return result.clone();
            }
        }
        let result = tokio::time::timeout(CHECK_TIMEOUT, self.probe())
            .await
            .unwrap_or_else(|_| Err(format!("the check took longer than {} s", CHECK_TIMEOUT.as_secs())));
        if let Err(why) = &result {
            warn!(reason = %why, "not ready");
        }
        *last = Some((Instant::now(), result.clone()));
        result
    }

    async fn probe(&self) -> Result<(), String> {
        let (bucket, queue) = tokio::join!(
            self.s3.head_bucket().bucket(&self.bucket).send(),
            queue::approximate_backlog(&self.sqs, &self.queue),
        );
        let mut problems = Vec::new();
        if let Err(e) = bucket {
            problems.push(S3Error::from_sdk(&format!("S3 HeadBucket {}", self.bucket), &e).to_string());
        }
        if let Err(e) = queue {
            problems.push(format!("SQS {e}"));
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
    }
}

/// Answers connections on `listener` until the process ends.
pub async fn serve(listener: TcpListener, readiness: Arc<Readiness>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let readiness = Arc::clone(&readiness);
                tokio::spawn(async move {
                    let _ = answer(stream, &readiness).await;
                });
            }
            Err(e) => {
                warn!(error = %e, "health endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request head and answers it; the connection is then closed.
async fn answer(mut stream: TcpStream, readiness: &Readiness) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD_BYTES {
        let n = match tokio::time::timeout(REQUEST_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default();
    let path = request_line.next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/healthz") => (200, "ok\n".to_owned()),
        ("GET" | "HEAD", "/readyz") => match readiness.check().await {
            Ok(()) => (200, "ready\n".to_owned()),
            Err(why) => (503, format!("not ready: {why}\n")),
        },
        (_, "/healthz" | "/readyz") => (405, "method not allowed\n".to_owned()),
        _ => (404, "not found (try /healthz or /readyz)\n".to_owned()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
