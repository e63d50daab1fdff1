//! When open-model requests are due: a rate over time, and the arrival times it
//! implies.
//!
//! In the open model requests are issued on a timetable, whatever the server
//! does; latency is then measured from each request's *intended* time, which is
//! what keeps a stalled server from hiding its stall (coordinated omission). So
//! the timetable must be exact and must not depend on how the run is going: it
//! is a pure function of elapsed time, computed here without clocks, threads or
//! randomness of its own, and tested with tables.
//!
//! A [`Schedule`] is a piecewise-linear rate (a constant `--rate`, or `--stages`
//! ramps). Its integral Λ(t) is the number of arrivals expected by time `t`;
//! the `k`-th evenly spaced arrival is due when Λ reaches `k`, and Poisson
//! arrivals are due when Λ reaches a running sum of unit exponential draws (a
//! Poisson process of any rate is a unit-rate one seen through Λ⁻¹). Inverting
//! Λ in closed form per segment keeps ramps exact instead of stepping the rate.
//! [`Arrivals`] hands out those times one by one; the caller supplies the
//! uniform random numbers, so the sequence is reproducible in tests.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::{parse_duration, DurationError};

/// Why a rate, stage list or arrival process did not parse; the message says
/// what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A rate that is not a positive finite number of requests per time unit.
    #[error(
        "invalid rate '{0}': expected requests per second like 1500, 0.5 or 90000/m (also /s, /min, /h)"
    )]
    Rate(String),
    /// No stages at all.
    #[error("no stages given: expected <duration>:<rate>,... like 30s:1000,1m:5000,30s:0")]
    NoStages,
    /// A stage that is not `<duration>:<rate>`.
    #[error("invalid stage '{0}': expected <duration>:<rate> like 30s:1000 or 1m:90000/m")]
    Stage(String),
    /// A stage whose duration did not parse.
    #[error("invalid stage '{piece}': {source}")]
    StageDuration {
        /// The stage as given.
        piece: String,
        /// What was wrong with its duration.
        source: DurationError,
    },
    /// A stage whose target rate did not parse.
    #[error(
        "invalid stage '{0}': its target must be requests per second (0 allowed) like 1000, 0.5 or 90000/m"
    )]
    StageTarget(String),
    /// An arrival process other than uniform or poisson.
    #[error("invalid arrival '{0}': expected uniform (evenly spaced) or poisson")]
    Arrival(String),
}

/// Parses a rate in requests per second: `1500`, `0.5`, or a number per unit,
/// `100/s`, `90000/m`, `3600/h` (also `/sec`, `/min`, `/hour`). It must be
/// finite and greater than zero.
pub fn parse_rate(s: &str) -> Result<f64, ScheduleError> {
    match parse_rate_or_zero(s) {
        Some(r) if r > 0.0 => Ok(r),
        _ => Err(ScheduleError::Rate(s.to_string())),
    }
}

/// Like [`parse_rate`] but also accepts zero (a stage target, a threshold).
/// `None` when the text is not a finite non-negative rate.
pub fn parse_rate_or_zero(s: &str) -> Option<f64> {
    let (num, per) = match s.split_once('/') {
        Some((num, unit)) => {
            let per = match unit.trim() {
                "s" | "sec" | "second" => 1.0,
                "m" | "min" | "minute" => 60.0,
                "h" | "hr" | "hour" => 3600.0,
                _ => return None,
            };
            (num.trim(), per)
        }
        None => (s.trim(), 1.0),
    };
    // f64's parser also takes "inf", "nan" and "+1"; only plain numbers are rates.
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let rate = value / per;
    (rate.is_finite() && rate >= 0.0).then_some(rate)
}

/// One stage of a ramp: over `duration`, the rate moves linearly from where the
/// previous stage ended to `target`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// How long the ramp lasts.
    pub duration: Duration,
    /// The rate reached at its end, requests per second (may be 0).
    pub target: f64,
}

/// A non-empty list of stages, as given by `--stages 30s:1000,1m:5000,30s:0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stages(Vec<Stage>);

impl Stages {
    /// The stages in order.
    pub fn as_slice(&self) -> &[Stage] {
        &self.0
    }

    /// Stages built in code; `None` if there are none (a run needs at least one).
    pub fn new(stages: Vec<Stage>) -> Option<Stages> {
        (!stages.is_empty()).then_some(Stages(stages))
    }

    /// The same stages with every target multiplied by `factor` (a worker's share).
    pub fn scaled(&self, factor: f64) -> Stages {
        Stages(
            self.0
                .iter()
                .map(|s| Stage {
                    duration: s.duration,
                    target: s.target * factor,
                })
                .collect(),
        )
    }

    /// The sum of the stage durations.
    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }
}

