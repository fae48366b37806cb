//! The in-guest test list, generated on the host from the fixture manifests
//! (`tests/fixtures/*/fixture.toml`) and the real-program scenarios
//! (`stormless_tests::real`), and run by `qemu/boot.sh` inside the guest.
//!
//! On disk (in the image, `/stormless/tests/<loader>/<NNNN>/`, one list per
//! loader: a few expectations differ where stock musl itself misbehaves):
//!
//! ```text
//! name                 the test's name in PASS/FAIL lines
//! step-NN/cmd          a shell script: cd, then `exec env -i VAR=… program args…`
//! step-NN/status       the exit status it must end with
//! step-NN/stdout       its exact stdout (absent: not compared); the same for stderr
//! step-NN/stdout.has.K text stdout must contain (the real programs' checks)
//! step-NN/stdout.sed   a sed script applied to stdout before comparing (masks)
//! step-NN/unchecked    run, but only a hang fails it; the file says why
//! ```
use anyhow::{bail, Result};
use std::fs;
use std::path::Path;
use stormless_tests::build::Built;
use stormless_tests::manifest::{Fixture, Run};
use stormless_tests::real::{Scenario, Step};
use stormless_trees::{Arch, Loader, MuslVersion, Tree};

/// `PATH` of every fixture run, as the host harness sets it (`tests/src/exec.rs`).
const FIXTURE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// sed scripts equal to the host harness's masks (`stormless_tests::exec`):
/// `0x<hex>` → `0xADDR`; a line's leading `<pid>:<TAB>` → `PID:<TAB>`; `123 us` → `N us`.
const MASK_ADDRESSES: &str = "s/0x[0-9a-fA-F][0-9a-fA-F]*/0xADDR/g\n";
const MASK_PIDS: &str = "s/^[ \t]*[0-9][0-9]*[ \t]*:\t/PID:\t/\n";
const MASK_DURATIONS: &str = "s/[0-9][0-9]* us/N us/g\n";

/// One test: steps run in order (in one working directory), all must match.
#[derive(Debug)]
pub struct GuestTest {
    pub name: String,
    pub steps: Vec<GuestStep>,
}

#[derive(Debug, Default)]
pub struct GuestStep {
    pub cmd: String,
    pub status: i32,
    pub stdout: Expect,
    pub stderr: Expect,
    pub stdout_sed: String,
    pub stderr_sed: String,
    /// Run, not compared: why.
    pub unchecked: Option<String>,
}

#[derive(Debug, Default)]
pub enum Expect {
    /// Not compared.
    #[default]
    Anything,
    Exact(String),
    Contains(Vec<String>),
}

/// `cd DIR && exec env -i VAR=VALUE… PROGRAM ARGS…`, every word quoted.
pub fn command(dir: &str, env: &[(String, String)], program: &str, args: &[String]) -> String {
    let mut words = vec!["exec".to_string(), "env".into(), "-i".into()];
    words.extend(env.iter().map(|(k, v)| sh_quote(&format!("{k}={v}"))));
    words.push(sh_quote(program));
    words.extend(args.iter().map(|a| sh_quote(a)));
    format!("cd {} && {}\n", sh_quote(dir), words.join(" "))
}

fn sh_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The guest's view of the tree: its loader is `/lib/ld-musl-<m>.so.1`, so
/// `@LDSO@` expands to that, as programs in the image name it in PT_INTERP.
pub fn guest_tree(version: MuslVersion, arch: Arch, loader: Loader) -> Tree {
    Tree { version, arch, loader, root: "/".into() }
}

/// Every run of `fixture` that applies to `loader` on `arch`, as guest tests.
pub fn fixture_tests(
    version: MuslVersion,
    arch: Arch,
    loader: Loader,
    fixture: &Fixture,
    built: &Built,
) -> Result<Vec<GuestTest>> {
    let tree = guest_tree(version, arch, loader);
    let runs = fixture.manifest.run.iter().filter(|r| r.applies_to(version.as_str(), arch.name(), loader.name()));
    runs.map(|run| {
        Ok(GuestTest {
            name: format!("fixture/{}/{}", fixture.name, run.name),
            steps: vec![fixture_step(&tree, built, run)?],
        })
    })
    .collect()
}

