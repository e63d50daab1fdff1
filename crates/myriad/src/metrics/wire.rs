//! The wire format of a run's worker processes: what a worker process of
//! `myriad run` is told ([`Work`]) and what it reports ([`RunLine`]), with its
//! recorder deltas as [`WireRecorder`]s.
//!
//! The lines travel in the envelope of [`crate::supervise`] (one JSON object
//! per line, `"v"` the line format's version, `"kind"` the line's kind):
//!
//! | direction | kind | fields |
//! |---|---|---|
//! | parent → worker, first line | `work` | `config`: the worker's share of the run, a serialized [`Config`] |
//! | parent → worker | `cancel` | none ([`crate::supervise::Control::Cancel`]) |
//! | worker → parent, every 200 ms | `progress` | `issued`, `completed`, `failures` |
//! | worker → parent, per thread and interval | `delta` | `interval`, `recorder` (a [`WireRecorder`]), `gauges` ([`Gauges`], summed over the worker's threads) |
//! | worker → parent, once | `end` | `cpu_user_us`, `cpu_system_us`, `peak_rss_bytes` |
//! | worker → parent | `error` | `message` |
//!
//! For example `{"v":1,"kind":"progress","issued":120,"completed":118,"failures":0}`.
//!
//! # Recorders
//! A [`WireRecorder`] is a [`Recorder`] as JSON: counts as numbers, every
//! histogram in HdrHistogram's V2 binary format, base64-encoded, so any
//! HdrHistogram implementation can read it. It carries its own format version,
//! [`VERSION`], in its `version` field, because recorders will also be stored
//! outside lines (result files, runs across machines); a reader refuses a
//! recorder of a version it does not know ([`WireError::Version`]).
//!
//! Versions: 1 had nine error kinds (`connect` to `certificate`); 2 appended
//! `goaway`, `stream_reset`, `http2_protocol` and `alpn`. The layout is
//! otherwise the same, so this build reads both (a version 1 recorder has no
//! failures of the new kinds). A version 1 reader refuses a version 2
//! recorder instead of dropping the counts it has no kinds for, and a
//! recorder with more error counts than this build has kinds is refused
//! ([`WireError::ErrorKinds`]), so no failure is ever lost silently.
//!
//! | field | meaning |
//! |---|---|
//! | `version` | [`VERSION`] |
//! | `targets` | one [`WireTally`] per target, in target order |
//! | `connections_opened` | connections established |
//! | `connect_latency`, `send_lag`, `loop_stall` | histograms (µs), as on [`Recorder`] |
//! | `limits` | [`LimitHits`]: `open_files`, `ephemeral_ports` |
//! | `warmup` | a [`WireTally`] of the warm-up's requests |
//!
//! A [`WireTally`] has `issued`, `statuses` (pairs `[code, count]` of the
//! non-zero codes), `errors` (counts in [`ErrorKind::ALL`](super::ErrorKind::ALL) order), `bytes_sent`,
//! `bytes_received`, `latency` and `service` (histograms, µs), `dropped` and
//! `queued`.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{new_histogram, Gauges, LimitHits, Recorder, Tally};
use crate::config::Config;

/// The version of the [`WireRecorder`] format, in its `version` field.
pub const VERSION: u32 = 2;

/// The oldest version this build reads (see the [module docs](self)).
pub const OLDEST_VERSION: u32 = 1;

/// Why a [`WireRecorder`] could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A recorder of a format this build does not read.
    #[error("a recorder of wire format version {found}; this build reads versions {OLDEST_VERSION} to {VERSION}")]
    Version {
        /// The version the recorder says it has.
        found: u32,
    },
    /// A tally with counts of more error kinds than this build knows.
    #[error("a recorder with {found} error kinds; this build knows {known}")]
    ErrorKinds {
        /// Error counts in the tally.
        found: usize,
        /// Kinds this build has ([`ErrorKind::ALL`](super::ErrorKind::ALL)).
        known: usize,
    },
    /// A histogram that is not valid base64 or not a V2 HdrHistogram.
    #[error("malformed histogram in a worker's delta: {0}")]
    Histogram(String),
}

