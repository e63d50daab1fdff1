//! The built `myriad` binary (`CARGO_BIN_EXE_myriad`), run to completion.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Display;
use std::process::{Command, Output, Stdio};

/// Runs `myriad ARGS` with stdin null and returns what it wrote and how it
/// exited.
pub fn myriad<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Asserts that `out` exited 0, showing its stderr if not.
pub fn assert_exit_0(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that `out` exited 0, showing `what` and its stderr if not.
pub fn assert_exit_0_of(what: impl Display, out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `myriad ARGS` and asserts exit `code`, nothing on stdout, one line on
/// stderr that contains every needle.
pub fn assert_refused(args: &[&str], code: i32, needles: &[&str]) {
    let out = myriad(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: {stderr:?} lacks {n:?}");
    }
}
