//! myriad: an HTTP load engine with exact accounting and HDR-histogram latency.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![deny(missing_docs)]

pub mod duration;
pub mod proto;

pub use duration::{parse_duration, DurationError};
