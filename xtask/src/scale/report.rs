//! Records of the scale benchmarks: JSON (merged across runs into
//! `docs/bench-scale.json`), `docs/bench.md`'s generated sections, the
//! plots and the README's summary.
use crate::util::say;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use stormless_netfs::counters::Snapshot;
use stormless_trees::workspace_root;

/// One workload × arch × musl × variant (× size, × K with `--fs netfs`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub workload: String,
    pub arch: String,
    pub musl: String,
    pub variant: String,
    pub size: String,
    pub n: Option<usize>,
    /// `local` or `netfs`.
    pub fs: String,
    pub concurrency: Option<usize>,
    pub latency_us: Option<u64>,
    /// Of one traced start (strace, or qemu -strace).
    pub opens: u64,
    /// The loader's: failed probes for a library name or musl's path file.
    pub failed_opens: u64,
    /// Every failed open, the program's own included.
    pub failed_opens_all: u64,
    pub stats: u64,
    pub stdout: String,
    /// Timed starts (local) or rounds of K starts (netfs).
    pub runs: usize,
    /// Wall time, spawn to reaping.
    pub median_us: Option<f64>,
    pub cpu_median_us: Option<f64>,
    /// CPU time (user + system) against `stock`: median ratio, then its 95 % bootstrap interval.
    pub cpu_ratio_ci: Option<[f64; 3]>,
    /// The same against `floor`.
    pub cpu_ratio_floor_ci: Option<[f64; 3]>,
    pub server_ops_per_start: Option<f64>,
    pub server_failed_lookups_per_start: Option<f64>,
    /// The server's operations over all rounds, by kind.
    pub server_ops: Option<Snapshot>,
    /// Median over rounds, first spawn to last exit.
    pub makespan_ms: Option<f64>,
    pub makespan_ratio: Option<f64>,
    /// When and where (date, CPUs, load average at the case's start).
    pub measured: String,
}

impl Record {
    /// What a newer record of the same thing replaces.
    fn key(&self) -> (String, String, String, String, String, String, Option<usize>) {
        (
            self.workload.clone(),
            self.musl.clone(),
            self.arch.clone(),
            self.size.clone(),
            self.fs.clone(),
            self.variant.clone(),
            self.concurrency,
        )
    }
}

impl Record {
    /// The order of the tables: by tree, size, K, then the variants as the issue lists them.
    fn order(&self) -> (String, String, String, String, Option<usize>, String, Option<usize>, usize) {
        let variant = ["stock", "ours", "ours-tables", "floor"].iter().position(|v| *v == self.variant).unwrap_or(4);
        (
            self.workload.clone(),
            self.musl.clone(),
            self.arch.clone(),
            self.fs.clone(),
            self.n,
            self.size.clone(),
            self.concurrency,
            variant,
        )
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Median ratio of `ours` to `base` and its 95 % bootstrap interval (bench.rs's).
pub fn ratio_ci(base: &[f64], ours: &[f64]) -> [f64; 3] {
    let (low, high) = crate::bench::median_ratio_interval(base, ours);
    [median(ours) / median(base), low, high]
}

pub fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{date}, {cpus} CPUs, load {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn data_file() -> std::path::PathBuf {
    workspace_root().join("docs").join("bench-scale.json")
}

/// Merge `new` into `docs/bench-scale.json`, then regenerate the docs' sections and plots from it all.
pub fn publish(new: &[Record]) -> Result<()> {
    let path = data_file();
    let mut all: Vec<Record> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?,
        Err(_) => Vec::new(),
    };
    all.retain(|r| !new.iter().any(|n| n.key() == r.key()));
    all.extend(new.iter().cloned());
    all.sort_by_key(Record::order);
    crate::util::write_atomic(&path, serde_json::to_string_pretty(&all)?.as_bytes())?;
    let doc = workspace_root().join("docs").join("bench.md");
    let mut text = std::fs::read_to_string(&doc)?;
    for (key, body) in sections(&all) {
        text = crate::bench::replace_section(&text, &key, &body);
    }
    crate::util::write_atomic(&doc, text.as_bytes())?;
    let plots = super::plot::all(&all)?;
    let readme = workspace_root().join("README.md");
    let text = std::fs::read_to_string(&readme)?;
    let text = crate::bench::replace_section(&text, "scale summary", &summary(&all, &plots));
    crate::util::write_atomic(&readme, text.as_bytes())?;
    say(format!("bench: wrote {}, {} and the plots in docs/", path.display(), doc.display()));
    Ok(())
}

fn ci(c: Option<[f64; 3]>) -> String {
    c.map_or("—".into(), |[r, lo, hi]| format!("{r:.3} ({lo:.3}–{hi:.3})"))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.digits$}"))
}

/// One section per workload × musl × arch × fs.
pub fn sections(all: &[Record]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String, String, String)> =
        all.iter().map(|r| (r.workload.clone(), r.musl.clone(), r.arch.clone(), r.fs.clone())).collect();
    keys.dedup();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(w, m, a, fs)| {
            let rows: Vec<&Record> =
                all.iter().filter(|r| r.workload == w && r.musl == m && r.arch == a && r.fs == fs).collect();
            let mut s = format!("### {w}, musl {m}, {a}, {fs}\n\n");
            let when: Vec<&str> = rows.iter().map(|r| r.measured.as_str()).collect();
            let _ = writeln!(s, "Measured {} (first record) to {}.\n", when.iter().min().unwrap(), when.iter().max().unwrap());
            for line in rows[0].stdout.lines().filter(|l| l.starts_with("skipped") || l.starts_with("excluded")) {
                let _ = writeln!(s, "The workload printed: `{line}`.\n");
            }
            if fs == "local" {
                s.push_str("| size | variant | opens | failed opens: loader's (all) | wall median µs | CPU median µs | CPU ratio to stock (95 %) | CPU ratio to floor (95 %) | runs |\n|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
                for r in rows {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |",
                        r.size,
                        r.variant,
                        r.opens,
                        r.failed_opens,
                        r.failed_opens_all,
                        opt(r.median_us, 0),
                        opt(r.cpu_median_us, 0),
                        ci(r.cpu_ratio_ci),
                        ci(r.cpu_ratio_floor_ci),
                        r.runs
                    );
                }
            } else {
                s.push_str("| size | K | variant | latency µs | server ops per start | failed lookups per start | makespan ms (median) | makespan ratio to stock | rounds |\n|---|--:|---|--:|--:|--:|--:|--:|--:|\n");
                for r in rows {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.size,
                        r.concurrency.unwrap_or(0),
                        r.variant,
                        r.latency_us.unwrap_or(0),
                        opt(r.server_ops_per_start, 1),
                        opt(r.server_failed_lookups_per_start, 1),
                        opt(r.makespan_ms, 1),
                        opt(r.makespan_ratio, 3),
                        r.runs
                    );
                }
            }
            (format!("scale {w}/musl-{m}/{a}/{fs}"), s)
        })
        .collect()
}

