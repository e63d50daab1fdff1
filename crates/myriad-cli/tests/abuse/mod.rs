//! An abusive client of `myriad serve`, shared by `tests/serve_abuse.rs` and
//! `examples/abuse.rs` (which `bench/abuse.sh` runs beside a normal load).
//!
//! Three kinds of connection, all to one loopback address:
//! - **slowloris**: sends a request head one byte per `byte_every` and never
//!   finishes it; records how long after its first byte the server closed it;
//! - **garbage**: sends one malformed head (each of [`GARBAGE`] in turn) and
//!   expects `400`;
//! - **oversized**: sends a head longer than 64 KiB, or with 65 headers, and
//!   expects `431`.
//!
//! One current-thread tokio runtime (one core at most, so the abuse competes
//! with the load under test no more than one core's worth), a bounded number
//! of connects in flight. With `repeat`, every connection starts over when it
//! ends (a bad-head connection after `byte_every`), until `run_for` is over
//! (the bench's steady abuse); without, each connection runs once (the test's
//! exact accounting).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

/// What the slowloris connections send, one byte at a time: a head that a
/// patient server would wait for forever.
const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: abuse\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Malformed heads, each of which must get `400`.
pub const GARBAGE: [&[u8]; 6] = [
    b"\x01\x02\x03\x04garbage\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
];

/// What to do to the server.
#[derive(Debug, Clone)]
pub struct Abuse {
    /// The server.
    pub target: SocketAddr,
    /// Slowloris connections open at once.
    pub slow: usize,
    /// Connections sending a malformed head.
    pub garbage: usize,
    /// Connections sending an oversized head.
    pub oversized: usize,
    /// The pause between two bytes of a slowloris head.
    pub byte_every: Duration,
    /// How long the whole abuse may last: a slowloris connection the server
    /// has not closed by then is counted as still open.
    pub run_for: Duration,
    /// Start every connection over when it ends, until `run_for` is over.
    pub repeat: bool,
    /// Connects in flight at most.
    pub connects_in_flight: usize,
}

/// What happened, for the caller to judge.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Slowloris connections that sent their first byte.
    pub slow_started: u64,
    /// Of those, the ones the server closed.
    pub slow_closed: u64,
    /// Shortest and longest time from a slowloris connection's first byte to
    /// the server's close.
    pub slow_close_min: Option<Duration>,
    /// See `slow_close_min`.
    pub slow_close_max: Option<Duration>,
    /// Garbage connections answered `400` and closed.
    pub garbage_400: u64,
    /// Oversized connections answered `431` and closed.
    pub oversized_431: u64,
    /// Connects that failed.
    pub connect_failures: u64,
    /// Anything else (a wrong answer, an error): the first few, described.
    pub unexpected: Vec<String>,
    /// How many unexpected things happened in all.
    pub unexpected_count: u64,
}

impl Report {
    fn slow_close(&mut self, after: Duration) {
        self.slow_closed += 1;
        self.slow_close_min = Some(self.slow_close_min.map_or(after, |m| m.min(after)));
        self.slow_close_max = Some(self.slow_close_max.map_or(after, |m| m.max(after)));
    }

    fn unexpected(&mut self, what: String) {
        self.unexpected_count += 1;
        if self.unexpected.len() < 10 {
            self.unexpected.push(what);
        }
    }
}

type Shared = Arc<Mutex<Report>>;

/// Runs the abuse to its end and reports; builds its own runtime.
pub fn run(abuse: &Abuse) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run_async(abuse.clone()))
}

