//! The real-program scenarios (busybox, lua 5.4, sqlite3 from Debian's source
//! packages, built by `cargo xtask real`): what each runs and what its output
//! must contain. Run on the host by `tests/tests/real_programs.rs` and, inside
//! a booted guest, by the boot test (`xtask/src/boot.rs`), so both check the
//! same scenarios.
use crate::exec::Outcome;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};
use stormless_trees::{workspace_root, RealPrograms, Tree};

/// One program run of a scenario.
pub struct Step {
    /// A name in the loader's `bin/` directory: `busybox`, an applet, `lua`, `sqlite3`.
    pub program: &'static str,
    /// `@DATA@` is `tests/real`, `@CMOD@` the directory of the Lua C module.
    pub args: &'static [&'static str],
    pub status: i32,
    /// Fragments the stdout and stderr must contain.
    pub stdout_has: &'static [&'static str],
    pub stderr_has: &'static [&'static str],
}

pub const fn step(program: &'static str, args: &'static [&'static str], stdout_has: &'static [&'static str]) -> Step {
    Step { program, args, status: 0, stdout_has, stderr_has: &[] }
}

pub struct Scenario {
    pub name: &'static str,
    /// Fills the fresh working directory before the first step.
    pub prepare: Option<fn(&Path) -> Result<()>>,
    /// Run in order, in the same working directory.
    pub steps: &'static [Step],
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "busybox-echo",
        prepare: None,
        steps: &[step("busybox", &["echo", "-e", "hello,\\tworld", "42"], &["hello,\tworld 42\n"])],
    },
    Scenario {
        name: "busybox-ls",
        prepare: Some(prepare_ls),
        steps: &[
            step("ls", &["-1", "tree"], &["a.txt\nb.bin\nsub\n"]),
            step("ls", &["-lnR", "tree"], &["-rw-r--r--    1 0        0                5 Jan  2  2020 a.txt", "tree/sub:", " 1000 "]),
        ],
    },
    Scenario {
        name: "busybox-sort",
        prepare: None,
        steps: &[
            step("sort", &["@DATA@/busybox/records.txt"], &["apple:40:0.30\napple:8:0.35\nbanana:25:0.20\n"]),
            step("sort", &["-t:", "-k2,2n", "@DATA@/busybox/records.txt"], &["quince:3:2.10\napple:8:0.35\n"]),
            step("sort", &["-t:", "-k1,1", "-u", "-r", "@DATA@/busybox/records.txt"], &["quince:3:2.10\npear:12:0.75\n"]),
        ],
    },
    Scenario {
        name: "busybox-wc",
        prepare: None,
        steps: &[step("wc", &["-l", "-w", "-c", "@DATA@/busybox/records.txt"], &[" 8 ", " 110 "])],
    },
    Scenario {
        name: "busybox-sed",
        prepare: None,
        steps: &[step(
            "sed",
            &["-n", "-e", "s/^\\([a-z]*\\):\\([0-9]*\\):.*/\\2 \\1/p", "-e", "/^cherry/q", "@DATA@/busybox/records.txt"],
            &["12 pear\n40 apple\n3 quince\n25 banana\n200 cherry\n"],
        )],
    },
    Scenario {
        name: "busybox-awk",
        prepare: None,
        steps: &[step(
            "awk",
            &[
                "-F:",
                "{ n[$1] += $2; total += $2 * $3 } END { printf \"%d records, total %.2f\\n\", NR, total; \
                 print \"apples:\", n[\"apple\"]; print length(\"stormless\"), toupper(substr(\"loader\", 1, 4)), \
                 sprintf(\"%05.1f|%-4s|%x\", 3.14159, \"ab\", 255) }",
                "@DATA@/busybox/records.txt",
            ],
            &["8 records, total 82.60\n", "apples: 48\n", "9 LOAD 003.1|ab  |ff\n"],
        )],
    },
    Scenario {
        name: "busybox-sh-pipeline",
        prepare: None,
        steps: &[
            step("sh", &["-c", "seq 1 100 | grep 7 | wc -l"], &["19\n"]),
            step("sh", &["-c", "seq 1 20 | sort -rn | head -n 3 | tr '\\n' ' '; echo"], &["20 19 18 \n"]),
        ],
    },
    Scenario {
        name: "busybox-sh-script",
        prepare: None,
        steps: &[step(
            "sh",
            &["@DATA@/busybox/script.sh"],
            &[
                "hello, grace (5 chars)\n",
                "sum of squares 1..10 = 385\n",
                "in subshell: outer=changed pwd=/\n",
                "subshell exited with 4\n",
                "after subshell: outer=kept\n",
                "7x: not a number\n",
                "first line upper-cased: LINE ONE\n",
                "words: 6\n",
            ],
        )],
    },
    Scenario {
        name: "busybox-exit-status",
        prepare: None,
        steps: &[Step {
            program: "sh",
            args: &[
                "-c",
                "false; echo \"false: $?\"; ls /nonexistent-stormless; echo \"ls: $?\"; (exit 7); echo \"subshell: $?\"; \
                 no-such-command-stormless; echo \"missing: $?\"; exit 3",
            ],
            status: 3,
            stdout_has: &["false: 1\nls: 1\nsubshell: 7\nmissing: 127\n"],
            stderr_has: &["ls: /nonexistent-stormless: No such file or directory", "no-such-command-stormless: not found"],
        }],
    },
    Scenario {
        name: "lua-stdlib",
        prepare: None,
        steps: &[step(
            "lua",
            &["@DATA@/lua/stdlib.lua"],
            &[
                "gsub:\tThe Quick Brown Fox Jumps Over The Lazy Dog\t9\n",
                "sorted:\t3 3 7 19 25 42 61 88\n",
                "by age:\tada,alan,linus,grace\n",
                "date:\t2023-11-14 22:13:20 Tuesday 318\n",
                "time:\t946728000\n",
                "lines read:\t6\n",
                "fibonacci:\t0 1 1 2 3 5 8 13 21 34 55 89 144 233 377\n",
                "table error:\tfalse\ttable\t7\n",
                "xpcall:\tfalse\thandled: deep\n",
                "done\n",
            ],
        )],
    },
    Scenario {
        name: "lua-error",
        prepare: None,
        steps: &[Step {
            program: "lua",
            args: &["-e", "print('before'); local t = setmetatable({}, {__index = function(_, k) error('no field ' .. k) end}); print(t.x)"],
            status: 1,
            stdout_has: &["before\n"],
            stderr_has: &["no field x", "stack traceback:"],
        }],
    },
    Scenario {
        name: "lua-require-c-module",
        prepare: None,
        steps: &[step(
            "lua",
            &["@DATA@/lua/require_cmod.lua", "@CMOD@"],
            &[
                "loaded:\tstormless C module\ttrue\n",
                "add:\t42\t-2\n",
                "reverse:\tsselmrots\n",
                "sorted:\t1 3 5 7 9\n",
                "counter:\t100\t101\t102\n",
                "again:\ttrue\n",
                "loadlib:\tfunction\tstormless C module\n",
                "missing symbol:\ttrue\n",
            ],
        )],
    },
    Scenario {
        name: "sqlite3-database",
        prepare: None,
        steps: &[
            step(
                "sqlite3",
                &["test.db", ".read @DATA@/sqlite3/fill.sql"],
                &["customers\n200\n", "orders|total|mean|least|most\n5000|", "SEARCH orders USING INDEX orders_by_customer"],
            ),
            step("sqlite3", &["test.db", ".read @DATA@/sqlite3/query.sql"], &["orders_by_customer", "ok", "5000", "4.0"]),
            Step {
                program: "sqlite3",
                args: &["test.db", "SELECT count(*) FROM no_such_table;"],
                status: 1,
                stdout_has: &[],
                stderr_has: &["no such table: no_such_table"],
            },
        ],
    },
];

/// Files for `busybox-ls`, with fixed modes and times (TZ is UTC).
pub fn prepare_ls(work: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tree = work.join("tree");
    fs::create_dir_all(tree.join("sub"))?;
    // 2020-01-02 03:04:05 UTC: old enough that ls shows the year.
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_934_245);
    for (name, size) in [("a.txt", 5), ("b.bin", 1000), ("sub/c", 0)] {
        let path = tree.join(name);
        fs::write(&path, vec![b'x'; size])?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        fs::File::options().write(true).open(&path)?.set_modified(when)?;
    }
    for dir in [tree.join("sub"), tree] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        fs::File::open(&dir)?.set_modified(when)?;
    }
    Ok(())
}

