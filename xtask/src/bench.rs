//! `cargo xtask bench`: startup cost of a few programs under the reference
//! loader and ours — wall time and peak RSS over interleaved runs (reference,
//! ours, reference, ours, …, so load on the shared machine hits both alike),
//! reported as medians with p10/p90, and the system calls of one traced run
//! each. A measurement, not a test: the acceptance thresholds are printed and
//! each row marked PASS/FAIL, but only a program that fails to run makes the
//! command fail. The table also goes into `docs/bench.md`, in a section of its
//! own per musl version and arch.
use crate::util::say;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use stormless_tests::manifest::Fixture;
use stormless_tests::{build, exec, fixtures_dir, syscalls};
use stormless_trees::{arch_dir, workspace_root, Arch, Loader, MuslVersion, RealPrograms, Tree};

/// The acceptance criterion of the loader issue: ours against the reference.
const MAX_TIME_RATIO: f64 = 1.03;
const MAX_RSS_RATIO: f64 = 1.05;

/// Untimed rounds before the timed ones of each block (page cache, CPU frequency).
pub const WARMUP_ROUNDS: usize = 10;

/// The timed rounds are split into this many blocks, each starting from its
/// own eviction of the loaders' files. How the page cache reads a file back
/// (folio sizes, readahead) differs from one eviction to the next and then
/// holds for every round until the next: a bias per eviction that more rounds
/// cannot average out, and medians of one block moved ±1.5 % between runs of
/// the same build under qemu-user. Pooling blocks averages over it.
const BLOCKS: usize = 4;

/// A traced run (`spawn --resident`) every this many timed rounds: what it
/// reads is exact and moves only with ASLR, so a quarter of the rounds is
/// plenty, and the time goes to timed rounds instead.
const RESIDENT_EVERY: usize = 4;

/// Resamples behind the time ratio's 95 % interval.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// `PATH` of the measured programs (their environment is otherwise empty).
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Where a benchmarked program comes from.
enum Source {
    /// A fixture of the differential suite, built with each tree's `bin/cc`.
    Fixture(&'static str),
    /// Debian's busybox, built by `cargo xtask real` (not by the benchmark).
    Busybox,
}

struct Benchmark {
    name: &'static str,
    source: Source,
    args: &'static [&'static str],
}

const BENCHMARKS: &[Benchmark] = &[
    Benchmark { name: "hello", source: Source::Fixture("hello"), args: &[] },
    Benchmark { name: "relocheavy", source: Source::Fixture("relocheavy"), args: &[] },
    Benchmark { name: "busybox true", source: Source::Busybox, args: &["true"] },
];

/// Debian's busybox for `tree`'s loader, if `cargo xtask real` has built it
/// (`xtask/src/real.rs`: the reference's is a copy with PT_INTERP changed by patchelf).
fn busybox(tree: &Tree) -> Option<PathBuf> {
    let real = RealPrograms::new(tree.version, tree.arch);
    real.is_complete().then(|| real.bin_dir(tree.loader).join("busybox"))
}

/// One round of one loader: wall time from spawn to reaping and the child's
/// peak RSS (`ru_maxrss`) of a timed run, and what a second, traced run had
/// mapped when it exited (exact, from `smaps_rollup`; not timed).
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: u64,
    /// Every [`RESIDENT_EVERY`]th round.
    resident: Option<Resident>,
}

/// Pages mapped at exit (KiB): all of them, and the anonymous ones (heap,
/// stack, written data); the rest are file-backed (page cache).
#[derive(Clone, Copy)]
struct Resident {
    total_kib: u64,
    anon_kib: u64,
}

/// p10, median, p90 (nearest rank) of some values.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Spread {
    p10: f64,
    median: f64,
    p90: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        assert!(!values.is_empty(), "no samples");
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Spread { p10: rank(0.10), median: rank(0.50), p90: rank(0.90) }
    }
}

