//! The shape of a run on this machine: how many processes and threads, which
//! source addresses, what connect rate, and whether the machine can hold it.
//!
//! One process may hold only as many sockets as its open-files limit allows
//! (`RLIMIT_NOFILE`; 20,000 on many containers, and the hard limit often cannot
//! be raised), and one source address has only the ephemeral port range toward
//! each destination. [`Shape::fit`] spreads connections over processes and,
//! for loopback targets, over 127.x source addresses, and refuses up front,
//! with one line that says what to change, a run the machine cannot hold,
//! rather than failing halfway with EMFILE or EADDRNOTAVAIL.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::Config;
use crate::sys;

/// File descriptors a worker process keeps for itself (stdio, epoll, pipes):
/// this many, or a sixteenth of a small limit.
const FD_RESERVE: u64 = 256;
/// Connections per (source address, destination) kept well under the port
/// range: past about half of it the kernel's port search slows connects a
/// hundredfold (it tries even ports first), and well before that each connect
/// probes more taken ports. Extra 127.x addresses cost nothing.
pub const SAFE_PER_SOURCE: usize = 8_000;
/// Connect rate used when none is given and the run has more connections than this.
const PACE_ABOVE: usize = 20_000;
/// The default connect rate for large runs, per second.
pub const DEFAULT_CONNECT_RATE: f64 = 20_000.0;
/// Kernel memory of one idle TCP socket (socket, inode, file, epoll entry),
/// measured on loopback here: about 5 KB per end.
const KERNEL_PER_SOCKET: u64 = 5 * 1024;
/// User memory of one idle client connection (task, stream, registration).
const USER_PER_CONNECTION: u64 = 1536;

/// Why the machine cannot hold a run as configured. Each message is one line
/// that says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// `--processes` too small for the open-files limit.
    #[error("{connections} connections over {processes} processes is {per_process} per process, but the open-files limit is {limit}: use --processes {needed} or more (or leave it out)")]
    TooFewProcesses {
        /// Connections asked for.
        connections: usize,
        /// Processes asked for.
        processes: usize,
        /// Connections each would hold.
        per_process: usize,
        /// The open-files limit.
        limit: u64,
        /// Processes needed.
        needed: usize,
    },
    /// More connections per source address than the port range has ports.
    #[error("{per_source} connections from each of {sources} source address(es) to {destination} need {per_source} ephemeral ports each, but net.ipv4.ip_local_port_range has {range}: {hint}")]
    Ports {
        /// Connections per (source, destination).
        per_source: usize,
        /// Source addresses.
        sources: usize,
        /// The busiest destination.
        destination: SocketAddr,
        /// Ports in the range.
        range: usize,
        /// What to change.
        hint: String,
    },
    /// Not enough free memory for the sockets.
    #[error("{connections} connections need about {need_mib} MiB of memory (kernel sockets and client state) but only {available_mib} MiB is available: lower -c/--connections or free memory")]
    Memory {
        /// Connections asked for.
        connections: usize,
        /// Estimated need.
        need_mib: u64,
        /// MemAvailable.
        available_mib: u64,
    },
    /// Not enough file handles system-wide.
    #[error("{need} sockets are needed but the system has {free} file handles left (fs.file-max): raise it with sysctl -w fs.file-max={suggest}")]
    Files {
        /// Sockets needed.
        need: u64,
        /// Handles left.
        free: u64,
        /// A value that would do.
        suggest: u64,
    },
    /// More than one process is needed but no worker command is configured.
    #[error("{connections} connections need {processes} processes at the open-files limit of {limit}, but this program cannot start worker processes (set Config::worker_command, as the myriad binary does), or raise the limit")]
    NoWorkerCommand {
        /// Connections asked for.
        connections: usize,
        /// Processes needed.
        processes: usize,
        /// The open-files limit.
        limit: u64,
    },
}

