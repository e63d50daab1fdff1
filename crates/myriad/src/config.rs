//! The validated description of a run.
//!
//! The CLI (or a Rust test) builds a [`Config`] once; the engine checks it with
//! [`Config::validate`] and never parses anything after that. Every error message
//! names what to change, because it is printed to the user as it is.

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a configuration cannot run. Each message is one line that names the flag
/// or input at fault and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The URL does not parse.
    #[error("invalid URL '{url}': {reason}; expected http://host[:port][/path]")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// The URL's scheme is not `http`.
    #[error("unsupported scheme '{scheme}' in '{url}': only http:// is supported (https is not supported yet)")]
    UnsupportedScheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The host name does not resolve.
    #[error("cannot resolve host '{host}' of '{url}': check the host name")]
    UnknownHost {
        /// The URL as given.
        url: String,
        /// Its host.
        host: String,
    },
    /// No URL at all.
    #[error("no URL given: pass at least one http:// URL")]
    NoTargets,
    /// A numeric setting is out of range.
    #[error("{flag} must be {expected}, got {got}")]
    OutOfRange {
        /// The flag, as the CLI spells it.
        flag: &'static str,
        /// The accepted range, in words.
        expected: &'static str,
        /// The value given.
        got: String,
    },
    /// Fewer connections than targets: some target would get no traffic.
    #[error("-c/--connections is {connections} but {targets} URLs were given: use at least one connection per URL")]
    FewerConnectionsThanTargets {
        /// Connections asked for.
        connections: usize,
        /// Number of URLs.
        targets: usize,
    },
    /// A header not of the form `Name: value`.
    #[error("invalid header '{0}': expected 'Name: value' (-H/--header)")]
    Header(String),
    /// Two settings that do not go together.
    #[error("{0}")]
    Conflict(&'static str),
    /// The method is not an HTTP token.
    #[error("invalid method '{0}': expected a token like GET or POST (-m/--method)")]
    Method(String),
}

/// One URL under load, resolved once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The URL as the user wrote it.
    pub url: String,
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host_header: String,
    /// Path and query, as sent on the request line.
    pub path: String,
}

impl Target {
    /// Parses an `http://` URL and resolves its host.
    pub fn parse(url: &str) -> Result<Target, ConfigError> {
        let parsed = url::Url::parse(url).map_err(|e| ConfigError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if parsed.scheme() != "http" {
            return Err(ConfigError::UnsupportedScheme {
                url: url.to_string(),
                scheme: parsed.scheme().to_string(),
            });
        }
        let host = parsed.host_str().ok_or_else(|| ConfigError::InvalidUrl {
            url: url.to_string(),
            reason: "no host".to_string(),
        })?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let unknown = || ConfigError::UnknownHost {
            url: url.to_string(),
            host: host.to_string(),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = (bare, port)
            .to_socket_addrs()
            .map_err(|_| unknown())?
            .next()
            .ok_or_else(unknown)?;
        let host_header = match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let mut path = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Target {
            url: url.to_string(),
            addr,
            host_header,
            path,
        })
    }
}

/// When the run stops issuing requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// Exactly this many requests in total, no more, no fewer.
    Requests(u64),
    /// Issue requests until this much time has passed; requests in flight then
    /// finish (within their timeout) and are counted.
    Duration(Duration),
}

/// The open model's schedule: a constant rate, or stages that ramp it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenModel {
    /// Requests per second: the constant rate, or where the stages start from.
    pub rate: f64,
    /// Linear ramps of the rate; the run ends with the last stage.
    pub stages: Option<crate::schedule::Stages>,
    /// Evenly spaced or Poisson arrivals.
    pub arrival: crate::schedule::Arrival,
}

impl OpenModel {
    /// The same model with every rate multiplied by `factor` (a worker's share).
    pub fn scaled(&self, factor: f64) -> OpenModel {
        OpenModel {
            rate: self.rate * factor,
            stages: self.stages.as_ref().map(|s| s.scaled(factor)),
            arrival: self.arrival,
        }
    }

    /// The schedule of the whole run, ending after `duration` if given.
    pub fn schedule(&self, duration: Option<Duration>) -> crate::schedule::Schedule {
        match &self.stages {
            Some(stages) => crate::schedule::Schedule::stages(self.rate, stages),
            None => crate::schedule::Schedule::constant(self.rate, duration),
        }
    }
}

