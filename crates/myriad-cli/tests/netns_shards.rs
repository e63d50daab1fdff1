//! A sharded run on five "hosts": network namespaces made by the test (`ip
//! netns`, veth pairs on a bridge, from Debian's iproute2), `myriad serve` in
//! one, and each of 4 shards in its own, connecting from its own address in
//! 198.18.0.0/15 (set aside for benchmarking; the addresses exist only inside
//! these namespaces). The merged result is checked to be exactly the whole
//! run. Everything is removed at the end, also when the test fails (a Drop
//! guard). Where namespaces cannot be made (not root, no iproute2) the test
//! says so and passes without running.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod support;
use support::result_files::{histogram, read};

const SHARDS: usize = 4;
const SERVER: &str = "198.18.0.1";

/// The namespaces, links and processes this test made; removed when dropped.
struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    server: Option<Child>,
    dir: PathBuf,
}

impl Lab {
    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// `ip ARGS`, which must succeed.
    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds namespace `name`; `Err` with why when it cannot be made.
    fn add_ns(&mut self, name: &str) -> Result<String, String> {
        let ns = self.ns(name);
        let out = Command::new("ip")
            .args(["netns", "add", &ns])
            .output()
            .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ip netns add failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        self.namespaces.push(ns.clone());
        self.ip(&["-n", &ns, "link", "set", "lo", "up"]);
        Ok(ns)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting a namespace deletes its links (the bridge, the veths).
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn four_shards_on_four_hosts_merge_exactly() {
    let pid = std::process::id();
    let mut lab = Lab {
        prefix: format!("myriad{pid}"),
        namespaces: Vec::new(),
        server: None,
        dir: std::env::temp_dir().join(format!("myriad-netns-{pid}")),
    };
    let srv = match lab.add_ns("srv") {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!(
                "skipped four_shards_on_four_hosts_merge_exactly: cannot make network namespaces here ({why}); it needs root and iproute2"
            );
            return;
        }
    };
    std::fs::create_dir_all(&lab.dir).unwrap();
    // The server's host: a bridge holding the server's address, one port per shard.
    let bridge = format!("b{pid}");
    lab.ip(&["-n", &srv, "link", "add", &bridge, "type", "bridge"]);
    lab.ip(&[
        "-n",
        &srv,
        "addr",
        "add",
        &format!("{SERVER}/24"),
        "dev",
        &bridge,
    ]);
    lab.ip(&["-n", &srv, "link", "set", &bridge, "up"]);
    let mut hosts = Vec::new();
    for i in 0..SHARDS {
        let ns = lab.add_ns(&format!("s{i}")).unwrap();
        let (end, peer) = (format!("v{pid}s{i}"), format!("v{pid}p{i}"));
        // Made inside the server's namespace, one end moved to the shard's:
        // no link ever exists outside the test's namespaces.
        lab.ip(&[
            "-n", &srv, "link", "add", &end, "type", "veth", "peer", "name", &peer,
        ]);
        lab.ip(&["-n", &srv, "link", "set", &end, "netns", &ns]);
        lab.ip(&["-n", &srv, "link", "set", &peer, "master", &bridge, "up"]);
        let addr = format!("198.18.0.{}", 10 + i);
        lab.ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", &end]);
        lab.ip(&["-n", &ns, "link", "set", &end, "up"]);
        hosts.push((ns, addr));
    }

    let exe = env!("CARGO_BIN_EXE_myriad");
    let listen = format!("{SERVER}:8080");
    let mut server = Command::new("ip")
        .args([
            "netns", "exec", &srv, exe, "serve", "--json", "--listen", &listen,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    lab.server = Some(server);
    // The listening line comes once the socket is bound.
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains(&listen), "listening line: {line:?}");

    let url = format!("http://{listen}/");
    let start = rfc3339(SystemTime::now() + Duration::from_secs(2));
    let files: Vec<String> = (0..SHARDS)
        .map(|i| {
            lab.dir
                .join(format!("shard-{i}.json"))
                .display()
                .to_string()
        })
        .collect();
    let children: Vec<Child> = hosts
        .iter()
        .enumerate()
        .map(|(i, (ns, addr))| {
            // Each shard's host has only its own address toward the server.
            let shown = Command::new("ip")
                .args(["-n", ns, "-4", "-o", "addr", "show", "scope", "global"])
                .output()
                .unwrap();
            let shown = String::from_utf8_lossy(&shown.stdout);
            assert!(shown.contains(&format!("inet {addr}/24")), "{shown}");
            let shard = format!("{i}/{SHARDS}");
            Command::new("ip")
                .args(["netns", "exec", ns, exe, "run", "-q", "--json"])
                .args(["--shard", &shard, "--start-at", &start, "-o", &files[i]])
                .args(["-n", "2001", "-c", "8", "-t", "1", &url])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let docs: Vec<Value> = files.iter().map(|f| read(f)).collect();
    for (i, d) in docs.iter().enumerate() {
        assert_eq!(d["result"]["shard"]["index"], i);
        assert_eq!(
            d["result"]["shard"]["run"],
            docs[0]["result"]["shard"]["run"]
        );
        let expected = 2001 / SHARDS + usize::from(i < 2001 % SHARDS);
        assert_eq!(d["total"]["requests"]["issued"], expected, "shard {i}");
        assert_eq!(d["total"]["requests"]["failures"], 0, "shard {i}");
    }
    let out = Command::new(exe)
        .args(["report", "--json"])
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged["total"]["requests"]["issued"], 2001);
    assert_eq!(merged["total"]["requests"]["succeeded"], 2001);
    assert_eq!(merged["total"]["latency_us"]["count"], 2001);
    let rows = merged["inputs"].as_array().unwrap();
    assert_eq!(rows.len(), SHARDS);
    // The merged histogram is the shards' histograms together, exactly.
    let mut samples = histogram(&docs[0]["result"]["total"]["latency"]);
    for d in &docs[1..] {
        samples
            .add(histogram(&d["result"]["total"]["latency"]))
            .unwrap();
    }
    let l = &merged["total"]["latency_us"];
    for (field, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)] {
        assert_eq!(
            l[field].as_u64(),
            Some(samples.value_at_quantile(q)),
            "{field}"
        );
    }
    assert_eq!(l["max"].as_u64(), Some(samples.max()));

    // The server counted every request, no more.
    let mut server = lab.server.take().unwrap();
    unsafe { libc::kill(server.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    for l in stdout.lines() {
        rest.push_str(&l.unwrap());
        rest.push('\n');
    }
    server.wait().unwrap();
    let counters: Value = rest
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON counters: {rest}"));
    assert_eq!(counters["requests_served"], 2001, "{counters}");
}
