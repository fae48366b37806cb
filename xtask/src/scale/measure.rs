//! Measuring one start of each variant: its opens (one traced run), its
//! time (interleaved untraced runs through the benchmark's spawner), and,
//! with `--fs netfs`, K cold starts at once through the network-filesystem
//! model.
use crate::bench;
use crate::util::{output, say};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use stormless_netfs::counters::Snapshot;
use stormless_tests::store::{failed_open_paths, is_loader_probe};
use stormless_tests::syscalls;
use stormless_trees::{workspace_root, Arch, MuslVersion};

/// How to start one variant of a workload.
#[derive(Clone, Debug)]
pub struct Start {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// What it must print (each variant prints the same).
    pub expected: Option<String>,
}

/// One traced start.
#[derive(Clone, Debug, Default)]
pub struct Opens {
    pub opens: u64,
    /// Every failed open of the run.
    pub failed_opens_all: u64,
    /// The loader's: failed probes for a library name or musl's path file.
    pub failed_opens: u64,
    pub stats: u64,
    /// The stdout of the traced run.
    pub stdout: String,
}

pub fn opens(arch: Arch, start: &Start, scratch: &Path) -> Result<Opens> {
    std::fs::create_dir_all(scratch)?;
    let (counts, outcome) = syscalls::count(arch, &start.program, &start.args, &BTreeMap::new(), scratch)?;
    if outcome.status != 0 {
        bail!("{} exits {}: {}", start.program.display(), outcome.status, tail(&outcome.stderr));
    }
    if let Some(want) = &start.expected {
        if &outcome.stdout != want {
            bail!("{} printed {:?}, not {want:?}", start.program.display(), outcome.stdout);
        }
    }
    let log = match arch.qemu_user() {
        None => std::fs::read_to_string(scratch.join("strace.log"))?,
        Some(_) => outcome.stderr.clone(),
    };
    let loader = failed_open_paths(&log).iter().filter(|p| is_loader_probe(p)).count() as u64;
    Ok(Opens {
        opens: counts.opens,
        failed_opens_all: counts.failed_opens,
        failed_opens: loader,
        stats: counts.stats,
        stdout: outcome.stdout,
    })
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Wall and CPU time (µs) of every timed start, per variant in `starts`' order.
pub struct Times {
    pub wall_us: Vec<Vec<f64>>,
    pub cpu_us: Vec<Vec<f64>>,
}

/// `rounds` rounds after `warmup` untimed ones, each starting every variant
/// once, taking turns at going first (bench.rs's method; the files stay in
/// the page cache: this measures the loader's work, not the disk).
pub fn times(version: MuslVersion, arch: Arch, starts: &[Start], warmup: usize, rounds: usize) -> Result<Times> {
    let spawner = bench::spawner(version)?;
    let n = starts.len();
    let mut t = Times { wall_us: vec![Vec::with_capacity(rounds); n], cpu_us: vec![Vec::with_capacity(rounds); n] };
    for round in 0..warmup + rounds {
        let mut order: Vec<usize> = (0..n).collect();
        order.rotate_left(round % n.max(1));
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let s = &starts[i];
            let timed = bench::run_once(&spawner, arch, &s.program, &s.args)
                .with_context(|| format!("timed start of {}", s.program.display()))?;
            if round >= warmup {
                t.wall_us[i].push(timed.wall.as_secs_f64() * 1e6);
                t.cpu_us[i].push(timed.cpu.as_secs_f64() * 1e6);
            }
        }
    }
    Ok(t)
}

/// The network-filesystem model's command, built by cargo (release for
/// figures; the suite's check uses the debug build it already has).
pub fn netfs_binary(release: bool) -> Result<PathBuf> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.current_dir(workspace_root()).args(["build", "--quiet", "-p", "stormless-netfs"]);
    if release {
        cargo.arg("--release");
    }
    crate::util::run(&mut cargo)?;
    Ok(workspace_root().join("target").join(if release { "release" } else { "debug" }).join("netfs"))
}

