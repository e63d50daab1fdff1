//! `myriad serve` as a child process of the test: started with the test's
//! own arguments, its first stdout line (the listening line) read to find
//! where it listens, stopped with SIGINT (waited for with a deadline), and
//! killed when dropped, so a failing test leaves no server behind.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::wait_until;

/// How long [`ServeCommand`] waits, unless told otherwise, for the listening
/// line and for the exit after SIGINT.
const WAIT: Duration = Duration::from_secs(30);

/// Where a server's stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// To the test's stderr.
    Inherit,
    /// Nowhere.
    Null,
    /// To [`Serve::stderr_line`].
    Capture,
}

/// How to start `myriad serve`: its arguments and where it runs.
pub struct ServeCommand {
    args: Vec<String>,
    netns: Option<String>,
    stderr: Stderr,
    wait: Duration,
}

/// A running `myriad serve`, its stdout (and captured stderr) lines arriving
/// on channels, so it never blocks on a full pipe.
pub struct Serve {
    child: Child,
    stdout: Receiver<String>,
    stderr: Option<Receiver<String>>,
    /// The first line it printed: where it listens.
    first: String,
    wait: Duration,
}

/// How a server ended after SIGINT.
pub struct Stopped {
    /// Its exit code (`None`: ended by a signal).
    pub code: Option<i32>,
    /// What it printed on stdout after its listening line.
    pub lines: Vec<String>,
}

impl ServeCommand {
    /// More arguments after those given so far.
    pub fn args(mut self, args: &[&str]) -> ServeCommand {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Runs it in network namespace `ns` (`ip netns exec NS myriad serve ...`).
    pub fn in_netns(mut self, ns: &str) -> ServeCommand {
        self.netns = Some(ns.to_string());
        self
    }

    pub fn stderr(mut self, stderr: Stderr) -> ServeCommand {
        self.stderr = stderr;
        self
    }

    /// How long to wait for the listening line, and for the exit on SIGINT.
    pub fn wait(mut self, wait: Duration) -> ServeCommand {
        self.wait = wait;
        self
    }

    /// Starts it and waits for its listening line; `Err` (with its stderr,
    /// when captured) if none comes in time.
    pub fn try_start(self) -> Result<Serve, String> {
        let bin = env!("CARGO_BIN_EXE_myriad");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args([
                    OsString::from("netns"),
                    "exec".into(),
                    ns.into(),
                    bin.into(),
                ]);
                cmd
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .arg("serve")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(match self.stderr {
                Stderr::Inherit => Stdio::inherit(),
                Stderr::Null => Stdio::null(),
                Stderr::Capture => Stdio::piped(),
            })
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = child.stderr.take().map(lines);
        let Ok(first) = stdout.recv_timeout(self.wait) else {
            let _ = child.kill();
            let _ = child.wait();
            let said = match &stderr {
                Some(rx) => rx.try_iter().collect::<Vec<_>>().join("\n"),
                None => format!("no listening line within {:?}", self.wait),
            };
            return Err(said);
        };
        Ok(Serve {
            child,
            stdout,
            stderr,
            first,
            wait: self.wait,
        })
    }

    /// Starts it; panics if it prints no listening line in time.
    pub fn start(self) -> Serve {
        let args = self.args.clone();
        self.try_start()
            .unwrap_or_else(|e| panic!("serve {args:?} failed: {e}"))
    }
}

/// The lines `read` yields, sent on a channel by a thread of their own.
fn lines(read: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(read).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Serve {
    /// `myriad serve ARGS` to be started: stderr inherited, 30 s deadlines.
    pub fn command(args: &[&str]) -> ServeCommand {
        ServeCommand {
            args: Vec::new(),
            netns: None,
            stderr: Stderr::Inherit,
            wait: WAIT,
        }
        .args(args)
    }

    /// Starts `myriad serve ARGS` as [`Serve::command`] has it.
    pub fn start(args: &[&str]) -> Serve {
        Serve::command(args).start()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The listening line.
    pub fn first(&self) -> &str {
        &self.first
    }

    /// The first URL in the listening line (`http://...` or `https://...`).
    pub fn url(&self) -> String {
        self.first
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in {:?}", self.first))
            .to_string()
    }

    /// The listening line's address part: the first URL without its scheme
    /// and final `/` (`127.0.0.1:PORT`, or `127.0.0.1:P-Q` for a range).
    pub fn listen(&self) -> String {
        let url = self.url();
        url.split_once("://")
            .unwrap()
            .1
            .trim_end_matches('/')
            .to_string()
    }

    /// Where it listens, from the listening line.
    pub fn addr(&self) -> SocketAddr {
        let listen = self.listen();
        listen
            .parse()
            .unwrap_or_else(|e| panic!("{e}: no address in {:?}", self.first))
    }

    /// The word after `prefix` in the listening line, up to `end`.
    pub fn field(&self, prefix: &str, end: char) -> String {
        let at = self
            .first
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix:?} in {:?}", self.first));
        let rest = &self.first[at + prefix.len()..];
        rest[..rest.find(end).unwrap()].to_string()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, sig) }, 0);
    }

    /// Waits for a stderr line containing `needle` (stderr must be captured).
    pub fn stderr_line(&self, needle: &str) -> String {
        let stderr = self.stderr.as_ref().expect("stderr is not captured");
        let deadline = Instant::now() + self.wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no stderr line with {needle:?}"),
            }
        }
    }

    /// Sends SIGINT and waits for the exit; returns the exit code and the rest
    /// of stdout.
    pub fn stop(mut self) -> Stopped {
        self.signal(libc::SIGINT);
        let mut status = None;
        wait_until("serve to stop on SIGINT", self.wait, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        Stopped {
            code: status.unwrap().code(),
            lines,
        }
    }
}

impl Stopped {
    /// The last line, as JSON (what `serve --json` prints when it stops).
    pub fn final_json(&self) -> serde_json::Value {
        let last = self.lines.last().expect("no final line");
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