/// The first line a run's worker process reads on its stdin: its share of the
/// run (kind `work`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "work")]
pub struct Work {
    /// The run's settings, its load the process's share.
    pub config: Config,
    /// Source addresses, dealt to the process's connections by index.
    pub sources: Vec<std::net::IpAddr>,
    /// The process's part of the plan: its load split over its threads. The
    /// worker neither validates nor plans again.
    pub part: crate::engine::ProcessPlan,
}

/// One line a run's worker process writes on its stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunLine {
    /// The worker's threads' counters so far, summed.
    Progress {
        /// Requests handed out.
        issued: u64,
        /// Requests ended (with a status or an error).
        completed: u64,
        /// Requests ended with an error.
        failures: u64,
    },
    /// What one of the worker's threads recorded over a statistics interval.
    Delta {
        /// The statistics interval it covers (by the worker's clock).
        interval: u64,
        /// The counts and histograms.
        recorder: WireRecorder,
        /// The connection levels of the worker, summed over its threads.
        gauges: Gauges,
    },
    /// The worker finished; its last line.
    End {
        /// CPU time in user mode, microseconds.
        cpu_user_us: u64,
        /// CPU time in kernel mode, microseconds.
        cpu_system_us: u64,
        /// Peak resident memory, bytes.
        peak_rss_bytes: u64,
    },
    /// Something went wrong in the worker (it may still end normally).
    Error {
        /// What, for people.
        message: String,
    },
}

/// A [`Tally`] on the wire (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireTally {
    issued: u64,
    statuses: Vec<(u16, u64)>,
    errors: Vec<u64>,
    bytes_sent: u64,
    bytes_received: u64,
    latency: String,
    service: String,
    dropped: u64,
    queued: u64,
}

/// A [`Recorder`] on the wire (see the [module docs](self)). Made from a
/// recorder with `From`, read back with `TryFrom`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRecorder {
    version: u32,
    targets: Vec<WireTally>,
    connections_opened: u64,
    connect_latency: String,
    /// Absent in deltas of workers from before TLS.
    #[serde(default)]
    tls_handshake: Option<String>,
    #[serde(default)]
    tls_resumed: u64,
    send_lag: String,
    loop_stall: String,
    limits: LimitHits,
    warmup: Box<WireTally>,
}

impl WireRecorder {
    /// The format version this recorder says it has.
    pub fn version(&self) -> u32 {
        self.version
    }
}

fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serialising into a Vec cannot fail for a histogram of valid bounds.
    let _ = V2Serializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A histogram in HdrHistogram's V2 format compressed with deflate (the
