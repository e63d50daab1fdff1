//! Two results side by side (`myriad compare BASE NEW`), with the change of
//! each figure and regression checks for CI (`--fail-if 'p99>+10%'`).
//!
//! # The `--fail-if` grammar
//! `<metric><operator><change>%`, whitespace ignored, metric names as in
//! thresholds:
//!
//! - `metric`: `rps`, a latency (`min`, `mean`, `max`, `p50`, `p75`, `p90`,
//!   `p95`, `p99`, `p99.9`, `p99.99`), or `error_rate`;
//! - `operator`: `>`, `>=`, `<`, `<=`;
//! - `change`: a signed number and `%` (`+10%`, `-5%`, `10%` = `+10%`). For
//!   `rps` and latencies it is the relative change of NEW against BASE, in
//!   percent; for `error_rate` it is the absolute change in percentage
//!   points (`error_rate>+0.5%` holds when 0.1% became more than 0.6%).
//!
//! A check *fails the comparison when it holds*: `p99>+10%` fails when p99
//! grew by more than 10%, `rps<-5%` when the throughput fell by more than 5%.
//! From a base of 0 any rise is an infinite change. A latency check where
//! either side measured no response fails: no evidence is not a pass.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;

use crate::summary::Summary;
use crate::threshold::{LatencyStat, Metric, Op};
use crate::units::{format_count, format_micros};

/// Why a `--fail-if` check did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid --fail-if '{input}': {why}; expected <metric><operator><change>% like \
     p99>+10%, rps<-5% or error_rate>+0.5% (operators: < <= > >=)"
)]
pub struct FailIfError {
    /// The check as given.
    pub input: String,
    /// What is wrong with it.
    pub why: String,
}

/// A regression check: fails the comparison when the change of its metric
/// compares with its limit as its operator says (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct FailIf {
    source: String,
    metric: Metric,
    op: Op,
    limit: f64,
}

impl FailIf {
    /// The check as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the check holds for `change` (percent, or points for rates).
    fn holds(&self, change: f64) -> bool {
        self.op.holds(change, self.limit)
    }
}

impl std::fmt::Display for FailIf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for FailIf {
    type Err = FailIfError;

    fn from_str(input: &str) -> Result<FailIf, FailIfError> {
        let source = input.trim().to_string();
        let err = |why: &str| FailIfError {
            input: source.clone(),
            why: why.into(),
        };
        let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        let at = compact
            .find(['<', '>', '=', '!'])
            .ok_or_else(|| err("no operator"))?;
        let (name, rest) = compact.split_at(at);
        let (op, value) = [Op::Le, Op::Ge, Op::Lt, Op::Gt]
            .into_iter()
            .find_map(|op| rest.strip_prefix(op.symbol()).map(|v| (op, v)))
            .ok_or_else(|| err("the operator must be one of < <= > >="))?;
        let metric = match Metric::from_name(&name.to_ascii_lowercase()) {
            Some(m @ (Metric::Rps | Metric::ErrorRate | Metric::Latency(_))) => m,
            _ => {
                return Err(err(&format!(
                    "unknown metric '{name}' (rps, error_rate, min, mean, max, p50, p75, p90, p95, p99, p99.9, p99.99)"
                )))
            }
        };
        let number = value
            .strip_suffix('%')
            .ok_or_else(|| err("the change needs a % sign"))?;
        let unsigned = number.strip_prefix(['+', '-']).unwrap_or(number);
        let limit = number
            .parse::<f64>()
            .ok()
            .filter(|n| {
                n.is_finite()
                    && !unsigned.is_empty()
                    && unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            })
            .ok_or_else(|| err(&format!("'{value}' is not a change like +10% or -5%")))?;
        Ok(FailIf {
            source,
            metric,
            op,
            limit,
        })
    }
}

/// One figure of both results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Its name (`rps`, `p99`, `error_rate`, as `--fail-if` names it).
    pub metric: &'static str,
    /// The unit of `base` and `new`: `req/s`, `us`, `fraction` or `count`.
    pub unit: &'static str,
    /// BASE's value; null for a latency without responses.
    pub base: Option<f64>,
    /// NEW's value; null for a latency without responses.
    pub new: Option<f64>,
    /// NEW against BASE: percent, or percentage points for `error_rate`
    /// (`change_unit`); null when undefined (a rise from 0, no responses).
    pub change: Option<f64>,
    /// `%` or `points`.
    pub change_unit: &'static str,
}

/// The outcome of one `--fail-if` check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// The check as given.
    pub fail_if: String,
    /// The change it judged (as in [`Row::change`]).
    pub change: Option<f64>,
    /// The change for people: `+4.2%`, `+0.05 pts`, `+inf` (a rise from 0)
    /// or `no responses`.
    pub actual: String,
    /// Whether it held, i.e. the comparison found a regression.
    pub failed: bool,
}

/// BASE and NEW side by side: what `myriad compare` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Always `myriad-compare/1`.
    pub schema: &'static str,
    /// The base result's name.
    pub base: String,
    /// The new result's name.
    pub new: String,
    /// The figures.
    pub rows: Vec<Row>,
    /// The `--fail-if` checks, in the order given.
    pub checks: Vec<Check>,
    /// Whether some check failed.
    pub regressed: bool,
}

