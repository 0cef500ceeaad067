//! Load on the EC2 tier as the load balancer sees it: 100 concurrent clients for 60 s against
//! two `audioproc serve` instances behind HAProxy (status polls, lists, and now and then a new
//! track created, uploaded to S3 and completed), then the same with one instance killed at 30 s.
//! Reports p50/p99 latency, throughput, errors (there must be none: a retried 502/503 is not an
//! error, it is counted apart) and each instance's peak RSS; every track created still ends
//! `done` once.
//!
//! `AUDIOPROC_LOAD_SECONDS` shortens or lengthens each run (default 60). The figures are those of
//! the debug build the tests use: the release build is faster.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::Postgres;
use audioproc_testdata::programme_wav;
use common::lb::{Stack, Tally, assert_every_track_done_once, expect, settle, sign_up, upload};

/// Concurrent clients.
const CLIENTS: usize = 100;
/// Users they act for (several clients per user, as tabs and scripts of one person).
const USERS: usize = 10;
/// New tracks each client makes in a run, at most (processing is not what is measured here).
const TRACKS_PER_CLIENT: u64 = 2;

fn run_seconds() -> u64 {
    std::env::var("AUDIOPROC_LOAD_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60).clamp(5, 600)
}

/// What one run measured.
struct Figures {
    calls: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: Vec<String>,
    retried: u64,
    peak_rss_mib: Vec<f64>,
}

/// One client: mostly polls its user's tracks and lists them; every tenth round (at most
/// [`TRACKS_PER_CLIENT`] times) creates, uploads and completes a track.
fn client(tally: &Tally, lb: &str, cookie: &str, c: usize, stop: &AtomicBool, made: &Made) {
    let mut mine: Vec<String> = Vec::new();
    let mut round = 0u64;
    while !stop.load(Ordering::SeqCst) && round < 1_000_000 {
        round += 1;
        if round % 10 == 1 && (mine.len() as u64) < TRACKS_PER_CLIENT {
            let wav = programme_wav(1.0, (c as u64) * 100 + round);
            if let Some(id) = upload(tally, lb, cookie, &format!("client {c} round {round}.wav"), &wav) {
                mine.push(id);
            }
        } else if round.is_multiple_of(3) || mine.is_empty() {
            expect(tally, lb, "GET", "/api/v1/tracks?limit=20", cookie, None, 200);
        } else {
            let id = &mine[(round as usize) % mine.len()];
            expect(tally, lb, "GET", &format!("/api/v1/tracks/{id}"), cookie, None, 200);
        }
    }
    made.lock().unwrap().extend(mine.into_iter().map(|id| (c % USERS, id)));
}

/// The tracks the clients made: (user, track id).
type Made = std::sync::Mutex<Vec<(usize, String)>>;

/// Runs the clients for `seconds` on `stack`; `at_half` runs half-way through.
fn run(
    stack: &mut Stack,
    cookies: &[String],
    seconds: u64,
    at_half: impl FnOnce(&mut Stack),
) -> (Figures, Vec<(usize, String)>) {
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let made = std::sync::Mutex::new(Vec::new());
    let lb = stack.lb();
    let rss: Vec<AtomicU64> = stack.instances.iter().map(|_| AtomicU64::new(0)).collect();
    let started = Instant::now();
    std::thread::scope(|sc| {
        for c in 0..CLIENTS {
            let (tally, lb, stop, made, cookie) = (&tally, &lb, &stop, &made, &cookies[c % USERS]);
            sc.spawn(move || client(tally, lb, cookie, c, stop, made));
        }
        let sample = |stack: &Stack| {
            for (i, s) in stack.instances.iter().enumerate() {
                if let Some(s) = s {
                    rss[i].fetch_max(s.peak_rss(), Ordering::Relaxed);
                }
            }
        };
        let mut at_half = Some(at_half);
        while started.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_millis(250));
            sample(stack);
            if started.elapsed() >= Duration::from_secs(seconds / 2)
                && let Some(f) = at_half.take()
            {
                f(stack);
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (p50_ms, p99_ms) = tally.percentiles();
    let figures = Figures {
        calls: tally.calls.load(Ordering::Relaxed),
        seconds: elapsed,
        p50_ms,
        p99_ms,
        errors: tally.errors(),
        retried: tally.retried.load(Ordering::Relaxed),
        peak_rss_mib: rss.iter().map(|r| r.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)).collect(),
    };
    (figures, made.into_inner().unwrap())
}

fn report(what: &str, f: &Figures) {
    eprintln!(
        "{what}: {CLIENTS} clients, {:.0} s: {} calls, {:.0} calls/s, p50 {:.1} ms, p99 {:.1} ms, errors {}, \
         retried answers {}, peak RSS per instance {:?} MiB",
        f.seconds,
        f.calls,
        f.calls as f64 / f.seconds,
        f.p50_ms,
        f.p99_ms,
        f.errors.len(),
        f.retried,
        f.peak_rss_mib.iter().map(|m| (m * 10.0).round() / 10.0).collect::<Vec<_>>()
    );
}

/// Every track the clients made settles `done`, once.
fn settle_all(stack: &Stack, cookies: &[String], made: &[(usize, String)]) {
    let tally = Tally::default();
    let mut by_user: Vec<(String, Vec<String>)> = cookies.iter().map(|c| (c.clone(), Vec::new())).collect();
    for (user, id) in made {
        settle(&tally, &stack.lb(), &cookies[*user], id, Duration::from_secs(300));
        by_user[*user].1.push(id.clone());
    }
    assert_eq!(tally.errors(), Vec::<String>::new(), "{}", stack.logs());
    assert_every_track_done_once(stack, &by_user);
}

#[test]
fn a_hundred_clients_on_two_instances_then_with_one_killed_half_way() {
    let seconds = run_seconds();
    let mut stack = Stack::new("fleet-load", Postgres::shared(), 2, 1);
    let cookies: Vec<String> = (0..USERS).map(|u| sign_up(&stack.lb(), &format!("load{u}@example.org"))).collect();

    let (steady, mut made) = run(&mut stack, &cookies, seconds, |_| {});
    report("two instances", &steady);
    let (killed, more) = run(&mut stack, &cookies, seconds, |stack| stack.kill9(0));
    report("one killed half-way", &killed);
    made.extend(more);

    assert_eq!(steady.errors, Vec::<String>::new(), "errors under load\n{}", stack.logs());
    assert_eq!(killed.errors, Vec::<String>::new(), "errors under load with a kill\n{}", stack.logs());
    assert!(steady.calls > 0 && killed.calls > 0);
    settle_all(&stack, &cookies, &made);
    eprintln!("{} tracks made under load, each done once", made.len());
}
