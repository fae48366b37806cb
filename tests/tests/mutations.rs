//! The mutation corpus (issue 15): over a thousand malformed ELF objects per arch, made from
//! the fixtures' real programs and libraries by `stormless_tests::mutate` (truncations; ELF
//! header, program-header, dynamic-entry, symbol, SysV and GNU hash-table, relocation and note
//! fields set to boundary and out-of-range values; random words; deterministic seed), each run
//! through both loaders in three ways:
//!
//! - `program`: a mutated program run as itself, or the fixture's real program with the mutated
//!   library found first through `LD_LIBRARY_PATH`;
//! - `list`: the loader in command mode, `ld-musl-<arch>.so.1 --list FILE`;
//! - `dlopen`: `tests/fixtures/mutations/dlopen_host.c`, built with each tree, `dlopen`s the file
//!   (then `dlsym` and `dladdr` on a symbol it defines) and prints `dlerror()` on failure.
//!
//! Pass: ours never dies of a signal or hangs; where the reference neither crashes nor hangs,
//! ours exits with the same status and reports the same message class (`mutate::message_class`:
//! "load: Exec format error", "reloc: symbol not found", success, …). Exceptions are listed in
//! [`EXCEPTIONS`], each with its reason. The bases are built with the reference tree once per
//! arch; a program's copy for our loader differs from it only in PT_INTERP, so both loaders see
//! byte-identical mutants.
//!
//! One trial per arch (`musl-<v>/<arch>/corpus`), two worker threads inside it, trials one at a
//! time. `STORMLESS_WRITE_DOCS=1` writes the per-arch tables to `docs/mutations.md`.
//! Environment: `STORMLESS_MUSL`, `STORMLESS_ARCHES`, as the differential suite.
use anyhow::{bail, Context, Result};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use stormless_elf::consts::PT_INTERP;
use stormless_elf::Header;
use stormless_tests::build::{self, lib_dir};
use stormless_tests::manifest::Fixture;
use stormless_tests::mutate::{self, Mutation, PER_OBJECT};
use stormless_tests::{exec, fixtures_dir};
use stormless_trees::{arch_dir, workspace_root, Arch, Loader, MuslVersion, Tree};

/// Seconds before a run counts as a hang (`timeout -k 2`).
const TIMEOUT_SECS: u32 = 10;
/// Worker threads per arch (the suite runs the arches one after another).
const WORKERS: usize = 2;

/// A crash or hang of ours that is known and accepted for now: `id` as `mutate` names it (or a
/// prefix ending in `*`), `arch` and `mode` (or `*`), when it applies, and why.
struct Exception {
    id: &'static str,
    arch: &'static str,
    mode: &'static str,
    when: When,
    reason: &'static str,
}

#[derive(PartialEq, Eq)]
enum When {
    /// Whatever the reference did.
    Always,
    /// Only when the reference crashed or hung too (the signal may differ: it depends on
    /// where the file's garbage points, and each loader leaves different garbage behind).
    ReferenceCrashed,
}

