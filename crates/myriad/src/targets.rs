//! Targets files (`--targets FILE`): requests read from data, in the two
//! formats vegeta reads.
//!
//! - **HTTP format**: a `METHOD URL` line, then `Name: value` header lines,
//!   then an optional `@path/to/body` line (read relative to the working
//!   directory, as vegeta does), with a blank line between targets. Lines that
//!   start with `#` are comments.
//! - **JSON lines**: one object per line, `{"method": "GET", "url": "…",
//!   "header": {"Name": ["v"]}, "body": "<base64>", "name": "…"}`, as
//!   vegeta's JSON format (plus the optional `name` of its report row).
//!
//! The format is told by the first character that is not blank: `{` is JSON
//! lines. Every error names the file, the line and what to change, so the CLI
//! prints it as one line and exits before any traffic.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A targets file that cannot be used; each says where and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetsError {
    /// The file cannot be read.
    #[error("cannot read targets file '{file}': {reason}")]
    Read {
        /// The file as given (`-` for stdin).
        file: String,
        /// What the system said.
        reason: String,
    },
    /// The file has no target.
    #[error("targets file '{file}' has no targets: add a line like 'GET http://host/path'")]
    Empty {
        /// The file as given.
        file: String,
    },
    /// A line that cannot be used.
    #[error("targets file '{file}', line {line}: {message}")]
    Line {
        /// The file as given.
        file: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong and what to change.
        message: String,
    },
}

/// One target as a targets file gives it, before its URL is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTarget {
    /// Request method, upper case.
    pub method: String,
    /// The URL (it may hold templates in its path and query).
    pub url: String,
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Its report row's name, if the file gives one.
    pub name: Option<String>,
    /// The line it starts on, for errors found later (a URL that does not
    /// resolve, a template that names an unknown function).
    pub line: usize,
}

