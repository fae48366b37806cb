//! The differential harness: C fixtures built with a tree's `bin/cc`, run
//! under the reference musl loader and under stormless' (natively on x86_64,
//! through qemu-user elsewhere), their output compared, their system calls
//! counted.
pub mod build;
pub mod exec;
pub mod manifest;
pub mod syscalls;

use std::path::PathBuf;

/// `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    stormless_trees::workspace_root().join("tests").join("fixtures")
}
