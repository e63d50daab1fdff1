//! `myriad demo`: the original one-million-request experiment in one command.
//!
//! Starts the built-in server in this process on an ephemeral loopback port,
//! makes the requests over the original experiment's 1,000 concurrent
//! connections, prints the report and sets it beside the original figures.

use std::io::Write;

use clap::Args;

use myriad::report::{format_bytes, format_count, HtmlSection};
use myriad::{Config, Load, Plan, Stop, Summary};
use myriad_server::ServerConfig;

use crate::args::{at_least_one, at_least_one_u64, EXIT_FAILURE, EXIT_USAGE};
use crate::run::{create_report_file, drive, emit, html_output, outputs, Format, Live};

/// The original experiment (Python asyncio + aiohttp, a semaphore of 1,000):
/// one million requests in about nine minutes, 3.8 GB of client memory.
const ORIGINAL_REQUESTS: u64 = 1_000_000;
const ORIGINAL_SECONDS: f64 = 540.0;
const ORIGINAL_MEMORY: &str = "3.8 GB";

/// `myriad demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Total requests.
    #[arg(short = 'n', long, value_name = "N", default_value = "1000000", value_parser = at_least_one_u64)]
    pub requests: u64,
    /// Concurrent connections (the original experiment's semaphore was 1,000).
    #[arg(short = 'c', long, value_name = "N", default_value = "1000", value_parser = at_least_one)]
    pub connections: usize,
    /// Server delay before each response: 0, 50ms, or a uniform range 0..3s.
    #[arg(long, value_name = "DELAY", default_value = "0")]
    pub delay: myriad_server::Delay,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write a result file to FILE (see `myriad run -o`).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// No dashboard and no live progress line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// No live dashboard on a terminal: the plain progress line instead.
    #[arg(long)]
    pub no_tui: bool,
    /// Also write the report, with the comparison, as one self-contained HTML file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// The demo over HTTPS: the built-in server with a self-signed
    /// certificate, which the client verifies (it trusts just that one).
    #[arg(long)]
    pub tls: bool,
}

