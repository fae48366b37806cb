//! `cargo xtask bench --workload armv7-script --arch armv7`: the seed's
//! headline case (issue 14, point 3, goal P6). A busybox `sh` script shaped
//! like a system configuration script — per unit, a Python step that renders
//! and records its configuration (`json`, `hashlib`, `sqlite3`), the sqlite3
//! shell, a Lua template and busybox applets — run under qemu-user, where
//! every start of a program is a fresh qemu (binfmt_misc, `cargo xtask
//! setup`). Its total time under each loader variant: `stock` (the real
//! programs' and the store's reference entry points), `ours` (their sysroot
//! entry points), `ours-tables` (the store's table copy, `storecopy.rs`, and
//! copies of the real programs with `stormless embed`) and `floor` (the
//! store's floor copy; the real programs' RUNPATHs already name one
//! directory each).
//!
//! Then where the time goes: each kind of start the script makes, timed
//! alone, so that its count times its time accounts for the script's total
//! (docs/bench-armv7-script.md).
use super::report::{machine, median, ratio_ci, Record};
use super::{Config, Options, Variant};
use crate::util::{remove_dir, say};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stormless_tests::store::{failed_open_paths, is_loader_probe};
use stormless_trees::{arch_dir, workspace_root, Arch, Loader, MuslVersion, RealPrograms};

/// The workload's script: `sh script.sh BIN UNITS WORK DIR`, `DIR` holding
/// `unit.py` and `render.lua`. Every program comes from `BIN` (the
/// variant's links), none from the host.
const SCRIPT: &str = r#"set -e
PATH=$1
export PATH
units=$2 work=$3 dir=$4
rm -rf "$work"
mkdir -p "$work"
sqlite3 "$work/state.db" 'CREATE TABLE units(name TEXT PRIMARY KEY, hash TEXT, size INTEGER);'
i=0
while [ "$i" -lt "$units" ]; do
    unit=unit$i
    python3 "$dir/unit.py" "$unit" "$work/$unit.json" "$work/state.db" > "$work/$unit.hash"
    hash=$(cat "$work/$unit.hash")
    sqlite3 "$work/state.db" "UPDATE units SET size = $(wc -c < "$work/$unit.json") WHERE name = '$unit';"
    lua "$dir/render.lua" "$unit" "$hash" > "$work/$unit.service"
    grep -q "Description=$unit" "$work/$unit.service"
    i=$((i + 1))
done
sqlite3 "$work/state.db" 'SELECT count(*), sum(size) FROM units;'
cat "$work/unit0.service"
"#;

/// The Python step of each unit (`unit.py`). `_hashlib` by name: `hashlib`
/// falls back to its own digests when OpenSSL's module cannot load, which
/// would hide a broken `libcrypto` from the output comparison.
const UNIT_PY: &str = "import hashlib, json, sqlite3, sys, _hashlib
name, path, db = sys.argv[1:4]
text = json.dumps({'name': name, 'after': ['network.target'], 'exec': '/bin/' + name}, sort_keys=True)
open(path, 'w').write(text)
digest = hashlib.sha256(text.encode()).hexdigest()
with sqlite3.connect(db) as c:
    c.execute('INSERT INTO units VALUES (?, ?, 0)', (name, digest))
print(digest)";

/// The Lua step: a unit file from a template.
const RENDER_LUA: &str = r#"local name, hash = arg[1], arg[2]
io.write(string.format("[Unit]\nDescription=%s\n# %s\n[Service]\nExecStart=/bin/%s\n", name, hash:sub(1, 12), name))
"#;

/// The busybox applets the script runs, linked beside the programs.
const APPLETS: [&str; 6] = ["sh", "cat", "wc", "grep", "rm", "mkdir"];

/// The starts timed alone (label, program link, arguments): what the
/// script starts, and the smallest start of each program.
const ALONE: [(&str, &str, &[&str]); 5] = [
    ("busybox true", "sh", &["-c", "true"]),
    ("lua -v", "lua", &["-v"]),
    ("sqlite3 :memory:", "sqlite3", &[":memory:", "SELECT 1;"]),
    ("python3 -c pass", "python3", &["-c", "pass"]),
    ("python3 unit step imports", "python3", &["-c", "import hashlib, json, sqlite3, _hashlib"]),
];