/// What one loader did with one program.
struct LoaderResult {
    wall_us: Spread,
    /// Every timed run's wall time (µs), for the ratio's interval.
    walls_us: Vec<f64>,
    /// Every timed run's CPU time (µs), user plus system.
    cpus_us: Vec<f64>,
    rss_kib: Spread,
    /// Resident at exit: all, file-backed and anonymous KiB.
    resident_kib: Spread,
    file_kib: Spread,
    anon_kib: Spread,
    calls: syscalls::Counts,
    /// Under qemu-user: the host instructions qemu spends on one run
    /// (callgrind), which do not move with the machine's load.
    emulator_instructions: Option<u64>,
}

enum Outcome {
    Measured {
        reference: Box<LoaderResult>,
        ours: Box<LoaderResult>,
    },
    /// Not available for this tree, and why (not an error).
    Unavailable(String),
    /// It did not run, or the loaders disagreed.
    Failed(String),
}

pub fn run(arch: Arch, version: MuslVersion, rounds: usize) -> Result<()> {
    if rounds == 0 {
        bail!("--runs must be at least 1");
    }
    let trees: Vec<Tree> = Loader::ALL.iter().map(|&l| Tree::new(version, arch, l)).collect();
    for tree in &trees {
        if !tree.is_complete() {
            bail!(
                "no complete {} tree at {} (run `cargo xtask build --arch {arch} --musl {version}`)",
                tree.loader.tree_dir(),
                tree.root.display()
            );
        }
    }
    let spawner = spawner(version)?;
    let machine = Machine::describe();
    let mut rows = Vec::new();
    for bench in BENCHMARKS {
        say(format!("bench: {} (musl {version}, {arch}, {rounds} interleaved rounds)", bench.name));
        let outcome = match programs(bench, &trees) {
            Ok(None) => {
                Outcome::Unavailable(format!("not built: run `cargo xtask real --arch {arch} --musl {version}`"))
            }
            Ok(Some(programs)) => match measure(&spawner, &trees, &programs, bench, rounds) {
                Ok((reference, ours)) => Outcome::Measured { reference: Box::new(reference), ours: Box::new(ours) },
                Err(e) => Outcome::Failed(format!("{e:#}")),
            },
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
        if let Outcome::Failed(why) = &outcome {
            say(format!("bench: {}: {why}", bench.name));
        }
        rows.push((bench.name, outcome));
    }
    let report = report(arch, version, rounds, &machine, &rows);
    println!("{report}");
    let doc = workspace_root().join("docs").join("bench.md");
    update_doc(&doc, &section_key(version, arch), &report)?;
    say(format!("bench: wrote {}", doc.display()));
    let failed: Vec<&str> = rows.iter().filter(|(_, o)| matches!(o, Outcome::Failed(_))).map(|(n, _)| *n).collect();
    if !failed.is_empty() {
        bail!("could not measure: {}", failed.join(", "));
    }
    Ok(())
}

/// What the benchmark builds and writes for `tree`: beside the suite's
/// fixture builds, never in them, as the suite may run meanwhile.
fn bench_dir(tree: &Tree) -> PathBuf {
    arch_dir(tree.version, tree.arch).join("bench").join(tree.loader.tree_dir())
}

/// The program for each tree (reference first), or `None` if not built.
fn programs(bench: &Benchmark, trees: &[Tree]) -> Result<Option<Vec<PathBuf>>> {
    match bench.source {
        Source::Fixture(name) => {
            let fixture = Fixture::load(&fixtures_dir().join(name))?;
            let built = trees
                .iter()
                .map(|tree| build::build_into(tree, &fixture, &bench_dir(tree).join(name)).map(|b| b.program))
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(built))
        }
        Source::Busybox => Ok(trees.iter().map(busybox).collect()),
    }
}

