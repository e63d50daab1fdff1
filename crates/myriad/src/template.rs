//! Templates in a request's URL, headers and body, and the CSV data
//! (`--data FILE.csv`) their `{{row.NAME}}` columns come from.
//!
//! The syntax is the double-brace one of Handlebars, Postman and JMeter-like
//! tools: `{{seq}}`, `{{rand_int 1 1000}}`, `{{rand_string 16}}`, `{{uuid}}`,
//! `{{now_unix_ms}}`, `{{now_unix}}`, `{{row.user_id}}`. A template is compiled
//! once, before any traffic (an unknown function or column is an error then),
//! into literal byte runs and holes; rendering appends to the connection's
//! write buffer with no allocation of its own.

use std::fmt::Write as _;
use std::io::Write as _;

use serde::{Deserialize, Serialize};

/// A template or data file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{…}}` that names no known function, or has wrong arguments.
    #[error("unknown template '{{{{{expr}}}}}' in {place}: use one of {{{{seq}}}}, {{{{rand_int MIN MAX}}}}, {{{{rand_string LEN}}}}, {{{{uuid}}}}, {{{{now_unix_ms}}}}, {{{{now_unix}}}}, {{{{row.COLUMN}}}}")]
    Unknown {
        /// The text between the braces.
        expr: String,
        /// Where it is (`the URL of targets file 'f', line 3`).
        place: String,
    },
    /// A `{{row.X}}` whose column the data file does not have.
    #[error("template '{{{{row.{column}}}}}' in {place}: {why}")]
    Column {
        /// The column named.
        column: String,
        /// Where it is.
        place: String,
        /// The columns there are, or that there is no `--data`.
        why: String,
    },
    /// A `{{` with no `}}`.
    #[error("unclosed '{{{{' in {place}: close it with '}}}}'")]
    Unclosed {
        /// Where it is.
        place: String,
    },
    /// A `--data` file that cannot be used.
    #[error("{0}")]
    Data(String),
}

/// The rows of a CSV file (`--data`): a header line of column names, then
/// one or more rows of as many fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSet {
    /// Column names, from the header line.
    pub columns: Vec<String>,
    /// The rows, each as wide as `columns`.
    pub rows: Vec<Vec<String>>,
}

impl DataSet {
    /// Reads a CSV file: a header line, then rows. Fields may be quoted with
    /// `"` (a quote inside doubled); no field spans lines.
    pub fn read(path: &std::path::Path) -> Result<DataSet, TemplateError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TemplateError::Data(format!("cannot read --data file '{file}': {e}")))?;
        DataSet::parse(&text, &file)
    }

    /// Parses the text of a CSV file named `file` (for errors).
    pub fn parse(text: &str, file: &str) -> Result<DataSet, TemplateError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.is_empty());
        let err = |line: usize, m: String| {
            TemplateError::Data(format!("--data file '{file}', line {line}: {m}"))
        };
        let Some((n, header)) = lines.next() else {
            return Err(TemplateError::Data(format!(
                "--data file '{file}' is empty: give a header line of column names, then rows"
            )));
        };
        let columns = split_csv(header).map_err(|m| err(n, m))?;
        let mut rows = Vec::new();
        for (n, line) in lines {
            let row = split_csv(line).map_err(|m| err(n, m))?;
            if row.len() != columns.len() {
                return Err(err(
                    n,
                    format!(
                        "{} fields, but the header has {}: give every row as many fields as columns",
                        row.len(),
                        columns.len()
                    ),
                ));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(TemplateError::Data(format!(
                "--data file '{file}' has no rows: add rows after the header line"
            )));
        }
        Ok(DataSet { columns, rows })
    }
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed: end it with '\"'".into()),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {}
                Some(_) => return Err("text after a quoted field: put a ',' after it".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        out.push(field);
    }
}

/// One piece of a compiled template.
#[derive(Debug, Clone)]
enum Part {
    Literal(Box<[u8]>),
    Seq,
    RandInt(i64, i64),
    RandString(usize),
    Uuid,
    NowUnixMs,
    NowUnix,
    Column(usize),
}

/// A compiled template: literal runs and holes.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// What one request's holes are filled with: the same for all of its parts
/// (URL, headers, body), so `{{seq}}` and `{{row.x}}` agree across them.
pub(crate) struct Values<'a> {
    /// The request's sequence number, unique in the run.
    pub seq: u64,
    /// Its data row, if the run has `--data`.
    pub row: Option<&'a [String]>,
    /// The worker's random numbers.
    pub rng: &'a mut fastrand::Rng,
}

/// Whether `s` holds a template at all.
pub(crate) fn has_template(s: &[u8]) -> bool {
    s.windows(2).any(|w| w == b"{{")
}

