//! The open model, stages, warm-up, the time series and the HDR log, against
//! the built-in server on loopback. Counts depend on the schedule only, never
//! on machine speed.

mod support;

use std::time::Duration;

use myriad::config::OpenModel;
use myriad::schedule::{Arrival, Stages};
use myriad::{Config, Stop, Summary};
use myriad_server::{Delay, ServerConfig};
use support::*;

fn open_config(url: String, rate: f64, connections: usize, stop: Stop) -> Config {
    let mut c = Config::new(&[url]).unwrap();
    c.connections = connections;
    c.threads = 2;
    c.stop = stop;
    c.open = Some(OpenModel {
        rate,
        stages: None,
        arrival: Arrival::Uniform,
    });
    c
}

fn run(c: Config) -> Summary {
    let s = myriad::run(c).unwrap();
    assert_balanced(&s);
    assert!(s.warmup.balanced());
    s
}

#[test]
fn constant_rate_sends_exactly_the_schedule() {
    let server = builtin(ServerConfig::default());
    // 200/s for 1 s: requests due at 5 ms, 10 ms, ... 995 ms (1 s is the end).
    let c = open_config(
        url(server.local_addr()),
        200.0,
        50,
        Stop::Duration(Duration::from_secs(1)),
    );
    let s = run(c);
    assert_eq!(s.total.issued(), 199);
    assert_eq!(s.total.dropped(), 0);
    assert_eq!(s.total.succeeded(), 199);
    assert!(s.open_model);
    assert_eq!(s.total.service().len(), 199, "service time is recorded too");
    assert!(
        s.connections_opened < 50,
        "connections open as needed, not all at once"
    );
}

#[test]
fn a_request_count_bounds_the_open_model() {
    let server = builtin(ServerConfig::default());
    let s = run(open_config(
        url(server.local_addr()),
        500.0,
        20,
        Stop::Requests(101),
    ));
    assert_eq!(s.total.issued(), 101);
}

#[test]
fn requests_beyond_the_connection_cap_are_dropped_not_delayed() {
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    // 100/s for 1 s over at most 4 connections busy 300 ms each: most are dropped.
    let s = run(open_config(
        url(server.local_addr()),
        100.0,
        4,
        Stop::Duration(Duration::from_secs(1)),
    ));
    assert_eq!(
        s.total.issued() + s.total.dropped(),
        99,
        "every due request is issued or dropped"
    );
    assert!(s.total.dropped() >= 80, "dropped {}", s.total.dropped());
    assert!(s.total.issued() <= 16);
    assert!(s.total.latency().min() >= 300_000);
}

#[test]
fn latency_counts_from_when_the_request_was_due() {
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(50)),
        ..ServerConfig::default()
    });
    let s = run(open_config(
        url(server.local_addr()),
        50.0,
        20,
        Stop::Duration(Duration::from_secs(1)),
    ));
    let (corrected, service) = (s.total.latency(), s.total.service());
    assert_eq!(corrected.len(), service.len());
    assert!(service.min() >= 50_000);
    // Due time is never after the send, so corrected latency is never below service time.
    assert!(corrected.value_at_quantile(0.5) >= service.value_at_quantile(0.5));
}

#[test]
fn stages_ramp_the_rate() {
    let server = builtin(ServerConfig::default());
    let mut c = open_config(
        url(server.local_addr()),
        0.0,
        50,
        Stop::Duration(Duration::from_secs(2)),
    );
    // 0 -> 200/s over 1 s (100 requests), then 200/s for 1 s (200 requests).
    let stages: Stages = "1s:200,1s:200".parse().unwrap();
    c.open.as_mut().unwrap().stages = Some(stages);
    let s = run(c);
    let issued = s.total.issued();
    assert!((298..=300).contains(&issued), "issued {issued}");
}

#[test]
fn poisson_arrivals_average_the_rate() {
    let server = builtin(ServerConfig::default());
    let mut c = open_config(
        url(server.local_addr()),
        1000.0,
        100,
        Stop::Duration(Duration::from_secs(1)),
    );
    c.open.as_mut().unwrap().arrival = Arrival::Poisson;
    let s = run(c);
    // 1000 expected; a Poisson count's standard deviation is about 32.
    let issued = s.total.issued() + s.total.dropped();
    assert!((850..=1150).contains(&issued), "scheduled {issued}");
}

#[test]
fn warmup_is_kept_out_of_the_statistics() {
    let server = builtin(ServerConfig::default());
    let mut c = open_config(
        url(server.local_addr()),
        100.0,
        10,
        Stop::Duration(Duration::from_secs(1)),
    );
    c.warmup = Some(Duration::from_millis(500));
    let s = run(c);
    // Due before 500 ms: 10 ms .. 490 ms (49); after: 500 ms .. 990 ms (50).
    assert_eq!(s.warmup.issued(), 49);
    assert_eq!(s.total.issued(), 50);
}

