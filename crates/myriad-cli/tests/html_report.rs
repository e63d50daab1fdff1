//! The HTML report in a real browser: the real binary writes it (`run`,
//! `demo`, `find-max` with `--html`), headless Chromium opens it through
//! playwright-core (`tests/browser/inspect_report.js`), and the test checks
//! what the page shows against the run's own JSON report: the headline
//! figures, each chart drawn with one point per interval, the thresholds, the
//! extra sections; and that the page ran no script, logged no error and
//! fetched nothing (it opens offline).
//!
//! Needs `node`, Chromium (`/usr/bin/chromium`, or `MYRIAD_CHROMIUM`) and
//! playwright-core (in `target/browser-test/node_modules`, or the directory
//! `MYRIAD_NODE_MODULES` names). `.ci/run` installs them and sets
//! `MYRIAD_REQUIRE_BROWSER=1`, which turns a missing piece into a failure;
//! elsewhere the tests say what is missing and pass without a browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use myriad::report::format_count as count;
use serde_json::Value;

mod support;
use support::scratch::Dir;
use support::server::{delayed_server, url};

/// Chromium, node and the directory holding playwright-core, if all are here.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("MYRIAD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = std::env::var_os("MYRIAD_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-test/node_modules")
        });
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let missing: Vec<String> = [
        (!node).then(|| "node".to_string()),
        (!chromium.exists()).then(|| format!("Chromium at {}", chromium.display())),
        (!modules.join("playwright-core").exists())
            .then(|| format!("playwright-core in {}", modules.display())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        return Some((chromium, modules));
    }
    let what = format!(
        "browser tests need {} (npm install --prefix target/browser-test playwright-core; apt-get install chromium)",
        missing.join(", ")
    );
    assert!(
        std::env::var_os("MYRIAD_REQUIRE_BROWSER").is_none(),
        "MYRIAD_REQUIRE_BROWSER is set but {what}"
    );
    eprintln!("skipped: {what}");
    None
}

/// What the browser saw on the page at `report`; a screenshot of the whole
/// page is saved as `target/html-report/NAME.png` (NAME: the report's file
/// stem) for a person to look at.
fn inspect(report: &Path, (chromium, modules): &(PathBuf, PathBuf)) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/inspect_report.js");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/html-report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots
        .join(report.file_stem().unwrap())
        .with_extension("png");
    let out = Command::new("node")
        .arg(script)
        .arg(report)
        .arg(chromium)
        .arg(&shot)
        .env("NODE_PATH", modules)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser could not open {}: {}",
        report.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen:#}");
    assert_eq!(seen["network"], serde_json::json!([]), "fetched: {seen:#}");
    assert_eq!(seen["scripts"], 0, "{seen:#}");
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    seen
}

/// Runs `myriad ARGS`; it must have run (exit 0, or 1 for a failed threshold).
fn myriad(args: &[&str]) -> Output {
    let out = support::binary::myriad(args);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "myriad {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chart<'a>(seen: &'a Value, id: &str) -> &'a Value {
    seen["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no chart {id}: {seen:#}"))
}

#[test]
fn run_html_report_shows_the_runs_figures_and_charts() {
    let Some(browser) = browser() else { return };
    let s = delayed_server(Duration::from_millis(2));
    let dir = Dir::new("html");
    let html = dir.join("run.html");
    let out = myriad(&[
        "run",
        "-q",
        "--json",
        "-z",
        "3s",
        "-c",
        "10",
        "-t",
        "1",
        "--threshold",
        "p99<5s",
        "--html",
        html.to_str().unwrap(),
        &url(&s),
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seen = inspect(&html, &browser);
    let issued = json["total"]["requests"]["issued"].as_u64().unwrap();
    assert!(issued > 0);
    assert_eq!(seen["kpi"]["requests"], count(issued), "{seen:#}");
    assert_eq!(seen["requests_table"][0][1], count(issued), "{seen:#}");
    assert_eq!(seen["kpi"]["thresholds"], "passed");
    let verdict = &seen["thresholds"][0];
    assert_eq!(
        (&verdict[0], &verdict[2]),
        (&"p99<5s".into(), &"pass".into())
    );

    let ids: Vec<&str> = seen["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "chart-throughput",
            "chart-latency",
            "chart-spectrum",
            "chart-errors",
            "chart-connections",
            "chart-cpu",
            "chart-memory",
            "chart-network"
        ]
    );
    for c in seen["charts"].as_array().unwrap() {
        assert!(c["width"].as_f64().unwrap() > 200.0, "not laid out: {c:#}");
        assert!(!c["series"].as_array().unwrap().is_empty(), "{c:#}");
    }
    // One point per interval of the series; one per spectrum point.
    let intervals = json["series"].as_array().unwrap().len() as u64;
    assert!(intervals >= 3, "{json:#}");
    let throughput = chart(&seen, "chart-throughput");
    assert_eq!(throughput["series"][0]["points"], intervals);
    assert_eq!(throughput["titles"], intervals, "a hover title per point");
    let latency = chart(&seen, "chart-latency");
    let names: Vec<&str> = latency["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p50", "p90", "p99", "max"]);
    let spectrum = json["spectrum"].as_array().unwrap().len() as u64;
    assert!(spectrum > 5, "{json:#}");
    assert_eq!(
        chart(&seen, "chart-spectrum")["series"][0]["points"],
        spectrum
    );
    // Ten connections held open through the run.
    let connections = &json["series"][0]["open_connections"];
    assert_eq!(connections, 10, "{json:#}");
}