/// `s` with each `{{…}}` replaced by `0`: the text around the templates, to
/// check what a rendered value cannot change (a path's characters).
pub(crate) fn without_holes(s: &str) -> std::borrow::Cow<'_, str> {
    if !has_template(s.as_bytes()) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push('0');
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out.into()
}

impl Template {
    /// Compiles `src`, naming `place` in errors; `{{row.X}}` must be one of
    /// `columns` (`None`: there is no `--data`).
    pub(crate) fn compile(
        src: &[u8],
        columns: Option<&[String]>,
        place: &str,
    ) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = src;
        while let Some(open) = rest.windows(2).position(|w| w == b"{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].into()));
            }
            let after = &rest[open + 2..];
            let close = after.windows(2).position(|w| w == b"}}").ok_or_else(|| {
                TemplateError::Unclosed {
                    place: place.into(),
                }
            })?;
            let expr = String::from_utf8_lossy(&after[..close]).trim().to_string();
            parts.push(hole(&expr, columns, place)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.into()));
        }
        Ok(Template { parts })
    }

    /// Appends the template filled with `v` to `out`.
    pub(crate) fn render(&self, out: &mut Vec<u8>, v: &mut Values<'_>) {
        for part in &self.parts {
            match part {
                Part::Literal(b) => out.extend_from_slice(b),
                Part::Seq => push_int(out, v.seq),
                Part::RandInt(lo, hi) => {
                    let n = v.rng.i64(*lo..=*hi);
                    let _ = write!(out, "{n}");
                }
                Part::RandString(len) => {
                    out.extend((0..*len).map(|_| v.rng.alphanumeric() as u8));
                }
                Part::Uuid => {
                    let mut b = v.rng.u128(..).to_be_bytes();
                    b[6] = (b[6] & 0x0f) | 0x40; // version 4
                    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
                    let mut s = String::with_capacity(36);
                    for (i, byte) in b.iter().enumerate() {
                        if matches!(i, 4 | 6 | 8 | 10) {
                            s.push('-');
                        }
                        let _ = write!(s, "{byte:02x}");
                    }
                    out.extend_from_slice(s.as_bytes());
                }
                Part::NowUnixMs => push_int(out, now().as_millis() as u64),
                Part::NowUnix => push_int(out, now().as_secs()),
                Part::Column(i) => {
                    if let Some(value) = v.row.and_then(|r| r.get(*i)) {
                        out.extend_from_slice(value.as_bytes());
                    }
                }
            }
        }
    }
}

fn now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

fn push_int(out: &mut Vec<u8>, n: u64) {
    let _ = write!(out, "{n}");
}

fn hole(expr: &str, columns: Option<&[String]>, place: &str) -> Result<Part, TemplateError> {
    let unknown = || TemplateError::Unknown {
        expr: expr.into(),
        place: place.into(),
    };
    if let Some(column) = expr.strip_prefix("row.") {
        let column_error = |why: String| TemplateError::Column {
            column: column.into(),
            place: place.into(),
            why,
        };
        let Some(columns) = columns else {
            return Err(column_error(
                "there is no --data file: give one with --data FILE.csv".into(),
            ));
        };
        return match columns.iter().position(|c| c == column) {
            Some(i) => Ok(Part::Column(i)),
            None => {
                let mut why = String::from("the --data file has no such column; its columns are ");
                for (i, c) in columns.iter().enumerate() {
                    let _ = write!(why, "{}{c}", if i > 0 { ", " } else { "" });
                }
                Err(column_error(why))
            }
        };
    }
    let words: Vec<&str> = expr.split_whitespace().collect();
    match words.as_slice() {
        ["seq"] => Ok(Part::Seq),
        ["uuid"] => Ok(Part::Uuid),
        ["now_unix_ms"] => Ok(Part::NowUnixMs),
        ["now_unix"] => Ok(Part::NowUnix),
        ["rand_int", lo, hi] => match (lo.parse::<i64>(), hi.parse::<i64>()) {
            (Ok(lo), Ok(hi)) if lo <= hi => Ok(Part::RandInt(lo, hi)),
            _ => Err(unknown()),
        },
        ["rand_string", len] => match len.parse::<usize>() {
            Ok(n) if (1..=65_536).contains(&n) => Ok(Part::RandString(n)),
            _ => Err(unknown()),
        },
        _ => Err(unknown()),
    }
}

/// A request with templates, compiled: its head (request line and headers,
/// without the blank line) and its body, each rendered per request; the
/// `Content-Length` is the rendered body's.
#[derive(Debug, Clone)]
pub(crate) struct RequestTemplate {
    pub head: Template,
    pub body: Template,
    /// Whether a `Content-Length` is sent (a body, or POST, PUT, PATCH).
    pub length: bool,
}

