//! The real `myriad` binary: exit codes, one-line usage errors, reports, serve
//! and demo. Traffic goes to servers on 127.0.0.1 only.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::binary::{assert_exit_0, assert_refused, myriad};
use support::scratch::Dir;
use support::serve::{Serve, Stderr};
use support::server::{delayed_server, server, url};
use support::wait_until;

/// How long a test waits for an event before it fails.
const WAIT: Duration = Duration::from_secs(30);

/// Whether process `pid` has a handler installed for SIGINT (the kernel's
/// `SigCgt` mask in `/proc/PID/status`).
fn catches_sigint(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
}

/// Asserts a usage error: exit 2, nothing on stdout, one line on stderr that
/// contains every `needle`.
fn assert_usage_error(args: &[&str], needles: &[&str]) {
    assert_refused(args, 2, needles);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let ok = "http://127.0.0.1:9/";
    assert_usage_error(&["run", "http//missing-colon"], &["invalid URL", "http://"]);
    assert_usage_error(
        &["run", "--unix-socket", "/tmp", "https://127.0.0.1/"],
        &["--unix-socket", "not a socket"],
    );
    assert_usage_error(&["run", "ftp://127.0.0.1/"], &["unsupported scheme 'ftp'"]);
    assert_usage_error(
        &["run", "http://no-such-host.invalid/"],
        &["cannot resolve host"],
    );
    assert_usage_error(&["run", "-c", "0", ok], &["--connections", "at least 1"]);
    assert_usage_error(&["run", "-n", "0", ok], &["--requests", "at least 1"]);
    assert_usage_error(&["run", "-z", "abc", ok], &["--duration", "like 500ms"]);
    assert_usage_error(&["run", "-z", "10", ok], &["--duration"]);
    assert_usage_error(&["run", "--timeout", "0s", ok], &["--timeout"]);
    assert_usage_error(
        &["run", "-H", "no colon here", ok],
        &["--header", "Name: value"],
    );
    assert_usage_error(
        &["run", "--body-file", "/nonexistent/body.json", ok],
        &["--body-file", "/nonexistent/body.json"],
    );
    assert_usage_error(&["run", "-n", "5", "-z", "1s", ok], &["--duration"]);
    assert_usage_error(&["run"], &["URL"]);
    assert_usage_error(
        &["run", "-c", "1", ok, ok],
        &["at least one connection per URL"],
    );
    assert_usage_error(&["run", "--bogus", ok], &["--bogus"]);
    assert_usage_error(&["run", "--source", "::1", ok], &["--source", "IP version"]);
    assert_usage_error(&["run", "--source", "nonsense", ok], &["--source"]);
    assert_usage_error(&["run", "--pipeline", "0", ok], &["--pipeline"]);
    assert_usage_error(
        &["run", "--connect-to", "a:1:b", ok],
        &["--connect-to", "HOST:PORT:ADDR:PORT"],
    );
    assert_usage_error(
        &["run", "--pipeline", "4", "--disable-keepalive", ok],
        &["--pipeline", "--disable-keepalive"],
    );
    assert_usage_error(
        &["run", "--unix-socket", "/nonexistent/myriad.sock", ok],
        &["--unix-socket", "/nonexistent/myriad.sock"],
    );
    assert_usage_error(
        &["run", "--when-busy", "maybe", ok],
        &["--when-busy", "queue or drop"],
    );
    assert_usage_error(&["serve", "--delay", "soon"], &["--delay"]);
    assert_usage_error(&["serve", "--status", "42"], &["--status"]);
    assert_usage_error(
        &["run", "-o", "/nonexistent/dir/report.json", ok],
        &["--output", "/nonexistent/dir/report.json"],
    );
}

#[test]
fn http2_flags_that_do_not_fit_are_one_line_and_exit_2() {
    let (http, https) = ("http://127.0.0.1:1/", "https://127.0.0.1:1/");
    assert_usage_error(&["run", "--h2c", https], &["--h2c", "http://"]);
    assert_usage_error(&["run", "--http2", http], &["--http2", "https://"]);
    assert_usage_error(&["run", "--streams", "10", http], &["--streams", "--h2c"]);
    assert_usage_error(&["run", "-p", "10", https], &["--streams", "--http2"]);
    assert_usage_error(
        &["run", "--h2c", "--pipeline", "4", http],
        &["--pipeline", "--streams"],
    );
    assert_usage_error(&["run", "--h2c", "-p", "0", http], &["--streams"]);
    assert_usage_error(
        &["run", "--h2c", "-p", "1025", http],
        &["--streams", "1024"],
    );
    assert_usage_error(&["run", "--h2c", "--http2", https], &["--http2", "--h2c"]);
}