#[test]
fn demo_html_report_compares_with_the_original_experiment() {
    let Some(browser) = browser() else { return };
    let dir = Dir::new("html");
    let html = dir.join("demo.html");
    myriad(&[
        "demo",
        "-q",
        "-n",
        "20000",
        "-c",
        "50",
        "--html",
        html.to_str().unwrap(),
    ]);
    let seen = inspect(&html, &browser);
    assert_eq!(seen["kpi"]["requests"], "20,000");
    let sections = seen["sections"].as_array().unwrap();
    assert!(
        sections.contains(&"Compared with the original experiment".into()),
        "{seen:#}"
    );
    let rows = seen["section0"].as_array().unwrap();
    assert_eq!(
        rows[0],
        serde_json::json!(["requests", "1,000,000", "20,000"])
    );
}

#[test]
fn find_max_html_report_lists_every_step() {
    let Some(browser) = browser() else { return };
    let s = delayed_server(Duration::from_millis(20));
    let dir = Dir::new("html");
    let html = dir.join("find-max.html");
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
        "4s",
        "--html",
        html.to_str().unwrap(),
        &url(&s),
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seen = inspect(&html, &browser);
    let steps = json["steps"].as_array().unwrap();
    let rows = seen["section0"].as_array().unwrap();
    assert_eq!(rows.len(), steps.len(), "{seen:#}");
    assert_eq!(
        rows[0][0],
        format!("{:.1}/s", steps[0]["rate"].as_f64().unwrap())
    );
    assert!(seen["sections"]
        .as_array()
        .unwrap()
        .contains(&"find-max steps".into()));
}

#[test]
fn report_html_of_merged_result_files_lists_each_input() {
    let Some(browser) = browser() else { return };
    let s = delayed_server(Duration::from_millis(1));
    let dir = Dir::new("html");
    let url = url(&s);
    let mut files = Vec::new();
    for (name, n) in [("a.json", "300"), ("b.json", "500")] {
        let file = dir.join(name);
        myriad(&[
            "run",
            "-q",
            "-n",
            n,
            "-c",
            "5",
            "-o",
            file.to_str().unwrap(),
            &url,
        ]);
        files.push(file.to_str().unwrap().to_string());
    }
    let html = dir.join("merged.html");
    let mut args = vec!["report", "--json", "--html", html.to_str().unwrap()];
    args.extend(files.iter().map(String::as_str));
    let out = myriad(&args);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"]["requests"]["issued"], 800);
    let seen = inspect(&html, &browser);
    assert_eq!(seen["kpi"]["requests"], "800");
    assert_eq!(seen["inputs"].as_array().unwrap().len(), 2, "{seen:#}");
    assert_eq!(seen["inputs"][1][3], "500");
}

#[test]
fn html_into_a_missing_directory_is_refused_before_any_traffic() {
    // Port 9 on loopback: nothing may be sent, so nothing needs to listen.
    for cmd in [
        vec![
            "run",
            "-n",
            "10",
            "--html",
            "/nonexistent-dir/r.html",
            "http://127.0.0.1:9/",
        ],
        vec!["demo", "-n", "10", "--html", "/nonexistent-dir/r.html"],
    ] {
        let out = support::binary::myriad(&cmd);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("--html") && err.contains("/nonexistent-dir/r.html"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "nothing ran: {cmd:?}");
    }
}