/// The README's summary: the headline plot and, per workload and tree, what
/// tables do against stock musl and against the floor.
pub fn summary(all: &[Record], plots: &[std::path::PathBuf]) -> String {
    let mut s = String::new();
    let headline = plots.iter().find(|p| p.to_string_lossy().contains("store-n-musl1.2.3-x86_64")).or(plots.first());
    if let Some(p) = headline {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let _ = writeln!(s, "![failed opens and startup CPU time against N](docs/{name})\n");
    }
    s.push_str("| workload | musl, arch | fs, K | loader's failed opens: stock → ours-tables (floor) | ours-tables against stock | ours-tables against floor | measured |\n|---|---|---|--:|--:|--:|---|\n");
    let get = |r: &Record, v: &str| {
        all.iter().find(|x| {
            x.workload == r.workload
                && x.musl == r.musl
                && x.arch == r.arch
                && x.size == r.size
                && x.fs == r.fs
                && x.concurrency == r.concurrency
                && x.variant == v
        })
    };
    for r in all.iter().filter(|r| r.variant == "ours-tables") {
        if r.workload == "store-n" && !matches!(r.n, Some(40) | Some(160))
            || r.fs == "netfs" && r.concurrency != Some(64)
        {
            continue;
        }
        let (Some(stock), Some(floor)) = (get(r, "stock"), get(r, "floor")) else { continue };
        let (against_stock, against_floor) = if r.fs == "local" {
            (format!("CPU {}", ci(r.cpu_ratio_ci)), format!("CPU {}", ci(r.cpu_ratio_floor_ci)))
        } else {
            let ops = |x: &Record| x.server_ops_per_start.unwrap_or(f64::NAN);
            (
                format!("server ops {:.3}, makespan {}", ops(r) / ops(stock), opt(r.makespan_ratio, 3)),
                format!("server ops {:.3}", ops(r) / ops(floor)),
            )
        };
        let _ = writeln!(
            s,
            "| {} {} | {} {} | {}{} | {} → {} ({}) | {against_stock} | {against_floor} | {} |",
            r.workload,
            r.size,
            r.musl,
            r.arch,
            r.fs,
            r.concurrency.map(|k| format!(", {k}")).unwrap_or_default(),
            stock.failed_opens,
            r.failed_opens,
            floor.failed_opens,
            r.measured.split(',').next().unwrap_or("")
        );
    }
    s.push_str("\nRatios are medians with their 95 % bootstrap interval; the command, method and every figure: [`docs/bench.md`](docs/bench.md#at-scale-issue-14).\n");
    s
}