/// `tests/real`: the scenarios' data files (`@DATA@`).
pub fn data_dir() -> PathBuf {
    workspace_root().join("tests").join("real")
}

/// How a step reads in messages.
pub fn describe(step: &Step) -> String {
    format!("`{} {}`", step.program, step.args.join(" "))
}

/// What `got` lacks of what `step` expects, one line per problem.
pub fn expectations(step: &Step, got: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if got.status != step.status {
        problems.push(format!("exit status {} (expected {}); stderr:\n{}", got.status, step.status, got.stderr));
    }
    for (stream, text, wanted) in [("stdout", &got.stdout, step.stdout_has), ("stderr", &got.stderr, step.stderr_has)] {
        for fragment in wanted.iter().filter(|f| !text.contains(*f)) {
            problems.push(format!("{stream} lacks {fragment:?}; {stream}:\n{text}"));
        }
    }
    problems
}

/// Build the Lua C module `stormless_cmod.so` (`@CMOD@`'s one file) into `dir`
/// with `tree`'s compiler, against the Lua headers of `real`.
pub fn build_lua_module(tree: &Tree, real: &RealPrograms, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let module = dir.join("stormless_cmod.so");
    let out = Command::new(tree.cc())
        .args(["-Os", "-fPIC", "-shared", "-o"])
        .arg(&module)
        .arg("-I")
        .arg(real.lua_include_dir())
        .arg(data_dir().join("lua").join("stormless_cmod.c"))
        .output()
        .context("cannot run the sysroot's cc")?;
    if !out.status.success() {
        bail!("building the Lua C module failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(module)
}
