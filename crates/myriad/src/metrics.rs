//! Outcomes and the per-worker recorder.
//!
//! Every request ends as exactly one [`Outcome`]: a status code or one
//! [`ErrorKind`]. A worker records into its own [`Tally`] per target with no lock
//! and no channel; tallies are merged once at the end. `issued` is counted when a
//! request is handed out and outcomes when it ends, separately, so the
//! invariant `issued = succeeded + http errors + failures` is a real check, not a
//! tautology.
//!
//! Recorders cross process boundaries (and, later, machines) in the public,
//! versioned format of [`wire`].

pub mod wire;

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a request failed without a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection could not be established (refused, unreachable, out of
    /// open files or ephemeral ports).
    Connect,
    /// Establishing the connection took longer than the connect timeout.
    ConnectTimeout,
    /// The response did not complete within the request timeout.
    Timeout,
    /// The connection broke: reset, broken pipe, or closed before the response ended.
    Io,
    /// The response was not valid HTTP/1.1 (HTTP/2 has
    /// [`Http2Protocol`](ErrorKind::Http2Protocol)).
    Protocol,
    /// The run was interrupted (Ctrl-C) while this request was in flight.
    Cancelled,
    /// In flight in a worker process that died; its outcome is unknown.
    Lost,
    /// The TLS handshake failed (the server closed it, no common protocol
    /// version or cipher, a bad record).
    Tls,
    /// The server's certificate was not trusted (unknown issuer, wrong name,
    /// expired).
    Certificate,
    /// HTTP/2: the server refused or abandoned the request's stream with
    /// GOAWAY (a stream above the GOAWAY's last stream, or one cut off by a
    /// GOAWAY with an error code).
    Goaway,
    /// HTTP/2: the server reset the request's stream (RST_STREAM, including
    /// REFUSED_STREAM).
    StreamReset,
    /// HTTP/2: the server broke the protocol (a malformed or unexpected frame,
    /// bad HPACK, a flow-control violation).
    Http2Protocol,
    /// TLS: the server did not agree to the protocol offered in ALPN (`h2`
    /// with `--http2`).
    Alpn,
}

impl ErrorKind {
    /// Every kind, in report order. New kinds are appended: a kind's place
    /// here is its place in the wire format's `errors` ([`wire`]).
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Connect,
        ErrorKind::ConnectTimeout,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Protocol,
        ErrorKind::Cancelled,
        ErrorKind::Lost,
        ErrorKind::Tls,
        ErrorKind::Certificate,
        ErrorKind::Goaway,
        ErrorKind::StreamReset,
        ErrorKind::Http2Protocol,
        ErrorKind::Alpn,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Lost => "lost",
            ErrorKind::Tls => "tls",
            ErrorKind::Certificate => "certificate",
            ErrorKind::Goaway => "goaway",
            ErrorKind::StreamReset => "stream_reset",
            ErrorKind::Http2Protocol => "http2_protocol",
            ErrorKind::Alpn => "alpn",
        }
    }

    /// What the kind means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connection refused, unreachable, or out of files/ports",
            ErrorKind::ConnectTimeout => "no connection within the connect timeout",
            ErrorKind::Timeout => "no complete response within the request timeout",
            ErrorKind::Io => "connection reset, broken pipe, or closed mid-response",
            ErrorKind::Protocol => "malformed HTTP/1.1 response",
            ErrorKind::Cancelled => "in flight when the run was interrupted",
            ErrorKind::Lost => "in flight in a worker process that died",
            ErrorKind::Tls => "TLS handshake failed",
            ErrorKind::Certificate => "server certificate not trusted",
            ErrorKind::Goaway => "stream refused or cut off by the server's HTTP/2 GOAWAY",
            ErrorKind::StreamReset => "stream reset by the server (HTTP/2 RST_STREAM)",
            ErrorKind::Http2Protocol => "HTTP/2 protocol error (bad frame, HPACK, flow control)",
            ErrorKind::Alpn => "server did not agree to the ALPN protocol (h2)",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status.
    Status(u16),
    /// No complete response.
    Error(ErrorKind),
}

