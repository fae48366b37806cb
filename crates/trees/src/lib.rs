//! Names and places shared by `xtask` (which builds the trees) and the test
//! harness (which runs programs in them). Nothing here touches the file system
//! except [`workspace_root`].
//!
//! What an architecture is called by ELF and musl (machine number, `armhf`,
//! the triplets) comes from `stormless_elf::arch`, which the loader reads too;
//! this crate adds the build tools' names (Debian, Rust, qemu).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use stormless_elf::arch::MuslArch;

/// An architecture stormless supports, with every name the tools use for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    Aarch64,
    Armv7,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Armv7];

    /// What ELF and musl say of this arch: the one place the loader reads too.
    pub fn musl(self) -> &'static MuslArch {
        match self {
            Arch::X86_64 => &stormless_elf::arch::X86_64,
            Arch::Aarch64 => &stormless_elf::arch::AARCH64,
            Arch::Armv7 => &stormless_elf::arch::ARMHF,
        }
    }

    /// The name users type (`--arch`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7",
        }
    }

    /// musl's `$(ARCH)`: the directory under `arch/`.
    pub fn musl_arch(self) -> &'static str {
        self.musl().musl_arch
    }

    /// `$(ARCH)$(SUBARCH)` as it appears in `ld-musl-<m>.so.1` and `etc/ld-musl-<m>.path`.
    pub fn ldso_arch(self) -> &'static str {
        self.musl().ldso_arch()
    }

    /// File name of the program interpreter.
    pub fn ldso_name(self) -> String {
        format!("ld-musl-{}.so.1", self.ldso_arch())
    }

    /// GNU triple of the Debian cross compiler; also musl's `--target`.
    pub fn gnu_triple(self) -> &'static str {
        self.musl().gnu_triple
    }

    /// Debian package that provides `<triple>-gcc`.
    pub fn gcc_package(self) -> &'static str {
        match self {
            Arch::X86_64 => "gcc",
            Arch::Aarch64 => "gcc-aarch64-linux-gnu",
            Arch::Armv7 => "gcc-arm-linux-gnueabihf",
        }
    }

    /// Debian architecture name.
    pub fn debian_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Armv7 => "armhf",
        }
    }

    /// Rust target the loader is compiled for. The loader is `no_std`, so the
    /// gnueabihf target serves armv7: its musl twin has no prebuilt std.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
            Arch::Armv7 => "armv7-unknown-linux-gnueabihf",
        }
    }

    /// `-C opt-level` of the loader for this arch (the `ldso` profile says 2).
    ///
    /// What the loader's code costs differs with where an arch's programs
    /// start (docs/bench.md). Natively, startup touches nearly every 64 KiB
    /// fault-around window of libc.so's `.text`, so all of it is resident and
    /// each KiB of loader code is a KiB of every process: x86_64 is built for
    /// size (8.8 KiB less code, the same startup time). Under qemu-user a
    /// process pays for translating the code it executes, and `s` executes
    /// more of it: +1.2 % of qemu's instructions for `hello` on aarch64, so
    /// aarch64 and armv7 stay at 2.
    pub fn loader_opt_level(self) -> &'static str {
        match self {
            Arch::X86_64 => "s",
            Arch::Aarch64 | Arch::Armv7 => "2",
        }
    }

    /// Whether the loader's `.text.hot.stormless` section (the relocation
    /// loop and the global symbol walk) is aligned so that it never
    /// straddles a page.
    ///
    /// qemu-user chains a direct branch to its target only within one guest
    /// page; any other costs a helper call that looks the target up. Where
    /// the symbol walk's loop straddled a page boundary, `relocheavy` spent
    /// 5 % more of qemu's instructions, so on the arches this project runs
    /// under qemu-user the section is aligned to its size rounded up to a
    /// power of two. Natively the padding would only cost memory: each KiB
    /// of libc.so's text is resident in every process (docs/bench.md), so
    /// x86_64 leaves it at its functions' own alignment.
    pub fn hot_code_in_one_page(self) -> bool {
        match self {
            Arch::X86_64 => false,
            Arch::Aarch64 | Arch::Armv7 => true,
        }
    }

    /// The qemu-user binary that runs this arch's programs on an x86_64 host,
    /// or `None` where they run natively.
    pub fn qemu_user(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("qemu-aarch64"),
            Arch::Armv7 => Some("qemu-arm"),
        }
    }

    /// ELF `e_machine` of this arch's objects.
    pub fn elf_machine(self) -> u16 {
        self.musl().machine
    }

    pub fn pointer_width(self) -> u32 {
        self.musl().class.word_size() as u32 * 8
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown architecture `{s}` (expected one of: x86_64, aarch64, armv7, all)"))
    }
}

