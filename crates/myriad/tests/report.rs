//! Reporters: a fixed summary gives exact text (golden file), and every JSON
//! report validates against the committed schema.
//!
//! To accept a deliberate change of the text report, run
//! `UPDATE_GOLDEN=1 cargo test -p myriad --test report` and review the diff.

mod support;

use std::time::Duration;

use myriad::metrics::{Gauges, LimitHits};
use myriad::report::{JsonReporter, ReportModel, Reporter, TextReporter, JSON_SCHEMA};
use myriad::resources::{ClientUsage, InterfaceUsage, ResourceSample, TargetUsage};
use myriad::summary::{IntervalStats, KernelUsage};
use myriad::summary::{Machine, TargetSummary};
use myriad::sys::CpuTime;
use myriad::{Config, ErrorKind, Outcome, Stop, Summary, Tally};
use myriad_server::ServerConfig;

fn connect_latency() -> hdrhistogram::Histogram<u64> {
    let mut r = myriad::metrics::Recorder::new(1);
    for us in [80, 95, 120, 400, 2_000, 90, 85, 100, 110, 130, 150, 99] {
        r.connected(us);
    }
    r.connect_latency
}

/// One interval's resources: the client, a watched nginx, loopback traffic.
fn resources(cpu: f64, rss: u64, rx: u64) -> ResourceSample {
    ResourceSample {
        span_s: 1.0,
        client: ClientUsage {
            cpu_cores: cpu,
            rss_bytes: rss,
        },
        targets: vec![TargetUsage {
            name: "nginx".into(),
            pid: Some(4242),
            cpu_cores: cpu / 2.0,
            rss_bytes: Some(rss / 4),
        }],
        network: vec![InterfaceUsage {
            interface: "lo".into(),
            rx_bytes: rx,
            tx_bytes: rx,
            rx_packets: rx / 500,
            tx_packets: rx / 500,
        }],
    }
}

/// A summary with every section filled, built from fixed numbers.
fn fixed_summary() -> Summary {
    let mut a = Tally::new();
    let mut b = Tally::new();
    for i in 0..1000u64 {
        let (t, outcome) = match i % 10 {
            0..=6 => (&mut a, Outcome::Status(200)),
            7 => (&mut b, Outcome::Status(503)),
            8 => (&mut b, Outcome::Error(ErrorKind::Timeout)),
            _ => (&mut b, Outcome::Status(200)),
        };
        t.issue();
        t.record(
            outcome,
            100 + (i * 37) % 5000 + if i == 999 { 250_000 } else { 0 },
        );
    }
    a.bytes_sent = 70_000;
    a.bytes_received = 1_234_567;
    b.bytes_sent = 30_000;
    b.bytes_received = 400_000;
    let mut all = Tally::new();
    all.merge(&a);
    all.merge(&b);
    Summary {
        started_at: std::time::UNIX_EPOCH + Duration::from_secs(1_796_117_400),
        elapsed: Duration::from_millis(2500),
        connections: 10,
        threads: 2,
        processes: 1,
        source_addresses: 0,
        stop: Stop::Requests(1000),
        keep_alive: true,
        interval: None,
        total: all,
        targets: vec![
            TargetSummary {
                name: "http://127.0.0.1:8080/".into(),
                url: "http://127.0.0.1:8080/".into(),
                tally: a,
            },
            TargetSummary {
                name: "http://127.0.0.1:8081/".into(),
                url: "http://127.0.0.1:8081/".into(),
                tally: b,
            },
        ],
        connections_opened: 12,
        send_lag: hdrhistogram::Histogram::new(3).unwrap(),
        loop_stall: hdrhistogram::Histogram::new(3).unwrap(),
        connect_latency: connect_latency(),
        tls_handshake: Tally::new().latency().clone(),
        tls_resumed: 0,
        gauges: Gauges {
            open: 0,
            peak_open: 10,
            established: 10,
            planned: 10,
            establish_us: 12_345,
        },
        limits: LimitHits {
            open_files: 0,
            ephemeral_ports: 0,
        },
        open_files_limit: 20_000,
        cpu: CpuTime {
            user: Duration::from_millis(150),
            system: Duration::from_millis(850),
        },
        peak_rss_bytes: 24 * 1024 * 1024,
        kernel: Some(KernelUsage {
            tcp_buffers: 8192,
            slab: 200_000,
            tcp_sockets: 20,
        }),
        worker_failures: vec![],
        open_model: false,
        stats_interval: Duration::from_secs(1),
        warmup_duration: None,
        thresholds: Vec::new(),
        warmup: Tally::new(),
        series: vec![
            IntervalStats {
                t_s: 0.0,
                requests: 450,
                errors: 90,
                dropped: 0,
                rps: 450.0,
                p50_us: 2400,
                p90_us: 4500,
                p99_us: 5000,
                max_us: 5100,
                warmup_requests: 0,
                open_connections: 10,
                tally: None,
                resources: Some(resources(1.5, 20 << 20, 1_000_000)),
            },
            IntervalStats {
                t_s: 1.0,
                requests: 550,
                errors: 110,
                dropped: 0,
                rps: 550.0,
                p50_us: 2500,
                p90_us: 4600,
                p99_us: 5050,
                max_us: 252_160,
                warmup_requests: 0,
                open_connections: 10,
                tally: None,
                resources: Some(resources(0.5, 24 << 20, 600_000)),
            },
        ],
        interrupted: false,
        machine: Machine {
            cores: 4,
            ephemeral_port_range: Some((32768, 60999)),
        },
        verdicts: Vec::new(),
        inputs: Vec::new(),
        start: None,
    }
}