/// encoding of HdrHistogram interval logs), base64: what result files store,
/// where size matters more than the few microseconds of compression.
pub(crate) fn encode_compressed(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Compressing into a Vec cannot fail for a histogram of valid bounds.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The cookies of HdrHistogram's V2 format, plain and compressed, and the
/// size of a V2 header (cookie, payload length, normalizing offset, digits,
/// lowest, highest, integer-to-double ratio).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const V2_HEADER: usize = 40;

/// Largest histogram read, uncompressed: a histogram of myriad's bounds takes
/// a few KiB at most, and no reader should allocate what a header claims.
const MAX_HISTOGRAM_BYTES: usize = 4 << 20;

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The uncompressed V2 bytes of `bytes` (inflated if compressed), checked so
/// that the payload its header claims is there: hdrhistogram allocates the
/// claimed length before reading it, so 56 bytes of base64 claiming 4 GiB
/// would otherwise make it fill 4 GiB of memory.
fn plain_v2(bytes: Vec<u8>) -> Result<Vec<u8>, WireError> {
    let bad = |why: &str| WireError::Histogram(why.to_string());
    let plain = match be_u32(&bytes, 0) {
        Some(V2_COMPRESSED_COOKIE) => {
            use std::io::Read as _;
            let compressed = bytes.get(8..).ok_or_else(|| bad("truncated header"))?;
            let mut plain = Vec::new();
            flate2::read::ZlibDecoder::new(compressed)
                .take(MAX_HISTOGRAM_BYTES as u64 + 1)
                .read_to_end(&mut plain)
                .map_err(|e| WireError::Histogram(format!("compressed histogram: {e}")))?;
            if plain.len() > MAX_HISTOGRAM_BYTES {
                return Err(bad("histogram larger than 4 MiB uncompressed"));
            }
            plain
        }
        _ => bytes,
    };
    match (be_u32(&plain, 0), be_u32(&plain, 4)) {
        (Some(V2_COOKIE), Some(claimed))
            if claimed as usize <= plain.len().saturating_sub(V2_HEADER) =>
        {
            Ok(plain)
        }
        (Some(V2_COOKIE), Some(_)) => Err(bad("payload shorter than its header says")),
        _ => Err(bad("not an HdrHistogram V2 histogram")),
    }
}

/// Reads a histogram of [`encode`] or [`encode_compressed`] (the V2 reader
/// tells the two apart by their cookie) into myriad's bounds.
pub(crate) fn decode(s: &str) -> Result<Histogram<u64>, WireError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| WireError::Histogram(e.to_string()))?;
    let plain = plain_v2(bytes)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut plain.as_slice())
        .map_err(|e| WireError::Histogram(format!("{e:?}")))?;
    let mut out = new_histogram();
    out.add(&h)
        .map_err(|e| WireError::Histogram(format!("{e:?}")))?;
    Ok(out)
}

impl From<&Tally> for WireTally {
    fn from(t: &Tally) -> Self {
        WireTally {
            issued: t.issued,
            statuses: t.statuses().collect(),
            errors: t.errors.to_vec(),
            bytes_sent: t.bytes_sent,
            bytes_received: t.bytes_received,
            latency: encode(&t.latency),
            service: encode(&t.service),
            dropped: t.dropped,
            queued: t.queued,
        }
    }
}

impl WireTally {
    /// The tally with its histograms compressed (V2 + deflate, base64), as
    /// result files store it; read back with `TryFrom` like any other.
    pub fn compressed(t: &Tally) -> WireTally {
        WireTally {
            issued: t.issued,
            statuses: t.statuses().collect(),
            errors: t.errors.to_vec(),
            bytes_sent: t.bytes_sent,
            bytes_received: t.bytes_received,
            latency: encode_compressed(&t.latency),
            service: encode_compressed(&t.service),
            dropped: t.dropped,
            queued: t.queued,
        }
    }
}

impl TryFrom<WireTally> for Tally {
    type Error = WireError;

    fn try_from(wt: WireTally) -> Result<Self, WireError> {
        let mut t = Tally::new();
        t.issued = wt.issued;
        for (code, n) in wt.statuses {
            let slot = usize::from(code).min(t.statuses.len() - 1);
            t.statuses[slot] += n;
        }
        if wt.errors.len() > t.errors.len() {
            return Err(WireError::ErrorKinds {
                found: wt.errors.len(),
                known: t.errors.len(),
            });
        }
        // Fewer counts: an older version, without the kinds appended since.
        for (a, b) in t.errors.iter_mut().zip(wt.errors) {
            *a = b;
        }
        t.bytes_sent = wt.bytes_sent;
        t.bytes_received = wt.bytes_received;
        t.latency = decode(&wt.latency)?;
        t.service = decode(&wt.service)?;
        t.dropped = wt.dropped;
        t.queued = wt.queued;
        Ok(t)
    }
}

