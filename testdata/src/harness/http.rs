//! The HTTP/1.1 plumbing under the harness's servers and clients: reading and writing requests
//! and responses (`Content-Length`, chunked and close-delimited bodies, `Expect: 100-continue`),
//! small blocking clients, and the accept loop the servers share. Std-only.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Read and write timeout of the client helpers (an 8 MiB part to a busy moto stays well inside).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest request/status or header line accepted.
const MAX_LINE: u64 = 64 * 1024;
/// Most header lines accepted in one message.
const MAX_HEADERS: usize = 200;

/// The status code, headers (in order, names as sent) and body of an HTTP response.
pub type HttpResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// Sends one HTTP/1.1 request with `Connection: close` and returns the response.
///
/// `addr` is `host:port`, optionally prefixed with `http://`. A `Host` header (`addr`) is added
/// unless `headers` has one; `Content-Length` is added unless `headers` has `Content-Length` or
/// `Transfer-Encoding` (then `body` is sent as-is, e.g. already chunked). Responses framed by
/// `Content-Length`, by chunked encoding or by closing the connection are all read whole.
///
/// # Panics
///
/// On any I/O error (connection refused, timeout after 120 s, malformed response).
pub fn http_request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    try_http_request(addr, method, path, headers, body)
        .unwrap_or_else(|error| panic!("HTTP {method} {path} to {addr} failed: {error}"))
}

/// [`http_request`] returning I/O errors instead of panicking.
///
/// # Errors
///
/// Connection, timeout and protocol errors.
pub fn try_http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    request_once(addr, method, path, headers, body, CLIENT_TIMEOUT)
}

/// One request on a fresh connection with the given timeouts.
pub(crate) fn request_once(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let host = host_port(addr);
    let stream = connect(host, timeout)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    write_client_request(&mut writer, host, method, path, headers, body, true)?;
    let response = read_response(&mut reader, method)?;
    Ok((response.status, response.headers, response.body))
}

/// A keep-alive HTTP/1.1 client connection: several requests, one after another, on one socket
/// (as hyper-based clients such as the AWS SDK and `lambda_runtime` do).
#[derive(Debug)]
pub struct HttpConnection {
    host: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl HttpConnection {
    /// Connects to `addr` (`host:port`, optionally prefixed with `http://`).
    ///
    /// # Panics
    ///
    /// If the connection cannot be made.
    pub fn connect(addr: &str) -> HttpConnection {
        let host = host_port(addr).to_owned();
        let stream = connect(&host, CLIENT_TIMEOUT).unwrap_or_else(|error| panic!("connect to {addr}: {error}"));
        let reader = BufReader::new(stream.try_clone().expect("clone a TcpStream"));
        HttpConnection { host, reader, writer: stream }
    }

    /// Sends one request on this connection (without `Connection: close`) and reads the response.
    /// Headers are filled in as by [`http_request`].
    ///
    /// # Panics
    ///
    /// On any I/O error, including the server closing the connection.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|error| panic!("HTTP {method} {path} to {} failed: {error}", self.host))
    }

    /// [`HttpConnection::request`] returning I/O errors instead of panicking.
    ///
    /// # Errors
    ///
    /// Connection, timeout and protocol errors.
    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<HttpResponse> {
        write_client_request(&mut self.writer, &self.host, method, path, headers, body, false)?;
        let response = read_response(&mut self.reader, method)?;
        Ok((response.status, response.headers, response.body))
    }
}

/// The value of the first header called `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `host:port` from `http://host:port/` or `host:port`.
pub(crate) fn host_port(addr: &str) -> &str {
    let addr = addr.strip_prefix("http://").unwrap_or(addr);
    addr.trim_end_matches('/')
}

fn connect(host: &str, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn write_client_request(
    writer: &mut TcpStream,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has("content-length") && !has("transfer-encoding") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close && !has("connection") {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    writer.write_all(&bytes)?;
    writer.flush()
}

/// The start line and headers of a request or response.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) start_line: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether a header (a comma-separated list) holds `token`, e.g. `Connection: close`.
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// The declared `Content-Length`, if any.
    pub(crate) fn content_length(&self) -> io::Result<Option<usize>> {
        self.header("content-length")
            .map(|v| v.trim().parse::<usize>().map_err(|_| invalid(format!("bad Content-Length {v:?}"))))
            .transpose()
    }

    pub(crate) fn is_chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }
}