/// How a run is laid out on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Processes holding connections (1: this process only).
    pub processes: usize,
    /// Worker threads in each process.
    pub threads_per_process: usize,
    /// Source addresses, dealt to connections round-robin (empty: kernel's choice).
    pub source_addrs: Vec<IpAddr>,
    /// Whether the source addresses were chosen automatically.
    pub sources_auto: bool,
    /// Connects per second over the whole run, if paced.
    pub connect_rate: Option<f64>,
    /// The open-files limit of each process.
    pub open_files_limit: u64,
    /// Connections toward the busiest destination, per source address.
    pub per_source: usize,
    /// Estimated kernel memory for the sockets (both ends when the target is on
    /// this machine), bytes.
    pub kernel_memory: u64,
    /// Estimated client user memory, bytes.
    pub user_memory: u64,
    /// Warnings worth printing with the plan.
    pub warnings: Vec<String>,
}

impl Shape {
    /// How `config` fits a machine whose open-files limit per process is
    /// `open_files_limit`, checking ports, memory and file handles (the part of
    /// [`crate::Plan::new`] that reads the machine).
    pub fn fit(config: &Config, open_files_limit: u64) -> Result<Shape, ShapeError> {
        let c = config.connections();
        let reserve = FD_RESERVE.min(open_files_limit / 16);
        let capacity = open_files_limit.saturating_sub(reserve).max(1) as usize;
        let needed = c.div_ceil(capacity);
        let processes = match config.processes {
            Some(p) if c.div_ceil(p) > capacity => {
                return Err(ShapeError::TooFewProcesses {
                    connections: c,
                    processes: p,
                    per_process: c.div_ceil(p),
                    limit: open_files_limit,
                    needed,
                })
            }
            Some(p) => p.min(c),
            None => needed,
        };
        if processes > 1 && config.worker_command.is_none() {
            return Err(ShapeError::NoWorkerCommand {
                connections: c,
                processes,
                limit: open_files_limit,
            });
        }
        let per_process = c.div_ceil(processes);
        let threads_per_process = if processes == 1 {
            config.threads.clamp(1, c)
        } else {
            (config.threads / processes).clamp(1, per_process)
        };

        // Connections per destination address (targets may share one).
        let mut per_dest: HashMap<SocketAddr, usize> = HashMap::new();
        for i in 0..c {
            *per_dest
                .entry(config.targets[i % config.targets.len()].addr)
                .or_default() += 1;
        }
        let (destination, busiest) = per_dest
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(a, n)| (*a, *n))
            .unwrap_or((config.targets[0].addr, c));
        let all_loopback_v4 = config
            .targets
            .iter()
            .all(|t| matches!(t.addr.ip(), IpAddr::V4(ip) if ip.is_loopback()));
        let (source_addrs, sources_auto) = if config.unix_socket.is_some() {
            // A Unix socket has no ports to run out of.
            (Vec::new(), false)
        } else if !config.sources.is_empty() {
            (config.sources.clone(), false)
        } else if let (true, Some(shard)) = (all_loopback_v4, &config.shard) {
            // Shards of one run may share this machine: each connects from
            // its own 127.x addresses, as many as the largest shard needs.
            let stride = crate::shard::largest_share(shard.run_connections, shard.count)
                .div_ceil(SAFE_PER_SOURCE)
                .max(1);
            let own = busiest.div_ceil(SAFE_PER_SOURCE).max(1);
            let skip = shard.index * stride;
            (loopback_sources(skip + own).split_off(skip), true)
        } else if all_loopback_v4 && busiest > SAFE_PER_SOURCE {
            (loopback_sources(busiest.div_ceil(SAFE_PER_SOURCE)), true)
        } else {
            (Vec::new(), false)
        };
        let per_source = busiest.div_ceil(source_addrs.len().max(1));
        let range = sys::ephemeral_port_range()
            .map_or(28_232, |(lo, hi)| usize::from(hi.saturating_sub(lo)) + 1);
        let mut warnings = Vec::new();
        if per_source > range && config.unix_socket.is_none() {
            let hint = if all_loopback_v4 {
                format!(
                    "use more source addresses (--source 127.0.0.1-127.0.0.{}) or more server ports",
                    busiest.div_ceil(SAFE_PER_SOURCE).min(254)
                )
            } else {
                "add local source addresses with --source, spread over more server ports or addresses, or widen the range (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\")".to_string()
            };
            return Err(ShapeError::Ports {
                per_source,
                sources: source_addrs.len().max(1),
                destination,
                range,
                hint,
            });
        }
        if per_source > range / 2 {
            warnings.push(format!(
                "{per_source} connections per source address is past half the port range ({range}): connects will slow down sharply; add source addresses (--source)"
            ));
        }

