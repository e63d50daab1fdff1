use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::metrics::{new_histogram, quantile, ErrorKind, Outcome, Tally};
use crate::report::{JsonReporter, Reporter};
use crate::summary::{Machine, TargetSummary};

/// 2026-12-01T09:30:00Z.
pub(crate) const T0_MS: u64 = 1_796_117_400_000;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A summary of one request per latency in `latencies` (µs), split over two
/// targets, one interval per `per_interval` requests of 1 s each; every
/// tenth request a 503 and every 17th a timeout.
pub(crate) fn summary(started_ms: u64, latencies: &[u64], per_interval: usize) -> Summary {
    let urls = ["http://127.0.0.1:8080/", "http://127.0.0.1:8081/"];
    let mut targets: Vec<Tally> = urls.iter().map(|_| Tally::new()).collect();
    let mut series = Vec::new();
    let mut interval = Tally::new();
    for (i, &us) in latencies.iter().enumerate() {
        let outcome = match i {
            i if i % 17 == 16 => Outcome::Error(ErrorKind::Timeout),
            i if i % 10 == 9 => Outcome::Status(503),
            _ => Outcome::Status(200),
        };
        for t in [&mut targets[i % 2], &mut interval] {
            t.issue();
            t.record(outcome, us);
            t.bytes_sent += 100;
        }
        if (i + 1) % per_interval == 0 || i + 1 == latencies.len() {
            let index = series.len() as u64;
            series.push(IntervalStats::new(
                index,
                Duration::from_secs(1),
                &interval,
                0,
            ));
            interval = Tally::new();
        }
    }
    let mut total = Tally::new();
    targets.iter().for_each(|t| total.merge(t));
    let mut connect = new_histogram();
    connect.record(120).unwrap();
    Summary {
        started_at: at(started_ms),
        elapsed: Duration::from_nanos(series.len() as u64 * 1_000_000_000 + 123_456),
        connections: 4,
        threads: 2,
        processes: 1,
        source_addresses: 0,
        stop: Stop::Requests(latencies.len() as u64),
        keep_alive: true,
        interval: None,
        total,
        targets: urls
            .iter()
            .zip(targets)
            .map(|(u, tally)| TargetSummary {
                name: u.to_string(),
                url: u.to_string(),
                tally,
            })
            .collect(),
        connections_opened: 4,
        connect_latency: connect,
        tls_handshake: new_histogram(),
        tls_resumed: 0,
        send_lag: new_histogram(),
        loop_stall: new_histogram(),
        gauges: Gauges {
            peak_open: 4,
            established: 4,
            planned: 4,
            establish_us: 900,
            ..Gauges::default()
        },
        limits: LimitHits::default(),
        open_files_limit: 20_000,
        cpu: CpuTime {
            user: Duration::from_millis(30),
            system: Duration::from_millis(70),
        },
        peak_rss_bytes: 10 << 20,
        kernel: None,
        worker_failures: Vec::new(),
        open_model: false,
        warmup: Tally::new(),
        series,
        stats_interval: Duration::from_secs(1),
        warmup_duration: None,
        thresholds: vec!["p99<1s".parse().unwrap()],
        interrupted: false,
        machine: Machine {
            cores: 2,
            ephemeral_port_range: Some((32768, 60999)),
        },
        verdicts: Vec::new(),
        inputs: Vec::new(),
        start: None,
    }
    .judged()
}

