//! Servers for the engine's tests, all on 127.0.0.1 with an ephemeral port:
//! the real built-in server, and scripted servers that misbehave on purpose.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use myriad_server::{ServerConfig, ServerHandle};

/// The built-in server with `config`, on two threads.
pub fn builtin(config: ServerConfig) -> ServerHandle {
    let listener = myriad_server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    myriad_server::spawn(listener, config, 2).unwrap()
}

pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// What a scripted server does with each request it reads.
#[derive(Clone, Copy)]
pub enum Script {
    /// Write these bytes, keep the connection.
    Reply(&'static [u8]),
    /// Write these bytes, then close.
    ReplyAndClose(&'static [u8]),
    /// Read requests and never answer.
    Silent,
}

/// A thread-per-connection server that follows `script`; it stops (and closes
/// every connection) when the returned guard drops.
pub struct Scripted {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

pub fn scripted(script: Script) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let (stop2, accepted2) = (stop.clone(), accepted.clone());
    thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            accepted2.fetch_add(1, Ordering::SeqCst);
            let stop3 = stop2.clone();
            thread::spawn(move || serve_conn(conn, script, stop3));
        }
    });
    Scripted {
        addr,
        accepted,
        stop,
    }
}

fn serve_conn(mut conn: TcpStream, script: Script, stop: Arc<AtomicBool>) {
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => return,
        }
        // Requests in these tests have no body: a head ends each one.
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            match script {
                Script::Reply(bytes) => {
                    if conn.write_all(bytes).is_err() {
                        return;
                    }
                }
                Script::ReplyAndClose(bytes) => {
                    let _ = conn.write_all(bytes);
                    return;
                }
                Script::Silent => {}
            }
        }
    }
}

/// A port on 127.0.0.1 where nothing listens.
pub fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

/// Checks the accounting invariant on the total and on every target.
pub fn assert_balanced(s: &myriad::Summary) {
    let t = &s.total;
    assert_eq!(
        t.issued(),
        t.succeeded() + t.http_errors() + t.failures(),
        "issued = succeeded + http errors + failures"
    );
    for target in &s.targets {
        assert!(target.tally.balanced(), "{} unbalanced", target.url);
    }
}

/// Waits until `cond` holds, polling it, for at most 20 s (a generous bound
/// for a busy machine); panics naming `what` if it never does.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A run that must end by itself within a minute (a generous bound for a
/// busy machine): its summary, balanced, or a panic naming the hang.
pub fn run_bounded(c: myriad::Config) -> myriad::Summary {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(myriad::run(c));
    });
    let s = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run did not end by itself")
        .unwrap();
    assert_balanced(&s);
    s
}
