//! Builds the bytes of one request once per target; they are written as-is for
//! every request on every connection.

/// What a request looks like on the wire, before the target fills in its part.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec<'a> {
    pub method: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub keep_alive: bool,
}

/// The full request bytes for `host_header` and `path`.
pub(crate) fn build_request(spec: &RequestSpec<'_>, host_header: &str, path: &str) -> Vec<u8> {
    let (mut out, length) = build_head(spec, host_header, path);
    if length {
        push_header(&mut out, "Content-Length", &spec.body.len().to_string());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(spec.body);
    out
}

/// The request line and headers, without `Content-Length` and the blank line
/// that ends the head; and whether a `Content-Length` belongs there (a body,
/// or a method that expects one).
pub(crate) fn build_head(spec: &RequestSpec<'_>, host_header: &str, path: &str) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(128 + spec.body.len());
    let has = |name: &str| {
        spec.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    out.extend_from_slice(spec.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        push_header(&mut out, "Host", host_header);
    }
    if !has("user-agent") {
        push_header(
            &mut out,
            "User-Agent",
            concat!("myriad/", env!("CARGO_PKG_VERSION")),
        );
    }
    if !has("accept") {
        push_header(&mut out, "Accept", "*/*");
    }
    for (name, value) in spec.headers {
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("connection") {
            continue; // myriad frames the body and manages the connection itself
        }
        push_header(&mut out, name, value);
    }
    if !spec.keep_alive {
        push_header(&mut out, "Connection", "close");
    }
    let length = !spec.body.is_empty() || matches!(spec.method, "POST" | "PUT" | "PATCH");
    (out, length)
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_has_defaults_and_no_length() {
        let spec = RequestSpec {
            method: "GET",
            headers: &[],
            body: b"",
            keep_alive: true,
        };
        let req = build_request(&spec, "127.0.0.1:8080", "/a?b=1");
        assert_eq!(
            String::from_utf8(req).unwrap(),
            concat!(
                "GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: myriad/",
                env!("CARGO_PKG_VERSION"),
                "\r\nAccept: */*\r\n\r\n"
            )
        );
    }

    #[test]
    fn post_with_body_user_host_and_close() {
        let headers = vec![
            ("host".to_string(), "example".to_string()),
            ("X-Id".to_string(), "7".to_string()),
            ("Content-Length".to_string(), "999".to_string()),
        ];
        let spec = RequestSpec {
            method: "POST",
            headers: &headers,
            body: b"hello",
            keep_alive: false,
        };
        let req = String::from_utf8(build_request(&spec, "ignored", "/")).unwrap();
        assert!(req.starts_with("POST / HTTP/1.1\r\n"));
        assert!(req.contains("host: example\r\n"));
        assert!(!req.contains("Host: ignored"));
        assert!(req.contains("X-Id: 7\r\n"));
        assert!(!req.contains("999"));
        assert!(req.contains("Connection: close\r\n"));
        assert!(req.ends_with("Content-Length: 5\r\n\r\nhello"));
    }
}