/// Check that both loaders run the program alike, count its system calls,
/// then time interleaved rounds.
fn measure(
    spawner: &Path,
    trees: &[Tree],
    programs: &[PathBuf],
    bench: &Benchmark,
    rounds: usize,
) -> Result<(LoaderResult, LoaderResult)> {
    let arch = trees[0].arch;
    let args: Vec<String> = bench.args.iter().map(|a| a.to_string()).collect();
    // The untimed check runs under `timeout`: a hanging loader fails here, not in the loop.
    let outcomes = programs.iter().map(|p| exec::run(arch, p, &args, &BTreeMap::new())).collect::<Result<Vec<_>>>()?;
    for (outcome, loader) in outcomes.iter().zip(Loader::ALL) {
        if outcome.status != 0 {
            bail!("exits {} under {loader}: {}", outcome.status, outcome.stderr.trim_end());
        }
    }
    if outcomes[0] != outcomes[1] {
        bail!("output differs: reference {:?}, ours {:?}", outcomes[0], outcomes[1]);
    }
    let calls = trees
        .iter()
        .zip(programs)
        .map(|(tree, program)| {
            // In the benchmark's own directory: busybox's lives in someone else's.
            let log = bench_dir(tree).join(format!("{}.strace", bench.name.replace(' ', "-")));
            trace(arch, program, &args, &log)
        })
        .collect::<Result<Vec<_>>>()?;

    let emulator = programs
        .iter()
        .zip(trees)
        .map(|(program, tree)| emulator_instructions(tree, program, &args, bench.name))
        .collect::<Result<Vec<_>>>()?;

    // Same page-cache start for both loaders: see `evict` in spawn.c. The
    // warm-up rounds then read every file back in, each loader its own.
    let files =
        trees.iter().zip(programs).map(|(tree, program)| files_of(tree, program)).collect::<Result<Vec<_>>>()?.concat();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(rounds); programs.len()];
    for block in 0..BLOCKS {
        let timed = rounds / BLOCKS + usize::from(block < rounds % BLOCKS);
        if timed == 0 {
            continue;
        }
        let left = evict(spawner, &files)?;
        if left != 0 {
            say(format!("bench: {}: {left} page(s) stayed in the page cache (mapped elsewhere?)", bench.name));
        }
        for round in 0..WARMUP_ROUNDS + timed {
            // The two loaders take turns at going first, so that whatever a
            // run leaves behind for the next one falls on both alike.
            let mut order: Vec<usize> = (0..programs.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            let traced = round >= WARMUP_ROUNDS && (round - WARMUP_ROUNDS).is_multiple_of(RESIDENT_EVERY);
            for i in order {
                let Timed { wall, cpu, max_rss_kib } = run_once(spawner, arch, &programs[i], &args)?;
                let resident = if traced { Some(resident_at_exit(spawner, arch, &programs[i], &args)?) } else { None };
                if round >= WARMUP_ROUNDS {
                    samples[i].push(Sample { wall, cpu, max_rss_kib, resident });
                }
            }
        }
    }
    let mut results = samples.into_iter().zip(calls).zip(emulator).map(|((s, calls), emulator_instructions)| {
        let walls_us: Vec<f64> = s.iter().map(|x| x.wall.as_secs_f64() * 1e6).collect();
        let resident: Vec<Resident> = s.iter().filter_map(|x| x.resident).collect();
        LoaderResult {
            wall_us: Spread::of(&walls_us),
            walls_us,
            cpus_us: s.iter().map(|x| x.cpu.as_secs_f64() * 1e6).collect(),
            rss_kib: Spread::of(&s.iter().map(|x| x.max_rss_kib as f64).collect::<Vec<_>>()),
            resident_kib: Spread::of(&resident.iter().map(|r| r.total_kib as f64).collect::<Vec<_>>()),
            file_kib: Spread::of(
                &resident.iter().map(|r| r.total_kib.saturating_sub(r.anon_kib) as f64).collect::<Vec<_>>(),
            ),
            anon_kib: Spread::of(&resident.iter().map(|r| r.anon_kib as f64).collect::<Vec<_>>()),
            calls,
            emulator_instructions,
        }
    });
    let reference = results.next().context("no reference result")?;
    let ours = results.next().context("no result for ours")?;
    Ok((reference, ours))
}

