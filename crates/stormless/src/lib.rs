//! `stormless`: writes, shows, checks and explains the resolution tables
//! (`.note.nixos.ldcache`) that the stormless dynamic linker reads before it searches.
//! One module per command (`install` puts a release's loader into a musl root); `elf_image`
//! (the ELF model), `rewrite` (placing the note), `preserve` (the invariant every rewrite
//! keeps), `replace` (writing a file without losing its attributes or links), `resolution`
//! (musl's rules: what a table holds, how the loader resolves) and `report` (messages and
//! JSON) are shared. Format and behaviour: docs/tables.md.
//!
//! A library as well as the binary, so that the fuzz targets (`crates/stormless/fuzz`) drive
//! the same parser and rewrite the command runs.
use std::path::PathBuf;

pub mod check;
pub mod elf_image;
pub mod embed;
pub mod explain;
pub mod inherit;
pub mod install;
pub mod preserve;
pub mod replace;
pub mod report;
pub mod resolution;
pub mod rewrite;
pub mod show;

/// `--root DIR`, shared by the commands that look at the file system.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RootArg {
    /// Resolve absolute paths inside this directory (a sysroot or an image being built); the
    /// paths written and shown stay the run-time paths, without DIR.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}
