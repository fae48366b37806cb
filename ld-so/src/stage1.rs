//! Stage 1, musl's `_dlstart_c`: find the loader's own load address and apply
//! its relative relocations (REL, RELA and RELR), so that everything after it
//! may use statics holding addresses.
//!
//! Rules for this file (nothing is relocated yet): no static holding an
//! address, no call that leaves this object, no panic path that formats, no
//! reference to anything but the arguments and the memory they point to. The
//! jump to stage 2 goes through arch asm that takes its address PC-relatively,
//! which also keeps the compiler from moving any load of relocated data above
//! the relocation loops.
use crate::arch;
// Constants only: using them creates no relocation.
use crate::elf::{
    AT_BASE, AT_PHDR, AT_PHENT, AT_PHNUM, DT_REL, DT_RELA, DT_RELASZ, DT_RELR, DT_RELRSZ, DT_RELSZ, PT_DYNAMIC,
    WORD as W,
};
/// `p_vaddr` sits two words into a program header in both ELF classes.
const PHDR_VADDR: usize = 2 * W;

/// # Safety
/// `addr` is a readable, aligned word.
#[inline(always)]
unsafe fn load(addr: usize) -> usize {
    // SAFETY: forwarded contract.
    unsafe { core::ptr::read(addr as *const usize) }
}

/// # Safety
/// `addr` is a writable, aligned word.
#[inline(always)]
unsafe fn store(addr: usize, value: usize) {
    // SAFETY: forwarded contract.
    unsafe { core::ptr::write(addr as *mut usize, value) }
}

/// Entered from `_dlstart` with the kernel's initial stack pointer and the
/// run-time address of the loader's own `_DYNAMIC`.
///
/// # Safety
/// Only `_dlstart` may call this, once, before anything else has run.
pub unsafe extern "C" fn stage1(sp: *mut usize, dynv: *const usize) -> ! {
    let sp_addr = sp as usize;
    // SAFETY: the kernel's process stack: argc, argv[], NULL, envp[], NULL, auxv pairs.
    unsafe {
        let argc = load(sp_addr);
        let mut p = sp_addr + W * (argc + 2);
        while load(p) != 0 {
            p += W;
        }
        // Single words, not arrays: zeroing an array compiles to a memset call,
        // which would go through a GOT entry that is not relocated yet.
        let (mut phdr, mut phent, mut phnum, mut base) = (0, 0, 0, 0);
        p += W;
        while load(p) != 0 {
            let value = load(p + W);
            match load(p) {
                AT_PHDR => phdr = value,
                AT_PHENT => phent = value,
                AT_PHNUM => phnum = value,
                AT_BASE => base = value,
                _ => {}
            }
            p += 2 * W;
        }

        let (mut rel, mut rel_size, mut rela, mut rela_size, mut relr, mut relr_size) = (0, 0, 0, 0, 0, 0);
        let mut d = dynv as usize;
        while load(d) != 0 {
            let value = load(d + W);
            match load(d) {
                DT_REL => rel = value,
                DT_RELSZ => rel_size = value,
                DT_RELA => rela = value,
                DT_RELASZ => rela_size = value,
                DT_RELR => relr = value,
                DT_RELRSZ => relr_size = value,
                _ => {}
            }
            d += 2 * W;
        }

        // Run as a command, the loader is the program and AT_BASE is 0: its base
        // is then &_DYNAMIC minus PT_DYNAMIC's p_vaddr.
        if base == 0 {
            let mut ph = phdr;
            for _ in 0..phnum {
                if load(ph) as u32 == PT_DYNAMIC {
                    base = (dynv as usize).wrapping_sub(load(ph + PHDR_VADDR));
                    break;
                }
                ph += phent;
            }
        }

        // REL: implicit addend, already in place.
        let mut rel = base + rel;
        let mut left = rel_size;
        while left >= 2 * W {
            if arch::reloc_type(load(rel + W)) == arch::R_RELATIVE {
                let at = base + load(rel);
                store(at, load(at).wrapping_add(base));
            }
            rel += 2 * W;
            left -= 2 * W;
        }

        // RELA: explicit addend.
        let mut rel = base + rela;
        let mut left = rela_size;
        while left >= 3 * W {
            if arch::reloc_type(load(rel + W)) == arch::R_RELATIVE {
                store(base + load(rel), base.wrapping_add(load(rel + 2 * W)));
            }
            rel += 3 * W;
            left -= 3 * W;
        }

        apply_relr(base, base + relr, relr_size);

        arch::enter_stage2(base, sp)
    }
}

/// Apply a DT_RELR table: an address entry relocates one word and sets the
/// cursor; a bitmap entry (low bit set) relocates the words its bits select
/// among the next W*8-1 words. Inlined into stage 1, so it makes no call.
///
/// # Safety
/// `table..table+size` is a RELR table of an object loaded at `base`, whose
/// words it names are writable.
#[inline(always)]
pub unsafe fn apply_relr(base: usize, table: usize, size: usize) {
    let mut entry = table;
    let mut left = size;
    let mut cursor = 0usize;
    // SAFETY: forwarded contract.
    unsafe {
        while left >= W {
            let e = load(entry);
            if e & 1 == 0 {
                cursor = base + e;
                store(cursor, load(cursor).wrapping_add(base));
                cursor += W;
            } else {
                let mut bits = e >> 1;
                let mut at = cursor;
                while bits != 0 {
                    if bits & 1 != 0 {
                        store(at, load(at).wrapping_add(base));
                    }
                    bits >>= 1;
                    at += W;
                }
                cursor += (8 * W - 1) * W;
            }
            entry += W;
            left -= W;
        }
    }
}
