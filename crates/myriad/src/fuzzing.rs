//! Entry points of the fuzz targets (`fuzz/`, cargo-fuzz) and of the tests
//! that replay their corpora (`tests/fuzz_corpus.rs`), so both run the same
//! code. Not part of the API: each function takes arbitrary bytes and panics
//! only when it finds a bug (a panic below it, or a property broken).
//!
//! The split targets start with a header: byte 0 holds flags, bytes 1 to 8
//! seed the random split points, the rest is the message. [`with_header`]
//! builds such an input from a message (the seeds of the corpora).

use std::time::Duration;

use crate::proto::response::{ResponseParser, Step};
use crate::proto::{ChunkedDecoder, ProtoError};

/// Bytes before the message in the inputs of the split targets.
pub const HEADER_LEN: usize = 9;

/// An input of a split target: `flags`, the split seed, then `message`.
pub fn with_header(flags: u8, seed: u64, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + message.len());
    out.push(flags);
    out.extend_from_slice(&seed.to_le_bytes());
    out.extend_from_slice(message);
    out
}

/// Splits a split target's input into its flags, a random generator of split
/// points, and the message.
fn header(data: &[u8]) -> (u8, fastrand::Rng, &[u8]) {
    if data.len() < HEADER_LEN {
        return (0, fastrand::Rng::with_seed(0), data);
    }
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&data[1..HEADER_LEN]);
    (
        data[0],
        fastrand::Rng::with_seed(u64::from_le_bytes(seed)),
        &data[HEADER_LEN..],
    )
}

/// How many bytes the next read delivers when at most `room` fit: all of
/// them, or a random count biased towards small reads.
fn read_size(rng: &mut Option<fastrand::Rng>, room: usize) -> usize {
    match rng {
        None => room,
        Some(rng) => match rng.u8(..4) {
            0 => 1,
            1 => rng.usize(1..=room.min(16)),
            2 => rng.usize(1..=room),
            _ => room,
        },
    }
}

/// A response as a response parser read it from a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadResponse {
    /// The final status.
    pub status: u16,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
    /// Body bytes (chunk payload for a chunked body).
    pub body_len: u64,
    /// Where in the stream the response ended.
    pub end: usize,
}

/// What a response parser made of a byte stream, as far as it can depend on
/// the bytes only: the response, or `None` when the stream ended before it
/// did.
pub type ResponseOutcome = Result<Option<ReadResponse>, ProtoError>;