/// The figures every comparison shows, in order.
const ROWS: [Metric; 9] = [
    Metric::Rps,
    Metric::Latency(LatencyStat::P50),
    Metric::Latency(LatencyStat::P90),
    Metric::Latency(LatencyStat::P99),
    Metric::Latency(LatencyStat::P99_9),
    Metric::Latency(LatencyStat::Max),
    Metric::Latency(LatencyStat::Mean),
    Metric::ErrorRate,
    Metric::Failures,
];

/// The value of `metric` in `s`, in its unit; `None` for a latency without responses.
fn value(metric: Metric, s: &Summary) -> Option<f64> {
    let h = s.total.latency();
    match metric {
        Metric::Rps => Some(s.requests_per_second()),
        Metric::ErrorRate => Some(s.total.error_rate()),
        Metric::Failures => Some(s.total.failures() as f64),
        Metric::HttpErrors => Some(s.total.http_errors() as f64),
        Metric::Latency(_) if h.is_empty() => None,
        Metric::Latency(stat) => Some(stat.of(h)),
    }
}

/// NEW against BASE: relative percent, or points for the error rate; `+inf`
/// for a rise from 0.
fn change(metric: Metric, base: f64, new: f64) -> f64 {
    match metric {
        Metric::ErrorRate => (new - base) * 100.0,
        _ if base == 0.0 && new == 0.0 => 0.0,
        _ if base == 0.0 => f64::INFINITY.copysign(new),
        _ => (new - base) / base * 100.0,
    }
}

fn row(metric: Metric, base: &Summary, new: &Summary) -> (Row, Option<f64>) {
    let (b, n) = (value(metric, base), value(metric, new));
    let c = b.zip(n).map(|(b, n)| change(metric, b, n));
    let row = Row {
        metric: metric.name(),
        unit: match metric {
            Metric::Rps => "req/s",
            Metric::Latency(_) => "us",
            Metric::ErrorRate => "fraction",
            Metric::HttpErrors | Metric::Failures => "count",
        },
        base: b,
        new: n,
        change: c.filter(|c| c.is_finite()),
        change_unit: if metric == Metric::ErrorRate {
            "points"
        } else {
            "%"
        },
    };
    (row, c)
}

/// Compares `new` with `base` and judges `checks`.
pub fn compare(base: (&str, &Summary), new: (&str, &Summary), checks: &[FailIf]) -> Comparison {
    let rows = ROWS.iter().map(|&m| row(m, base.1, new.1).0).collect();
    let checks: Vec<Check> = checks
        .iter()
        .map(|f| {
            let (row, change) = row(f.metric, base.1, new.1);
            Check {
                fail_if: f.source.clone(),
                change: row.change,
                actual: match change {
                    None => "no responses".into(),
                    Some(_) => format_change(&row),
                },
                // No measurement on a side (a latency without responses) fails.
                failed: change.is_none_or(|c| f.holds(c)),
            }
        })
        .collect();
    Comparison {
        schema: "myriad-compare/1",
        base: base.0.into(),
        new: new.0.into(),
        regressed: checks.iter().any(|c| c.failed),
        rows,
        checks,
    }
}

impl Comparison {
    /// The comparison for people: a table of figures, then the checks.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Comparison  {}  ->  {}", self.base, self.new);
        let _ = writeln!(
            s,
            "  {:<12}  {:>14}  {:>14}  {:>12}",
            "", "base", "new", "change"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "  {:<12}  {:>14}  {:>14}  {:>12}",
                label(r.metric),
                figure(r, r.base),
                figure(r, r.new),
                format_change(r)
            );
        }
        if !self.checks.is_empty() {
            let _ = writeln!(s, "\nChecks");
            let width = self
                .checks
                .iter()
                .map(|c| c.fail_if.len())
                .max()
                .unwrap_or(0);
            for c in &self.checks {
                let _ = writeln!(
                    s,
                    "  {}  {:<width$}  change {}",
                    if c.failed { "FAIL" } else { "PASS" },
                    c.fail_if,
                    c.actual
                );
            }
        }
        s
    }
}

fn label(metric: &str) -> &str {
    match metric {
        "rps" => "req/s",
        "error_rate" => "error rate",
        other => other,
    }
}

fn figure(r: &Row, v: Option<f64>) -> String {
    let Some(v) = v else {
        return "-".into();
    };
    match r.unit {
        "req/s" => format!("{v:.1}"),
        "us" => format_micros(v.round() as u64),
        "fraction" => format!("{:.4}%", v * 100.0),
        _ => format_count(v.round() as u64),
    }
}

fn format_change(r: &Row) -> String {
    match (r.change, r.base.zip(r.new)) {
        (Some(c), _) if r.change_unit == "points" => format!("{c:+.2} pts"),
        (Some(c), _) => format!("{c:+.1}%"),
        // Both measured but no finite change: a rise from 0.
        (None, Some(_)) => "+inf".into(),
        (None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests;