/// A musl release we build, with the Debian suite its source package comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MuslVersion {
    V1_2_3,
    V1_2_5,
}

impl MuslVersion {
    pub const ALL: [MuslVersion; 2] = [MuslVersion::V1_2_3, MuslVersion::V1_2_5];
    pub const DEFAULT: MuslVersion = MuslVersion::V1_2_3;

    pub fn as_str(self) -> &'static str {
        match self {
            MuslVersion::V1_2_3 => "1.2.3",
            MuslVersion::V1_2_5 => "1.2.5",
        }
    }

    pub fn debian_suite(self) -> &'static str {
        match self {
            MuslVersion::V1_2_3 => "bookworm",
            MuslVersion::V1_2_5 => "trixie",
        }
    }
}

impl fmt::Display for MuslVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MuslVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MuslVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unsupported musl version `{s}` (expected 1.2.3 or 1.2.5)"))
    }
}

/// Which loader a tree carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Loader {
    /// Stock musl, with its own `ldso/dynlink.c`.
    Reference,
    /// musl's libc with the Rust dynamic linker in place of `dynlink.c`.
    Stormless,
}

impl Loader {
    pub const ALL: [Loader; 2] = [Loader::Reference, Loader::Stormless];

    /// Directory name of the tree, and the name users pass as `--loader`.
    pub fn tree_dir(self) -> &'static str {
        match self {
            Loader::Reference => "reference",
            Loader::Stormless => "sysroot",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Loader::Reference => "reference",
            Loader::Stormless => "ours",
        }
    }
}

impl fmt::Display for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The root of the stormless workspace (the directory holding `Cargo.toml`
/// with `[workspace]`), found from this crate's own location at build time.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/trees sits two levels below the workspace root")
        .to_path_buf()
}

/// Where everything `xtask` builds lives: `target/stormless`.
pub fn output_root() -> PathBuf {
    workspace_root().join("target").join("stormless")
}

/// `target/stormless/musl-<v>/<arch>`.
pub fn arch_dir(version: MuslVersion, arch: Arch) -> PathBuf {
    output_root().join(format!("musl-{version}")).join(arch.name())
}

/// Real programs built from Debian source packages against the sysroot
/// (`xtask/src/real.rs`): `target/stormless/musl-<v>/<arch>/real`.
#[derive(Clone, Debug)]
pub struct RealPrograms {
    pub root: PathBuf,
}

impl RealPrograms {
    pub fn new(version: MuslVersion, arch: Arch) -> RealPrograms {
        RealPrograms { root: arch_dir(version, arch).join("real") }
    }

    /// `store/<name>`: one package's installed files, Nix-store style.
    pub fn store(&self, name: &str) -> PathBuf {
        self.root.join("store").join(name)
    }

    /// The programs whose PT_INTERP is `loader`'s (`busybox` and a link per
    /// applet, `lua`, `sqlite3`): `reference/bin` or `sysroot/bin`.
    pub fn bin_dir(&self, loader: Loader) -> PathBuf {
        self.root.join(loader.tree_dir()).join("bin")
    }

    /// Headers of the shared Lua library, for building C modules.
    pub fn lua_include_dir(&self) -> PathBuf {
        self.store("liblua5.4").join("include")
    }

    /// Marker written last, once every program exists for both loaders.
    pub fn stamp(&self) -> PathBuf {
        self.root.join(".complete")
    }

    pub fn is_complete(&self) -> bool {
        self.stamp().is_file()
    }
}