fn report_json(s: &Summary) -> serde_json::Value {
    let mut out = Vec::new();
    JsonReporter
        .report(&ReportModel::from_summary(s), &mut out)
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// Writes `s` as a result file and reads it back, named `name`.
fn saved(s: &Summary, name: &str) -> ResultFile {
    let mut out = Vec::new();
    ResultFile::from_summary(s, None)
        .write(&ReportModel::from_summary(s), &mut out)
        .unwrap();
    ResultFile::parse(&out, name).unwrap()
}

#[test]
fn a_saved_summary_reports_exactly_as_the_live_one() {
    let latencies: Vec<u64> = (0..2_000u64).map(|i| 50 + (i * 7919) % 40_000).collect();
    let live = summary(T0_MS + 250, &latencies, 700);
    let file = saved(&live, "run.json");
    assert_eq!(file.started_at, "2026-12-01T09:30:00.250Z");
    assert_eq!(file.source, "run.json");
    let back = file.clone().into_summary().unwrap();
    assert_eq!(report_json(&back), report_json(&live));
    assert_eq!(back.total.latency(), live.total.latency());
    assert_eq!(back.series, live.series);
    assert_eq!(back.verdicts, live.verdicts);
    // The file itself: the JSON report's fields plus "result".
    let mut out = Vec::new();
    file.write(&ReportModel::from_summary(&back), &mut out)
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut report = doc.clone();
    report.as_object_mut().unwrap().remove("result");
    assert_eq!(report, report_json(&live));
    assert_eq!(doc["result"]["kind"], KIND);
    assert_eq!(doc["result"]["series"][0]["requests"], 700);
    assert!(doc["result"]["series"][0]["tally"]["latency"].is_string());
}

#[test]
fn merged_results_sum_counts_and_merge_histograms_exactly() {
    let a: Vec<u64> = (0..3_000u64).map(|i| 100 + (i * 31) % 9_000).collect();
    let b: Vec<u64> = (0..1_000u64).map(|i| 20_000 + (i * 17) % 200_000).collect();
    // b starts one interval after a: its first interval shares a's second slot.
    let (sa, sb) = (summary(T0_MS, &a, 1_000), summary(T0_MS + 1_000, &b, 500));
    let merged = merge(vec![saved(&sa, "a.json"), saved(&sb, "b.json")]).unwrap();

    let mut all = new_histogram();
    for &us in a.iter().chain(&b) {
        all.record(us).unwrap();
    }
    let timeouts = |n: usize| (0..n).filter(|i| i % 17 == 16).count() as u64;
    assert_eq!(merged.total.issued(), 4_000);
    assert_eq!(
        merged.total.errors(ErrorKind::Timeout),
        timeouts(3_000) + timeouts(1_000)
    );
    assert!(merged.total.balanced());
    assert_eq!(merged.total.bytes_sent, 400_000);
    // Only responses have a latency; timeouts recorded none.
    let mut responses = new_histogram();
    for (i, &us) in a.iter().enumerate().chain(b.iter().enumerate()) {
        if i % 17 != 16 {
            responses.record(us).unwrap();
        }
    }
    assert_eq!(merged.total.latency(), &responses);
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            quantile(merged.total.latency(), q),
            quantile(&responses, q),
            "q{q}"
        );
    }
    assert!(quantile(&all, 0.99) > 20_000, "the tail is b's");
    let targets: u64 = merged.targets.iter().map(|t| t.tally.issued()).sum();
    assert_eq!(targets, 4_000);
    // Wall clock: from a's start to b's end.
    assert_eq!(merged.started_at, at(T0_MS));
    assert_eq!(merged.elapsed, Duration::from_nanos(3_000_123_456));
    assert_eq!(merged.connections, 8);
    assert_eq!(merged.stop, Stop::Requests(4_000));
    // Series: a's 3 slots; b's 2 intervals land in slots 1 and 2.
    let requests: Vec<u64> = merged.series.iter().map(|i| i.requests).collect();
    assert_eq!(requests, [1_000, 1_500, 1_500]);
    let t: Vec<f64> = merged.series.iter().map(|i| i.t_s).collect();
    assert_eq!(t, [0.0, 1.0, 2.0]);
    // A row per input.
    let inputs: Vec<(&str, u64)> = merged
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.total.issued()))
        .collect();
    assert_eq!(inputs, [("a.json", 3_000), ("b.json", 1_000)]);
    // The thresholds (the same in both) judged on the merged figures.
    assert_eq!(merged.verdicts.len(), 1);
    let model = ReportModel::from_summary(&merged);
    assert_eq!(model.inputs.len(), 2);
    assert_eq!(model.total.latency_us.p99, quantile(&responses, 0.99));
}

#[test]
fn results_of_other_targets_or_intervals_are_refused() {
    let a = summary(T0_MS, &[100, 200, 300], 3);
    let mut b = a.clone();
    b.targets[1].url = "http://127.0.0.1:9999/".into();
    b.targets[1].name = "http://127.0.0.1:9999/".into();
    let err = merge(vec![saved(&a, "a.json"), saved(&b, "b.json")]).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ResultError::Incompatible { .. }), "{message}");
    assert!(
        message.starts_with("cannot merge a.json and b.json: they load different targets"),
        "{message}"
    );
    assert!(message.contains("http://127.0.0.1:9999/"), "{message}");
    let mut c = a.clone();
    c.stats_interval = Duration::from_millis(500);
    let message = merge(vec![saved(&a, "a.json"), saved(&c, "c.json")])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("c.json") && message.contains("statistics intervals differ"),
        "{message}"
    );
    assert!(matches!(merge(Vec::new()), Err(ResultError::Empty)));
}

#[test]
fn bad_files_say_which_and_why() {
    let good = {
        let s = summary(T0_MS, &[100, 200], 2);
        let mut out = Vec::new();
        ResultFile::from_summary(&s, None)
            .write(&ReportModel::from_summary(&s), &mut out)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out).unwrap()
    };
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = good.clone();
        f(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "x.json: not a JSON document"),
        (
            with(&|d| {
                d.as_object_mut().unwrap().remove("result");
            }),
            "x.json: not a myriad result file",
        ),
        (
            with(&|d| d["result"]["v"] = 2.into()),
            "x.json: a result of format version 2; this build reads version 1",
        ),
        (
            with(&|d| {
                d["result"].as_object_mut().unwrap().remove("run");
            }),
            "x.json: malformed result: missing field `run`",
        ),
    ];
    for (bytes, want) in cases {
        let message = ResultFile::parse(&bytes, "x.json").unwrap_err().to_string();
        assert!(message.starts_with(want), "{message}");
    }
    let bad_histogram = with(&|d| d["result"]["total"]["latency"] = "!!".into());
    let message = ResultFile::parse(&bad_histogram, "x.json")
        .unwrap()
        .into_summary()
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("x.json: malformed result: malformed histogram"),
        "{message}"
    );
    let missing = ResultFile::read(Path::new("/nonexistent/run.json")).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/run.json: cannot read it"),
        "{missing}"
    );
}

#[test]
fn rfc3339_in_utc() {
    let table = [
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (T0_MS + 59_999, "2026-12-01T09:30:59.999Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
    ];
    for (ms, want) in table {
        assert_eq!(rfc3339_utc(ms), want, "{ms}");
    }
}
