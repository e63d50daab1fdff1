//! The parent's side: [`Supervisor`] spawns children, reads their lines on a
//! thread per child, and stops them.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{decode, encode, wait_cancelled, Control, LineError, SuperviseError};

/// Stack of a reader thread: it decodes lines, nothing deep. Small, because a
/// supervisor may have dozens of children.
const READER_STACK: usize = 256 * 1024;

/// What the [`Supervisor`] hears about its children, in the order it happened
/// for each child.
#[derive(Debug)]
pub enum Event<L> {
    /// A line from child `.0`.
    Line(usize, L),
    /// A line from a child that is not a line of the format or not an `L`
    /// (kept whole, for a person to read).
    Garbled {
        /// The child.
        child: usize,
        /// The line, without its `\n`.
        line: String,
        /// What is wrong with it.
        error: LineError,
    },
    /// Child `.0` ended: its stdout closed and it was reaped. No event of it
    /// follows.
    Ended(usize, Exit),
    /// [`Supervisor::stop`] gave up waiting for child `.0` and sent it
    /// SIGKILL; its `Ended` follows.
    Killed(usize),
    /// The token given to [`Supervisor::cancel_on`] was cancelled (and every
    /// child was sent [`Control::Cancel`]).
    Cancelled,
}

/// How a child process ended, described once for every caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// Its status could not be read.
    Unknown,
}

impl Exit {
    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl From<ExitStatus> for Exit {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(signal)) => Exit::Signal(signal),
            (None, None) => Exit::Unknown,
        }
    }
}

impl fmt::Display for Exit {
    /// `exit code 3`, `killed by signal 9 (SIGKILL)`, `exit status unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::Code(code) => write!(f, "exit code {code}"),
            Exit::Signal(signal) => match signal_name(signal) {
                Some(name) => write!(f, "killed by signal {signal} ({name})"),
                None => write!(f, "killed by signal {signal}"),
            },
            Exit::Unknown => f.write_str("exit status unknown"),
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// One child, shared by the supervisor, the child's reader thread and a
/// canceller thread.
struct Slot {
    pid: u32,
    /// Reaped only by the reader, under this lock, and only once the child has
    /// exited; so a kill under this lock hits the child or its zombie, never a
    /// process that reused its pid.
    child: Mutex<Child>,
    /// The write end of the child's stdin; `None` once closed.
    stdin: Mutex<Option<ChildStdin>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Slot {
    fn write(&self, child: usize, line: &str) -> Result<(), SuperviseError> {
        let mut stdin = lock(&self.stdin);
        let pipe = stdin.as_mut().ok_or(SuperviseError::Closed(child))?;
        pipe.write_all(line.as_bytes())?;
        pipe.flush()?;
        Ok(())
    }

    fn close(&self) {
        lock(&self.stdin).take();
    }

    fn kill(&self) {
        // `Child::kill` does nothing for a child already reaped.
        let _ = lock(&self.child).kill();
    }
}

/// The children of one parent, each speaking the line format: spawned with
/// piped stdin and stdout (stderr is inherited), their stdout read on a thread
/// per child into [`Event`]s with lines of type `L`.
///
/// Children are numbered from 0 in the order they were spawned. Dropping the
/// supervisor closes every stdin and kills the children that have not ended.
pub struct Supervisor<L> {
    children: Vec<Arc<Slot>>,
    ended: Vec<bool>,
    running: usize,
    tx: Sender<Event<L>>,
    events: Receiver<Event<L>>,
    /// Tokens of the [`cancel_on`](Self::cancel_on) threads, cancelled when the
    /// supervisor goes so that those threads end.
    watchers: Vec<CancellationToken>,
    _lines: PhantomData<fn() -> L>,
}

impl<L: DeserializeOwned + Send + 'static> Default for Supervisor<L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: DeserializeOwned + Send + 'static> Supervisor<L> {
    /// A supervisor of no children yet.
    pub fn new() -> Self {
        let (tx, events) = mpsc::channel();
        Supervisor {
            children: Vec::new(),
            ended: Vec::new(),
            running: 0,
            tx,
            events,
            watchers: Vec::new(),
            _lines: PhantomData,
        }
    }

    /// Starts `command` as the next child and the thread that reads its
    /// stdout; returns the child's number.
    pub fn spawn(&mut self, command: &mut Command) -> Result<usize, SuperviseError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let slot = Arc::new(Slot {
            pid: child.id(),
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
        });
        let i = self.children.len();
        let started = match stdout {
            Some(stdout) => {
                let (slot, tx) = (slot.clone(), self.tx.clone());
                std::thread::Builder::new()
                    .name(format!("myriad-child-{i}"))
                    .stack_size(READER_STACK)
                    .spawn(move || read_child(i, &slot, stdout, &tx))
                    .map(drop)
            }
            None => Err(std::io::Error::other("the child's stdout is not piped")),
        };
        if let Err(e) = started {
            let mut child = lock(&slot.child);
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.into());
        }
        self.children.push(slot);
        self.ended.push(false);
        self.running += 1;
        Ok(i)
    }

    /// Children spawned.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether no child was spawned.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Children whose [`Event::Ended`] has not been received yet.
    pub fn running(&self) -> usize {
        self.running
    }

    /// The process id of `child`.
    pub fn pid(&self, child: usize) -> Option<u32> {
        self.children.get(child).map(|s| s.pid)
    }

