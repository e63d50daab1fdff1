//! The real `myriad` binary against an independent server: nginx (Debian's
//! package; `.ci/run` installs it), started by each test on 127.0.0.1 with a
//! configuration of its own. Every count myriad reports is checked against
//! nginx's access log, read after nginx has stopped (SIGQUIT) so it is
//! complete.

#[allow(dead_code)]
#[path = "support/nginx.rs"]
mod nginx;

use nginx::{assert_all_succeeded, run_json, Nginx};

#[test]
fn keep_alive_counts_match_the_access_log() {
    let nginx = Nginx::start();
    let r = run_json(&["-n", "5000", "-c", "10", &nginx.url()]);
    assert_all_succeeded(&r, 5000);
    let (plain, tls) = nginx.stop();
    plain.assert_requests(5000, "plaintext keep-alive");
    tls.assert_requests(0, "TLS server (unused)");
}

#[test]
fn pipelining_counts_match_the_access_log() {
    let nginx = Nginx::start();
    let r = run_json(&["--pipeline", "16", "-n", "10000", "-c", "4", &nginx.url()]);
    assert_all_succeeded(&r, 10_000);
    assert_eq!(r["connections"]["opened"], 4, "{:#}", r["connections"]);
    let (plain, _) = nginx.stop();
    plain.assert_requests(10_000, "pipelined");
}

#[test]
fn https_counts_match_the_access_log_and_untrusted_certificates_fail() {
    let nginx = Nginx::start();
    let (url, cert) = (nginx.tls_url(), nginx.cert());
    let r = run_json(&["--cacert", &cert, "-n", "2000", "-c", "10", &url]);
    assert_all_succeeded(&r, 2000);
    // Without --cacert the self-signed certificate is refused: each request
    // is one `certificate` failure, and nginx logs none.
    let r = run_json(&["-n", "100", "-c", "4", &url]);
    let t = &r["total"];
    assert_eq!(t["requests"]["issued"], 100, "{t:#}");
    assert_eq!(t["errors"]["certificate"], 100, "{t:#}");
    assert_eq!(t["requests"]["balanced"], true, "{t:#}");
    let (plain, tls) = nginx.stop();
    tls.assert_requests(2000, "HTTPS");
    plain.assert_requests(0, "plaintext server (unused)");
}

#[test]
fn https_pipelining_counts_match_the_access_log() {
    let nginx = Nginx::start();
    let (url, cert) = (nginx.tls_url(), nginx.cert());
    let r = run_json(&[
        "--cacert",
        &cert,
        "--pipeline",
        "8",
        "-n",
        "4000",
        "-c",
        "4",
        &url,
    ]);
    assert_all_succeeded(&r, 4000);
    assert_eq!(r["connections"]["opened"], 4, "{:#}", r["connections"]);
    let (_, tls) = nginx.stop();
    tls.assert_requests(4000, "HTTPS pipelined");
}
