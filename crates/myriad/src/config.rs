//! The description of a run: targets, the request, and its [`Load`].
//!
//! The CLI (or a Rust test) builds a [`Config`] once; its load is one value of
//! [`Load`], whose constructors ([`Load::closed`], [`Load::open`],
//! [`Load::from_flags`], ...) hold the rules that tie the load flags together.
//! [`crate::Plan::new`] checks the whole config once ([`Config::validate`])
//! and nothing parses or validates after that. Every error message names what
//! to change, because it is printed to the user as it is. Output settings
//! (report files, the HDR log) are not part of it: they are the caller's
//! sinks and reporters.

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
    /// The URL's scheme is neither `http` nor `https`.
    #[error("unsupported scheme '{scheme}' in '{url}': use http:// or https://")]
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
    /// A `--unix-socket` path that is not a socket.
    #[error("{0}")]
    UnixSocket(String),
    /// A `--watch-pid` that is not a running process.
    #[error("--watch-pid {0}: no such process; give the pid of the server under load (nothing was sent)")]
    WatchPid(u32),
    /// An HTTP/2 setting that does not fit the rest, or a request HTTP/2
    /// cannot carry.
    #[error("{0}")]
    Http2(String),
    /// A `--connect-to` that does not parse or resolve.
    #[error("{0}")]
    ConnectTo(String),
    /// A TLS setting or file that cannot be used (`--cacert`, `--cert`, `--key`).
    #[error("{0}")]
    Tls(String),
    /// The method is not an HTTP token.
    #[error("invalid method '{0}': expected a token like GET or POST (-m/--method)")]
    Method(String),
    /// A `--shard` that does not parse or does not fit the run.
    #[error("{0}")]
    Shard(String),
    /// A targets file whose request cannot be used (the message names the
    /// file and line).
    #[error("{0}")]
    Targets(String),
    /// A template that names an unknown function or column, or a `--data`
    /// file that cannot be used.
    #[error("{0}")]
    Template(String),
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
    /// Whether it is `https://`.
    #[serde(default)]
    pub tls: bool,
    /// The URL's host, as TLS verifies and SNI sends it.
    #[serde(default)]
    pub host: String,
}

impl Target {
    /// Parses an `http://` URL and resolves its host.
    pub fn parse(url: &str) -> Result<Target, ConfigError> {
        Target::parse_via(url, &[])
    }

    /// Parses a URL and connects where the first matching `--connect-to`
    /// says (its host and port are then neither resolved nor dialled; `Host`
    /// and SNI stay the URL's), else where its host resolves.
    pub fn parse_via(url: &str, connect_to: &[ConnectTo]) -> Result<Target, ConfigError> {
        let mut target = Target::parse_with(url, false)?;
        let port = target.addr.port();
        match connect_to
            .iter()
            .find(|c| c.port == port && c.host.eq_ignore_ascii_case(&target.host))
        {
            Some(c) => target.addr = c.to,
            None => {
                let unknown = || ConfigError::UnknownHost {
                    url: url.to_string(),
                    host: target.host.clone(),
                };
                let bare = target.host.trim_start_matches('[').trim_end_matches(']');
                target.addr = (bare, port)
                    .to_socket_addrs()
                    .map_err(|_| unknown())?
                    .next()
                    .ok_or_else(unknown)?;
            }
        }
        Ok(target)
    }

    /// Parses an `http://` URL to be reached over a Unix socket: its host is
    /// only the `Host` header and is not resolved (`addr` is unspecified).
    pub fn parse_unresolved(url: &str) -> Result<Target, ConfigError> {
        Target::parse_with(url, false)
    }

    fn parse_with(url: &str, resolve: bool) -> Result<Target, ConfigError> {
        // Templates (`{{seq}}`) are kept out of the URL parser's way, which
        // would escape their braces and spaces, and put back in the path.
        let (protected, holes) = crate::template::protect(url);
        let mut target = Target::parse_plain(url, &protected, resolve)?;
        if !holes.is_empty() {
            if crate::template::has_placeholder(&target.host_header) {
                return Err(ConfigError::InvalidUrl {
                    url: url.to_string(),
                    reason: "templates are allowed in the path and query only".to_string(),
                });
            }
            target.path = crate::template::restore(&target.path, &holes);
        }
        Ok(target)
    }

