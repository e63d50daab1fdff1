//! The samplers against this process and real children; the arithmetic of
//! splitting and totalling on fixed samples. CPU is asserted in CPU time
//! (which the load on the machine does not change), never in wall time.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;
use crate::sys::thread_cpu_time;

/// Spins on this thread until it has used `cpu` of CPU time.
fn burn(cpu: Duration) {
    let start = thread_cpu_time();
    let mut x = 0u64;
    while thread_cpu_time().since(start).total() < cpu {
        for i in 0..10_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
    }
}

/// Not a test of its own: the child of `a_child_burning_cpu_shows_that_cpu`
/// (run as `BURN_MS=… <this test binary> burn_child`). It burns, says so,
/// and waits for stdin to close, so the parent samples it alive.
#[test]
fn burn_child() {
    let Some(ms) = std::env::var("MYRIAD_BURN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    else {
        return;
    };
    burn(Duration::from_millis(ms));
    println!("burnt");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[test]
fn a_child_burning_cpu_shows_that_cpu() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "resources::tests::burn_child", "--nocapture"])
        .env("MYRIAD_BURN_MS", "400")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watch = Watch {
        pids: vec![pid],
        threads_named: None,
    };
    assert_eq!(watch.missing_pid(), None);
    let mut sampler = Sampler::new(&watch, []);
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    while !line.contains("burnt") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    let s = sampler.sample();
    drop(child.stdin.take());
    child.wait().unwrap();
    let [t] = s.targets.as_slice() else {
        panic!("{s:?}")
    };
    assert_eq!(t.pid, Some(pid));
    let cpu_s = t.cpu_cores * s.span_s;
    // 400 ms burnt after the baseline, give or take a clock tick, plus what
    // the child's start-up cost after the baseline was taken.
    assert!((0.38..0.7).contains(&cpu_s), "{cpu_s} s of CPU: {s:?}");
    assert!(t.rss_bytes.unwrap() > 0);
    // Once it has ended: no CPU, no memory, and the pid is missing.
    let after = sampler.sample();
    assert_eq!(after.targets[0].cpu_cores, 0.0);
    assert_eq!(after.targets[0].rss_bytes, None);
    assert_eq!(watch.missing_pid(), Some(pid));
}

#[test]
fn threads_named_as_the_target_are_measured_apart() {
    let watch = Watch {
        pids: Vec::new(),
        threads_named: Some("rsrc-burner".into()),
    };
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (done, burnt) = std::sync::mpsc::channel::<()>();
    let burner = std::thread::Builder::new()
        .name("rsrc-burner-0".into())
        .spawn(move || {
            let _ = wait.recv();
            burn(Duration::from_millis(300));
            let _ = done.send(());
            let _ = wait.recv();
        })
        .unwrap();
    let mut sampler = Sampler::new(&watch, []);
    go.send(()).unwrap();
    burnt.recv().unwrap();
    let s = sampler.sample();
    drop(go);
    burner.join().unwrap();
    let [t] = s.targets.as_slice() else {
        panic!("{s:?}")
    };
    assert_eq!(
        (t.name.as_str(), t.pid, t.rss_bytes),
        ("built-in server", None, None)
    );
    let cpu_s = t.cpu_cores * s.span_s;
    assert!((0.28..0.5).contains(&cpu_s), "{cpu_s} s: {s:?}");
    assert!(s.client.rss_bytes > 0);
}

#[test]
fn the_client_is_this_process() {
    let mut sampler = Sampler::new(&Watch::default(), []);
    burn(Duration::from_millis(200));
    let s = sampler.sample();
    // Other tests' threads may add to it, never take from it.
    assert!(s.client.cpu_cores * s.span_s >= 0.19, "{s:?}");
    assert!(s.client.rss_bytes > 1024 * 1024, "{s:?}");
    assert!(s.targets.is_empty() && s.network.is_empty());
}

#[test]
fn loopback_bytes_grow_with_real_traffic() {
    const BYTES: usize = 2 * 1024 * 1024;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut sampler = Sampler::new(&Watch::default(), [addr, addr]);
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got.len()
    });
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(&vec![7u8; BYTES]).unwrap();
    drop(conn);
    assert_eq!(reader.join().unwrap(), BYTES);
    let s = sampler.sample();
    let [lo] = s.network.as_slice() else {
        panic!("one interface for one target: {s:?}")
    };
    // Other traffic on the machine may add to it, never take from it.
    assert!(
        lo.rx_bytes >= BYTES as u64 && lo.tx_bytes >= BYTES as u64,
        "{lo:?}"
    );
    assert!(lo.rx_packets > 0 && lo.tx_packets > 0);
}

fn sample(span_s: f64, cpu: f64, rss: u64, rx: u64) -> ResourceSample {
    ResourceSample {
        span_s,
        client: ClientUsage {
            cpu_cores: cpu,
            rss_bytes: rss,
        },
        targets: vec![TargetUsage {
            name: "nginx".into(),
            pid: Some(7),
            cpu_cores: cpu / 2.0,
            rss_bytes: Some(rss / 2),
        }],
        network: vec![InterfaceUsage {
            interface: "lo".into(),
            rx_bytes: rx,
            tx_bytes: rx,
            rx_packets: rx / 100,
            tx_packets: rx / 100,
        }],
    }
}

#[test]
fn a_sample_split_over_intervals_keeps_rates_and_sums() {
    let parts = sample(3.0, 1.5, 100, 1001).split(3);
    assert_eq!(parts.len(), 3);
    assert!(parts
        .iter()
        .all(|p| p.span_s == 1.0 && p.client.cpu_cores == 1.5));
    let rx: Vec<u64> = parts.iter().map(|p| p.network[0].rx_bytes).collect();
    assert_eq!(rx, [335, 333, 333]);
    assert_eq!(sample(1.0, 1.0, 1, 1).split(0).len(), 1);
}

#[test]
fn totals_come_from_the_series() {
    let mut series: Vec<IntervalStats> = (0..3)
        .map(|i| IntervalStats::new(i, Duration::from_secs(1), &crate::Tally::new(), 0))
        .collect();
    assert_eq!(ResourceTotals::from_series(&series), None);
    series[0].resources = Some(sample(1.0, 1.0, 300, 1000));
    series[1].resources = Some(sample(1.0, 2.0, 500, 2000));
    series[2].resources = Some(sample(2.0, 0.5, 400, 3000));
    let t = ResourceTotals::from_series(&series).unwrap();
    assert_eq!(t.peak_client_rss_bytes, 500);
    assert_eq!(t.mean_client_cpu_cores, 1.0, "(1 + 2 + 0.5 x 2) / 4 s");
    assert_eq!(t.network.len(), 1);
    assert_eq!((t.network[0].rx_bytes, t.network[0].tx_packets), (6000, 60));
    assert_eq!(
        t.targets,
        vec![TargetTotals {
            name: "nginx".into(),
            pid: Some(7),
            mean_cpu_cores: 0.5,
            peak_rss_bytes: Some(250),
        }]
    );
}
