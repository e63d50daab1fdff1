//! Shards: one run split over N processes on any machines (`myriad run
//! --shard I/N`), whose result files `myriad report` merges into the run.
//!
//! A shard is the configuration of the whole run with its load replaced by
//! part `I` of `N` ([`crate::Load::part`], the same split as a run's worker
//! processes): connections, `-n` and the open model's rate split exactly,
//! remainders over the first shards, stages scaled (a closed ramp's
//! connection targets are divided by `N`, so its shards add up to the whole
//! exactly when the targets divide by `N`). What else keeps shards apart:
//!
//! - `--source` addresses, when at least `N` are given, are dealt to shards
//!   round-robin (shard `I` gets the `I`-th, `I+N`-th, ...);
//! - against loopback targets without `--source`, each shard connects from
//!   its own 127.x addresses, so shards on one machine do not share a port
//!   range ([`crate::engine::shape`]);
//! - `--connect-rate` is divided by `N`;
//! - open-model threads are phase-shifted by shard so the shards' uniform
//!   arrivals interleave; Poisson seeds are drawn per process.
//!
//! Every shard records a [`ShardInfo`] in its result file: its index, the
//! count, and a run identity ([`run_id`]) computed from the whole run's
//! settings, the same for every shard of one run and different for another
//! run, so a merge can refuse shards of different runs, duplicates and
//! missing shards ([`check`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::{share, Config, ConfigError};

/// The most shards a run may be split into.
pub const MAX_SHARDS: usize = 100_000;

/// `--shard I/N`: the `I`-th (from 0, as Kubernetes' `JOB_COMPLETION_INDEX`)
/// of `N` parts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// Which part, from 0 to `count - 1`.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Shard, ConfigError> {
        let bad = |why: &str| {
            ConfigError::Shard(format!(
                "invalid --shard '{s}': {why}; expected I/N with 0 <= I < N, like 0/4 (the first of 4)"
            ))
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(|| bad("no '/'"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(bad("N must be between 1 and 100000"));
        }
        if index >= count {
            return Err(bad("I counts from 0, so it must be less than N"));
        }
        Ok(Shard { index, count })
    }
}

/// What a shard's result file records (`"shard"` in its result section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts the run has.
    pub count: usize,
    /// The run's identity ([`run_id`]): equal for all shards of one run.
    pub run: String,
    /// Connections of the whole run (all shards).
    pub run_connections: usize,
}

impl ShardInfo {
    /// The shard as `I/N`.
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }
}

impl Shard {
    /// The configuration of this shard of the run `whole`: its load replaced
    /// by this shard's part. Refuses a split that leaves some shard nothing
    /// to do or fewer connections than URLs; the rest of the configuration
    /// is validated once, with the shard's load, by [`crate::Plan::new`].
    pub fn apply(self, whole: Config) -> Result<Config, ConfigError> {
        let Shard { index, count } = self;
        let connections = whole.connections();
        for i in 0..count {
            let part = whole.load.part(i, count);
            if part.connections() < whole.targets.len() && !part.is_empty() {
                return Err(ConfigError::Shard(format!(
                    "--shard {self}: shard {i}/{count} would get {} connections for {} URLs; use fewer shards or more connections (-c)",
                    part.connections(),
                    whole.targets.len()
                )));
            }
            if part.is_empty() {
                return Err(ConfigError::Shard(format!(
                    "--shard {self}: splitting {} into {count} shards leaves shard {i}/{count} nothing to do; use fewer shards or more connections/requests",
                    describe_size(&whole)
                )));
            }
        }
        let run = run_id(&whole, count);
        let mut config = whole;
        config.load = config.load.part(index, count);
        config.connect_rate = config.connect_rate.map(|r| r / count as f64);
        if config.sources.len() >= count {
            config.sources = config
                .sources
                .iter()
                .skip(index)
                .step_by(count)
                .copied()
                .collect();
        }
        config.shard = Some(ShardInfo {
            index,
            count,
            run,
            run_connections: connections,
        });
        Ok(config)
    }
}

fn describe_size(c: &Config) -> String {
    match c.stop() {
        crate::Stop::Requests(n) => format!("{} connections and {n} requests", c.connections()),
        crate::Stop::Duration(_) => format!("{} connections", c.connections()),
    }
}

/// Connections of the largest shard of a run of `connections` over `count`
/// shards (shard 0's): how many 127.x addresses each shard's range spans.
pub fn largest_share(connections: usize, count: usize) -> usize {
    share(connections as u64, count.max(1) as u64, 0) as usize
}