impl From<&Recorder> for WireRecorder {
    fn from(r: &Recorder) -> Self {
        WireRecorder {
            version: VERSION,
            targets: r.targets.iter().map(WireTally::from).collect(),
            connections_opened: r.connections_opened,
            connect_latency: encode(&r.connect_latency),
            tls_handshake: Some(encode(&r.tls_handshake)),
            tls_resumed: r.tls_resumed,
            send_lag: encode(&r.send_lag),
            loop_stall: encode(&r.loop_stall),
            limits: r.limits,
            warmup: Box::new(WireTally::from(&r.warmup)),
        }
    }
}

impl TryFrom<WireRecorder> for Recorder {
    type Error = WireError;

    fn try_from(w: WireRecorder) -> Result<Self, WireError> {
        if !(OLDEST_VERSION..=VERSION).contains(&w.version) {
            return Err(WireError::Version { found: w.version });
        }
        let mut r = Recorder::new(0);
        r.targets = w
            .targets
            .into_iter()
            .map(Tally::try_from)
            .collect::<Result<_, _>>()?;
        r.warmup = Tally::try_from(*w.warmup)?;
        r.connections_opened = w.connections_opened;
        r.connect_latency = decode(&w.connect_latency)?;
        if let Some(h) = &w.tls_handshake {
            r.tls_handshake = decode(h)?;
        }
        r.tls_resumed = w.tls_resumed;
        r.send_lag = decode(&w.send_lag)?;
        r.loop_stall = decode(&w.loop_stall)?;
        r.limits = w.limits;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A V2 header of myriad's bounds claiming `payload` bytes, then `body`.
    fn v2(payload: u32, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&V2_COOKIE.to_be_bytes());
        b.extend_from_slice(&payload.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&3u32.to_be_bytes());
        b.extend_from_slice(&1u64.to_be_bytes());
        b.extend_from_slice(&3_600_000_000u64.to_be_bytes());
        b.extend_from_slice(&1.0f64.to_be_bytes());
        b.extend_from_slice(body);
        b
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Found reviewing what the wire_line and result_file fuzz targets
    /// reach: a histogram header claiming a 4 GiB payload made hdrhistogram
    /// allocate and zero 4 GiB before finding the bytes missing.
    #[test]
    fn histogram_claiming_4gib_is_refused_without_allocating_it() {
        assert!(matches!(
            decode(&b64(&v2(u32::MAX, b"\x02"))),
            Err(WireError::Histogram(_))
        ));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &v2(u32::MAX, b"\x02")).unwrap();
        let mut compressed = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        let inner = z.finish().unwrap();
        compressed.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        compressed.extend_from_slice(&inner);
        assert!(decode(&b64(&compressed)).is_err());
        // What encode writes still reads, plain and compressed.
        let mut h = new_histogram();
        h.record(1500).unwrap();
        assert_eq!(decode(&encode(&h)).unwrap(), h);
        assert_eq!(decode(&encode_compressed(&h)).unwrap(), h);
        assert!(decode(&b64(&v2(0, b""))).unwrap().is_empty());
    }

    #[test]
    fn compressed_histograms_are_bounded_when_inflated() {
        // 8 MiB of zeros compress to a few KiB.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &v2(8 << 20, &vec![0; 8 << 20])).unwrap();
        let inner = z.finish().unwrap();
        let mut compressed = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        compressed.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        compressed.extend_from_slice(&inner);
        assert!(compressed.len() < 64 * 1024);
        let e = decode(&b64(&compressed)).unwrap_err();
        assert!(e.to_string().contains("4 MiB"), "{e}");
    }
    use crate::metrics::{ErrorKind, Outcome};
    use crate::supervise::{decode as decode_line, encode as encode_line};

