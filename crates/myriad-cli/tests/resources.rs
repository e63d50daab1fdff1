//! Resources over time through the real binary: `--watch-pid` of a real
//! `myriad serve`, a pid that does not exist, and the demo's built-in server
//! measured apart from the client. Traffic goes to 127.0.0.1 only.

mod support;
use support::binary::{assert_exit_0, myriad};
use support::serve::{Serve, Stderr};

/// `myriad serve` on an ephemeral port, one thread.
fn serve() -> Serve {
    Serve::command(&["--listen", "127.0.0.1:0", "--threads", "1"])
        .stderr(Stderr::Null)
        .start()
}

/// CPU seconds of watched target `i` over the series.
fn target_cpu_s(json: &serde_json::Value, i: usize) -> f64 {
    json["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let r = &s["resources"];
            r["targets"][i]["cpu_cores"].as_f64().unwrap() * r["span_s"].as_f64().unwrap()
        })
        .sum()
}

#[test]
fn watch_pid_of_a_real_server_shows_its_cpu_and_memory() {
    let server = serve();
    let url = server.url();
    let pid = server.pid().to_string();
    let out = myriad(&[
        "run",
        "--json",
        "-n",
        "20000",
        "-c",
        "10",
        "-t",
        "1",
        "--watch-pid",
        &pid,
        &url,
    ]);
    drop(server);
    assert_exit_0(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"]["requests"]["succeeded"], 20000);
    let t = &json["resources"]["targets"][0];
    assert_eq!(t["pid"].as_u64(), pid.parse().ok(), "{t}");
    assert_eq!(t["name"], "myriad");
    assert!(t["peak_rss_bytes"].as_u64() > Some(0), "{t}");
    // 20,000 requests cost the server far more than one clock tick.
    assert!(target_cpu_s(&json, 0) > 0.0, "{json}");
    assert!(t["mean_cpu_cores"].as_f64() > Some(0.0), "{t}");
    let r = &json["resources"];
    assert!(r["peak_client_rss_bytes"].as_u64() > Some(0), "{r}");
    assert!(r["mean_client_cpu_cores"].as_f64() > Some(0.0), "{r}");
    let lo = &r["network"][0];
    // Each request and response crossed the loopback interface.
    assert!(
        lo["rx_bytes"].as_u64() > json["total"]["bytes"]["received"].as_u64(),
        "{lo}"
    );
}

#[test]
fn a_watch_pid_that_does_not_exist_is_one_line_and_exit_2() {
    // Above any pid_max the kernel allows (2^22), so never a process.
    let out = myriad(&[
        "run",
        "-n",
        "10",
        "--watch-pid",
        "2000000000",
        "http://127.0.0.1:9/",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.contains("--watch-pid 2000000000: no such process"),
        "{stderr}"
    );
    let out = myriad(&[
        "run",
        "-n",
        "10",
        "--watch-pid",
        "nginx",
        "http://127.0.0.1:9/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--watch-pid"));
}

#[test]
fn demo_measures_its_server_threads_apart_from_the_client() {
    let out = myriad(&["demo", "--json", "-n", "20000", "-c", "20"]);
    assert_exit_0(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &json["resources"]["targets"][0];
    assert_eq!(t["name"], "built-in server", "{t}");
    assert!(t["pid"].is_null() && t["peak_rss_bytes"].is_null(), "{t}");
    assert!(target_cpu_s(&json, 0) > 0.0, "{json}");
    let text = myriad(&["demo", "-n", "2000", "-c", "20"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("  Resources    client mean CPU "), "{text}");
    assert!(
        text.contains("  Watched      built-in server: mean CPU "),
        "{text}"
    );
}