        let local_target = config
            .targets
            .iter()
            .all(|t| t.addr.ip().is_loopback() || is_local(t.addr.ip()));
        let sockets = c as u64 * if local_target { 2 } else { 1 };
        let kernel_memory = sockets * KERNEL_PER_SOCKET;
        let user_memory = c as u64 * USER_PER_CONNECTION;
        if let Some(available) = sys::meminfo("MemAvailable:") {
            if kernel_memory + user_memory > available {
                return Err(ShapeError::Memory {
                    connections: c,
                    need_mib: (kernel_memory + user_memory) >> 20,
                    available_mib: available >> 20,
                });
            }
        }
        if let (Some(nr), Some(max)) = (sys::sysctl("fs/file-nr"), sys::sysctl("fs/file-max")) {
            let (used, max) = (nr.first().copied().unwrap_or(0), max[0]);
            let free = max.saturating_sub(used);
            if sockets > free {
                return Err(ShapeError::Files {
                    need: sockets,
                    free,
                    suggest: (used + sockets) * 5 / 4,
                });
            }
        }
        let connect_rate = config
            .connect_rate
            .or((c > PACE_ABOVE).then_some(DEFAULT_CONNECT_RATE));
        Ok(Shape {
            processes,
            threads_per_process,
            source_addrs,
            sources_auto,
            connect_rate,
            open_files_limit,
            per_source,
            kernel_memory,
            user_memory,
            warnings,
        })
    }

    /// The plan for people, several lines.
    pub fn describe(&self, config: &Config) -> String {
        let mut s = String::new();
        let c = config.connections();
        let _ = writeln!(s, "Plan for {c} connections");
        let _ = writeln!(
            s,
            "  processes      {} ({} per process at most; open-files limit {})",
            self.processes,
            c.div_ceil(self.processes),
            self.open_files_limit
        );
        let _ = writeln!(
            s,
            "  threads        {} per process",
            self.threads_per_process
        );
        let sources = match (self.source_addrs.first(), self.source_addrs.last()) {
            (Some(a), Some(b)) if self.source_addrs.len() > 1 => format!(
                "{} addresses, {a} to {b}{}",
                self.source_addrs.len(),
                if self.sources_auto {
                    " (chosen automatically)"
                } else {
                    ""
                }
            ),
            (Some(a), _) => a.to_string(),
            _ => "chosen by the kernel".to_string(),
        };
        let _ = writeln!(
            s,
            "  source         {sources}; {} connections per source and destination",
            self.per_source
        );
        if let Some(shard) = &config.shard {
            let _ = writeln!(
                s,
                "  shard          {} of run {} ({} connections in all shards)",
                shard.shard(),
                shard.run,
                shard.run_connections
            );
        }
        let rate = self.connect_rate.map_or(
            "unpaced (256 connects in flight per worker)".to_string(),
            |r| format!("{r:.0} connects/s, about {:.1} s to open all", c as f64 / r),
        );
        let _ = writeln!(s, "  connect rate   {rate}");
        let _ = writeln!(
            s,
            "  memory         about {} MiB kernel (sockets), {} MiB client",
            self.kernel_memory >> 20,
            self.user_memory >> 20
        );
        let port_range =
            sys::ephemeral_port_range().map_or("unknown".into(), |(a, b)| format!("{a}-{b}"));
        let value = |p: &str| {
            sys::sysctl(p).map_or("unknown".into(), |v| {
                v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
            })
        };
        let _ = writeln!(
            s,
            "  machine        ip_local_port_range {port_range}, somaxconn {}, tcp_max_syn_backlog {}, file-max {}, MemAvailable {} MiB",
            value("net/core/somaxconn"),
            value("net/ipv4/tcp_max_syn_backlog"),
            value("fs/file-max"),
            sys::meminfo("MemAvailable:").unwrap_or(0) >> 20
        );
        for w in &self.warnings {
            let _ = writeln!(s, "  warning        {w}");
        }
        s
    }
}

