//! Sharded runs through the real binary: `run --shard I/N` as separate
//! processes, `--start-at`, and `report` merging the shards exactly or
//! refusing shards that do not make up one run. Traffic goes to servers on
//! 127.0.0.1 only.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod support;
use support::binary::{assert_exit_0_of, assert_refused, myriad};
use support::result_files::{histogram, read};
use support::scratch::Dir;
use support::server::{server, url};

fn ok(out: &Output, what: &str) {
    assert_exit_0_of(what, out);
}

/// RFC 3339 in UTC of `t`, as a user would type it (whole seconds).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Starts `myriad run --shard i/n -o dir/shard-i.json` with `args` for every
/// shard at once, as separate processes, and waits for all of them.
fn run_shards(dir: &Dir, prefix: &str, n: usize, args: &[&str]) -> Vec<String> {
    let files: Vec<String> = (0..n)
        .map(|i| dir.file(&format!("{prefix}-{i}.json")))
        .collect();
    let children: Vec<_> = (0..n)
        .map(|i| {
            let shard = format!("{i}/{n}");
            Command::new(env!("CARGO_BIN_EXE_myriad"))
                .args(["run", "--json", "-q", "--shard", &shard, "-o", &files[i]])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        ok(&child.wait_with_output().unwrap(), &format!("shard {i}"));
    }
    files
}

#[test]
fn four_shard_processes_merge_into_exactly_the_whole_run() {
    let s = server();
    let dir = Dir::new("shards-four");
    let start = rfc3339(SystemTime::now() + Duration::from_secs(2));
    let target = url(&s);
    let args = [
        "-n",
        "1001",
        "-c",
        "10",
        "-t",
        "1",
        "--start-at",
        &start,
        &target,
    ];
    let files = run_shards(&dir, "shard", 4, &args);

    // Each shard did exactly its share of the unsharded plan's 1001 requests.
    let docs: Vec<Value> = files.iter().map(|f| read(f)).collect();
    let run_id = docs[0]["result"]["shard"]["run"].clone();
    assert!(run_id.as_str().is_some_and(|r| r.len() == 16), "{run_id}");
    for (i, d) in docs.iter().enumerate() {
        let shard = &d["result"]["shard"];
        assert_eq!(
            (&shard["index"], &shard["count"], &shard["run"]),
            (&Value::from(i), &Value::from(4), &run_id)
        );
        assert_eq!(shard["run_connections"], 10);
        let expected = if i == 0 { 251 } else { 250 };
        assert_eq!(d["total"]["requests"]["issued"], expected, "shard {i}");
        assert_eq!(d["config"]["connections"], if i < 2 { 3 } else { 2 });
        assert_eq!(d["result"]["start"]["at"], start.replace('Z', ".000Z"));
    }
    assert_eq!(s.stats().requests_served, 1001);

    // Merged: the counts of the whole run, the histogram of all samples.
    let mut all: Vec<&str> = vec!["report", "--json"];
    // Given out of order: rows still come in shard order.
    all.extend(files.iter().rev().map(String::as_str));
    let out = myriad(&all);
    ok(&out, "report");
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &merged["total"]["requests"];
    assert_eq!(
        (r["issued"].as_u64(), r["succeeded"].as_u64()),
        (Some(1001), Some(1001))
    );
    assert_eq!(merged["config"]["connections"], 10);
    let mut samples = histogram(&docs[0]["result"]["total"]["latency"]);
    for d in &docs[1..] {
        samples
            .add(histogram(&d["result"]["total"]["latency"]))
            .unwrap();
    }
    let l = &merged["total"]["latency_us"];
    assert_eq!(l["count"], 1001);
    for (field, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)] {
        assert_eq!(
            l[field].as_u64(),
            Some(samples.value_at_quantile(q)),
            "{field}"
        );
    }
    assert_eq!(l["max"].as_u64(), Some(samples.max()));
    assert_eq!(l["min"].as_u64(), Some(samples.min()));
    let in_series: u64 = merged["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(in_series, 1001);
    let rows: Vec<(&str, &str)> = merged["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["shard"].as_str().unwrap(), i["file"].as_str().unwrap()))
        .collect();
    let expected: Vec<(String, &str)> = (0..4)
        .map(|i| (format!("{i}/4"), files[i].as_str()))
        .collect();
    assert_eq!(
        rows,
        expected
            .iter()
            .map(|(s, f)| (s.as_str(), *f))
            .collect::<Vec<_>>()
    );
    let schema: Value =
        serde_json::from_str(include_str!("../../../schema/report.schema.json")).unwrap();
    assert!(jsonschema::validator_for(&schema)
        .unwrap()
        .is_valid(&merged));
    let schema: Value =
        serde_json::from_str(include_str!("../../../schema/result.schema.json")).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    for d in &docs {
        let errors: Vec<String> = v.iter_errors(d).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    // The text report: one row per shard; thresholds on the merged result
    // with run's exit codes.
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let text = myriad(&[&["report"], files.as_slice()].concat());
    ok(&text, "report text");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("1,001 issued = 1,001 succeeded") || text.contains("1001 issued = 1001"),
        "{text}"
    );
    assert!(text.contains("\nInputs\n  shard  file"), "{text}");
    assert!(text.contains("\n  3/4    "), "{text}");
    let gate = |t: &str| {
        myriad(&[&["report", "--threshold", t], files.as_slice()].concat())
            .status
            .code()
    };
    assert_eq!(gate("failures==0"), Some(0));
    assert_eq!(gate("p99<1us"), Some(1));
}

#[test]
fn report_refuses_shards_that_do_not_make_one_run() {
    let s = server();
    let dir = Dir::new("shards-refuse");
    let target = url(&s);
    let a = run_shards(&dir, "a", 3, &["-n", "30", "-c", "3", "-t", "1", &target]);
    // Another run: the same flags but -n.
    let b = run_shards(&dir, "b", 3, &["-n", "31", "-c", "3", "-t", "1", &target]);
    let plain = dir.file("plain.json");
    ok(
        &myriad(&["run", "-q", "-o", &plain, "-n", "5", "-c", "1", &target]),
        "plain",
    );
    assert_refused(
        &["report", &a[0], &a[1]],
        2,
        &["shard 2/3 missing: give all 3 files", &a[0], &a[1]],
    );
    assert_refused(
        &["report", &a[0], &a[1], &a[1], &a[2]],
        2,
        &[&a[1], "both shard 1/3"],
    );
    assert_refused(
        &["report", &a[0], &a[1], &b[2]],
        2,
        &["different runs", &a[0], &b[2]],
    );
    assert_refused(
        &["report", &a[0], &a[1], &a[2], &plain],
        2,
        &[&plain, "is not a shard"],
    );
    // The whole runs merge.
    ok(&myriad(&["report", &a[0], &a[1], &a[2]]), "a");
    ok(&myriad(&["report", &b[2], &b[0], &b[1]]), "b");
}

#[test]
fn bad_shards_and_start_times_are_refused_before_any_traffic() {
    let u = "http://127.0.0.1:9/";
    for (args, needles) in [
        (vec!["--shard", "4/4"], vec!["--shard", "less than N"]),
        (vec!["--shard", "x"], vec!["--shard", "I/N"]),
        (vec!["--shard", "0/0"], vec!["--shard"]),
        (
            vec!["--shard", "0/8", "-c", "4"],
            vec!["shard 4/8 nothing to do"],
        ),
        (
            vec!["--start-at", "soon"],
            vec!["--start-at 'soon'", "RFC 3339"],
        ),
        (vec!["--start-at", "2026-13-01T00:00:00Z"], vec!["RFC 3339"]),
        (vec!["--start-at", "+25h"], vec!["more than 24h ahead"]),
    ] {
        let all: Vec<&str> = ["run"].into_iter().chain(args).chain([u]).collect();
        assert_refused(&all, 2, &needles);
    }
    // --dry-run shows the shard's plan.
    let out = myriad(&[
        "run",
        "--dry-run",
        "--shard",
        "1/4",
        "-c",
        "10",
        "--start-at",
        "+1h",
        u,
    ]);
    ok(&out, "dry run");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Plan for 3 connections"), "{text}");
    assert!(text.contains("shard          1/4 of run "), "{text}");
    assert!(text.contains("10 connections in all shards"), "{text}");
    assert!(text.contains("start at       20"), "{text}");
    // Shards of one machine connect from 127.x addresses of their own.
    assert!(text.contains("source         127.0.0.2"), "{text}");
}

#[test]
fn a_shard_that_starts_late_says_so() {
    let s = server();
    let dir = Dir::new("shards-late");
    let file = dir.file("late.json");
    let out = myriad(&[
        "run",
        "-o",
        &file,
        "--shard",
        "0/1",
        "-n",
        "10",
        "-c",
        "1",
        "--start-at",
        "2020-01-01T00:00:00Z",
        &url(&s),
    ]);
    ok(&out, "late run");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: --start-at 2020-01-01T00:00:00.000Z passed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("late start: this run started"), "{text}");
    let start = &read(&file)["result"]["start"];
    assert_eq!(start["late"], true);
    assert!(start["late_ns"].as_u64().unwrap() > 0);
    assert_eq!(start["at"], "2020-01-01T00:00:00.000Z");
    let again = String::from_utf8(myriad(&["report", &file]).stdout).unwrap();
    assert!(again.contains("late start: this run started"), "{again}");
}