/// Runs `myriad demo` and returns the exit code.
pub fn execute(args: DemoArgs) -> i32 {
    let cores = myriad::config::available_cores();
    // Split the cores between the server and the load generator.
    let server_threads = (cores / 2).max(1);
    let client_threads = cores.saturating_sub(server_threads).max(1);
    let html = match create_report_file("--html", args.html.as_deref()) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let listener = match myriad_server::bind(([127, 0, 0, 1], 0).into()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot open a loopback port for the built-in server: {e}");
            return EXIT_FAILURE;
        }
    };
    let server_config = ServerConfig {
        delay: args.delay,
        ..ServerConfig::default()
    };
    let delay = server_config.delay.to_string();
    // With --tls: a self-signed certificate, written where the client's
    // --cacert can read it, so the demo verifies as a real run would.
    let identity = match args.tls.then(myriad_server::TlsIdentity::self_signed) {
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            eprintln!("error: cannot make the demo's certificate: {e}");
            return EXIT_FAILURE;
        }
        None => None,
    };
    let acceptor = match identity.as_ref().map(|id| id.acceptor()) {
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            eprintln!("error: cannot set up the demo's TLS: {e}");
            return EXIT_FAILURE;
        }
        None => None,
    };
    let server = match myriad_server::spawn_on(
        vec![listener.into()],
        server_config,
        acceptor,
        server_threads,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the built-in server: {e}");
            return EXIT_FAILURE;
        }
    };
    let cert_file = match &identity {
        Some(id) => {
            let path = std::env::temp_dir().join(format!("myriad-demo-{}.pem", std::process::id()));
            if let Err(e) = std::fs::write(&path, id.cert_pem()) {
                eprintln!(
                    "error: cannot write the demo's certificate to '{}': {e}",
                    path.display()
                );
                return EXIT_FAILURE;
            }
            Some(path)
        }
        None => None,
    };
    let scheme = if args.tls { "https" } else { "http" };
    let url = format!("{scheme}://{}/", server.local_addr());
    let mut config = match Config::new(&[url.as_str()]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    config.load = Load::Closed {
        connections: args.connections,
        stop: Stop::Requests(args.requests),
    };
    config.threads = client_threads;
    // The built-in server's threads (`myriad-server`, `myriad-server-worker`)
    // are told apart from the client's by name: its CPU is reported as the
    // target's.
    config.watch.threads_named = Some("myriad-server".into());
    config.tls.cacerts = cert_file.iter().cloned().collect();
    let output = match create_report_file("-o/--output", args.output.as_deref()) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let plan = match Plan::new(config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let ran = output.is_some().then(|| plan.config.clone());
    // The engine's own plan says how many client threads it will use.
    let header = format!(
        "myriad demo: {} requests over {} connections to the built-in server at {url} (server delay {delay}; {server_threads} server + {} client threads)",
            format_count(args.requests),
            format_count(args.connections as u64),
            plan.shape.threads_per_process,
    );
    if !args.json {
        eprintln!("{header}");
    }
    let live = Live::choose(args.quiet || args.json, args.no_tui, header);
    let summary = match drive(plan, Vec::new(), live) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let served = server.shutdown();
    if let Some(path) = &cert_file {
        let _ = std::fs::remove_file(path);
    }
    let mut outputs = outputs(args.json, output);
    if let Some(mut html) = html_output(html, "myriad demo: one million requests".to_string()) {
        if let Format::Html(reporter) = &mut html.format {
            reporter.sections.push(HtmlSection {
                heading: "Compared with the original experiment".to_string(),
                note: Some(
                    "Python asyncio + aiohttp, a semaphore of 1,000; myriad's memory is the whole process, built-in server included."
                        .to_string(),
                ),
                columns: ["", "original", "myriad"].map(String::from).to_vec(),
                rows: comparison_rows(&summary)
                    .into_iter()
                    .map(|r| r.to_vec())
                    .collect(),
            });
        }
        outputs.push(html);
    }
    let code = emit(&summary, ran.as_ref(), outputs);
    if !args.json {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", comparison(&summary));
        let _ = writeln!(
            out,
            "  (built-in server: {} connections accepted, {} requests served)",
            format_count(served.connections_accepted),
            format_count(served.requests_served)
        );
    }
    code
}

/// The demo beside the original experiment: label, original, myriad.
fn comparison_rows(s: &Summary) -> [[String; 3]; 4] {
    let secs = s.elapsed.as_secs_f64();
    let per_minute = s.requests_per_second() * 60.0;
    let original_per_minute = ORIGINAL_REQUESTS as f64 / ORIGINAL_SECONDS * 60.0;
    [
        [
            "requests".to_string(),
            format_count(ORIGINAL_REQUESTS),
            format_count(s.total.completed()),
        ],
        [
            "wall time".to_string(),
            "~9 min (540 s)".to_string(),
            format!("{secs:.2} s"),
        ],
        [
            "requests/minute".to_string(),
            format!("~{}", format_count(original_per_minute.round() as u64)),
            format_count(per_minute.round() as u64),
        ],
        [
            "client memory".to_string(),
            ORIGINAL_MEMORY.to_string(),
            format!("{} peak RSS*", format_bytes(s.peak_rss_bytes as f64)),
        ],
    ]
}

fn comparison(s: &Summary) -> String {
    let per_minute = s.requests_per_second() * 60.0;
    let original_per_minute = ORIGINAL_REQUESTS as f64 / ORIGINAL_SECONDS * 60.0;
    let speedup = if per_minute > 0.0 {
        format!("  {:.0}x the rate", per_minute / original_per_minute)
    } else {
        "  -".to_string()
    };
    let mut out = format!(
        "\nCompared with the original experiment (Python asyncio + aiohttp, semaphore of 1,000)\n{:<18}{:>22}{:>22}\n",
        "", "original", "myriad"
    );
    for (i, [label, original, mine]) in comparison_rows(s).iter().enumerate() {
        let tail = if i == 2 { speedup.as_str() } else { "" };
        out += &format!(
            "{:<18}{original:>22}{mine:>22}{tail}\n",
            format!("  {label}")
        );
    }
    out + "  * the whole process, built-in server included\n"
}
