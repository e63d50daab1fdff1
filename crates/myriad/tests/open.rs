//! The open model, stages, warm-up, the time series and the HDR log, against
//! the built-in server on loopback. Counts depend on the schedule only, never
//! on machine speed.

mod support;

use std::time::Duration;

use myriad::config::OpenModel;
use myriad::schedule::{Arrival, Stages};
use myriad::{Config, ErrorKind, Load, Stop, Summary, WhenBusy};
use myriad_server::{Delay, ServerConfig};
use support::*;

fn open_config(url: String, rate: f64, connections: usize, stop: Stop) -> Config {
    let mut c = Config::new(&[url]).unwrap();
    c.threads = 2;
    c.load = Load::Open {
        model: OpenModel {
            rate,
            stages: None,
            arrival: Arrival::Uniform,
            when_busy: WhenBusy::Queue,
        },
        max_connections: connections,
        stop,
    };
    c
}

/// The open model's settings of `c`, to change.
fn model(c: &mut Config) -> &mut OpenModel {
    match &mut c.load {
        Load::Open { model, .. } => model,
        other => panic!("not the open model: {other:?}"),
    }
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
fn with_when_busy_drop_requests_beyond_the_connection_cap_are_dropped_not_delayed() {
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    // 100/s for 1 s over at most 4 connections busy 300 ms each: most are dropped.
    let mut c = open_config(
        url(server.local_addr()),
        100.0,
        4,
        Stop::Duration(Duration::from_secs(1)),
    );
    model(&mut c).when_busy = WhenBusy::Drop;
    let s = run(c);
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
    c.load = Load::open_stages(0.0, stages, 50).unwrap();
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
    model(&mut c).arrival = Arrival::Poisson;
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
    let started = myriad::start(c).unwrap();
    started.subscribe(Box::new(myriad::feed::HdrLogSink::create(&log).unwrap()));
    let s = started.wait().unwrap();
    assert_balanced(&s);
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
fn series_keeps_interval_tallies_only_when_asked() {
    let server = builtin(ServerConfig::default());
    let config = |keep: bool| {
        let mut c = open_config(
            url(server.local_addr()),
            400.0,
            20,
            Stop::Duration(Duration::from_millis(1000)),
        );
        c.stats_interval = Duration::from_millis(250);
        c.series_tallies = keep;
        c
    };
    // Kept (the default): each interval's tally holds its responses, for
    // result files and exact merges.
    assert!(Config::new(&["http://127.0.0.1/"]).unwrap().series_tallies);
    let s = run(config(true));
    assert!(s.series.len() >= 4, "{} intervals", s.series.len());
    for i in &s.series {
        let w = *i.tally.clone().expect("kept");
        let t = myriad::metrics::Tally::try_from(w).unwrap();
        assert_eq!(t.completed(), i.requests);
        assert_eq!(t.latency().len(), i.requests);
    }
    // Not kept: the same figures, without the histograms (a long run's
    // memory stays flat).
    let s = run(config(false));
    assert!(s.series.len() >= 4, "{} intervals", s.series.len());
    assert!(s.series.iter().all(|i| i.tally.is_none()));
    let in_series: u64 = s.series.iter().map(|i| i.requests).sum();
    assert_eq!(in_series, s.total.completed());
    assert!(s.series.iter().any(|i| i.p50_us > 0));
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
    base.load = Load::closed(10, Stop::Requests(1)).unwrap();
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
    // Little's law bounds it from above whatever the machine; from below,
    // each request's own cost (timers, scheduling: a few ms on a loaded
    // machine) lowers the true capacity a little, never by a third.
    assert!(
        (70.0..=110.0).contains(&best),
        "best {best}: {:#?}",
        report.steps
    );
    let failed = report.failed_rate.expect("some rate fails");
    assert!(failed > best);
    // Past the cap requests wait for a connection (and their latency shows it).
    assert!(report.steps.iter().any(|s| !s.passed && s.queued > 0));
}

#[test]
fn a_server_stall_shows_in_corrected_latency_and_nothing_is_lost() {
    // A server that answers at once, except that everything arriving in
    // [1.5 s, 2.5 s) of the run waits until 2.5 s.
    let (addr, origin) = stalling_server(Duration::from_millis(1500), Duration::from_millis(2500));
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
    c.threads = 2;
    // 0 -> 6 connections over 600 ms, then back to 0 over 600 ms.
    let stages: Stages = "600ms:6,600ms:0".parse().unwrap();
    c.load = Load::closed_ramp(stages).unwrap();
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

/// A server that answers at once, except that a request arriving between
/// `from` and `to` after the origin (set by the test just before its run)
/// waits until `to`: a stall of the whole server.
fn stalling_server(
    from: Duration,
    to: Duration,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
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
                        if t >= from && t < to {
                            // The stall under test.
                            std::thread::sleep(to - t);
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
    (addr, origin)
}

#[test]
fn a_stall_with_every_connection_busy_shows_in_latency_not_in_drops() {
    // The case wrk2 reports truthfully and a dropping open model hides: 400/s
    // over at most 100 connections, the server frozen for 1 s. The 100
    // connections are stuck in the freeze; the ~300 requests due after them
    // wait for a connection, and their latency counts from when they were due.
    let (addr, origin) = stalling_server(Duration::from_millis(1000), Duration::from_millis(2000));
    let c = open_config(
        url(addr),
        400.0,
        100,
        Stop::Duration(Duration::from_secs(3)),
    );
    *origin.lock().unwrap() = Some(std::time::Instant::now());
    let s = run(c);
    // 400/s for 3 s: due at 2.5 ms .. 2997.5 ms.
    assert_eq!(s.total.issued(), 1199, "every due request is sent");
    assert_eq!(s.total.dropped(), 0);
    assert_eq!(s.total.succeeded(), 1199);
    assert!(s.total.queued() >= 200, "queued {}", s.total.queued());
    // A third of the requests were due during the freeze and waited up to a
    // second for it to end: the 90th percentile must show it.
    let p90 = s.total.latency().value_at_quantile(0.9);
    assert!(p90 >= 300_000, "p90 {p90} µs");
    // Their wait was the server's (it held every connection), not the
    // generator's: it is counted as queued and stays out of the send lag, so
    // the self-check does not blame the generator for it.
    let lag_p99 = s.send_lag.value_at_quantile(0.99);
    assert!(lag_p99 < 100_000, "send lag p99 {lag_p99} µs");
    assert!(
        s.send_lag.len() < s.total.issued(),
        "queued ones are left out"
    );
}

#[test]
fn a_request_that_waits_longer_than_its_timeout_ends_as_a_timeout() {
    let server = builtin(ServerConfig {
        delay: Delay::Fixed(Duration::from_millis(300)),
        ..ServerConfig::default()
    });
    // 100/s for 1 s over 2 connections busy 300 ms each: about 7 can be
    // served within a 1 s timeout of being due; the rest time out waiting.
    let mut c = open_config(
        url(server.local_addr()),
        100.0,
        2,
        Stop::Duration(Duration::from_secs(1)),
    );
    c.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let s = run(c);
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "the run ends within its duration plus its timeout"
    );
    assert_eq!(s.total.issued(), 99);
    assert_eq!(s.total.dropped(), 0);
    let timeouts = s.total.errors(ErrorKind::Timeout);
    assert_eq!(s.total.succeeded() + timeouts, 99);
    assert!(timeouts >= 70, "timeouts {timeouts}");
    assert!(
        s.total.latency().max() <= 1_100_000,
        "no latency beyond the timeout"
    );
}

#[test]
fn every_due_request_is_counted_at_a_rate_beyond_the_server() {
    // Far more due than the server or the generator can send: the scheduler
    // runs late, yet every request due before the end is issued or dropped,
    // exactly (the count depends on the schedule only).
    let server = builtin(ServerConfig::default());
    for when_busy in [WhenBusy::Drop, WhenBusy::Queue] {
        let mut c = open_config(
            url(server.local_addr()),
            200_000.0,
            20,
            Stop::Duration(Duration::from_secs(1)),
        );
        model(&mut c).when_busy = when_busy;
        c.timeout = Duration::from_millis(500);
        let s = run(c);
        assert_eq!(
            s.total.issued() + s.total.dropped(),
            199_999,
            "{when_busy:?}: due at 5 µs .. 999,995 µs"
        );
    }
}