/// The identity of a run split into `count` shards: 16 hex digits of a
/// stable hash (FNV-1a) of its settings (URLs, load, method, header names,
/// body size, timeouts, keep-alive, pipelining, protocol, streams, statistics
/// interval, warm-up) and `count`. It leaves out what may differ between the
/// machines of one run (threads, which default to the cores; resolved
/// addresses; `--start-at`, which may be relative) and header values and the
/// body (they may hold credentials).
pub fn run_id(whole: &Config, count: usize) -> String {
    let mut settings = crate::result::RunSettings::of(whole);
    settings.threads = 0;
    let identity = serde_json::json!({
        "settings": settings,
        "body_bytes": whole.body.len(),
        "stats_interval_ns": whole.stats_interval.as_nanos() as u64,
        "warmup_ns": whole.warmup.map(|w| w.as_nanos() as u64),
        "shards": count,
    });
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identity.to_string().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Why shards cannot be merged: one line naming the files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(pub String);

/// Checks that the named files' shard records (`None`: not a shard) make up
/// whole runs: all shards or none; one run, one count; no shard twice; none
/// missing. Files that are not shards pass (separate runs merge as before).
pub fn check(files: &[(&str, Option<&ShardInfo>)]) -> Result<(), ShardError> {
    let Some((first_name, first)) = files.iter().find_map(|(n, s)| s.map(|s| (*n, s))) else {
        return Ok(());
    };
    if let Some((name, _)) = files.iter().find(|(_, s)| s.is_none()) {
        return Err(ShardError(format!(
            "cannot merge {first_name} and {name}: {first_name} is shard {} of a run, {name} is not a shard; merge the shards of one run on their own",
            first.shard()
        )));
    }
    let mut seen: BTreeMap<usize, &str> = BTreeMap::new();
    for (name, info) in files {
        let Some(info) = info else { continue };
        if info.run != first.run || info.count != first.count {
            return Err(ShardError(format!(
                "cannot merge {first_name} and {name}: they are shards of different runs ({first_name}: shard {} of run {}; {name}: shard {} of run {}); give the files of one run, started with the same flags",
                first.shard(),
                first.run,
                info.shard(),
                info.run
            )));
        }
        if let Some(other) = seen.insert(info.index, name) {
            return Err(ShardError(format!(
                "{other} and {name} are both shard {} of run {}: give each shard's file once",
                info.shard(),
                info.run
            )));
        }
    }
    let missing: Vec<String> = (0..first.count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{}", first.count))
        .collect();
    if !missing.is_empty() {
        let given: Vec<&str> = seen.values().copied().collect();
        return Err(ShardError(format!(
            "shard{} {} missing: give all {} files of run {} (given: {})",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            first.count,
            first.run,
            given.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Load, Stop};
    use std::time::Duration;

    fn config(load: Load) -> Config {
        let mut c = Config::new(&["http://127.0.0.1:1/", "http://127.0.0.1:2/"]).unwrap();
        c.load = load;
        c.threads = 2;
        c
    }

    fn shards(whole: &Config, n: usize) -> Vec<Config> {
        (0..n)
            .map(|index| Shard { index, count: n }.apply(whole.clone()).unwrap())
            .collect()
    }

    #[test]
    fn parses_i_of_n_from_zero() {
        assert_eq!(
            "3/4".parse::<Shard>().unwrap(),
            Shard { index: 3, count: 4 }
        );
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
        for bad in ["4/4", "1/0", "x/4", "1", "-1/4", "1/4/5", "0/100001"] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains("--shard") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn shards_split_exactly_and_share_one_run_id() {
        // (connections, requests, shards)
        for (c, n, k) in [(10, 1001, 4), (8, 8, 4), (7, 100, 3), (100, 1_000_003, 7)] {
            let whole = config(Load::closed(c, Stop::Requests(n)).unwrap());
            let parts = shards(&whole, k);
            assert_eq!(parts.iter().map(Config::connections).sum::<usize>(), c);
            let requests: u64 = parts
                .iter()
                .map(|p| match p.stop() {
                    Stop::Requests(r) => r,
                    Stop::Duration(_) => 0,
                })
                .sum();
            assert_eq!(requests, n, "{c} {n} {k}");
            let ids: Vec<&str> = parts
                .iter()
                .map(|p| p.shard.as_ref().unwrap().run.as_str())
                .collect();
            assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
            assert_eq!(ids[0], run_id(&whole, k));
        }
        let open = config(Load::open(1000.0, 10, Stop::Duration(Duration::from_secs(5))).unwrap());
        let parts = shards(&open, 3);
        let rate: f64 = parts
            .iter()
            .map(|p| p.load.open_model().unwrap().rate)
            .sum();
        assert!((rate - 1000.0).abs() < 1e-9);
        assert_eq!(parts.iter().map(Config::connections).sum::<usize>(), 10);
    }

    #[test]
    fn other_runs_have_other_ids_and_threads_do_not_count() {
        let whole = config(Load::closed(8, Stop::Requests(100)).unwrap());
        let id = run_id(&whole, 4);
        assert_ne!(id, run_id(&whole, 2));
        let mut more = whole.clone();
        more.load = Load::closed(8, Stop::Requests(101)).unwrap();
        assert_ne!(id, run_id(&more, 4));
        let mut other_url = Config::new(&["http://127.0.0.1:3/", "http://127.0.0.1:2/"]).unwrap();
        other_url.load = whole.load.clone();
        assert_ne!(id, run_id(&other_url, 4));
        let mut threads = whole.clone();
        threads.threads = 7;
        assert_eq!(id, run_id(&threads, 4));
    }

    #[test]
    fn sources_are_dealt_to_shards_and_empty_shards_refused() {
        let mut whole = config(Load::closed(8, Stop::Requests(100)).unwrap());
        whole.sources = (1..=4)
            .map(|d| format!("127.0.0.{d}").parse().unwrap())
            .collect();
        whole.connect_rate = Some(100.0);
        let parts = shards(&whole, 2);
        assert_eq!(
            parts[1].sources,
            whole.sources[1..]
                .iter()
                .step_by(2)
                .copied()
                .collect::<Vec<_>>()
        );
        assert_eq!(parts[0].connect_rate, Some(50.0));
        let tiny = config(Load::closed(8, Stop::Requests(3)).unwrap());
        let e = Shard { index: 0, count: 4 }
            .apply(tiny)
            .unwrap_err()
            .to_string();
        assert!(e.contains("leaves shard 3/4 nothing to do"), "{e}");
        let few = config(Load::closed(6, Stop::Requests(100)).unwrap());
        let e = Shard { index: 0, count: 4 }
            .apply(few)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shard 2/4 would get 1 connections for 2 URLs"),
            "{e}"
        );
    }

    #[test]
    fn shards_on_one_machine_connect_from_their_own_loopback_addresses() {
        use crate::engine::shape::SAFE_PER_SOURCE;
        use crate::engine::Shape;
        // Two targets on 127.0.0.1: per destination, half of each shard's.
        let whole = config(Load::closed(4 * SAFE_PER_SOURCE * 3, Stop::Requests(1 << 20)).unwrap());
        let mut seen = std::collections::HashSet::new();
        for part in shards(&whole, 4) {
            let shape = Shape::fit(&part, 1 << 30).unwrap();
            // 1.5 x SAFE_PER_SOURCE per destination: 2 addresses each.
            assert_eq!(shape.source_addrs.len(), 2, "{:?}", shape.source_addrs);
            assert!(shape.per_source <= SAFE_PER_SOURCE);
            for a in shape.source_addrs {
                assert!(seen.insert(a), "{a} used by two shards");
            }
        }
        // Even a small shard keeps off the others' address.
        let small = config(Load::closed(8, Stop::Requests(100)).unwrap());
        let sources: Vec<_> = shards(&small, 4)
            .iter()
            .map(|p| Shape::fit(p, 1 << 20).unwrap().source_addrs)
            .collect();
        assert_eq!(
            sources[3],
            vec!["127.0.0.4".parse::<std::net::IpAddr>().unwrap()]
        );
    }

    #[test]
    fn open_model_phases_interleave_across_shards() {
        let whole = config(Load::open(800.0, 8, Stop::Duration(Duration::from_secs(1))).unwrap());
        let mut phases: Vec<f64> = shards(&whole, 4)
            .into_iter()
            .flat_map(|p| {
                let plan = crate::Plan::new(p).unwrap();
                plan.processes
                    .into_iter()
                    .flat_map(|pp| pp.workers)
                    .filter_map(|w| w.open.map(|o| o.phase))
                    .collect::<Vec<_>>()
            })
            .collect();
        phases.sort_by(f64::total_cmp);
        let expected: Vec<f64> = (1..=8).map(|k| k as f64 / 8.0).collect();
        assert_eq!(phases.len(), 8);
        for (p, e) in phases.iter().zip(&expected) {
            assert!((p - e).abs() < 1e-9, "{phases:?}");
        }
    }

    fn info(index: usize, count: usize, run: &str) -> ShardInfo {
        ShardInfo {
            index,
            count,
            run: run.into(),
            run_connections: 4,
        }
    }

    #[test]
    fn check_refuses_mixed_duplicate_and_missing_shards() {
        let (a, b, c, d) = (
            info(0, 4, "r"),
            info(1, 4, "r"),
            info(2, 4, "r"),
            info(3, 4, "r"),
        );
        assert_eq!(
            check(&[
                ("a", Some(&a)),
                ("b", Some(&b)),
                ("c", Some(&c)),
                ("d", Some(&d))
            ]),
            Ok(())
        );
        assert_eq!(check(&[("x", None), ("y", None)]), Ok(()));
        let e = check(&[("a", Some(&a)), ("b", Some(&b)), ("c", Some(&c))]).unwrap_err();
        assert!(
            e.0.starts_with("shard 3/4 missing: give all 4 files"),
            "{e}"
        );
        let e = check(&[("a", Some(&a)), ("a2", Some(&a))]).unwrap_err();
        assert!(e.0.contains("a and a2 are both shard 0/4"), "{e}");
        let other = info(1, 4, "s");
        let e = check(&[("a", Some(&a)), ("o", Some(&other))]).unwrap_err();
        assert!(
            e.0.contains("different runs") && e.0.contains("run s"),
            "{e}"
        );
        let e = check(&[("a", Some(&a)), ("plain", None)]).unwrap_err();
        assert!(e.0.contains("plain is not a shard"), "{e}");
        let e = check(&[("a", Some(&a)), ("n", Some(&info(1, 2, "r")))]).unwrap_err();
        assert!(e.0.contains("different runs"), "{e}");
    }
}
