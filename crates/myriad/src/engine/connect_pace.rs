//! Connect pacing: when the `k`-th connect of a worker may start, as a pure
//! function of the rate, so a million connects ramp up instead of overflowing
//! listen backlogs.

use std::time::Duration;

/// Offset from the start of the run at which connect number `k` (from 0) may
/// start, at `rate` connects per second.
pub(crate) fn connect_slot(k: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(k as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_evenly_spaced() {
        let table = [
            (0, 1000.0, Duration::ZERO),
            (1, 1000.0, Duration::from_millis(1)),
            (1000, 1000.0, Duration::from_secs(1)),
            (5, 0.5, Duration::from_secs(10)),
            (30_000, 20_000.0, Duration::from_millis(1500)),
        ];
        for (k, rate, want) in table {
            assert_eq!(connect_slot(k, rate), want, "k={k} rate={rate}");
        }
    }
}