    fn parse_plain(url: &str, protected: &str, resolve: bool) -> Result<Target, ConfigError> {
        let parsed = url::Url::parse(protected).map_err(|e| ConfigError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(ConfigError::UnsupportedScheme {
                url: url.to_string(),
                scheme: parsed.scheme().to_string(),
            });
        }
        let host = parsed.host_str().ok_or_else(|| ConfigError::InvalidUrl {
            url: url.to_string(),
            reason: "no host".to_string(),
        })?;
        let tls = parsed.scheme() == "https";
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let unknown = || ConfigError::UnknownHost {
            url: url.to_string(),
            host: host.to_string(),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = if resolve {
            (bare, port)
                .to_socket_addrs()
                .map_err(|_| unknown())?
                .next()
                .ok_or_else(unknown)?
        } else {
            SocketAddr::from(([0, 0, 0, 0], port))
        };
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
            tls,
            host: host.to_string(),
        })
    }
}

/// `--connect-to HOST:PORT:ADDR:PORT` (as curl spells it): requests for a
/// URL of `HOST:PORT` connect to `ADDR:PORT` instead, while `Host` and TLS
/// (SNI, the certificate's name) stay those of the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectTo {
    /// The URL host it applies to (case-insensitive; IPv6 in brackets).
    pub host: String,
    /// The URL port it applies to (the scheme's default if the URL has none).
    pub port: u16,
    /// Where to connect instead.
    pub to: SocketAddr,
}

impl std::str::FromStr for ConnectTo {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<ConnectTo, ConfigError> {
        let bad = || {
            ConfigError::ConnectTo(format!(
                "invalid --connect-to '{s}': expected HOST:PORT:ADDR:PORT like example.com:443:127.0.0.1:8443"
            ))
        };
        // host, port, addr, port; a host or address may be [IPv6].
        let mut rest = s;
        let mut take = |bracketed: bool| -> Option<String> {
            if bracketed && rest.starts_with('[') {
                let end = rest.find(']')?;
                let out = rest[..=end].to_string();
                rest = rest[end + 1..]
                    .strip_prefix(':')
                    .unwrap_or(&rest[end + 1..]);
                return Some(out);
            }
            let (field, tail) = rest.split_once(':').unwrap_or((rest, ""));
            let out = field.to_string();
            rest = tail;
            Some(out)
        };
        let host = take(true).filter(|h| !h.is_empty()).ok_or_else(bad)?;
        let port: u16 = take(false).and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let addr = take(true).filter(|a| !a.is_empty()).ok_or_else(bad)?;
        let to_port: u16 = take(false).and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if !rest.is_empty() {
            return Err(bad());
        }
        let bare = addr.trim_start_matches('[').trim_end_matches(']');
        let to = (bare, to_port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                ConfigError::ConnectTo(format!(
                    "--connect-to '{s}': cannot resolve '{addr}': give an address that resolves here"
                ))
            })?;
        Ok(ConnectTo { host, port, to })
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

/// What an open-model request does when it comes due and every connection
/// it may use is busy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenBusy {
    /// Wait in a queue for the next free connection; latency still counts from
    /// when it was due (as wrk2 does), and one that waits longer than the
    /// timeout ends as a timeout.
    #[default]
    Queue,
    /// Count it as `dropped` and do not send it (as k6's dropped iterations).
    Drop,
}

impl std::str::FromStr for WhenBusy {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<WhenBusy, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "queue" | "wait" => Ok(WhenBusy::Queue),
            "drop" => Ok(WhenBusy::Drop),
            _ => Err(ConfigError::OutOfRange {
                flag: "--when-busy",
                expected: "queue or drop",
                got: s.to_string(),
            }),
        }
    }
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
    /// What a request due while every allowed connection is busy does.
    pub when_busy: WhenBusy,
}

