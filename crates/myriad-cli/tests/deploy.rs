//! The Kubernetes manifests of deploy/kubernetes/ against the real binary:
//! the shards Job's command line parses with `myriad run --dry-run` for every
//! index, its shape is an Indexed Job of N, and the merge Job's command merges
//! the files the shards write. (Their schemas are validated by `.ci/run` with
//! kubernetes-validate.) Traffic goes to a server on 127.0.0.1 only.

use std::path::Path;

mod support;
use support::binary::{assert_exit_0, assert_exit_0_of, myriad};
use support::scratch::Dir;
use support::server::server;

fn manifest(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of the first `key: value` line (trimmed) in `yaml`.
fn field<'a>(yaml: &'a str, key: &str) -> &'a str {
    yaml.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key}: in the manifest"))
        .trim()
        .trim_matches('"')
}

/// The container's args: one flow list on one line, which is JSON too.
fn args(yaml: &str) -> Vec<String> {
    let line = field(yaml, "args");
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("args are not one JSON list ({e}): {line}"))
}

/// `args` as pod `index` would run them, with /results in `dir`.
fn substitute(args: &[String], index: usize, start_at: &str, dir: &Path) -> Vec<String> {
    let results = format!("{}/", dir.display());
    args.iter()
        .map(|a| {
            a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
                .replace("$(MYRIAD_START_AT)", start_at)
                .replace("/results/", &results)
        })
        .collect()
}

#[test]
fn the_shards_job_runs_every_shard_of_one_run_and_the_merge_job_merges_them() {
    let job = manifest("30-shards-job.yaml");
    assert_eq!(field(&job, "kind"), "Job");
    assert_eq!(field(&job, "completionMode"), "Indexed");
    let n: usize = field(&job, "completions").parse().unwrap();
    assert_eq!(field(&job, "parallelism"), n.to_string());
    let shard_args = args(&job);
    assert_eq!(shard_args[0], "run");
    let shard = shard_args.iter().position(|a| a == "--shard").unwrap();
    assert_eq!(
        shard_args[shard + 1],
        format!("$(JOB_COMPLETION_INDEX)/{n}"),
        "--shard must say the Job's completions"
    );
    let config = manifest("20-results.yaml");
    let start_at = field(&config, "start-at");
    let url = shard_args.last().unwrap().clone();
    let host_port = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let dir = Dir::new("deploy");

    // Every pod's command line parses and plans (the Service's name does not
    // resolve here: --connect-to stands in for the cluster's DNS).
    let mut run_ids = Vec::new();
    for i in 0..n {
        let mut cmd = substitute(&shard_args, i, start_at, &dir);
        cmd.extend([
            "--dry-run".to_string(),
            "--connect-to".to_string(),
            format!("{host_port}:127.0.0.1:9"),
        ]);
        let out = myriad(&cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_exit_0_of(format!("{cmd:?}"), &out);
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("shard "))
            .unwrap_or_else(|| panic!("no shard line: {stdout}"));
        assert!(line.contains(&format!("{i}/{n} of run ")), "{line}");
        run_ids.push(line.split_whitespace().nth(4).unwrap().to_string());
        assert!(stdout.contains("start at"), "{stdout}");
    }
    assert!(run_ids.iter().all(|r| *r == run_ids[0]), "{run_ids:?}");

    // The merge Job lists exactly the files the shards write, and its
    // command merges them: shards of a small run against a local server.
    let merge = manifest("40-merge-job.yaml");
    let merge_args = args(&merge);
    assert_eq!(merge_args[0], "report");
    let files: Vec<&String> = merge_args
        .iter()
        .filter(|a| a.starts_with("/results/shard-"))
        .collect();
    let written: Vec<String> = (0..n)
        .map(|i| {
            let o = shard_args.iter().position(|a| a == "-o").unwrap();
            shard_args[o + 1].replace("$(JOB_COMPLETION_INDEX)", &i.to_string())
        })
        .collect();
    assert_eq!(files, written.iter().collect::<Vec<_>>());
    let server = server();
    let local = support::server::url(&server);
    for (i, file) in written.iter().enumerate() {
        let file = file.replace("/results/", &format!("{}/", dir.display()));
        let shard = format!("{i}/{n}");
        let cmd: Vec<String> = [
            "run", "-q", "--shard", &shard, "-o", &file, "-n", "40", "-c", "4", "-t", "1", &local,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = myriad(&cmd);
        assert_exit_0(&out);
    }
    let out = myriad(&substitute(&merge_args, 0, start_at, &dir));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_exit_0(&out);
    assert!(text.contains("40 issued = 40 succeeded"), "{text}");
    assert!(dir.join("report.html").exists());
}