fn fixture_step(tree: &Tree, built: &Built, run: &Run) -> Result<GuestStep> {
    let expand = |text: &str| built.expand_for(tree, text);
    let args = run.args.iter().map(|a| expand(a));
    let (program, args): (String, Vec<String>) = match &run.loader {
        None => (
            run.exe.as_ref().map_or_else(|| built.program.to_string_lossy().into_owned(), |e| expand(e)),
            args.collect(),
        ),
        Some(pre) => (tree.ldso().to_string_lossy().into_owned(), pre.iter().map(|a| expand(a)).chain(args).collect()),
    };
    let mut env = vec![("PATH".to_string(), FIXTURE_PATH.to_string())];
    env.extend(run.env.iter().map(|(k, v)| (k.clone(), expand(v))));
    let mut step = GuestStep { cmd: command("/", &env, &program, &args), ..GuestStep::default() };
    if run.mask_addresses {
        step.stdout_sed.push_str(MASK_ADDRESSES);
        step.stderr_sed.push_str(MASK_ADDRESSES);
    }
    if run.mask_pids {
        step.stderr_sed.push_str(MASK_PIDS);
        step.stderr_sed.push_str(MASK_DURATIONS);
    }
    // Left out: `syscalls` (counted by strace on the host; the guest has none).
    // The guest reports failed opens through LD_DEBUG=statistics instead.
    let reference = tree.loader == Loader::Reference;
    if reference && layout_dependent(run, tree.arch) {
        step.unchecked = Some(format!(
            "stock musl reads out of bounds here: what it finds depends on the address-space layout, which the \
             manifest gives for {} as qemu-user lays it out, not a kernel",
            tree.arch
        ));
        return Ok(step);
    }
    match run.expected(reference, tree.arch.name())? {
        None => step.unchecked = Some("stock musl's outcome here is undefined (see the fixture's manifest)".into()),
        Some(want) => {
            step.status = want.status;
            step.stdout = Expect::Exact(expand(want.stdout));
            if let Some(stderr) = want.stderr {
                step.stderr = Expect::Exact(expand(stderr));
            }
        }
    }
    Ok(step)
}

/// Whether the reference outcome of `run` on `arch` was seen under qemu-user and
/// differs by arch (`reference_by_arch`): stock musl's undefined behaviour that
/// depends on where memory lies, which a booted kernel lays out otherwise (on
/// armv7 a stray read qemu-user found mapped faults in the guest).
fn layout_dependent(run: &Run, arch: Arch) -> bool {
    arch.qemu_user().is_some()
        && run.reference_by_arch.iter().any(|o| o.arches.as_ref().is_none_or(|a| a.iter().any(|x| x == arch.name())))
}

/// Where the real programs run in the guest: their applet links and links to
/// the store's `lua` and `sqlite3` are in `/bin`.
pub const GUEST_BIN: &str = "/bin";