/// Known failures. Entries marked `TODO(issue 15)` are crashes of ours the loader still has to
/// turn into reports; they are listed so the rest of the corpus guards everything else.
const EXCEPTIONS: &[Exception] = &[
    // A program the kernel mapped and runs is trusted as the kernel trusts it: running an
    // untrusted program runs its code anyway. Checking its relocation tables against its mapping
    // (36 instructions at every start) cost 0.9 % of qemu-aarch64's instructions for `hello`
    // (measured: 49.20 M -> 49.63 M; each translated guest instruction costs ~12 k of qemu's). The
    // files a user points the loader at without running them, `--list` and command mode, are
    // loaded by map_library, which checks every table; those modes of this mutation pass.
    Exception {
        id: "hello/dyn.DT_JMPREL=max",
        arch: "*",
        mode: "program",
        when: When::Always,
        reason: "the kernel-mapped program's relocation tables are trusted, as its code is (a check costs 0.9 % of qemu startup)",
    },
    // The same trust: a PT_PHDR whose p_vaddr disagrees with the kernel's AT_PHDR shifts the
    // program's base by a byte, and both loaders read its dynamic section from the wrong place;
    // under 1.2.5 on aarch64 and armv7 the reference happens to stop at a relocation it cannot
    // name ("No error information"), ours at a misaligned read. `--list` and command mode map the
    // file themselves and pass.
    Exception {
        id: "hello/phdr0.p_vaddr(PHDR)=orig+1",
        arch: "*",
        mode: "program",
        when: When::Always,
        reason: "the kernel-mapped program's headers are trusted, as its code is (a shifted PT_PHDR reads garbage under both)",
    },
    // Running a program (or a library's constructors through dlopen) executes code and follows
    // pointers the mutated file supplies: DT_INIT, DT_INIT_ARRAY/DT_FINI_ARRAY entries, a GOT left
    // unrelocated because a relocation table was dropped or shortened, the program's own
    // instructions cut by a truncation. Stock musl crashes too; no check of the
    // loader's can tell a valid entry point from a wrong one. `list` never runs the file's code,
    // so it has no such exception: a crash there is always the loader's. Every case is listed
    // in docs/mutations.md ("both crashed") for review.
    Exception {
        id: "*",
        arch: "*",
        mode: "program",
        when: When::ReferenceCrashed,
        reason: "the file's own code or pointers fault after loading, as under stock musl",
    },
    Exception {
        id: "*",
        arch: "*",
        mode: "dlopen",
        when: When::ReferenceCrashed,
        reason: "the file's own code or pointers fault after loading, as under stock musl",
    },
];

/// An object the corpus mutates: a fixture's program or one of its libraries, and a symbol it
/// defines (for the dlopen host's `dlsym`/`dladdr`).
struct Base {
    label: &'static str,
    fixture: &'static str,
    /// `None`: the program; `Some(name)`: that `[[lib]]`.
    lib: Option<&'static str>,
    symbol: &'static str,
    /// At most this many mutations (plus the pinned ones).
    cap: usize,
}

const BASES: &[Base] = &[
    Base { label: "hello", fixture: "hello", lib: None, symbol: "main", cap: PER_OBJECT },
    Base { label: "liba", fixture: "chain", lib: Some("a"), symbol: "a_value", cap: PER_OBJECT },
    Base { label: "libold", fixture: "sysvhash", lib: Some("old"), symbol: "from_old", cap: PER_OBJECT },
    Base { label: "libtlsa", fixture: "tls", lib: Some("tlsa"), symbol: "a_init_addr", cap: PER_OBJECT },
    // The one fixture object with a PT_NOTE (a `.note.nixos.ldcache` table): its note fields.
    Base { label: "relfile", fixture: "relfile", lib: None, symbol: "main", cap: 100 },
];

const MODES: [&str; 3] = ["program", "list", "dlopen"];

fn main() {
    let mut args = Arguments::from_args();
    // Each trial runs its own WORKERS threads: one trial at a time.
    args.test_threads = Some(1);
    let trials = match trials() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mutations: {e:#}");
            std::process::exit(101);
        }
    };
    let conclusion = libtest_mimic::run(&args, trials);
    if std::env::var("STORMLESS_WRITE_DOCS").is_ok_and(|v| v == "1") {
        if let Err(e) = write_docs() {
            eprintln!("mutations: cannot write docs/mutations.md: {e:#}");
            std::process::exit(101);
        }
    }
    conclusion.exit();
}

static TABLES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

fn trials() -> Result<Vec<Trial>> {
    let (version, arches) = stormless_tests::selection()?;
    let mut trials = Vec::new();
    for &arch in &arches {
        for loader in Loader::ALL {
            stormless_tests::complete_tree(version, arch, loader)?;
        }
        trials.push(Trial::test(format!("musl-{version}/{arch}/corpus"), move || {
            corpus(version, arch).map_err(|e| Failed::from(format!("{e:#}")))
        }));
    }
    Ok(trials)
}