/// Under qemu-user, the host instructions qemu executes for one run of
/// `program` (`valgrind --tool=callgrind`; `-U LD_PRELOAD` keeps valgrind's
/// preload out of the guest), or `None` for a native arch. Exact for a given
/// build: it tells a change that moves startup cost by a percent from the
/// wall clock's noise. Emulated startup is mostly translating each guest
/// block once, so this follows the code a run executes.
fn emulator_instructions(tree: &Tree, program: &Path, args: &[String], name: &str) -> Result<Option<u64>> {
    let Some(qemu) = tree.arch.qemu_user() else { return Ok(None) };
    let out = bench_dir(tree).join(format!("{}.callgrind", name.replace(' ', "-")));
    let run = Command::new("valgrind")
        .args(["--tool=callgrind", "--smc-check=all-non-file"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args([qemu, "-U", "LD_PRELOAD"])
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .output()
        .context("cannot run valgrind")?;
    let _ = std::fs::remove_file(&out);
    let log = String::from_utf8_lossy(&run.stderr);
    if !run.status.success() {
        bail!("callgrind run of {} failed ({}): {}", program.display(), run.status, log.trim_end());
    }
    collected(&log).map(Some).with_context(|| format!("no instruction count in callgrind's output: {log}"))
}

/// The total of callgrind's `==pid== Collected : N` line.
fn collected(log: &str) -> Option<u64> {
    log.lines().find_map(|l| l.split_once("Collected :").and_then(|(_, n)| n.trim().parse().ok()))
}

/// The spawner (`xtask/bench/spawn.c`), compiled statically with the x86_64
/// reference tree of `version`: it spawns and reaps each measured run.
pub fn spawner(version: MuslVersion) -> Result<PathBuf> {
    let host = Tree::new(version, Arch::X86_64, Loader::Reference);
    if !host.is_complete() {
        bail!(
            "the benchmark's spawner is built with the x86_64 reference tree (run `cargo xtask build --arch x86_64 --musl {version}`)"
        );
    }
    let source = workspace_root().join("xtask").join("bench").join("spawn.c");
    let out = arch_dir(version, Arch::X86_64).join("bench").join("spawn");
    std::fs::create_dir_all(out.parent().unwrap())?;
    crate::util::output(
        Command::new(host.cc()).args(["-static", "-O2", "-Wall", "-Werror", "-o"]).arg(&out).arg(&source),
    )?;
    Ok(out)
}

/// The files a run of `program` under `tree`'s loader maps: the loader
/// (`libc.so`), the program and, for a fixture built by the benchmark, every
/// file of its build (its libraries).
fn files_of(tree: &Tree, program: &Path) -> Result<Vec<PathBuf>> {
    let canonical = |p: &Path| p.canonicalize().with_context(|| format!("cannot resolve {}", p.display()));
    let mut files = vec![canonical(&tree.ldso())?, canonical(program)?];
    // A fixture's program is `<bench dir>/<fixture>/bin/<name>`.
    if let Some(build) = program.parent().and_then(Path::parent).filter(|d| d.starts_with(bench_dir(tree))) {
        files.extend(files_under(build)?);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Every regular file below `dir`.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    Ok(files)
}

/// Drop `files` from the page cache (`spawn --evict`); how many pages stayed.
pub fn evict(spawner: &Path, files: &[PathBuf]) -> Result<u64> {
    let line = crate::util::output(Command::new(spawner).arg("--evict").args(files))?;
    line.trim().parse().with_context(|| format!("spawner printed {line:?}"))
}

/// What one timed run through the spawner measured.
pub struct Timed {
    pub wall: Duration,
    /// The child's user plus system time.
    pub cpu: Duration,
    pub max_rss_kib: u64,
}

/// One timed run through the spawner.
pub fn run_once(spawner: &Path, arch: Arch, program: &Path, args: &[String]) -> Result<Timed> {
    let [wall_ns, cpu_ns, max_rss_kib] = spawn(spawner, None, arch, program, args)?;
    Ok(Timed { wall: Duration::from_nanos(wall_ns), cpu: Duration::from_nanos(cpu_ns), max_rss_kib })
}

/// One traced run (`spawn --resident`): what the program had mapped when it exited.
fn resident_at_exit(spawner: &Path, arch: Arch, program: &Path, args: &[String]) -> Result<Resident> {
    let [total_kib, anon_kib] = spawn(spawner, Some("--resident"), arch, program, args)?;
    Ok(Resident { total_kib, anon_kib })
}

/// Run the spawner (the program's own environment is `PATH` only) and return
/// the `N` figures it prints before the wait status, which must be 0.
fn spawn<const N: usize>(
    spawner: &Path,
    mode: Option<&str>,
    arch: Arch,
    program: &Path,
    args: &[String],
) -> Result<[u64; N]> {
    let mut cmd = Command::new(spawner);
    cmd.env_clear().env("PATH", PATH).args(mode);
    if let Some(qemu) = arch.qemu_user() {
        cmd.arg(qemu);
    }
    let line = crate::util::output(cmd.arg(program).args(args))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("spawner printed {line:?}"))?;
    let Some((&status, figures)) = fields.split_last().filter(|(_, f)| f.len() == N) else {
        bail!("spawner printed {line:?}")
    };
    if status != 0 {
        bail!("{} failed in a measured run (wait status {status:#x})", program.display());
    }
    Ok(figures.try_into().expect("N figures"))
}

/// Every system call of one run: `strace -f` natively, `qemu -strace` under
/// emulation (its log lines have the same shape and go to stderr).
fn trace(arch: Arch, program: &Path, args: &[String], scratch: &Path) -> Result<syscalls::Counts> {
    std::fs::create_dir_all(scratch.parent().context("log without a directory")?)?;
    let _ = std::fs::remove_file(scratch);
    let mut cmd = match arch.qemu_user() {
        None => {
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o"]).arg(scratch).arg(program);
            c
        }
        Some(qemu) => {
            let mut c = Command::new(qemu);
            c.arg("-strace").arg(program);
            c
        }
    };
    let out = cmd
        .args(args)
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot trace {}", program.display()))?;
    if !out.status.success() {
        bail!("traced run of {} failed ({})", program.display(), out.status);
    }
    let log = match arch.qemu_user() {
        None => std::fs::read_to_string(scratch).with_context(|| format!("strace wrote no {}", scratch.display()))?,
        Some(_) => String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    Ok(syscalls::parse(&log))
}

/// The machine the figures come from.
struct Machine {
    cpus: usize,
    cpu_model: String,
    kernel: String,
    load: String,
    date: String,
}

impl Machine {
    fn describe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let date = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            date,
        }
    }
}

fn section_key(version: MuslVersion, arch: Arch) -> String {
    format!("musl-{version}/{arch}")
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

/// The section for `docs/bench.md`, also what stdout shows (Markdown reads as plain text).
fn report(arch: Arch, version: MuslVersion, rounds: usize, m: &Machine, rows: &[(&str, Outcome)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## musl {version}, {arch}\n");
    let _ = writeln!(
        s,
        "Measured {} on {} CPU(s), {}, Linux {} (load average at start: {}). \
         {rounds} interleaved rounds (the loaders take turns at going first) in {BLOCKS} blocks; before each block, the files each loader maps (`libc.so`, \
         the program, its libraries) are dropped from the page cache, so both read them back alike, and \
         {WARMUP_ROUNDS} untimed rounds read them in.",
        m.date, m.cpus, m.cpu_model, m.kernel, m.load
    );
    if let Some(qemu) = arch.qemu_user() {
        let _ = writeln!(
            s,
            "\nUnder `{qemu}`: times are emulated and peak RSS is qemu's own. The last column of the acceptance \
             table is the host instructions qemu executes for one run of each (callgrind; exact, whatever the \
             machine's load), ours against the reference: not judged, but what a change to startup moves."
        );
    }
    let _ = writeln!(
        s,
        "\nWall time is spawn to reaping, as the parent sees it (µs); peak RSS is `ru_maxrss` of the child (KiB), \
         the judged figure; resident at exit is what an extra, traced run in every {RESIDENT_EVERY}th round had mapped \
         when it exited (KiB, `smaps_rollup`: file-backed and anonymous, medians; exact, where `ru_maxrss` moves \
         in steps of up to 128 KiB); system calls are those of one `strace -f` run (opens = open + openat)."
    );
    let _ = writeln!(
        s,
        "\n| program | loader | time p10 | time median | time p90 | peak RSS median | resident at exit: file | anon | \
         system calls | opens (failed) | stat family |"
    );
    let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, outcome) in rows {
        match outcome {
            Outcome::Measured { reference, ours } => {
                for (loader, r) in [(Loader::Reference, reference), (Loader::Stormless, ours)] {
                    let _ = writeln!(
                        s,
                        "| {name} | {loader} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} ({}) | {} |",
                        r.wall_us.p10,
                        r.wall_us.median,
                        r.wall_us.p90,
                        r.rss_kib.median,
                        r.file_kib.median,
                        r.anon_kib.median,
                        r.calls.calls,
                        r.calls.opens,
                        r.calls.failed_opens,
                        r.calls.stats
                    );
                }
            }
            Outcome::Unavailable(why) => {
                let _ = writeln!(s, "| {name} | — | {why} | | | | | | | | |");
            }
            Outcome::Failed(why) => {
                let _ = writeln!(s, "| {name} | — | did not run: {} | | | | | | | | |", why.replace('\n', " "));
            }
        }
    }
    let _ = writeln!(
        s,
        "\nAcceptance, ours against the reference: median time ratio ≤ {MAX_TIME_RATIO}, median peak RSS ratio \
         ≤ {MAX_RSS_RATIO}, no more system calls. The time ratio's 95 % interval is a bootstrap of both loaders' \
         runs: how far the verdict is from the bound, given the run-to-run spread. The CPU time ratio (the \
         children's user plus system time, medians, with the same interval) leaves out the waits that make \
         wall time noisy on a shared machine: not judged, but the steadier figure for comparing two builds.\n"
    );
    let emulated = arch.qemu_user().is_some();
    let _ = writeln!(
        s,
        "| program | time ratio (95 % interval) | peak RSS ratio | system calls (ours / reference) | verdict | \
         CPU time ratio (not judged) | resident at exit ratio (not judged) |{}",
        if emulated { " qemu instructions ratio (not judged) |" } else { "" }
    );
    let _ = writeln!(s, "|---|--:|--:|--:|---|--:|--:|{}", if emulated { "--:|" } else { "" });
    for (name, outcome) in rows {
        if let Outcome::Measured { reference, ours } = outcome {
            let time = ours.wall_us.median / reference.wall_us.median;
            let (low, high) = median_ratio_interval(&reference.walls_us, &ours.walls_us);
            let rss = ours.rss_kib.median / reference.rss_kib.median;
            let cpu = Spread::of(&ours.cpus_us).median / Spread::of(&reference.cpus_us).median;
            let (cpu_low, cpu_high) = median_ratio_interval(&reference.cpus_us, &ours.cpus_us);
            let ok = time <= MAX_TIME_RATIO && rss <= MAX_RSS_RATIO && ours.calls.calls <= reference.calls.calls;
            let emulator = match (ours.emulator_instructions, reference.emulator_instructions) {
                (Some(o), Some(r)) => format!(" {:.4} |", o as f64 / r as f64),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "| {name} | {time:.3} ({low:.3}–{high:.3}) | {rss:.3} | {} / {} | {} | {cpu:.3} ({cpu_low:.3}–{cpu_high:.3}) | {:.3} |{emulator}",
                ours.calls.calls,
                reference.calls.calls,
                verdict(ok),
                ours.resident_kib.median / reference.resident_kib.median
            );
        }
    }
    s
}

/// A 95 % bootstrap interval of the median time ratio ours/reference: each
/// loader's runs resampled with replacement, [`BOOTSTRAP_RESAMPLES`] times,
/// with a fixed seed so a report is reproducible from its samples. It shows
/// how far a verdict is from the bound in units of the run-to-run spread:
/// under qemu-user one run of `hello` takes 14–23 ms, and the median of 200
/// runs of one build moves about ±2 % between runs of the command.
pub(crate) fn median_ratio_interval(reference: &[f64], ours: &[f64]) -> (f64, f64) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        // xorshift64*: enough for resampling indices.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    };
    let mut resample = |values: &[f64]| {
        let drawn: Vec<f64> = (0..values.len()).map(|_| values[next(values.len())]).collect();
        Spread::of(&drawn).median
    };
    let mut ratios: Vec<f64> = (0..BOOTSTRAP_RESAMPLES).map(|_| resample(ours) / resample(reference)).collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((q * ratios.len() as f64) as usize).min(ratios.len() - 1)];
    (at(0.025), at(0.975))
}

