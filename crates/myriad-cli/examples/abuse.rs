//! The abusive client of `bench/abuse.sh`: slowloris connections and
//! connections sending malformed or oversized heads, against one server,
//! started over as they end until the time is up; prints what happened as one
//! line. The same code as the test `serve_abuse` (`tests/abuse/mod.rs`).
//!
//! `cargo run --release --example abuse -- ADDR [--slow N] [--garbage N]
//! [--oversized N] [--for SECONDS] [--once]`

use std::time::Duration;

#[path = "../tests/abuse/mod.rs"]
mod abuse;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: abuse ADDR [--slow N] [--garbage N] [--oversized N] [--for SECONDS] [--once]";
    let Some(target) = args.next().and_then(|a| a.parse().ok()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let mut abuse = abuse::Abuse {
        target,
        slow: 10_000,
        garbage: 500,
        oversized: 500,
        byte_every: Duration::from_secs(1),
        run_for: Duration::from_secs(20),
        repeat: true,
        connects_in_flight: 256,
    };
    while let Some(flag) = args.next() {
        if flag == "--once" {
            abuse.repeat = false;
            continue;
        }
        let Some(n) = args.next().and_then(|v| v.parse::<usize>().ok()) else {
            eprintln!("{usage}");
            std::process::exit(2);
        };
        match flag.as_str() {
            "--slow" => abuse.slow = n,
            "--garbage" => abuse.garbage = n,
            "--oversized" => abuse.oversized = n,
            "--for" => abuse.run_for = Duration::from_secs(n as u64),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let r = abuse::run(&abuse);
    println!(
        "abuse: slowloris {} started, {} closed by the server ({:?}..{:?} after the first byte); {} garbage heads got 400, {} oversized got 431; {} connect failures; {} unexpected {:?}",
        r.slow_started,
        r.slow_closed,
        r.slow_close_min.unwrap_or_default(),
        r.slow_close_max.unwrap_or_default(),
        r.garbage_400,
        r.oversized_431,
        r.connect_failures,
        r.unexpected_count,
        r.unexpected
    );
}
