//! The network interface that carries a run's traffic, and its counters in
//! `/proc/net/dev`.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Cumulative counters of one interface, as `/proc/net/dev` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

impl DevCounters {
    /// What was counted since `earlier` (zero where a counter went back,
    /// e.g. when the interface was reset).
    pub fn since(&self, earlier: DevCounters) -> DevCounters {
        DevCounters {
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(earlier.tx_bytes),
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
        }
    }
}

/// Parses the text of `/proc/net/dev`: two header lines, then
/// `name: rx_bytes rx_packets errs drop fifo frame compressed multicast
/// tx_bytes tx_packets ...` per interface.
pub fn parse_net_dev(text: &str) -> Vec<(String, DevCounters)> {
    text.lines()
        .filter_map(|line| {
            let (name, fields) = line.split_once(':')?;
            let f: Vec<u64> = fields
                .split_whitespace()
                .map(|w| w.parse().ok())
                .collect::<Option<_>>()?;
            Some((
                name.trim().to_string(),
                DevCounters {
                    rx_bytes: *f.first()?,
                    rx_packets: *f.get(1)?,
                    tx_bytes: *f.get(8)?,
                    tx_packets: *f.get(9)?,
                },
            ))
        })
        .collect()
}

/// Reads `/proc/net/dev` (this network namespace's interfaces).
pub fn read_net_dev() -> Vec<(String, DevCounters)> {
    std::fs::read_to_string("/proc/net/dev")
        .map(|t| parse_net_dev(&t))
        .unwrap_or_default()
}

/// One address of an interface, from `getifaddrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IfAddr {
    name: String,
    addr: IpAddr,
    loopback: bool,
}

fn interface_addresses() -> Vec<IfAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a linked list that we walk read-only and free
    // once; each `ifa_addr` is checked for null and read as the structure its
    // family names.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while let Some(ifa) = cur.as_ref() {
            cur = ifa.ifa_next;
            let (Some(sa), false) = (ifa.ifa_addr.as_ref(), ifa.ifa_name.is_null()) else {
                continue;
            };
            let addr = match i32::from(sa.sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                }
                _ => continue,
            };
            out.push(IfAddr {
                name: CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned(),
                addr,
                loopback: ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0,
            });
        }
        libc::freeifaddrs(head);
    }
    out
}

/// The interface that carries traffic towards `target`: the loopback
/// interface for a loopback address; otherwise the interface holding the
/// local address that a socket towards the target would use (a UDP socket
/// `connect()`ed to it: the kernel picks the route and source address, and
/// no packet is sent). `None` if no interface holds it.
pub fn interface_towards(target: SocketAddr) -> Option<String> {
    let addrs = interface_addresses();
    if target.ip().is_loopback() {
        return addrs
            .iter()
            .find(|a| a.loopback)
            .map(|a| a.name.clone())
            .or_else(|| Some("lo".into()));
    }
    let any: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect(target).ok()?;
    let local = socket.local_addr().ok()?.ip();
    addrs.into_iter().find(|a| a.addr == local).map(|a| a.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 123456789  98765    0    0    0     0          0         0 123456789  98765    0    0    0     0       0          0
  eth0:   5000000   4000    1    2    0     0          0        10   600000    3000    0    0    0     0       0          0
";

    #[test]
    fn parses_proc_net_dev() {
        let parsed = parse_net_dev(SAMPLE);
        assert_eq!(
            parsed,
            vec![
                (
                    "lo".to_string(),
                    DevCounters {
                        rx_bytes: 123_456_789,
                        rx_packets: 98_765,
                        tx_bytes: 123_456_789,
                        tx_packets: 98_765,
                    }
                ),
                (
                    "eth0".to_string(),
                    DevCounters {
                        rx_bytes: 5_000_000,
                        rx_packets: 4_000,
                        tx_bytes: 600_000,
                        tx_packets: 3_000,
                    }
                ),
            ]
        );
        let later = DevCounters {
            rx_bytes: 5_000_100,
            ..parsed[1].1
        };
        assert_eq!(later.since(parsed[1].1).rx_bytes, 100);
        assert_eq!(parsed[1].1.since(later).rx_bytes, 0, "never negative");
    }

    #[test]
    fn loopback_targets_use_the_loopback_interface() {
        let lo = interface_towards("127.0.0.1:80".parse().unwrap()).unwrap();
        assert!(read_net_dev().iter().any(|(name, _)| *name == lo), "{lo}");
        assert_eq!(
            interface_towards("127.0.0.7:80".parse().unwrap()),
            Some(lo.clone())
        );
    }
}
