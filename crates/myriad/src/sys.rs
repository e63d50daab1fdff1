//! What the operating system tells about this process: CPU time, peak memory,
//! and the open-files limit.

use std::time::Duration;

/// CPU time consumed, split as the kernel accounts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time running user-space code.
    pub user: Duration,
    /// Time in the kernel on this code's behalf (for a load generator, most of it).
    pub system: Duration,
}

impl CpuTime {
    /// User plus system time.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// Adds another measurement.
    pub fn add(&mut self, other: CpuTime) {
        self.user += other.user;
        self.system += other.system;
    }

    /// The time spent since `earlier` was taken.
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

fn rusage(who: libc::c_int) -> Option<libc::rusage> {
    // SAFETY: getrusage writes a plain C struct that we zero-initialise first.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::getrusage(who, &mut usage) == 0).then_some(usage)
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
}

/// CPU time of the calling thread. Workers take it at start and end so the
/// report counts the load generator only, even when a server shares the process
/// (as in `myriad demo`).
pub fn thread_cpu_time() -> CpuTime {
    rusage(libc::RUSAGE_THREAD)
        .map(|u| CpuTime {
            user: timeval(u.ru_utime),
            system: timeval(u.ru_stime),
        })
        .unwrap_or_default()
}

/// Peak resident memory of the whole process, in bytes.
pub fn peak_rss_bytes() -> u64 {
    rusage(libc::RUSAGE_SELF).map_or(0, |u| u.ru_maxrss.max(0) as u64 * 1024)
}

/// Raises the soft open-files limit to the hard limit and returns the limit now
/// in force. Each connection needs one file descriptor.
pub fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write a plain C struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), if readable.
pub fn ephemeral_port_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_plausible() {
        let start = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let spent = thread_cpu_time().since(start);
        assert!(spent.total() < Duration::from_secs(60));
        assert!(peak_rss_bytes() > 0);
        assert!(raise_open_files_limit() > 0);
    }
}