/// Highest latency the histograms track, in microseconds (one hour); longer
/// values are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Counts and latencies for one target (or the total), mergeable.
#[derive(Debug, Clone)]
pub struct Tally {
    issued: u64,
    statuses: Vec<u64>,
    errors: [u64; ErrorKind::ALL.len()],
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    dropped: u64,
    queued: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally {
            issued: 0,
            statuses: vec![0; 1000],
            errors: [0; ErrorKind::ALL.len()],
            bytes_sent: 0,
            bytes_received: 0,
            latency: new_histogram(),
            service: new_histogram(),
            dropped: 0,
            queued: 0,
        }
    }

    /// Counts a request handed out.
    #[inline]
    pub fn issue(&mut self) {
        self.issued += 1;
    }

    /// Counts how a request ended; responses record their latency (microseconds).
    #[inline]
    pub fn record(&mut self, outcome: Outcome, latency_us: u64) {
        match outcome {
            Outcome::Status(code) => {
                let slot = usize::from(code).min(self.statuses.len() - 1);
                self.statuses[slot] += 1;
                record_us(&mut self.latency, latency_us);
            }
            Outcome::Error(kind) => self.errors[kind.index()] += 1,
        }
    }

    /// Records the service time of a response (open model): from the moment it
    /// was actually sent, where [`record`](Self::record) measures from when it
    /// was due.
    #[inline]
    pub fn record_service(&mut self, service_us: u64) {
        record_us(&mut self.service, service_us);
    }

    /// Counts a request that was due but not sent because every allowed
    /// connection was busy (open model). Dropped requests are not issued.
    #[inline]
    pub fn drop_request(&mut self) {
        self.dropped += 1;
    }

    /// Requests due but not sent (open model, connection cap reached).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Counts a request that was due while every allowed connection was busy
    /// and waited for one (open model, the default `--when-busy queue`). It is
    /// issued like any other; this only says it was sent late.
    #[inline]
    pub fn note_queued(&mut self) {
        self.queued += 1;
    }

    /// Requests that waited for a free connection (open model).
    pub fn queued(&self) -> u64 {
        self.queued
    }

    /// Service time of responses, from actual send (open model only; empty otherwise).
    pub fn service(&self) -> &Histogram<u64> {
        &self.service
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: &Tally) {
        self.issued += other.issued;
        for (a, b) in self.statuses.iter_mut().zip(&other.statuses) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(&other.errors) {
            *a += b;
        }
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        // The histograms resize to take the other's values, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        self.dropped += other.dropped;
        self.queued += other.queued;
    }

    /// Requests handed out.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Responses with status 1xx-3xx (a final 1xx cannot occur; it is here so no
    /// code is lost).
    pub fn succeeded(&self) -> u64 {
        self.statuses[..400].iter().sum()
    }

    /// Responses with status 400 and above.
    pub fn http_errors(&self) -> u64 {
        self.statuses[400..].iter().sum()
    }

    /// Requests with no complete response.
    pub fn failures(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// All requests that ended: `succeeded + http_errors + failures`.
    pub fn completed(&self) -> u64 {
        self.succeeded() + self.http_errors() + self.failures()
    }

    /// Whether `issued = succeeded + http errors + failures`.
    pub fn balanced(&self) -> bool {
        self.issued == self.completed()
    }

    /// Non-zero status counts, ascending by code.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(code, &n)| (code as u16, n))
    }

    /// Failures of one kind.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// Latency of every response, in microseconds.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// (HTTP errors + failures) / issued, a fraction; 0 when nothing was issued.
    pub fn error_rate(&self) -> f64 {
        if self.issued == 0 {
            0.0
        } else {
            (self.http_errors() + self.failures()) as f64 / self.issued as f64
        }
    }
}

/// The value at quantile `q` (0.99 for p99) of a histogram; 0 when it is empty.
pub fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

