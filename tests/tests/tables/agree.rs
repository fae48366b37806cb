//! `agree`: our loader and `stormless explain` agree on random stores. Each case draws a store
//! from a seed: 3–6 directories `dK` (missing, empty, a file, a symbolic link to another, or
//! holding libraries), 3–7 libraries `libN.so` needing lower ones, one sometimes in two
//! directories, sometimes a symbolic link to one under another name, a program needing some (one
//! sometimes by its absolute path), so that a search may meet a file already loaded; RUNPATH or
//! old RPATH on every object with existing (some with a trailing `/`), missing, empty (`::`),
//! `$ORIGIN/../dK`, `${ORIGIN}/../dK` and relative (`dK`, run from the store's root) entries;
//! tables embedded in a random subset of the objects (sometimes `--loaded-by` the program), then
//! the store changed (a library moved, deleted or copied elsewhere) so that `=file` entries go
//! stale or lose to a new copy; `LD_LIBRARY_PATH` absent, empty, or 1–2 entries (absolute, empty,
//! relative). The program is run by our loader with `LD_DEBUG=libs` and given to
//! `stormless explain --json` (same `--library-path`, same current directory), and:
//!
//! 1. the loader's `trying file=` candidates are explain's `probes_with_tables`, concatenated
//!    over its resolutions in order;
//! 2. the objects the loader maps are explain's resolutions that map a new object (kinds
//!    `table`, `rpath`, `ld_library_path`, `sys_path`, `pathname`), in order;
//! 3. the loader's failed opens (candidates tried less files found, and needed pathnames that
//!    did not open) are explain's `failed_probes_with_tables`;
//! 4. the names explain cannot find are those the loader reports with "Error loading shared
//!    library" and exit status 127 (musl's loader reports every missing library of the start and
//!    goes on loading the rest, so the whole sequence is compared, never a prefix); else the
//!    program runs and prints `ok`.
//!
//! Then every object gets its plain bytes back (no table) and 1–4 are checked again; when the
//! plain run maps the same files, its failed opens are explain's `failed_probes_without_tables`
//! of the run with tables.
//!
//! `STORMLESS_AGREE_CASES=N` (default 24 per arch and musl version), `STORMLESS_AGREE_SEED=S`
//! (replays one case: the hex seed a failure prints, with its layout). A failing case's directory
//! stays in `target/stormless/musl-<v>/<arch>/tables/agree/case-<seed>/` (its objects end without
//! tables; a replay rebuilds it).
//!
//! Disagreements found: none. When this was written (after the shared search driver, d9ee92f),
//! these cases of this generator agreed: 300 on x86_64 (musl 1.2.3), 100 on x86_64 (1.2.5), 150
//! each on aarch64 and armv7 (1.2.5), 60 each on aarch64 and armv7 (1.2.3); and about 1,500 more
//! of its earlier, plainer versions. A disagreement found later goes here with its seed, its
//! layout and which side is wrong, and stays failing until that side is fixed. (The check itself
//! was seen to fail, with a readable diff, when explain is given another `LD_LIBRARY_PATH`.)

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use stormless_tests::exec;
use stormless_trees::{arch_dir, workspace_root, Arch, Loader, MuslVersion, Tree};

#[path = "agree/layout.rs"]
mod layout;
use layout::{build, describe, generate, run_ok, Rng};

/// What one side says about a start.
#[derive(Debug, Default)]
struct Account {
    tried: Vec<String>,
    mapped: Vec<String>,
    failed: u64,
    missing: Vec<String>,
    /// explain's `failed_probes_without_tables`.
    failed_without: u64,
}

fn loader(arch: Arch, prog: &Path, root: &Path, llp: &Option<String>) -> Result<(Account, exec::Outcome)> {
    let mut env = BTreeMap::from([("LD_DEBUG".to_string(), "libs".to_string())]);
    if let Some(p) = llp {
        env.insert("LD_LIBRARY_PATH".into(), p.clone());
    }
    let out = exec::command(arch, prog, &[], &env, None).current_dir(root).output()?;
    let outcome = exec::Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: exec::status_code(out.status),
    };
    let mut account = Account::default();
    // Failed opens: the candidates tried less those found, and pathnames that did not open.
    let (mut name, mut found, mut failed_paths) = ("", 0, 0);
    for line in outcome.stderr.lines() {
        let msg = line.split_once(":\t").map_or(line, |(_, m)| m);
        if let Some(rest) = msg.strip_prefix("find library=") {
            name = rest.split(" [needed by ").next().unwrap_or(rest);
        } else if let Some(path) = msg.strip_prefix("  trying file=") {
            account.tried.push(path.to_string());
        } else if msg.starts_with(" found file=") && !name.contains('/') {
            found += 1;
        } else if msg.starts_with(" not found: ") && name.contains('/') {
            failed_paths += 1;
        } else if let Some(rest) = msg.strip_prefix(" mapped ") {
            account.mapped.push(rest.rsplit_once(" at ").map_or(rest, |r| r.0).to_string());
        } else if let Some(rest) = line.split_once("Error loading shared library ").map(|r| r.1) {
            account.missing.push(rest.split(": ").next().unwrap_or(rest).to_string());
        }
    }
    account.failed = account.tried.len() as u64 - found + failed_paths;
    Ok((account, outcome))
}

