//! `agree`'s store generator: a random layout from a seed (directories, libraries, rpaths,
//! the program, the changes after embedding, `LD_LIBRARY_PATH`), its description for a failure
//! message, and building it with the tree's compiler.

use anyhow::{ensure, Context, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use stormless_trees::Tree;

/// splitmix64: small, seedable, good enough to draw layouts.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
    pub(super) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// One ELF object: where its copies are (relative to the root), what it needs, its rpath.
#[derive(Default)]
pub(super) struct Object {
    pub(super) file: String,
    pub(super) needed: Vec<usize>,
    pub(super) rpath: Option<String>,
    pub(super) runpath: bool,
    pub(super) at: Vec<String>,
    pub(super) tabled: bool,
    /// A library needed by its absolute path (the program only).
    pub(super) by_path: Option<usize>,
    /// This name is a symbolic link to that library's first copy, not an object of its own.
    pub(super) alias_of: Option<usize>,
}

/// A change to the store after the tables are written: `("deleted", from, "")`,
/// `("moved", from, "to <to>")` or `("copied", from, "to <to>")`.
pub(super) type Change = (&'static str, String, String);

/// One case: the kinds of the directories `d0…` of the root (missing, empty, file, link to the
/// first used one, used), the libraries, the program `bin/prog`, the changes, `LD_LIBRARY_PATH`.
pub(super) struct Layout {
    pub(super) dirs: Vec<&'static str>,
    pub(super) libs: Vec<Object>,
    pub(super) prog: Object,
    pub(super) changes: Vec<Change>,
    pub(super) llp: Option<String>,
    /// Tables written with `embed --loaded-by bin/prog` (names the libraries inherit).
    pub(super) loaded_by: bool,
}

/// An rpath, or none: most directories of `wanted` (the homes of the object's needed
/// libraries) and 0–3 others, in random order, each absolute, `$ORIGIN/../dK` or relative;
/// missing directories and empty entries among them.
pub(super) fn rpath(rng: &mut Rng, root: &str, dirs: usize, wanted: &[usize]) -> Option<String> {
    if rng.percent(10) {
        return None;
    }
    let mut picked: Vec<Option<usize>> = wanted.iter().filter(|_| rng.percent(85)).map(|&d| Some(d)).collect();
    for _ in 0..rng.below(4) {
        picked.push(if rng.percent(20) { None } else { Some(rng.below(dirs + 2)) });
    }
    rng.shuffle(&mut picked);
    let entries: Vec<String> = picked
        .into_iter()
        .map(|d| match d {
            None => String::new(),
            Some(d) if d >= dirs => format!("{root}/gone{d}"),
            Some(d) => match rng.below(100) {
                0..=54 => format!("{root}/d{d}"),
                55..=64 => format!("{root}/d{d}/"),
                65..=84 => format!("$ORIGIN/../d{d}"),
                85..=89 => format!("${{ORIGIN}}/../d{d}"),
                _ => format!("d{d}"),
            },
        })
        .collect();
    Some(entries.join(":")).filter(|r| !r.is_empty())
}

pub(super) fn generate(seed: u64, root: &str) -> Layout {
    let mut rng = Rng(seed);
    let kinds = ["missing", "empty", "used", "used", "used", "used", "file", "link"];
    let mut dirs: Vec<&'static str> = (0..3 + rng.below(4)).map(|_| kinds[rng.below(kinds.len())]).collect();
    if !dirs.contains(&"used") {
        dirs[0] = "used";
    }
    let used: Vec<usize> = (0..dirs.len()).filter(|&d| dirs[d] == "used").collect();
    let (mut numbers, count) = (Vec::new(), 3 + rng.below(5));
    while numbers.len() < count {
        let n = 1 + rng.below(98);
        if !numbers.contains(&n) {
            numbers.push(n);
        }
    }
    let (mut libs, mut homes) = (Vec::new(), Vec::new());
    for (i, n) in numbers.iter().enumerate() {
        let file = format!("lib{n}.so");
        let mut needed: Vec<usize> = (0..i).filter(|_| rng.percent(40)).collect();
        rng.shuffle(&mut needed);
        let home = used[rng.below(used.len())];
        let mut at = vec![format!("d{home}/{file}")];
        let other = used[rng.below(used.len())];
        if other != home && rng.percent(30) {
            at.push(format!("d{other}/{file}"));
        }
        let wanted: Vec<usize> = needed.iter().map(|&j: &usize| homes[j]).collect();
        homes.push(home);
        let (rpath, runpath, tabled) = (rpath(&mut rng, root, dirs.len(), &wanted), rng.percent(70), rng.percent(60));
        libs.push(Object { file, needed, rpath, runpath, at, tabled, ..Object::default() });
    }
    // Sometimes another name for a library: a search for it finds a file already loaded.
    if rng.percent(30) {
        let (j, home) = (rng.below(libs.len()), used[rng.below(used.len())]);
        let file = format!("lib{}.so", 100 + rng.below(100));
        let at = vec![format!("d{home}/{file}")];
        homes.push(home);
        libs.push(Object { file, at, alias_of: Some(j), ..Object::default() });
    }
    let mut needed: Vec<usize> = (0..libs.len()).filter(|_| rng.percent(60)).collect();
    if needed.is_empty() {
        needed.push(rng.below(libs.len()));
    }
    rng.shuffle(&mut needed);
    let wanted: Vec<usize> = needed.iter().map(|&j| homes[j]).collect();
    let (rpath, runpath, tabled) = (rpath(&mut rng, root, dirs.len(), &wanted), rng.percent(70), rng.percent(70));
    let by_path = rng.percent(20).then(|| rng.below(libs.len()));
    let at = vec!["bin/prog".into()];
    let prog = Object { file: "prog".into(), needed, rpath, runpath, at, tabled, by_path, ..Object::default() };
    let mut files: Vec<String> = libs.iter().filter(|l| l.alias_of.is_none()).flat_map(|l| l.at.clone()).collect();
    let mut changes = Vec::new();
    for _ in 0..rng.below(3) {
        let from = files[rng.below(files.len())].clone();
        let name = from.split_once('/').unwrap().1.to_string();
        let d = rng.below(dirs.len());
        if matches!(dirs[d], "file" | "link") {
            continue; // never into a file, nor through a link onto the file itself
        }
        let to = format!("d{d}/{name}");
        let change = match rng.below(5) {
            0 => ("deleted", from, String::new()),
            _ if files.contains(&to) => continue,
            kind => (if kind < 3 { "moved" } else { "copied" }, from, format!("to {to}")),
        };
        if change.0 != "copied" {
            files.retain(|f| *f != change.1);
        }
        if change.0 != "deleted" {
            files.push(to);
        }
        changes.push(change);
    }
    let llp = match rng.below(100) {
        0..=39 => None,
        40..=54 => Some(String::new()),
        _ => {
            let entry = |rng: &mut Rng| match (rng.below(100), rng.below(dirs.len())) {
                (0..=69, d) => format!("{root}/d{d}"),
                (70..=84, _) => String::new(),
                (_, d) => format!("d{d}"),
            };
            Some((0..1 + rng.below(2)).map(|_| entry(&mut rng)).collect::<Vec<_>>().join(":"))
        }
    };
    Layout { dirs, libs, prog, changes, llp, loaded_by: rng.percent(30) }
}

pub(super) fn describe(layout: &Layout) -> String {
    let mut s = String::new();
    let used = layout.dirs.iter().position(|k| *k == "used").unwrap();
    let kind = |k: &str| if k == "link" { format!("link to d{used}") } else { k.to_string() };
    let dirs: Vec<String> = layout.dirs.iter().enumerate().map(|(d, k)| format!("d{d} {}", kind(k))).collect();
    let _ = writeln!(s, "  directories: {}", dirs.join(", "));
    for o in layout.libs.iter().chain([&layout.prog]) {
        let mut needed: Vec<String> = o.needed.iter().map(|&i| layout.libs[i].file.clone()).collect();
        needed.extend(o.by_path.map(|i| format!("<root>/{}", layout.libs[i].at[0])));
        let (tag, table) = (if o.runpath { "RUNPATH" } else { "RPATH" }, if o.tabled { ", table" } else { "" });
        match o.alias_of {
            Some(j) => writeln!(s, "  {} at {:?}: a symbolic link to {}", o.file, o.at, layout.libs[j].at[0]),
            None => writeln!(s, "  {} at {:?} needs {needed:?}, {tag} {:?}{table}", o.file, o.at, o.rpath),
        }
        .unwrap();
    }
    for (op, from, to) in &layout.changes {
        let _ = writeln!(s, "  after embedding: {op} {from} {to}");
    }
    let _ =
        writeln!(s, "  LD_LIBRARY_PATH: {:?}{}", layout.llp, if layout.loaded_by { ", embed --loaded-by" } else { "" });
    s
}

pub(super) fn run_ok(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// Compile each object in `stage/` (libraries in dependency order, linked by `-l:` against the
/// ones they need), then copy it into place.
pub(super) fn build(tree: &Tree, layout: &Layout, root: &Path) -> Result<()> {
    let stage = root.join("stage");
    let used = layout.dirs.iter().position(|k| *k == "used").unwrap();
    for dir in ["stage", "bin"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    for (d, kind) in layout.dirs.iter().enumerate() {
        let dir = root.join(format!("d{d}"));
        match *kind {
            "missing" => {}
            "file" => std::fs::write(dir, b"not a directory")?,
            "link" => std::os::unix::fs::symlink(format!("d{used}"), dir)?,
            _ => std::fs::create_dir_all(dir)?,
        }
    }
    for o in layout.libs.iter().chain([&layout.prog]) {
        if let Some(target) = o.alias_of.map(|j| &layout.libs[j]) {
            std::os::unix::fs::symlink(&target.file, stage.join(&o.file))?;
            std::os::unix::fs::symlink(format!("../{}", target.at[0]), root.join(&o.at[0]))?;
            continue;
        }
        let lib = o.file != "prog";
        let body = if lib {
            format!("int f_{}(void) {{ return 1; }}\n", o.file.replace('.', "_"))
        } else {
            "#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n".into()
        };
        let src = stage.join(format!("{}.c", o.file));
        std::fs::write(&src, body)?;
        let mut cmd = Command::new(tree.cc());
        cmd.arg("-o").arg(stage.join(&o.file)).arg(&src);
        if lib {
            cmd.args(["-shared", "-fPIC"]);
        }
        cmd.arg(format!("-L{}", stage.display())).arg(format!("-Wl,-rpath-link,{}", stage.display()));
        // No DT_SONAME: `-l:libN.so` is needed as `libN.so`, a path as that path.
        cmd.arg("-Wl,--no-as-needed").args(o.needed.iter().map(|&i| format!("-l:{}", layout.libs[i].file)));
        cmd.args(o.by_path.map(|i| root.join(&layout.libs[i].at[0])));
        cmd.arg(if o.runpath { "-Wl,--enable-new-dtags" } else { "-Wl,--disable-new-dtags" });
        if let Some(rpath) = &o.rpath {
            cmd.arg(format!("-Wl,-rpath,{rpath}"));
        }
        run_ok(&mut cmd)?;
        for at in &o.at {
            std::fs::copy(stage.join(&o.file), root.join(at))?;
        }
    }
    Ok(())
}