/// One built tree: `reference/` or `sysroot/`.
#[derive(Clone, Debug)]
pub struct Tree {
    pub version: MuslVersion,
    pub arch: Arch,
    pub loader: Loader,
    pub root: PathBuf,
}

impl Tree {
    pub fn new(version: MuslVersion, arch: Arch, loader: Loader) -> Tree {
        let root = arch_dir(version, arch).join(loader.tree_dir());
        Tree { version, arch, loader, root }
    }

    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib")
    }

    /// Absolute path of the interpreter, as written into PT_INTERP.
    pub fn ldso(&self) -> PathBuf {
        self.lib_dir().join(self.arch.ldso_name())
    }

    pub fn cc(&self) -> PathBuf {
        self.root.join("bin").join("cc")
    }

    /// Marker written last by a successful build; a tree without it is never used.
    pub fn stamp(&self) -> PathBuf {
        self.root.join(".complete")
    }

    pub fn is_complete(&self) -> bool {
        self.stamp().is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse::<Arch>(), Ok(arch));
        }
        for v in MuslVersion::ALL {
            assert_eq!(v.as_str().parse::<MuslVersion>(), Ok(v));
        }
    }

    #[test]
    fn unknown_names_are_rejected_with_the_choices() {
        let err = "mips".parse::<Arch>().unwrap_err();
        assert!(err.contains("mips") && err.contains("aarch64"), "{err}");
        assert!("1.2.4".parse::<MuslVersion>().unwrap_err().contains("1.2.3"));
    }

    #[test]
    fn interpreter_names_match_musl() {
        let names: Vec<_> = Arch::ALL.iter().map(|a| a.ldso_name()).collect();
        assert_eq!(names, ["ld-musl-x86_64.so.1", "ld-musl-aarch64.so.1", "ld-musl-armhf.so.1"]);
    }

    #[test]
    fn arch_facts_are_the_elf_crates() {
        let facts: Vec<_> = Arch::ALL.iter().map(|a| (a.elf_machine(), a.pointer_width(), a.musl_arch())).collect();
        assert_eq!(facts, [(62, 64, "x86_64"), (183, 64, "aarch64"), (40, 32, "arm")]);
        assert_eq!(Arch::Armv7.gnu_triple(), "arm-linux-gnueabihf");
        assert_eq!(Arch::Armv7.musl_triple(), "arm-linux-musleabihf");
    }

    #[test]
    fn trees_live_under_target_stormless() {
        let t = Tree::new(MuslVersion::V1_2_3, Arch::Armv7, Loader::Stormless);
        assert!(t.ldso().ends_with("target/stormless/musl-1.2.3/armv7/sysroot/lib/ld-musl-armhf.so.1"));
    }
}

impl Arch {
    /// The triple a musl toolchain for this arch calls itself (Alpine's gcc
    /// `-print-multiarch`, CPython's platform triplet on musl).
    pub fn musl_triple(self) -> &'static str {
        self.musl().musl_triple
    }
}

/// The Nix-style store of real software (CPython and its C libraries) built
/// against the sysroot (`xtask/src/store.rs`, docs/store.md):
/// `target/stormless/musl-<v>/<arch>/store`.
#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(version: MuslVersion, arch: Arch) -> Store {
        Store { root: arch_dir(version, arch).join("store") }
    }

    /// The entry points whose PT_INTERP is `loader`'s: `sysroot/bin` or `reference/bin`.
    pub fn bin_dir(&self, loader: Loader) -> PathBuf {
        self.root.join(loader.tree_dir()).join("bin")
    }

    /// `bin/python3` of `loader`'s entry points.
    pub fn python(&self, loader: Loader) -> PathBuf {
        self.bin_dir(loader).join("python3")
    }

    /// Build directories and logs of the packages.
    pub fn build_dir(&self) -> PathBuf {
        self.root.join("build")
    }

    /// Marker written last, once every package and both entry points exist.
    pub fn stamp(&self) -> PathBuf {
        self.root.join(".complete")
    }

    pub fn is_complete(&self) -> bool {
        self.stamp().is_file()
    }
}
