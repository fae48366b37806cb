//! Relocation processing, musl's `do_relocs` and `reloc_all`. Generic code
//! names only relocation *kinds*; each arch module maps its type numbers to
//! them (musl's `arch/*/reloc.h`).
use crate::arch::Kind;
use crate::dso::Dso;
use crate::elf::*;
use crate::error::{self, Abort};
use crate::mem;
use crate::musl::ffi;
use crate::state::{head, ldso_ptr, State};
use crate::symbols::{find_sym, find_sym_hashed, Def, Scope};
use crate::tls;
use relr::do_relr;

mod relr;

/// musl's ADDEND_LIMIT: stage 2 crashes rather than save more addends.
pub const ADDEND_LIMIT: usize = 4096;

/// musl's `do_relocs` over one table at run-time address `table` of `size`
/// bytes, entries of `STRIDE` words (2: REL, 3: RELA), in either form:
/// the arch's own form runs [`do_relocs_native`], the other one (which a
/// toolchain for the arch does not emit, but musl accepts)
/// [`do_relocs_other`]. Each form is its own instance, so startup runs (and
/// qemu-user translates) only the one without the other form's branches.
///
/// Err(Abort) when a `dlopen` must be rolled back (musl's longjmp); during
/// startup errors are reported and relocation goes on.
#[inline(always)]
pub fn do_relocs<const STRIDE: usize>(st: &State, dso: *mut Dso, table: usize, size: usize) -> Result<(), Abort> {
    if STRIDE == crate::arch::RELOC_STRIDE {
        do_relocs_native(st, dso, table, size)
    } else {
        do_relocs_other(st, dso, table, size)
    }
}

/// The stride of the form the arch does not use.
const OTHER_STRIDE: usize = 5 - crate::arch::RELOC_STRIDE;

/// [`do_relocs`] in the arch's own form: every relocation of every object.
///
/// In `.text.hot.stormless` with [`crate::symbols`]' global walk, the only
/// other code that runs per relocation. The build aligns that section so
/// that it never straddles a page on the arches that run under qemu-user
/// (`Arch::hot_code_in_one_page`): qemu chains a direct branch to its target
/// only within one guest page, and takes every other one through a helper
/// call that looks the target up. Where the symbol walk's loop happened to
/// straddle a page boundary, each step through an object paid that call
/// (300 000 times for `relocheavy`, 5 % of qemu's instructions).
#[inline(never)]
#[link_section = ".text.hot.stormless"]
fn do_relocs_native(st: &State, dso: *mut Dso, table: usize, size: usize) -> Result<(), Abort> {
    relocate::<{ crate::arch::RELOC_STRIDE }>(st, dso, table, size)
}

/// [`do_relocs`] in the other form. Not in the hot section, whose size
/// must stay within a page.
#[inline(never)]
fn do_relocs_other(st: &State, dso: *mut Dso, table: usize, size: usize) -> Result<(), Abort> {
    relocate::<OTHER_STRIDE>(st, dso, table, size)
}

/// Ask the cache for what the next relocations will read first: the name of
/// the next one's symbol (its entry was asked for one step earlier) and the
/// symbol entry of the one after. Those reads are where a lookup waits
/// longest, and the current relocation's lookup covers the wait.
///
/// `next` is the entry after the current one; nothing is read past `end`.
/// The addresses need no bounds: a prefetch never faults.
#[inline(always)]
fn prefetch_ahead(d: &Dso, next: usize, end: usize, stride: usize) {
    let entry = stride * WORD;
    if next + entry <= end {
        // SAFETY: a whole entry of the table, inside the object's mapping.
        let info = unsafe { mem::read::<usize>(next + WORD) };
        // Dso::sym reads only an entry inside the table (or a blank one).
        let name = d.sym(r_sym(info)).st_name as usize;
        crate::arch::prefetch(d.strings.wrapping_add(name));
        if next + 2 * entry <= end {
            // SAFETY: as above.
            let info = unsafe { mem::read::<usize>(next + entry + WORD) };
            crate::arch::prefetch(d.syms.wrapping_add(r_sym(info).wrapping_mul(Sym::SIZE)));
        }
    }
}

