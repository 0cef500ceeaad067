//! An in-test AWS Lambda Runtime API (version 2018-06-01) that drives the real Lambda binary.
//!
//! Start a [`RuntimeApi`], run the binary with `AWS_LAMBDA_RUNTIME_API` set to
//! [`RuntimeApi::address`] (plus `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
//! `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_LAMBDA_LOG_STREAM_NAME` and `AWS_LAMBDA_LOG_GROUP_NAME`,
//! which `lambda_runtime` requires), then [`RuntimeApi::invoke`] events and check the answers.
//!
//! Served endpoints, as Lambda serves them:
//!
//! - `GET /2018-06-01/runtime/invocation/next`: long poll; 200 with the event and the
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id` headers.
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`: 202.
//! - `POST /2018-06-01/runtime/init/error`: 202.
//!
//! Connections are kept alive (one thread each), and every answer carries `Content-Length`.

use super::{accept_loop, lock, read_request, write_response};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Deadline given to invocations by [`RuntimeApi::invoke`].
pub const DEFAULT_DEADLINE_MS: u64 = 300_000;
/// How long [`RuntimeApi::invoke`] waits for an answer before panicking.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(300);
/// The `Lambda-Runtime-Invoked-Function-Arn` sent with every invocation.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:audioproc-test";
/// The `Lambda-Runtime-Trace-Id` sent with every invocation.
pub const TRACE_ID: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

const PREFIX: &str = "/2018-06-01/runtime/";
/// How often a long-polling `/next` checks that its client is still connected.
const LIVENESS_CHECK: Duration = Duration::from_millis(200);

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The runtime posted `/response`; the body as text (JSON for ordinary handlers).
    Response(String),
    /// The runtime posted `/error`; the body as text (JSON `{"errorType", "errorMessage"}`).
    /// Also the init error, if the runtime reported one before taking the invocation.
    Error(String),
}

/// A Lambda Runtime API server on 127.0.0.1, stopped on drop.
pub struct RuntimeApi {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("RuntimeApi")
            .field("address", &self.address)
            .field("queued", &state.queue.len())
            .field("in_flight", &state.in_flight.len())
            .field("served", &state.served)
            .field("init_error", &state.init_error)
            .finish()
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stopping: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    /// Invoked, not yet taken by the runtime.
    queue: VecDeque<Invocation>,
    /// Taken by the runtime, not yet answered.
    in_flight: HashSet<String>,
    /// Answered, not yet collected by `invoke`.
    outcomes: HashMap<String, Outcome>,
    init_error: Option<String>,
    first_poll: Option<Instant>,
    served: usize,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct Invocation {
    id: String,
    event: String,
    deadline_ms_from_now: u64,
}

impl Shared {
    fn wait<'a>(&self, state: MutexGuard<'a, State>, timeout: Duration) -> MutexGuard<'a, State> {
        self.changed.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner).0
    }
}

