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

/// The aux vector entries stage 1 reads are all below this.
const AUX_SLOTS: usize = AT_BASE + 1;
/// The dynamic tags stage 1 reads are all below this (DT_RELR is the largest).
const DYN_SLOTS: usize = DT_RELR + 1;

/// Zero `n` words at `at` without a call: each store is volatile, so the
/// compiler cannot turn the loop into `memset`, and the count is opaque, so
/// it keeps a loop instead of one store per word.
///
/// # Safety
/// `at..at + n` words are writable.
#[inline(always)]
unsafe fn zero_words(at: *mut usize, n: usize) {
    for i in 0..core::hint::black_box(n) {
        // SAFETY: forwarded contract.
        unsafe { core::ptr::write_volatile(at.add(i), 0) };
    }
}

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

// The ELF entry point, the arch's instructions, calling `stage1`.
arch::dlstart!(stage1);

/// Entered from `_dlstart` with the kernel's initial stack pointer and the
/// run-time address of the loader's own `_DYNAMIC`.
///
/// # Safety
/// Only `_dlstart` may call this, once, before anything else has run.
#[link_section = ".text.startup.stormless"]
pub unsafe extern "C" fn stage1(sp: *mut usize, dynv: *const usize) -> ! {
    let sp_addr = sp as usize;
    // SAFETY: the kernel's process stack: argc, argv[], NULL, envp[], NULL, auxv pairs.
    unsafe {
        let argc = load(sp_addr);
        let mut p = sp_addr + W * (argc + 2);
        while load(p) != 0 {
            p += W;
        }
        // musl's decode_vec: a table per vector, indexed by tag (fewer
        // distinct instructions than a compare tree per tag, which is what
        // costs under qemu-user). Zeroed by `zero_words`, not by an array
        // initialiser: that compiles to a memset call, through a GOT entry
        // that is not relocated yet.
        let mut tables = core::mem::MaybeUninit::<[usize; AUX_SLOTS + DYN_SLOTS]>::uninit();
        let aux = tables.as_mut_ptr() as *mut usize;
        let dynamic = aux.add(AUX_SLOTS);
        zero_words(aux, AUX_SLOTS + DYN_SLOTS);
        p += W;
        while load(p) != 0 {
            if load(p) < AUX_SLOTS {
                *aux.add(load(p)) = load(p + W);
            }
            p += 2 * W;
        }
        let mut d = dynv as usize;
        while load(d) != 0 {
            if load(d) < DYN_SLOTS {
                *dynamic.add(load(d)) = load(d + W);
            }
            d += 2 * W;
        }
        let (phdr, phent, phnum, mut base) =
            (*aux.add(AT_PHDR), *aux.add(AT_PHENT), *aux.add(AT_PHNUM), *aux.add(AT_BASE));
        let (rel, rel_size) = (*dynamic.add(DT_REL), *dynamic.add(DT_RELSZ));
        let (rela, rela_size) = (*dynamic.add(DT_RELA), *dynamic.add(DT_RELASZ));
        let (relr, relr_size) = (*dynamic.add(DT_RELR), *dynamic.add(DT_RELRSZ));

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

        // The loader is relocated: stage 2, entered once.
        arch::enter_stage2!(crate::start::stage2, base, sp)
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
