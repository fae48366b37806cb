//! `cargo xtask demo`: the README's main command. On x86_64 with musl 1.2.3 it builds what it
//! needs (the two trees, the `stormless` CLI), generates a store-like tree — 40 libraries, each
//! in its own directory, every RUNPATH listing all 40 (`tests/fixtures/store40`) — and starts the
//! same program three ways: through stock musl, through stormless without notes, and through
//! stormless after `stormless embed` wrote the notes. Side by side: opens and failed opens (one
//! `strace -f` run each) and startup time (medians of runs interleaved one by one through the
//! benchmark's spawner, and the ratio to stock musl).
use crate::bench;
use crate::build;
use crate::util::{output, run, say};
use anyhow::{ensure, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use stormless_tests::build::build_into;
use stormless_tests::manifest::Fixture;
use stormless_tests::{fixtures_dir, syscalls};
use stormless_trees::{arch_dir, workspace_root, Arch, Loader, MuslVersion, Tree};

const VERSION: MuslVersion = MuslVersion::DEFAULT;
const ARCH: Arch = Arch::X86_64;
const STORE: &str = "store40";

/// One way of starting the program.
struct Contender {
    label: &'static str,
    program: PathBuf,
    /// The build directory, which the opened files are compared relative to.
    out: PathBuf,
}

pub fn run_demo(runs: usize) -> Result<()> {
    build::tree_pair(VERSION, ARCH)?;
    build::cli()?;
    let fixture = Fixture::all(&fixtures_dir())?
        .into_iter()
        .find(|f| f.name == STORE)
        .with_context(|| format!("no fixture {STORE} in tests/fixtures"))?;
    let root = arch_dir(VERSION, ARCH).join("demo");
    say(format!(
        "demo: a store of 40 libraries, each in its own directory, every RUNPATH listing all 40 (under {})",
        root.display()
    ));
    let reference = Tree::new(VERSION, ARCH, Loader::Reference);
    let ours = Tree::new(VERSION, ARCH, Loader::Stormless);
    let stock = build_into(&reference, &fixture, &root.join("stock-musl"))?;
    let plain = build_into(&ours, &fixture, &root.join("stormless-without-notes"))?;
    let noted = build_into(&ours, &fixture, &root.join("stormless-with-notes"))?;

    let cli = workspace_root().join("target/release/stormless");
    say(format!("demo: stormless embed {}", noted.out.display()));
    run(Command::new(&cli).arg("embed").arg(&noted.out))?;
    say(format!("demo: stormless explain {} (the first lines)", noted.program.display()));
    // Without cargo's environment: its LD_LIBRARY_PATH would be searched first.
    let explained = output(Command::new(&cli).env_clear().arg("explain").arg(&noted.program))?;
    for line in explained.lines().take(8) {
        println!("    {line}");
    }

    let contenders = [
        Contender { label: "stock musl 1.2.3", program: stock.program, out: stock.out },
        Contender { label: "stormless, no notes", program: plain.program, out: plain.out },
        Contender { label: "stormless, notes", program: noted.program, out: noted.out },
    ];
    let mut counts = Vec::new();
    for c in &contenders {
        let scratch = root.join("trace").join(c.label.replace([' ', ','], "-"));
        std::fs::create_dir_all(&scratch)?;
        let (n, outcome) = syscalls::count(ARCH, &c.program, &[], &BTreeMap::new(), &scratch)?;
        ensure!(outcome.status == 0, "{} exited with {}: {}", c.label, outcome.status, outcome.stderr);
        counts.push(n);
    }
    say(format!("demo: timing {runs} runs of each, interleaved one by one, after a warm-up"));
    let mut files = vec![reference.ldso().canonicalize()?, ours.ldso().canonicalize()?];
    for c in &contenders {
        files.extend(bench::files_under(&c.out)?);
    }
    let medians = time(&contenders, runs, &files)?;

    println!();
    println!(
        "  {:<22} {:>6} {:>13} {:>15} {:>9}",
        "program started by", "opens", "failed opens", "startup median", "ratio"
    );
    for ((c, n), median) in contenders.iter().zip(&counts).zip(&medians) {
        println!(
            "  {:<22} {:>6} {:>13} {:>12.0} µs {:>9.2}",
            c.label,
            n.opens,
            n.failed_opens,
            median * 1e6,
            median / medians[0]
        );
    }
    let same = same_files(&contenders, &counts);
    println!();
    println!(
        "  Same files opened in all three: {}. Ratio = median startup against stock musl (lower is faster).",
        if same { "yes" } else { "NO" }
    );
    ensure!(same, "the three runs opened different libraries");
    Ok(())
}

/// The opened libraries of each run, relative to its own build directory, must be the same.
fn same_files(contenders: &[Contender], counts: &[syscalls::Counts]) -> bool {
    let first = counts[0].opened_under(&contenders[0].out);
    contenders.iter().zip(counts).all(|(c, n)| n.opened_under(&c.out) == first)
}

/// Median wall time (seconds) of each contender. Each round starts each contender once in
/// turn (`cargo xtask bench`'s spawner: spawn to reaping), so the machine's drift falls on all
/// alike: blocks of consecutive runs of one program (hyperfine's way, which this used before)
/// put the "no notes" row anywhere from 0.94 to 1.22 of stock musl for one build. The files
/// are first dropped from the page cache, so each contender reads its own back alike.
fn time(contenders: &[Contender], runs: usize, files: &[PathBuf]) -> Result<Vec<f64>> {
    let spawner = bench::spawner(VERSION)?;
    bench::evict(&spawner, files)?;
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); contenders.len()];
    for round in 0..bench::WARMUP_ROUNDS + runs.max(1) {
        for (c, kept) in contenders.iter().zip(samples.iter_mut()) {
            let wall = bench::run_once(&spawner, ARCH, &c.program, &[])?.wall;
            if round >= bench::WARMUP_ROUNDS {
                kept.push(wall.as_secs_f64());
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect())
}
