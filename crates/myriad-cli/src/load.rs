//! The load flags that `myriad run` and `myriad find-max` share: targets,
//! requests, connections, and where connections come from.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use myriad::Config;

use crate::args::{at_least_one, header, positive_duration};

/// Targets, the request, and the connections that carry it.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Target URLs (`http://` or `https://host[:port][/path]`); several spread the load round-robin.
    /// The path and query may hold templates such as `{{seq}}` (see README).
    #[arg(
        required_unless_present = "targets",
        conflicts_with = "targets",
        value_name = "URL"
    )]
    pub urls: Vec<String>,
    /// Read the requests from a targets file (`-`: stdin): vegeta's HTTP
    /// format (`METHOD URL`, headers, `@body`, a blank line between) or JSON
    /// lines (`{"method", "url", "header", "body" (base64), "name"}`).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// The order each connection takes the targets file's requests in.
    #[arg(long, value_name = "ORDER", default_value = "in-order", value_parser = order)]
    pub targets_order: myriad::requests::Order,
    /// CSV file (a header line of column names, then rows) whose columns
    /// `{{row.NAME}}` templates read, one row per request.
    #[arg(long, value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
    /// The order `--data` rows are taken in, one per request.
    #[arg(long, value_name = "ORDER", default_value = "in-order", value_parser = order)]
    pub data_order: myriad::requests::Order,
    /// Seed of the random orders and template values [default: new per run].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Concurrent connections.
    #[arg(short = 'c', long, value_name = "N", default_value = "50", value_parser = at_least_one)]
    pub connections: usize,
    /// Request method.
    #[arg(
        short = 'm',
        long,
        value_name = "METHOD",
        default_value = "GET",
        conflicts_with = "targets"
    )]
    pub method: String,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = header)]
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[arg(short = 'd', long, value_name = "BODY", conflicts_with_all = ["body_file", "targets"])]
    pub body: Option<String>,
    /// Read the request body from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "targets")]
    pub body_file: Option<PathBuf>,
    /// Limit for each request, from send to the end of the response.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Limit for establishing each connection.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = positive_duration)]
    pub connect_timeout: Duration,
    /// Worker threads [default: number of cores].
    #[arg(short = 't', long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
    /// Open a new connection for every request (shows what keep-alive saves).
    #[arg(long)]
    pub disable_keepalive: bool,
    /// HTTP/1.1 pipelining: up to N requests in flight per connection, written
    /// ahead in batches, responses matched in order.
    #[arg(long, value_name = "N", default_value = "1", value_parser = at_least_one)]
    pub pipeline: usize,
    /// HTTP/2 over TLS: offer only `h2` in ALPN (https:// URLs).
    #[arg(long, conflicts_with = "h2c")]
    pub http2: bool,
    /// HTTP/2 over cleartext with prior knowledge (http:// URLs).
    #[arg(long)]
    pub h2c: bool,
    /// HTTP/2 streams in flight per connection (with --http2 or --h2c).
    #[arg(short = 'p', long, value_name = "N", default_value = "1", value_parser = at_least_one)]
    pub streams: usize,
    /// Connect to this Unix domain socket instead of the URL's host and port;
    /// the URL still gives the Host header and the path.
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,
    /// Connect to ADDR:PORT for URLs of HOST:PORT, keeping the URL's Host
    /// header and TLS name (as curl's --connect-to; repeatable).
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT")]
    pub connect_to: Vec<myriad::ConnectTo>,
    /// HTTPS: also trust the CA certificates of this PEM file (repeatable);
    /// the system's roots are always trusted.
    #[arg(long = "cacert", value_name = "FILE")]
    pub cacerts: Vec<PathBuf>,
    /// HTTPS: do not verify the server's certificate chain or name.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// HTTPS: present this PEM client certificate chain (with --key).
    #[arg(long = "cert", value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// HTTPS: the private key (PEM) of --cert.
    #[arg(long = "key", value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// Local addresses to connect from: a range 127.0.0.1-127.0.0.64, a CIDR
    /// 127.0.1.0/24, or a list a,b,c [default: automatic for loopback targets].
    #[arg(long, value_name = "ADDRS", value_parser = source_addrs)]
    pub source: Option<Sources>,
    /// Connections opened per second at most [default: 20000 above 20,000 connections].
    #[arg(long, value_name = "PER_SECOND", value_parser = positive_rate)]
    pub connect_rate: Option<f64>,
    /// Worker processes to spread connections over [default: as the open-files limit requires].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub processes: Option<usize>,
}