/// `n` distinct loopback addresses: 127.0.0.1, 127.0.0.2, ..., skipping the
/// .0 and .255 of each /24.
pub fn loopback_sources(n: usize) -> Vec<IpAddr> {
    (0u32..)
        .map(|i| {
            let [_, b, c, d] = (0x7f00_0000u32 + 1 + i + 2 * (i / 254)).to_be_bytes();
            IpAddr::V4(Ipv4Addr::new(127, b, c, d))
        })
        .take(n)
        .collect()
}

fn is_local(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Stop;

    fn cfg(c: usize) -> Config {
        let mut config = Config::new(&["http://127.0.0.1:8080/"]).unwrap();
        config.load = crate::config::Load::Closed {
            connections: c,
            stop: Stop::Requests(1),
        };
        config.threads = 2;
        config.worker_command = Some(vec!["myriad".into()]);
        config
    }

    #[test]
    fn loopback_sources_skip_network_and_broadcast() {
        let s = loopback_sources(256);
        assert_eq!(s[0], "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s[253], "127.0.0.254".parse::<IpAddr>().unwrap());
        assert_eq!(s[254], "127.0.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(s[255], "127.0.1.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn small_runs_stay_in_one_process() {
        let s = Shape::fit(&cfg(1000), 20_000).unwrap();
        assert_eq!((s.processes, s.threads_per_process), (1, 2));
        assert!(s.source_addrs.is_empty());
        assert_eq!(s.connect_rate, None);
    }

    #[test]
    fn large_runs_spread_over_processes_and_sources() {
        let s = Shape::fit(&cfg(50_000), 20_000).unwrap();
        assert_eq!(s.processes, 3);
        assert_eq!(s.threads_per_process, 1);
        assert_eq!(s.source_addrs.len(), 7);
        assert!(s.per_source <= SAFE_PER_SOURCE);
        assert_eq!(s.connect_rate, Some(DEFAULT_CONNECT_RATE));
        // A million connections need about 11 GiB: the plan reads how much
        // this machine has free now, so a busy machine refuses it (rightly).
        match Shape::fit(&cfg(1_000_000), 20_000) {
            Ok(s) => {
                assert_eq!(s.processes, 51);
                assert_eq!(s.source_addrs.len(), 125);
            }
            Err(ShapeError::Memory { available_mib, .. }) => {
                eprintln!("1M connections not planned: only {available_mib} MiB free now");
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn impossible_plans_are_refused_with_what_to_change() {
        let mut c = cfg(50_000);
        c.sources = vec!["127.0.0.1".parse().unwrap()];
        let e = Shape::fit(&c, 20_000).unwrap_err();
        assert!(matches!(e, ShapeError::Ports { .. }), "{e}");
        assert!(
            e.to_string().contains("--source 127.0.0.1-127.0.0.7"),
            "{e}"
        );
        let mut c = cfg(50_000);
        c.processes = Some(2);
        let e = Shape::fit(&c, 20_000).unwrap_err();
        assert!(e.to_string().contains("--processes 3"), "{e}");
        let mut c = cfg(50_000);
        c.worker_command = None;
        assert!(matches!(
            Shape::fit(&c, 20_000),
            Err(ShapeError::NoWorkerCommand { .. })
        ));
    }
}
