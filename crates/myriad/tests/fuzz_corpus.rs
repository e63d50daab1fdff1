//! Replays every file of the committed fuzz corpora (`fuzz/corpus/<target>`)
//! through the entry points the fuzz targets call ([`myriad::fuzzing`]), so a
//! normal `cargo test` on stable checks what fuzzing found, without nightly
//! or libFuzzer. The server's targets are replayed by the server's
//! `tests/fuzz_corpus.rs`. Regression tests for bugs fuzzing found are named
//! after the bug, below.
//!
//! `MYRIAD_WRITE_SEEDS=1 cargo test -p myriad --test fuzz_corpus -- --ignored`
//! writes the seed inputs (taken from the unit tests) into the corpora.

use std::path::{Path, PathBuf};

use myriad::fuzzing;

mod support;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs `entry` on each file of the corpus of `target`; returns how many.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
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
    n
}

#[test]
fn corpus_response_split() {
    replay("response_split", fuzzing::response_split);
}

#[test]
fn corpus_chunked_split() {
    replay("chunked_split", fuzzing::chunked_split);
}

#[test]
fn corpus_h2_request() {
    replay("h2_request", fuzzing::h2_request);
}

#[test]
fn corpus_tls_pem() {
    replay("tls_pem", fuzzing::tls_pem);
}

#[test]
fn corpus_cli_values() {
    replay("cli_values", fuzzing::cli_values);
}

#[test]
fn corpus_wire_line() {
    replay("wire_line", fuzzing::wire_line);
}