/// A real-program scenario: each step in the scenario's working directory
/// `work` (prepared in the image), with the environment the host test gives
/// it; stdout and stderr must contain the scenario's texts, the status match.
/// `data` and `cmod` are the guest paths of `@DATA@` and `@CMOD@`.
pub fn scenario_test(scenario: &Scenario, work: &str, data: &str, cmod: &str) -> GuestTest {
    let env: Vec<(String, String)> = [("PATH", GUEST_BIN), ("HOME", work), ("TZ", "UTC0")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let step = |s: &Step| {
        let args: Vec<String> = s.args.iter().map(|a| a.replace("@DATA@", data).replace("@CMOD@", cmod)).collect();
        let texts = |has: &[&str]| Expect::Contains(has.iter().map(|t| t.to_string()).collect());
        GuestStep {
            cmd: command(work, &env, &format!("{GUEST_BIN}/{}", s.program), &args),
            status: s.status,
            stdout: texts(s.stdout_has),
            stderr: texts(s.stderr_has),
            ..GuestStep::default()
        }
    };
    GuestTest { name: format!("real/{}", scenario.name), steps: scenario.steps.iter().map(step).collect() }
}

/// What `LD_DEBUG=statistics` must print for a program loading `libraries`
/// with `opens` opens while searching, `failed` of them failing: the line of
/// `ld-so/src/ld_debug.rs`, masked as the host masks it. Stock musl prints
/// nothing (LD_DEBUG is stormless' own).
pub fn statistics_stderr(loader: Loader, libraries: usize, opens: u64, failed: u64) -> String {
    match loader {
        Loader::Reference => String::new(),
        // The objects: the program, its libraries and the loader (libc).
        Loader::Stormless => format!(
            "PID:\tstatistics: {} objects, {opens} opens while searching ({failed} failed), startup N us\n",
            libraries + 2
        ),
    }
}

/// A test that runs `program` with `LD_DEBUG=statistics`.
pub fn statistics_test(name: String, program: &str, stdout: &str, stderr: String) -> GuestTest {
    let env = [("PATH", FIXTURE_PATH), ("LD_DEBUG", "statistics")].map(|(k, v)| (k.to_string(), v.to_string()));
    let step = GuestStep {
        cmd: command("/", &env, program, &[]),
        stdout: Expect::Exact(stdout.to_string()),
        stderr: Expect::Exact(stderr),
        stderr_sed: format!("{MASK_PIDS}{MASK_DURATIONS}"),
        ..GuestStep::default()
    };
    GuestTest { name, steps: vec![step] }
}

/// Write `tests` into `dir` (emptied first) in the format of the module docs.
pub fn write(dir: &Path, tests: &[GuestTest]) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    for (i, test) in tests.iter().enumerate() {
        if test.steps.is_empty() || test.name.contains('\n') {
            bail!("guest test `{}` has no steps or a multi-line name", test.name);
        }
        let test_dir = dir.join(format!("{:04}", i + 1));
        fs::create_dir_all(&test_dir)?;
        fs::write(test_dir.join("name"), format!("{}\n", test.name))?;
        for (k, step) in test.steps.iter().enumerate() {
            let s = test_dir.join(format!("step-{:02}", k + 1));
            fs::create_dir_all(&s)?;
            fs::write(s.join("cmd"), &step.cmd)?;
            fs::write(s.join("status"), format!("{}\n", step.status))?;
            if let Some(why) = &step.unchecked {
                fs::write(s.join("unchecked"), format!("{why}\n"))?;
            }
            for (stream, expect, sed) in
                [("stdout", &step.stdout, &step.stdout_sed), ("stderr", &step.stderr, &step.stderr_sed)]
            {
                match expect {
                    Expect::Anything => {}
                    Expect::Exact(text) => fs::write(s.join(stream), text)?,
                    Expect::Contains(texts) => {
                        for (j, text) in texts.iter().enumerate() {
                            fs::write(s.join(format!("{stream}.has.{j}")), text)?;
                        }
                    }
                }
                if !sed.is_empty() {
                    fs::write(s.join(format!("{stream}.sed")), sed)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_quote_every_word() {
        let env = [("LD_PRELOAD".to_string(), "/s/it's.so".to_string())];
        let cmd = command("/w d", &env, "/p/prog", &["a b".into(), "".into()]);
        assert_eq!(cmd, "cd '/w d' && exec env -i 'LD_PRELOAD=/s/it'\\''s.so' '/p/prog' 'a b' ''\n");
    }

    #[test]
    fn the_guest_loader_is_in_lib() {
        let tree = guest_tree(MuslVersion::V1_2_3, Arch::Armv7, Loader::Stormless);
        assert_eq!(tree.ldso(), Path::new("/lib/ld-musl-armhf.so.1"));
    }

    #[test]
    fn statistics_lines_follow_ld_debug() {
        assert_eq!(
            statistics_stderr(Loader::Stormless, 20, 210, 190),
            "PID:\tstatistics: 22 objects, 210 opens while searching (190 failed), startup N us\n"
        );
        assert_eq!(statistics_stderr(Loader::Reference, 20, 210, 190), "");
    }

    #[test]
    fn fixture_runs_become_steps_with_expectations_and_masks() {
        let fixture = Fixture::load(&stormless_tests::fixtures_dir().join("cmdmode")).unwrap();
        let built = Built { out: "/o".into(), program: "/o/bin/cmdmode".into() };
        let tests = fixture_tests(MuslVersion::V1_2_3, Arch::X86_64, Loader::Stormless, &fixture, &built).unwrap();
        let list = tests.iter().find(|t| t.name == "fixture/cmdmode/list").expect("the list run");
        let step = &list.steps[0];
        assert!(step.cmd.contains("'/lib/ld-musl-x86_64.so.1' '--list' '/o/bin/cmdmode'"), "{}", step.cmd);
        assert!(step.cmd.starts_with("cd '/' && exec env -i 'PATH="), "{}", step.cmd);
        let Expect::Exact(stdout) = &step.stdout else { panic!("exact stdout expected") };
        assert!(stdout.starts_with("\t/lib/ld-musl-x86_64.so.1 (0xADDR)\n"), "{stdout}");
        assert_eq!(step.stdout_sed, MASK_ADDRESSES);
        assert!(tests.len() == fixture.manifest.run.len());
    }

    #[test]
    fn tests_are_written_in_the_documented_layout() {
        let dir = std::env::temp_dir().join(format!("stormless-guest-tests-{}", std::process::id()));
        let test = GuestTest {
            name: "t/one".into(),
            steps: vec![GuestStep {
                cmd: "cd / && exec env -i 'x'\n".into(),
                status: 3,
                stdout: Expect::Contains(vec!["a\nb".into()]),
                stderr: Expect::Exact("e\n".into()),
                stderr_sed: MASK_PIDS.into(),
                ..GuestStep::default()
            }],
        };
        write(&dir, &[test]).unwrap();
        let step = dir.join("0001/step-01");
        assert_eq!(fs::read_to_string(dir.join("0001/name")).unwrap(), "t/one\n");
        assert_eq!(fs::read_to_string(step.join("status")).unwrap(), "3\n");
        assert_eq!(fs::read_to_string(step.join("stdout.has.0")).unwrap(), "a\nb");
        assert_eq!(fs::read_to_string(step.join("stderr")).unwrap(), "e\n");
        assert!(
            step.join("stderr.sed").is_file() && !step.join("stdout").exists() && !step.join("stdout.sed").exists()
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