impl OpenModel {
    /// The same model with every rate multiplied by `factor` (a worker's share).
    pub fn scaled(&self, factor: f64) -> OpenModel {
        OpenModel {
            rate: self.rate * factor,
            stages: self.stages.as_ref().map(|s| s.scaled(factor)),
            ..*self
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

/// The duration of a run bounded neither by `-n` nor by `-z`.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The load a run applies: who decides when each request is sent, over how
/// many connections, and when the run ends. One value of this enum is the whole
/// load model; its constructors hold the rules that tie the settings together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Load {
    /// Closed model: each of `connections` sends its next request as soon as
    /// the previous response arrives, until `stop`.
    Closed {
        /// Concurrent connections.
        connections: usize,
        /// When the run stops issuing requests.
        stop: Stop,
    },
    /// Closed model, ramped: how many connections work follows `stages` (from
    /// 0), connection `i` working while the ramp is above `i`; the run ends
    /// with the last stage.
    ClosedRamp {
        /// Linear ramps of the number of working connections.
        stages: crate::schedule::Stages,
    },
    /// Mostly-idle connections: each sends one request per `every` and holds
    /// its connection in between.
    Interval {
        /// Connections held.
        connections: usize,
        /// Time from one request's send to the next's, per connection.
        every: Duration,
        /// When the run stops issuing requests.
        stop: Stop,
    },
    /// Open model: requests sent on a schedule (a constant rate or stages),
    /// whatever the server does, over at most `max_connections`.
    Open {
        /// The schedule.
        model: OpenModel,
        /// Connections opened as needed, up to this many.
        max_connections: usize,
        /// When the run stops; with stages, the end of the last stage.
        stop: Stop,
    },
}

impl Load {
    /// `connections` sending back to back until `stop`.
    pub fn closed(connections: usize, stop: Stop) -> Result<Load, ConfigError> {
        let load = Load::Closed { connections, stop };
        load.validate()?;
        Ok(load)
    }

    /// Connections ramped through `stages` (targets are connection counts);
    /// as many connections as the largest target.
    pub fn closed_ramp(stages: crate::schedule::Stages) -> Result<Load, ConfigError> {
        let load = Load::ClosedRamp { stages };
        load.validate()?;
        Ok(load)
    }

    /// `connections` each sending one request per `every` until `stop`.
    pub fn interval(connections: usize, every: Duration, stop: Stop) -> Result<Load, ConfigError> {
        let load = Load::Interval {
            connections,
            every,
            stop,
        };
        load.validate()?;
        Ok(load)
    }

    /// `rate` requests per second until `stop`, over at most `max_connections`.
    pub fn open(rate: f64, max_connections: usize, stop: Stop) -> Result<Load, ConfigError> {
        Load::open_with(rate, None, max_connections, stop)
    }

    /// A rate ramped from `from` through `stages` (targets are rates), over at
    /// most `max_connections`; the run ends with the last stage.
    pub fn open_stages(
        from: f64,
        stages: crate::schedule::Stages,
        max_connections: usize,
    ) -> Result<Load, ConfigError> {
        let stop = Stop::Duration(stages.total());
        Load::open_with(from, Some(stages), max_connections, stop)
    }

    /// The open model with uniform arrivals that queue when every connection
    /// is busy (change them on the model).
    fn open_with(
        rate: f64,
        stages: Option<crate::schedule::Stages>,
        max_connections: usize,
        stop: Stop,
    ) -> Result<Load, ConfigError> {
        let load = Load::Open {
            model: OpenModel {
                rate,
                stages,
                arrival: crate::schedule::Arrival::Uniform,
                when_busy: WhenBusy::Queue,
            },
            max_connections,
            stop,
        };
        load.validate()?;
        Ok(load)
    }

    /// The load that `myriad run`'s flags describe: `--rate` (with or without
    /// `--stages`) is the open model, `--stages` alone ramps connections,
    /// `--per-connection-interval` holds mostly-idle connections, and otherwise
    /// the closed model. `stop` is `-n`/`-z` ([`DEFAULT_DURATION`] if neither).
    pub fn from_flags(flags: LoadFlags) -> Result<Load, ConfigError> {
        let stop = flags.stop.unwrap_or(Stop::Duration(DEFAULT_DURATION));
        let mut load = match (flags.rate, flags.stages, flags.interval) {
            (Some(_), _, Some(_)) => {
                return Err(ConfigError::Conflict(
                    "--per-connection-interval belongs to the closed model; leave out --rate/--stages or the interval",
                ))
            }
            (None, Some(_), Some(_)) => {
                return Err(ConfigError::Conflict(
                    "--per-connection-interval holds a fixed number of connections; leave out --stages or the interval",
                ))
            }
            (Some(rate), Some(stages), None) => Load::open_stages(rate, stages, flags.connections)?,
            (Some(rate), None, None) => Load::open(rate, flags.connections, stop)?,
            (None, Some(stages), None) => Load::closed_ramp(stages)?,
            (None, None, Some(every)) => Load::interval(flags.connections, every, stop)?,
            (None, None, None) => Load::closed(flags.connections, stop)?,
        };
        if let Load::Open { model, .. } = &mut load {
            model.arrival = flags.arrival;
            model.when_busy = flags.when_busy;
        }
        Ok(load)
    }

    /// Connections the run may hold at once.
    pub fn connections(&self) -> usize {
        match self {
            Load::Closed { connections, .. } | Load::Interval { connections, .. } => *connections,
            Load::ClosedRamp { stages } => {
                let most = stages
                    .as_slice()
                    .iter()
                    .map(|s| s.target)
                    .fold(0.0, f64::max);
                most.ceil() as usize
            }
            Load::Open {
                max_connections, ..
            } => *max_connections,
        }
    }

    /// When the run stops issuing requests.
    pub fn stop(&self) -> Stop {
        match self {
            Load::Closed { stop, .. } | Load::Interval { stop, .. } | Load::Open { stop, .. } => {
                *stop
            }
            Load::ClosedRamp { stages } => Stop::Duration(stages.total()),
        }
    }

    /// The open model's schedule, if this is the open model.
    pub fn open_model(&self) -> Option<&OpenModel> {
        match self {
            Load::Open { model, .. } => Some(model),
            _ => None,
        }
    }

    /// The per-connection interval of mostly-idle connections, if any.
    pub fn interval_every(&self) -> Option<Duration> {
        match self {
            Load::Interval { every, .. } => Some(*every),
            _ => None,
        }
    }

    /// Part `i` of `parts` equal parts of this load (a worker process's share):
    /// connections and `-n` split as evenly as whole numbers allow (the first
    /// parts get one more), rates and ramps divided.
    pub fn part(&self, i: usize, parts: usize) -> Load {
        let (i, n) = (i as u64, parts.max(1) as u64);
        let count = |c: usize| share(c as u64, n, i) as usize;
        let stop = |s: Stop| match s {
            Stop::Requests(r) => Stop::Requests(share(r, n, i)),
            d => d,
        };
        let factor = 1.0 / n as f64;
        match self {
            Load::Closed {
                connections,
                stop: s,
            } => Load::Closed {
                connections: count(*connections),
                stop: stop(*s),
            },
            Load::ClosedRamp { stages } => Load::ClosedRamp {
                stages: stages.scaled(factor),
            },
            Load::Interval {
                connections,
                every,
                stop: s,
            } => Load::Interval {
                connections: count(*connections),
                every: *every,
                stop: stop(*s),
            },
            Load::Open {
                model,
                max_connections,
                stop: s,
            } => Load::Open {
                model: model.scaled(factor),
                max_connections: count(*max_connections),
                stop: stop(*s),
            },
        }
    }

    /// Whether this part has nothing to do (a share of zero).
    pub fn is_empty(&self) -> bool {
        self.connections() == 0 || self.stop() == Stop::Requests(0)
    }

    /// Checks the load's own settings; each error names the flag to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |flag, expected, got: String| ConfigError::OutOfRange {
            flag,
            expected,
            got,
        };
        match self.stop() {
            Stop::Requests(0) => return Err(range("-n/--requests", "at least 1", "0".into())),
            Stop::Duration(d) if d.is_zero() => {
                return Err(range("-z/--duration", "longer than 0", "0".into()))
            }
            _ => {}
        }
        match self {
            Load::ClosedRamp { .. } if self.connections() == 0 => {
                return Err(range(
                    "--stages",
                    "a ramp whose largest stage target is at least 1 connection",
                    "0".into(),
                ));
            }
            Load::Interval { every, .. } if every.is_zero() => {
                return Err(range(
                    "--per-connection-interval",
                    "longer than 0",
                    "0".into(),
                ))
            }
            Load::Open { model, .. } => {
                if !(model.rate.is_finite() && model.rate >= 0.0) {
                    return Err(range("--rate", "a positive number", model.rate.to_string()));
                }
                if model.rate == 0.0 && model.stages.is_none() {
                    return Err(range("--rate", "greater than 0", "0".into()));
                }
            }
            _ => {}
        }
        if self.connections() == 0 {
            return Err(range("-c/--connections", "at least 1", "0".into()));
        }
        Ok(())
    }
}