/// The CLI, where `cli.rs` finds it.
fn cli() -> Result<std::path::PathBuf> {
    let cli = workspace_root().join("target/release/stormless");
    ensure!(cli.exists(), "no {} (`cargo build --release -p stormless` builds it)", cli.display());
    Ok(cli)
}

/// explain's account, and its resolutions one a line.
fn explain(prog: &Path, root: &Path, llp: &Option<String>) -> Result<(Account, String)> {
    let mut cmd = Command::new(cli()?);
    cmd.current_dir(root).env_remove("LD_LIBRARY_PATH").args(["explain", "--json"]);
    if let Some(p) = llp {
        cmd.args(["--library-path", p]);
    }
    let out = cmd.arg(prog).output().with_context(|| format!("cannot run {cmd:?}"))?;
    let json: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("explain printed no JSON: {}", String::from_utf8_lossy(&out.stderr)))?;
    let (mut account, mut text) = (Account::default(), String::new());
    for r in json["resolutions"].as_array().context("no resolutions")? {
        let path = r["path"].as_str().unwrap_or_default().to_string();
        let _ = writeln!(
            text,
            "    {} (by {}) => {path} {} probes {}",
            r["name"], r["requester"], r["how"], r["probes_with_tables"]
        );
        match r["how"]["kind"].as_str().unwrap_or_default() {
            "table" | "rpath" | "ld_library_path" | "sys_path" | "pathname" => account.mapped.push(path),
            "not_found" => account.missing.push(r["name"].as_str().unwrap_or_default().to_string()),
            _ => {}
        }
        let probes = r["probes_with_tables"].as_array().context("explain's JSON has no probes_with_tables")?;
        account.tried.extend(probes.iter().map(|p| p.as_str().unwrap_or_default().to_string()));
    }
    account.failed = json["failed_probes_with_tables"].as_u64().context("no failed_probes_with_tables")?;
    account.failed_without =
        json["failed_probes_without_tables"].as_u64().context("no failed_probes_without_tables")?;
    ensure!(out.status.success() == account.missing.is_empty(), "explain's exit status {}", out.status);
    Ok((account, text))
}

/// The first difference of two sequences, with what comes before it and both tails.
fn diff(what: &str, loader: &[String], explain: &[String]) -> Option<String> {
    if loader == explain {
        return None;
    }
    let same = loader.iter().zip(explain).take_while(|(a, b)| a == b).count();
    let mut s = format!("{what} differ after {same} equal:\n");
    for p in &loader[same.saturating_sub(2)..same] {
        let _ = writeln!(s, "      = {p}");
    }
    for (side, list) in [("loader", loader), ("explain", explain)] {
        let _ = writeln!(s, "    {side}: {:?}", &list[same..]);
    }
    Some(s.trim_end().to_string())
}

/// Assertions 1–4 for one run of each side; the loader's account for the plain comparison.
fn compare(arch: Arch, label: &str, root: &Path, llp: &Option<String>, out: &mut Vec<String>) -> Result<[Account; 2]> {
    let prog = root.join("bin/prog");
    let (ours, outcome) = loader(arch, &prog, root, llp)?;
    let (predicted, json) = explain(&prog, root, llp)?;
    let mut found: Vec<String> =
        diff("candidates tried (trying file= / probes_with_tables)", &ours.tried, &predicted.tried)
            .into_iter()
            .collect();
    found.extend(diff("objects mapped", &ours.mapped, &predicted.mapped));
    if ours.failed != predicted.failed {
        found.push(format!("failed opens: loader {}, explain {}", ours.failed, predicted.failed));
    }
    found.extend(diff("names not found", &ours.missing, &predicted.missing));
    let want = if predicted.missing.is_empty() { (0, "ok\n") } else { (127, "") };
    if (outcome.status, outcome.stdout.as_str()) != want {
        found.push(format!("loader: status {}, stdout {:?}, expected {want:?}", outcome.status, outcome.stdout));
    }
    if !found.is_empty() {
        let tail: String = outcome.stderr.lines().take(80).map(|l| format!("    {l}\n")).collect();
        found.push(format!("loader's stderr:\n{tail}  explain's resolutions:\n{json}"));
        out.push(format!("{label}:\n  {}", found.join("\n  ")));
    }
    Ok([ours, predicted])
}

