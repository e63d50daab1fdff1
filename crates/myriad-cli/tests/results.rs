//! Result files through the real binary: `run -o`, `report`, `compare`.
//! Traffic goes to servers on 127.0.0.1 only.

use std::path::Path;

use serde_json::Value;

mod support;
use support::binary::{assert_exit_0, assert_exit_0_of, assert_refused, myriad};
use support::result_files::{histogram, read};
use support::scratch::Dir;
use support::server::{server, url};

/// Runs `myriad run --json -o file` with `args` and returns the JSON report
/// it printed.
fn run_to(file: &str, args: &[&str]) -> Value {
    let mut all = vec!["run", "--json", "-o", file];
    all.extend_from_slice(args);
    let out = myriad(&all);
    assert_exit_0(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = myriad(args);
    assert_exit_0_of(format!("{args:?}"), &out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

#[test]
fn a_result_file_reports_as_the_run_did_and_validates() {
    let s = server();
    let dir = Dir::new("results-round-trip");
    let file = dir.file("run.json");
    let live = run_to(
        &file,
        &[
            "-n",
            "400",
            "-c",
            "4",
            "--threshold",
            "p99<1h",
            "-H",
            "X-Token: secret",
            &url(&s),
        ],
    );
    let doc = read(&file);
    // The file is the JSON report plus "result".
    let mut report_part = doc.clone();
    report_part.as_object_mut().unwrap().remove("result");
    assert_eq!(report_part, live);
    assert_valid(
        &validator(include_str!("../../../schema/report.schema.json")),
        &doc,
    );
    assert_valid(
        &validator(include_str!("../../../schema/result.schema.json")),
        &doc,
    );
    let result = &doc["result"];
    assert_eq!(result["kind"], "myriad-result");
    assert_eq!(result["v"], 1);
    assert!(result["started_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(result["config"]["targets"][0], url(&s));
    assert_eq!(result["config"]["header_names"][0], "X-Token");
    assert!(
        !doc.to_string().contains("secret"),
        "header values stay out"
    );
    let total = histogram(&result["total"]["latency"]);
    assert_eq!(total.len(), 400);
    let in_series: u64 = result["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| histogram(&i["tally"]["latency"]).len())
        .sum();
    assert_eq!(
        in_series, 400,
        "every response is in one interval's histogram"
    );

    // `report --json` computes the same report again, exactly.
    assert_eq!(ok_json(&["report", "--json", &file]), live);
    let text = myriad(&["report", &file]);
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("400 issued = 400 succeeded + 0 HTTP errors + 0 failures  (balanced)"),
        "{text}"
    );
    assert!(text.contains("PASS  p99<1h"), "{text}");
    // Thresholds judged again on the file, with the run's exit codes.
    let out = myriad(&[
        "report",
        "--threshold",
        "p99<1us",
        "--threshold",
        "failures==0",
        &file,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FAIL  p99<1us") && text.contains("PASS  failures==0"),
        "{text}"
    );
    assert_refused(
        &["report", "--threshold", "p99<250", &file],
        2,
        &["--threshold", "250ms"],
    );
}

#[test]
fn results_of_three_runs_merge_exactly() {
    let s = server();
    let dir = Dir::new("results-merge");
    let (a, b, c) = (dir.file("a.json"), dir.file("b.json"), dir.file("c.json"));
    run_to(&a, &["-n", "300", "-c", "3", &url(&s)]);
    run_to(
        &b,
        &["-n", "200", "-c", "2", "--stats-interval", "1s", &url(&s)],
    );
    run_to(&c, &["-n", "100", "-c", "1", &url(&s)]);
    let merged = ok_json(&["report", "--json", &a, &b, &c]);
    assert_valid(
        &validator(include_str!("../../../schema/report.schema.json")),
        &merged,
    );
    let r = &merged["total"]["requests"];
    assert_eq!(
        (r["issued"].as_u64(), r["succeeded"].as_u64()),
        (Some(600), Some(600))
    );
    assert_eq!(merged["total"]["status"]["200"], 600);
    assert_eq!(merged["config"]["connections"], 6);
    // The merged histogram is the three files' histograms together.
    let mut both = histogram(&read(&a)["result"]["total"]["latency"]);
    for f in [&b, &c] {
        both.add(histogram(&read(f)["result"]["total"]["latency"]))
            .unwrap();
    }
    let l = &merged["total"]["latency_us"];
    assert_eq!(l["count"], 600);
    for (field, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)] {
        assert_eq!(
            l[field].as_u64(),
            Some(both.value_at_quantile(q)),
            "{field}"
        );
    }
    assert_eq!(l["max"].as_u64(), Some(both.max()));
    // The series holds every request once, and a row per input is kept.
    let in_series: u64 = merged["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(in_series, 600);
    let inputs: Vec<(&str, u64)> = merged["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["file"].as_str().unwrap(),
                i["requests"]["issued"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [(a.as_str(), 300), (b.as_str(), 200), (c.as_str(), 100)]
    );
    let text = String::from_utf8(myriad(&["report", &a, &b, &c]).stdout).unwrap();
    assert!(text.contains("\nInputs\n"), "{text}");
    assert!(text.contains("600 issued = 600 succeeded"), "{text}");
    // Thresholds on the merged result.
    assert_eq!(
        myriad(&["report", "--threshold", "failures==0", &a, &b])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn results_that_cannot_be_merged_or_read_are_refused() {
    let (s1, s2) = (server(), server());
    let dir = Dir::new("results-refuse");
    let (a, b) = (dir.file("a.json"), dir.file("b.json"));
    run_to(&a, &["-n", "20", "-c", "1", &url(&s1)]);
    run_to(&b, &["-n", "20", "-c", "1", &url(&s2)]);
    assert_refused(
        &["report", &a, &b],
        2,
        &["cannot merge", &a, &b, "different targets"],
    );
    let c = dir.file("c.json");
    run_to(
        &c,
        &[
            "-n",
            "20",
            "-c",
            "1",
            "--stats-interval",
            "500ms",
            &url(&s1),
        ],
    );
    assert_refused(&["report", &a, &c], 2, &[&c, "statistics intervals differ"]);

    let report_only = dir.file("report-only.json");
    std::fs::write(
        &report_only,
        myriad(&["run", "--json", "-n", "5", "-c", "1", &url(&s1)]).stdout,
    )
    .unwrap();
    assert_refused(
        &["report", &report_only],
        2,
        &[&report_only, "not a myriad result file"],
    );
    let missing = dir.file("missing.json");
    assert_refused(&["report", &missing], 2, &[&missing, "cannot read it"]);
    let garbage = dir.file("garbage.json");
    std::fs::write(&garbage, "{\"result\": ").unwrap();
    assert_refused(&["report", &garbage], 2, &[&garbage, "not a JSON document"]);
    let mut doc = read(&a);
    doc["result"]["v"] = 99.into();
    let future = dir.file("future.json");
    std::fs::write(&future, doc.to_string()).unwrap();
    assert_refused(&["report", &future], 2, &[&future, "version 99"]);
    assert!(!Path::new(&missing).exists());
}

#[test]
fn compare_sets_two_results_side_by_side_and_gates_on_fail_if() {
    let s = server();
    let dir = Dir::new("results-compare");
    let (a, b) = (dir.file("base.json"), dir.file("new.json"));
    run_to(&a, &["-n", "200", "-c", "2", &url(&s)]);
    run_to(&b, &["-n", "200", "-c", "2", &url(&s)]);
    let out = myriad(&["compare", &a, &b]);
    assert_exit_0(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["Comparison", "req/s", "p99.9", "error rate", "+0.00 pts"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    // A file against itself: every change is 0, so no check can hold.
    let out = myriad(&[
        "compare",
        "--fail-if",
        "p99>+10%",
        "--fail-if",
        "rps<-5%",
        &a,
        &a,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("PASS  p99>+10%") && text.contains("PASS  rps<-5%"),
        "{text}"
    );
    // A check that holds for any two real runs: a regression, exit 1.
    let json = myriad(&["compare", "--json", "--fail-if", "p99>=-100%", &a, &b]);
    assert_eq!(json.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["regressed"], true);
    assert_eq!(json["checks"][0]["fail_if"], "p99>=-100%");
    assert_eq!(json["checks"][0]["failed"], true);
    let rps = &json["rows"][0];
    assert_eq!(rps["metric"], "rps");
    let base_rps = read(&a)["total"]["requests"]["per_second"]
        .as_f64()
        .unwrap();
    assert_eq!(rps["base"].as_f64(), Some(base_rps));
    // Bad grammar and bad files: one line, exit 2.
    assert_refused(
        &["compare", "--fail-if", "p99>10ms", &a, &b],
        2,
        &["--fail-if", "% sign"],
    );
    assert_refused(
        &["compare", "--fail-if", "p97>+1%", &a, &b],
        2,
        &["unknown metric 'p97'"],
    );
    let missing = dir.file("missing.json");
    assert_refused(&["compare", &a, &missing], 2, &[&missing, "cannot read it"]);
}
