//! What the server answers and when: [`ServerConfig`] and its response [`Delay`].
//!
//! The config is plain data, validated once when the server starts; the CLI turns
//! its arguments into one (parsing a delay with [`Delay`]'s `FromStr`) and nothing
//! is parsed after that.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use myriad::parse_duration;

/// The default [`ServerConfig::max_body`]: 64 MiB.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// How the server answers every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// How long to wait before answering each request.
    pub delay: Delay,
    /// Length of every response body, in bytes.
    pub body_size: usize,
    /// Status code of every response (200..=999). A `204` or `304` is sent
    /// without a body or `Content-Length`, whatever `body_size` says, because
    /// clients frame those responses as bodiless.
    pub status: u16,
    /// How long a request head may take to arrive once its first byte has. A
    /// connection that is slower is closed (a slowloris defence); idle
    /// connections with nothing buffered are never timed out. For HTTP/2 it
    /// bounds the client preface and SETTINGS.
    pub header_timeout: Duration,
    /// Streams an HTTP/2 client may have open at once on one connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS); at least 1.
    pub max_streams: u32,
    /// Where to log each request (`--access-log`), if anywhere.
    pub access_log: Option<crate::access_log::AccessLog>,
    /// Largest request body accepted, in bytes. A request announcing a longer
    /// `Content-Length`, or whose chunked (or HTTP/2) body grows past it, is
    /// answered `413 Content Too Large`: an HTTP/1.1 connection closes after
    /// it, an HTTP/2 stream is reset once the answer is sent. Bodies are never
    /// stored, so this bounds the time and bandwidth a client can make the
    /// server spend on one request, not its memory.
    pub max_body: u64,
}

impl Default for ServerConfig {
    /// `200 OK` with the two-byte body `ok`, no delay, 10 s header timeout,
    /// 256 HTTP/2 streams per connection, request bodies up to 64 MiB.
    fn default() -> Self {
        ServerConfig {
            delay: Delay::None,
            body_size: 2,
            status: 200,
            header_timeout: Duration::from_secs(10),
            max_streams: 256,
            access_log: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl ServerConfig {
    /// Rejects a config the server cannot honour. `1xx` statuses are interim
    /// responses: a client would keep waiting for a final one that never comes.
    pub(crate) fn validate(&self) -> io::Result<()> {
        if self.max_streams == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_streams is 0: an HTTP/2 client could open no stream",
            ));
        }
        if !(200..=999).contains(&self.status) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "status {} is not a final HTTP status (200..=999)",
                    self.status
                ),
            ));
        }
        Ok(())
    }
}

/// How long the server waits before answering a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delay {
    /// Answer at once.
    #[default]
    None,
    /// Always wait this long.
    Fixed(Duration),
    /// Wait a duration drawn uniformly from `min..=max`, per request.
    Uniform {
        /// Shortest wait.
        min: Duration,
        /// Longest wait.
        max: Duration,
    },
}

impl Delay {
    /// The wait for one request, or `None` when there is nothing to wait for.
    pub(crate) fn sample(&self) -> Option<Duration> {
        match *self {
            Delay::None => None,
            Delay::Fixed(d) => Some(d),
            Delay::Uniform { min, max } => {
                // Public fields can hold a reversed range; order it rather than panic.
                let lo = min.min(max).as_nanos().min(u64::MAX as u128) as u64;
                let hi = min.max(max).as_nanos().min(u64::MAX as u128) as u64;
                Some(Duration::from_nanos(fastrand::u64(lo..=hi)))
            }
        }
    }
}

/// Why a delay did not parse; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelayError {
    /// Not `0`, a duration, or a range of two durations.
    #[error("invalid delay '{0}': expected 0, a duration like 50ms, or a range like 10ms..200ms")]
    Invalid(String),
    /// A range whose left side is larger than its right side.
    #[error("invalid delay '{0}': the range's minimum is larger than its maximum, expected a range like 10ms..200ms")]
    Reversed(String),
}

impl FromStr for Delay {
    type Err = DelayError;