async fn run_async(abuse: Abuse) -> Report {
    let report: Shared = Arc::default();
    let connects = Arc::new(Semaphore::new(abuse.connects_in_flight.max(1)));
    let end = Instant::now() + abuse.run_for;
    let mut tasks = tokio::task::JoinSet::new();
    let kinds = std::iter::repeat_n(Kind::Slow, abuse.slow)
        .chain((0..abuse.garbage).map(Kind::Garbage))
        .chain((0..abuse.oversized).map(Kind::Oversized));
    for kind in kinds {
        let (report, connects, abuse) = (report.clone(), connects.clone(), abuse.clone());
        tasks.spawn(async move {
            loop {
                one(kind, &abuse, end, &connects, &report).await;
                if !abuse.repeat || Instant::now() >= end {
                    return;
                }
                // A bad head once per `byte_every` per connection: abuse,
                // not a flood of 64 KiB heads (which would measure bandwidth).
                if !matches!(kind, Kind::Slow) {
                    tokio::time::sleep_until(end.min(Instant::now() + abuse.byte_every).into())
                        .await;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let report = report.lock().await.clone();
    report
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Slow,
    Garbage(usize),
    Oversized(usize),
}

/// One connection of one kind, from connect to close.
async fn one(kind: Kind, abuse: &Abuse, end: Instant, connects: &Semaphore, report: &Shared) {
    let stream = {
        let Ok(_permit) = connects.acquire().await else {
            return;
        };
        match tokio::time::timeout_at(end.into(), TcpStream::connect(abuse.target)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let mut r = report.lock().await;
                r.connect_failures += 1;
                r.unexpected(format!("connect: {e}"));
                // Not a busy loop when the server is gone.
                drop(r);
                tokio::time::sleep(Duration::from_millis(100)).await;
                return;
            }
            Err(_) => return,
        }
    };
    match kind {
        Kind::Slow => slowloris(stream, abuse.byte_every, end, report).await,
        Kind::Garbage(i) => {
            let head = GARBAGE[i % GARBAGE.len()];
            expect_answer(stream, head, b"HTTP/1.1 400 ", end, report, |r| {
                r.garbage_400 += 1
            })
            .await
        }
        Kind::Oversized(i) => {
            let head = oversized_head(i);
            expect_answer(stream, &head, b"HTTP/1.1 431 ", end, report, |r| {
                r.oversized_431 += 1
            })
            .await
        }
    }
}

/// A head the server must refuse with `431`: even `i` one 70 KB header, odd
/// `i` 65 small headers.
pub fn oversized_head(i: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: abuse\r\n".to_vec();
    if i.is_multiple_of(2) {
        head.extend_from_slice(b"X-Big: ");
        head.resize(head.len() + 70_000, b'b');
        head.extend_from_slice(b"\r\n");
    } else {
        for h in 0..65 {
            head.extend_from_slice(format!("X-{h}: y\r\n").as_bytes());
        }
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Sends the head one byte per `every` until the server closes the
/// connection (or `end`).
async fn slowloris(mut stream: TcpStream, every: Duration, end: Instant, report: &Shared) {
    let mut first = None;
    let mut buf = [0u8; 512];
    for &byte in SLOW_HEAD.iter().cycle() {
        if stream.write_all(&[byte]).await.is_err() {
            break;
        }
        if first.is_none() {
            // The server's clock for this head starts about now.
            first = Some(Instant::now());
            report.lock().await.slow_started += 1;
        }
        let next = Instant::now() + every;
        let wake = next.min(end);
        match tokio::time::timeout_at(wake.into(), stream.read(&mut buf)).await {
            Err(_elapsed) if wake == end => return,
            Err(_elapsed) => continue,
            // Anything the server sends would be a wrong answer: it must close.
            Ok(Ok(n)) if n > 0 => {
                let got = String::from_utf8_lossy(&buf[..n]).into_owned();
                report
                    .lock()
                    .await
                    .unexpected(format!("slowloris got {got:?}"));
                return;
            }
            Ok(_) => break,
        }
    }
    if let Some(started) = first {
        report.lock().await.slow_close(started.elapsed());
    }
}

/// Sends `head` (what the server does not read is fine: it answers once the
/// head is refused) and expects an answer starting with `want` and a close.
async fn expect_answer(
    mut stream: TcpStream,
    head: &[u8],
    want: &[u8],
    end: Instant,
    report: &Shared,
    count: impl FnOnce(&mut Report),
) {
    let (mut read, mut write) = stream.split();
    let exchange = async {
        // Writing and reading at once: the server answers (and closes) before
        // taking all of an oversized head.
        let (_, answer) = tokio::join!(write.write_all(head), async {
            let mut answer = Vec::new();
            let _ = read.read_to_end(&mut answer).await;
            answer
        });
        answer
    };
    match tokio::time::timeout_at(end.into(), exchange).await {
        Ok(answer) if answer.starts_with(want) => count(&mut *report.lock().await),
        Ok(answer) => {
            let got = String::from_utf8_lossy(&answer[..answer.len().min(80)]).into_owned();
            let sent = String::from_utf8_lossy(&head[..head.len().min(40)]).into_owned();
            report
                .lock()
                .await
                .unexpected(format!("sent {sent:?}, got {got:?}"));
        }
        Err(_) => report
            .lock()
            .await
            .unexpected("no answer before the end".to_string()),
    }
}
