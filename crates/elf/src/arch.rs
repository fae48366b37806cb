//! The architectures stormless supports, as ELF files, musl and the GNU toolchains name them.
//!
//! One place for facts that both the loader (`no_std`: the machine its objects must have, the
//! `armhf` in `etc/ld-musl-armhf.path`) and the tools (`crates/trees`: interpreter names,
//! cross compilers, musl's `--target`) need. What only a build tool cares about (Debian
//! package names, Rust targets, qemu binaries) stays in `crates/trees`.

use crate::consts::{EM_AARCH64, EM_ARM, EM_X86_64};
use crate::header::Class;
use core::ffi::CStr;

/// One architecture, as its objects and musl spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MuslArch {
    /// `e_machine` of its objects.
    pub machine: u16,
    /// Its ELF class.
    pub class: Class,
    /// musl's `$(ARCH)`: the directory under musl's `arch/`.
    pub musl_arch: &'static str,
    /// musl's `LDSO_ARCH` (`$(ARCH)$(SUBARCH)`), NUL-terminated: the `<m>` of
    /// `ld-musl-<m>.so.1` and `etc/ld-musl-<m>.path`. [`MuslArch::ldso_arch`] without the NUL.
    pub ldso_arch_z: &'static CStr,
    /// The GNU triplet (a Debian cross compiler's prefix, musl's `--target`).
    pub gnu_triple: &'static str,
    /// The triplet a musl toolchain calls itself (Alpine's gcc `-print-multiarch`, CPython's
    /// platform triplet on musl).
    pub musl_triple: &'static str,
}

impl MuslArch {
    /// musl's `LDSO_ARCH`: `x86_64`, `aarch64`, `armhf`.
    pub const fn ldso_arch(&self) -> &'static str {
        match core::str::from_utf8(self.ldso_arch_z.to_bytes()) {
            Ok(name) => name,
            Err(_) => panic!("LDSO_ARCH is ASCII"),
        }
    }
}

pub const X86_64: MuslArch = MuslArch {
    machine: EM_X86_64,
    class: Class::Elf64,
    musl_arch: "x86_64",
    ldso_arch_z: c"x86_64",
    gnu_triple: "x86_64-linux-gnu",
    musl_triple: "x86_64-linux-musl",
};

pub const AARCH64: MuslArch = MuslArch {
    machine: EM_AARCH64,
    class: Class::Elf64,
    musl_arch: "aarch64",
    ldso_arch_z: c"aarch64",
    gnu_triple: "aarch64-linux-gnu",
    musl_triple: "aarch64-linux-musl",
};

/// 32-bit ARM, hard-float EABI (the only ARM flavour stormless builds: `armhf`).
pub const ARMHF: MuslArch = MuslArch {
    machine: EM_ARM,
    class: Class::Elf32,
    musl_arch: "arm",
    ldso_arch_z: c"armhf",
    gnu_triple: "arm-linux-gnueabihf",
    musl_triple: "arm-linux-musleabihf",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldso_arch_is_the_c_name_without_its_nul() {
        let names: [&str; 3] = [X86_64.ldso_arch(), AARCH64.ldso_arch(), ARMHF.ldso_arch()];
        assert_eq!(names, ["x86_64", "aarch64", "armhf"]);
    }

    #[test]
    fn triplets_name_the_same_cpu() {
        for arch in [X86_64, AARCH64, ARMHF] {
            let cpu = |triple: &'static str| triple.split('-').next().unwrap();
            assert_eq!(cpu(arch.gnu_triple), cpu(arch.musl_triple));
            assert!(arch.gnu_triple.starts_with(arch.musl_arch), "{}", arch.gnu_triple);
        }
    }
}
