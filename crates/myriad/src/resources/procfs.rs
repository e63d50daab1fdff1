//! Readers of `/proc/PID/stat` and `/proc/PID/task/TID/stat`: CPU ticks,
//! resident pages and the command (thread) name.

use std::path::Path;

/// What one `stat` file tells: a process's or a thread's CPU time and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The command name (`comm`, at most 15 bytes; for a thread, its name).
    pub comm: String,
    /// User plus system CPU time, in clock ticks (`utime + stime`).
    pub cpu_ticks: u64,
    /// Resident set size, in pages (the process's, also in a thread's file).
    pub rss_pages: u64,
}

/// Parses the text of a `stat` file. The command name sits in parentheses
/// and may hold spaces and parentheses itself, so the fields are counted
/// from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // After `)`: state (field 3), ppid, ..., utime (14), stime (15), ..., rss (24).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { rest.get(n - 3)?.parse().ok() };
    Some(Stat {
        comm,
        cpu_ticks: field(14)? + field(15)?,
        rss_pages: field(24)?,
    })
}

/// Reads and parses a `stat` file; `None` when it is gone (the process or
/// thread ended) or unreadable.
pub fn read_stat(path: &Path) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// `/proc/PID/stat`.
pub fn process_stat(pid: u32) -> Option<Stat> {
    read_stat(Path::new(&format!("/proc/{pid}/stat")))
}

/// `/proc/self/stat`.
pub fn self_stat() -> Option<Stat> {
    read_stat(Path::new("/proc/self/stat"))
}

/// Every thread of this process with its [`Stat`], by thread id.
pub fn own_threads() -> Vec<(u32, Stat)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid: u32 = e.file_name().to_str()?.parse().ok()?;
        Some((tid, read_stat(&e.path().join("stat"))?))
    })
    .collect()
}

/// Whether process `pid` exists now.
pub fn process_exists(pid: u32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// Bytes per page (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_name_has_spaces_and_parentheses() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    150 37 0 0 20 0 3 0 12345 99999999 2048 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                comm: "my (odd) name".into(),
                cpu_ticks: 187,
                rss_pages: 2048,
            })
        );
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn reads_this_process_and_its_threads() {
        let me = self_stat().unwrap();
        assert!(me.rss_pages > 0);
        let threads = own_threads();
        assert!(!threads.is_empty());
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(0));
        assert!(ticks_per_second() > 0 && page_size() >= 4096);
    }
}