impl RuntimeApi {
    /// Starts the server on a free 127.0.0.1 port.
    ///
    /// # Panics
    ///
    /// If no port can be bound.
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Runtime API to 127.0.0.1:0");
        let address = listener.local_addr().expect("local address of the Runtime API listener");
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("runtime-api-{}", address.port()))
                .spawn(move || {
                    let serving = Arc::clone(&shared);
                    accept_loop(&listener, &shared.stopping, "runtime-api-conn", move |stream| {
                        // A client that disconnects or misbehaves only loses its own connection.
                        let _ = serve_connection(stream, &serving);
                    });
                })
                .expect("spawn the Runtime API acceptor thread")
        };
        RuntimeApi { address, shared, acceptor: Some(acceptor) }
    }

    /// `127.0.0.1:PORT`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// The environment a `lambda_runtime` binary needs to serve this API: `AWS_LAMBDA_RUNTIME_API`
    /// plus the function name (`audioproc-test`), memory size (1024), version (`$LATEST`), log
    /// group and log stream that its `Config::from_env` requires. Pass to `Command::envs`.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "audioproc-test".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/audioproc-test".to_owned()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef".to_owned()),
        ]
    }

    /// Queues an invocation with a deadline [`DEFAULT_DEADLINE_MS`] away and waits for its answer.
    ///
    /// May be called from several threads at once: each call waits for its own request id, and
    /// the runtime takes the invocations one at a time, in the order they were queued.
    ///
    /// # Panics
    ///
    /// If no answer comes within [`INVOKE_TIMEOUT`].
    pub fn invoke(&self, event_json: &str) -> Outcome {
        self.invoke_with_deadline(event_json, DEFAULT_DEADLINE_MS)
    }

    /// [`RuntimeApi::invoke`] with the deadline `deadline_ms_from_now` milliseconds after the
    /// runtime receives the event (so a runtime's start-up time does not eat into it).
    ///
    /// # Panics
    ///
    /// If no answer comes within [`INVOKE_TIMEOUT`] (or the deadline plus 30 s, if longer).
    pub fn invoke_with_deadline(&self, event_json: &str, deadline_ms_from_now: u64) -> Outcome {
        let wait = INVOKE_TIMEOUT.max(Duration::from_millis(deadline_ms_from_now) + Duration::from_secs(30));
        self.try_invoke(event_json, deadline_ms_from_now, wait).unwrap_or_else(|| {
            panic!(
                "the Lambda runtime did not answer within {wait:?} (init error: {:?}, invocations served: {})",
                self.init_error(),
                self.invocations_served()
            )
        })
    }

    /// Queues an invocation and waits at most `wait` for its answer; `None` on timeout (the
    /// invocation is withdrawn if the runtime has not taken it yet).
    ///
    /// If the runtime reports an init error while the invocation is still queued, the
    /// invocation is withdrawn and `Some(Outcome::Error(init error body))` returned.
    pub fn try_invoke(&self, event_json: &str, deadline_ms_from_now: u64, wait: Duration) -> Option<Outcome> {
        let give_up = Instant::now() + wait;
        let mut state = lock(&self.shared.state);
        state.next_id += 1;
        let id = format!("{:08x}-{:04x}-4000-8000-{:012x}", std::process::id(), self.address.port(), state.next_id);
        state.queue.push_back(Invocation { id: id.clone(), event: event_json.to_owned(), deadline_ms_from_now });
        self.shared.changed.notify_all();
        loop {
            if let Some(outcome) = state.outcomes.remove(&id) {
                return Some(outcome);
            }
            let queued = state.queue.iter().position(|invocation| invocation.id == id);
            if let (Some(index), Some(init_error)) = (queued, state.init_error.clone()) {
                state.queue.remove(index);
                return Some(Outcome::Error(init_error));
            }
            let now = Instant::now();
            if now >= give_up {
                if let Some(index) = queued {
                    state.queue.remove(index);
                }
                return None;
            }
            state = self.shared.wait(state, give_up - now);
        }
    }

    /// The body of the runtime's `POST /runtime/init/error`, if it sent one.
    pub fn init_error(&self) -> Option<String> {
        lock(&self.shared.state).init_error.clone()
    }

    /// When a runtime first called `GET /runtime/invocation/next` (the end of its cold start),
    /// waiting at most `timeout` for it; `None` if none has by then. Recorded once per server:
    /// use a new [`RuntimeApi`] for each cold start to measure.
    pub fn wait_first_poll(&self, timeout: Duration) -> Option<Instant> {
        let give_up = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        loop {
            if state.first_poll.is_some() {
                return state.first_poll;
            }
            let now = Instant::now();
            if now >= give_up {
                return None;
            }
            state = self.shared.wait(state, give_up - now);
        }
    }

    /// How many invocations the runtime has answered (with a response or an error).
    pub fn invocations_served(&self) -> usize {
        lock(&self.shared.state).served
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        {
            let _state = lock(&self.shared.state);
            self.shared.changed.notify_all();
        }
        // Wake the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some(request) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        let path = request.target.split('?').next().unwrap_or_default();
        let route = path.strip_prefix(PREFIX).unwrap_or(path);
        match (request.method.as_str(), route, answer_of(route)) {
            ("GET", "invocation/next", _) => {
                let Some(invocation) = next_invocation(shared, &writer) else {
                    return Ok(()); // stopping, or the client went away
                };
                let deadline =
                    SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970").as_millis()
                        + u128::from(invocation.deadline_ms_from_now);
                let deadline = deadline.to_string();
                let headers = [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", invocation.id.as_str()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
                    ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                    ("Lambda-Runtime-Trace-Id", TRACE_ID),
                ];
                if let Err(error) = write_response(&mut writer, 200, &headers, invocation.event.as_bytes()) {
                    // Give it to the next runtime that polls.
                    let mut state = lock(&shared.state);
                    state.in_flight.remove(&invocation.id);
                    state.queue.push_front(invocation);
                    shared.changed.notify_all();
                    return Err(error);
                }
            }
            ("POST", "init/error", _) => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let mut state = lock(&shared.state);
                state.init_error = Some(body);
                shared.changed.notify_all();
                drop(state);
                write_response(&mut writer, 202, &[("Content-Type", "application/json")], br#"{"status":"OK"}"#)?;
            }
            ("POST", _, Some((id, ok))) => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                let outcome = if ok { Outcome::Response(body) } else { Outcome::Error(body) };
                let mut state = lock(&shared.state);
                if state.in_flight.remove(id) {
                    state.outcomes.insert(id.to_owned(), outcome);
                    state.served += 1;
                    shared.changed.notify_all();
                    drop(state);
                    write_response(&mut writer, 202, &[("Content-Type", "application/json")], br#"{"status":"OK"}"#)?;
                } else {
                    drop(state);
                    let body =
                        format!(r#"{{"errorMessage":"Invalid request ID: {id}","errorType":"InvalidRequestID"}}"#);
                    write_response(&mut writer, 400, &[("Content-Type", "application/json")], body.as_bytes())?;
                }
            }
            _ => not_found(&mut writer, &request.target)?,
        }
        if request.wants_close() {
            return Ok(());
        }
    }
}

