//! `--start-at TIME`: when a run (typically each shard of one) sends its
//! first request, so shards started at different moments run side by side.
//!
//! [`parse`] reads RFC 3339 (`2026-12-01T09:30:00Z`, fractions and offsets
//! allowed) or a delay from now (`+30s`); [`StartRecord`] is what a run
//! records: the time asked for and, when it was ready only after that time,
//! by how much it was late.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A start time further ahead than this is refused (most likely a typo).
pub const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Why a `--start-at` value cannot be used; one line naming the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartAtError {
    /// Neither RFC 3339 nor `+DURATION`.
    #[error("invalid --start-at '{0}': expected an RFC 3339 time like 2026-12-01T09:30:00Z or a delay like +30s")]
    Syntax(String),
    /// More than [`MAX_AHEAD`] from now.
    #[error("--start-at '{0}' is more than 24h ahead; give a time within the next 24 hours")]
    TooFarAhead(String),
}

/// Reads `--start-at`: RFC 3339 (UTC `Z` or an offset like `+01:00`,
/// optional fraction of a second) or `+DURATION` from `now`. Times in the
/// past are accepted (the run starts at once and records that it was late).
pub fn parse(s: &str, now: SystemTime) -> Result<SystemTime, StartAtError> {
    let syntax = || StartAtError::Syntax(s.to_string());
    let t = s.trim();
    let at = if let Some(delay) = t.strip_prefix('+') {
        now + crate::parse_duration(delay).map_err(|_| syntax())?
    } else {
        rfc3339(t).ok_or_else(syntax)?
    };
    if at.duration_since(now).is_ok_and(|ahead| ahead > MAX_AHEAD) {
        return Err(StartAtError::TooFarAhead(s.to_string()));
    }
    Ok(at)
}

/// An RFC 3339 date-time, or `None` if it is not one.
fn rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let o = rest.as_bytes();
            if o.len() != 6 || o[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > days_in[(month - 1) as usize] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), since 1970-01-01.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// What a run started with `--start-at` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartRecord {
    /// The start time asked for.
    pub at: SystemTime,
    /// `Some` when the run was ready only after that time (it then started
    /// at once): by how much. A run that waited for the time is on time.
    pub late: Option<Duration>,
}

impl StartRecord {
    /// The record of a run that was ready at `ready` to start at `at`.
    pub fn new(at: SystemTime, ready: SystemTime) -> StartRecord {
        StartRecord {
            at,
            late: ready.duration_since(at).ok().filter(|d| !d.is_zero()),
        }
    }

    /// How long to wait from `ready` (zero when late).
    pub fn wait_from(&self, ready: SystemTime) -> Duration {
        self.at.duration_since(ready).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn rfc3339_and_delays() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_117_400 - 3600);
        let t = parse("2026-12-01T09:30:00.250Z", now).unwrap();
        assert_eq!(
            crate::result::rfc3339_utc(ms(t)),
            "2026-12-01T09:30:00.250Z"
        );
        let t2 = parse("2026-12-01T10:30:00.25+01:00", now).unwrap();
        assert_eq!(t, t2);
        assert_eq!(parse("+30s", now).unwrap(), now + Duration::from_secs(30));
        assert_eq!(ms(parse("1970-01-01T00:00:00Z", now).unwrap()), 0);
        assert_eq!(
            ms(parse("2000-02-29T00:00:00Z", now).unwrap()),
            951_782_400_000
        );
    }

    #[test]
    fn bad_values_say_what_to_give() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_117_400 - 3600);
        for bad in [
            "",
            "soon",
            "+30",
            "+x",
            "2026-12-01",
            "2026-12-01T09:30:00",
            "2026-13-01T09:30:00Z",
            "2026-02-30T09:30:00Z",
            "2026-12-01T25:30:00Z",
            "2026-12-01T09:30:00+1:00",
            "2026-12-01T09:30:00.Z",
        ] {
            let e = parse(bad, now).unwrap_err().to_string();
            assert!(
                e.contains("RFC 3339") && e.contains(&format!("'{bad}'")),
                "{bad}: {e}"
            );
        }
        let e = parse("+25h", now).unwrap_err().to_string();
        assert!(e.contains("more than 24h ahead"), "{e}");
    }

    #[test]
    fn late_only_when_ready_after_the_time() {
        let at = UNIX_EPOCH + Duration::from_secs(100);
        let early = StartRecord::new(at, at - Duration::from_secs(5));
        assert_eq!(early.late, None);
        assert_eq!(
            early.wait_from(at - Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        let late = StartRecord::new(at, at + Duration::from_millis(1500));
        assert_eq!(late.late, Some(Duration::from_millis(1500)));
        assert_eq!(late.wait_from(at + Duration::from_secs(1)), Duration::ZERO);
    }
}