impl FromStr for Stages {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Stages, ScheduleError> {
        if s.trim().is_empty() {
            return Err(ScheduleError::NoStages);
        }
        let stages = s
            .split(',')
            .map(|piece| {
                let piece = piece.trim();
                let (duration, target) = piece
                    .split_once(':')
                    .ok_or_else(|| ScheduleError::Stage(piece.to_string()))?;
                let duration =
                    parse_duration(duration).map_err(|source| ScheduleError::StageDuration {
                        piece: piece.to_string(),
                        source,
                    })?;
                let target = parse_rate_or_zero(target)
                    .ok_or_else(|| ScheduleError::StageTarget(piece.to_string()))?;
                Ok(Stage { duration, target })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Stages(stages))
    }
}

/// How arrivals are spread in time at a given rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced: at 1000 req/s, one every millisecond.
    #[default]
    Uniform,
    /// A Poisson process: exponential gaps, the way independent users arrive.
    Poisson,
}

impl FromStr for Arrival {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Arrival, ScheduleError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uniform" | "constant" => Ok(Arrival::Uniform),
            "poisson" => Ok(Arrival::Poisson),
            _ => Err(ScheduleError::Arrival(s.to_string())),
        }
    }
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arrival::Uniform => "uniform",
            Arrival::Poisson => "poisson",
        })
    }
}

/// A stretch of time over which the rate moves linearly. Times in seconds from
/// the start of the run; `len` is infinite only for an unbounded constant rate.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: f64,
    len: f64,
    /// Rate at `start`.
    from: f64,
    /// Rate change per second (0 for a constant or zero-length segment).
    slope: f64,
    /// Λ(start): arrivals expected before the segment.
    before: f64,
}

impl Segment {
    /// Arrivals expected within the first `tau` seconds of the segment.
    fn area(&self, tau: f64) -> f64 {
        // Term by term, skipping zero factors: an unbounded segment has an
        // infinite `tau`, and 0 × ∞ would be NaN where the answer is 0.
        let mut area = 0.0;
        if tau > 0.0 && self.from != 0.0 {
            area += self.from * tau;
        }
        if tau > 0.0 && self.slope != 0.0 {
            area += 0.5 * self.slope * tau * tau;
        }
        area
    }

    /// Λ at the end of the segment.
    fn after(&self) -> f64 {
        self.before + self.area(self.len)
    }

    /// The offset within the segment at which `y` more arrivals are expected
    /// (`0 <= y <= area(len)`): the smallest root of `from·τ + slope·τ²/2 = y`.
    fn solve(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 0.0;
        }
        // 2y / (a + √(a² + 2by)) is the root (−a + √(a² + 2by)) / b without the
        // cancellation that form suffers when b is small, and it also covers b = 0.
        // The discriminant is ≥ (rate at the end)² ≥ 0 for y within the segment;
        // max(0) only absorbs rounding.
        let disc = (self.from * self.from + 2.0 * self.slope * y).max(0.0);
        let denom = self.from + disc.sqrt();
        let tau = if denom > 0.0 { 2.0 * y / denom } else { 0.0 };
        tau.clamp(0.0, self.len)
    }
}

/// A piecewise-linear rate over time, in requests per second: a constant rate,
/// or ramps between stage targets. Pure: every method is a function of the
/// elapsed time (or of an arrival count) alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Vec<Segment>,
    /// Seconds; `None` for an unbounded constant rate.
    end: Option<f64>,
    /// Λ(end), or infinity when unbounded.
    total: f64,
}

/// Relative slack when deciding whether an arrival falls at the very end of a
/// schedule, so that rounding in Λ does not drop the last arrival (rate 1000
/// for 1 s gives 1000 arrivals, the last one at exactly 1 s).
const END_SLACK: f64 = 1e-12;

impl Schedule {
    /// `rate` requests per second for `total` (forever when `None`). A negative
    /// or non-finite rate counts as zero: nothing is ever due.
    pub fn constant(rate: f64, total: Option<Duration>) -> Schedule {
        let rate = sanitize(rate);
        let len = total.map_or(f64::INFINITY, |d| d.as_secs_f64());
        Schedule::from_segments(
            vec![Segment {
                start: 0.0,
                len,
                from: rate,
                slope: 0.0,
                before: 0.0,
            }],
            total.map(|d| d.as_secs_f64()),
        )
    }

    /// Ramps from `start_rate` through the targets of `stages`: stage `i` moves
    /// linearly from the previous target (`start_rate` for the first) to its own
    /// over its duration. The schedule ends after the last stage. A stage of
    /// zero duration jumps to its target.
    pub fn stages(start_rate: f64, stages: &Stages) -> Schedule {
        let mut segments = Vec::with_capacity(stages.0.len());
        let (mut start, mut before, mut rate) = (0.0, 0.0, sanitize(start_rate));
        for stage in &stages.0 {
            let len = stage.duration.as_secs_f64();
            let target = sanitize(stage.target);
            if len > 0.0 {
                let segment = Segment {
                    start,
                    len,
                    from: rate,
                    slope: (target - rate) / len,
                    before,
                };
                before = segment.after();
                segments.push(segment);
            }
            start += len;
            rate = target;
        }
        Schedule::from_segments(segments, Some(start))
    }

