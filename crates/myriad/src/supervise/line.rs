//! The line format (described in the [module docs](super)): a versioned JSON
//! envelope around any object-shaped `serde` type.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version of the line format, in every line's `"v"`.
pub const VERSION: u64 = 1;

/// Why a line could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Not JSON at all (or not one whole JSON value).
    #[error("not a JSON line: {0}")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// An object without a `"v"`.
    #[error("a line without a format version (\"v\")")]
    Unversioned,
    /// A line of another version of the format.
    #[error("a line of format version {found}, but this build reads version {VERSION} only (are both sides the same myriad?)")]
    Version {
        /// The `"v"` the line has, as JSON.
        found: String,
    },
    /// A line of this version that is no line of the expected type: an
    /// unknown kind, or a field missing or of the wrong type.
    #[error("an unexpected line: {0}")]
    Content(#[source] serde_json::Error),
    /// The value does not serialize as a JSON object.
    #[error("cannot write a line: {0}")]
    Encode(#[source] serde_json::Error),
}

/// The control lines every child understands, from its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// Stop the work: wrap up, report what was done, exit (`{"v":1,"kind":"cancel"}`).
    Cancel,
}

/// The line of `line` (without the ending `\n`): `{"v":1,` then its fields.
pub fn encode<L: Serialize>(line: &L) -> Result<String, LineError> {
    #[derive(Serialize)]
    struct Envelope<'a, L> {
        v: u64,
        #[serde(flatten)]
        line: &'a L,
    }
    serde_json::to_string(&Envelope { v: VERSION, line }).map_err(LineError::Encode)
}

/// Reads one line (without its `\n`; surrounding whitespace is allowed):
/// first its version, then the rest as an `L`.
pub fn decode<L: DeserializeOwned>(line: &str) -> Result<L, LineError> {
    let value: Value = serde_json::from_str(line).map_err(LineError::NotJson)?;
    let Value::Object(mut fields) = value else {
        return Err(LineError::NotAnObject);
    };
    match fields.remove("v") {
        Some(v) if v == VERSION => {}
        Some(found) => {
            return Err(LineError::Version {
                found: found.to_string(),
            })
        }
        None => return Err(LineError::Unversioned),
    }
    serde_json::from_value(Value::Object(fields)).map_err(LineError::Content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Sample {
        Hello,
        Count { n: u64, label: String },
        Nested(Inner),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Inner {
        a: Vec<u16>,
    }

    #[test]
    fn lines_round_trip_with_the_version_first() {
        let lines = [
            (Sample::Hello, r#"{"v":1,"kind":"hello"}"#),
            (
                Sample::Count {
                    n: 7,
                    label: "a \"b\"\nc".into(),
                },
                r#"{"v":1,"kind":"count","n":7,"label":"a \"b\"\nc"}"#,
            ),
            (
                Sample::Nested(Inner { a: vec![1, 2] }),
                r#"{"v":1,"kind":"nested","a":[1,2]}"#,
            ),
        ];
        for (line, text) in lines {
            let encoded = encode(&line).unwrap();
            assert_eq!(encoded, text);
            assert!(!encoded.contains('\n'), "one line: {encoded}");
            assert_eq!(decode::<Sample>(&encoded).unwrap(), line);
        }
        // Field order does not matter, nor whitespace around the object.
        let moved = decode::<Sample>(" {\"n\":1,\"label\":\"x\",\"kind\":\"count\",\"v\":1}\r ");
        assert_eq!(
            moved.unwrap(),
            Sample::Count {
                n: 1,
                label: "x".into()
            }
        );
        assert_eq!(
            encode(&Control::Cancel).unwrap(),
            r#"{"v":1,"kind":"cancel"}"#
        );
        assert_eq!(
            decode::<Control>(r#"{"v":1,"kind":"cancel"}"#).unwrap(),
            Control::Cancel
        );
    }

    #[test]
    fn a_line_of_another_version_is_refused_before_its_content_is_read() {
        // The same kind and fields as a version-1 line: still refused.
        let err = decode::<Sample>(r#"{"v":2,"kind":"hello"}"#).unwrap_err();
        assert!(matches!(&err, LineError::Version { found } if found == "2"));
        assert_eq!(
            err.to_string(),
            "a line of format version 2, but this build reads version 1 only (are both sides the same myriad?)"
        );
        for other in [r#"{"v":"1","kind":"hello"}"#, r#"{"v":0}"#, r#"{"v":1.5}"#] {
            assert!(
                matches!(decode::<Sample>(other), Err(LineError::Version { .. })),
                "{other}"
            );
        }
        assert!(matches!(
            decode::<Sample>(r#"{"kind":"hello"}"#),
            Err(LineError::Unversioned)
        ));
    }

    #[test]
    fn garbage_is_refused_with_what_is_wrong() {
        for garbage in ["", "hello", "stats accepted=1", "{\"v\":1", "{} {}"] {
            let err = decode::<Sample>(garbage).unwrap_err();
            assert!(matches!(err, LineError::NotJson(_)), "{garbage}: {err}");
            assert!(err.to_string().starts_with("not a JSON line: "), "{err}");
        }
        for not_object in ["1", "[1]", "\"v\"", "null"] {
            assert!(matches!(
                decode::<Sample>(not_object),
                Err(LineError::NotAnObject)
            ));
        }
        for unexpected in [
            r#"{"v":1}"#,
            r#"{"v":1,"kind":"goodbye"}"#,
            r#"{"v":1,"kind":"count","n":1}"#,
            r#"{"v":1,"kind":"count","n":"one","label":"x"}"#,
        ] {
            let err = decode::<Sample>(unexpected).unwrap_err();
            assert!(matches!(err, LineError::Content(_)), "{unexpected}: {err}");
        }
        // Only objects can carry the envelope.
        assert!(matches!(encode(&5u32), Err(LineError::Encode(_))));
    }
}