/// `invocation/{id}/response` → `(id, true)`, `invocation/{id}/error` → `(id, false)`.
fn answer_of(route: &str) -> Option<(&str, bool)> {
    let rest = route.strip_prefix("invocation/")?;
    if let Some(id) = rest.strip_suffix("/response") {
        Some((id, true))
    } else {
        rest.strip_suffix("/error").map(|id| (id, false))
    }
    .filter(|(id, _)| !id.is_empty() && !id.contains('/'))
}

fn not_found(writer: &mut TcpStream, target: &str) -> io::Result<()> {
    let body = format!(r#"{{"errorMessage":"no such endpoint: {target}","errorType":"NotFound"}}"#);
    write_response(writer, 404, &[("Content-Type", "application/json")], body.as_bytes())
}

/// Blocks until an invocation is queued and takes it; `None` if the server stops or the
/// polling client disconnects first (so a killed runtime never swallows an invocation).
fn next_invocation(shared: &Shared, client: &TcpStream) -> Option<Invocation> {
    let mut state = lock(&shared.state);
    if state.first_poll.is_none() {
        state.first_poll = Some(Instant::now());
        shared.changed.notify_all();
    }
    loop {
        if shared.stopping.load(Ordering::SeqCst) || client_gone(client) {
            return None;
        }
        if let Some(invocation) = state.queue.pop_front() {
            state.in_flight.insert(invocation.id.clone());
            return Some(invocation);
        }
        state = shared.wait(state, LIVENESS_CHECK);
    }
}

/// Whether the peer has closed (or reset) the connection, without consuming any input.
fn client_gone(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut probe = [0u8; 1];
    let gone = match stream.peek(&mut probe) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => error.kind() != io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    gone
}