#[inline(always)]
fn relocate<const STRIDE: usize>(st: &State, dso: *mut Dso, table: usize, size: usize) -> Result<(), Abort> {
    let stride = STRIDE;
    // SAFETY: dso is a live Dso; startup or the dlopen lock keeps others from it.
    let d = unsafe { &mut *dso };
    let is_ldso = dso == ldso_ptr();
    let reuse_addends = is_ldso && table == st.apply_addends_to;
    let mut save_slot = 0;
    let mut at = table;
    let end = table + size;
    // Every write lands in the object's writable segments (dso.rs:
    // `writable_start`): one subtraction and one compare per relocation.
    let (w_start, w_span) = (d.writable_start, d.writable_span);
    while at + stride * WORD <= end {
        // SAFETY: the table lies in the object's mapping.
        let (offset, info) = unsafe { (mem::read::<usize>(at), mem::read::<usize>(at + WORD)) };
        // SAFETY: the addend word of the same entry, inside the table.
        let explicit = if stride > 2 { Some(unsafe { mem::read::<usize>(at + 2 * WORD) }) } else { None };
        at += stride * WORD;
        if crate::arch::PREFETCH_SYMBOLS {
            prefetch_ahead(d, at, end, stride);
        }
        let kind = crate::arch::reloc_kind(r_type(info));
        if kind == Kind::Relative {
            // The common case, kept short (B + A); the loader's own were done by stage 1.
            if !is_ldso {
                let reloc_addr = d.laddr(offset);
                if reloc_addr.wrapping_sub(w_start) > w_span {
                    error::relocation_outside(d.name, offset)?;
                    continue;
                }
                // SAFETY: REL: the addend is the word being relocated; both in the writable mapping.
                let addend = explicit.unwrap_or_else(|| unsafe { mem::read::<usize>(reloc_addr) });
                // SAFETY: reloc_addr lies in the object's writable mapping.
                unsafe { mem::write(reloc_addr, d.base.wrapping_add(addend)) };
            }
            continue;
        }
        if kind == Kind::None {
            continue;
        }
        let reloc_addr = d.laddr(offset);
        if reloc_addr.wrapping_sub(w_start) > w_span {
            error::relocation_outside(d.name, offset)?;
            continue;
        }
        let mut addend = match explicit {
            Some(a) => a,
            None if matches!(kind, Kind::Got | Kind::Plt | Kind::Copy) => 0,
            None if reuse_addends => {
                // Stage 2 (the chain is just the loader) saves the inline addend;
                // stage 3 reads it back, the inline one having been overwritten.
                // SAFETY: saved_addends has room for every symbolic REL entry (counted in stage 2).
                unsafe {
                    let slot = st.saved_addends.add(save_slot);
                    if head() == ldso_ptr() {
                        *slot = mem::read::<usize>(reloc_addr);
                    }
                    save_slot += 1;
                    *slot
                }
            }
            // SAFETY: REL: the addend is the word being relocated.
            None => unsafe { mem::read::<usize>(reloc_addr) },
        };

        let sym_index = r_sym(info);
        let mut sym = None;
        // musl's `def`, as three plain values rather than an Option that every
        // path re-tests: the defining object (this one when there is no
        // symbol), the definition's st_value and its run-time address (both 0
        // for no symbol or an undefined weak one).
        let mut def_dso = dso;
        let mut def_value = 0usize;
        let mut sym_val = 0usize;
        let mut name: &[u8] = b"";
        if sym_index != 0 {
            let s = d.sym(sym_index);
            // One pass over the name measures it and hashes it.
            let (n, gh) = d.string_hashed(s.st_name as usize);
            name = n;
            sym = Some(s);
            let found = if s.bind() == STB_LOCAL {
                Some((dso, s.st_value))
            } else {
                // SAFETY: head is the live main program.
                let ctx = if kind == Kind::Copy { unsafe { (*head()).syms_next } } else { head() };
                match find_sym_hashed(ctx, name, gh, kind == Kind::Plt, Scope::Global) {
                    Some(found) => Some((found.dso, found.value())),
                    // Not found: all of it here, so that a found symbol costs one test.
                    None => {
                        let alias = lfs64_alias(name);
                        if alias.is_none() && (s.st_shndx != SHN_UNDEF || s.bind() != STB_WEAK) {
                            if let (Some(lazy), Kind::Plt | Kind::Got) = (d.lazy(), kind) {
                                lazy.push([offset, info, addend]);
                                continue;
                            }
                            error::relocating_symbol_not_found(d.name, name);
                            error::stop_at_runtime()?;
                            continue;
                        }
                        alias.map(|found| (found.dso, found.value()))
                    }
                }
            };
            if let Some((found_dso, value)) = found {
                def_dso = found_dso;
                def_value = value;
                // SAFETY: a definition's Dso is live.
                sym_val = unsafe { (*found_dso).laddr(value) };
            }
        }
        if kind.writes_symbol_address() {
            // SAFETY: reloc_addr lies in the object's writable mapping.
            unsafe { mem::write(reloc_addr, sym_val.wrapping_add(addend)) };
            continue;
        }
        // SAFETY: a definition's Dso is live.
        let dd = unsafe { &*def_dso };
        let tls_val = def_value;

        if kind == Kind::TpOff && dd.tls_id > st.static_tls_cnt {
            error::initial_exec_to_dynamic(d.name, name, dd.name);
            return Err(Abort);
        }

        // SAFETY: reloc_addr lies in the object's writable mapping (the linker put it there).
        unsafe {
            match kind {
                Kind::Copy => {
                    if let Some(s) = sym {
                        // The destination in this object's writable segments, the
                        // source inside the defining object's mapping.
                        let size = s.st_size;
                        let source_ok = dd.map_len == 0
                            || sym_val.wrapping_sub(dd.map) <= dd.map_len && size <= dd.map_len - (sym_val - dd.map);
                        if !d.writable(reloc_addr, size) {
                            error::relocation_outside(d.name, offset)?;
                        } else if !source_ok {
                            error::copy_outside(d.name, name)?;
                        } else {
                            mem::copy(reloc_addr, sym_val, size);
                        }
                    }
                }
                Kind::Offset32 => mem::write(reloc_addr, sym_val.wrapping_add(addend).wrapping_sub(reloc_addr) as u32),
                Kind::DtpMod => mem::write(reloc_addr, dd.tls_id),
                Kind::DtpOff => mem::write(reloc_addr, tls_val.wrapping_add(addend).wrapping_sub(tls::DTP_OFFSET)),
                Kind::TpOff => mem::write(reloc_addr, tls::tpoff(tls_val, dd.tls.offset, addend)),
                Kind::TlsDesc => {
                    // Two words: the second must be writable too.
                    if !d.writable(reloc_addr, 2 * WORD) {
                        error::relocation_outside(d.name, offset)?;
                        continue;
                    }
                    if explicit.is_none() {
                        addend = mem::read::<usize>(reloc_addr + WORD * tlsdesc_rel_addend_slot());
                    }
                    let (a, b) = if dd.tls_id > st.static_tls_cnt {
                        match tls::dynamic_descriptor(d, dd.tls_id, tls_val.wrapping_add(addend)) {
                            Some(desc) => (tls::tlsdesc_dynamic(), desc),
                            None => {
                                error::tlsdesc_alloc(d.name, if sym.is_some() { name } else { b"(local)" });
                                return Err(Abort);
                            }
                        }
                    } else {
                        (tls::tlsdesc_static(), tls::tpoff(tls_val, dd.tls.offset, addend))
                    };
                    let (first, second) = if tls::TLSDESC_BACKWARDS { (b, a) } else { (a, b) };
                    mem::write(reloc_addr, first);
                    mem::write(reloc_addr + WORD, second);
                }
                // Handled above.
                Kind::None | Kind::Relative | Kind::Symbolic | Kind::Got | Kind::Plt => {}
                Kind::Unknown => {
                    error::unsupported_relocation(d.name, r_type(info));
                    error::stop_at_runtime()?;
                }
            }
        }
    }
    Ok(())
}

