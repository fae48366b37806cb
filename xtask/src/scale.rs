//! `cargo xtask bench --workload python-imports|pynamic|store-n`: startup at
//! scale (issue 14), each workload started under four loader variants —
//! `stock` (stock musl), `ours` (no tables), `ours-tables` (after
//! `stormless embed`) and `floor` (ours, every library of the closure in one
//! directory, every RUNPATH naming only that one: zero failed opens without
//! any table, the limit a table can approach) — on the local file system or,
//! with `--fs netfs`, through the network-filesystem model
//! (`crates/netfs`) with K cold starts at once. Records go to
//! `docs/bench-scale.json` (merged across runs, and to `--json FILE`),
//! tables to `docs/bench.md`'s generated sections, plots to `docs/`.
mod build;
pub mod check;
mod measure;
mod plot;
mod python;
mod report;
mod script;
mod storecopy;
mod workloads;

use crate::util::say;
use anyhow::{bail, Result};
use measure::Start;
use report::Record;
use std::path::{Path, PathBuf};
use stormless_trees::{arch_dir, Arch, Loader, MuslVersion, Tree};

/// A loader variant (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    Stock,
    Ours,
    OursTables,
    Floor,
}

impl Variant {
    pub const ALL: [Variant; 4] = [Variant::Stock, Variant::Ours, Variant::OursTables, Variant::Floor];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Stock => "stock",
            Variant::Ours => "ours",
            Variant::OursTables => "ours-tables",
            Variant::Floor => "floor",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadKind {
    PythonImports,
    Pynamic,
    StoreN,
    /// A busybox sh script starting python3, sqlite3 and lua again and again (scale/script.rs).
    Armv7Script,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::PythonImports => "python-imports",
            WorkloadKind::Pynamic => "pynamic",
            WorkloadKind::StoreN => "store-n",
            WorkloadKind::Armv7Script => "armv7-script",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fs {
    Local,
    Netfs,
}

/// How big a generated workload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Config {
    /// The suite's check (seconds).
    Tiny,
    Default,
    /// pynamic: NERSC-8's 495 modules × 1850 functions (a manual run).
    Nersc8,
}

pub struct Options {
    pub workload: WorkloadKind,
    pub fs: Fs,
    pub concurrency: Vec<usize>,
    pub json: Option<PathBuf>,
    /// Timed rounds (local) or rounds of K starts (netfs); `None`: the workload's default.
    pub runs: Option<usize>,
    pub config: Config,
    pub latency_us: u64,
    /// store-n: the N to run instead of the configuration's.
    pub sizes: Option<Vec<usize>>,
}

/// One size of a workload, started four ways (in [`Variant::ALL`]'s order).
pub struct Case {
    /// `N=40`, `200m-200u-100f`, `imports`.
    pub size: String,
    pub n: Option<usize>,
    pub starts: Vec<Start>,
    /// What the runs build, below which traces go.
    pub root: PathBuf,
}

pub fn run(opts: &Options, arches: &[Arch], versions: &[MuslVersion]) -> Result<()> {
    let mut records = Vec::new();
    for &v in versions {
        for &a in arches {
            records.extend(run_one(opts, v, a)?);
        }
    }
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&records)?)?;
        say(format!("bench: wrote {}", path.display()));
    }
    // armv7-script writes docs/bench-armv7-script.md itself.
    if opts.config != Config::Tiny && opts.workload != WorkloadKind::Armv7Script {
        report::publish(&records)?;
    }
    Ok(())
}

/// Every record of one workload on one tree pair.
pub fn run_one(opts: &Options, version: MuslVersion, arch: Arch) -> Result<Vec<Record>> {
    let base = Tree::new(version, arch, Loader::Stormless);
    for loader in Loader::ALL {
        let t = Tree::new(version, arch, loader);
        if !t.is_complete() {
            bail!(
                "no complete {} tree at {} (cargo xtask build --arch {arch} --musl {version})",
                loader.tree_dir(),
                t.root.display()
            );
        }
    }
    if opts.workload == WorkloadKind::Armv7Script {
        return script::run(opts, version, arch);
    }
    let cases = prepare(opts, &base)?;
    let mut records = Vec::new();
    for case in &cases {
        say(format!("bench: {} {} (musl {version}, {arch}, {:?})", opts.workload.name(), case.size, opts.fs));
        records.extend(measure::measure_case(opts, version, arch, case)?);
    }
    Ok(records)
}

/// Build (or find) what each variant starts.
pub(crate) fn prepare(opts: &Options, base: &Tree) -> Result<Vec<Case>> {
    let scale = arch_dir(base.version, base.arch).join("scale").join(opts.workload.name());
    match opts.workload {
        WorkloadKind::StoreN => {
            let ns: &[usize] = match (&opts.sizes, opts.config) {
                (Some(ns), _) => ns,
                (None, Config::Tiny) => &[4],
                (None, _) => &[10, 20, 40, 80, 160],
            };
            ns.iter()
                .map(|&n| {
                    let root = scale.join(format!("n{n}"));
                    let w = workloads::store_n(n);
                    let starts = Variant::ALL
                        .iter()
                        .map(|&v| {
                            let built = build::build(base, &w, &root, v)?;
                            Ok(Start {
                                program: built.program.expect("store-n has a program"),
                                args: Vec::new(),
                                expected: Some(workloads::store_n_expected(n)),
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok(Case { size: format!("N={n}"), n: Some(n), starts, root })
                })
                .collect()
        }
        WorkloadKind::Pynamic => {
            let size = match opts.config {
                Config::Tiny => workloads::PynamicSize::TINY,
                Config::Default => workloads::PynamicSize::DEFAULT,
                Config::Nersc8 => workloads::PynamicSize::NERSC8,
            };
            let root = scale.join(size.label());
            let pythons = python::pythons(base.version, base.arch)?;
            let include = python::include_dir(base.version, base.arch)?;
            let w = workloads::pynamic(size, &include.display().to_string());
            let starts = Variant::ALL
                .iter()
                .zip(&pythons)
                .map(|(&v, python)| {
                    let built = build::build(base, &w, &root, v)?;
                    let driver = built.root.join("driver.py");
                    std::fs::write(&driver, workloads::pynamic_driver(&built.modules))?;
                    Ok(Start {
                        program: python.clone(),
                        args: vec![driver.display().to_string()],
                        expected: Some(workloads::pynamic_expected(size)),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(vec![Case { size: size.label(), n: None, starts, root }])
        }
        WorkloadKind::Armv7Script => bail!("armv7-script is measured by scale/script.rs, not as cases"),
        WorkloadKind::PythonImports => {
            let pythons = python::pythons(base.version, base.arch)?;
            std::fs::create_dir_all(&scale)?;
            let script = scale.join("imports.py");
            std::fs::write(&script, python::IMPORTS_SCRIPT)?;
            let args = python::imports_args(&pythons[0], &script)?;
            let starts =
                pythons.into_iter().map(|p| Start { program: p, args: args.clone(), expected: None }).collect();
            Ok(vec![Case { size: "imports".into(), n: None, starts, root: scale }])
        }
    }
}

/// Every ELF file below `dir` (regular files starting with `\x7fELF`), links not followed.
pub fn elf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for file in crate::bench::files_under(dir)? {
        let mut magic = [0u8; 4];
        let is_elf = std::fs::File::open(&file)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|_| &magic == b"\x7fELF");
        if is_elf {
            out.push(file);
        }
    }
    Ok(out)
}
