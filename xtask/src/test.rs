//! `cargo xtask test`: the whole suite, in the order that fails fastest.
use crate::build;
use crate::real;
use crate::store;
use crate::util::{run, say};
use anyhow::Result;
use std::process::Command;
use stormless_trees::{workspace_root, Arch, MuslVersion};

fn cargo() -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(workspace_root());
    c
}

pub fn suite(arches: &[Arch], versions: &[MuslVersion]) -> Result<()> {
    say("test: formatting and host lints");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    // The loader compiles only against a musl tree's layout probe: it is linted
    // per target below, once the trees exist.
    run(cargo()
        .args(["clippy", "--quiet", "--workspace", "--exclude", "stormless-ldso", "--all-targets"])
        .args(["--", "-D", "warnings"]))?;

    say("test: unit tests");
    // Every crate's unit and integration tests; of the harness only its unit
    // tests (its differential suite needs the trees, below).
    run(cargo().args([
        "test",
        "--quiet",
        "--workspace",
        "--exclude",
        "stormless-ldso",
        "--exclude",
        "stormless-tests",
    ]))?;
    run(cargo().args(["test", "--quiet", "-p", "stormless-tests", "--lib"]))?;
    crate::fuzz::fuzz_decoder()?;

    for v in versions {
        for a in arches {
            build::tree_pair(*v, *a)?;
        }
    }
    build::cli()?;

    say("test: loader lints, per target");
    for arch in arches {
        let layout = stormless_trees::arch_dir(versions[0], *arch).join("layout.rs");
        run(cargo()
            .env("STORMLESS_LAYOUT_RS", layout)
            .args(["clippy", "--quiet", "-p", "stormless-ldso", "--target", arch.rust_target()])
            .args(["--", "-D", "warnings"]))?;
    }

    for v in versions {
        say(format!("test: fixtures under musl {v}"));
        harness_target(*v, arches, "differential")?;
        // The exported dynamic symbols of our libc.so against the reference's,
        // then gdb's view of a program's libraries under both loaders, then the
        // resolution tables from the loader's side (tests/tests/tables.rs), then the
        // `stormless` CLI's promises (tests/tests/cli.rs).
        for check in ["abi", "gdb", "tables", "cli"] {
            say(format!("test: {check} check under musl {v}"));
            harness_target(*v, arches, check)?;
        }
    }

    // The CLI's ELF parser and rewrite under libFuzzer, seeded with every object built so far.
    crate::fuzz::fuzz_cli(crate::fuzz::CLI_SECONDS, &[])?;

    // The loader against more than 1000 mutated objects per arch, as a program, under --list
    // and through dlopen, beside the reference (tests/tests/mutations.rs, docs/mutations.md):
    // once, with the first musl version asked for.
    say(format!("test: mutation corpus under musl {}", versions[0]));
    harness_target(versions[0], arches, "mutations")?;

    // Real programs from Debian source packages (busybox, lua 5.4, sqlite3):
    // built against each sysroot once and cached, then run under both loaders.
    for v in versions {
        for a in arches {
            real::ensure(*v, *a)?;
        }
        say(format!("test: real programs under musl {v}"));
        harness_target(*v, arches, "real_programs")?;
    }

    // The store (docs/store.md): CPython 3.11 and its C libraries built
    // Nix-style against the sysroot, cached by recipe hash, with the locked
    // musllinux wheels (numpy, Pillow, pytest); the import checks under both
    // loaders, without and with tables, and the default selections of
    // CPython's, numpy's and Pillow's tests compared per test id. x86_64
    // only, for the newest musl version asked for: a cold store costs about
    // 10 minutes of the 2-core machine per version and the suites about 4
    // (docs/store.md); the rest is `cargo xtask store --full`.
    if arches.contains(&Arch::X86_64) {
        let v = *versions.iter().max().expect("at least one musl version");
        store::ensure(v, Arch::X86_64)?;
        say(format!("test: the store under musl {v}"));
        harness_target(v, &[Arch::X86_64], "store")?;
    }

    // The scale benchmarks' harness (docs/bench.md, "At scale") on tiny workloads: counts only
    // (store-n's failed opens and the network-filesystem model's failed lookups, pynamic's
    // failed opens with tables and at the floor), never times; the newest musl version asked for.
    if arches.contains(&Arch::X86_64) {
        crate::scale::check::suite_check(*versions.iter().max().expect("at least one musl version"))?;
    }

    // The release artifacts (docs/deploy.md): every version and arch asked for (the install
    // test refuses the other version's artifact), one CLI built a second time from an empty
    // target directory to prove the tarball reproducible; then the artifacts' own CLIs on
    // their arches and install/uninstall on stock musl roots, killed at every system call on
    // x86_64 (tests/tests/install.rs). The boot images below are made from these artifacts.
    say("test: release artifacts");
    crate::dist::run_dist(&MuslVersion::ALL, arches, true)?;
    for v in versions {
        say(format!("test: the release artifacts, install and uninstall under musl {v}"));
        harness_target(*v, arches, "install")?;
    }

    // A whole userland booted through each loader under qemu-system (qemu/,
    // xtask/src/boot.rs), per arch: once, with the first musl version asked for.
    say(format!("test: boot tests under musl {}", versions[0]));
    crate::boot::run(versions[0], arches, &stormless_trees::Loader::ALL)?;
    Ok(())
}

/// One test target of the harness crate, for musl `version` on `arches`.
pub(crate) fn harness_target(version: MuslVersion, arches: &[Arch], target: &str) -> Result<()> {
    let names: Vec<&str> = arches.iter().map(|a| a.name()).collect();
    run(cargo().env("STORMLESS_MUSL", version.as_str()).env("STORMLESS_ARCHES", names.join(",")).args([
        "test",
        "--quiet",
        "-p",
        "stormless-tests",
        "--test",
        target,
    ]))
}
