//! An HTTP proxy between a client (the AWS SDK, with the proxy as its endpoint) and an upstream
//! server (moto) that answers chosen requests with errors instead of forwarding them.
//!
//! Each request is read whole (a `Content-Length` or chunked body; `Expect: 100-continue` is
//! answered). If a [`FaultRule`] matches and has failures left, the client gets the rule's
//! status and an S3-style XML error; otherwise the request goes upstream on a new connection
//! with `Connection: close` (the `Host` header and the body bytes unchanged, so signatures
//! still hold), and the answer is relayed framed by `Content-Length`, so the client's keep-alive
//! connection carries on.

use super::{
    Request, Response, accept_loop, host_port, lock, read_request, read_response, reason_phrase, write_response,
};
use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Timeout for each read and write on the upstream connection.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// Headers that describe one connection rather than the message (RFC 9110 §7.6.1), plus
/// `Expect` (answered by the proxy) and the framing headers (set by the proxy).
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "te", "upgrade", "expect", "transfer-encoding", "content-length"];

/// Which requests to fail, how, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// HTTP method to match (`PUT`, `GET`, ...; case-insensitive).
    pub method: String,
    /// Text that the request's path and query must contain, e.g. `partNumber=2`
    /// (empty matches every request of that method).
    pub query_contains: String,
    /// Status to answer with, e.g. 500 or 503.
    pub status: u16,
    /// How many matching requests still fail; then they pass through.
    pub times: usize,
}

impl FaultRule {
    /// A rule failing the next `times` `method` requests whose path and query contain
    /// `query_contains` with `status`.
    pub fn new(method: &str, query_contains: &str, status: u16, times: usize) -> FaultRule {
        FaultRule { method: method.to_owned(), query_contains: query_contains.to_owned(), status, times }
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.times > 0 && self.method.eq_ignore_ascii_case(method) && target.contains(&self.query_contains)
    }
}

/// A fault-injecting HTTP proxy on 127.0.0.1, stopped on drop.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("FaultProxy")
            .field("address", &self.address)
            .field("upstream", &self.shared.upstream)
            .field("rules", &state.rules)
            .field("injected", &state.injected)
            .field("requests", &state.requests.len())
            .finish()
    }
}

#[derive(Debug)]
struct Shared {
    /// `host:port` of the upstream server.
    upstream: String,
    state: Mutex<State>,
    stopping: AtomicBool,
}

#[derive(Debug)]
struct State {
    rules: Vec<FaultRule>,
    injected: usize,
    requests: Vec<String>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream` (`http://host:port`).
    /// Rules are tried in order; the first matching rule with failures left applies.
    ///
    /// # Panics
    ///
    /// If no port can be bound.
    pub fn start(upstream: &str, rules: Vec<FaultRule>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy to 127.0.0.1:0");
        let address = listener.local_addr().expect("local address of the fault proxy listener");
        let shared = Arc::new(Shared {
            upstream: host_port(upstream).to_owned(),
            state: Mutex::new(State { rules, injected: 0, requests: Vec::new() }),
            stopping: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("fault-proxy-{}", address.port()))
                .spawn(move || {
                    let serving = Arc::clone(&shared);
                    accept_loop(&listener, &shared.stopping, "fault-proxy-conn", move |stream| {
                        // A client that disconnects or misbehaves only loses its own connection.
                        let _ = serve_connection(stream, &serving);
                    });
                })
                .expect("spawn the fault proxy acceptor thread")
        };
        FaultProxy { address, shared, acceptor: Some(acceptor) }
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many failures have been injected so far.
    pub fn injected(&self) -> usize {
        lock(&self.shared.state).injected
    }

    /// `METHOD path?query` of every request received, in order (injected failures included).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.state).requests.clone()
    }

    /// Adds a rule after the existing ones.
    pub fn add_rule(&self, rule: FaultRule) {
        lock(&self.shared.state).rules.push(rule);
    }

    /// The rules with the failures each has left.
    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.shared.state).rules.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one keep-alive client connection until the client closes it.
fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some(request) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let injected_status = {
            let mut state = lock(&shared.state);
            state.requests.push(format!("{} {}", request.method, request.target));
            let rule = state.rules.iter_mut().find(|rule| rule.matches(&request.method, &request.target));
            let status = rule.map(|rule| {
                rule.times -= 1;
                rule.status
            });
            if status.is_some() {
                state.injected += 1;
            }
            status
        };
        match injected_status {
            Some(status) => write_injected(&mut writer, status)?,
            None => match forward(&shared.upstream, &request) {
                Ok(response) => relay(&mut writer, &request, &response)?,
                Err(error) => {
                    let body = format!("fault proxy: upstream {} failed: {error}", shared.upstream);
                    write_response(&mut writer, 502, &[("Content-Type", "text/plain")], body.as_bytes())?;
                }
            },
        }
        if request.wants_close() {
            return Ok(());
        }
    }
}

/// Answers with an S3-style error document: `SlowDown` for 503, `InternalError` otherwise.
fn write_injected(writer: &mut TcpStream, status: u16) -> io::Result<()> {
    let code = if status == 503 { "SlowDown" } else { "InternalError" };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected</Message>\
         <RequestId>fault-proxy</RequestId></Error>"
    );
    let headers = [("Content-Type", "application/xml"), ("x-amz-request-id", "fault-proxy")];
    write_response(writer, status, &headers, body.as_bytes())
}

fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Sends `request` upstream on a new connection and reads the whole answer.
fn forward(upstream: &str, request: &Request) -> io::Result<Response> {
    let stream = TcpStream::connect(upstream)?;
    stream.set_read_timeout(Some(UPSTREAM_TIMEOUT))?;
    stream.set_write_timeout(Some(UPSTREAM_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;

    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in request.head.headers.iter().filter(|(name, _)| !is_hop_by_hop(name)) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    // A chunked body was de-chunked on reading: forward it with its length.
    if request.head.content_length()?.is_some() || request.head.is_chunked() || !request.body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&request.body)?;
    writer.flush()?;
    read_response(&mut reader, &request.method)
}

/// Relays an upstream answer to the client framed by `Content-Length`, without the upstream's
/// connection headers, so the client's connection stays open.
fn relay(writer: &mut TcpStream, request: &Request, response: &Response) -> io::Result<()> {
    let no_body = request.method.eq_ignore_ascii_case("HEAD") || response.status == 204 || response.status == 304;
    let reason = if response.reason.is_empty() { reason_phrase(response.status) } else { &response.reason };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        // A HEAD answer's Content-Length describes the object: keep it.
        let keep_length = no_body && response.had_length && name.eq_ignore_ascii_case("content-length");
        if keep_length || !is_hop_by_hop(name) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !no_body {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}