/// One case from its seed; its problems (empty when both sides agree).
fn case(tree: &Tree, arch: Arch, seed: u64, root: &Path) -> Result<Vec<String>> {
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let root_str = root.to_str().context("UTF-8 path")?;
    let layout = generate(seed, root_str);
    build(tree, &layout, root)?;
    let tabled: Vec<&String> =
        layout.libs.iter().chain([&layout.prog]).filter(|o| o.tabled).flat_map(|o| &o.at).collect();
    if !tabled.is_empty() {
        let mut embed = Command::new(cli()?);
        embed
            .current_dir(root)
            .arg("embed")
            .args(layout.loaded_by.then_some(["--loaded-by", "bin/prog"]).iter().flatten());
        run_ok(embed.args(&tabled))?;
    }
    for (op, from, to) in &layout.changes {
        let (from, to) = (root.join(from), root.join(to.trim_start_matches("to ")));
        match *op {
            "deleted" => std::fs::remove_file(from)?,
            "moved" => std::fs::create_dir_all(to.parent().unwrap()).and_then(|()| std::fs::rename(from, to))?,
            _ => std::fs::create_dir_all(to.parent().unwrap()).and_then(|()| std::fs::copy(from, to).map(drop))?,
        }
    }
    let mut problems = Vec::new();
    let [tabled_run, predicted] = compare(arch, "with tables", root, &layout.llp, &mut problems)?;
    // Every object back to its plain bytes (same inode: copy over the file).
    for entry in std::fs::read_dir(root)? {
        let dir = entry?.path();
        if dir.file_name().is_some_and(|n| n != "stage") && dir.is_dir() {
            for file in std::fs::read_dir(&dir)? {
                let file = file?.path();
                if file.is_symlink() {
                    continue; // an alias: its target gets its bytes
                }
                std::fs::copy(root.join("stage").join(file.file_name().unwrap()), &file)?;
            }
        }
    }
    let [plain_run, _] = compare(arch, "without tables", root, &layout.llp, &mut problems)?;
    if plain_run.mapped == tabled_run.mapped && plain_run.failed != predicted.failed_without {
        problems.push(format!(
            "without tables the loader fails {} opens, explain's failed_probes_without_tables is {}",
            plain_run.failed, predicted.failed_without
        ));
    }
    if problems.is_empty() {
        return Ok(problems);
    }
    let layout = describe(&layout).replace(root_str, "<root>");
    let header = format!("case seed {seed:#018x} (<root> is {root_str}):\n{layout}");
    Ok(std::iter::once(header).chain(problems.iter().map(|p| p.replace(root_str, "<root>"))).collect())
}

pub fn agree(version: MuslVersion, arch: Arch) -> Result<()> {
    let tree = Tree::new(version, arch, Loader::Stormless);
    let scratch = arch_dir(version, arch).join("tables/agree");
    std::fs::create_dir_all(&scratch)?;
    let seeds: Vec<u64> = match std::env::var("STORMLESS_AGREE_SEED") {
        Ok(s) => vec![u64::from_str_radix(s.trim_start_matches("0x"), 16).context("STORMLESS_AGREE_SEED: hex")?],
        Err(_) => {
            let cases = match std::env::var("STORMLESS_AGREE_CASES") {
                Ok(n) => n.parse().with_context(|| format!("STORMLESS_AGREE_CASES={n}"))?,
                Err(_) => 24,
            };
            // Each arch and version draws its own cases, the same on every run.
            let name = format!("{version}/{arch}");
            let mut rng = Rng(name.bytes().fold(0x5eed, |h: u64, b| h.wrapping_mul(131) ^ u64::from(b)));
            (0..cases).map(|_| rng.next()).collect()
        }
    };
    let mut failures = Vec::new();
    for &seed in &seeds {
        let root = scratch.join(format!("case-{seed:016x}"));
        let problems = case(&tree, arch, seed, &root).with_context(|| format!("case seed {seed:#018x}"))?;
        if problems.is_empty() {
            std::fs::remove_dir_all(&root)?;
        } else {
            failures.push(problems.join("\n"));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} of {} cases disagree (replay one: STORMLESS_AGREE_SEED=<seed> STORMLESS_MUSL={version} \
         STORMLESS_ARCHES={arch} cargo test -p stormless-tests --test tables -- agree)\n{}",
        failures.len(),
        seeds.len(),
        // The first three in full, the others' seeds.
        failures
            .iter()
            .enumerate()
            .map(|(i, f)| if i < 3 { f } else { f.lines().next().unwrap() })
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    Ok(())
}