/// Run the workload on one tree pair; its records (also written into
/// docs/bench-armv7-script.md unless `--config tiny`).
pub fn run(opts: &Options, version: MuslVersion, arch: Arch) -> Result<Vec<Record>> {
    let units = if opts.config == Config::Tiny { 2 } else { 10 };
    let runs = opts.runs.unwrap_or(if opts.config == Config::Tiny { 1 } else { 5 });
    let dir = arch_dir(version, arch).join("scale").join("armv7-script");
    std::fs::create_dir_all(&dir)?;
    crate::real::ensure(version, arch)?;
    let pythons = super::python::pythons(version, arch)?;
    let bins = bin_dirs(version, arch, &dir, &pythons)?;
    std::fs::write(dir.join("script.sh"), SCRIPT)?;
    std::fs::write(dir.join("render.lua"), RENDER_LUA)?;
    std::fs::write(dir.join("unit.py"), UNIT_PY)?;
    let args = |v: Variant| {
        let work = dir.join(format!("work-{}", v.name()));
        [&bins[index(v)], &PathBuf::from(units.to_string()), &work, &dir].map(|p| p.display().to_string()).to_vec()
    };
    let script = dir.join("script.sh").display().to_string();
    let mut records = Vec::new();
    let mut traced = Vec::new();
    for v in Variant::ALL {
        let sh = bins[index(v)].join("sh");
        let script_args: Vec<String> = std::iter::once(script.clone()).chain(args(v)).collect();
        let t = trace(arch, &sh, &script_args, &dir.join(format!("trace-{}.log", v.name())))?;
        say(format!(
            "bench: armv7-script {}: {} starts, {} opens, {} failed ({} the loader's)",
            v.name(),
            t.starts,
            t.opens,
            t.failed_opens_all,
            t.failed_opens
        ));
        traced.push(t);
    }
    for (v, t) in Variant::ALL.iter().zip(&traced).skip(1) {
        if t.stdout != traced[0].stdout {
            bail!("armv7-script: {} printed {:?}, stock {:?}", v.name(), t.stdout, traced[0].stdout);
        }
    }
    let whole: Vec<(PathBuf, Vec<String>)> = Variant::ALL
        .iter()
        .map(|&v| (bins[index(v)].join("sh"), std::iter::once(script.clone()).chain(args(v)).collect()))
        .collect();
    let size = format!("script, {units} units");
    records.extend(timed(version, arch, &size, &whole, runs, Some(&traced))?);
    for (label, program, alone_args) in ALONE {
        let starts: Vec<(PathBuf, Vec<String>)> =
            bins.iter().map(|bin| (bin.join(program), alone_args.iter().map(|a| a.to_string()).collect())).collect();
        records.extend(timed(version, arch, label, &starts, runs * 4, None)?);
    }
    if opts.config != Config::Tiny {
        publish(version, arch, &records)?;
    }
    Ok(records)
}

fn index(v: Variant) -> usize {
    Variant::ALL.iter().position(|x| *x == v).expect("a variant")
}

/// Each variant's `<dir>/<variant>/bin`: links to busybox (and its
/// applets), sqlite3 and lua of the real programs, the store's python3 of
/// the variant.
fn bin_dirs(version: MuslVersion, arch: Arch, dir: &Path, pythons: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let real = RealPrograms::new(version, arch);
    let tables = tabled_real_programs(&real, dir)?;
    Variant::ALL
        .iter()
        .zip(pythons)
        .map(|(&v, python)| {
            let from = match v {
                Variant::Stock => real.bin_dir(Loader::Reference),
                Variant::OursTables => tables.clone(),
                Variant::Ours | Variant::Floor => real.bin_dir(Loader::Stormless),
            };
            let bin = dir.join(v.name()).join("bin");
            remove_dir(&bin)?;
            std::fs::create_dir_all(&bin)?;
            let link = |target: &Path, name: &str| {
                std::os::unix::fs::symlink(target, bin.join(name))
                    .with_context(|| format!("cannot link {} to {}", bin.join(name).display(), target.display()))
            };
            for applet in APPLETS {
                link(&from.join("busybox"), applet)?;
            }
            link(&from.join("sqlite3"), "sqlite3")?;
            link(&from.join("lua"), "lua")?;
            link(python, "python3")?;
            Ok(bin)
        })
        .collect()
}

