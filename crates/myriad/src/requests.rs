//! The requests of a run and their report rows: one per URL (`method`,
//! `headers` and `body` of the [`Config`]), or those of a targets file, each
//! connecting to its own host.
//!
//! A targets file's requests are grouped by where they connect: each group is
//! one [`Target`] of [`Config::targets`] (connections are dealt over the
//! groups as over several URLs), and a connection of a group takes its
//! group's requests in file order, round-robin (or in a seeded random order).
//! Report rows are by request name: the file's `name`, or `METHOD path`
//! without the query string; requests of one name share a row.

use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError, ConnectTo, Target};
use crate::targets::FileTarget;
use crate::template::{has_template, Template};

/// One request of a targets file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDef {
    /// Where it connects: an index into [`Config::targets`].
    pub target: usize,
    /// Request method.
    pub method: String,
    /// Path and query, as sent on the request line (it may hold templates).
    pub path: String,
    /// Request headers (they may hold templates).
    pub headers: Vec<(String, String)>,
    /// Request body (it may hold templates).
    pub body: Vec<u8>,
    /// Its report row.
    pub name: String,
    /// The URL as the file gave it.
    pub url: String,
    /// Where it was given (`targets file 'f', line 3`), for errors.
    pub place: String,
}

/// The order requests (or `--data` rows) are taken in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// In order, wrapping at the end.
    #[default]
    InOrder,
    /// At random, from the run's seed (`--seed`).
    Random,
}

/// One row of a report: a request type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's name: the URL (a run of URLs), or the request's name.
    pub name: String,
    /// The URL (for a targets file: its first request's of this name).
    pub url: String,
}

/// The report row name of a request without a `name`: `METHOD path`, the
/// query string left out.
pub fn row_name(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{method} {path}")
}

impl Config {
    /// A configuration with the defaults of `myriad run` for the requests of
    /// a targets file named `file`; hosts are resolved (or, with `unix`, not)
    /// and grouped by where they connect.
    pub fn from_file_targets(
        file: &str,
        targets: &[FileTarget],
        connect_to: &[ConnectTo],
        unix: Option<std::path::PathBuf>,
    ) -> Result<Config, ConfigError> {
        let mut hosts: Vec<Target> = Vec::new();
        let mut requests = Vec::with_capacity(targets.len());
        for t in targets {
            let place = format!("targets file '{file}', line {}", t.line);
            let parsed = match unix {
                Some(_) => Target::parse_unresolved(&t.url),
                None => Target::parse_via(&t.url, connect_to),
            }
            .map_err(|e| ConfigError::Targets(format!("{place}: {e}")))?;
            let same = |h: &Target| {
                h.addr == parsed.addr && h.tls == parsed.tls && h.host_header == parsed.host_header
            };
            let target = match hosts.iter().position(same) {
                Some(i) => i,
                None => {
                    hosts.push(parsed.clone());
                    hosts.len() - 1
                }
            };
            requests.push(RequestDef {
                target,
                name: t
                    .name
                    .clone()
                    .unwrap_or_else(|| row_name(&t.method, &parsed.path)),
                method: t.method.clone(),
                path: parsed.path,
                headers: t.headers.clone(),
                body: t.body.clone(),
                url: t.url.clone(),
                place,
            });
        }
        let mut config = Config::new_via::<&str>(&[], connect_to)?;
        config.targets = hosts;
        config.requests = requests;
        config.unix_socket = unix;
        Ok(config)
    }

