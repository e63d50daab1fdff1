//! Requests from data through the real binary: targets files (vegeta's HTTP
//! format and JSON lines), templates and `--data` rows, checked against what
//! the server saw: `myriad serve --access-log` and nginx's access log
//! (`$request_method $request_uri $content_length $status`). Bad input is a
//! usage error (exit 2, one line) before any traffic.

#[allow(dead_code)]
#[path = "support/nginx.rs"]
mod nginx;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use nginx::{run_json, Nginx};

mod support;
use support::binary::myriad;
use support::scratch::Dir;
use support::serve::{Serve, Stderr};

/// `myriad serve --access-log LOG` on a free port, one thread.
struct LoggingServe {
    serve: Serve,
    /// `http://127.0.0.1:PORT`, without the final `/`.
    url: String,
    log: PathBuf,
}

impl LoggingServe {
    fn start(log: &Path) -> LoggingServe {
        let serve = Serve::command(&["--listen", "127.0.0.1:0", "--threads", "1"])
            .args(&["--access-log", log.to_str().unwrap()])
            .stderr(Stderr::Null)
            .start();
        let url = serve.url().trim_end_matches('/').to_string();
        LoggingServe {
            serve,
            url,
            log: log.to_path_buf(),
        }
    }

    /// Stops the server (SIGINT: the log is flushed) and returns its lines.
    fn stop(self) -> Vec<String> {
        self.serve.stop();
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A targets file in vegeta's HTTP format against `base` (`http://host:port`):
/// a GET with a query, a POST with a 7-byte body file, a PUT with headers.
fn http_targets(dir: &Path, base: &str) -> PathBuf {
    let body = dir.join("body.json");
    std::fs::write(&body, b"{\"a\":1}").unwrap();
    let text = format!(
        "GET {base}/items?page=2\n\nPOST {base}/items\nContent-Type: application/json\n@{}\n\nPUT {base}/items/7\nX-Trace: abc\nContent-Type: text/plain\n",
        body.display()
    );
    let path = dir.join("targets.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// The report's rows by name: issued, and `200` responses.
fn rows(r: &serde_json::Value) -> BTreeMap<String, (u64, u64)> {
    r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                (
                    t["requests"]["issued"].as_u64().unwrap(),
                    t["status"]["200"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// Lines of an access log counted.
fn counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in lines {
        *out.entry(l.clone()).or_insert(0) += 1;
    }
    out
}

/// The rows sum to the totals.
fn assert_rows_sum(r: &serde_json::Value) {
    let sum = |key: &str| -> u64 {
        r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["requests"][key].as_u64().unwrap())
            .sum()
    };
    for key in ["issued", "succeeded", "http_errors", "failures"] {
        assert_eq!(sum(key), r["total"]["requests"][key], "{key}");
    }
}

/// Runs [`http_targets`] 3,000 times against `myriad serve --access-log`
/// with `protocol` flags, and checks the log against the report: every
/// request logged once, with its method, path and body length, and answered
/// 200; the targets taken in turn on every connection.
fn targets_match_serves_access_log(name: &str, protocol: &[&str]) {
    let dir = Dir::new(name);
    let serve = LoggingServe::start(&dir.join("access.log"));
    let targets = http_targets(&dir, &serve.url);
    let mut args = vec!["-n", "3000", "-c", "4", "-t", "1"];
    args.extend_from_slice(protocol);
    args.extend_from_slice(&["--targets", targets.to_str().unwrap()]);
    let r = run_json(&args);
    let lines = serve.stop();
    assert_eq!(r["total"]["requests"]["succeeded"], 3000);
    assert_eq!(lines.len(), 3000);
    assert_rows_sum(&r);
    let rows = rows(&r);
    assert_eq!(
        rows.keys().collect::<Vec<_>>(),
        vec!["GET /items", "POST /items", "PUT /items/7"]
    );
    let seen = counts(&lines);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen["GET /items?page=2 0 200"], rows["GET /items"].0);
    assert_eq!(seen["POST /items 7 200"], rows["POST /items"].0);
    // A PUT without a body still says `Content-Length: 0`.
    assert_eq!(seen["PUT /items/7 0 200"], rows["PUT /items/7"].0);
    // In turn on every connection: equal shares, give or take one per connection.
    for (issued, ok) in rows.values() {
        assert_eq!(issued, ok);
        assert!(issued.abs_diff(1000) <= 4, "{rows:?}");
    }
}

#[test]
fn http_targets_file_matches_serves_access_log() {
    targets_match_serves_access_log("targets-serve", &[]);
}

#[test]
fn http2_requests_are_in_serves_access_log_too() {
    // Over HTTP/2 with prior knowledge, 10 streams per connection: a line
    // per stream, as HTTP/1.1 writes them.
    targets_match_serves_access_log("targets-serve-h2", &["--h2c", "-p", "10"]);
}

#[test]
fn json_targets_with_names_and_two_hosts() {
    let dir = Dir::new("targets-json");
    let a = LoggingServe::start(&dir.join("a.log"));
    let b = LoggingServe::start(&dir.join("b.log"));
    let lines = [
        format!(
            r#"{{"method":"POST","url":"{}/login","header":{{"X-A":["1"]}},"body":"aGVsbG8=","name":"login"}}"#,
            a.url
        ),
        format!(r#"{{"method":"GET","url":"{}/feed?x=1"}}"#, b.url),
        format!(r#"{{"method":"GET","url":"{}/feed?x=2"}}"#, b.url),
    ];
    let path = dir.join("targets.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let r = run_json(&[
        "-n",
        "400",
        "-c",
        "4",
        "-t",
        "1",
        "--targets",
        path.to_str().unwrap(),
    ]);
    let (seen_a, seen_b) = (counts(&a.stop()), counts(&b.stop()));
    assert_rows_sum(&r);
    let rows = rows(&r);
    // Connections are dealt to the two hosts; requests of one name share a row.
    assert_eq!(rows.keys().collect::<Vec<_>>(), vec!["GET /feed", "login"]);
    assert_eq!(seen_a.len(), 1, "{seen_a:?}");
    assert_eq!(seen_a["POST /login 5 200"], rows["login"].0);
    assert_eq!(
        seen_b["GET /feed?x=1 0 200"] + seen_b["GET /feed?x=2 0 200"],
        rows["GET /feed"].0
    );
    assert!(seen_b["GET /feed?x=1 0 200"].abs_diff(seen_b["GET /feed?x=2 0 200"]) <= 2);
}

#[test]
fn targets_file_against_nginx_matches_its_access_log() {
    let dir = Dir::new("targets-nginx");
    let nginx = Nginx::start();
    let base = nginx.url().trim_end_matches('/').to_string();
    let targets = http_targets(&dir, &base);
    let r = run_json(&[
        "-n",
        "3000",
        "-c",
        "4",
        "-t",
        "1",
        "--targets",
        targets.to_str().unwrap(),
    ]);
    let (plain, _) = nginx.stop();
    assert_eq!(r["total"]["requests"]["succeeded"], 3000);
    assert_rows_sum(&r);
    let rows = rows(&r);
    let seen = counts(plain.requests());
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen["GET /items?page=2 - 200"], rows["GET /items"].0);
    assert_eq!(seen["POST /items 7 200"], rows["POST /items"].0);
    assert_eq!(seen["PUT /items/7 0 200"], rows["PUT /items/7"].0);
}

/// A URL and a body templated with `{{seq}}` (and a random integer), run
/// with `args` against serve's access log: every path is distinct, and each
/// body is as long as its sequence number makes it.
fn templates_give_each_request_its_own_path_and_body(name: &str, args: &[&str]) {
    let dir = Dir::new(name);
    let serve = LoggingServe::start(&dir.join("access.log"));
    let url = format!("{}/item/{{{{seq}}}}?r={{{{rand_int 1 9}}}}", serve.url);
    let fixed = [
        "-n",
        "2000",
        "-c",
        "8",
        "-t",
        "2",
        "-m",
        "POST",
        "-d",
        "n={{seq}}",
    ];
    let r = run_json(&[&fixed[..], args, &[&url]].concat());
    let lines = serve.stop();
    assert_eq!(r["total"]["requests"]["succeeded"], 2000);
    assert_eq!(lines.len(), 2000);
    let mut paths = std::collections::BTreeSet::new();
    for line in &lines {
        // POST /item/SEQ?r=R BODY_BYTES 200
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!((fields[0], fields[3]), ("POST", "200"), "{line}");
        let (path, query) = fields[1].split_once('?').unwrap();
        let seq = path.strip_prefix("/item/").unwrap();
        let r: u32 = query.strip_prefix("r=").unwrap().parse().unwrap();
        assert!((1..=9).contains(&r), "{line}");
        assert_eq!(
            fields[2],
            (2 + seq.len()).to_string(),
            "the body n=SEQ: {line}"
        );
        paths.insert(seq.parse::<u64>().unwrap());
    }
    assert_eq!(paths.len(), 2000, "distinct paths");
}

#[test]
fn sequence_template_gives_a_distinct_path_per_request() {
    templates_give_each_request_its_own_path_and_body("targets-seq", &[]);
}

#[test]
fn templates_work_over_http2_too() {
    // Over HTTP/2 with prior knowledge, 10 streams per connection: the
    // header block and the body rendered per stream.
    templates_give_each_request_its_own_path_and_body("targets-seq-h2", &["--h2c", "-p", "10"]);
}

#[test]
fn text_report_shows_the_busiest_rows_and_sums_the_rest() {
    // 41 request types, /hot in the file twice: the text shows 25 rows, /hot
    // first, and one line for the other 16 with their requests; JSON keeps
    // all 41.
    let dir = Dir::new("targets-many");
    let serve = LoggingServe::start(&dir.join("access.log"));
    let mut text = format!("GET {}/hot\n\n", serve.url);
    for i in 0..40 {
        text.push_str(&format!("GET {}/p{i}\n\n", serve.url));
        if i == 0 {
            text.push_str(&format!("GET {}/hot\n\n", serve.url));
        }
    }
    let path = dir.join("targets.txt");
    std::fs::write(&path, text).unwrap();
    let args = ["-n", "4200", "-c", "1", "-t", "1", "--targets"];
    let r = run_json(&[&args[..], &[path.to_str().unwrap()]].concat());
    assert_eq!(r["targets"].as_array().unwrap().len(), 41);
    assert_rows_sum(&r);
    let out = Command::new(env!("CARGO_BIN_EXE_myriad"))
        .args(["run", "--no-tui"])
        .args(args)
        .arg(&path)
        .output()
        .unwrap();
    drop(serve);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  GET /")).collect();
    assert_eq!(rows.len(), 25, "{text}");
    assert!(rows[0].starts_with("  GET /hot "), "busiest first: {text}");
    // 4,200 requests over 42 entries: /hot 200, each other 100; 16 rows of
    // 100 are left out.
    assert!(
        text.contains("... 16 more rows with 1,600 requests issued (the 25 busiest are shown"),
        "{text}"
    );
}

#[test]
fn csv_rows_are_used_in_order_and_wrap() {
    let dir = Dir::new("targets-csv");
    let serve = LoggingServe::start(&dir.join("access.log"));
    let data = dir.join("users.csv");
    std::fs::write(&data, "user_id,name\n11,ann\n22,bob\n33,cy\n").unwrap();
    let targets = dir.join("t.txt");
    std::fs::write(
        &targets,
        format!(
            "POST {}/u/{{{{row.user_id}}}}\nX-Name: {{{{row.name}}}}\n",
            serve.url
        ),
    )
    .unwrap();
    std::fs::write(dir.join("unused"), "").unwrap();
    let r = run_json(&[
        "-n",
        "7",
        "-c",
        "1",
        "-t",
        "1",
        "--targets",
        targets.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let lines = serve.stop();
    assert_eq!(r["total"]["requests"]["succeeded"], 7);
    let paths: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        paths,
        ["/u/11", "/u/22", "/u/33", "/u/11", "/u/22", "/u/33", "/u/11"]
    );
}

/// `myriad run ARGS` against a port nothing listens on must fail with exit 2
/// and one line naming `needle`, before any traffic.
fn assert_usage_error(args: &[&str], needle: &str) {
    let out = myriad(&[&["run"][..], args].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = Dir::new("targets-bad");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let url = "http://127.0.0.1:9";
    let missing = dir.join("nope.txt");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--targets".into(), missing.display().to_string()],
            "cannot read targets file",
        ),
        (
            vec!["--targets".into(), write("empty", "\n# nothing\n")],
            "has no targets",
        ),
        (
            vec!["--targets".into(), write("notreq", "FETCH\n")],
            "line 1: 'FETCH' is not 'METHOD URL'",
        ),
        (
            vec![
                "--targets".into(),
                write("nocolon", &format!("GET {url}/\nX-Bad\n")),
            ],
            "line 2: 'X-Bad' is not a header",
        ),
        (
            vec![
                "--targets".into(),
                write("nobody", &format!("POST {url}/\n@/no/such/body\n")),
            ],
            "line 2: cannot read body file '/no/such/body'",
        ),
        (
            vec![
                "--targets".into(),
                write(
                    "json",
                    &format!("{{\"method\":\"GET\",\"url\":\"{url}/\"}}\n{{bad\n"),
                ),
            ],
            "line 2: invalid JSON",
        ),
        (
            vec![
                "--targets".into(),
                write(
                    "b64",
                    &format!("{{\"method\":\"GET\",\"url\":\"{url}/\",\"body\":\"%%\"}}\n"),
                ),
            ],
            "line 1: body is not valid base64",
        ),
        (
            vec![
                "--targets".into(),
                write("tpl", &format!("\nGET {url}/{{{{nope}}}}\n")),
            ],
            "unknown template '{{nope}}' in the URL of targets file",
        ),
        (
            vec![format!("{url}/{{{{row.id}}}}")],
            "there is no --data file",
        ),
        (
            vec![
                format!("{url}/{{{{row.id}}}}"),
                "--data".into(),
                write("norows.csv", "id\n"),
            ],
            "has no rows",
        ),
        (
            vec![
                format!("{url}/{{{{row.id}}}}"),
                "--data".into(),
                write("ragged.csv", "id,b\n1,2\n3\n"),
            ],
            "line 3: 1 fields, but the header has 2",
        ),
        (
            vec![
                format!("{url}/{{{{row.x}}}}"),
                "--data".into(),
                write("cols.csv", "id,b\n1,2\n"),
            ],
            "its columns are id, b",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_usage_error(&args, needle);
    }
}