#[test]
fn corpus_result_file() {
    replay("result_file", fuzzing::result_file);
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

/// Writes the seeds of every corpus: the inputs of the unit tests of each
/// parser, and a real run's result file and worker delta.
#[test]
#[ignore = "writes the seed corpora; run with MYRIAD_WRITE_SEEDS=1"]
fn write_seeds() {
    if std::env::var_os("MYRIAD_WRITE_SEEDS").is_none() {
        return;
    }
    let responses: [&[u8]; 12] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nbody until close",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive, close\r\n\r\n4;a=b\r\nWiki\r\n0\r\nX-T: 1\r\n\r\n",
    ];
    for (i, r) in responses.iter().enumerate() {
        write(
            "response_split",
            &i.to_string(),
            &fuzzing::with_header(0, i as u64, r),
        );
    }
    write(
        "response_split",
        "head",
        &fuzzing::with_header(1, 9, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
    );
    // A chunk-size line and a trailer line near the 8 KiB limit.
    let mut long_ext = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=".to_vec();
    long_ext.resize(long_ext.len() + 8180, b'a');
    long_ext.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
    write(
        "response_split",
        "long-ext",
        &fuzzing::with_header(0, 3, &long_ext),
    );

    let bodies: [&[u8]; 5] = [
        b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nNEXT",
        b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
        b"zz\r\n",
        b"2\r\nabXY",
        b"ffffffffffffffff\r\nab",
    ];
    for (i, b) in bodies.iter().enumerate() {
        write(
            "chunked_split",
            &i.to_string(),
            &fuzzing::with_header(0, i as u64, b),
        );
    }
    let mut trailer = b"1\r\na\r\n0\r\nX-Long: ".to_vec();
    trailer.resize(trailer.len() + 8180, b't');
    trailer.extend_from_slice(b"\r\n\r\n");
    write(
        "chunked_split",
        "long-trailer",
        &fuzzing::with_header(0, 5, &trailer),
    );

    write(
        "h2_request",
        "get",
        b"\x00GET\x00example.com\x00/\x00\x00accept:*/*\x00x-a:1",
    );
    write(
        "h2_request",
        "post",
        b"\x01POST\x00[::1]:8443\x00/p?q=1\x00body\x00Host:x\x00te:trailers\x00Connection:close\x00Content-Length:4",
    );
    write(
        "h2_request",
        "bad",
        b"\x00G T\x00h st\x00nopath\x00\x00bad name:v\x00x:\x7f",
    );

    let identity = myriad_server::TlsIdentity::self_signed().unwrap();
    let pem = [
        identity.cert_pem().as_bytes(),
        b"\0",
        identity.key_pem().as_bytes(),
    ]
    .concat();
    write("tls_pem", "self-signed", &pem);
    write("tls_pem", "garbage", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n\0-----BEGIN PRIVATE KEY-----\n");

    let values: [(u8, &str); 30] = [
        (0, "10s"),
        (0, "1.5s"),
        (0, " 3s "),
        (0, "250us"),
        (0, "1.2.3s"),
        (1, "1500"),
        (1, "90000/m"),
        (1, "0.5/h"),
        (1, "inf"),
        (2, "30s:1000,1m:5000,30s:0"),
        (2, "1s:1,0s:0,2m:90000/m"),
        (2, "10ms:1e9"),
        (3, "poisson"),
        (3, "Uniform"),
        (4, "p99<250ms"),
        (4, "error_rate<0.1%"),
        (4, "rps>=1000"),
        (4, "p99.9 <= 1s"),
        (5, "X-Token: abc"),
        (5, "Bad Name: v"),
        (6, "p99>+10%"),
        (6, "rps<-5%"),
        (7, "example.com:443:127.0.0.1:8443"),
        (7, "[::1]:80:[::1]:8080"),
        (8, "queue"),
        (8, "drop"),
        (9, "http://127.0.0.1:8080/path?q=1"),
        (9, "https://[::1]:8443/"),
        (9, "1000/s"),
        (2, "1h:1000000,1h:0"),
    ];
    for (i, (which, v)) in values.iter().enumerate() {
        write(
            "cli_values",
            &i.to_string(),
            &[&[*which], v.as_bytes()].concat(),
        );
    }

    // A real run, for a result file and a worker's delta line.
    let server = support::builtin(myriad_server::ServerConfig::default());
    let mut config = myriad::Config::new(&[support::url(server.local_addr())]).unwrap();
    config.load = myriad::Load::closed(2, myriad::Stop::Requests(50)).unwrap();
    let summary = myriad::run(config.clone()).unwrap();
    let model = myriad::report::ReportModel::from_summary(&summary);
    let mut out = Vec::new();
    myriad::result::ResultFile::from_summary(&summary, Some(&config))
        .write(&model, &mut out)
        .unwrap();
    write("result_file", "run", &out);

    let mut recorder = myriad::metrics::Recorder::new(2);
    recorder.targets[0].issue();
    recorder.targets[0].record(myriad::Outcome::Status(200), 1500);
    recorder.targets[1].issue();
    recorder.targets[1].record(myriad::Outcome::Error(myriad::ErrorKind::Timeout), 9000);
    recorder.connected(120);
    let line = myriad::metrics::wire::RunLine::Delta {
        interval: 3,
        recorder: myriad::metrics::wire::WireRecorder::from(&recorder),
        gauges: myriad::metrics::Gauges {
            open: 2,
            peak_open: 2,
            established: 2,
            planned: 2,
            establish_us: 400,
        },
    };
    write(
        "wire_line",
        "delta",
        myriad::supervise::encode(&line).unwrap().as_bytes(),
    );
    let progress = myriad::metrics::wire::RunLine::Progress {
        issued: 120,
        completed: 118,
        failures: 1,
    };
    write(
        "wire_line",
        "progress",
        myriad::supervise::encode(&progress).unwrap().as_bytes(),
    );
}

/// A chunk-size line of `len` bytes (a chunk extension pads it), one byte of
/// data, the last chunk.
fn long_size_line(len: usize) -> Vec<u8> {
    let mut body = b"1;x=".to_vec();
    body.resize(len - 2, b'a');
    body.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
    body
}

/// Found by review of the chunked decoder's 8 KiB line limit, shown by the
/// split targets: a chunk-size (or trailer) line over 8 KiB was refused
/// when it arrived in pieces and accepted when it arrived whole.
#[test]
fn chunk_line_over_8k_refused_however_split() {
    for len in [8 * 1024, 8 * 1024 + 1, 9000, 12_000] {
        let body = long_size_line(len);
        for seed in 0..8 {
            fuzzing::chunked_split(&fuzzing::with_header(0, seed, &body));
            let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            response.extend_from_slice(&body);
            fuzzing::response_split(&fuzzing::with_header(0, seed, &response));
        }
        let whole = fuzzing::decode_chunked(&body, None);
        assert_eq!(
            whole.is_err(),
            len > 8 * 1024,
            "line of {len} bytes: {whole:?}"
        );
    }
    let mut trailer = b"1\r\na\r\n0\r\nX-Long: ".to_vec();
    trailer.resize(9000, b't');
    trailer.extend_from_slice(b"\r\n\r\n");
    for seed in 0..8 {
        fuzzing::chunked_split(&fuzzing::with_header(0, seed, &trailer));
    }
    assert!(fuzzing::decode_chunked(&trailer, None).is_err());
}