    /// Every request of the run: a targets file's (with the `-H` headers it
    /// does not set itself), or one per URL made of
    /// `method`, `headers` and `body` (named by its URL, one row each).
    pub fn request_defs(&self) -> Vec<RequestDef> {
        if !self.requests.is_empty() {
            // `-H` headers go on every request that does not set them itself.
            let mut defs = self.requests.clone();
            for d in &mut defs {
                for (name, value) in &self.headers {
                    if !d.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                        d.headers.push((name.clone(), value.clone()));
                    }
                }
            }
            return defs;
        }
        self.targets
            .iter()
            .enumerate()
            .map(|(i, t)| RequestDef {
                target: i,
                method: self.method.clone(),
                path: t.path.clone(),
                headers: self.headers.clone(),
                body: self.body.clone(),
                name: t.url.clone(),
                url: t.url.clone(),
                place: format!("'{}'", t.url),
            })
            .collect()
    }

    /// The report rows, in order of first appearance, and each request's row.
    pub fn rows(&self) -> (Vec<Row>, Vec<usize>) {
        let defs = self.request_defs();
        if self.requests.is_empty() {
            // A run of URLs: a row per URL, even when one is given twice.
            let rows = defs
                .iter()
                .map(|d| Row {
                    name: d.name.clone(),
                    url: d.url.clone(),
                })
                .collect();
            return (rows, (0..defs.len()).collect());
        }
        let mut rows: Vec<Row> = Vec::new();
        let mut of = Vec::with_capacity(defs.len());
        for d in &defs {
            match rows.iter().position(|r| r.name == d.name) {
                Some(i) => of.push(i),
                None => {
                    rows.push(Row {
                        name: d.name.clone(),
                        url: d.url.clone(),
                    });
                    of.push(rows.len() - 1);
                }
            }
        }
        (rows, of)
    }

    /// Whether any request holds a template.
    pub fn has_templates(&self) -> bool {
        self.request_defs().iter().any(|d| {
            has_template(d.path.as_bytes())
                || has_template(&d.body)
                || d.headers
                    .iter()
                    .any(|(n, v)| has_template(n.as_bytes()) || has_template(v.as_bytes()))
        })
    }

    /// Checks every request: its method, and that its templates compile
    /// against the `--data` columns.
    pub(crate) fn validate_requests(&self) -> Result<(), ConfigError> {
        let columns = self.data.as_ref().map(|d| d.columns.as_slice());
        for d in self.request_defs() {
            if !crate::targets::is_token(&d.method) {
                return Err(ConfigError::Method(d.method));
            }
            let check = |what: &str, bytes: &[u8]| {
                if !has_template(bytes) {
                    return Ok(());
                }
                Template::compile(bytes, columns, &format!("the {what} of {}", d.place))
                    .map(|_| ())
                    .map_err(|e| ConfigError::Template(e.to_string()))
            };
            check("URL", d.path.as_bytes())?;
            check("body", &d.body)?;
            for (name, value) in &d.headers {
                check("header", name.as_bytes())?;
                check("header", value.as_bytes())?;
            }
        }
        if self.data.is_some() && !self.has_templates() {
            return Err(ConfigError::Conflict(
                "--data is read by {{row.COLUMN}} templates, and no request has one: add one to the URL, a header or the body",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(method: &str, url: &str, name: Option<&str>, line: usize) -> FileTarget {
        FileTarget {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            name: name.map(Into::into),
            line,
        }
    }

    #[test]
    fn hosts_group_and_rows_merge_by_name() {
        let file = [
            target("GET", "http://127.0.0.1:1/a?x=1", None, 1),
            target("GET", "http://127.0.0.1:2/a", None, 3),
            target("GET", "http://127.0.0.1:1/a?x=2", None, 5),
            target("POST", "http://127.0.0.1:1/b", Some("make"), 7),
        ];
        let c = Config::from_file_targets("f", &file, &[], None).unwrap();
        assert_eq!(c.targets.len(), 2);
        assert_eq!(
            c.requests.iter().map(|r| r.target).collect::<Vec<_>>(),
            vec![0, 1, 0, 0]
        );
        let (rows, of) = c.rows();
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["GET /a", "make"]);
        assert_eq!(of, vec![0, 0, 0, 1]);
    }

    #[test]
    fn templates_survive_the_url_and_are_checked() {
        let file = [target(
            "GET",
            "http://127.0.0.1:1/u/{{rand_int 1 9}}?q={{seq}}",
            None,
            1,
        )];
        let c = Config::from_file_targets("f", &file, &[], None).unwrap();
        assert_eq!(c.requests[0].path, "/u/{{rand_int 1 9}}?q={{seq}}");
        assert_eq!(c.requests[0].name, "GET /u/{{rand_int 1 9}}");
        c.validate_requests().unwrap();
        let bad = [target("GET", "http://127.0.0.1:1/{{nope}}", None, 4)];
        let c = Config::from_file_targets("f", &bad, &[], None).unwrap();
        let e = c.validate_requests().unwrap_err().to_string();
        assert!(e.contains("targets file 'f', line 4"), "{e}");
    }
}