/// `count` per second over `over`, zero for an empty interval.
pub fn per_second(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// An empty latency histogram (microseconds, 3 significant digits).
///
/// It starts small and grows to the largest value recorded (values are
/// clamped to [`MAX_LATENCY_US`] by [`record_us`]), instead of being sized
/// for an hour up front: a histogram sized for an hour is about 188 KB, which
/// every tally of every interval would allocate and zero (two per report
/// row), while latencies of a few milliseconds need about 40 KB. Adding a
/// histogram with larger values grows this one, so merges never fail.
pub(crate) fn new_histogram() -> Histogram<u64> {
    let mut h = match Histogram::new_with_bounds(1, 2, 3) {
        Ok(h) => h,
        // The bounds are constants that hdrhistogram accepts; this arm is unreachable.
        Err(_) => Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits")),
    };
    h.auto(true);
    h
}

/// Records `us` microseconds into `h`, at least 1 and at most an hour.
#[inline]
pub(crate) fn record_us(h: &mut Histogram<u64>, us: u64) {
    // Not `saturating_record`: it clamps to the current size instead of
    // growing. Growing fails only if the counts outgrow `usize`, which an
    // hour at 3 digits cannot.
    let _ = h.record(us.clamp(1, MAX_LATENCY_US));
}

/// Machine limits that made connects fail; each is reported with what raises it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LimitHits {
    /// Connects that failed with EMFILE/ENFILE (too many open files).
    pub open_files: u64,
    /// Connects that failed with EADDRNOTAVAIL (no free ephemeral port).
    pub ephemeral_ports: u64,
}

impl LimitHits {
    /// Adds another worker's hits.
    pub fn merge(&mut self, other: &LimitHits) {
        self.open_files += other.open_files;
        self.ephemeral_ports += other.ephemeral_ports;
    }
}

/// What one worker records over an interval: a tally per target, connects,
/// limit hits. Workers ship these as deltas; merging deltas gives totals.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// One tally per target, in target order.
    pub targets: Vec<Tally>,
    /// Connections established.
    pub connections_opened: u64,
    /// Time to establish each connection, microseconds (a TLS handshake not
    /// included).
    pub connect_latency: Histogram<u64>,
    /// Time of each TLS handshake, microseconds.
    pub tls_handshake: Histogram<u64>,
    /// TLS handshakes that resumed an earlier session.
    pub tls_resumed: u64,
    /// Open model: how late each request was sent after it was due,
    /// microseconds, except those that waited for a busy connection (queued)
    /// or for a new connection to be established.
    pub send_lag: Histogram<u64>,
    /// How late the worker's event loop ran a 10 ms probe timer, microseconds:
    /// stalls of the generator itself.
    pub loop_stall: Histogram<u64>,
    /// Limits of the machine that were hit.
    pub limits: LimitHits,
    /// Requests of the warm-up, all targets together: kept out of the statistics.
    pub warmup: Tally,
}

impl Recorder {
    /// An empty recorder for `targets` targets.
    pub fn new(targets: usize) -> Recorder {
        Recorder {
            targets: (0..targets).map(|_| Tally::new()).collect(),
            connections_opened: 0,
            connect_latency: new_histogram(),
            tls_handshake: new_histogram(),
            tls_resumed: 0,
            send_lag: new_histogram(),
            loop_stall: new_histogram(),
            limits: LimitHits::default(),
            warmup: Tally::new(),
        }
    }

    /// Counts an established connection and how long it took.
    #[inline]
    pub fn connected(&mut self, latency_us: u64) {
        self.connections_opened += 1;
        record_us(&mut self.connect_latency, latency_us);
    }

    /// Counts a TLS handshake, how long it took and whether it resumed.
    #[inline]
    pub fn handshake(&mut self, micros: u64, resumed: bool) {
        record_us(&mut self.tls_handshake, micros);
        self.tls_resumed += u64::from(resumed);
    }

    /// Adds another recorder (another worker's, or a later interval's).
    pub fn merge(&mut self, other: &Recorder) {
        for (a, b) in self.targets.iter_mut().zip(&other.targets) {
            a.merge(b);
        }
        self.connections_opened += other.connections_opened;
        let _ = self.connect_latency.add(&other.connect_latency);
        let _ = self.tls_handshake.add(&other.tls_handshake);
        self.tls_resumed += other.tls_resumed;
        let _ = self.send_lag.add(&other.send_lag);
        let _ = self.loop_stall.add(&other.loop_stall);
        self.limits.merge(&other.limits);
        self.warmup.merge(&other.warmup);
    }