impl RequestTemplate {
    /// Appends the whole request filled with `v` to `out`.
    pub(crate) fn render(&self, out: &mut Vec<u8>, v: &mut Values<'_>) {
        self.head.render(out, v);
        let mark = out.len();
        self.body.render(out, v);
        let body_len = out.len() - mark;
        let mut length = [0u8; 48];
        let mut cursor = std::io::Cursor::new(&mut length[..]);
        if self.length {
            let _ = write!(cursor, "Content-Length: {body_len}\r\n");
        }
        let _ = cursor.write_all(b"\r\n");
        let n = usize::try_from(cursor.position()).unwrap_or(0);
        out.splice(mark..mark, length[..n].iter().copied());
    }
}

/// The placeholder that stands for template `i` while a URL is parsed:
/// letters and digits only, which the URL parser leaves alone.
fn placeholder(i: usize) -> String {
    format!("myriadtpl{i}x")
}

/// Whether `s` holds a placeholder of [`protect`].
pub(crate) fn has_placeholder(s: &str) -> bool {
    s.contains("myriadtpl")
}

/// `url` with each `{{…}}` replaced by a placeholder, and the templates.
pub(crate) fn protect(url: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(url.len());
    let mut holes = Vec::new();
    let mut rest = url;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&placeholder(holes.len()));
        holes.push(rest[open..open + close + 2].to_string());
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    (out, holes)
}

/// `s` with the placeholders of [`protect`] put back.
pub(crate) fn restore(s: &str, holes: &[String]) -> String {
    let mut out = s.to_string();
    for (i, hole) in holes.iter().enumerate().rev() {
        out = out.replace(&placeholder(i), hole);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, seq: u64, row: Option<&[String]>) -> String {
        let cols = vec!["user_id".to_string(), "name".to_string()];
        let t = Template::compile(src.as_bytes(), Some(&cols), "test").unwrap();
        let mut out = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        t.render(
            &mut out,
            &mut Values {
                seq,
                row,
                rng: &mut rng,
            },
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn holes_fill() {
        let row = vec!["42".to_string(), "ann".to_string()];
        assert_eq!(render("/u/{{seq}}/x", 9, None), "/u/9/x");
        assert_eq!(
            render("{{ row.user_id }}-{{row.name}}", 0, Some(&row)),
            "42-ann"
        );
        let n: i64 = render("{{rand_int 5 7}}", 0, None).parse().unwrap();
        assert!((5..=7).contains(&n));
        assert_eq!(render("{{rand_string 16}}", 0, None).len(), 16);
        let u = render("{{uuid}}", 0, None);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(render("{{now_unix_ms}}", 0, None).parse::<u64>().unwrap() > 1_600_000_000_000);
    }

    #[test]
    fn unknown_functions_and_columns_are_errors() {
        let cols = vec!["a".to_string()];
        for (src, what) in [
            ("{{nope}}", "unknown template '{{nope}}' in here"),
            ("{{rand_int 9 1}}", "unknown template"),
            ("{{row.b}}", "its columns are a"),
            ("{{seq", "unclosed"),
        ] {
            let e = Template::compile(src.as_bytes(), Some(&cols), "here").unwrap_err();
            assert!(e.to_string().contains(what), "{src}: {e}");
        }
        let e = Template::compile(b"{{row.a}}", None, "here").unwrap_err();
        assert!(e.to_string().contains("--data"), "{e}");
    }

    #[test]
    fn request_gets_its_rendered_length() {
        let t = RequestTemplate {
            head: Template::compile(b"POST /{{seq}} HTTP/1.1\r\nHost: h\r\n", None, "t").unwrap(),
            body: Template::compile(b"id={{seq}}", None, "t").unwrap(),
            length: true,
        };
        let mut out = Vec::new();
        let mut rng = fastrand::Rng::with_seed(1);
        let mut v = Values {
            seq: 1234,
            row: None,
            rng: &mut rng,
        };
        t.render(&mut out, &mut v);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /1234 HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nid=1234"
        );
    }

    #[test]
    fn csv_rows_and_errors() {
        let d = DataSet::parse("id,name\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n", "d.csv").unwrap();
        assert_eq!(d.rows[0][1], "a, b");
        assert_eq!(d.rows[1][1], "say \"hi\"");
        let e = DataSet::parse("id,name\n", "d.csv").unwrap_err();
        assert!(e.to_string().contains("no rows"), "{e}");
        let e = DataSet::parse("id,name\n1,2\n3\n", "d.csv").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 3: 1 fields, but the header has 2"),
            "{e}"
        );
        let e = DataSet::parse("", "d.csv").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
