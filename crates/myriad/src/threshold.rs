//! Pass/fail checks on a finished run, so a CI pipeline can gate on a load test
//! (`--threshold 'p99<250ms' --threshold 'error_rate<0.1%'`) and the max-rate
//! search can tell whether a step met its SLOs.
//!
//! A [`Threshold`] is parsed once, with the unit its metric needs (a latency
//! without a unit is rejected: `250` could be ms or µs), and then judged once,
//! when the run ends, against the run's total [`Tally`] and measured time
//! ([`Threshold::evaluate`], called by [`crate::Summary::judged`]). The figures
//! come from the same helpers the report uses ([`quantile`], [`per_second`]), so
//! a verdict agrees with the numbers printed next to it. A latency threshold
//! with no response measured fails: no evidence is not a pass.
//!
//! This module reads tallies only: it knows nothing of summaries or reports.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::duration::parse_duration;
use crate::metrics::{per_second, quantile, Tally};
use crate::schedule::parse_rate_or_zero;
use crate::units::{format_count, format_micros};

/// The metrics a threshold may name, for error messages.
const METRICS: &str = "p50, p75, p90, p95, p99, p99.9, p99.99, min, mean, max, \
                       error_rate, rps, http_errors, failures";

/// Why a threshold did not parse; the message says which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// Not `<metric><operator><value>`.
    #[error(
        "invalid threshold '{0}': expected <metric><operator><value> like p99<250ms, \
         error_rate<0.1%, rps>5000 or failures==0 (operators: < <= > >= ==)"
    )]
    Syntax(String),
    /// A metric that is not one of [`Metric`]'s names.
    #[error(
        "invalid threshold '{input}': unknown metric '{metric}'; expected one of {}",
        METRICS
    )]
    Metric {
        /// The threshold as given.
        input: String,
        /// The metric as given.
        metric: String,
    },
    /// A value that is not what its metric needs.
    #[error("invalid threshold '{input}': {metric} needs {expected}")]
    Value {
        /// The threshold as given.
        input: String,
        /// The metric's name.
        metric: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A latency figure of all responses (microseconds).
    Latency(LatencyStat),
    /// (HTTP errors + failures) / issued, a fraction; 0 when nothing was issued.
    ErrorRate,
    /// Completed requests per second.
    Rps,
    /// Responses with a 4xx/5xx status (a count).
    HttpErrors,
    /// Requests that ended without a status (a count).
    Failures,
}

/// A latency figure of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyStat {
    /// Smallest.
    Min,
    /// Mean.
    Mean,
    /// Largest.
    Max,
    /// Median.
    P50,
    /// 75th percentile.
    P75,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P99_9,
    /// 99.99th percentile.
    P99_99,
}

