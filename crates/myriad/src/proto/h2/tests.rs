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

/// The block and body of `r`'s template rendered with sequence number `seq`.
fn rendered(r: &H2Request, seq: u64) -> (H2Request, Vec<u8>) {
    let mut rng = fastrand::Rng::with_seed(1);
    let mut v = crate::template::Values {
        seq,
        row: None,
        rng: &mut rng,
    };
    let (mut block, mut body) = (Vec::new(), Vec::new());
    r.template
        .as_ref()
        .expect("a template")
        .render(&mut block, &mut body, &mut v);
    let request = H2Request {
        block: block.into(),
        body: Arc::default(),
        template: None,
    };
    (request, body)
}

#[test]
fn templated_path_values_and_body_render_per_request() {
    let compile =
        |b: &[u8]| crate::template::Template::compile(b, None, "test").map_err(|e| e.to_string());
    let headers = vec![h("X-Id", "id-{{seq}}"), h("X-Fixed", "same")];
    let long = "{{seq}}".to_string() + &"y".repeat(200);
    let r = build_h2(
        "POST",
        &headers,
        format!("{{\"n\":{{{{seq}}}},\"pad\":\"{long}\"}}").as_bytes(),
        false,
        "h:1",
        "/item/{{seq}}?r={{rand_int 1 9}}",
        Some(&compile),
    )
    .unwrap();
    assert!(r.block.is_empty() && r.body.is_empty());
    for seq in [0u64, 7, 123_456] {
        let (block, body) = rendered(&r, seq);
        let fields = decoded(&block);
        assert_eq!(fields[0], h(":method", "POST"));
        assert_eq!(fields[2], h(":authority", "h:1"));
        let path = &fields[3].1;
        assert!(path.starts_with(&format!("/item/{seq}?r=")), "{path}");
        let r: u32 = path.rsplit('=').next().unwrap().parse().unwrap();
        assert!((1..=9).contains(&r));
        assert!(fields.contains(&h("x-id", &format!("id-{seq}"))));
        assert!(fields.contains(&h("x-fixed", "same")));
        // The body's value over 127 bytes takes a longer length prefix.
        let body = String::from_utf8(body).unwrap();
        assert_eq!(
            body,
            format!("{{\"n\":{seq},\"pad\":\"{seq}{}\"}}", "y".repeat(200))
        );
        // Still nothing indexed.
        let mut d = hpack::Decoder::new();
        d.decode(&block.block).unwrap();
        assert_eq!(d.table_size(), 0);
    }
    // A header value over 127 bytes rendered: its length prefix is longer.
    let headers = vec![h("x-long", &long)];
    let r = build_h2("GET", &headers, b"", false, "h", "/", Some(&compile)).unwrap();
    let (block, body) = rendered(&r, 42);
    assert!(body.is_empty());
    assert!(decoded(&block).contains(&h("x-long", &format!("42{}", "y".repeat(200)))));
    // Templates are checked by the text around them: a space is still refused.
    assert!(build_h2("GET", &[], b"", false, "h", "/a b{{seq}}", Some(&compile)).is_err());
    assert!(build_h2("GET", &[], b"", false, "h", "/{{seq}}", Some(&compile)).is_ok());
}