#[test]
fn help_and_version_exit_0() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["run", "--help"],
        &["demo", "--help"],
    ] {
        let out = myriad(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn run_prints_a_balanced_text_report() {
    let s = server();
    let out = myriad(&["run", "-n", "500", "-c", "10", &url(&s)]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("500 issued = 500 succeeded + 0 HTTP errors + 0 failures  (balanced)"),
        "{text}"
    );
    for section in [
        "Latency (500 responses)",
        "p99.99",
        "Latency histogram",
        "Status codes",
        "Client",
    ] {
        assert!(text.contains(section), "missing {section}: {text}");
    }
    assert!(text.contains("  200           500"), "{text}");
    // Not a terminal: no progress line, only the banner on stderr.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(s.shutdown().requests_served, 500);
}

#[test]
fn json_report_on_stdout_and_to_file_validate() {
    let s = server();
    let dir = Dir::new("cli-test");
    let file = dir.join("report.json");
    let out = myriad(&[
        "run",
        "--json",
        "-n",
        "300",
        "-c",
        "3",
        "-m",
        "post",
        "-d",
        "hello",
        "-H",
        "X-Test: 1",
        "-o",
        file.to_str().unwrap(),
        &url(&s),
    ]);
    assert_exit_0(&out);
    assert!(out.stderr.is_empty(), "--json prints nothing else");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../schema/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for doc in [out.stdout, std::fs::read(&file).unwrap()] {
        let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert!(validator.is_valid(&json), "{json:#}");
        assert_eq!(json["total"]["requests"]["issued"], 300);
        assert_eq!(json["total"]["requests"]["succeeded"], 300);
        assert_eq!(json["config"]["connections"], 3);
    }
}

#[test]
fn refused_port_is_reported_not_fatal() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = myriad(&["run", "-n", "20", "-c", "2", &format!("http://{port}/")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("20 issued = 0 succeeded + 0 HTTP errors + 20 failures"),
        "{text}"
    );
    assert!(text.contains("every connect failed"), "{text}");
}

#[test]
fn sigint_stops_a_run_and_still_reports() {
    let s = server();
    let child = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["run", "-z", "60s", "-c", "4", &url(&s)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once the run is under way (our server has answered it) and its
    // Ctrl-C handler is in place (installed just after the run starts), so the
    // signal stops a running run rather than racing its start.
    wait_until("the run's first requests", WAIT, || {
        s.stats().requests_served >= 10
    });
    wait_until("the SIGINT handler", WAIT, || catches_sigint(child.id()));
    let started = Instant::now();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(balanced)"), "{text}");
    assert!(text.contains("interrupted"), "{text}");
}

#[test]
fn serve_answers_and_prints_counters_on_ctrl_c() {
    let serve = Serve::command(&[
        "--listen",
        "127.0.0.1:0",
        "--threads",
        "1",
        "--status",
        "404",
    ])
    .stderr(Stderr::Null)
    .start();
    let url = serve.url();
    let out = myriad(&["run", "--json", "-n", "50", "-c", "5", &url]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"]["status"]["404"], 50);
    let stopped = serve.stop();
    assert_eq!(stopped.code, Some(0));
    let last = stopped.lines.join("\n");
    assert!(last.contains("5 connections accepted"), "{last}");
    assert!(last.contains("50 requests served"), "{last}");
}

#[test]
fn demo_runs_small_and_compares_with_the_original() {
    let out = myriad(&["demo", "-n", "2000", "-c", "20"]);
    assert_exit_0(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2,000 issued = 2,000 succeeded"), "{text}");
    assert!(
        text.contains("Compared with the original experiment"),
        "{text}"
    );
    assert!(text.contains("2,000 requests served"), "{text}");
}

#[test]
fn demo_over_tls_verifies_its_own_certificate() {
    let out = myriad(&["demo", "--tls", "-n", "2000", "-c", "20"]);
    assert_exit_0(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2,000 issued = 2,000 succeeded"), "{text}");
    assert!(text.contains("TLS          20 handshakes"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://127.0.0.1:"));
}

#[test]
fn running_out_of_open_files_is_counted_and_explained() {
    use std::os::unix::process::CommandExt;
    let s = server();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_myriad"));
    cmd.args([
        "run",
        "--json",
        "-n",
        "600",
        "-c",
        "60",
        "-t",
        "1",
        "--processes",
        "1",
        &url(&s),
    ])
    .stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd.output().unwrap();
    assert_exit_0(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &json["total"]["requests"];
    assert_eq!(r["issued"], 600);
    assert_eq!(r["balanced"], true);
    assert!(
        json["limits"]["open_files_hits"].as_u64().unwrap() > 0,
        "{json:#}"
    );
    assert!(json["total"]["errors"]["connect"].as_u64().unwrap() > 0);
    let notes = json["notes"].to_string();
    assert!(notes.contains("open-files limit (64)"), "{notes}");
}

#[test]
fn thresholds_decide_the_exit_code() {
    let s = server();
    let u = url(&s);
    let out = myriad(&[
        "run",
        "-n",
        "200",
        "-c",
        "4",
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "p99<10s",
        &u,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("PASS  error_rate<1%"), "{text}");
    let out = myriad(&[
        "run",
        "--json",
        "-n",
        "200",
        "-c",
        "4",
        "--threshold",
        "rps>100000000",
        &u,
    ]);
    assert_eq!(out.status.code(), Some(1), "a failed threshold exits 1");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["thresholds"][0]["passed"], false);
    assert_usage_error(&["run", "--threshold", "p97<1s", &u], &["--threshold"]);
}

#[test]
fn open_model_flags_run_on_schedule() {
    let s = server();
    let out = myriad(&[
        "run",
        "--json",
        "--rate",
        "100",
        "-z",
        "1s",
        "-c",
        "10",
        "--warmup",
        "200ms",
        "--stats-interval",
        "250ms",
        &url(&s),
    ]);
    assert_exit_0(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["model"], "open");
    // 100/s for 1 s: due at 10 ms .. 990 ms; the 19 due before 200 ms are
    // warm-up, the 80 due from 200 ms on are measured. The design guarantees
    // the split by due time and that nothing due at or after the end is sent,
    // so at most 19 and 80, every one accounted for. Exactly 19 and 80 would
    // need every wake-up on time: the last is due 10 ms before the end, and a
    // request whose wake-up comes after the end is not sent, one due while
    // every connection is busy after a stall is dropped. So the lower bounds
    // leave a busy machine room for a few.
    let warmup = json["warmup"]["requests"].as_u64().unwrap();
    assert!((15..=19).contains(&warmup), "{:#}", json["warmup"]);
    let r = &json["total"]["requests"];
    let (issued, dropped) = (
        r["issued"].as_u64().unwrap(),
        r["dropped"].as_u64().unwrap(),
    );
    assert!(issued + dropped <= 80, "{r:#}");
    assert!(issued >= 60, "{r:#}");
    assert_eq!(r["balanced"], true, "{r:#}");
    assert!(
        json["total"]["service_latency_us"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(json["series"].as_array().unwrap().len() >= 4);
    assert_usage_error(&["run", "--rate", "0", &url(&s)], &["--rate"]);
    // --stages alone ramps connections (closed model); with --rate, the rate.
    for (args, model) in [
        (&["--stages", "300ms:3,300ms:0"][..], "closed"),
        (
            &["--rate", "0", "--stages", "300ms:100,300ms:0"][..],
            "open",
        ),
    ] {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        let u = url(&s);
        all.push(&u);
        let out = myriad(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["model"], model, "{args:?}");
        assert!(json["total"]["requests"]["issued"].as_u64().unwrap() > 0);
    }
    assert_usage_error(&["run", "--stages", "10s", &url(&s)], &["--stages"]);
    assert_usage_error(
        &[
            "run",
            "--rate",
            "10",
            "--per-connection-interval",
            "1s",
            &url(&s),
        ],
        &["--per-connection-interval"],
    );
}

#[test]
fn find_max_reports_the_highest_passing_rate() {
    let s = delayed_server(Duration::from_millis(20));
    let out = myriad(&[
        "find-max",
        "--json",
        "--slo",
        "error_rate<1%",
        "-c",
        "2",
        "-t",
        "1",
        "--start-rate",
        "20",
        "--step",
        "500ms",
        "--max-time",
        "8s",
        &url(&s),
    ]);
    assert_exit_0(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let best = json["best_rate"].as_f64().unwrap();
    assert!((20.0..=110.0).contains(&best), "{json:#}");
    assert!(json["steps"].as_array().unwrap().len() >= 3);
    assert_usage_error(&["find-max", &url(&s)], &["--slo"]);
}