/// A request as read by the servers here.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) head: Head,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// Whether the client wants the connection closed after this exchange.
    pub(crate) fn wants_close(&self) -> bool {
        self.head.has_token("connection", "close") || self.head.start_line.ends_with("HTTP/1.0")
    }
}

/// A response as read by the clients here.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// The response had a `Content-Length` header (kept when relaying a `HEAD` answer).
    pub(crate) had_length: bool,
}

pub(crate) fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one CRLF- (or LF-) terminated line without the terminator; `None` at end of stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() as u64 >= MAX_LINE {
            invalid("HTTP line too long")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside an HTTP line")
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads a start line and headers; `None` if the stream ends before the first byte.
pub(crate) fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let start_line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            // RFC 9112 §2.2: ignore empty lines before a request line.
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside HTTP headers"))?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(invalid("too many HTTP headers"));
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| invalid(format!("malformed HTTP header line {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(Some(Head { start_line, headers }))
}

/// Reads a chunked body (RFC 9112 §7.1), discarding trailers.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("connection closed inside a chunked body"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            // Trailer fields, then an empty line.
            while read_line(reader)?.is_some_and(|line| !line.is_empty()) {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if read_line(reader)?.is_none_or(|line| !line.is_empty()) {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// Reads one request (head and body); `None` if the client closed the connection between
/// requests. With `Expect: 100-continue`, `100 Continue` is written to `writer` before the body
/// is read.
pub(crate) fn read_request(reader: &mut impl BufRead, writer: &mut impl Write) -> io::Result<Option<Request>> {
    let Some(head) = read_head(reader)? else {
        return Ok(None);
    };
    let mut parts = head.start_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("malformed request line {:?}", head.start_line)));
    };
    let (method, target) = (method.to_owned(), target.to_owned());
    if head.has_token("expect", "100-continue") {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let body = if head.is_chunked() {
        read_chunked(reader)?
    } else if let Some(length) = head.content_length()? {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Some(Request { method, target, head, body }))
}

/// Reads one response to a `method` request, skipping interim (1xx) responses.
pub(crate) fn read_response(reader: &mut impl BufRead, method: &str) -> io::Result<Response> {
    loop {
        let head = read_head(reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before a response"))?;
        let mut parts = head.start_line.splitn(3, ' ');
        let _version = parts.next();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("malformed status line {:?}", head.start_line)))?;
        let reason = parts.next().unwrap_or_default().to_owned();
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let length = head.content_length()?;
        let no_body =
            method.eq_ignore_ascii_case("HEAD") || (100..200).contains(&status) || status == 204 || status == 304;
        let body = if no_body {
            Vec::new()
        } else if head.is_chunked() {
            read_chunked(reader)?
        } else if let Some(length) = length {
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            body
        } else {
            let mut body = Vec::new();
            reader.read_to_end(&mut body)?;
            body
        };
        return Ok(Response { status, reason, headers: head.headers, body, had_length: length.is_some() });
    }
}

/// Writes a complete response framed by `Content-Length` (keep-alive friendly).
pub(crate) fn write_response(
    writer: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    writer.write_all(&bytes)?;
    writer.flush()
}

/// The standard reason phrase of the status codes the harness uses.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test thread must not cascade into the servers).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections on `listener` until `stopping` is set (the owner then connects once to
/// wake it), serving each on its own thread named `name`.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    stopping: &AtomicBool,
    name: &str,
    serve: impl Fn(TcpStream) + Clone + Send + 'static,
) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let serve = serve.clone();
        if let Err(error) = std::thread::Builder::new().name(name.to_owned()).spawn(move || serve(stream)) {
            eprintln!("{name}: cannot spawn a connection thread: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded_and_trailers_skipped() {
        let raw = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let mut reader = BufReader::new(&raw[..]);
        assert_eq!(read_chunked(&mut reader).expect("valid chunked body"), b"Wikipedia");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).expect("read the rest");
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn head_responses_have_no_body_even_with_a_length() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
        let response = read_response(&mut BufReader::new(&raw[..]), "HEAD").expect("valid response");
        assert_eq!((response.status, response.body.len(), response.had_length), (200, 0, true));
    }

    #[test]
    fn requests_with_expect_continue_get_an_interim_answer() {
        let raw = b"\r\nPUT /b/k?partNumber=2 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
        let mut written = Vec::new();
        let request =
            read_request(&mut BufReader::new(&raw[..]), &mut written).expect("valid request").expect("one request");
        assert_eq!((request.method.as_str(), request.target.as_str()), ("PUT", "/b/k?partNumber=2"));
        assert_eq!(request.body, b"abc");
        assert_eq!(written, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