/// Copies of the real programs (ours) with tables: `stormless embed` over
/// copies of busybox, sqlite3 and lua, remade on every run (three files).
/// Their libraries stay where they are: each NEEDs only `libc.so`.
fn tabled_real_programs(real: &RealPrograms, dir: &Path) -> Result<PathBuf> {
    let out = dir.join("real-tables");
    remove_dir(&out)?;
    std::fs::create_dir_all(&out)?;
    for name in ["busybox", "sqlite3", "lua"] {
        let built = real.bin_dir(Loader::Stormless).join(name).canonicalize()?;
        std::fs::copy(&built, out.join(name)).with_context(|| format!("cannot copy {}", built.display()))?;
    }
    super::build::embed(&out)?;
    Ok(out)
}

/// What one traced run of the script did.
struct Traced {
    stdout: String,
    /// Programs started: the script's shell and every exec.
    starts: u64,
    opens: u64,
    failed_opens_all: u64,
    failed_opens: u64,
    stats: u64,
}

/// One run with every process traced: under qemu-user through
/// `QEMU_STRACE` (inherited by every qemu binfmt_misc starts), natively
/// with `strace -f`.
fn trace(arch: Arch, sh: &Path, args: &[String], log: &Path) -> Result<Traced> {
    // The environment of the timed runs (the spawner's: PATH only).
    let mut cmd = match arch.qemu_user() {
        Some(qemu) => {
            let mut c = Command::new(qemu);
            c.env_clear().env("QEMU_STRACE", "1");
            c
        }
        None => {
            let mut c = Command::new("strace");
            c.env_clear().args(["-f", "-qq", "-e", "trace=execve,open,openat,%stat", "-o"]).arg(log);
            c
        }
    };
    cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    let out =
        cmd.arg(sh).args(args).stdin(Stdio::null()).output().with_context(|| format!("cannot run {}", sh.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = match arch.qemu_user() {
        Some(_) => {
            std::fs::write(log, &stderr)?;
            stderr
        }
        None => std::fs::read_to_string(log)?,
    };
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        bail!("armv7-script: {} failed ({}); log {}: …{}", sh.display(), out.status, log.display(), tail.join(" | "));
    }
    let counts = stormless_tests::syscalls::parse(&text);
    let failed = failed_open_paths(&text);
    let execs = successful_execs(&text);
    Ok(Traced {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        starts: execs + u64::from(arch.qemu_user().is_some()),
        opens: counts.opens,
        failed_opens_all: counts.failed_opens,
        failed_opens: failed.iter().filter(|p| is_loader_probe(p)).count() as u64,
        stats: counts.stats,
    })
}

/// Successful `execve` calls in a trace. strace logs a failed one as
/// `execve(…) = -1 …`; qemu-user logs the call and, when it succeeds, never
/// its result: the new image's qemu continues the same line with its own
/// first call (`…, NULL})26735 set_tid_address(…`).
fn successful_execs(log: &str) -> u64 {
    log.match_indices("execve(")
        .filter(|(at, _)| {
            let line = log[*at..].lines().next().unwrap_or("");
            match line.find("})") {
                // qemu-user: the guest's argv in braces, then the result or the next call.
                Some(end) => !line[end + 2..].trim_start().starts_with("= -"),
                // strace: `execve(…) = 0`.
                None => line.rsplit_once(" = ").is_some_and(|(_, result)| result.trim_start().starts_with('0')),
            }
        })
        .count() as u64
}

/// `runs` interleaved timed rounds of the variants' starts (the first is
/// stock), after one untimed: a record per variant.
fn timed(
    version: MuslVersion,
    arch: Arch,
    size: &str,
    starts: &[(PathBuf, Vec<String>)],
    runs: usize,
    traced: Option<&[Traced]>,
) -> Result<Vec<Record>> {
    say(format!("bench: armv7-script: {size}, {runs} rounds"));
    let spawner = crate::bench::spawner(version)?;
    let mut wall = vec![Vec::new(); starts.len()];
    let mut cpu = vec![Vec::new(); starts.len()];
    for round in 0..=runs {
        let mut order: Vec<usize> = (0..starts.len()).collect();
        order.rotate_left(round % starts.len());
        for i in order {
            let (program, args) = &starts[i];
            let t = crate::bench::run_once(&spawner, arch, program, args)
                .with_context(|| format!("timed start of {}", program.display()))?;
            if round > 0 {
                wall[i].push(t.wall.as_secs_f64() * 1e6);
                cpu[i].push(t.cpu.as_secs_f64() * 1e6);
            }
        }
    }
    let measured = machine();
    Ok(Variant::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let t = traced.map(|t| &t[i]);
            Record {
                workload: "armv7-script".into(),
                arch: arch.name().into(),
                musl: version.as_str().into(),
                variant: v.name().into(),
                size: size.into(),
                n: t.map(|t| t.starts as usize),
                fs: "local".into(),
                concurrency: None,
                latency_us: None,
                opens: t.map_or(0, |t| t.opens),
                failed_opens: t.map_or(0, |t| t.failed_opens),
                failed_opens_all: t.map_or(0, |t| t.failed_opens_all),
                stats: t.map_or(0, |t| t.stats),
                stdout: t.map_or(String::new(), |t| t.stdout.trim_end().to_string()),
                runs,
                median_us: Some(median(&wall[i])),
                cpu_median_us: Some(median(&cpu[i])),
                cpu_ratio_ci: Some(ratio_ci(&cpu[0], &cpu[i])),
                cpu_ratio_floor_ci: Some(ratio_ci(&cpu[index(Variant::Floor)], &cpu[i])),
                server_ops_per_start: None,
                server_failed_lookups_per_start: None,
                server_ops: None,
                makespan_ms: None,
                makespan_ratio: None,
                measured: measured.clone(),
            }
        })
        .collect())
}