/// Reads the targets file at `path` (`-`: stdin).
pub fn read_targets(path: &Path) -> Result<Vec<FileTarget>, TargetsError> {
    let file = path.display().to_string();
    let text = if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| TargetsError::Read {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    parse_targets(&text, &file)
}

/// Parses the text of a targets file named `file` (for errors).
pub fn parse_targets(text: &str, file: &str) -> Result<Vec<FileTarget>, TargetsError> {
    let targets = match text.trim_start().starts_with('{') {
        true => parse_json_lines(text, file)?,
        false => parse_http(text, file)?,
    };
    if targets.is_empty() {
        return Err(TargetsError::Empty { file: file.into() });
    }
    Ok(targets)
}

fn line_error(file: &str, line: usize, message: impl Into<String>) -> TargetsError {
    TargetsError::Line {
        file: file.into(),
        line,
        message: message.into(),
    }
}

/// Whether `s` is an HTTP token (a method or a header name).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_http(text: &str, file: &str) -> Result<Vec<FileTarget>, TargetsError> {
    let mut out: Vec<FileTarget> = Vec::new();
    // Whether the lines since the last blank one belong to `out.last()`.
    let mut open = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if !open {
            out.push(request_line(line, file, n)?);
            open = true;
            continue;
        }
        let Some(target) = out.last_mut() else {
            continue;
        };
        if let Some(body) = line.strip_prefix('@') {
            if !target.body.is_empty() {
                return Err(line_error(
                    file,
                    n,
                    "a second @body for one target: keep one @path per target",
                ));
            }
            let path = body.trim();
            target.body = std::fs::read(path)
                .map_err(|e| line_error(file, n, format!("cannot read body file '{path}': {e}")))?;
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(line_error(
                file,
                n,
                format!("'{line}' is not a header: write 'Name: value', or a blank line before the next 'METHOD URL'"),
            ));
        };
        if !is_token(name) {
            return Err(line_error(
                file,
                n,
                format!("'{line}' is not a header: write 'Name: value', or a blank line before the next 'METHOD URL'"),
            ));
        }
        target
            .headers
            .push((name.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

fn request_line(line: &str, file: &str, n: usize) -> Result<FileTarget, TargetsError> {
    let mut parts = line.split_whitespace();
    let (Some(method), Some(url), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(line_error(
            file,
            n,
            format!("'{line}' is not 'METHOD URL': write for example 'GET http://host/path'"),
        ));
    };
    if !is_token(method) || !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(line_error(
            file,
            n,
            format!("'{line}' is not 'METHOD URL': write for example 'GET http://host/path'"),
        ));
    }
    Ok(FileTarget {
        method: method.to_ascii_uppercase(),
        url: url.to_string(),
        headers: Vec::new(),
        body: Vec::new(),
        name: None,
        line: n,
    })
}

/// A line of vegeta's JSON format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTarget {
    method: String,
    url: String,
    #[serde(default)]
    header: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn parse_json_lines(text: &str, file: &str) -> Result<Vec<FileTarget>, TargetsError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let t: JsonTarget = serde_json::from_str(line).map_err(|e| {
            line_error(
                file,
                n,
                format!("invalid JSON ({e}): write one object per line like {{\"method\": \"GET\", \"url\": \"http://host/\"}}"),
            )
        })?;
        if !is_token(&t.method) {
            return Err(line_error(
                file,
                n,
                format!(
                    "invalid method '{}': use a token like GET or POST",
                    t.method
                ),
            ));
        }
        if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
            return Err(line_error(
                file,
                n,
                format!("invalid url '{}': use http:// or https://", t.url),
            ));
        }
        let body = match t.body.as_deref() {
            None | Some("") => Vec::new(),
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| {
                    line_error(
                        file,
                        n,
                        format!("body is not valid base64 ({e}): encode it with base64"),
                    )
                })?,
        };
        let mut headers = Vec::new();
        for (name, values) in t.header {
            if !is_token(&name) {
                return Err(line_error(
                    file,
                    n,
                    format!("invalid header name '{name}': use a token like X-Id"),
                ));
            }
            headers.extend(values.into_iter().map(|v| (name.clone(), v)));
        }
        out.push(FileTarget {
            method: t.method.to_ascii_uppercase(),
            url: t.url,
            headers,
            body,
            name: t.name.filter(|s| !s.is_empty()),
            line: n,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_format_with_headers_bodies_and_comments() {
        let dir = std::env::temp_dir().join(format!("myriad-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let body = dir.join("b.json");
        std::fs::write(&body, b"{\"a\":1}").unwrap();
        let text = format!(
            "# comment\nGET http://h/a?x=1\nX-Id: 7\n\nPOST http://h/b\nContent-Type: application/json\n@{}\n\n\nput http://h/c\n",
            body.display()
        );
        let t = parse_targets(&text, "f").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].headers, vec![("X-Id".into(), "7".into())]);
        assert_eq!(t[1].body, b"{\"a\":1}");
        assert_eq!(t[1].line, 5);
        assert_eq!(t[2].method, "PUT");
    }

    #[test]
    fn http_format_errors_name_the_line() {
        let e = parse_targets("GET http://h/\nno colon here\n", "f").unwrap_err();
        assert!(
            e.to_string().starts_with("targets file 'f', line 2: "),
            "{e}"
        );
        let e = parse_targets("GET http://h/\nGET http://h/b\n", "f").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_targets("\n\nhttp://h/\n", "f").unwrap_err();
        assert!(e.to_string().contains("line 3") && e.to_string().contains("METHOD URL"));
        let e = parse_targets("POST http://h/\n@/no/such/file\n", "f").unwrap_err();
        assert!(e.to_string().contains("line 2") && e.to_string().contains("/no/such/file"));
        let e = parse_targets("# only\n\n", "f").unwrap_err();
        assert_eq!(e, TargetsError::Empty { file: "f".into() });
    }

    #[test]
    fn json_lines() {
        let text = "{\"method\":\"POST\",\"url\":\"http://h/p\",\"header\":{\"X-A\":[\"1\",\"2\"]},\"body\":\"aGVsbG8=\",\"name\":\"post\"}\n\n{\"method\":\"GET\",\"url\":\"http://h/\"}\n";
        let t = parse_targets(text, "f").unwrap();
        assert_eq!(t[0].body, b"hello");
        assert_eq!(t[0].headers.len(), 2);
        assert_eq!(t[0].name.as_deref(), Some("post"));
        assert_eq!(t[1].line, 3);
        let e =
            parse_targets("{\"method\":\"GET\",\"url\":\"http://h/\"}\n{oops\n", "f").unwrap_err();
        assert!(e.to_string().contains("line 2: invalid JSON"), "{e}");
        let e = parse_targets(
            "{\"method\":\"GET\",\"url\":\"http://h/\",\"body\":\"!!\"}",
            "f",
        )
        .unwrap_err();
        assert!(e.to_string().contains("base64"), "{e}");
    }
}