/// Everything the engine needs for one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The URLs under load; requests are spread over them evenly.
    pub targets: Vec<Target>,
    /// Concurrent connections (closed model: each issues requests back to back).
    pub connections: usize,
    /// When to stop.
    pub stop: Stop,
    /// Request method.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Limit for one request, from write to the end of the response.
    pub timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Worker threads, each with its own event loop and connections.
    pub threads: usize,
    /// Reuse connections; when false, every request opens a new connection.
    pub keep_alive: bool,
    /// Mostly-idle connections: each sends one request per interval and waits
    /// in between, holding its connection for the whole run. `None`: back to back.
    pub interval: Option<Duration>,
    /// Local addresses to connect from, dealt to connections round-robin. Empty:
    /// the kernel's choice, or enough 127.x addresses picked automatically when
    /// a loopback target needs more ephemeral ports than one address has.
    pub sources: Vec<IpAddr>,
    /// Connections opened per second at most, over the whole run; `None`: as
    /// fast as the connects in flight allow.
    pub connect_rate: Option<f64>,
    /// Processes to spread the connections over; `None`: as many as the
    /// open-files limit requires.
    pub processes: Option<usize>,
    /// Open model: requests are sent on a schedule, whatever the server does,
    /// over as many connections as needed up to `connections`. `None`: the
    /// closed model (each connection sends back to back).
    pub open: Option<OpenModel>,
    /// Closed model: how many connections work over time, ramped linearly
    /// through stages (the run ends with the last stage). `connections` must
    /// be at least the largest target.
    pub ramp: Option<crate::schedule::Stages>,
    /// Load sent during this first part of the run is kept out of the statistics.
    pub warmup: Option<Duration>,
    /// Length of one interval of the time series (and of the HDR interval log).
    pub stats_interval: Duration,
    /// Pass/fail checks on the finished run (`p99<250ms`, `error_rate<0.1%`).
    #[serde(skip)]
    pub thresholds: Vec<crate::threshold::Threshold>,
    /// Write an HdrHistogram interval log of latency here, one histogram per
    /// statistics interval.
    #[serde(skip)]
    pub hdr_log: Option<std::path::PathBuf>,
    /// The command that starts a worker process (program and arguments): the
    /// process reads its work on stdin and streams results on stdout, see
    /// [`crate::engine::worker_process_main`]. Needed only for runs of more
    /// than one process; the `myriad` binary sets it to `myriad __worker`.
    #[serde(skip)]
    pub worker_command: Option<Vec<OsString>>,
}

impl Config {
    /// A configuration with the defaults of `myriad run` for these URLs: 50
    /// connections, 10 s, GET, 30 s timeout, 5 s connect timeout, one thread per
    /// core, keep-alive.
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Config, ConfigError> {
        let targets = urls
            .iter()
            .map(|u| Target::parse(u.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            targets,
            connections: 50,
            stop: Stop::Duration(Duration::from_secs(10)),
            method: "GET".to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            threads: available_cores(),
            keep_alive: true,
            interval: None,
            sources: Vec::new(),
            connect_rate: None,
            processes: None,
            open: None,
            ramp: None,
            warmup: None,
            stats_interval: Duration::from_secs(1),
            hdr_log: None,
            thresholds: Vec::new(),
            worker_command: None,
        })
    }