/// The records as a table in docs/bench-armv7-script.md's generated
/// section for this tree.
fn publish(version: MuslVersion, arch: Arch, records: &[Record]) -> Result<()> {
    let mut body = format!(
        "Measured {} (`cargo xtask bench --workload armv7-script --arch {arch} --musl {version}`).\n\n\
         | what | variant | starts | opens | failed opens (loader's) | wall median (ms) | CPU median (ms) | CPU vs stock (95 % CI) |\n\
         |---|---|---|---|---|---|---|---|\n",
        records.first().map_or(String::new(), |r| r.measured.clone())
    );
    for r in records {
        let ci = r.cpu_ratio_ci.map_or("—".into(), |[m, lo, hi]| format!("{m:.3} ({lo:.3}–{hi:.3})"));
        let traced = r.n.is_some();
        body.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {ci} |\n",
            r.size,
            r.variant,
            r.n.map_or("1".into(), |n| n.to_string()),
            if traced { r.opens.to_string() } else { "—".into() },
            if traced { format!("{} ({})", r.failed_opens_all, r.failed_opens) } else { "—".into() },
            r.median_us.unwrap_or(f64::NAN) / 1e3,
            r.cpu_median_us.unwrap_or(f64::NAN) / 1e3,
        ));
    }
    let path = workspace_root().join("docs").join("bench-armv7-script.md");
    let doc = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# The armv7 script workload\n\n".into(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let key = format!("armv7-script musl {version} {arch}");
    crate::util::write_atomic(&path, crate::bench::replace_section(&doc, &key, &body).as_bytes())?;
    say(format!("bench: wrote {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_execs_that_replaced_the_process_not_failed_ones() {
        let qemu = "7 execve(\"/b/rm\",{\"rm\",NULL})7 set_tid_address(1) = 7\n\
                    8 execve(\"/b/x\",{\"x\",NULL}) = -1 errno=2 (No such file or directory)\n";
        assert_eq!(successful_execs(qemu), 1);
        let strace = "9 execve(\"/b/sh\", [\"sh\"], 0x1 /* 1 var */) = 0\n\
                      9 execve(\"/b/y\", [\"y\"], 0x1 /* 1 var */) = -1 ENOENT (No such file or directory)\n";
        assert_eq!(successful_execs(strace), 1);
    }
}