    /// Requests issued minus requests ended, over all targets: what is in flight
    /// if this recorder holds everything a worker shipped so far.
    pub fn in_flight(&self) -> Vec<u64> {
        self.targets
            .iter()
            .map(|t| t.issued().saturating_sub(t.completed()))
            .collect()
    }
}

/// A worker's connection state at the moment it shipped a delta: levels, not
/// counts, so the latest value of each worker replaces the previous one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Gauges {
    /// Connections open now.
    pub open: u64,
    /// Most connections open at once so far.
    pub peak_open: u64,
    /// Connections of the plan that have connected at least once.
    pub established: u64,
    /// Connections in the plan.
    pub planned: u64,
    /// Microseconds from the start until the last planned connection first
    /// connected (meaningful once `established == planned`).
    pub establish_us: u64,
}

impl Gauges {
    /// Adds another worker's gauges (a sum of levels; the establish time is the
    /// latest of all).
    pub fn add(&mut self, other: &Gauges) {
        self.open += other.open;
        self.peak_open += other.peak_open;
        self.established += other.established;
        self.planned += other.planned;
        self.establish_us = self.establish_us.max(other.establish_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_classifies_and_merges() {
        let mut a = Tally::new();
        for outcome in [
            Outcome::Status(200),
            Outcome::Status(302),
            Outcome::Status(404),
            Outcome::Status(503),
            Outcome::Error(ErrorKind::Timeout),
        ] {
            a.issue();
            a.record(outcome, 1000);
        }
        assert_eq!((a.succeeded(), a.http_errors(), a.failures()), (2, 2, 1));
        assert!(a.balanced());
        let mut b = Tally::new();
        b.issue();
        assert!(!b.balanced());
        b.record(Outcome::Error(ErrorKind::Connect), 0);
        b.merge(&a);
        assert_eq!(b.issued(), 6);
        assert!(b.balanced());
        assert_eq!(b.errors(ErrorKind::Connect), 1);
        assert_eq!(b.latency().len(), 4);
        assert_eq!(
            b.statuses().collect::<Vec<_>>(),
            vec![(200, 1), (302, 1), (404, 1), (503, 1)]
        );
    }

    #[test]
    fn error_kinds_have_their_own_names_and_descriptions() {
        // Reports and result files name kinds by these: each is snake_case
        // and told apart from the others.
        let names: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        for k in ErrorKind::ALL {
            let name = k.name();
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!(k.describe().len() > 10, "{name}: {}", k.describe());
        }
        let described: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|k| k.describe()).collect();
        assert_eq!(described.len(), ErrorKind::ALL.len());
        assert_eq!(ErrorKind::Timeout.name(), "timeout");
        assert_eq!(ErrorKind::Http2Protocol.name(), "http2_protocol");
    }

    #[test]
    fn rates_over_an_empty_interval_are_zero() {
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
        assert_eq!(per_second(0, Duration::ZERO), 0.0);
        assert_eq!(per_second(5, Duration::from_millis(500)), 10.0);
    }

    #[test]
    fn open_model_counts_and_service_times_add_up_and_merge() {
        let mut a = Tally::new();
        for _ in 0..2 {
            a.drop_request();
        }
        for _ in 0..3 {
            a.note_queued();
        }
        a.issue();
        a.record(Outcome::Status(200), 900);
        a.record_service(400);
        assert_eq!((a.dropped(), a.queued(), a.issued()), (2, 3, 1));
        assert_eq!(a.service().len(), 1);
        assert!(a.service().equivalent(a.service().max(), 400));
        // Dropped requests are not issued: the tally still balances.
        assert!(a.balanced());
        a.bytes_sent = 100;
        a.bytes_received = 700;
        let mut b = Tally::new();
        b.drop_request();
        b.note_queued();
        b.bytes_sent = 3;
        b.bytes_received = 5;
        b.merge(&a);
        assert_eq!((b.dropped(), b.queued(), b.issued()), (3, 4, 1));
        assert_eq!((b.bytes_sent, b.bytes_received), (103, 705));
        assert_eq!(b.service().len(), 1);
    }

    #[test]
    fn recorder_round_trips_through_the_wire() {
        let mut r = Recorder::new(2);
        for i in 0..500u64 {
            let t = &mut r.targets[(i % 2) as usize];
            t.issue();
            t.record(
                if i % 7 == 0 {
                    Outcome::Error(ErrorKind::Io)
                } else {
                    Outcome::Status(200 + (i % 3) as u16 * 100)
                },
                i * 13,
            );
            t.bytes_sent += 10;
        }
        r.targets[0].issue(); // one in flight
        r.connected(250);
        r.limits.open_files = 3;
        let line = serde_json::to_string(&wire::WireRecorder::from(&r)).unwrap();
        let back: wire::WireRecorder = serde_json::from_str(&line).unwrap();
        let back = Recorder::try_from(back).unwrap();
        for (a, b) in r.targets.iter().zip(&back.targets) {
            assert_eq!(a.issued(), b.issued());
            assert_eq!(
                a.statuses().collect::<Vec<_>>(),
                b.statuses().collect::<Vec<_>>()
            );
            assert_eq!(a.failures(), b.failures());
            assert_eq!(a.bytes_sent, b.bytes_sent);
            assert_eq!(a.latency(), b.latency());
        }
        assert_eq!(back.in_flight(), vec![1, 0]);
        assert_eq!(back.connect_latency.len(), 1);
        assert_eq!(back.limits.open_files, 3);
    }

    #[test]
    fn recorders_and_gauges_sum_across_workers() {
        let mut a = Recorder::new(1);
        a.limits = LimitHits {
            open_files: 2,
            ephemeral_ports: 5,
        };
        a.connected(100);
        a.handshake(300, true);
        a.send_lag.record(7).unwrap();
        a.loop_stall.record(9).unwrap();
        a.warmup.issue();
        let mut b = Recorder::new(1);
        b.limits = LimitHits {
            open_files: 3,
            ephemeral_ports: 7,
        };
        b.connected(200);
        b.connected(250);
        b.handshake(400, false);
        b.handshake(500, true);
        b.targets[0].issue();
        b.warmup.issue();
        a.merge(&b);
        assert_eq!(
            a.limits,
            LimitHits {
                open_files: 5,
                ephemeral_ports: 12
            }
        );
        assert_eq!(a.connections_opened, 3);
        assert_eq!(a.connect_latency.len(), 3);
        assert_eq!(a.tls_handshake.len(), 3);
        assert_eq!(a.tls_resumed, 2);
        assert_eq!((a.send_lag.len(), a.loop_stall.len()), (1, 1));
        assert_eq!(a.warmup.issued(), 2);
        assert_eq!(a.targets[0].issued(), 1);

        let mut g = Gauges {
            open: 1,
            peak_open: 4,
            established: 3,
            planned: 5,
            establish_us: 900,
        };
        g.add(&Gauges {
            open: 2,
            peak_open: 6,
            established: 5,
            planned: 7,
            establish_us: 400,
        });
        assert_eq!(
            g,
            Gauges {
                open: 3,
                peak_open: 10,
                established: 8,
                planned: 12,
                establish_us: 900
            }
        );
    }

    #[test]
    fn statuses_of_1000_and_more_are_kept_as_errors() {
        let mut t = Tally::new();
        for code in [999, 1000, 4321, u16::MAX] {
            t.issue();
            t.record(Outcome::Status(code), 10);
        }
        assert_eq!(t.http_errors(), 4);
        assert!(t.balanced());
        assert_eq!(t.statuses().collect::<Vec<_>>(), vec![(999, 4)]);
        assert_eq!(t.error_rate(), 1.0);
    }

    #[test]
    fn latency_is_clamped_not_lost() {
        let mut t = Tally::new();
        t.issue();
        t.record(Outcome::Status(200), u64::MAX);
        assert_eq!(t.latency().len(), 1);
    }
}