/// Part `i` of `total` split into `parts` as evenly as whole numbers allow:
/// the first `total % parts` parts get one more.
pub fn share(total: u64, parts: u64, i: u64) -> u64 {
    total / parts + u64::from(i < total % parts)
}

/// The load flags of `myriad run`, as given, for [`Load::from_flags`].
#[derive(Debug, Clone, Default)]
pub struct LoadFlags {
    /// `-c`: connections (a cap in the open model).
    pub connections: usize,
    /// `-n` or `-z`, if given.
    pub stop: Option<Stop>,
    /// `--rate`.
    pub rate: Option<f64>,
    /// `--stages`.
    pub stages: Option<crate::schedule::Stages>,
    /// `--per-connection-interval`.
    pub interval: Option<Duration>,
    /// `--arrival`.
    pub arrival: crate::schedule::Arrival,
    /// `--when-busy`.
    pub when_busy: WhenBusy,
}

/// Which HTTP the run speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Http2Mode {
    /// HTTP/1.1.
    #[default]
    Off,
    /// HTTP/2 over TLS, negotiated with ALPN `h2` (`--http2`, https:// URLs).
    Tls,
    /// HTTP/2 with prior knowledge over cleartext (`--h2c`, http:// URLs).
    PriorKnowledge,
}