    #[test]
    fn run_lines_travel_in_the_versioned_envelope() {
        let mut r = Recorder::new(1);
        r.targets[0].issue();
        r.targets[0].record(Outcome::Status(200), 1500);
        let line = RunLine::Delta {
            interval: 4,
            recorder: WireRecorder::from(&r),
            gauges: Gauges {
                open: 2,
                ..Gauges::default()
            },
        };
        let text = encode_line(&line).unwrap();
        assert!(
            text.starts_with(r#"{"v":1,"kind":"delta","interval":4,"#),
            "{text}"
        );
        assert!(text.contains(r#""recorder":{"version":2,"#), "{text}");
        let RunLine::Delta {
            interval,
            recorder,
            gauges,
        } = decode_line(&text).unwrap()
        else {
            panic!("not a delta: {text}");
        };
        assert_eq!((interval, gauges.open), (4, 2));
        let back = Recorder::try_from(recorder).unwrap();
        assert_eq!(back.targets[0].latency(), r.targets[0].latency());

        let progress = r#"{"v":1,"kind":"progress","issued":3,"completed":2,"failures":1}"#;
        assert!(matches!(
            decode_line(progress).unwrap(),
            RunLine::Progress {
                issued: 3,
                completed: 2,
                failures: 1
            }
        ));
    }

    #[test]
    fn the_work_line_names_its_kind() {
        let config = Config::new(&["http://127.0.0.1:9/"]).unwrap();
        let part = crate::engine::ProcessPlan::split(config.load.clone(), 2, 1, None, 0);
        let text = encode_line(&Work {
            config: config.clone(),
            sources: vec!["127.0.0.2".parse().unwrap()],
            part: part.clone(),
        })
        .unwrap();
        assert!(
            text.starts_with(r#"{"v":1,"kind":"work","config":{"#),
            "{text}"
        );
        let back: Work = decode_line(&text).unwrap();
        assert_eq!(back.config.load, config.load);
        assert_eq!(back.part, part);
    }

    #[test]
    fn a_version_1_recorder_reads_with_no_failures_of_the_new_kinds() {
        let mut r = Recorder::new(1);
        for kind in [ErrorKind::Io, ErrorKind::Certificate] {
            r.targets[0].issue();
            r.targets[0].record(Outcome::Error(kind), 0);
        }
        let mut wire = WireRecorder::from(&r);
        wire.version = 1;
        wire.targets[0].errors.truncate(9);
        let back = Recorder::try_from(wire).unwrap();
        let t = &back.targets[0];
        assert_eq!(t.errors(ErrorKind::Io), 1);
        assert_eq!(t.errors(ErrorKind::Certificate), 1);
        assert_eq!(t.errors(ErrorKind::Goaway), 0);
        assert!(t.balanced());
    }

    #[test]
    fn counts_of_unknown_kinds_are_refused_not_dropped() {
        let mut wire = WireRecorder::from(&Recorder::new(1));
        wire.targets[0].errors.push(7);
        let err = Recorder::try_from(wire).unwrap_err();
        assert_eq!(
            err,
            WireError::ErrorKinds {
                found: ErrorKind::ALL.len() + 1,
                known: ErrorKind::ALL.len()
            }
        );
    }

    #[test]
    fn a_recorder_of_another_version_is_refused() {
        let mut wire = WireRecorder::from(&Recorder::new(1));
        wire.version = 3;
        let err = Recorder::try_from(wire).unwrap_err();
        assert_eq!(err, WireError::Version { found: 3 });
        assert_eq!(
            err.to_string(),
            "a recorder of wire format version 3; this build reads versions 1 to 2"
        );
        let mut wire = WireRecorder::from(&Recorder::new(1));
        wire.version = 0;
        assert_eq!(
            Recorder::try_from(wire).unwrap_err(),
            WireError::Version { found: 0 }
        );
        let mut wire = WireRecorder::from(&Recorder::new(1));
        wire.send_lag = "not base64!".into();
        assert!(matches!(
            Recorder::try_from(wire),
            Err(WireError::Histogram(_))
        ));
    }
}