impl LoadArgs {
    /// A validated-later [`Config`] with these settings (the caller sets how
    /// the run is bounded and paced).
    pub fn base_config(&self) -> Result<Config, String> {
        let config = match (&self.targets, &self.unix_socket) {
            (Some(file), unix) => {
                let targets = myriad::targets::read_targets(file).map_err(|e| e.to_string())?;
                Config::from_file_targets(
                    &file.display().to_string(),
                    &targets,
                    &self.connect_to,
                    unix.clone(),
                )
            }
            (None, Some(path)) => Config::new_unix(&self.urls, path.clone()),
            (None, None) => Config::new_via(&self.urls, &self.connect_to),
        };
        let mut config = config.map_err(|e| e.to_string())?;
        config.request_order = self.targets_order;
        config.data_order = self.data_order;
        config.seed = self.seed;
        if let Some(path) = &self.data {
            config.data = Some(myriad::template::DataSet::read(path).map_err(|e| e.to_string())?);
        }
        // The caller picks the load model; this is the closed one with the defaults.
        config.load = myriad::Load::Closed {
            connections: self.connections,
            stop: myriad::Stop::Duration(myriad::config::DEFAULT_DURATION),
        };
        config.method = self.method.to_ascii_uppercase();
        config.headers = self.headers.clone();
        config.body = match (&self.body, &self.body_file) {
            (Some(b), _) => b.clone().into_bytes(),
            (None, Some(path)) => std::fs::read(path)
                .map_err(|e| format!("cannot read --body-file '{}': {e}", path.display()))?,
            (None, None) => Vec::new(),
        };
        config.timeout = self.timeout;
        config.connect_timeout = self.connect_timeout;
        if let Some(t) = self.threads {
            config.threads = t;
        }
        config.keep_alive = !self.disable_keepalive;
        config.pipeline = self.pipeline;
        config.tls = myriad::tls::TlsOptions {
            cacerts: self.cacerts.clone(),
            insecure: self.insecure,
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            alpn_h2: self.http2,
        };
        config.http2 = match (self.http2, self.h2c) {
            (true, _) => myriad::config::Http2Mode::Tls,
            (false, true) => myriad::config::Http2Mode::PriorKnowledge,
            (false, false) => myriad::config::Http2Mode::Off,
        };
        config.streams = self.streams;
        config.sources = self.source.clone().map(|s| s.0).unwrap_or_default();
        config.connect_rate = self.connect_rate;
        config.processes = self.processes;
        config.worker_command = crate::args::worker_command();
        Ok(config)
    }
}

/// The addresses given to `--source`.
#[derive(Debug, Clone)]
pub struct Sources(Vec<IpAddr>);

/// Parses `--source`: `A-B` (an IPv4 range), `A/N` (a CIDR, network and
/// broadcast addresses excluded when N < 31), or a comma-separated list.
impl LoadArgs {
    /// What the run loads, for titles: its URLs, or its targets file.
    pub fn what(&self) -> String {
        match &self.targets {
            Some(file) => format!("--targets {}", file.display()),
            None => self.urls.join(", "),
        }
    }
}

fn order(s: &str) -> Result<myriad::requests::Order, String> {
    match s {
        "in-order" => Ok(myriad::requests::Order::InOrder),
        "random" => Ok(myriad::requests::Order::Random),
        _ => Err("expected in-order or random".into()),
    }
}

fn source_addrs(s: &str) -> Result<Sources, String> {
    const MAX: u32 = 1 << 16;
    let bad = || {
        "expected addresses like 127.0.0.1-127.0.0.64, 127.0.1.0/24 or 10.0.0.1,10.0.0.2"
            .to_string()
    };
    let v4 = |t: &str| {
        t.trim()
            .parse::<std::net::Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| bad())
    };
    let out: Vec<IpAddr> = if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (v4(a)?, v4(b)?);
        if b < a || b - a >= MAX {
            return Err(bad());
        }
        (a..=b).map(|n| IpAddr::V4(n.into())).collect()
    } else if let Some((net, bits)) = s.split_once('/') {
        let bits: u32 = bits.trim().parse().map_err(|_| bad())?;
        if !(16..=32).contains(&bits) {
            return Err("a --source CIDR must be /16 to /32".into());
        }
        let size = 1u32 << (32 - bits);
        let base = v4(net)? & !(size - 1);
        let (first, last) = if size > 2 {
            (base + 1, base + size - 2)
        } else {
            (base, base + size - 1)
        };
        (first..=last).map(|n| IpAddr::V4(n.into())).collect()
    } else {
        s.split(',')
            .map(|t| t.trim().parse::<IpAddr>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?
    };
    if out.is_empty() {
        return Err(bad());
    }
    Ok(Sources(out))
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("expected a positive number of connections per second".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_forms() {
        let r = source_addrs("127.0.0.1-127.0.0.4").unwrap().0;
        assert_eq!(r.len(), 4);
        assert_eq!(r[3], "127.0.0.4".parse::<IpAddr>().unwrap());
        let c = source_addrs("127.0.1.0/24").unwrap().0;
        assert_eq!(c.len(), 254);
        assert_eq!(c[0], "127.0.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(source_addrs("127.0.0.9/32").unwrap().0.len(), 1);
        assert_eq!(source_addrs("127.0.0.1, ::1").unwrap().0.len(), 2);
        for bad in ["", "x", "127.0.0.5-127.0.0.1", "127.0.0.0/8", "1.2.3.4/33"] {
            assert!(source_addrs(bad).is_err(), "{bad}");
        }
    }
}