    fn from_segments(segments: Vec<Segment>, end: Option<f64>) -> Schedule {
        let total = match end {
            None => f64::INFINITY,
            Some(_) => segments.last().map_or(0.0, Segment::after),
        };
        Schedule {
            segments,
            end,
            total,
        }
    }

    /// When the schedule ends; `None` for an unbounded constant rate.
    pub fn end(&self) -> Option<Duration> {
        self.end.and_then(to_duration)
    }

    /// The rate at `elapsed`, requests per second; 0 once the schedule has
    /// ended. At a stage boundary it is the rate the next stage starts from.
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        if self.end.is_some_and(|end| t >= end) {
            return 0.0;
        }
        match self.segment_at(t) {
            Some(s) => (s.from + s.slope * (t - s.start).min(s.len)).max(0.0),
            None => 0.0,
        }
    }

    /// Λ(elapsed): the arrivals expected from the start until `elapsed`, the
    /// integral of the rate. Stays at its final value after the end.
    pub fn expected_by(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        match self.segment_at(t) {
            Some(s) => s.before + s.area((t - s.start).min(s.len)),
            None => self.total,
        }
    }

    /// Λ⁻¹(x): the earliest time at which the expected arrivals reach `x`, or
    /// `None` when the schedule ends first (or the rate stays 0 forever).
    /// `x <= 0` is due at the start.
    pub fn time_of(&self, x: f64) -> Option<Duration> {
        if x.is_nan() {
            return None;
        }
        if x <= 0.0 {
            return Some(Duration::ZERO);
        }
        let i = self.segments.partition_point(|s| s.after() < x);
        match self.segments.get(i) {
            Some(s) => to_duration(s.start + s.solve(x - s.before)),
            // Rounding in Λ may put the last arrival a hair past the total.
            None if x <= self.total * (1.0 + END_SLACK) => self.end.and_then(to_duration),
            None => None,
        }
    }

    /// The segment that holds time `t` (seconds); `None` past the last one.
    fn segment_at(&self, t: f64) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.start + s.len <= t);
        self.segments.get(i)
    }
}

/// Rates from callers other than the parsers may be anything; a rate that is
/// not a finite non-negative number schedules nothing rather than poisoning
/// every later time with NaN.
fn sanitize(rate: f64) -> f64 {
    if rate.is_finite() && rate > 0.0 {
        rate
    } else {
        0.0
    }
}

/// Seconds to a `Duration` rounded to the nearest nanosecond (so that 7/1000 s
/// is exactly 7 ms, not 6.999999 ms); `None` if negative, not finite, or beyond
/// what a `Duration` of nanoseconds in a `u64` holds (584 years).
fn to_duration(secs: f64) -> Option<Duration> {
    let nanos = (secs * 1e9).round();
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64)
        .then(|| Duration::from_nanos(nanos as u64))
}

/// The largest uniform number accepted; 1 itself would make an infinite gap.
const MAX_UNIFORM: f64 = 1.0 - f64::EPSILON / 2.0;

/// Hands out the intended send times of an open-model run, one by one: a pacer
/// that is a pure function of the schedule and the random numbers it is given.
#[derive(Debug, Clone)]
pub struct Arrivals {
    schedule: Schedule,
    arrival: Arrival,
    /// Arrivals handed out so far.
    count: u64,
    /// Λ of the last arrival (Poisson: the running sum of unit exponentials).
    at: f64,
    done: bool,
}

impl Arrivals {
    /// Arrivals of `schedule` spread by `arrival`.
    pub fn new(schedule: Schedule, arrival: Arrival) -> Arrivals {
        Arrivals {
            schedule,
            arrival,
            count: 0,
            at: 0.0,
            done: false,
        }
    }

    /// The intended offset from the start of the run of the next request, or
    /// `None` once the schedule has ended (and from then on).
    ///
    /// `uniform01` is a uniform random number in `[0, 1)`, used only for
    /// Poisson arrivals (the gap in Λ is `-ln(1 - u)`, a unit exponential);
    /// values outside the range are clamped into it. Uniform arrivals ignore
    /// it: the `k`-th is due when Λ reaches `k`, so at 1000 req/s they fall at
    /// 1 ms, 2 ms, 3 ms...
    pub fn next_due(&mut self, uniform01: f64) -> Option<Duration> {
        if self.done {
            return None;
        }
        let next = match self.arrival {
            Arrival::Uniform => (self.count + 1) as f64,
            Arrival::Poisson => {
                let u = if uniform01.is_nan() {
                    0.0
                } else {
                    uniform01.clamp(0.0, MAX_UNIFORM)
                };
                self.at - (-u).ln_1p()
            }
        };
        match self.schedule.time_of(next) {
            Some(due) => {
                self.count += 1;
                self.at = next;
                Some(due)
            }
            None => {
                self.done = true;
                None
            }
        }
    }

    /// Arrivals handed out so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The schedule being followed.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
}

#[cfg(test)]
mod tests;