impl Metric {
    /// The name a threshold uses for it (`p99.9`, `error_rate`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Latency(stat) => match stat {
                LatencyStat::Min => "min",
                LatencyStat::Mean => "mean",
                LatencyStat::Max => "max",
                LatencyStat::P50 => "p50",
                LatencyStat::P75 => "p75",
                LatencyStat::P90 => "p90",
                LatencyStat::P95 => "p95",
                LatencyStat::P99 => "p99",
                LatencyStat::P99_9 => "p99.9",
                LatencyStat::P99_99 => "p99.99",
            },
            Metric::ErrorRate => "error_rate",
            Metric::Rps => "rps",
            Metric::HttpErrors => "http_errors",
            Metric::Failures => "failures",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Metric> {
        let stat = match name {
            "min" => LatencyStat::Min,
            "mean" | "avg" => LatencyStat::Mean,
            "max" => LatencyStat::Max,
            "p50" | "median" => LatencyStat::P50,
            "p75" => LatencyStat::P75,
            "p90" => LatencyStat::P90,
            "p95" => LatencyStat::P95,
            "p99" => LatencyStat::P99,
            "p99.9" => LatencyStat::P99_9,
            "p99.99" => LatencyStat::P99_99,
            "error_rate" => return Some(Metric::ErrorRate),
            "rps" => return Some(Metric::Rps),
            "http_errors" => return Some(Metric::HttpErrors),
            "failures" => return Some(Metric::Failures),
            _ => return None,
        };
        Some(Metric::Latency(stat))
    }

    /// What a valid value of this metric looks like.
    fn expected(self) -> &'static str {
        match self {
            Metric::Latency(_) => "a duration with a unit, like 250ms, 1.5s or 800us",
            Metric::ErrorRate => "a percentage like 0.1% or a fraction like 0.001, at most 100%",
            Metric::Rps => "requests per second like 5000, 0.5 or 300000/m",
            Metric::HttpErrors | Metric::Failures => "a whole number like 0 or 10",
        }
    }

    /// The value in the metric's unit (µs, fraction, req/s, count), or `None`.
    fn parse_value(self, s: &str) -> Option<f64> {
        match self {
            Metric::Latency(_) => parse_duration(s).ok().map(|d| d.as_secs_f64() * 1e6),
            Metric::ErrorRate => {
                let (num, scale) = match s.strip_suffix('%') {
                    Some(num) => (num, 0.01),
                    None => (s, 1.0),
                };
                // parse_rate_or_zero takes the same plain non-negative numbers.
                if num.contains('/') {
                    return None;
                }
                let rate = parse_rate_or_zero(num)? * scale;
                (rate <= 1.0).then_some(rate)
            }
            Metric::Rps => parse_rate_or_zero(s),
            Metric::HttpErrors | Metric::Failures => s.parse::<u64>().ok().map(|n| n as f64),
        }
    }
}

/// How the actual value must compare with the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    /// Whether `actual <op> limit` holds.
    pub fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Lt => actual < limit,
            Op::Le => actual <= limit,
            Op::Gt => actual > limit,
            Op::Ge => actual >= limit,
            Op::Eq => actual == limit,
        }
    }
}

/// A pass/fail check such as `p99<250ms`, `error_rate<0.1%` or `rps>=5000`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    source: String,
    metric: Metric,
    op: Op,
    limit: f64,
}