/// Everything the engine needs for one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The URLs under load; requests are spread over them evenly.
    pub targets: Vec<Target>,
    /// The load model: connections, schedule, and when the run ends.
    pub load: Load,
    /// Request method.
    pub method: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// The requests of a targets file (`--targets`), each connecting to one
    /// of `targets`; empty: one request per URL of `targets`, made of
    /// `method`, `headers` and `body` (see [`crate::requests`]).
    #[serde(default)]
    pub requests: Vec<crate::requests::RequestDef>,
    /// The order a connection takes its targets file's requests in.
    #[serde(default)]
    pub request_order: crate::requests::Order,
    /// The rows `{{row.COLUMN}}` templates read (`--data FILE.csv`).
    #[serde(default)]
    pub data: Option<crate::template::DataSet>,
    /// The order `--data` rows are taken in, one per request.
    #[serde(default)]
    pub data_order: crate::requests::Order,
    /// Seed of the random orders and template values (`--seed`); `None`: a
    /// new one per run.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Limit for one request, from write to the end of the response.
    pub timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Worker threads, each with its own event loop and connections.
    pub threads: usize,
    /// Reuse connections; when false, every request opens a new connection.
    pub keep_alive: bool,
    /// HTTP/1.1 requests in flight per connection (`--pipeline N`; 1: none
    /// pipelined), their responses matched in order.
    pub pipeline: usize,
    /// HTTP/2 or not (`--http2`, `--h2c`).
    pub http2: Http2Mode,
    /// HTTP/2 streams in flight per connection (`-p/--streams N`).
    pub streams: usize,
    /// Connect to this Unix domain socket instead of the URL's host and port
    /// (`--unix-socket`); the URL still gives the `Host` header and the path.
    pub unix_socket: Option<std::path::PathBuf>,
    /// How `https://` targets are verified, and the client certificate.
    pub tls: crate::tls::TlsOptions,
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
    /// Load sent during this first part of the run is kept out of the statistics.
    pub warmup: Option<Duration>,
    /// Length of one interval of the time series (and of the HDR interval log).
    pub stats_interval: Duration,
    /// Pass/fail checks on the finished run (`p99<250ms`, `error_rate<0.1%`).
    #[serde(skip)]
    pub thresholds: Vec<crate::threshold::Threshold>,
    /// The command that starts a worker process (program and arguments): the
    /// process reads its work on stdin and streams results on stdout, see
    /// [`crate::engine::worker_process_main`]. Needed only for runs of more
    /// than one process; the `myriad` binary sets it to `myriad __worker`.
    #[serde(skip)]
    pub worker_command: Option<Vec<OsString>>,
    /// What to measure besides the client (`--watch-pid`, the demo's
    /// built-in server); the parent samples it, worker processes never do.
    #[serde(skip)]
    pub watch: crate::resources::Watch,
    /// This run is one shard of a larger one ([`crate::shard::Shard::apply`]
    /// sets it, with the load already this shard's part).
    #[serde(default)]
    pub shard: Option<crate::shard::ShardInfo>,
    /// Keep each interval's merged counts and histograms in the time series
    /// ([`crate::summary::IntervalStats::tally`], about 2 KB a second,
    /// compressed): what a result file stores so that shards merge exactly.
    /// Without them the series keeps only its figures, and a long run's memory
    /// stays flat; a result file written from such a run has empty interval
    /// tallies. `myriad run` keeps them only with `-o`. Default: kept.
    #[serde(skip, default = "kept")]
    pub series_tallies: bool,
}

