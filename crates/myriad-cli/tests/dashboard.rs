//! The dashboard through the real binary on a pseudo-terminal (util-linux
//! `script`): it draws, `q` stops the run as Ctrl-C does (the report, exit
//! 130), and the terminal leaves the alternate screen before the report.
//! Traffic goes to 127.0.0.1 only.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use myriad_server::ServerConfig;

mod support;
use support::wait_until;

const WAIT: Duration = Duration::from_secs(30);

/// `ESC [ ? 1049 l`: leave the alternate screen.
const LEAVE_ALTERNATE_SCREEN: &str = "\u{1b}[?1049l";

#[test]
fn q_on_the_dashboard_stops_the_run_and_prints_the_report() {
    stop_with(b"q");
}

/// In raw mode Ctrl-C is a key, not SIGINT: the dashboard cancels the run.
#[test]
fn ctrl_c_on_the_dashboard_stops_the_run_and_prints_the_report() {
    stop_with(b"\x03");
}

fn stop_with(key: &[u8]) {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to make a pseudo-terminal");
        return;
    }
    let listener = myriad_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = myriad_server::spawn(listener, ServerConfig::default(), 1).unwrap();
    let url = format!("http://{}/", server.local_addr());
    // A pty made by `script` from pipes has no size: give it one.
    let command = format!(
        "stty rows 30 cols 100; exec {} run -z 60s -c 4 -t 1 {url}",
        env!("CARGO_BIN_EXE_myriad")
    );
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (seen, mut out) = (seen.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    // ratatui moves the cursor over blank cells, so words arrive apart.
    wait_until("the dashboard drawn under load", WAIT, || {
        server.stats().requests_served >= 10 && text().contains("Ctrl-C:")
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(key).unwrap();
    stdin.flush().unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let out = text();
    assert_eq!(status.code(), Some(130), "{out}");
    let report = out
        .rfind(LEAVE_ALTERNATE_SCREEN)
        .map(|at| &out[at..])
        .unwrap_or_else(|| panic!("the alternate screen was never left: {out:?}"));
    assert!(report.contains("(balanced)"), "{report}");
    assert!(report.contains("interrupted"), "{report}");
    assert!(report.contains("Resources    client mean CPU"), "{report}");
}