#[test]
fn text_report_matches_golden() {
    let mut out = Vec::new();
    TextReporter
        .report(&ReportModel::from_summary(&fixed_summary()), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/report.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(path).expect("golden file; run with UPDATE_GOLDEN=1");
    assert_eq!(
        text, golden,
        "text report changed; UPDATE_GOLDEN=1 to accept"
    );
}

fn validate(json: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

fn json_of(s: &Summary) -> serde_json::Value {
    let mut out = Vec::new();
    JsonReporter
        .report(&ReportModel::from_summary(s), &mut out)
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn json_report_of_fixed_summary_validates_and_adds_up() {
    let json = json_of(&fixed_summary());
    validate(&json);
    let r = &json["total"]["requests"];
    assert_eq!(r["issued"], 1000);
    assert_eq!(r["succeeded"], 800);
    assert_eq!(r["http_errors"], 100);
    assert_eq!(r["failures"], 100);
    assert_eq!(r["balanced"], true);
    assert_eq!(r["per_second"], 400.0);
    assert_eq!(json["total"]["errors"]["timeout"], 100);
    assert_eq!(json["total"]["status"]["503"], 100);
    assert_eq!(json["targets"][1]["url"], "http://127.0.0.1:8081/");
    let hist: u64 = json["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(hist, 900, "every response is in one bucket");
    let res = &json["resources"];
    assert_eq!(res["peak_client_rss_bytes"], 24 << 20);
    assert_eq!(res["mean_client_cpu_cores"], 1.0);
    assert_eq!(res["network"][0]["rx_bytes"], 1_600_000);
    assert_eq!(res["targets"][0]["pid"], 4242);
    assert_eq!(res["targets"][0]["mean_cpu_cores"], 0.5);
    assert_eq!(json["series"][1]["resources"]["client"]["cpu_cores"], 0.5);
    assert_eq!(
        json["series"][0]["resources"]["network"][0]["interface"],
        "lo"
    );
}

/// `IntervalStats` goes through serde whole (result files read it back),
/// resources included; an interval without them reads back as without.
#[test]
fn interval_stats_round_trip_through_json() {
    for stats in fixed_summary().series {
        let text = serde_json::to_string(&stats).unwrap();
        let back: IntervalStats = serde_json::from_str(&text).unwrap();
        assert_eq!(back, stats);
        let bare = IntervalStats {
            resources: None,
            ..stats
        };
        let text = serde_json::to_string(&bare).unwrap();
        assert!(!text.contains("resources"), "{text}");
        assert_eq!(serde_json::from_str::<IntervalStats>(&text).unwrap(), bare);
    }
}

#[test]
fn json_report_of_real_runs_validates() {
    let server = support::builtin(ServerConfig::default());
    let mut c = Config::new(&[support::url(server.local_addr())]).unwrap();
    c.load = myriad::Load::closed(4, Stop::Requests(200)).unwrap();
    validate(&json_of(&myriad::run(c).unwrap()));

    // A run where everything fails: no latency, errors, notes.
    let mut c = Config::new(&[support::url(support::refused_addr())]).unwrap();
    c.load = myriad::Load::closed(2, Stop::Duration(Duration::from_millis(100))).unwrap();
    let json = json_of(&myriad::run(c).unwrap());
    validate(&json);
    assert!(json["series"][0]["resources"]["client"]["rss_bytes"].as_u64() > Some(0));
    assert_eq!(json["total"]["latency_us"]["count"], 0);
    assert!(json["notes"][0]
        .as_str()
        .unwrap()
        .contains("every connect failed"));
}

/// Thresholds are judged once, into the summary; every report shows those
/// verdicts, and the machine's facts come from the summary, not the machine.
#[test]
fn reports_read_the_verdicts_and_machine_facts_of_the_summary() {
    let mut s = fixed_summary();
    s.thresholds = vec!["rps>=400".parse().unwrap(), "p99<1ms".parse().unwrap()];
    assert!(
        !s.thresholds_passed(),
        "unjudged thresholds have not passed"
    );
    s.limits.ephemeral_ports = 3;
    s.machine.ephemeral_port_range = Some((1000, 2000));
    let s = s.judged();
    let passed: Vec<bool> = s.verdicts.iter().map(|v| v.passed).collect();
    assert_eq!(passed, [true, false]);
    assert!(!s.thresholds_passed());
    assert_eq!(
        s.clone().judged().verdicts,
        s.verdicts,
        "judging is idempotent"
    );

    let model = ReportModel::from_summary(&s);
    assert_eq!(model.thresholds, s.verdicts);
    let json = json_of(&s);
    validate(&json);
    assert_eq!(json["thresholds"][0]["threshold"], "rps>=400");
    assert_eq!(json["thresholds"][1]["passed"], false);
    assert!(json["notes"]
        .to_string()
        .contains("net.ipv4.ip_local_port_range = 1000-2000"));
    let mut out = Vec::new();
    TextReporter.report(&model, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("rps>=400") && text.contains("p99<1ms"),
        "{text}"
    );
}