/// What one run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Exit(i32, String),
    Signal(i32),
    Timeout,
}

impl Verdict {
    fn crashed(&self) -> bool {
        !matches!(self, Verdict::Exit(..))
    }

    fn label(&self) -> String {
        match self {
            Verdict::Exit(0, c) if c.is_empty() => "exit 0".into(),
            Verdict::Exit(s, c) if c.is_empty() => format!("exit {s}"),
            Verdict::Exit(s, c) => format!("exit {s}: {c}"),
            Verdict::Signal(n) => signal_name(*n),
            Verdict::Timeout => format!("timeout ({TIMEOUT_SECS} s)"),
        }
    }
}

fn signal_name(n: i32) -> String {
    match n {
        4 => "SIGILL".into(),
        5 => "SIGTRAP".into(),
        6 => "SIGABRT".into(),
        7 => "SIGBUS".into(),
        8 => "SIGFPE".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        n => format!("signal {n}"),
    }
}

/// Everything one arch's corpus needs, built once.
struct Setup {
    arch: Arch,
    trees: [Tree; 2],
    /// Per base: the original bytes and its file name.
    originals: Vec<(Vec<u8>, String)>,
    /// Per base and loader: the real program (PT_INTERP = that loader).
    programs: Vec<[PathBuf; 2]>,
    /// Per loader: the dlopen host.
    hosts: [PathBuf; 2],
    work: PathBuf,
    /// The loaders' modification times when the run began.
    loaders_stamp: Vec<std::time::SystemTime>,
    /// Hash of everything the reference's verdicts depend on besides the mutant.
    salt: u64,
    /// The reference's verdicts of earlier runs (see [`Cache`]).
    cache: Cache,
}

/// The reference loader's verdicts, kept between runs in `mutations/reference-verdicts.tsv`:
/// stock musl, its dlopen host and its copies of the programs do not change from run to run,
/// so a mutant the reference has seen is not run through it again (about half of the runs).
/// The key hashes the reference's loader, host and programs, the mutant's bytes and the mode;
/// a rebuilt tree, a changed generator or another timeout makes every key new.
/// `STORMLESS_MUTATIONS_NO_CACHE=1` runs everything.
struct Cache {
    path: PathBuf,
    known: Mutex<BTreeMap<u64, Verdict>>,
    enabled: bool,
}

impl Cache {
    fn load(path: PathBuf) -> Cache {
        let enabled = !std::env::var("STORMLESS_MUTATIONS_NO_CACHE").is_ok_and(|v| v == "1");
        let mut known = BTreeMap::new();
        if enabled {
            for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                let f: Vec<&str> = line.splitn(4, '\t').collect();
                let Some(key) = f.first().and_then(|k| u64::from_str_radix(k, 16).ok()) else { continue };
                let verdict = match (f.get(1), f.get(2).and_then(|n| n.parse().ok())) {
                    (Some(&"exit"), Some(n)) => Verdict::Exit(n, f.get(3).unwrap_or(&"").to_string()),
                    (Some(&"signal"), Some(n)) => Verdict::Signal(n),
                    (Some(&"timeout"), _) => Verdict::Timeout,
                    _ => continue,
                };
                known.insert(key, verdict);
            }
        }
        Cache { path, known: Mutex::new(known), enabled }
    }

    fn get(&self, key: u64) -> Option<Verdict> {
        self.enabled.then(|| self.known.lock().unwrap().get(&key).cloned()).flatten()
    }

    fn put(&self, key: u64, v: &Verdict) {
        self.known.lock().unwrap().insert(key, v.clone());
    }

    fn save(&self) -> Result<()> {
        let mut text = String::new();
        for (k, v) in self.known.lock().unwrap().iter() {
            let _ = match v {
                Verdict::Exit(n, c) => writeln!(text, "{k:016x}\texit\t{n}\t{c}"),
                Verdict::Signal(n) => writeln!(text, "{k:016x}\tsignal\t{n}"),
                Verdict::Timeout => writeln!(text, "{k:016x}\ttimeout\t0"),
            };
        }
        std::fs::write(&self.path, text).with_context(|| format!("cannot write {}", self.path.display()))
    }
}