/// The default of [`Config::series_tallies`].
fn kept() -> bool {
    true
}

impl Config {
    /// `--http2`, `--h2c` and `--streams` against the URLs and each other.
    fn validate_http2(&self) -> Result<(), ConfigError> {
        let refuse = |m: &str| Err(ConfigError::Http2(m.to_string()));
        match self.http2 {
            Http2Mode::Off if self.streams != 1 => {
                return refuse(
                    "-p/--streams is for HTTP/2: add --http2 (https://) or --h2c (http://)",
                )
            }
            Http2Mode::Off => return Ok(()),
            Http2Mode::Tls if self.targets.iter().any(|t| !t.tls) => {
                return refuse(
                    "--http2 negotiates HTTP/2 over TLS: use https:// URLs, or --h2c for http://",
                )
            }
            Http2Mode::PriorKnowledge if self.targets.iter().any(|t| t.tls) => {
                return refuse(
                    "--h2c is HTTP/2 over cleartext: use http:// URLs, or --http2 for https://",
                )
            }
            _ => {}
        }
        if !(1..=1024).contains(&self.streams) {
            return Err(ConfigError::OutOfRange {
                flag: "-p/--streams",
                expected: "between 1 and 1024",
                got: self.streams.to_string(),
            });
        }
        if self.pipeline > 1 {
            return refuse("--pipeline is for HTTP/1.1: with --http2 or --h2c use -p/--streams");
        }
        if self.unix_socket.is_some() && self.http2 == Http2Mode::Tls {
            return refuse("--http2 with --unix-socket is not supported: use --h2c");
        }
        Ok(())
    }

    /// A configuration with the defaults of `myriad run` for these URLs: 50
    /// connections, 10 s, GET, 30 s timeout, 5 s connect timeout, one thread per
    /// core, keep-alive.
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Result<Config, ConfigError> {
        Config::new_via(urls, &[])
    }

