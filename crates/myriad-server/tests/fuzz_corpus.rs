//! Replays every file of the server's committed fuzz corpora
//! (`fuzz/corpus/server_request`, and `fuzz/corpus/tls_pem` through the
//! server's side) through the entry points the fuzz targets call
//! ([`myriad_server::fuzzing`]), so a normal `cargo test` checks what fuzzing
//! found. Regression tests for bugs fuzzing found are named after the bug.
//!
//! `MYRIAD_WRITE_SEEDS=1 cargo test -p myriad-server --test fuzz_corpus -- --ignored`
//! writes the seed inputs (taken from the unit tests) into the corpus.

use std::path::{Path, PathBuf};

use myriad_server::fuzzing;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs `entry` on each file of the corpus of `target`.
fn replay(target: &str, entry: fn(&[u8])) {
    let dir = corpus(target);
    let mut n = 0;
    for file in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = file.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "the corpus of {target} is empty");
}

#[test]
fn corpus_server_request() {
    replay("server_request", fuzzing::request_split);
}

#[test]
fn corpus_tls_pem_server_side() {
    replay("tls_pem", fuzzing::tls_pem);
}

/// Writes the seeds of the `server_request` corpus: the inputs of the
/// request parser's unit tests.
#[test]
#[ignore = "writes the seed corpus; run with MYRIAD_WRITE_SEEDS=1"]
fn write_seeds() {
    if std::env::var_os("MYRIAD_WRITE_SEEDS").is_none() {
        return;
    }
    let requests: [&[u8]; 16] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        b"HEAD / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x01\x02\x03\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nhi",
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT",
    ];
    let dir = corpus("server_request");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, r) in requests.iter().enumerate() {
        let data = myriad::fuzzing::with_header(0, i as u64, r);
        std::fs::write(dir.join(format!("seed-{i}")), data).unwrap();
    }
}
