//! Table tests of the schedule: exact due times, counts per second, the
//! inverse of Λ, and Poisson against hand-computed and statistical figures.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn stages(s: &str) -> Stages {
    s.parse().unwrap()
}

/// Every due time an arrival process hands out until it ends.
fn all_due(mut a: Arrivals, mut u: impl FnMut() -> f64) -> Vec<Duration> {
    std::iter::from_fn(|| a.next_due(u())).collect()
}

/// A 64-bit LCG (Knuth's MMIX constants), top 53 bits as a uniform in [0, 1).
fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn rates_parse() {
    let ok = [
        ("1500", 1500.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        (" 1500 ", 1500.0),
        ("90000/m", 1500.0),
        ("90000/min", 1500.0),
        ("100/s", 100.0),
        ("100/sec", 100.0),
        ("3600/h", 1.0),
        ("7200/hour", 2.0),
        ("30 / m", 0.5),
    ];
    for (input, want) in ok {
        assert_eq!(parse_rate(input), Ok(want), "{input}");
    }
    for bad in [
        "", "0", "0/m", "-5", "+5", "x", "inf", "NaN", "1e999", "10/d", "10/", "/s", "1/2/s",
        "10 m",
    ] {
        assert_eq!(
            parse_rate(bad),
            Err(ScheduleError::Rate(bad.to_string())),
            "{bad}"
        );
    }
    let message = parse_rate("x").unwrap_err().to_string();
    assert!(
        message.contains("'x'") && message.contains("90000/m"),
        "{message}"
    );
}

#[test]
fn stages_parse() {
    let s = stages("30s:1000, 1m:90000/m,30s:0");
    assert_eq!(
        s.as_slice(),
        [
            Stage {
                duration: Duration::from_secs(30),
                target: 1000.0
            },
            Stage {
                duration: Duration::from_secs(60),
                target: 1500.0
            },
            Stage {
                duration: Duration::from_secs(30),
                target: 0.0
            },
        ]
    );
    assert_eq!(s.total(), Duration::from_secs(120));
    assert_eq!(Stages::new(s.as_slice().to_vec()), Some(s.clone()));
    assert_eq!(Stages::new(vec![]), None);
    assert_eq!(stages("0:5").as_slice()[0].duration, Duration::ZERO);
    // A worker's share: every target scaled, the durations kept.
    let quarter = s.scaled(0.25);
    let targets: Vec<f64> = quarter.as_slice().iter().map(|s| s.target).collect();
    assert_eq!(targets, [250.0, 375.0, 0.0]);
    assert_eq!(quarter.total(), s.total());

    let bad = [
        ("", ScheduleError::NoStages),
        ("  ", ScheduleError::NoStages),
        ("30s", ScheduleError::Stage("30s".into())),
        ("30s:1000,", ScheduleError::Stage("".into())),
        ("30s:-1", ScheduleError::StageTarget("30s:-1".into())),
        ("30s:fast", ScheduleError::StageTarget("30s:fast".into())),
    ];
    for (input, want) in bad {
        assert_eq!(input.parse::<Stages>(), Err(want), "{input}");
    }
    let err = "30s:100,10:200".parse::<Stages>().unwrap_err();
    assert!(matches!(&err, ScheduleError::StageDuration { piece, .. } if piece == "10:200"));
    assert!(err.to_string().contains("'10:200'"), "{err}");
}

#[test]
fn arrival_parses() {
    for (input, want) in [
        ("uniform", Arrival::Uniform),
        ("constant", Arrival::Uniform),
        ("Poisson", Arrival::Poisson),
    ] {
        assert_eq!(input.parse(), Ok(want), "{input}");
    }
    assert_eq!(
        "random".parse::<Arrival>(),
        Err(ScheduleError::Arrival("random".into()))
    );
    assert_eq!(Arrival::Poisson.to_string(), "poisson");
}

#[test]
fn uniform_times_are_exact() {
    // (schedule, first due times)
    let table = [
        (
            Schedule::constant(1000.0, None),
            vec![ms(1), ms(2), ms(3), ms(4)],
        ),
        (
            Schedule::constant(0.5, None),
            vec![ms(2000), ms(4000), ms(6000)],
        ),
        // 0 → 100 req/s over 1 s: Λ(t) = 50t², so k is due at √(k/50).
        (
            Schedule::stages(0.0, &stages("1s:100,1s:100")),
            vec![
                secs(0.02f64.sqrt()),
                secs(0.04f64.sqrt()),
                secs(0.06f64.sqrt()),
            ],
        ),
        // 1 s at nothing, then 10 req/s.
        (
            Schedule::stages(0.0, &stages("1s:0,0s:10,1s:10")),
            vec![ms(1100), ms(1200), ms(1300)],
        ),
        // A jump: zero-length stage to 1000, then flat.
        (
            Schedule::stages(10.0, &stages("1s:10,0:1000,1s:1000")),
            vec![ms(100), ms(200), ms(300)],
        ),
    ];
    for (i, (schedule, want)) in table.into_iter().enumerate() {
        let mut a = Arrivals::new(schedule, Arrival::Uniform);
        let got: Vec<_> = want.iter().map(|_| a.next_due(0.5).unwrap()).collect();
        assert_eq!(got, want, "case {i}");
    }
}

#[test]
fn uniform_counts_per_second() {
    // (schedule, arrivals in each whole second, total)
    let table = [
        (Schedule::constant(1000.0, Some(ms(1000))), vec![1000]),
        (Schedule::constant(3.0, Some(ms(2500))), vec![3, 3, 1]),
        (
            Schedule::stages(0.0, &stages("1s:100,1s:100")),
            vec![50, 100],
        ),
        (Schedule::stages(100.0, &stages("1s:0")), vec![50]),
        (
            Schedule::stages(0.0, &stages("1s:0,1s:20,1s:0")),
            vec![0, 10, 10],
        ),
        (
            Schedule::stages(0.0, &stages("2s:1000,1m:1000,2s:0")),
            [vec![250, 750], vec![1000; 60], vec![750, 250]].concat(),
        ),
    ];
    for (i, (schedule, per_second)) in table.into_iter().enumerate() {
        let end = schedule.end().unwrap();
        let due = all_due(Arrivals::new(schedule, Arrival::Uniform), || 0.0);
        assert!(due.windows(2).all(|w| w[0] <= w[1]), "case {i}: sorted");
        assert!(due.iter().all(|&d| d <= end), "case {i}: within the end");
        let mut counts = vec![0; per_second.len()];
        for d in &due {
            // (s - 1, s]: an arrival at exactly 1 s belongs to the first second.
            let second = (d.as_nanos().saturating_sub(1) / 1_000_000_000) as usize;
            counts[second] += 1;
        }
        assert_eq!(counts, per_second, "case {i}");
    }
}

#[test]
fn ramp_down_to_zero_ends() {
    let mut a = Arrivals::new(Schedule::stages(100.0, &stages("1s:0")), Arrival::Uniform);
    let due = all_due(a.clone(), || 0.0);
    assert_eq!(due.len(), 50);
    assert_eq!(due.last(), Some(&ms(1000)));
    // Fused: once ended, always ended.
    for _ in 0..50 {
        a.next_due(0.0);
    }
    assert_eq!(a.count(), 50);
    assert_eq!(a.next_due(0.0), None);
    assert_eq!(a.next_due(0.0), None);
    // A rate of nothing never has a first arrival.
    let mut idle = Arrivals::new(Schedule::constant(0.0, None), Arrival::Poisson);
    assert_eq!(idle.next_due(0.5), None);
}

#[test]
fn poisson_times_match_hand_computation() {
    // At 10 req/s the k-th arrival is due at (Σ -ln(1-u)) / 10 seconds.
    let us = [0.5, 0.0, 0.9, 0.25, 1.0 - 1.0 / 1024.0];
    let gaps = [
        std::f64::consts::LN_2,
        0.0,
        10f64.ln(),
        (4.0f64 / 3.0).ln(),
        1024f64.ln(),
    ];
    let mut a = Arrivals::new(Schedule::constant(10.0, None), Arrival::Poisson);
    let mut sum = 0.0;
    for (u, gap) in us.into_iter().zip(gaps) {
        sum += gap;
        let due = a.next_due(u).unwrap();
        assert!(
            (due.as_secs_f64() - sum / 10.0).abs() < 1e-9,
            "u={u}: {due:?} vs {}",
            sum / 10.0
        );
    }
    // Through a ramp 0 → 100 over 1 s, Λ(t) = 50t²: a gap of ln 2 lands at √(ln2/50).
    let mut ramp = Arrivals::new(Schedule::stages(0.0, &stages("1s:100")), Arrival::Poisson);
    let due = ramp.next_due(0.5).unwrap().as_secs_f64();
    assert!((due - (std::f64::consts::LN_2 / 50.0).sqrt()).abs() < 1e-9);
    // Out-of-range numbers are clamped, never infinite or NaN.
    let mut odd = Arrivals::new(Schedule::constant(10.0, None), Arrival::Poisson);
    assert_eq!(odd.next_due(f64::NAN), Some(Duration::ZERO));
    assert_eq!(odd.next_due(-3.0), Some(Duration::ZERO));
    assert!(odd.next_due(1.0).is_some());
}

#[test]
fn poisson_count_is_near_expected() {
    let table = [
        (Schedule::constant(1000.0, Some(ms(10_000))), 10_000.0),
        (
            Schedule::stages(0.0, &stages("5s:2000,5s:2000,5s:0")),
            20_000.0,
        ),
    ];
    for (seed, (schedule, expected)) in table.into_iter().enumerate() {
        assert!(close(
            schedule.expected_by(Duration::from_secs(3600)),
            expected,
            1e-12
        ));
        let due = all_due(
            Arrivals::new(schedule, Arrival::Poisson),
            lcg(seed as u64 + 1),
        );
        let n = due.len() as f64;
        assert!(
            (n - expected).abs() < 0.05 * expected,
            "seed {seed}: {n} arrivals, expected {expected}"
        );
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn rate_and_expected_follow_the_ramp() {
    let s = Schedule::stages(100.0, &stages("1s:300,1s:300,2s:0"));
    assert_eq!(s.end(), Some(Duration::from_secs(4)));
    // (elapsed ms, rate, Λ)
    let table = [
        (0, 100.0, 0.0),
        (500, 200.0, 75.0),
        (1000, 300.0, 200.0),
        (1500, 300.0, 350.0),
        (3000, 150.0, 500.0 + 225.0),
        (4000, 0.0, 800.0),
        (9000, 0.0, 800.0),
    ];
    for (t, rate, expected) in table {
        assert!(close(s.rate_at(ms(t)), rate, 1e-12), "rate at {t}ms");
        assert!(close(s.expected_by(ms(t)), expected, 1e-12), "Λ at {t}ms");
    }
    let unbounded = Schedule::constant(5.0, None);
    assert_eq!(unbounded.end(), None);
    assert_eq!(unbounded.rate_at(Duration::from_secs(1_000_000)), 5.0);
    assert_eq!(unbounded.expected_by(Duration::from_secs(10)), 50.0);
    let bounded = Schedule::constant(5.0, Some(Duration::from_secs(2)));
    assert_eq!(bounded.rate_at(Duration::from_secs(2)), 0.0);
    assert_eq!(bounded.expected_by(Duration::from_secs(3)), 10.0);
    assert_eq!(bounded.time_of(10.0), Some(Duration::from_secs(2)));
    assert_eq!(bounded.time_of(10.5), None);
    assert_eq!(bounded.time_of(0.0), Some(Duration::ZERO));
    assert_eq!(bounded.time_of(f64::NAN), None);
    // Nonsense rates from code schedule nothing.
    for rate in [f64::NAN, -1.0, f64::INFINITY] {
        assert_eq!(Schedule::constant(rate, None).time_of(1.0), None, "{rate}");
    }
}

/// Equal arrival counts up to the nanosecond rounding of due times (at
/// most 5000 req/s × 0.5 ns here) and float rounding.
fn near_count(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-5 + 1e-12 * b.abs()
}

#[test]
fn time_of_inverts_expected_by() {
    let schedules = [
        Schedule::constant(1000.0, Some(Duration::from_secs(3))),
        Schedule::constant(0.25, None),
        Schedule::stages(0.0, &stages("1s:100,1s:100")),
        Schedule::stages(500.0, &stages("2s:10,1s:0,1s:0,3s:2000,0:50,1s:50")),
        Schedule::stages(0.0, &stages("30s:1000,1m:5000,30s:0")),
    ];
    for (i, s) in schedules.iter().enumerate() {
        let end = s.end().map_or(100.0, |d| d.as_secs_f64());
        for step in 0..=1000 {
            let t = end * step as f64 / 1000.0;
            // Λ⁻¹(Λ(t)) = t wherever the rate is positive; over a stretch at
            // rate 0, Λ⁻¹ lands where that stretch began, which has the same Λ.
            let x = s.expected_by(secs(t));
            let back = s.time_of(x).unwrap();
            assert!(near_count(s.expected_by(back), x), "case {i} t={t}");
            if s.rate_at(secs(t)) > 0.0 {
                assert!(
                    (back.as_secs_f64() - t).abs() < 1e-6,
                    "case {i} t={t}: {back:?}"
                );
            }
        }
        let total = s.expected_by(secs(end));
        for step in 0..=1000 {
            let x = total * step as f64 / 1000.0;
            let t = s.time_of(x).unwrap();
            assert!(near_count(s.expected_by(t), x), "case {i} x={x}");
        }
        if s.end().is_some() {
            assert_eq!(s.time_of(total + 1e-6 * (1.0 + total)), None, "case {i}");
        }
    }
}

#[test]
fn last_arrival_survives_rounding_in_the_total() {
    // Λ(end) of this ramp is 27 in exact arithmetic, 26.999999999999996 in f64:
    // the 27th arrival is due at the very end, not lost.
    let s = Schedule::stages(0.0, &stages("315ms:60,585ms:0"));
    assert!(s.total < 27.0 && s.total > 26.99);
    assert_eq!(s.time_of(27.0), Some(ms(900)));
    assert_eq!(s.time_of(27.001), None, "past the slack: not due");
    let due = all_due(Arrivals::new(s, Arrival::Uniform), || 0.5);
    assert_eq!(due.len(), 27);
    assert_eq!(due.last(), Some(&ms(900)));
    // An unbounded schedule has no end to put it at.
    let forever = Schedule::constant(0.0, None);
    assert_eq!(forever.time_of(1.0), None);
}

#[test]
fn the_largest_uniform_is_the_largest_double_below_one() {
    // Poisson gaps are -ln(1 - u): u is clamped just below 1, to the finite
    // gap farthest out, not a coarser one.
    assert_eq!(MAX_UNIFORM.to_bits(), 1.0f64.to_bits() - 1);
}

#[test]
fn to_duration_rounds_and_checks_its_range() {
    assert_eq!(to_duration(0.007), Some(ms(7)));
    assert_eq!(to_duration(0.0), Some(Duration::ZERO));
    assert_eq!(to_duration(-0.4e-9), Some(Duration::ZERO), "rounds to zero");
    assert_eq!(to_duration(-1e-9), None);
    assert_eq!(to_duration(f64::NAN), None);
    assert_eq!(to_duration(f64::INFINITY), None);
    assert_eq!(to_duration(f64::NEG_INFINITY), None);
    // The largest count of nanoseconds a u64 holds, and 2^64 itself.
    assert_eq!(
        to_duration(1.8e10),
        Some(Duration::from_nanos(18_000_000_000_000_000_000))
    );
    let two_pow_64 = 18_446_744_073.709_553_f64;
    assert_eq!((two_pow_64 * 1e9).round(), u64::MAX as f64);
    assert_eq!(to_duration(two_pow_64), None);
    assert_eq!(to_duration(1e11), None);
}