/// Which word of a REL-form TLSDESC slot holds the addend. musl 1.2.3 reads
/// the second word on every arch; 1.2.5 reads the word that is the argument
/// word on arches whose descriptors are stored backwards (ARM).
fn tlsdesc_rel_addend_slot() -> usize {
    if crate::musl::probed::MUSL_VERSION >= (1, 2, 5) && tls::TLSDESC_BACKWARDS {
        0
    } else {
        1
    }
}

/// musl 1.2.5's `get_lfs64`: a program linked against an older musl may ask
/// for the LFS64 names (`fopen64`, `stat64`, …) that 1.2.5 no longer exports;
/// they resolve to the plain symbol of libc. Earlier releases still export
/// them, so there it never applies. Out of line and cold: only a missing
/// symbol gets here, and inlined it would crowd do_relocs' hot loop.
#[cold]
#[inline(never)]
fn lfs64_alias(name: &[u8]) -> Option<Def> {
    if crate::musl::probed::MUSL_VERSION < (1, 2, 5) {
        return None;
    }
    let plain = stormless_elf::lfs64_base_name(name)?;
    find_sym(ldso_ptr(), plain, true, Scope::Global)
}

/// musl's `reloc_all`: every not yet relocated object of `objects` (a walk
/// along the list: musl's `for (; p; p=p->next)` from some object), then its
/// RELRO made read-only.
#[link_section = ".text.startup.stormless"]
pub fn reloc_all(st: &State, objects: crate::load::Objects) -> Result<(), Abort> {
    for p in objects {
        // SAFETY: p is a live Dso of the list.
        let d = unsafe { &mut *p };
        if !d.relocated {
            let dy = d.decoded();
            let (jmprel, jmprel_size) = (d.laddr(dy.get(DT_JMPREL)), dy.get(DT_PLTRELSZ));
            if dy.get(DT_PLTREL) == DT_RELA {
                relocs::<3>(st, p, jmprel, jmprel_size)?;
            } else {
                relocs::<2>(st, p, jmprel, jmprel_size)?;
            }
            relocs::<2>(st, p, d.laddr(dy.get(DT_REL)), dy.get(DT_RELSZ))?;
            relocs::<3>(st, p, d.laddr(dy.get(DT_RELA)), dy.get(DT_RELASZ))?;
            let relr = dy.get(DT_RELR);
            if relr != 0 {
                do_relr(d, relr, dy.get(DT_RELRSZ))?;
            }
            if head() != ldso_ptr() && d.relro_start != d.relro_end {
                // SAFETY: the RELRO range is page-aligned and inside the mapping.
                let r = unsafe {
                    ffi::mprotect(d.laddr(d.relro_start) as *mut _, d.relro_end - d.relro_start, 1 /* PROT_READ */)
                };
                if r != 0 && ffi::errno() != 38 {
                    error::relro_failed(d.name);
                    error::stop_at_runtime()?;
                }
            }
            d.relocated = true;
        }
    }
    Ok(())
}

/// [`do_relocs`], except for an empty table of the form the arch does not
/// use: that costs no call (nor, under qemu-user, the translation of a
/// function startup never needs). The arch's own form is called whatever
/// the size, as musl does: its loop guard is the test, and a test here
/// would be one more block per table.
#[inline(always)]
fn relocs<const STRIDE: usize>(st: &State, p: *mut Dso, table: usize, size: usize) -> Result<(), Abort> {
    if STRIDE != crate::arch::RELOC_STRIDE && size == 0 {
        return Ok(());
    }
    do_relocs::<STRIDE>(st, p, table, size)
}