fn loaders_stamp(trees: &[Tree; 2]) -> Result<Vec<std::time::SystemTime>> {
    trees
        .iter()
        .map(|t| {
            let ldso = t.ldso();
            let meta =
                std::fs::metadata(&ldso).with_context(|| format!("{} (is the tree being rebuilt?)", ldso.display()))?;
            Ok(meta.modified()?)
        })
        .collect()
}

fn hash_of(parts: &[&[u8]]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

fn corpus(version: MuslVersion, arch: Arch) -> Result<()> {
    let started = Instant::now();
    let setup = prepare(version, arch)?;
    let built = started.elapsed();
    let mut all: Vec<(usize, Mutation)> = Vec::new();
    for (b, (bytes, _)) in setup.originals.iter().enumerate() {
        for m in mutate::generate(BASES[b].label, bytes, BASES[b].cap)? {
            all.push((b, m));
        }
    }
    // Run: two workers take mutations in turn.
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<[[Verdict; 2]; 3]>>> = Mutex::new(vec![None; all.len()]);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for worker in 0..WORKERS {
            let (setup, all, next, results, errors) = (&setup, &all, &next, &results, &errors);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((b, m)) = all.get(i) else { break };
                match run_one(setup, worker, *b, m) {
                    Ok(v) => results.lock().unwrap()[i] = Some(v),
                    Err(e) => errors.lock().unwrap().push(format!("{}: {e:#}", m.id)),
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        bail!("{} mutations could not be run:\n{}", errors.len(), errors.join("\n"));
    }
    // A loader rebuilt under the run (`cargo xtask build` beside it) makes runs die of SIGBUS
    // as the mapped file changes: such a run says nothing.
    if loaders_stamp(&setup.trees)? != setup.loaders_stamp {
        bail!("a loader was rebuilt during the run; run again");
    }
    let results: Vec<[[Verdict; 2]; 3]> = results.into_inner().unwrap().into_iter().map(Option::unwrap).collect();
    setup.cache.save()?;
    let elapsed = started.elapsed();
    report(version, &setup, &all, &results, built, elapsed)
}

fn prepare(version: MuslVersion, arch: Arch) -> Result<Setup> {
    let root = arch_dir(version, arch).join("mutations");
    let trees = Loader::ALL.map(|l| Tree::new(version, arch, l));
    let reference = &trees[0];
    let fixtures = Fixture::all(&fixtures_dir())?;
    let mut built = BTreeMap::new();
    for base in BASES {
        if built.contains_key(base.fixture) {
            continue;
        }
        let f =
            fixtures.iter().find(|f| f.name == base.fixture).with_context(|| format!("no fixture {}", base.fixture))?;
        let b = build::build_into(reference, f, &root.join("build").join(&f.name))?;
        built.insert(base.fixture, (f, b));
    }
    let mut originals = Vec::new();
    let mut programs = Vec::new();
    for base in BASES {
        let (f, b) = &built[base.fixture];
        let path = match base.lib {
            None => b.program.clone(),
            Some(name) => {
                let lib = f.manifest.lib.iter().find(|l| l.name == name).context("no such lib")?;
                lib_dir(&b.out, name).join(lib.file_name())
            }
        };
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        originals.push((bytes, name));
        let program = std::fs::read(&b.program)?;
        let mut pair = Vec::new();
        for tree in &trees {
            let dir = root.join("programs").join(tree.loader.tree_dir());
            std::fs::create_dir_all(&dir)?;
            let out = dir.join(base.fixture);
            write_executable(&out, &with_interp(&program, &program, &tree.ldso())?)?;
            pair.push(out);
        }
        programs.push([pair[0].clone(), pair[1].clone()]);
    }
    let source = fixtures_dir().join("mutations").join("dlopen_host.c");
    let mut hosts = Vec::new();
    for tree in &trees {
        let out = root.join(format!("dlopen-host-{}", tree.loader.tree_dir()));
        let res = Command::new(tree.cc())
            .args(["-O1", "-g0", "-Wall", "-Werror"])
            .arg(&source)
            .arg("-o")
            .arg(&out)
            .output()?;
        if !res.status.success() {
            bail!("building {} failed:\n{}", out.display(), String::from_utf8_lossy(&res.stderr));
        }
        hosts.push(out);
    }
    let loaders_stamp = loaders_stamp(&trees)?;
    let work = root.join("work");
    let _ = std::fs::remove_dir_all(&work);
    let mut salt_parts = vec![std::fs::read(reference.ldso())?, std::fs::read(&hosts[0])?];
    for p in &programs {
        salt_parts.push(std::fs::read(&p[0])?);
    }
    salt_parts.push(format!("{TIMEOUT_SECS} {} {}", mutate::SEED, env!("CARGO_PKG_VERSION")).into_bytes());
    let salt = hash_of(&salt_parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let cache = Cache::load(root.join("reference-verdicts.tsv"));
    Ok(Setup {
        arch,
        trees,
        originals,
        programs,
        hosts: [hosts[0].clone(), hosts[1].clone()],
        work,
        loaders_stamp,
        salt,
        cache,
    })
}

/// `file` (a mutant of `original`) with the interpreter path of `original`'s PT_INTERP replaced
/// by `ldso`, at the original's place; unchanged when that place no longer holds the path.
fn with_interp(original: &[u8], file: &[u8], ldso: &Path) -> Result<Vec<u8>> {
    let header = Header::parse(original).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ph = header
        .program_headers(original)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .find(PT_INTERP)
        .context("no PT_INTERP")?;
    let (off, len) = (usize::try_from(ph.offset)?, usize::try_from(ph.filesz)?);
    let path = ldso.as_os_str().as_encoded_bytes();
    if path.len() >= len {
        bail!("{} does not fit PT_INTERP ({len} bytes)", ldso.display());
    }
    let mut out = file.to_vec();
    if out.get(off..off + len) == original.get(off..off + len) {
        out[off..off + len].fill(0);
        out[off..off + path.len()].copy_from_slice(path);
    }
    Ok(out)
}

fn write_executable(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The three modes under both loaders: `[mode][loader]`.
fn run_one(setup: &Setup, worker: usize, b: usize, m: &Mutation) -> Result<[[Verdict; 2]; 3]> {
    let base = &BASES[b];
    let (original, name) = &setup.originals[b];
    let mutant = m.apply(original)?;
    let dir = setup.work.join(format!("w{worker}"));
    let mut out: [[Verdict; 2]; 3] = Default::default();
    for (l, tree) in setup.trees.iter().enumerate() {
        let ldir = dir.join(tree.loader.tree_dir());
        std::fs::create_dir_all(&ldir)?;
        let file = ldir.join(name);
        let no_env = BTreeMap::new();
        let (program, env) = match base.lib {
            None => {
                write_executable(&file, &with_interp(original, &mutant, &tree.ldso())?)?;
                (file.clone(), no_env.clone())
            }
            Some(_) => {
                write_executable(&file, &mutant)?;
                let env = [("LD_LIBRARY_PATH".to_string(), ldir.to_string_lossy().into_owned())].into();
                (setup.programs[b][l].clone(), env)
            }
        };
        let list_args = ["--list".into(), file.to_string_lossy().into_owned()];
        let host_args = [file.to_string_lossy().into_owned(), base.symbol.to_string()];
        let runs: [(&Path, &[String], &BTreeMap<String, String>); 3] =
            [(&program, &[], &env), (&tree.ldso(), &list_args, &no_env), (&setup.hosts[l], &host_args, &no_env)];
        for (k, (prog, args, env)) in runs.into_iter().enumerate() {
            let key = hash_of(&[&setup.salt.to_le_bytes(), &[b as u8, k as u8], &mutant]);
            out[k][l] = match (tree.loader, setup.cache.get(key)) {
                (Loader::Reference, Some(v)) => v,
                (loader, _) => {
                    let v = run(setup.arch, prog, args, env)?;
                    if loader == Loader::Reference {
                        setup.cache.put(key, &v);
                    }
                    v
                }
            };
        }
    }
    Ok(out)
}

impl Default for Verdict {
    fn default() -> Verdict {
        Verdict::Exit(0, String::new())
    }
}

/// `program` for `arch` (natively or through qemu-user) with only `env`, under `timeout`.
fn run(arch: Arch, program: &Path, args: &[String], env: &BTreeMap<String, String>) -> Result<Verdict> {
    let mut cmd = Command::new("timeout");
    cmd.env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    cmd.args(["-k", "2", &TIMEOUT_SECS.to_string()]);
    match arch.qemu_user() {
        None => {
            cmd.args(["env", "-i"]).args(env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        Some(qemu) => {
            cmd.arg(qemu);
            for (k, v) in env {
                cmd.arg("-E").arg(format!("{k}={v}"));
            }
        }
    }
    cmd.arg(program).args(args);
    // A mutant just written by one worker can be held open for writing by the other worker's
    // child between its fork and exec: exec then fails with ETXTBSY. Run again.
    let mut tries = 0;
    let out = loop {
        let out = cmd.output().with_context(|| format!("cannot run {}", program.display()))?;
        tries += 1;
        if tries < 5 && String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        break out;
    };
    let status = exec::status_code(out.status);
    Ok(match status {
        124 | 137 => Verdict::Timeout,
        129..=192 => Verdict::Signal(status - 128),
        s => Verdict::Exit(
            s,
            mutate::message_class(&String::from_utf8_lossy(&out.stderr), &String::from_utf8_lossy(&out.stdout)),
        ),
    })
}

/// The verdicts compared, the table written, the failures listed.
fn report(
    version: MuslVersion,
    setup: &Setup,
    all: &[(usize, Mutation)],
    results: &[[[Verdict; 2]; 3]],
    built: std::time::Duration,
    elapsed: std::time::Duration,
) -> Result<()> {
    let arch = setup.arch;
    let excepted = |id: &str, mode: &str, r: &Verdict| {
        EXCEPTIONS.iter().find(|e| {
            mutate::id_matches(e.id, id)
                && (e.arch == "*" || e.arch == arch.name())
                && (e.mode == "*" || e.mode == mode)
                && (e.when == When::Always || r.crashed())
        })
    };
    // counts[mode][label] = (reference, ours)
    let mut counts: Vec<BTreeMap<String, (usize, usize)>> = vec![BTreeMap::new(); 3];
    // agreement[mode] = [same, reference crashed & ours reported, ours crashed, differ]
    let mut agreement = [[0usize; 7]; 3];
    let mut crashes = Vec::new();
    let mut both_crashed = Vec::new();
    let mut ours_accepts = Vec::new();
    let mut used_ids = std::collections::BTreeSet::new();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    let mut differs = Vec::new();
    let mut used_exceptions = 0;
    for ((_, m), verdicts) in all.iter().zip(results) {
        for (k, mode) in MODES.iter().enumerate() {
            let [r, o] = &verdicts[k];
            counts[k].entry(r.label()).or_default().0 += 1;
            counts[k].entry(o.label()).or_default().1 += 1;
            let line =
                format!("{} ({} = {}) [{mode}]: reference {}, ours {}", m.id, m.field, m.value, r.label(), o.label());
            let slot = if o.crashed() {
                if let Some(e) = excepted(&m.id, mode, r) {
                    used_exceptions += 1;
                    *by_reason.entry(e.reason).or_default() += 1;
                    used_ids.insert(e.id);
                    if r.crashed() {
                        both_crashed.push(line.clone());
                    }
                } else {
                    crashes.push(line);
                }
                if r.crashed() {
                    3
                } else {
                    2
                }
            } else if r.crashed() {
                1
            } else if r == o {
                0
            } else {
                let sub = match (r, o) {
                    (Verdict::Exit(0, _), _) => 4,
                    (_, Verdict::Exit(0, _)) => 5,
                    _ => 6,
                };
                if sub == 5 {
                    ours_accepts.push(line.clone());
                }
                differs.push(line);
                sub
            };
            agreement[k][slot] += 1;
        }
    }
    let mut per_base = BTreeMap::new();
    for (b, _) in all {
        *per_base.entry(BASES[*b].label).or_insert(0usize) += 1;
    }
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (_, m) in all {
        *kinds.entry(kind_of(&m.field)).or_default() += 1;
    }
    let mut t = String::new();
    writeln!(t, "## musl {version}, {arch}\n")?;
    writeln!(
        t,
        "{} mutated objects ({}), {} runs; {:.0} s (building the bases and hosts: {:.0} s).\n",
        all.len(),
        per_base.iter().map(|(b, n)| format!("{b} {n}")).collect::<Vec<_>>().join(", "),
        all.len() * 6,
        elapsed.as_secs_f64(),
        built.as_secs_f64()
    )?;
    writeln!(
        t,
        "Mutations by kind: {}.\n",
        kinds.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(
        t,
        "| mode | same outcome | reference crashed, ours reported | ours crashed, reference not | both crashed \
         | differ: ours rejects, reference loads | differ: ours loads, reference rejects | differ: other |"
    )?;
    writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for (k, mode) in MODES.iter().enumerate() {
        let a = agreement[k];
        writeln!(t, "| {mode} | {} | {} | {} | {} | {} | {} | {} |", a[0], a[1], a[2], a[3], a[4], a[5], a[6])?;
    }
    for (k, mode) in MODES.iter().enumerate() {
        writeln!(t, "\n`{mode}`:\n\n| outcome | reference | ours |\n|---|---:|---:|")?;
        let mut rows: Vec<_> = counts[k].iter().collect();
        rows.sort_by(|a, b| (b.1 .0 + b.1 .1).cmp(&(a.1 .0 + a.1 .1)).then(a.0.cmp(b.0)));
        for (label, (r, o)) in rows {
            writeln!(t, "| {} | {r} | {o} |", label.replace('|', "\\|"))?;
        }
    }
    for (reason, n) in &by_reason {
        writeln!(t, "\nExcepted crashes of ours ({n} runs): {reason}.")?;
    }
    // The doc lists the crashes both loaders share and the objects only ours accepts; every
    // difference goes to target/…/mutations/differences.txt.
    for (title, list) in [
        ("Both crashed (excepted: see EXCEPTIONS in tests/tests/mutations.rs)", &both_crashed),
        ("Ours loads, the reference reports an error", &ours_accepts),
    ] {
        writeln!(t, "\n<details><summary>{title}: {} runs</summary>\n", list.len())?;
        for l in list.iter() {
            writeln!(t, "- {}", l.replace('|', "\\|").replace('<', "&lt;"))?;
        }
        writeln!(t, "\n</details>")?;
    }
    writeln!(t)?;
    eprint!("{t}");
    let all_differences = setup.work.parent().unwrap().join("differences.txt");
    std::fs::write(&all_differences, differs.join("\n") + "\n")?;
    eprintln!("every difference: {}", all_differences.display());
    TABLES.lock().unwrap().insert(format!("{version}/{}", arch.name()), t);
    eprintln!("{used_exceptions} outcomes excepted ({} exception entries)", EXCEPTIONS.len());
    for e in EXCEPTIONS {
        if (e.arch == "*" || e.arch == arch.name()) && !used_ids.contains(e.id) {
            eprintln!("exception no longer needed on {arch} (remove it once no arch needs it): {} [{}]", e.id, e.mode);
        }
    }
    let failed_dir = setup.work.parent().unwrap().join("failed");
    if !crashes.is_empty() {
        save_failures(setup, all, results, &failed_dir)?;
        let mut msg = String::new();
        if !crashes.is_empty() {
            writeln!(
                msg,
                "ours crashed or hung on {} runs (mutants kept in {}):",
                crashes.len(),
                failed_dir.display()
            )?;
            for c in &crashes {
                writeln!(msg, "  {c}")?;
            }
        }
        bail!("{msg}");
    }
    Ok(())
}

/// Every mutant on which ours crashed or differed, written out for reproduction.
fn save_failures(setup: &Setup, all: &[(usize, Mutation)], results: &[[[Verdict; 2]; 3]], dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for ((b, m), v) in all.iter().zip(results) {
        if v.iter().any(|[r, o]| o.crashed() || (!r.crashed() && r != o)) {
            let d = dir.join(m.id.replace('/', "_"));
            std::fs::create_dir_all(&d)?;
            let (original, name) = &setup.originals[*b];
            std::fs::write(d.join(name), m.apply(original)?)?;
        }
    }
    Ok(())
}

/// The mutation kind a field name belongs to, for the counts.
fn kind_of(field: &str) -> String {
    let k = if field == "truncate" {
        "truncation"
    } else if field.starts_with("e") {
        "ELF header"
    } else if field.starts_with("load") || field.starts_with("phdr") || field.starts_with("dynamic.") {
        "program header"
    } else if field.starts_with("dyn.") {
        "dynamic entry"
    } else if field.starts_with("sym") {
        "symbol"
    } else if field.starts_with("hash.") {
        "SysV hash"
    } else if field.starts_with("gnu_hash.") {
        "GNU hash"
    } else if field.starts_with("rel") || field.starts_with("jmprel") {
        "relocation"
    } else if field.starts_with("note") {
        "note"
    } else if field.starts_with("word@") {
        "random word"
    } else {
        "other"
    };
    k.to_string()
}

fn write_docs() -> Result<()> {
    let tables = TABLES.lock().unwrap();
    if tables.is_empty() {
        return Ok(());
    }
    let mut doc = String::from(
        "# The mutation corpus\n\n\
         Generated by `tests/tests/mutations.rs` (issue 15); do not edit. Reproduce with\n\n\
         ```sh\nSTORMLESS_WRITE_DOCS=1 cargo test -p stormless-tests --test mutations\n```\n\n\
         (`STORMLESS_MUSL` and `STORMLESS_ARCHES` narrow it, as for the differential suite.)\n\n\
         Each mutated object (`tests/src/mutate.rs`, fixed seed) runs under the reference loader\n\
         (stock musl) and ours in three modes: `program` (the mutated program run as itself, or the\n\
         fixture's program loading the mutated library through `LD_LIBRARY_PATH`), `list`\n\
         (`ld-musl-<arch>.so.1 --list FILE`) and `dlopen` (`tests/fixtures/mutations/dlopen_host.c`).\n\
         An outcome is the exit status and the class of the message (`load: <errno text>`,\n\
         `reloc: symbol not found`, …; `mutate::message_class`), or the signal, or a hang.\n\n\
         The test fails when ours dies of a signal or hangs, unless `EXCEPTIONS` in the test lists\n\
         the case: entries marked `TODO(issue 15)` are crashes of ours still to be turned into\n\
         reports; one rule excepts, in `program` and `dlopen` mode only, runs where the reference\n\
         crashes too (the file's own code or pointers fault after loading; listed below per arch).\n\
         Differences of outcome are counted, not failed: ours checks more than musl and rejects\n\
         (\"Exec format error\", \"Not a valid dynamic program\") objects musl loads. A mutated\n\
         main program is started by the kernel; when the kernel refuses it, `env`'s execvp hands\n\
         it to `/bin/sh` (the `other: … Syntax error` rows), under both loaders alike.\n\n",
    );
    for t in tables.values() {
        doc.push_str(t);
    }
    std::fs::write(workspace_root().join("docs").join("mutations.md"), doc)?;
    Ok(())
}
