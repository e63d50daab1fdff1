//! The prebuilt request block, decoded back.

use super::*;

fn decoded(r: &H2Request) -> Vec<(String, String)> {
    let mut sink = hpack::Collect::default();
    hpack::Decoder::new().walk(&r.block, &mut sink).unwrap();
    sink.fields
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

fn h(n: &str, v: &str) -> (String, String) {
    (n.to_string(), v.to_string())
}

#[test]
fn a_get_is_pseudo_headers_then_defaults() {
    let r = build_h2_request("GET", &[], b"", false, "localhost:8080", "/").unwrap();
    // :method GET, :scheme http and :path / are the static entries themselves.
    assert_eq!(&r.block[..2], &[0x82, 0x86]);
    assert_eq!(
        decoded(&r),
        [
            h(":method", "GET"),
            h(":scheme", "http"),
            h(":authority", "localhost:8080"),
            h(":path", "/"),
            h("user-agent", concat!("myriad/", env!("CARGO_PKG_VERSION"))),
            h("accept", "*/*"),
        ]
    );
    assert!(r.body.is_empty());
}

#[test]
fn headers_are_lowercased_and_forbidden_ones_dropped() {
    let headers = vec![
        h("Content-Type", "application/json"),
        h("Host", "elsewhere"),
        h("Connection", "keep-alive"),
        h("Content-Length", "7"),
        h("TE", "gzip"),
        h("te", "trailers"),
        h("X-Custom", "a b"),
        h("Accept", "text/plain"),
    ];
    let r = build_h2_request("PUT", &headers, b"{\"k\":1}", true, "h", "/p?q=1").unwrap();
    assert_eq!(
        decoded(&r),
        [
            h(":method", "PUT"),
            h(":scheme", "https"),
            h(":authority", "h"),
            h(":path", "/p?q=1"),
            h("user-agent", concat!("myriad/", env!("CARGO_PKG_VERSION"))),
            h("content-type", "application/json"),
            h("te", "trailers"),
            h("x-custom", "a b"),
            h("accept", "text/plain"),
        ]
    );
    assert_eq!(&r.body[..], b"{\"k\":1}");
    // Nothing was indexed: the block is the same on every request.
    let mut d = hpack::Decoder::new();
    d.decode(&r.block).unwrap();
    assert_eq!(d.table_size(), 0);
}

#[test]
fn invalid_requests_are_refused() {
    assert!(build_h2_request("GE T", &[], b"", false, "h", "/").is_err());
    assert!(build_h2_request("GET", &[h("bad name", "v")], b"", false, "h", "/").is_err());
    assert!(build_h2_request("GET", &[h("n", "a\r\nb")], b"", false, "h", "/").is_err());
    assert!(build_h2_request("GET", &[], b"", false, "", "/").is_err());
    assert!(build_h2_request("GET", &[], b"", false, "h", "/a b").is_err());
}
