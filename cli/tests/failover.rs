//! No single point of failure, as the load balancer sees it, on one machine: two `audioproc
//! serve` instances in the fleet mode (`--process local`, one PostgreSQL, one moto bucket) behind
//! HAProxy, and users working through it with the REST API. Instances are killed (`SIGKILL`),
//! frozen (`SIGSTOP`), restarted in turn (`SIGTERM`), and PostgreSQL is restarted under them;
//! every track still ends `done` exactly once, at its target, and no user sees an error they
//! cannot retry.
//!
//! The tests run one at a time (they measure what users see; two at once on two cores would
//! only measure each other). Every loop is bounded; everything listens on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use audioproc_testdata::harness::{MotoServer, Postgres};
use audioproc_testdata::programme_wav;
use common::lb::{Stack, Tally, assert_every_track_done_once, expect, settle, sign_up, try_psql, upload};
use common::server::Server;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long any one track may take to settle.
const SETTLE: Duration = Duration::from_secs(180);

/// `users` users, signed up through the load balancer.
fn users(stack: &Stack, tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|u| sign_up(&stack.lb(), &format!("{tag}{u}@example.org"))).collect()
}

/// Each user uploads `tracks` tracks of `seconds` s and waits for them, in a thread of their
/// own, while `chaos` runs on this thread; what each user ended with.
fn run_users(
    stack: &mut Stack,
    cookies: &[String],
    tracks: usize,
    seconds: f64,
    tally: &Tally,
    chaos: impl FnOnce(&mut Stack),
) -> Vec<(String, Vec<String>)> {
    let lb = stack.lb();
    std::thread::scope(|sc| {
        let users: Vec<_> = cookies
            .iter()
            .enumerate()
            .map(|(u, cookie)| {
                let lb = &lb;
                sc.spawn(move || {
                    let ids: Vec<String> = (0..tracks)
                        .filter_map(|k| {
                            let wav = programme_wav(seconds, (u * 100 + k) as u64);
                            upload(tally, lb, cookie, &format!("user {u} track {k}.wav"), &wav)
                        })
                        .collect();
                    for id in &ids {
                        settle(tally, lb, cookie, id, SETTLE);
                    }
                    (cookie.clone(), ids)
                })
            })
            .collect();
        chaos(stack);
        users.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Waits (at most 60 s) until one of the instances `among` holds a processing lease; which
/// one, and the tracks it holds.
fn holding_a_lease(stack: &Stack, among: &[usize]) -> (usize, Vec<String>) {
    let started = Instant::now();
    loop {
        let leases = stack.leases();
        for &i in among {
            let pid = stack.instance(i).pid();
            let held: Vec<String> = leases.iter().filter(|(_, p)| *p == pid).map(|(id, _)| id.clone()).collect();
            if !held.is_empty() {
                return (i, held);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{among:?} never held a lease\n{}", stack.logs());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn attempts(stack: &Stack, id: &str) -> i64 {
    stack.sql(&format!("SELECT attempts FROM tracks WHERE id = '{id}'")).parse().unwrap()
}

#[test]
fn an_instance_killed_mid_run_holding_a_lease_loses_no_track_and_shows_no_user_an_error() {
    let _one = one_at_a_time();
    let mut stack = Stack::new("failover-kill", Postgres::shared(), 2, 1);
    let cookies = users(&stack, "kill", 20);
    let tally = Tally::default();
    let mut held = Vec::new();
    let results = run_users(&mut stack, &cookies, 2, 4.0, &tally, |stack| {
        // Whichever instance is caught holding a lease is the one killed.
        let (holder, ids) = holding_a_lease(stack, &[0, 1]);
        held = ids;
        stack.kill9(holder);
    });
    assert_eq!(tally.errors(), Vec::<String>::new(), "errors users saw\n{}", stack.logs());
    assert_every_track_done_once(&stack, &results);
    for id in &held {
        // Claimed by the dead instance, then by the living one when the lease ran out.
        assert!(attempts(&stack, id) >= 2, "{id} was taken over");
    }
    eprintln!(
        "kill -9 mid-run: {} tracks done once; {} held by the killed instance, taken over after the lease; \
         {} calls, {} retried answers",
        results.iter().map(|(_, ids)| ids.len()).sum::<usize>(),
        held.len(),
        tally.calls.load(Ordering::Relaxed),
        tally.retried.load(Ordering::Relaxed)
    );
}

#[test]
fn a_frozen_instance_is_routed_around_and_its_track_finished_once_by_another() {
    let _one = one_at_a_time();
    let mut stack = Stack::new("failover-stop", Postgres::shared(), 2, 1);
    let cookies = users(&stack, "stop", 20);
    let tally = Tally::default();
    let (mut held, mut holder) = (Vec::new(), 0);
    let results = run_users(&mut stack, &cookies, 2, 4.0, &tally, |stack| {
        (holder, held) = holding_a_lease(stack, &[0, 1]);
        stack.instance(holder).signal("STOP");
    });
    assert_eq!(tally.errors(), Vec::<String>::new(), "errors users saw\n{}", stack.logs());
    let reports: Vec<String> =
        held.iter().map(|id| stack.sql(&format!("SELECT report FROM tracks WHERE id = '{id}'"))).collect();
    // Thawed, the instance finishes the job it was doing, finds its lease gone, and changes
    // nothing: the track stays as the other instance left it.
    stack.instance(holder).signal("CONT");
    let started = Instant::now();
    while !stack.instance(holder).log().contains("lost the lease") {
        assert!(started.elapsed() < Duration::from_secs(60), "the thawed job never ended\n{}", stack.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    for (id, report) in held.iter().zip(&reports) {
        assert!(attempts(&stack, id) >= 2, "{id} was taken over");
        assert_eq!(&stack.sql(&format!("SELECT report FROM tracks WHERE id = '{id}'")), report, "{id} unchanged");
    }
    assert_every_track_done_once(&stack, &results);
    stack.proxy.wait_up(2);
}

#[test]
fn a_rolling_restart_under_load_fails_no_request() {
    let _one = one_at_a_time();
    let mut stack = Stack::new("failover-rolling", Postgres::shared(), 2, 1);
    let cookies = users(&stack, "rolling", 10);
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let lb = stack.lb();
    let results = std::thread::scope(|sc| {
        let clients: Vec<_> = cookies
            .iter()
            .enumerate()
            .map(|(u, cookie)| {
                let (lb, tally, stop) = (&lb, &tally, &stop);
                sc.spawn(move || {
                    let mut ids = Vec::new();
                    // At most 40 rounds: the restarts take well under that.
                    for k in 0..40 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let wav = programme_wav(3.0, (u * 100 + k) as u64);
                        if let Some(id) = upload(tally, lb, cookie, &format!("round {k}.wav"), &wav) {
                            settle(tally, lb, cookie, &id, SETTLE);
                            ids.push(id);
                        }
                        expect(tally, lb, "GET", "/api/v1/tracks", cookie, None, 200);
                    }
                    (cookie.clone(), ids)
                })
            })
            .collect();
        for i in 0..stack.instances.len() {
            std::thread::sleep(Duration::from_secs(2));
            let mut old = stack.instances[i].take().unwrap();
            let took = old.terminate(Duration::from_secs(45));
            eprintln!("instance {i} drained and stopped in {took:?}");
            stack.instances[i] = Some(stack.start(i));
            stack.proxy.wait_up(2);
        }
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::SeqCst);
        clients.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(tally.errors(), Vec::<String>::new(), "errors users saw\n{}", stack.logs());
    assert_eq!(tally.retried.load(Ordering::Relaxed), 0, "not even a retried answer");
    assert_every_track_done_once(&stack, &results);
    eprintln!("rolling restart: {} calls, none failed or retried", tally.calls.load(Ordering::Relaxed));
}

#[test]
fn a_track_still_processing_when_the_grace_runs_out_is_handed_back_at_once() {
    let _one = one_at_a_time();
    let mut stack = Stack::with_args("failover-handback", Postgres::shared(), 2, 1, &["--drain-grace", "0"]);
    let cookies = users(&stack, "handback", 1);
    let tally = Tally::default();
    let mut held = Vec::new();
    let (mut stopped_in, mut holder) = (Duration::ZERO, 0);
    let results = run_users(&mut stack, &cookies, 1, 120.0, &tally, |stack| {
        // Whichever instance claimed the one track is the one stopped.
        (holder, held) = holding_a_lease(stack, &[0, 1]);
        let mut s = stack.instances[holder].take().unwrap();
        stopped_in = s.terminate(Duration::from_secs(30));
        stack.instances[holder] = Some(s);
    });
    assert_eq!(tally.errors(), Vec::<String>::new(), "{}", stack.logs());
    assert_eq!(held.len(), 1);
    assert!(stack.instance(holder).log().contains("track handed back to the queue"), "{}", stack.logs());
    // Handed back, not left to its lease: the second claim is the first that counts.
    assert_eq!(attempts(&stack, &held[0]), 1, "a hand-back is not an attempt");
    assert_every_track_done_once(&stack, &results);
    eprintln!("SIGTERM with --drain-grace 0 during processing: stopped in {stopped_in:?}, track handed back");
}

#[test]
fn a_database_restart_answers_503_with_retry_after_and_the_app_reconnects_by_itself() {
    let _one = one_at_a_time();
    let pg = Postgres::private();
    let mut stack = Stack::new("failover-db", &pg, 2, 1);
    let cookies = users(&stack, "db", 10);
    let tally = Tally::default();
    let results = run_users(&mut stack, &cookies, 3, 3.0, &tally, |stack| {
        // The outage starts when the first track is done, so it always falls mid-run: a fixed
        // delay raced the engine (all 30 tracks were once done before it ran out).
        let started = Instant::now();
        while stack.try_sql("SELECT count(*) FROM tracks WHERE status = 'done'").is_none_or(|n| n == "0") {
            assert!(started.elapsed() < Duration::from_secs(60), "no track done\n{}", stack.logs());
            std::thread::sleep(Duration::from_millis(10));
        }
        pg.stop();
        assert!(stack.try_sql("SELECT 1").is_none(), "the database is down");
        std::thread::sleep(Duration::from_secs(4));
        pg.start_again();
    });
    assert_eq!(tally.errors(), Vec::<String>::new(), "errors users saw\n{}", stack.logs());
    let (retried, with_after) = (tally.retried.load(Ordering::Relaxed), tally.retry_after.load(Ordering::Relaxed));
    assert!(with_after > 0, "users were told to retry ({retried} retried answers)\n{}", stack.logs());
    assert_every_track_done_once(&stack, &results);
    stack.proxy.wait_up(2);
    eprintln!("PostgreSQL down 4 s: {retried} answers retried ({with_after} were 503 with Retry-After), nothing lost");
}

#[test]
fn instances_started_at_once_on_an_empty_database_migrate_it_once() {
    let _one = one_at_a_time();
    let pg = Postgres::shared();
    let database = pg.create_database("failover-cold");
    let bucket = audioproc_testdata::harness::bucket("failover-cold");
    audioproc_testdata::harness::S3::new(&MotoServer::shared().endpoint()).create_bucket(&bucket);
    let input = format!("s3://{bucket}/incoming/");
    let instances: Vec<Server> = std::thread::scope(|sc| {
        let started: Vec<_> = (0..4)
            .map(|_| {
                sc.spawn(|| {
                    let args = ["--bucket", input.as_str()];
                    Server::start_fleet(&database, &MotoServer::shared().endpoint(), &args, &[])
                })
            })
            .collect();
        started.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for s in &instances {
        let started = Instant::now();
        while s.call("GET", "/readyz", &[], None).0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(20), "{} not ready:\n{}", s.addr, s.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let counts = try_psql(
        pg.psql(),
        &database,
        "SELECT count(*), count(DISTINCT version), max(version) FROM audioproc_migrations",
    )
    .expect("the migrations table");
    let n: Vec<i64> = counts.split('|').map(|v| v.parse().unwrap()).collect();
    assert!(n[0] > 0 && n[0] == n[1] && n[1] == n[2], "each migration once: {counts}");
}