impl Threshold {
    /// What it measures.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// How the actual value must compare with the limit.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The limit in the metric's unit: microseconds for latency, a fraction for
    /// `error_rate`, requests per second for `rps`, a count for the counts.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The threshold as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Judges the threshold against a finished run's figures: `total`, the
    /// tally of all targets, measured over `measured` (the run less its warm-up).
    pub fn evaluate(&self, total: &Tally, measured: Duration) -> Verdict {
        let (actual_value, actual) = match self.metric {
            Metric::Latency(_) if total.latency().is_empty() => {
                return Verdict {
                    threshold: self.source.clone(),
                    actual: "no responses".into(),
                    actual_value: 0.0,
                    passed: false,
                };
            }
            Metric::Latency(stat) => {
                let us = stat.of(total.latency());
                (us, format_micros(us.round() as u64))
            }
            Metric::ErrorRate => {
                let rate = total.error_rate();
                (rate, format_percent(rate))
            }
            Metric::Rps => {
                let rate = per_second(total.completed(), measured);
                (rate, format_rps(rate))
            }
            Metric::HttpErrors => count(total.http_errors()),
            Metric::Failures => count(total.failures()),
        };
        Verdict {
            threshold: self.source.clone(),
            actual,
            actual_value,
            passed: self.op.holds(actual_value, self.limit),
        }
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    /// Parses `<metric><operator><value>`; whitespace anywhere is ignored and
    /// metric names are case-insensitive.
    fn from_str(input: &str) -> Result<Threshold, ThresholdError> {
        let source = input.trim().to_string();
        let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        let syntax = || ThresholdError::Syntax(source.clone());
        let at = compact.find(['<', '>', '=', '!']).ok_or_else(syntax)?;
        let (name, rest) = compact.split_at(at);
        let (op, value) = [Op::Le, Op::Ge, Op::Eq, Op::Lt, Op::Gt]
            .into_iter()
            .find_map(|op| rest.strip_prefix(op.symbol()).map(|value| (op, value)))
            .ok_or_else(syntax)?;
        if name.is_empty() || value.is_empty() || value.starts_with(['<', '>', '=', '!']) {
            return Err(syntax());
        }
        let metric = Metric::from_name(&name.to_ascii_lowercase()).ok_or_else(|| {
            ThresholdError::Metric {
                input: source.clone(),
                metric: name.to_string(),
            }
        })?;
        let limit = metric
            .parse_value(value)
            .ok_or_else(|| ThresholdError::Value {
                input: source.clone(),
                metric: metric.name(),
                expected: metric.expected(),
            })?;
        Ok(Threshold {
            source,
            metric,
            op,
            limit,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The outcome of one threshold, as printed in the pass/fail table and written
/// to the JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The threshold as given, e.g. `p99<250ms`.
    pub threshold: String,
    /// The actual value formatted for people: `212.30ms`, `0.05%`,
    /// `5,120.4 req/s`, `12`, or `no responses`.
    pub actual: String,
    /// The actual value in the metric's unit (µs, fraction, req/s, count).
    pub actual_value: f64,
    /// Whether the threshold held.
    pub passed: bool,
}

impl LatencyStat {
    /// The figure of a non-empty latency histogram, as the report computes it.
    pub(crate) fn of(self, h: &Histogram<u64>) -> f64 {
        let q = |q: f64| quantile(h, q) as f64;
        match self {
            LatencyStat::Min => h.min() as f64,
            LatencyStat::Mean => h.mean(),
            LatencyStat::Max => h.max() as f64,
            LatencyStat::P50 => q(0.50),
            LatencyStat::P75 => q(0.75),
            LatencyStat::P90 => q(0.90),
            LatencyStat::P95 => q(0.95),
            LatencyStat::P99 => q(0.99),
            LatencyStat::P99_9 => q(0.999),
            LatencyStat::P99_99 => q(0.9999),
        }
    }
}

fn count(n: u64) -> (f64, String) {
    (n as f64, format_count(n))
}

/// A fraction as a percentage with up to four decimals and no trailing zeros:
/// `0.05%`, `10%`, `0.001%`, so a small rate never reads as `0.00%`.
fn format_percent(fraction: f64) -> String {
    let s = format!("{:.4}", fraction * 100.0);
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// `5120.43` as `5,120.4 req/s`.
fn format_rps(rate: f64) -> String {
    let tenths = (rate.max(0.0) * 10.0).round() as u64;
    format!("{}.{} req/s", format_count(tenths / 10), tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ErrorKind, Outcome};

    fn parse(s: &str) -> Result<Threshold, ThresholdError> {
        s.parse()
    }

    #[test]
    fn parses() {
        use LatencyStat::*;
        let ok = [
            ("p50<250ms", Metric::Latency(P50), Op::Lt, 250_000.0),
            ("p99<=1s", Metric::Latency(P99), Op::Le, 1_000_000.0),
            ("p99.9<500ms", Metric::Latency(P99_9), Op::Lt, 500_000.0),
            ("p99.99<2s", Metric::Latency(P99_99), Op::Lt, 2_000_000.0),
            ("p75<1m", Metric::Latency(P75), Op::Lt, 60_000_000.0),
            ("p90<800us", Metric::Latency(P90), Op::Lt, 800.0),
            ("p95<1.5ms", Metric::Latency(P95), Op::Lt, 1_500.0),
            ("mean<10ms", Metric::Latency(Mean), Op::Lt, 10_000.0),
            ("avg<10ms", Metric::Latency(Mean), Op::Lt, 10_000.0),
            ("max<3s", Metric::Latency(Max), Op::Lt, 3_000_000.0),
            ("min>100us", Metric::Latency(Min), Op::Gt, 100.0),
            ("min>=0", Metric::Latency(Min), Op::Ge, 0.0),
            ("error_rate<0.1%", Metric::ErrorRate, Op::Lt, 0.001),
            ("error_rate<0.001", Metric::ErrorRate, Op::Lt, 0.001),
            ("error_rate<=100%", Metric::ErrorRate, Op::Le, 1.0),
            ("error_rate==0", Metric::ErrorRate, Op::Eq, 0.0),
            ("rps>5000", Metric::Rps, Op::Gt, 5000.0),
            ("rps>=5000", Metric::Rps, Op::Ge, 5000.0),
            ("rps>300000/m", Metric::Rps, Op::Gt, 5000.0),
            ("failures==0", Metric::Failures, Op::Eq, 0.0),
            ("failures<10", Metric::Failures, Op::Lt, 10.0),
            ("http_errors<5", Metric::HttpErrors, Op::Lt, 5.0),
            ("p99 < 250ms", Metric::Latency(P99), Op::Lt, 250_000.0),
            (" P99 <= 250 ms ", Metric::Latency(P99), Op::Le, 250_000.0),
            ("error_rate < 0.1 %", Metric::ErrorRate, Op::Lt, 0.001),
        ];
        for (input, metric, op, limit) in ok {
            let t = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((t.metric(), t.op()), (metric, op), "{input}");
            assert!((t.limit() - limit).abs() < 1e-9 * limit.max(1.0), "{input}");
            assert_eq!(t.as_str(), input.trim());
            assert_eq!(t.to_string(), input.trim());
        }

        let syntax = |s: &str| ThresholdError::Syntax(s.trim().into());
        let value = |s: &str, metric, expected| ThresholdError::Value {
            input: s.into(),
            metric,
            expected,
        };
        let latency = Metric::Latency(P99).expected();
        let bad = [
            ("", syntax("")),
            ("p99", syntax("p99")),
            ("<250ms", syntax("<250ms")),
            ("p99<", syntax("p99<")),
            ("p99=250ms", syntax("p99=250ms")),
            ("p99!=250ms", syntax("p99!=250ms")),
            ("p99<<250ms", syntax("p99<<250ms")),
            ("p99=<250ms", syntax("p99=<250ms")),
            ("p99<250", value("p99<250", "p99", latency)),
            ("p99<fast", value("p99<fast", "p99", latency)),
            ("mean<-1ms", value("mean<-1ms", "mean", latency)),
            (
                "error_rate<5",
                value("error_rate<5", "error_rate", Metric::ErrorRate.expected()),
            ),
            (
                "error_rate<150%",
                value(
                    "error_rate<150%",
                    "error_rate",
                    Metric::ErrorRate.expected(),
                ),
            ),
            (
                "error_rate<1/m",
                value("error_rate<1/m", "error_rate", Metric::ErrorRate.expected()),
            ),
            ("rps>lots", value("rps>lots", "rps", Metric::Rps.expected())),
            (
                "failures<1.5",
                value("failures<1.5", "failures", Metric::Failures.expected()),
            ),
            (
                "http_errors<-1",
                value(
                    "http_errors<-1",
                    "http_errors",
                    Metric::HttpErrors.expected(),
                ),
            ),
            (
                "p97<1s",
                ThresholdError::Metric {
                    input: "p97<1s".into(),
                    metric: "p97".into(),
                },
            ),
        ];
        for (input, want) in bad {
            assert_eq!(parse(input), Err(want), "{input}");
        }
        let message = parse("latency<1s").unwrap_err().to_string();
        assert!(
            message.contains("'latency'") && message.contains("p99.9") && message.contains("rps"),
            "{message}"
        );
        let message = parse("p99").unwrap_err().to_string();
        assert!(message.contains("p99<250ms"), "{message}");
        let message = parse("p99<250").unwrap_err().to_string();
        assert!(message.contains("250ms"), "{message}");
    }

    /// The measured time of the test run.
    const MEASURED: Duration = Duration::from_millis(2500);

    /// 1000 requests over 2.5 s: 800 succeed, 100 get a 503, 100 time out;
    /// latencies 1 ms to 100 ms, one per 100 µs step, so p99 is about 99 ms.
    fn total() -> Tally {
        let mut total = Tally::new();
        for i in 0..1000u64 {
            let outcome = match i % 10 {
                7 => Outcome::Status(503),
                8 => Outcome::Error(ErrorKind::Timeout),
                _ => Outcome::Status(200),
            };
            total.issue();
            total.record(outcome, 1_000 + i * 100);
        }
        total
    }

    #[test]
    fn evaluates_against_a_tally() {
        let total = total();
        let latency = total.latency();
        assert_eq!(per_second(total.completed(), MEASURED), 400.0);
        let p99 = quantile(latency, 0.99);
        // (threshold, actual, passed)
        let table = [
            ("p99<250ms", format_micros(p99), true),
            ("p99<50ms", format_micros(p99), false),
            ("p99>=1ms", format_micros(p99), true),
            ("p50<=60ms", format_micros(quantile(latency, 0.5)), true),
            ("min>1ms", "1.00ms".to_string(), false),
            ("min>=1ms", "1.00ms".to_string(), true),
            ("max<100ms", format_micros(latency.max()), false),
            // HDR's mean of 1..100 ms in 100 µs steps: 50.95 ms give or take a bucket.
            ("mean<60ms", "50.91ms".to_string(), true),
            ("error_rate<0.1%", "20%".to_string(), false),
            ("error_rate<=20%", "20%".to_string(), true),
            ("error_rate<0.25", "20%".to_string(), true),
            ("rps>5000", "400.0 req/s".to_string(), false),
            ("rps>=400", "400.0 req/s".to_string(), true),
            ("rps>=24000/m", "400.0 req/s".to_string(), true),
            ("failures==0", "100".to_string(), false),
            ("failures<=100", "100".to_string(), true),
            ("http_errors<101", "100".to_string(), true),
            ("http_errors>100", "100".to_string(), false),
        ];
        for (threshold, actual, passed) in table {
            let v = parse(threshold).unwrap().evaluate(&total, MEASURED);
            assert_eq!(v.threshold, threshold);
            assert_eq!(
                (v.actual.as_str(), v.passed),
                (actual.as_str(), passed),
                "{threshold}"
            );
        }
        let v = parse("error_rate<0.1%").unwrap().evaluate(&total, MEASURED);
        assert!((v.actual_value - 0.2).abs() < 1e-12);
        let v = parse("p99<250ms").unwrap().evaluate(&total, MEASURED);
        assert_eq!(v.actual_value, p99 as f64);
        assert!((98_000..=100_000).contains(&p99), "{p99}");
    }

    #[test]
    fn empty_run_has_no_errors_and_no_latency() {
        let total = Tally::new();
        let table = [
            ("error_rate==0", "0%", true),
            ("failures==0", "0", true),
            ("rps>0", "0.0 req/s", false),
            // No response measured: a latency threshold cannot pass.
            ("p99<1s", "no responses", false),
            ("max>=0", "no responses", false),
        ];
        for (threshold, actual, passed) in table {
            let v = parse(threshold).unwrap().evaluate(&total, MEASURED);
            assert_eq!(
                (v.actual.as_str(), v.passed),
                (actual, passed),
                "{threshold}"
            );
        }
    }

    #[test]
    fn verdict_serialises() {
        let v = parse("rps>5000").unwrap().evaluate(&total(), MEASURED);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "threshold": "rps>5000",
                "actual": "400.0 req/s",
                "actual_value": 400.0,
                "passed": false,
            })
        );
    }

    #[test]
    fn formats() {
        let table = [
            (0.0, "0%"),
            (0.0005, "0.05%"),
            (0.1, "10%"),
            (0.00001, "0.001%"),
            (1.0 / 3.0, "33.3333%"),
            (1.0, "100%"),
        ];
        for (fraction, want) in table {
            assert_eq!(format_percent(fraction), want, "{fraction}");
        }
        assert_eq!(format_rps(5120.43), "5,120.4 req/s");
        assert_eq!(format_rps(5120.96), "5,121.0 req/s");
        assert_eq!(format_rps(0.0), "0.0 req/s");
    }
}