    /// Like [`Config::new`], with `--connect-to` overrides of where URLs connect.
    pub fn new_via<S: AsRef<str>>(
        urls: &[S],
        connect_to: &[ConnectTo],
    ) -> Result<Config, ConfigError> {
        let targets = urls
            .iter()
            .map(|u| Target::parse_via(u.as_ref(), connect_to))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config::with_targets(targets))
    }

    /// Like [`Config::new`], for URLs reached over the Unix socket at `path`
    /// (`--unix-socket`): their hosts are not resolved.
    pub fn new_unix<S: AsRef<str>>(
        urls: &[S],
        path: std::path::PathBuf,
    ) -> Result<Config, ConfigError> {
        let targets = urls
            .iter()
            .map(|u| Target::parse_unresolved(u.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = Config::with_targets(targets);
        config.unix_socket = Some(path);
        Ok(config)
    }

    fn with_targets(targets: Vec<Target>) -> Config {
        Config {
            targets,
            load: Load::Closed {
                connections: 50,
                stop: Stop::Duration(DEFAULT_DURATION),
            },
            method: "GET".to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            requests: Vec::new(),
            request_order: crate::requests::Order::InOrder,
            data: None,
            data_order: crate::requests::Order::InOrder,
            seed: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            threads: available_cores(),
            keep_alive: true,
            pipeline: 1,
            http2: Http2Mode::Off,
            streams: 1,
            unix_socket: None,
            tls: crate::tls::TlsOptions::default(),
            sources: Vec::new(),
            connect_rate: None,
            processes: None,
            warmup: None,
            stats_interval: Duration::from_secs(1),
            thresholds: Vec::new(),
            worker_command: None,
            watch: crate::resources::Watch::default(),
            shard: None,
            series_tallies: true,
        }
    }

    /// Connections the run may hold at once (the load's).
    pub fn connections(&self) -> usize {
        self.load.connections()
    }

    /// When the run stops issuing requests (the load's).
    pub fn stop(&self) -> Stop {
        self.load.stop()
    }

    /// Checks every setting; [`crate::Plan::new`] calls this once, before any traffic.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |flag, expected, got: String| ConfigError::OutOfRange {
            flag,
            expected,
            got,
        };
        if self.targets.is_empty() {
            return Err(ConfigError::NoTargets);
        }
        self.load.validate()?;
        let connections = self.connections();
        if connections < self.targets.len() {
            return Err(ConfigError::FewerConnectionsThanTargets {
                connections,
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
        if !(1..=1024).contains(&self.pipeline) {
            return Err(range(
                "--pipeline",
                "between 1 and 1024",
                self.pipeline.to_string(),
            ));
        }
        self.validate_http2()?;
        if self.pipeline > 1 && !self.keep_alive {
            return Err(ConfigError::Conflict(
                "--pipeline sends several requests on one connection; leave out --disable-keepalive",
            ));
        }
        if let Some(pid) = self.watch.missing_pid() {
            return Err(ConfigError::WatchPid(pid));
        }
        if let Some(path) = &self.unix_socket {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::metadata(path) {
                Ok(m) if m.file_type().is_socket() => {}
                Ok(_) => {
                    return Err(ConfigError::UnixSocket(format!(
                        "--unix-socket '{}' is not a socket: give the path a server listens on",
                        path.display()
                    )))
                }
                Err(e) => {
                    return Err(ConfigError::UnixSocket(format!(
                        "--unix-socket '{}': {e}: give the path a server listens on",
                        path.display()
                    )))
                }
            }
            if !self.sources.is_empty() {
                return Err(ConfigError::Conflict(
                    "--source addresses belong to TCP; leave them out with --unix-socket",
                ));
            }
        }
        if self.targets.iter().any(|t| t.tls) {
            if self.unix_socket.is_some() {
                return Err(ConfigError::Conflict(
                    "https:// over --unix-socket is not supported: use http:// URLs with --unix-socket",
                ));
            }
            crate::tls::client_config(&self.tls)?;
            for t in self.targets.iter().filter(|t| t.tls) {
                crate::tls::server_name(&t.host)?;
            }
        }
        if self.timeout.is_zero() {
            return Err(range("--timeout", "longer than 0", "0".into()));
        }
        if self.connect_timeout.is_zero() {
            return Err(range("--connect-timeout", "longer than 0", "0".into()));
        }
        if let Some(r) = self.connect_rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(range("--connect-rate", "a positive number", r.to_string()));
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
        if self.stats_interval < Duration::from_millis(10) {
            return Err(range(
                "--stats-interval",
                "at least 10ms",
                format!("{:?}", self.stats_interval),
            ));
        }
        if let (Some(w), Stop::Duration(d)) = (self.warmup, self.stop()) {
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
        for r in &self.requests {
            for (name, value) in &r.headers {
                if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                    return Err(ConfigError::Header(format!("{name}: {value}")));
                }
            }
        }
        self.validate_requests()
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
        let e = Target::parse("ftp://127.0.0.1/").unwrap_err();
        assert!(e.to_string().contains("use http:// or https://"), "{e}");
        let t = Target::parse("https://localhost/").unwrap();
        assert_eq!(
            (t.tls, t.addr.port(), t.host.as_str()),
            (true, 443, "localhost")
        );
        let e = Target::parse("not a url").unwrap_err();
        assert!(matches!(e, ConfigError::InvalidUrl { .. }), "{e}");
        let e = Target::parse("http://no-such-host.invalid/").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownHost { .. }), "{e}");
    }

    #[test]
    fn connect_to_keeps_host_and_changes_the_address() {
        let c: ConnectTo = "example.test:443:127.0.0.1:8443".parse().unwrap();
        assert_eq!(c.to, "127.0.0.1:8443".parse().unwrap());
        let t = Target::parse_via("https://Example.test/x", &[c]).unwrap();
        assert_eq!(t.addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(
            (t.host.as_str(), t.host_header.as_str()),
            ("example.test", "example.test")
        );
        let v6: ConnectTo = "[::1]:80:[::1]:8080".parse().unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("[::1]", 80));
        assert_eq!(v6.to, "[::1]:8080".parse().unwrap());
        for bad in [
            "",
            "a:1:b",
            "a:x:127.0.0.1:1",
            "a:1:127.0.0.1:1:extra",
            ":1:127.0.0.1:2",
        ] {
            let e = bad.parse::<ConnectTo>().unwrap_err().to_string();
            assert!(e.contains("--connect-to"), "{bad}: {e}");
        }
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
    fn flags_make_one_load() {
        let secs = |n| Stop::Duration(Duration::from_secs(n));
        let stages: crate::schedule::Stages = "1s:10,2s:4".parse().unwrap();
        let flags = |f: fn(&mut LoadFlags)| {
            let mut flags = LoadFlags {
                connections: 8,
                ..LoadFlags::default()
            };
            f(&mut flags);
            Load::from_flags(flags)
        };
        // Neither -n nor -z: the default duration.
        assert_eq!(flags(|_| {}).unwrap(), Load::closed(8, secs(10)).unwrap());
        let open = flags(|f| f.rate = Some(100.0)).unwrap();
        assert_eq!(open.connections(), 8);
        assert_eq!(open.open_model().unwrap().when_busy, WhenBusy::Queue);
        // --stages alone ramps connections (as many as the largest target) and
        // ends with the last stage.
        let ramp = flags(|f| f.stages = Some("1s:10,2s:4".parse().unwrap())).unwrap();
        assert_eq!(
            ramp,
            Load::ClosedRamp {
                stages: stages.clone()
            }
        );
        assert_eq!((ramp.connections(), ramp.stop()), (10, secs(3)));
        // With --rate, --stages ramps the rate from it.
        let open = flags(|f| {
            f.rate = Some(0.0);
            f.stages = Some("1s:10,2s:4".parse().unwrap());
            f.when_busy = WhenBusy::Drop;
        })
        .unwrap();
        assert_eq!(open.stop(), secs(3));
        assert_eq!(open.open_model().unwrap().when_busy, WhenBusy::Drop);
        let idle = flags(|f| f.interval = Some(Duration::from_secs(60))).unwrap();
        assert_eq!(idle.interval_every(), Some(Duration::from_secs(60)));
        // Settings that do not go together, or out of range: one line naming the flag.
        for (f, needle) in [
            (
                (|f: &mut LoadFlags| {
                    f.rate = Some(5.0);
                    f.interval = Some(Duration::from_secs(1));
                }) as fn(&mut LoadFlags),
                "--per-connection-interval",
            ),
            (|f| f.rate = Some(0.0), "--rate"),
            (|f| f.stages = Some("1s:0".parse().unwrap()), "--stages"),
            (|f| f.stop = Some(Stop::Requests(0)), "-n/--requests"),
            (|f| f.connections = 0, "-c/--connections"),
        ] {
            let e = flags(f).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn a_load_splits_exactly_into_parts() {
        let load = Load::closed(10, Stop::Requests(101)).unwrap();
        let parts: Vec<Load> = (0..3).map(|i| load.part(i, 3)).collect();
        assert_eq!(parts.iter().map(Load::connections).sum::<usize>(), 10);
        let n: u64 = parts
            .iter()
            .map(|p| match p.stop() {
                Stop::Requests(n) => n,
                Stop::Duration(_) => 0,
            })
            .sum();
        assert_eq!(n, 101);
        let open = Load::open(90.0, 4, Stop::Duration(Duration::from_secs(1))).unwrap();
        assert!((open.part(1, 3).open_model().unwrap().rate - 30.0).abs() < 1e-9);
        assert!(Load::closed(1, Stop::Requests(5))
            .unwrap()
            .part(1, 2)
            .is_empty());
    }

    #[test]
    fn validation() {
        let mut c = Config::new(&["http://127.0.0.1:1/"]).unwrap();
        assert_eq!(c.validate(), Ok(()));
        c.load = Load::Closed {
            connections: 0,
            stop: Stop::Requests(1),
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("-c/--connections"));
        c.load = Load::Closed {
            connections: 1,
            stop: Stop::Requests(0),
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("-n/--requests"));
        let mut c = Config::new(&["http://127.0.0.1:1/", "http://127.0.0.1:2/"]).unwrap();
        c.load = Load::closed(1, Stop::Requests(5)).unwrap();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::FewerConnectionsThanTargets { .. })
        ));
    }
}
