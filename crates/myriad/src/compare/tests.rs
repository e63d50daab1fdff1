use super::*;
use crate::result::tests::{summary, T0_MS};

fn parse(s: &str) -> Result<FailIf, FailIfError> {
    s.parse()
}

#[test]
fn fail_if_parses() {
    use LatencyStat::*;
    let ok = [
        ("p99>+10%", Metric::Latency(P99), Op::Gt, 10.0),
        ("p99>10%", Metric::Latency(P99), Op::Gt, 10.0),
        ("p99.9 >= +2.5 %", Metric::Latency(P99_9), Op::Ge, 2.5),
        ("rps<-5%", Metric::Rps, Op::Lt, -5.0),
        ("RPS<=-0.5%", Metric::Rps, Op::Le, -0.5),
        ("error_rate>+0.5%", Metric::ErrorRate, Op::Gt, 0.5),
        ("mean>+1%", Metric::Latency(Mean), Op::Gt, 1.0),
        ("max>+100%", Metric::Latency(Max), Op::Gt, 100.0),
    ];
    for (input, metric, op, limit) in ok {
        let f = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!((f.metric, f.op, f.limit), (metric, op, limit), "{input}");
        assert_eq!(f.as_str(), input.trim());
    }
    let bad = [
        ("p99", "no operator"),
        ("p99==+10%", "one of < <= > >="),
        ("p99!=10%", "one of < <= > >="),
        ("p97>+10%", "unknown metric 'p97'"),
        ("failures>+10%", "unknown metric 'failures'"),
        ("p99>+10", "needs a % sign"),
        ("p99>10ms", "needs a % sign"),
        ("p99>+%", "not a change"),
        ("p99>++1%", "not a change"),
        ("p99>abc%", "not a change"),
        ("p99>inf%", "not a change"),
    ];
    for (input, why) in bad {
        let message = parse(input).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("invalid --fail-if '{input}'")),
            "{message}"
        );
        assert!(message.contains(why), "{input}: {message}");
        assert!(message.contains("p99>+10%"), "{message}");
    }
}

#[test]
fn compares_figures_and_judges_checks() {
    // new: every latency 20% higher, the same requests in 2 s instead of 3 s.
    let base_lat: Vec<u64> = (0..3_000u64).map(|i| 1_000 + i * 10).collect();
    let new_lat: Vec<u64> = base_lat.iter().map(|v| v * 12 / 10).collect();
    let (base, new) = (
        summary(T0_MS, &base_lat, 1_000),
        summary(T0_MS, &new_lat, 1_500),
    );
    let checks: Vec<FailIf> = ["p99>+10%", "p99>+25%", "rps<-20%", "error_rate>+0.5%"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let c = compare(("base.json", &base), ("new.json", &new), &checks);
    let row = |m: &str| c.rows.iter().find(|r| r.metric == m).unwrap().clone();
    let p99 = row("p99").change.unwrap();
    assert!((19.0..21.0).contains(&p99), "{p99}");
    assert_eq!(row("p99").unit, "us");
    let rps = row("rps");
    assert!((49.0..51.0).contains(&rps.change.unwrap()), "{rps:?}");
    assert_eq!(
        (rps.base, rps.new),
        (
            Some(base.requests_per_second()),
            Some(new.requests_per_second())
        )
    );
    let failed: Vec<(&str, bool)> = c
        .checks
        .iter()
        .map(|k| (k.fail_if.as_str(), k.failed))
        .collect();
    assert_eq!(
        failed,
        [
            ("p99>+10%", true),
            ("p99>+25%", false),
            ("rps<-20%", false),
            ("error_rate>+0.5%", false)
        ]
    );
    assert!(c.regressed);
    let er = row("error_rate");
    assert_eq!(er.change_unit, "points");
    let want = (new.total.error_rate() - base.total.error_rate()) * 100.0;
    assert_eq!(er.change, Some(want));
    let text = c.text();
    assert!(
        text.starts_with("Comparison  base.json  ->  new.json\n"),
        "{text}"
    );
    assert!(text.contains("FAIL  p99>+10%"), "{text}");
    assert!(text.contains("PASS  p99>+25%"), "{text}");
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["schema"], "myriad-compare/1");
    assert_eq!(json["regressed"], true);
    assert_eq!(json["checks"][0]["failed"], true);
}

#[test]
fn changes_from_zero_and_without_responses() {
    assert_eq!(change(Metric::Rps, 0.0, 0.0), 0.0);
    assert_eq!(change(Metric::Rps, 0.0, 5.0), f64::INFINITY);
    assert_eq!(change(Metric::Rps, 100.0, 95.0), -5.0);
    assert_eq!(change(Metric::ErrorRate, 0.001, 0.006), 0.5);
    let some = summary(T0_MS, &[100, 200, 300], 3);
    let mut none = some.clone();
    none.total = crate::metrics::Tally::new();
    let checks = ["p99>+10%".parse().unwrap(), "rps<-50%".parse().unwrap()];
    let c = compare(("a", &some), ("b", &none), &checks);
    assert_eq!(c.checks[0].actual, "no responses");
    assert!(c.checks[0].failed, "no evidence is not a pass");
    assert!(c.checks[1].failed, "rps fell to 0");
}