#[test]
fn time_series_adds_up_and_the_hdr_log_has_every_interval() {
    let server = builtin(ServerConfig::default());
    let dir = std::env::temp_dir().join(format!("myriad-hdr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("latency.hlog");
    let mut c = open_config(
        url(server.local_addr()),
        400.0,
        20,
        Stop::Duration(Duration::from_millis(1500)),
    );
    c.stats_interval = Duration::from_millis(250);
    c.hdr_log = Some(log.clone());
    let s = run(c);
    let in_series: u64 = s.series.iter().map(|i| i.requests).sum();
    assert_eq!(in_series, s.total.completed());
    assert!(s.series.len() >= 6, "{} intervals", s.series.len());
    assert!(s.series.windows(2).all(|w| w[0].t_s < w[1].t_s));
    let text = std::fs::read(&log).unwrap();
    let histograms: Vec<_> =
        hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&text)
            .filter_map(|e| match e {
                Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(h)) => {
                    Some(h.duration())
                }
                _ => None,
            })
            .collect();
    assert_eq!(histograms.len(), s.series.len());
    assert!(histograms.iter().all(|d| *d == Duration::from_millis(250)));
    // The log's histograms parse back and hold every response of the report.
    let mut logged = 0u64;
    for entry in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&text) {
        if let Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(h)) = entry {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .unwrap();
            let hist: hdrhistogram::Histogram<u64> =
                hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .unwrap();
            logged += hist.len();
        }
    }
    assert_eq!(logged, s.total.latency().len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn find_max_converges_to_littles_law() {
    use myriad::find_max::{find_max, SearchOptions};
    // Ten connections, each busy 100 ms per request: by Little's law at most
    // 10 / 0.1 s = 100 requests/s before requests are dropped at the cap.
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(100)),
        ..ServerConfig::default()
    });
    let mut base = Config::new(&[url(server.local_addr())]).unwrap();
    base.connections = 10;
    base.threads = 1;
    let slos = vec!["error_rate<1%".parse().unwrap()];
    let opts = SearchOptions {
        start_rate: 25.0,
        step: Duration::from_secs(1),
        max_time: Duration::from_secs(15),
        precision: 0.05,
        max_rate: None,
    };
    let started = std::time::Instant::now();
    let report = find_max(&base, &slos, &opts, || false).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let best = report.best_rate.expect("some rate passes");
    assert!(
        (90.0..=110.0).contains(&best),
        "best {best}: {:#?}",
        report.steps
    );
    let failed = report.failed_rate.expect("some rate fails");
    assert!(failed > best);
    assert!(report.steps.iter().any(|s| !s.passed && s.dropped > 0));
}

#[test]
fn a_server_stall_shows_in_corrected_latency_and_nothing_is_lost() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    // A server that answers at once, except that everything arriving in
    // [1.5 s, 2.5 s) of the run waits until 2.5 s.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let origin: Arc<Mutex<Option<std::time::Instant>>> = Arc::new(Mutex::new(None));
    let o = origin.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let o = o.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let start = o.lock().unwrap().unwrap();
                        let t = start.elapsed();
                        if t >= Duration::from_millis(1500) && t < Duration::from_millis(2500) {
                            std::thread::sleep(Duration::from_millis(2500) - t);
                        }
                        if conn
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    let c = open_config(
        url(addr),
        200.0,
        400,
        Stop::Duration(Duration::from_secs(4)),
    );
    *origin.lock().unwrap() = Some(std::time::Instant::now());
    let s = run(c);
    // 200/s for 4 s: due at 5 ms .. 3995 ms.
    assert_eq!(
        s.total.issued() + s.total.dropped(),
        799,
        "every due request is counted"
    );
    assert_eq!(s.total.succeeded(), s.total.issued());
    // About a quarter of the requests were due during the stall and waited up
    // to a second: the 99th percentile must show it.
    assert!(s.total.latency().value_at_quantile(0.99) >= 500_000);
    assert!(s.total.latency().value_at_quantile(0.5) < 200_000);
}

#[test]
fn closed_model_stages_ramp_the_connections() {
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(5)),
        ..ServerConfig::default()
    });
    let mut c = Config::new(&[url(server.local_addr())]).unwrap();
    c.connections = 6;
    c.threads = 2;
    // 0 -> 6 connections over 600 ms, then back to 0 over 600 ms.
    let stages: Stages = "600ms:6,600ms:0".parse().unwrap();
    c.stop = Stop::Duration(stages.total());
    c.ramp = Some(stages);
    c.stats_interval = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let s = run(c);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!s.open_model);
    assert!(s.total.issued() > 0);
    assert_eq!(
        s.gauges.established, 6,
        "every connection works at the peak"
    );
    assert!(s.gauges.peak_open <= 6);
    assert_eq!(s.gauges.open, 0, "the ramp down closes them");
    // At most 2 connections work in the first 200 ms, up to 6 around 600 ms.
    let busiest = s.series.iter().map(|i| i.requests).max().unwrap();
    assert!(s.series[0].requests * 2 < busiest, "{:?}", s.series);
}