    /// Checks every setting; the engine calls this before any traffic.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |flag, expected, got: String| ConfigError::OutOfRange {
            flag,
            expected,
            got,
        };
        if self.targets.is_empty() {
            return Err(ConfigError::NoTargets);
        }
        if self.connections == 0 {
            return Err(range("-c/--connections", "at least 1", "0".into()));
        }
        if self.connections < self.targets.len() {
            return Err(ConfigError::FewerConnectionsThanTargets {
                connections: self.connections,
                targets: self.targets.len(),
            });
        }
        if self.threads == 0 || self.threads > 1024 {
            return Err(range(
                "-t/--threads",
                "between 1 and 1024",
                self.threads.to_string(),
            ));
        }
        match self.stop {
            Stop::Requests(0) => return Err(range("-n/--requests", "at least 1", "0".into())),
            Stop::Duration(d) if d.is_zero() => {
                return Err(range("-z/--duration", "longer than 0", "0".into()))
            }
            _ => {}
        }
        if self.timeout.is_zero() {
            return Err(range("--timeout", "longer than 0", "0".into()));
        }
        if self.connect_timeout.is_zero() {
            return Err(range("--connect-timeout", "longer than 0", "0".into()));
        }
        if self.interval.is_some_and(|d| d.is_zero()) {
            return Err(range(
                "--per-connection-interval",
                "longer than 0",
                "0".into(),
            ));
        }
        if let Some(r) = self.connect_rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(range("--connect-rate", "a positive number", r.to_string()));
            }
        }
        if let Some(open) = &self.open {
            if !(open.rate.is_finite() && open.rate >= 0.0) {
                return Err(range("--rate", "a positive number", open.rate.to_string()));
            }
            if open.rate == 0.0 && open.stages.is_none() {
                return Err(range("--rate", "greater than 0", "0".into()));
            }
            if self.interval.is_some() {
                return Err(ConfigError::Conflict(
                    "--per-connection-interval belongs to the closed model; leave out --rate/--stages or the interval",
                ));
            }
        }
        if self
            .sources
            .iter()
            .any(|s| self.targets.iter().any(|t| s.is_ipv4() != t.addr.is_ipv4()))
        {
            return Err(ConfigError::Conflict(
                "--source addresses must be of the same IP version as the target URLs",
            ));
        }
        if let Some(ramp) = &self.ramp {
            if self.open.is_some() {
                return Err(ConfigError::Conflict(
                    "a ramp of connections belongs to the closed model; --stages with --rate ramps the rate instead",
                ));
            }
            let most = ramp.as_slice().iter().map(|s| s.target).fold(0.0, f64::max);
            if most > self.connections as f64 {
                return Err(range(
                    "-c/--connections",
                    "at least the largest stage target",
                    self.connections.to_string(),
                ));
            }
        }
        if self.stats_interval < Duration::from_millis(10) {
            return Err(range(
                "--stats-interval",
                "at least 10ms",
                format!("{:?}", self.stats_interval),
            ));
        }
        if let (Some(w), Stop::Duration(d)) = (self.warmup, self.stop) {
            if w >= d {
                return Err(range(
                    "--warmup",
                    "shorter than the run's duration",
                    format!("{w:?}"),
                ));
            }
        }
        if self.processes == Some(0) {
            return Err(range("--processes", "at least 1", "0".into()));
        }
        if self.method.is_empty() || !self.method.bytes().all(is_token_byte) {
            return Err(ConfigError::Method(self.method.clone()));
        }
        for (name, value) in &self.headers {
            if name.is_empty()
                || !name.bytes().all(is_token_byte)
                || value.bytes().any(|b| b == b'\r' || b == b'\n')
            {
                return Err(ConfigError::Header(format!("{name}: {value}")));
            }
        }
        Ok(())
    }
}

/// Parses a `Name: value` header as given to `-H`.
pub fn parse_header(input: &str) -> Result<(String, String), ConfigError> {
    let (name, value) = input
        .split_once(':')
        .ok_or_else(|| ConfigError::Header(input.to_string()))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(ConfigError::Header(input.to_string()));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// The number of cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_parsing() {
        let t = Target::parse("http://127.0.0.1:8080/a/b?x=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host_header, "127.0.0.1:8080");
        assert_eq!(t.path, "/a/b?x=1");
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!(t.addr.port(), 80);
        assert_eq!(t.host_header, "localhost");
        assert_eq!(t.path, "/");
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!(t.addr, "[::1]:9".parse().unwrap());
    }

    #[test]
    fn target_errors_say_what_to_change() {
        let e = Target::parse("https://127.0.0.1/").unwrap_err();
        assert!(e.to_string().contains("https is not supported yet"), "{e}");
        let e = Target::parse("not a url").unwrap_err();
        assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e}");
        let e = Target::parse("http://no-such-host.invalid/").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownHost { .. }), "{e}");
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("X-A: b: c").unwrap(),
            ("X-A".to_string(), "b: c".to_string())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": empty name").is_err());
        assert!(parse_header("bad name: x").is_err());
    }

    #[test]
    fn validation() {
        let mut c = Config::new(&["http://127.0.0.1:1/"]).unwrap();
        assert_eq!(c.validate(), Ok(()));
        c.connections = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("-c/--connections"));
        c.connections = 1;
        c.stop = Stop::Requests(0);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("-n/--requests"));
        let mut c = Config::new(&["http://127.0.0.1:1/", "http://127.0.0.1:2/"]).unwrap();
        c.connections = 1;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::FewerConnectionsThanTargets { .. })
        ));
    }
}
