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
fn corpus_hpack_decode() {
    replay("hpack_decode", fuzzing::hpack_decode);
}

#[test]
fn corpus_h2_frames() {
    replay("h2_frames", fuzzing::h2_frames);
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

/// Bytes from RFC 7541's hex dumps.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A server's HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Writes the seeds of the HTTP/2 corpora (`hpack_decode`, `h2_frames`):
/// RFC 7541 Appendix C's blocks, and server frames like those of the unit
/// tests of `proto/h2/conn.rs`.
#[test]
#[ignore = "writes the HTTP/2 seed corpora; run with MYRIAD_WRITE_SEEDS=1"]
fn write_h2_seeds() {
    if std::env::var_os("MYRIAD_WRITE_SEEDS").is_none() {
        return;
    }
    let rfc: [(&str, [&str; 3]); 4] = [
        ("c3", [
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "8286 84be 5808 6e6f 2d63 6163 6865",
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ]),
        ("c4", [
            "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            "8286 84be 5886 a8eb 1064 9cbf",
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ]),
        ("c5", [
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a
             3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
        ]),
        ("c6", [
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ]),
    ];
    for (name, blocks) in rfc {
        let mut seed = Vec::new();
        for b in blocks {
            let b = hex(b);
            seed.push(b.len() as u8);
            seed.extend_from_slice(&b);
        }
        write("hpack_decode", name, &seed);
    }
    write(
        "hpack_decode",
        "size-updates",
        &[4, 0x20, 0x3f, 0xe1, 0x1f, 1, 0x88],
    );
    write("hpack_decode", "bad-index", &[1, 0x80 | 63]);
    write(
        "hpack_decode",
        "bad-padding",
        &[5, 0x0f, 0x0d, 0x82, 0x1f, 0xff],
    );

    let (settings, ping) = (0x4, 0x6);
    let status_200 = [0x88u8, 0x40 | 54, 5, b'm', b'y', b'r', b'i', b'd'];
    let mut ok = frame(settings, 0, 0, &[0, 3, 0, 0, 0, 2, 0, 4, 0, 0x10, 0, 0]);
    ok.extend(frame(0x1, 0x4, 1, &status_200));
    ok.extend(frame(0x0, 0x1, 1, b"ok"));
    ok.extend(frame(0x1, 0x4 | 0x1, 3, &[0x80 | 62, 0x88]));
    ok.extend(frame(0x8, 0, 0, &[0, 1, 0, 0]));
    ok.extend(frame(0x8, 0, 5, &[0, 1, 0, 0]));
    ok.extend(frame(0x3, 0, 5, &[0, 0, 0, 7]));
    write("h2_frames", "responses", &fuzzing::with_header(0, 1, &ok));
    let mut split = frame(0x1, 0x4, 1, &[0x80 | 8]);
    split.extend(frame(0x1, 0x8 | 0x20, 3, &[2, 0, 0, 0, 0, 16, 0x88, 0, 0]));
    split.extend(frame(0x9, 0x4, 3, &[0x40 | 54, 1, b'x']));
    split.extend(frame(0x0, 0x8, 1, &[3, b'a', 0, 0, 0]));
    split.extend(frame(0x1, 0x4 | 0x1, 1, &[0x0f, 0x0d, 0x01, b'2']));
    split.extend(frame(0x42, 0xff, 7, b"unknown"));
    split.extend(frame(0x0, 0x1, 3, &[b'z'; 3000]));
    write(
        "h2_frames",
        "continuation",
        &fuzzing::with_header(0, 2, &split),
    );
    let mut goaway = frame(ping, 0, 0, b"12345678");
    goaway.extend(frame(0x7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
    goaway.extend(frame(0x1, 0x4 | 0x1, 1, &[0x88]));
    goaway.extend(frame(0x7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 2]));
    write("h2_frames", "goaway", &fuzzing::with_header(0, 3, &goaway));
    write(
        "h2_frames",
        "ping-of-7",
        &fuzzing::with_header(0, 4, &frame(ping, 0, 0, &[0; 7])),
    );
    write(
        "h2_frames",
        "bad-hpack",
        &fuzzing::with_header(0, 5, &frame(0x1, 0x5, 1, &[0x80 | 63])),
    );
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

/// A few thousand random mutations of each HTTP/2 seed (bytes flipped,
/// inserted, removed, the seeds spliced together) through the HTTP/2
/// targets: what the fuzzer does, briefly, on every `cargo test`
/// (`MYRIAD_MUTATIONS=N` for more per target, with a seed of the time).
#[test]
fn mutated_http2_seeds_never_break_a_property() {
    let (rounds, seed) = match std::env::var("MYRIAD_MUTATIONS") {
        Ok(n) => (n.parse().unwrap(), fastrand::u64(..)),
        Err(_) => (3000, 7),
    };
    println!("{rounds} mutations per target, seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    for target in ["hpack_decode", "h2_frames"] {
        let entry = match target {
            "hpack_decode" => fuzzing::hpack_decode as fn(&[u8]),
            _ => fuzzing::h2_frames,
        };
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(corpus(target))
            .unwrap()
            .map(|f| std::fs::read(f.unwrap().path()).unwrap())
            .collect();
        for _ in 0..rounds {
            let mut data = seeds[rng.usize(..seeds.len())].clone();
            for _ in 0..rng.usize(1..6) {
                match rng.u8(..4) {
                    0 if !data.is_empty() => {
                        let i = rng.usize(..data.len());
                        data[i] ^= 1 << rng.u8(..8);
                    }
                    1 => {
                        let i = rng.usize(..=data.len());
                        data.insert(i, rng.u8(..));
                    }
                    2 if !data.is_empty() => {
                        data.remove(rng.usize(..data.len()));
                    }
                    _ => {
                        let other = &seeds[rng.usize(..seeds.len())];
                        let from = rng.usize(..=other.len());
                        data.extend_from_slice(&other[from..]);
                    }
                }
            }
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "{target} fails on {data:02x?}");
        }
    }
}