    /// The process ids of the children, in their order.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|s| s.pid).collect()
    }

    /// Writes `line` to `child`'s stdin. A child that has exited fails with
    /// [`SuperviseError::Io`] (a broken pipe).
    pub fn send<C: Serialize>(&self, child: usize, line: &C) -> Result<(), SuperviseError> {
        let slot = self
            .children
            .get(child)
            .ok_or(SuperviseError::NoChild(child))?;
        slot.write(child, &(encode(line)? + "\n"))
    }

    /// Writes `line` to every child whose stdin is open; children that cannot
    /// take it (they exited) are skipped.
    pub fn send_all<C: Serialize>(&self, line: &C) -> Result<(), LineError> {
        let line = encode(line)? + "\n";
        for (i, slot) in self.children.iter().enumerate() {
            let _ = slot.write(i, &line);
        }
        Ok(())
    }

    /// Closes `child`'s stdin: the child's sign to stop.
    pub fn close(&self, child: usize) {
        if let Some(slot) = self.children.get(child) {
            slot.close();
        }
    }

    /// Closes every child's stdin.
    pub fn close_all(&self) {
        self.children.iter().for_each(|s| s.close());
    }

    /// Sends SIGKILL to `child`, unless it has already been reaped.
    pub fn kill(&self, child: usize) {
        if let Some(slot) = self.children.get(child) {
            slot.kill();
        }
    }

    /// Once `token` is cancelled, sends [`Control::Cancel`] to the children
    /// spawned so far and wakes the receiver with [`Event::Cancelled`]. The
    /// thread that waits for it ends when the supervisor is dropped.
    pub fn cancel_on(&mut self, token: &CancellationToken) -> Result<(), SuperviseError> {
        let line = encode(&Control::Cancel)? + "\n";
        let waiter = token.child_token();
        let (token, children, tx) = (token.clone(), self.children.clone(), self.tx.clone());
        self.watchers.push(waiter.clone());
        std::thread::Builder::new()
            .name("myriad-cancel".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                wait_cancelled(&waiter, None);
                // The waiter is also cancelled when the supervisor is dropped:
                // then nobody is to be told.
                if token.is_cancelled() {
                    // The event first: it then comes before whatever the
                    // children do about the cancel.
                    let _ = tx.send(Event::Cancelled);
                    for (i, slot) in children.iter().enumerate() {
                        let _ = slot.write(i, &line);
                    }
                }
            })?;
        Ok(())
    }

    /// The next event; `None` once every child has ended.
    pub fn recv(&mut self) -> Option<Event<L>> {
        self.next(None)
    }

    /// The next event, if one comes before `deadline`; `None` at the deadline
    /// or once every child has ended (tell them apart with
    /// [`running`](Self::running)).
    pub fn recv_until(&mut self, deadline: Instant) -> Option<Event<L>> {
        self.next(Some(deadline))
    }

    fn next(&mut self, deadline: Option<Instant>) -> Option<Event<L>> {
        if self.running == 0 {
            return None;
        }
        // The channel never disconnects (`self.tx` is one of its senders).
        let event = match deadline {
            None => self.events.recv().ok()?,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.events.recv_timeout(left).ok()?
            }
        };
        if let Event::Ended(i, _) = event {
            if let Some(ended) = self.ended.get_mut(i).filter(|e| !**e) {
                *ended = true;
                self.running -= 1;
            }
        }
        Some(event)
    }

    /// Stops every child: closes its stdin, passes the events that follow to
    /// `on_event` until every child has ended or `timeout` has passed, then
    /// kills the children still running (an [`Event::Killed`] each) and
    /// passes on events until they have ended too.
    pub fn stop(&mut self, timeout: Duration, mut on_event: impl FnMut(Event<L>)) {
        self.close_all();
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let event = match deadline {
                Some(deadline) => self.recv_until(deadline),
                None => self.recv(),
            };
            match event {
                Some(event) => on_event(event),
                None => break,
            }
        }
        for i in 0..self.children.len() {
            if !self.ended[i] {
                self.kill(i);
                on_event(Event::Killed(i));
            }
        }
        while let Some(event) = self.recv() {
            on_event(event);
        }
    }
}

impl<L> Drop for Supervisor<L> {
    fn drop(&mut self) {
        self.watchers.iter().for_each(CancellationToken::cancel);
        for (slot, ended) in self.children.iter().zip(&self.ended) {
            slot.close();
            if !ended {
                slot.kill();
            }
        }
    }
}

/// The reader thread of child `i`: its stdout as events, then its end.
fn read_child<L: DeserializeOwned>(
    i: usize,
    slot: &Slot,
    stdout: ChildStdout,
    tx: &Sender<Event<L>>,
) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // `read_until` retries EINTR; any other error ends the output.
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let event = match decode(text) {
            Ok(line) => Event::Line(i, line),
            Err(error) => Event::Garbled {
                child: i,
                line: text.to_owned(),
                error,
            },
        };
        // Sending fails only once the supervisor is gone; reading on still
        // drains the pipe, so the child is not stuck writing to it.
        let _ = tx.send(event);
    }
    // A child that closed its stdout but runs on gets a broken pipe if it writes.
    drop(reader);
    let exit = reap(slot);
    let _ = tx.send(Event::Ended(i, exit));
}

/// Waits until the child has exited, then reaps it.
fn reap(slot: &Slot) -> Exit {
    wait_exited(slot.pid);
    // It has exited (or waiting failed): `try_wait` does not block, so the
    // lock is held only for a moment.
    match lock(&slot.child).try_wait() {
        Ok(Some(status)) => Exit::from(status),
        _ => Exit::Unknown,
    }
}

/// Blocks until process `pid`, a child of this process, has exited, without
/// reaping it: until it is reaped its pid cannot be reused, so a kill sent
/// meanwhile (under the slot's lock) is safe.
fn wait_exited(pid: u32) {
    loop {
        // SAFETY: `siginfo_t` is plain data, valid when zeroed; `waitid`
        // writes only into it. WNOWAIT leaves the child to its `Child`.
        let result = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if result == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
