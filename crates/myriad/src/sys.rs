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

/// Sets `IP_BIND_ADDRESS_NO_PORT` on an IPv4 socket: a later `bind(addr, 0)`
/// reserves no port, and `connect()` picks one unique for the 4-tuple, so one
/// source address serves the whole port range toward every destination.
pub fn set_bind_address_no_port(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid pointer.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), if readable.
pub fn ephemeral_port_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

/// Kernel memory that sockets cost, as the kernel reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelMemory {
    /// TCP buffer memory (`/proc/net/sockstat`, `TCP: mem`, pages × 4 KiB).
    pub tcp_buffers: u64,
    /// All slab memory (`/proc/meminfo`, `Slab`): socket structures, inodes, files.
    pub slab: u64,
    /// TCP sockets in use (`/proc/net/sockstat`, `TCP: inuse`).
    pub tcp_sockets: u64,
}

/// Reads [`KernelMemory`]; `None` where /proc does not tell.
pub fn kernel_memory() -> Option<KernelMemory> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let field = |name: &str| -> Option<u64> {
        let mut it = tcp.split_whitespace();
        it.find(|w| *w == name)?;
        it.next()?.parse().ok()
    };
    Some(KernelMemory {
        tcp_buffers: field("mem")? * 4096,
        slab: meminfo("Slab:")?,
        tcp_sockets: field("inuse")?,
    })
}

/// A `/proc/meminfo` field in bytes.
pub fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A numeric sysctl under `/proc/sys` (first field), e.g. `net/core/somaxconn`.
pub fn sysctl(path: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/sys/{path}")).ok()?;
    text.split_whitespace().map(|w| w.parse().ok()).collect()
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
        let k = kernel_memory().unwrap();
        assert!(k.slab > 0);
        assert!(sysctl("net/core/somaxconn").unwrap()[0] > 0);
        assert!(meminfo("MemAvailable:").unwrap() > 0);
    }
}