/// Reads one response from `input` as the HTTP/1.1 exchange does
/// (`proto/http1.rs`): a read buffer of 8 KiB that grows to 64 KiB while a
/// head does not fit, reads of the sizes `rng` picks (`None`: as much as
/// fits), and the end of `input` as the peer closing.
pub fn read_response(
    input: &[u8],
    head_request: bool,
    rng: Option<fastrand::Rng>,
) -> ResponseOutcome {
    use crate::proto::http1::MAX_HEAD_BUF;
    use crate::proto::session::READ_BUF;
    let mut rng = rng;
    let mut parser = ResponseParser::new(head_request);
    let mut buf = vec![0u8; READ_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    // Bytes of `input` read so far: buf[start..end] is input[fed - (end - start)..fed].
    let mut fed = 0usize;
    loop {
        if end == buf.len() {
            if start > 0 {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            } else if buf.len() < MAX_HEAD_BUF {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let room = buf.len() - end;
        let n = read_size(&mut rng, room).min(input.len() - fed);
        if n == 0 {
            return Ok(parser.eof().map(|r| ReadResponse {
                status: r.status,
                keep_alive: r.keep_alive,
                body_len: parser.body_len(),
                end: fed - (end - start),
            }));
        }
        buf[end..end + n].copy_from_slice(&input[fed..fed + n]);
        fed += n;
        end += n;
        let full = start == 0 && end == buf.len() && buf.len() >= MAX_HEAD_BUF;
        let (used, step) = parser.parse(&buf[start..end], full)?;
        assert!(used <= end - start, "consumed more than it was given");
        start += used;
        if let Step::Done(r) = step {
            return Ok(Some(ReadResponse {
                status: r.status,
                keep_alive: r.keep_alive,
                body_len: parser.body_len(),
                end: fed - (end - start),
            }));
        }
        if start == end {
            start = 0;
            end = 0;
        }
    }
}

/// Fuzz target `response_split`: one response read whole and read in random
/// pieces gives the same outcome. Flag bit 0: the request was `HEAD`.
pub fn response_split(data: &[u8]) {
    let (flags, rng, message) = header(data);
    let head = flags & 1 == 1;
    let whole = read_response(message, head, None);
    let split = read_response(message, head, Some(rng));
    assert_eq!(
        whole, split,
        "the outcome depends on how the bytes were split"
    );
    if let Ok(Some(r)) = whole {
        assert!(r.end <= message.len());
        assert!(r.body_len <= r.end as u64);
    }
}

/// What a chunked decoder made of a byte stream: whether the body ended, its
/// payload length and where it ended (or where the stream ended).
pub type ChunkedOutcome = Result<(bool, u64, usize), ProtoError>;

/// Decodes a chunked body from `input` fed in the pieces `rng` picks
/// (`None`: all at once), the unconsumed bytes fed again with the next ones,
/// as the test server's request parser does.
pub fn decode_chunked(input: &[u8], rng: Option<fastrand::Rng>) -> ChunkedOutcome {
    let mut rng = rng;
    let mut dec = ChunkedDecoder::new();
    let (mut consumed, mut fed) = (0usize, 0usize);
    while !dec.is_done() && fed < input.len() {
        fed += read_size(&mut rng, input.len() - fed);
        let used = dec.decode(&input[consumed..fed])?;
        assert!(used <= fed - consumed, "consumed more than it was given");
        consumed += used;
    }
    assert!(dec.payload_len() <= consumed as u64);
    Ok((dec.is_done(), dec.payload_len(), consumed))
}

/// Fuzz target `chunked_split`: a chunked body decoded whole and in random
/// pieces gives the same outcome.
pub fn chunked_split(data: &[u8]) {
    let (_, rng, message) = header(data);
    let whole = decode_chunked(message, None);
    let split = decode_chunked(message, Some(rng));
    assert_eq!(
        whole, split,
        "the outcome depends on how the bytes were split"
    );
}

/// The `n`-th field of `data` split at NUL bytes, as text.
fn fields(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Fuzz target `h2_request`: the HTTP/2 form of a request made of arbitrary
/// method, host, path, headers and body (fields split at NUL bytes; the
/// headers `name:value`) is built or refused, never a panic; a block built
/// decodes to the pseudo-headers first, lowercase names, and never a header
/// HTTP/2 forbids.
pub fn h2_request(data: &[u8]) {
    use crate::proto::h2::{build_h2_request, hpack, NOT_IN_H2};
    let tls = data.first().is_some_and(|b| b & 1 == 1);
    let f = fields(data.get(1..).unwrap_or_default());
    let get = |i: usize| f.get(i).map_or("", String::as_str);
    let headers: Vec<(String, String)> = f
        .iter()
        .skip(4)
        .map(|h| match h.split_once(':') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (h.clone(), String::new()),
        })
        .collect();
    let Ok(req) = build_h2_request(get(0), &headers, get(3).as_bytes(), tls, get(1), get(2)) else {
        return;
    };
    let mut decoder = hpack::Decoder::new();
    let mut sink = hpack::Collect::default();
    let decoded = decoder.walk(&req.block, &mut sink);
    assert_eq!(decoded, Ok(()), "myriad's own block does not decode");
    let names: Vec<&[u8]> = sink.fields.iter().map(|(n, _)| n.as_slice()).collect();
    assert_eq!(
        names.get(..4),
        Some(&[&b":method"[..], b":scheme", b":authority", b":path"][..])
    );
    assert_eq!(sink.fields[0].1, get(0).as_bytes());
    assert_eq!(sink.fields[3].1, get(2).as_bytes());
    for name in &names[4..] {
        assert!(!name.starts_with(b":"), "a pseudo-header after the others");
        assert!(!name.iter().any(u8::is_ascii_uppercase), "uppercase name");
        assert!(
            !NOT_IN_H2.iter().any(|n| n.as_bytes() == *name),
            "{} sent over HTTP/2",
            String::from_utf8_lossy(name)
        );
    }
    assert!(names.contains(&&b"user-agent"[..]));
    assert_eq!(req.body.len(), get(3).len());
}

/// Fuzz target `hpack_decode`: a sequence of header blocks (each a length
/// byte, then that many bytes) decoded by the hot path's decoder (`:status`
/// only) and by one that keeps every field: never a panic, the same
/// verdicts, the same status, and the dynamic table within its bound.
pub fn hpack_decode(data: &[u8]) {
    use crate::proto::h2::hpack;
    let mut fast = hpack::Decoder::new();
    let mut full = hpack::Decoder::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let (block, tail) = tail.split_at(usize::from(n).min(tail.len()));
        rest = tail;
        let status = fast.decode(block);
        let mut sink = hpack::Collect::default();
        let walked = full.walk(block, &mut sink);
        let statuses: Vec<&Vec<u8>> = sink
            .fields
            .iter()
            .filter(|(n, _)| n == b":status")
            .map(|(_, v)| v)
            .collect();
        let valid = |v: &[u8]| v.len() == 3 && v.iter().all(u8::is_ascii_digit);
        match (status, walked) {
            (Ok(status), Ok(())) => {
                assert!(statuses.iter().all(|v| valid(v)));
                let last = statuses.last().map(|v| v.to_vec());
                assert_eq!(status.map(|s| format!("{s:03}").into_bytes()), last);
            }
            // The hot path refuses a `:status` that is not three digits.
            (Err(hpack::HpackError::Status), Ok(())) => {
                assert!(statuses.iter().any(|v| !valid(v)));
                return;
            }
            (Err(_), Err(_)) => return,
            (a, b) => panic!("the decoders disagree: {a:?} and {b:?}"),
        }
        assert!(fast.table_size() <= hpack::TABLE_SIZE);
    }
}

/// What a connection made of the server's bytes (see [`read_frames`]).
#[derive(Debug, PartialEq, Eq)]
pub struct FramesOutcome {
    /// Each stream that ended: its id, status or error kind, bytes received.
    pub ended: Vec<(u32, Result<u16, crate::metrics::ErrorKind>, u64)>,
    /// Streams still open.
    pub open: Vec<u32>,
    /// Streams refused for a limit not known when they were opened.
    pub retried: Vec<u32>,
    /// The connection's end, if it ended.
    pub dead: Option<crate::metrics::ErrorKind>,
    /// The server's GOAWAY: last stream and error code.
    pub goaway: Option<(u32, u32)>,
    /// What the client would write next (acknowledgements, window updates,
    /// resets, the rest of a request body).
    pub written: Vec<u8>,
}

/// The server's frames `message` read by a client connection with streams
/// 1, 3 and 5 open (the last sending a 100,000-byte body, more than the
/// default windows allow), delivered whole or in random pieces.
pub fn read_frames(message: &[u8], mut rng: Option<fastrand::Rng>) -> FramesOutcome {
    use crate::proto::h2::conn::Conn;
    let body = vec![b'x'; 100_000];
    let request = crate::proto::h2::build_h2_request("GET", &[], b"", false, "h", "/")
        .unwrap_or_else(|_| crate::proto::h2::H2Request {
            block: Box::new([]),
            body: std::sync::Arc::default(),
            template: None,
        });
    let mut conn = Conn::<u32>::default();
    let mut out = Vec::new();
    conn.open(1, &request.block, b"", &mut out);
    conn.open(3, &request.block, b"", &mut out);
    conn.open(5, &request.block, &body, &mut out);
    let mut rest = message;
    while !rest.is_empty() {
        let n = read_size(&mut rng, rest.len());
        let (piece, tail) = rest.split_at(n);
        conn.feed(piece);
        rest = tail;
    }
    let mut written = Vec::new();
    conn.write_control(&mut written);
    conn.send_bodies(&mut written, |_| &body[..]);
    FramesOutcome {
        ended: conn
            .done
            .iter()
            .map(|d| (d.tag, d.result, d.io.received))
            .collect(),
        open: conn.streams.iter().map(|s| s.id).collect(),
        retried: conn.retry.clone(),
        dead: conn.dead,
        goaway: conn.goaway,
        written,
    }
}

/// Fuzz target `h2_frames`: a server's bytes read by a client connection
/// whole and in random pieces give the same outcome, never a panic.
pub fn h2_frames(data: &[u8]) {
    let (_, rng, message) = header(data);
    let whole = read_frames(message, None);
    let split = read_frames(message, Some(rng));
    assert_eq!(
        whole, split,
        "the outcome depends on how the bytes were split"
    );
}

/// Fuzz target `tls_pem`: PEM certificates and keys as `--cacert`, `--cert`
/// and `--key` read them (the input split at its first NUL: certificates,
/// then key) are read or refused with a message, never a panic.
pub fn tls_pem(data: &[u8]) {
    let (certs, key) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    if let Ok(certs) = crate::tls::certs_from_pem("--cacert", "fuzz.pem", certs) {
        assert!(!certs.is_empty());
    }
    let _ = crate::tls::key_from_pem("fuzz.pem", key);
}

/// Fuzz target `cli_values`: the parsers of user input (byte 0 picks one:
/// durations, rates, stages, arrivals, thresholds, headers, `--fail-if`,
/// `--connect-to`, `--when-busy`, target URLs) accept or refuse the rest,
/// never panic, and what they accept is usable: a schedule made of parsed
/// stages answers for any time without a panic.
pub fn cli_values(data: &[u8]) {
    use crate::schedule::{parse_rate, parse_rate_or_zero, Arrival, Arrivals, Schedule, Stages};
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let s = text.as_ref();
    match which % 10 {
        0 => {
            if let Ok(d) = crate::parse_duration(s) {
                assert!(d.as_secs() <= 1_000_000_000, "{s} parsed as {d:?}");
            }
        }
        1 => {
            if let Ok(r) = parse_rate(s) {
                assert!(r.is_finite() && r > 0.0, "{s} parsed as {r}");
            }
            if let Some(r) = parse_rate_or_zero(s) {
                assert!(r.is_finite() && r >= 0.0, "{s} parsed as {r}");
            }
        }
        2 => {
            if let Ok(stages) = s.parse::<Stages>() {
                let total = stages.total();
                let start = parse_rate_or_zero(s.get(..4).unwrap_or("1")).unwrap_or(1.0);
                for schedule in [
                    Schedule::stages(start, &stages),
                    Schedule::stages(0.0, &stages.scaled(0.5)),
                ] {
                    exercise_schedule(schedule, total);
                }
            }
        }
        3 => {
            if let Ok(a) = s.parse::<Arrival>() {
                assert_eq!(a.to_string().parse::<Arrival>(), Ok(a));
            }
        }
        4 => {
            if let Ok(t) = s.parse::<crate::threshold::Threshold>() {
                let v = t.evaluate(&crate::Tally::new(), Duration::from_secs(1));
                let _ = v.passed;
                assert_eq!(
                    t.to_string().parse::<crate::threshold::Threshold>().ok(),
                    Some(t)
                );
            }
        }
        5 => {
            if let Ok((name, value)) = crate::parse_header(s) {
                assert!(!name.is_empty());
                assert_eq!(value.trim(), value);
            }
        }
        6 => {
            let _ = s.parse::<crate::compare::FailIf>();
        }
        7 => {
            let _ = s.parse::<crate::ConnectTo>();
        }
        8 => {
            let _ = s.parse::<crate::WhenBusy>();
        }
        _ => {
            let _ = crate::Target::parse_unresolved(s);
            if let Ok(r) = parse_rate(s) {
                let arrivals = Arrivals::new(
                    Schedule::constant(r, Some(Duration::from_secs(1))),
                    Arrival::Poisson,
                );
                drain(arrivals, 64);
            }
        }
    }
}

/// Asks `schedule` about times before, inside and after `total`.
fn exercise_schedule(schedule: crate::schedule::Schedule, total: Duration) {
    use crate::schedule::{Arrival, Arrivals};
    let end = schedule.end();
    for t in [
        Duration::ZERO,
        total / 3,
        total / 2,
        total,
        total + Duration::from_secs(1),
    ] {
        let rate = schedule.rate_at(t);
        assert!(rate.is_finite() && rate >= 0.0, "rate {rate} at {t:?}");
        let x = schedule.expected_by(t);
        assert!(x.is_finite() && x >= 0.0, "expected {x} by {t:?}");
        let _ = schedule.time_of(x);
        let _ = schedule.time_of(x + 0.5);
    }
    let _ = end;
    for arrival in [Arrival::Uniform, Arrival::Poisson] {
        drain(Arrivals::new(schedule.clone(), arrival), 64);
    }
}

/// Takes up to `n` arrivals, which must come in order.
fn drain(mut arrivals: crate::schedule::Arrivals, n: usize) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut last = Duration::ZERO;
    for _ in 0..n {
        match arrivals.next_due(rng.f64()) {
            Some(due) => {
                assert!(due >= last, "arrival at {due:?} after one at {last:?}");
                last = due;
            }
            None => break,
        }
    }
}

/// Fuzz target `wire_line`: a line of a run's worker process (a
/// `supervise` envelope holding a `RunLine` or the `Work` of a worker) is
/// read or refused, never a panic; a delta's recorder converts or is refused.
pub fn wire_line(data: &[u8]) {
    use crate::metrics::wire::{RunLine, Work};
    use crate::metrics::Recorder;
    let line = String::from_utf8_lossy(data);
    if let Ok(RunLine::Delta { recorder, .. }) = crate::supervise::decode::<RunLine>(&line) {
        if let Ok(r) = Recorder::try_from(recorder) {
            let mut total = Recorder::new(0);
            total.merge(&r);
            for t in &total.targets {
                let _ = t.balanced();
            }
        }
    }
    let _ = crate::supervise::decode::<Work>(&line);
}

/// Fuzz target `result_file`: a result file (`run -o`) is read or refused,
/// never a panic; one that reads turns into a summary or is refused.
pub fn result_file(data: &[u8]) {
    if let Ok(result) = crate::result::ResultFile::parse(data, "fuzz.json") {
        if let Ok(summary) = result.into_summary() {
            let _ = summary.requests_per_second();
        }
    }
}