/// What one `netfs run` measured.
#[derive(Clone, Debug, Deserialize)]
pub struct NetRun {
    pub rounds: Vec<NetRound>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct NetRound {
    pub makespan_us: f64,
    pub ops: Snapshot,
}

/// K starts at once, `rounds` times, with `source` served at its own path.
pub fn netfs(
    netfs: &Path,
    source: &Path,
    arch: Arch,
    start: &Start,
    latency_us: u64,
    concurrency: usize,
    rounds: usize,
) -> Result<NetRun> {
    say(format!("bench: netfs, {concurrency} at once × {rounds}: {}", start.program.display()));
    let mut cmd = Command::new(netfs);
    cmd.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin").arg("run").arg("--source").arg(source);
    cmd.args(["--latency-us", &latency_us.to_string()]);
    cmd.args(["--concurrency", &concurrency.to_string(), "--rounds", &rounds.to_string(), "--"]);
    if let Some(qemu) = arch.qemu_user() {
        cmd.arg(qemu);
    }
    cmd.arg(&start.program).args(&start.args);
    let json = output(&mut cmd)?;
    serde_json::from_str(json.trim()).with_context(|| format!("netfs printed {json:?}"))
}

/// Every record of one case: counts always; times locally, or with `--fs
/// netfs` the model's figures for each K.
pub fn measure_case(
    opts: &super::Options,
    version: MuslVersion,
    arch: Arch,
    case: &super::Case,
) -> Result<Vec<super::report::Record>> {
    use super::report::{ratio_ci, Record};
    use super::{Fs, Variant};
    let mut counted = Vec::new();
    for (variant, start) in Variant::ALL.iter().zip(&case.starts) {
        counted.push(opens(arch, start, &case.root.join("trace").join(variant.name()))?);
    }
    for (variant, o) in Variant::ALL.iter().zip(&counted).skip(1) {
        if o.stdout != counted[0].stdout {
            bail!("{} printed {:?}, stock musl {:?}", variant.name(), o.stdout, counted[0].stdout);
        }
    }
    let machine = super::report::machine();
    let record = |variant: Variant, o: &Opens| Record {
        workload: opts.workload.name().into(),
        arch: arch.name().into(),
        musl: version.as_str().into(),
        variant: variant.name().into(),
        size: case.size.clone(),
        n: case.n,
        fs: "local".into(),
        concurrency: None,
        latency_us: None,
        opens: o.opens,
        failed_opens: o.failed_opens,
        failed_opens_all: o.failed_opens_all,
        stats: o.stats,
        stdout: o.stdout.trim_end().to_string(),
        runs: 0,
        median_us: None,
        cpu_median_us: None,
        cpu_ratio_ci: None,
        cpu_ratio_floor_ci: None,
        server_ops_per_start: None,
        server_failed_lookups_per_start: None,
        server_ops: None,
        makespan_ms: None,
        makespan_ratio: None,
        measured: machine.clone(),
    };
    let mut records = Vec::new();
    match opts.fs {
        Fs::Local => {
            let default_runs = match opts.workload {
                super::WorkloadKind::StoreN => 200,
                super::WorkloadKind::PythonImports => 50,
                super::WorkloadKind::Pynamic => 20,
                super::WorkloadKind::Armv7Script => 5,
            };
            let runs = opts.runs.unwrap_or(if opts.config == super::Config::Tiny { 3 } else { default_runs });
            let warmup = (runs / 10).clamp(1, 10);
            let t = times(version, arch, &case.starts, warmup, runs)?;
            let floor = Variant::ALL.iter().position(|v| *v == Variant::Floor).expect("floor is a variant");
            for (i, (&variant, o)) in Variant::ALL.iter().zip(&counted).enumerate() {
                let mut r = record(variant, o);
                r.runs = runs;
                r.median_us = Some(super::report::median(&t.wall_us[i]));
                r.cpu_median_us = Some(super::report::median(&t.cpu_us[i]));
                r.cpu_ratio_ci = Some(ratio_ci(&t.cpu_us[0], &t.cpu_us[i]));
                r.cpu_ratio_floor_ci = Some(ratio_ci(&t.cpu_us[floor], &t.cpu_us[i]));
                records.push(r);
            }
        }
        Fs::Netfs => {
            let binary = netfs_binary(opts.config != super::Config::Tiny)?;
            let source = stormless_trees::arch_dir(version, arch).canonicalize()?;
            for &k in &opts.concurrency {
                let rounds = opts.runs.unwrap_or(if k >= 8 { 3 } else { 5 });
                let latency = if opts.config == super::Config::Tiny { 0 } else { opts.latency_us };
                let mut stock_makespan = None;
                for (&variant, (o, start)) in Variant::ALL.iter().zip(counted.iter().zip(&case.starts)) {
                    let run = netfs(&binary, &source, arch, start, latency, k, rounds)?;
                    let starts = (k * run.rounds.len()) as f64;
                    let total = run.rounds.iter().fold(Snapshot::default(), |acc, r| acc.plus(&r.ops));
                    let makespans: Vec<f64> = run.rounds.iter().map(|r| r.makespan_us / 1e3).collect();
                    let makespan = super::report::median(&makespans);
                    let stock = *stock_makespan.get_or_insert(makespan);
                    let mut r = record(variant, o);
                    r.fs = "netfs".into();
                    r.concurrency = Some(k);
                    r.latency_us = Some(latency);
                    r.runs = run.rounds.len();
                    r.server_ops_per_start = Some(total.ops() as f64 / starts);
                    r.server_failed_lookups_per_start = Some(total.lookup_missing as f64 / starts);
                    r.server_ops = Some(total);
                    r.makespan_ms = Some(makespan);
                    r.makespan_ratio = Some(makespan / stock);
                    records.push(r);
                }
            }
        }
    }
    Ok(records)
}
