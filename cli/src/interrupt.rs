//! SIGINT, SIGTERM and SIGHUP for the one-off commands (`process`, `audioproc FILE...`): the
//! jobs in progress are aborted (the engine stops within a block, temporary files and
//! downloads are removed, multipart uploads aborted), and the command exits with 128 + the
//! signal's number (130, 143, 129). `batch` and `worker` have their own, gentler shutdown.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use audioproc_s3::Cancel;

struct State {
    cancel: Cancel,
    signal: AtomicI32,
}

static STATE: OnceLock<State> = OnceLock::new();

fn state() -> &'static State {
    STATE.get_or_init(|| State { cancel: Cancel::new(), signal: AtomicI32::new(0) })
}

/// Starts watching the signals (once per process; later calls do nothing). A second signal
/// ends the process at once.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("signals".into()).spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(watch());
        });
        if let Err(e) = spawned {
            eprintln!("audioproc: cannot watch for signals: {e}");
        }
    });
}

async fn watch() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        eprintln!("audioproc: cannot watch for signals");
        return;
    };
    loop {
        let number = tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
            _ = hup.recv() => 1,
        };
        let st = state();
        if st.signal.swap(number, Ordering::SeqCst) != 0 {
            std::process::exit(128 + number);
        }
        eprintln!("audioproc: interrupted: stopping and removing temporary files");
        st.cancel.abort();
    }
}

/// The token every job of the command shares.
pub fn cancel() -> Cancel {
    state().cancel.clone()
}

/// `128 + signal` once a signal arrived.
pub fn exit_code() -> Option<u8> {
    let n = STATE.get()?.signal.load(Ordering::SeqCst);
    u8::try_from(128 + n).ok().filter(|_| n != 0)
}
