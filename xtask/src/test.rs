//! `cargo xtask test`: the whole suite, in the order that fails fastest.
use crate::build;
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
    say("test: formatting and lints");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args(["clippy", "--quiet", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    for arch in arches {
        run(cargo()
            .args(["clippy", "--quiet", "-p", "stormless-ldso", "--target", arch.rust_target()])
            .args(["--", "-D", "warnings"]))?;
    }

    say("test: unit tests");
    run(cargo().args(["test", "--quiet", "--workspace", "--lib", "--bins"]))?;

    for v in versions {
        for a in arches {
            build::tree_pair(*v, *a)?;
        }
    }
    build::cli()?;

    for v in versions {
        say(format!("test: fixtures under musl {v}"));
        let names: Vec<&str> = arches.iter().map(|a| a.name()).collect();
        run(cargo().env("STORMLESS_MUSL", v.as_str()).env("STORMLESS_ARCHES", names.join(",")).args([
            "test",
            "--quiet",
            "-p",
            "stormless-tests",
            "--test",
            "differential",
        ]))?;
    }
    Ok(())
}
