//! Runs spread over worker processes (the real `myriad __worker`), and the
//! preflight that refuses what the machine cannot hold. Loopback only.

use std::time::Duration;

use myriad::{Config, ErrorKind, Stop, Summary};
use myriad_server::ServerHandle;

mod support;
use support::server::server;
use support::wait_until;

/// How long a test waits for an event before it fails.
const WAIT: Duration = Duration::from_secs(30);

fn config(s: &ServerHandle, processes: usize, connections: usize, stop: Stop) -> Config {
    let mut c = Config::new(&[format!("http://{}/", s.local_addr())]).unwrap();
    c.load = myriad::Load::closed(connections, stop).unwrap();
    c.processes = Some(processes);
    c.worker_command = Some(vec![env!("CARGO_BIN_EXE_myriad").into(), "__worker".into()]);
    c
}

/// Whether process `pid` has ended: gone, or a zombie not yet reaped.
fn is_dead(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.contains(") Z "))
        .unwrap_or(true)
}

fn assert_balanced(s: &Summary) {
    let t = &s.total;
    assert_eq!(t.issued(), t.succeeded() + t.http_errors() + t.failures());
}

#[test]
fn merged_report_of_worker_processes_is_their_sum() {
    let s = server();
    let summary = myriad::run(config(&s, 3, 31, Stop::Requests(3001))).unwrap();
    assert_balanced(&summary);
    assert_eq!(summary.processes, 3);
    assert_eq!(summary.total.issued(), 3001);
    assert_eq!(summary.total.succeeded(), 3001);
    assert_eq!(summary.total.latency().len(), 3001);
    assert_eq!(summary.connections_opened, 31);
    assert_eq!(summary.gauges.planned, 31);
    assert_eq!(summary.gauges.established, 31);
    assert!(
        summary.worker_failures.is_empty(),
        "{:?}",
        summary.worker_failures
    );
    let stats = s.shutdown();
    assert_eq!(stats.requests_served, 3001);
    assert_eq!(stats.connections_accepted, 31);
}

#[test]
fn a_killed_worker_process_is_reported_and_totals_stay_consistent() {
    let s = server();
    // Longer than the test: it ends the run itself once it has seen what it
    // needs, so no step races a deadline.
    let run = myriad::start(config(&s, 3, 12, Stop::Duration(Duration::from_secs(60)))).unwrap();
    let pids = run.worker_pids().to_vec();
    assert_eq!(pids.len(), 3);
    // Every worker is mid-run once all 12 connections (4 per worker) are
    // accepted and requests flow.
    wait_until("all 12 connections accepted", WAIT, || {
        s.stats().connections_accepted >= 12
    });
    wait_until("requests on them", WAIT, || {
        s.stats().requests_served >= 100
    });
    // SAFETY: killing a child process of this test.
    unsafe { libc::kill(pids[1] as i32, libc::SIGKILL) };
    wait_until(format!("worker {} to die", pids[1]), WAIT, || {
        is_dead(pids[1])
    });
    // The other two serve on.
    let served = s.stats().requests_served;
    wait_until("the other workers' requests", WAIT, || {
        s.stats().requests_served >= served + 100
    });
    run.cancel();
    let summary = run.wait().unwrap();
    assert_balanced(&summary);
    assert_eq!(
        summary.worker_failures.len(),
        1,
        "{:?}",
        summary.worker_failures
    );
    assert!(summary.worker_failures[0].contains("killed by signal 9"));
    // The dead worker's counts up to its last report are kept; its requests in
    // flight then have no known outcome and are counted as lost.
    assert!(summary.total.errors(ErrorKind::Lost) <= 4);
    let served = s.shutdown().requests_served;
    assert!(summary.total.succeeded() <= served);
    assert!(summary.total.succeeded() > 0);
}

#[test]
fn cancelling_a_multi_process_run_cancels_its_workers() {
    let s = server();
    let run = myriad::start(config(&s, 2, 4, Stop::Duration(Duration::from_secs(60)))).unwrap();
    // Cancel a run in full swing: both workers connected and answered.
    wait_until("all 4 connections accepted", WAIT, || {
        s.stats().connections_accepted >= 4
    });
    wait_until("requests on them", WAIT, || {
        s.stats().requests_served >= 100
    });
    let started = std::time::Instant::now();
    run.cancel();
    let summary = run.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_balanced(&summary);
    assert!(summary.interrupted);
    assert!(
        summary.worker_failures.is_empty(),
        "{:?}",
        summary.worker_failures
    );
}

fn myriad_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn preflight_refuses_more_connections_than_one_source_has_ports() {
    let out = myriad_cli(&[
        "run",
        "-c",
        "50000",
        "--source",
        "127.0.0.1",
        "http://127.0.0.1:9/",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ip_local_port_range"), "{stderr}");
    assert!(stderr.contains("--source 127.0.0.1-127.0.0.7"), "{stderr}");
    let out = myriad_cli(&[
        "run",
        "-c",
        "50000",
        "--processes",
        "2",
        "http://127.0.0.1:9/",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--processes 3"), "{stderr}");
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let out = myriad_cli(&["run", "--dry-run", "-c", "1000000", "http://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(0));
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(plan.contains("Plan for 1000000 connections"), "{plan}");
    assert!(plan.contains("processes      51"), "{plan}");
    assert!(
        plan.contains("125 addresses, 127.0.0.1 to 127.0.0.125 (chosen automatically)"),
        "{plan}"
    );
    assert!(plan.contains("20000 connects/s"), "{plan}");
}