fn markers(key: &str) -> (String, String) {
    (format!("<!-- bench:begin {key} -->"), format!("<!-- bench:end {key} -->"))
}

/// Replace the section `key` of the document (or append it), leaving the rest as it is.
pub(crate) fn replace_section(doc: &str, key: &str, body: &str) -> String {
    let (begin, end) = markers(key);
    let block = format!("{begin}\n{}\n{end}", body.trim_end());
    if let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) {
        if b < e {
            return format!("{}{block}{}", &doc[..b], &doc[e + end.len()..]);
        }
    }
    let sep = if doc.is_empty() || doc.ends_with("\n\n") {
        ""
    } else if doc.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{doc}{sep}{block}\n")
}

fn update_doc(path: &Path, key: &str, body: &str) -> Result<()> {
    let doc = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Startup benchmarks\n\n".into(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    crate::util::write_atomic(path, replace_section(&doc, key, body).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_nearest_rank() {
        let values: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(Spread::of(&values), Spread { p10: 10.0, median: 50.0, p90: 90.0 });
        assert_eq!(Spread::of(&[7.0]), Spread { p10: 7.0, median: 7.0, p90: 7.0 });
        assert_eq!(Spread::of(&[3.0, 1.0, 2.0]).median, 2.0);
    }

    #[test]
    fn median_ratio_interval_brackets_the_ratio() {
        // No spread: the interval is the ratio itself.
        assert_eq!(median_ratio_interval(&[1000.0; 50], &[2000.0; 50]), (2.0, 2.0));
        // The same spread under both: the interval holds 1, narrowly, and is reproducible.
        let runs: Vec<f64> = (0..200).map(|i| 1000.0 + (i * 37 % 200) as f64).collect();
        let (low, high) = median_ratio_interval(&runs, &runs);
        assert!(low < 1.0 && 1.0 < high && high - low < 0.1, "{low} {high}");
        assert_eq!(median_ratio_interval(&runs, &runs), (low, high));
        // Ours 10 % slower in every run: the interval is around 1.1.
        let slower: Vec<f64> = runs.iter().map(|x| 1.1 * x).collect();
        let (low, high) = median_ratio_interval(&runs, &slower);
        assert!(low < 1.1 && 1.1 < high, "{low} {high}");
    }

    #[test]
    fn callgrind_total_is_read() {
        let log = "==12== Callgrind, a call-graph generating cache profiler\n==12== \n==12== Events    : Ir\n\
                   ==12== Collected : 48940617\n==12== \n==12== I   refs:      48,940,617\n";
        assert_eq!(collected(log), Some(48_940_617));
        assert_eq!(collected("==12== Events    : Ir\n"), None);
    }

    #[test]
    fn sections_are_replaced_or_appended() {
        let doc = "# Title\n\nintro\n";
        let one = replace_section(doc, "musl-1.2.3/x86_64", "table A\n");
        assert_eq!(
            one,
            "# Title\n\nintro\n\n<!-- bench:begin musl-1.2.3/x86_64 -->\ntable A\n<!-- bench:end musl-1.2.3/x86_64 -->\n"
        );
        let two = replace_section(&one, "musl-1.2.3/armv7", "table B");
        let three = replace_section(&two, "musl-1.2.3/x86_64", "table C");
        assert!(three.contains("table C") && three.contains("table B") && !three.contains("table A"), "{three}");
        assert!(three.find("table C").unwrap() < three.find("table B").unwrap(), "kept in place: {three}");
        assert!(three.starts_with("# Title\n\nintro\n\n"), "{three}");
    }
}
