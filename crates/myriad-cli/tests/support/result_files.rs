//! Result files (`run -o`) and what they hold.
#![allow(dead_code)]

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;

/// The JSON document in the file at `path`.
pub fn read(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A histogram as a result file carries it: base64 of its V2 serialization.
/// Its bounds are what its values needed (myriad's histograms grow as they
/// record), so it resizes when another is added to it, as a reader merging
/// result files must let it.
pub fn histogram(base64: &Value) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64.as_str().unwrap())
        .unwrap();
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap();
    h.auto(true);
    h
}