    /// `0` (no delay), `50ms` (fixed) or `10ms..200ms` (uniform). In a range, a
    /// bare number on the left takes the right side's unit, so `10..200ms` means
    /// `10ms..200ms` and `0..3s` means `0s..3s`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = || DelayError::Invalid(input.to_string());
        let s = input.trim();
        let Some((left, right)) = s.split_once("..") else {
            let d = parse_duration(s).map_err(|_| invalid())?;
            return Ok(Delay::from_range(d, d));
        };
        let max = parse_duration(right).map_err(|_| invalid())?;
        let min = match parse_duration(left) {
            Ok(d) => d,
            Err(_) => {
                let left = left.trim();
                let unit = right
                    .trim()
                    .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                let bare = !left.is_empty() && left.chars().all(|c| c.is_ascii_digit() || c == '.');
                if !bare || unit.is_empty() {
                    return Err(invalid());
                }
                parse_duration(&format!("{left}{unit}")).map_err(|_| invalid())?
            }
        };
        if min > max {
            return Err(DelayError::Reversed(input.to_string()));
        }
        Ok(Delay::from_range(min, max))
    }
}

impl Delay {
    /// The simplest variant for a range: `0..0` is no delay, `d..d` is fixed.
    fn from_range(min: Duration, max: Duration) -> Self {
        if max.is_zero() {
            Delay::None
        } else if min == max {
            Delay::Fixed(min)
        } else {
            Delay::Uniform { min, max }
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::None => f.write_str("0"),
            Delay::Fixed(d) => write!(f, "{}", Human(*d)),
            Delay::Uniform { min, max } => write!(f, "{}..{}", Human(*min), Human(*max)),
        }
    }
}

/// A duration as `parse_duration` reads it back (`Debug` spells zero `0ns`).
struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            f.write_str("0")
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parse_table() {
        let ok = [
            ("0", Delay::None),
            ("0ms", Delay::None),
            ("0..0", Delay::None),
            ("50ms", Delay::Fixed(ms(50))),
            (" 2s ", Delay::Fixed(ms(2000))),
            (
                "0..3s",
                Delay::Uniform {
                    min: ms(0),
                    max: ms(3000),
                },
            ),
            (
                "10ms..200ms",
                Delay::Uniform {
                    min: ms(10),
                    max: ms(200),
                },
            ),
            (
                "10..200ms",
                Delay::Uniform {
                    min: ms(10),
                    max: ms(200),
                },
            ),
            (
                "1.5..2s",
                Delay::Uniform {
                    min: ms(1500),
                    max: ms(2000),
                },
            ),
            (
                "500ms..1s",
                Delay::Uniform {
                    min: ms(500),
                    max: ms(1000),
                },
            ),
            ("5ms..5ms", Delay::Fixed(ms(5))),
        ];
        for (input, want) in ok {
            assert_eq!(input.parse::<Delay>(), Ok(want), "{input}");
        }
        for bad in [
            "", "50", "x", "..", "10ms..", "..10ms", "10..20", "1..2..3s", "a..2s", "-1..2s",
        ] {
            assert!(
                matches!(bad.parse::<Delay>(), Err(DelayError::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(
            "2s..1s".parse::<Delay>(),
            Err(DelayError::Reversed("2s..1s".into()))
        );
    }

    #[test]
    fn error_says_what_is_valid() {
        let err = "fast".parse::<Delay>().unwrap_err().to_string();
        assert!(err.contains("10ms..200ms"), "{err}");
    }

    #[test]
    fn display_round_trips() {
        for input in ["0", "50ms", "1.5s", "10ms..200ms", "0..3s", "250us"] {
            let d: Delay = input.parse().unwrap();
            assert_eq!(d.to_string().parse::<Delay>(), Ok(d), "{input} -> {d}");
        }
    }

    #[test]
    fn uniform_samples_stay_in_range() {
        let d = Delay::Uniform {
            min: ms(10),
            max: ms(20),
        };
        for _ in 0..1000 {
            let s = d.sample().unwrap();
            assert!((ms(10)..=ms(20)).contains(&s), "{s:?}");
        }
        let reversed = Delay::Uniform {
            min: ms(20),
            max: ms(10),
        };
        assert!(reversed.sample().is_some());
        assert_eq!(Delay::None.sample(), None);
    }

    #[test]
    fn validate_rejects_interim_statuses() {
        let mut c = ServerConfig::default();
        assert!(c.validate().is_ok());
        c.status = 101;
        assert!(c.validate().is_err());
        c.status = 1000;
        assert!(c.validate().is_err());
        let c = ServerConfig {
            max_streams: 0,
            ..ServerConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
