//! Stages 2, 2b and 3 (musl's `__dls2`, `__dls2b`, `__dls3`).
//!
//! Stage 2 runs with only relative relocations applied: it relocates the
//! loader's symbolic relocations against the loader itself, then reaches stage
//! 2b through the loader's own symbol table (a barrier: nothing computed from
//! relocated data can be hoisted above it). Stage 2b installs the builtin
//! thread pointer. Stage 3 loads and relocates the program and its libraries
//! and jumps to the entry point.
use crate::debug::debug_ptr;
use crate::dso::Dso;
use crate::elf::*;
use crate::load;
use crate::mem;
use crate::musl::{ffi, libc};
use crate::reloc::{self, ADDEND_LIMIT};
use crate::state::{app_ptr, at_entry, head, ldso_ptr, set_head, State};
use crate::symbols::{find_sym, Scope};
use crate::tls;
use core::ffi::{c_char, c_void};
use vdso::{attach_vdso, set_self_sysinfo};

mod vdso;

type StageFn = unsafe extern "C" fn(*mut usize, *mut usize) -> !;

fn auxv_of(sp: *mut usize) -> *mut usize {
    // SAFETY: the kernel's stack layout: argc, argv[], NULL, envp[], NULL, auxv.
    unsafe {
        let argc = *sp;
        let mut p = sp.add(argc + 2);
        while *p != 0 {
            p = p.add(1);
        }
        p.add(1)
    }
}

/// (key, value) pairs of the aux vector.
fn aux_pairs(auxv: *mut usize) -> impl Iterator<Item = (usize, usize)> {
    let mut p = auxv;
    core::iter::from_fn(move || {
        // SAFETY: the aux vector ends with AT_NULL.
        unsafe {
            if *p == 0 {
                return None;
            }
            let pair = (*p, *p.add(1));
            p = p.add(2);
            Some(pair)
        }
    })
}

/// Continue at an exported stage function found through the loader's own symbols.
/// Inlined into its two callers, so that the name's hash is a constant.
#[inline(always)]
fn enter(name: &[u8], sp: *mut usize, auxv: *mut usize) -> ! {
    let ldso = ldso_ptr();
    let Some(def) = find_sym(ldso, name, false, Scope::Global) else { crate::error::crash() };
    // SAFETY: __dls2b/__dls3 are `extern "C" fn(*mut usize, *mut usize) -> !` in this object.
    unsafe {
        let f: StageFn = core::mem::transmute((*ldso).laddr(def.value()));
        f(sp, auxv)
    }
}

/// # Safety
/// Only stage 1 may call this, once, after relocating the loader.
#[link_section = ".text.startup.stormless"]
pub unsafe extern "C" fn stage2(base: usize, sp: *mut usize) -> ! {
    let auxv = auxv_of(sp);
    // SAFETY: startup, single-threaded: the only reference to the loader's object.
    let ldso = unsafe { &mut *ldso_ptr() };
    ldso.base = base;
    // SAFETY: the loader's own ELF header is mapped at its base.
    let eh = unsafe { Ehdr::read(base) };
    ldso.name = c"libc.so".as_ptr().cast();
    ldso.shortname = ldso.name;
    ldso.phnum = eh.e_phnum;
    ldso.phdr = ldso.laddr(eh.e_phoff);
    ldso.phentsize = eh.e_phentsize;
    ldso.adopt_kernel_mapping();
    if !crate::arch::CONSTANT_PAGE_SIZE {
        // musl rounds the loader's own RELRO with PAGE_SIZE in stage 2, where
        // on these arches it is libc.page_size, still 0: the range comes out
        // empty and the loader's RELRO is never write-protected. (1.2.5 meant
        // to fix this with `ldso_page_size`, but its `#ifndef PAGE_SIZE` comes
        // after pthread_impl.h has included libc.h, which defines PAGE_SIZE as
        // libc.page_size.) Same here, same system calls.
        ldso.relro_start = 0;
        ldso.relro_end = 0;
    }
    ldso.decode_dyn();

    // Room for the inline addends of the loader's symbolic REL relocations,
    // in this frame, which stays alive until the process exits.
    let dy = ldso.decoded();
    let rel = ldso.laddr(dy.get(DT_REL));
    let mut symbolic = 0;
    for i in 0..dy.get(DT_RELSZ) / (2 * WORD) {
        // SAFETY: DT_REL lies in the loader's mapping.
        let info = unsafe { mem::read::<usize>(rel + i * 2 * WORD + WORD) };
        if r_type(info) != crate::arch::R_RELATIVE {
            symbolic += 1;
        }
    }
    if symbolic >= ADDEND_LIMIT {
        crate::error::crash();
    }
    // musl sizes this as a VLA. Rust has none: take the small frame unless
    // the count needs the large one, since every byte of a stack frame this
    // size is touched (stack probes), and 32 KiB cost every process page faults.
    if symbolic < SMALL_ADDENDS {
        relocate_self::<SMALL_ADDENDS>(rel, sp, auxv)
    } else {
        relocate_self::<ADDEND_LIMIT>(rel, sp, auxv)
    }
}

/// libc.so has none on RELA arches and about twenty on ARM (21 GLOB_DAT and
/// JUMP_SLOT). Stage 3 runs below this frame, so every word of it deepens
/// the whole startup's stack: musl's VLA is exactly the count, and a frame of
/// 256 words measured one more page of stack resident on x86_64.
const SMALL_ADDENDS: usize = 32;

/// Stage 2's symbolic relocations of the loader itself, with room for `N`
/// saved addends in this frame, which stays alive until the process exits.
#[link_section = ".text.startup.stormless"]
fn relocate_self<const N: usize>(rel: usize, sp: *mut usize, auxv: *mut usize) -> ! {
    // SAFETY: stage 2, single-threaded; the loader's first borrow of its state.
    let st = unsafe { at_entry() };
    // Written by stage 2 before stage 3 reads them: no need to zero.
    let mut addends = [core::mem::MaybeUninit::<usize>::uninit(); N];
    st.saved_addends = addends.as_mut_ptr() as *mut usize;
    st.apply_addends_to = rel;

    set_head(ldso_ptr());
    reloc::reloc_all(st, load::Objects::from(ldso_ptr())).ok();
    // SAFETY: the loader's object, live; single-threaded.
    unsafe { (*ldso_ptr()).relocated = false };
    let _keep = core::hint::black_box(&mut addends);
    enter(b"__dls2b", sp, auxv)
}

/// Stage 2b: the builtin thread pointer, for the loader and libc during loading.
///
/// # Safety
/// Called once, by stage 2.
#[link_section = ".text.startup.stormless"]
pub unsafe extern "C" fn dls2b(sp: *mut usize, auxv: *mut usize) -> ! {
    for (k, v) in aux_pairs(auxv) {
        if k == AT_HWCAP {
            // SAFETY: musl's global, single-threaded startup.
            unsafe { *core::ptr::addr_of_mut!(ffi::__hwcap) = v };
            break;
        }
    }
    libc::set_auxv(auxv);
    libc::set_tls_size(tls::BUILTIN_SIZE);
    // SAFETY: stage 2b, single-threaded; stage 2's borrow has ended.
    libc::set_tls_align(unsafe { at_entry() }.tls_align);
    if !tls::install(tls::builtin()) {
        crate::error::crash();
    }
    enter(b"__dls3", sp, auxv)
}

fn cstr_at(addr: usize) -> &'static [u8] {
    // SAFETY: callers pass pointers to NUL-terminated strings (argv, env, aux).
    unsafe { mem::cstr(addr) }
}

/// Stage 3: load the program's libraries, relocate everything, run.
///
/// # Safety
/// Called once, by stage 2b.
#[link_section = ".text.startup.stormless"]
pub unsafe extern "C" fn dls3(sp: *mut usize, auxv: *mut usize) -> ! {
    // SAFETY: stage 3, single-threaded; earlier stages' borrows have ended, and
    // this one ends before the program's entry point is called.
    let st = unsafe { at_entry() };
    // Zeroed by musl's memset rather than inline vector stores (cheaper to
    // translate under qemu-user); the opaque size keeps it a call.
    let mut aux = core::mem::MaybeUninit::<[usize; AUX_CNT]>::uninit();
    // SAFETY: all-zero words are an initialised array.
    let aux = unsafe {
        let size = core::hint::black_box(core::mem::size_of::<[usize; AUX_CNT]>());
        ffi::memset(aux.as_mut_ptr().cast(), 0, size);
        aux.assume_init_mut()
    };
    // Branch-free per entry (each branch ends a block qemu-user translates):
    // a key past the array lands in aux[0], AT_NULL's slot, never read.
    let mut present = 0u64;
    for (k, v) in aux_pairs(auxv) {
        let known = k < AUX_CNT;
        let i = if known { k } else { 0 };
        aux[i] = v;
        present |= (known as u64) << i;
    }
    // SAFETY: argv and envp per the kernel's stack layout.
    let argc = unsafe { *sp };
    // SAFETY: argv follows argc on the kernel's stack.
    let argv = unsafe { sp.add(1) } as *mut *mut c_char;
    // SAFETY: envp follows argv's terminating null.
    let envp = unsafe { argv.add(argc + 1) };
    // SAFETY: musl's globals, single-threaded startup.
    unsafe {
        *core::ptr::addr_of_mut!(ffi::__environ) = envp;
        let sysinfo = core::ptr::addr_of_mut!(ffi::__sysinfo);
        *sysinfo = if present & (1 << AT_SYSINFO) != 0 { aux[AT_SYSINFO] } else { *sysinfo };
        set_self_sysinfo(*sysinfo);
    }
    libc::set_page_size(aux[AT_PAGESZ]);
    let ids_present = present & 0x7800 == 0x7800;
    // `|`, not `||`: one block instead of four under qemu-user.
    let secure =
        (!ids_present | (aux[AT_UID] != aux[AT_EUID]) | (aux[AT_GID] != aux[AT_EGID]) | (aux[AT_SECURE] != 0)) as i8;
    libc::set_secure(secure);

    // SAFETY: getenv with a literal name.
    crate::ld_debug::init(unsafe { ffi::getenv(c"LD_DEBUG".as_ptr()) } as *const u8, secure != 0);
    let mut env_preload = 0usize;
    if secure == 0 {
        // SAFETY: getenv with literal names.
        unsafe {
            st.env_path = ffi::getenv(c"LD_LIBRARY_PATH".as_ptr()) as usize;
            env_preload = ffi::getenv(c"LD_PRELOAD".as_ptr()) as usize;
        }
    }

    // SAFETY: startup, single-threaded: nothing else refers to the program's
    // object until it is put on the list below (command mode's reference ended).
    let app = unsafe { &mut *app_ptr() };
    // SAFETY: as `app`, the loader's object.
    let ldso = unsafe { &mut *ldso_ptr() };
    if aux[AT_PHDR] != ldso.phdr {
        // The kernel mapped the program; the loader is its interpreter.
        app.phdr = aux[AT_PHDR];
        app.phnum = aux[AT_PHNUM];
        app.phentsize = aux[AT_PHENT];
        let mut interp = 0;
        let mut tls_image = 0;
        for i in 0..app.phnum {
            let ph = app.phdr_at(i);
            match ph.p_type {
                PT_PHDR => app.base = aux[AT_PHDR].wrapping_sub(ph.p_vaddr),
                PT_INTERP => interp = ph.p_vaddr,
                PT_TLS => tls_image = app.take_tls_header(&ph),
                _ => {}
            }
        }
        // Selects rather than branches (see the aux loop).
        let image = app.laddr(tls_image) as *const u8;
        app.tls.image = if app.tls.size != 0 { image } else { app.tls.image };
        let interp_name = app.laddr(interp) as *const u8;
        ldso.name = if interp != 0 { interp_name } else { ldso.name };
        let execfn = aux[AT_EXECFN];
        // musl's strncmp, as musl's __dls3: libc's code that getenv runs
        // anyway, rather than a second, inlined comparison.
        // SAFETY: AT_EXECFN is a NUL-terminated path; the literal is NUL-terminated.
        let from_proc = || unsafe { ffi::strncmp(execfn as *const c_char, c"/proc/".as_ptr(), 6) } == 0;
        app.name = if present & (1 << AT_EXECFN) != 0 && !from_proc() {
            execfn as *const u8
        } else {
            // SAFETY: argv[0].
            unsafe { *argv as *const u8 }
        };
        let stack = app.adopt_kernel_mapping();
        load::raise_default_stack(stack);
    } else {
        crate::command::run(st, sp, aux, &mut env_preload);
    }
    // SAFETY: as above (the command's references have ended).
    let app = unsafe { &mut *app_ptr() };
    if app.tls.size != 0 {
        st.tls_cnt = 1;
        app.tls_id = 1;
        tls::assign_offset(st, &mut app.tls, true);
        load::link_tls(st, app);
    }
    let decoded = app.decode_dyn();
    if app.kernel_mapped {
        app.bound_tables_by_mapping(&decoded);
    }

    set_head(app_ptr());
    st.tail = app_ptr();
    st.syms_tail = app_ptr();

    load::reclaim_gaps(app);
    // SAFETY: the loader's object, live; single-threaded.
    let ldso = unsafe { &mut *ldso_ptr() };
    load::reclaim_gaps(ldso);
    ldso.deps_loaded = true;
    if env_preload != 0 {
        load::load_preload(st, cstr_at(env_preload));
    }
    // During startup errors are reported and loading goes on (exit 127 below).
    load::load_deps(st, app_ptr()).ok();
    load::Objects::all().for_each(|p| add_syms(st, p));

    attach_vdso(st, aux[AT_SYSINFO_EHDR]);

    // DT_DEBUG gets the r_debug address, for debuggers that look there.
    // SAFETY: the program's object, live; single-threaded.
    let dynv = unsafe { (*app_ptr()).dynv };
    let mut i = 0;
    // SAFETY: the program's dynamic section, writable at this point.
    unsafe {
        while mem::read::<usize>(dynv + i * WORD) != 0 {
            if mem::read::<usize>(dynv + i * WORD) == DT_DEBUG {
                mem::write(dynv + (i + 1) * WORD, debug_ptr() as usize);
            }
            i += 2;
        }
    }

    // Before final relocations: these may call malloc, which may become the
    // application's own once relocated.
    // An allocation failure leaves the queue empty (reported; startup exits 127 later).
    let _ = crate::initfini::queue_main_ctors(st, app_ptr());
    tls::update_size(st);
    let mut initial_tls = tls::builtin();
    if libc::tls_size() > tls::BUILTIN_SIZE || st.tls_align > tls::MIN_TLS_ALIGN {
        // SAFETY: plain allocation.
        initial_tls = unsafe { ffi::__libc_calloc(libc::tls_size(), 1) } as *mut u8;
        if initial_tls.is_null() {
            // SAFETY: the program's argv[0] (in command mode the kernel's argv[0] holds argc
            // now) and the size for the message.
            unsafe {
                ffi::dprintf(
                    2,
                    c"%s: Error getting %zu bytes thread-local storage: %m\n".as_ptr(),
                    *crate::command::program_argv(argv),
                    libc::tls_size(),
                );
            }
            crate::error::exit(127);
        }
    }
    st.static_tls_cnt = st.tls_cnt;

    // The program last: its copy relocations read the libraries' relocated data.
    // The libraries (none, when none loaded: a walk after the program), then the program.
    reloc::reloc_all(st, load::Objects::after(app_ptr())).ok();
    reloc::reloc_all(st, load::Objects::from(app_ptr())).ok();

    // Copy the TLS images only now: they may hold relocated addresses.
    if initial_tls != tls::builtin() {
        if !tls::install(initial_tls) {
            crate::error::crash();
        }
    } else {
        let size = libc::tls_size();
        libc::set_tls_size(tls::BUILTIN_SIZE);
        // SAFETY: re-copies the images into the block the thread already uses.
        unsafe { ffi::__copy_tls(tls::builtin()) };
        libc::set_tls_size(size);
    }

    // One test for the three rare outcomes (one block under qemu-user).
    if crate::ld_debug::statistics() | crate::error::startup_failed() | st.ldd_mode {
        // The program, its libraries and the loader; not the kernel's vDSO,
        // which is there or not depending on the kernel (qemu-user has none).
        let vdso = crate::state::vdso_ptr();
        crate::ld_debug::report_startup(load::Objects::all().filter(|&p| p != vdso).count());
        if crate::error::startup_failed() {
            crate::error::exit(127);
        }
        if st.ldd_mode {
            crate::error::exit(0);
        }
    }

    // SAFETY: musl's globals.
    unsafe {
        if find_sym(head(), b"malloc", true, Scope::Global).map(|d| d.dso) != Some(ldso_ptr()) {
            *core::ptr::addr_of_mut!(ffi::__malloc_replaced) = 1;
        }
        if find_sym(head(), b"aligned_alloc", true, Scope::Global).map(|d| d.dso) != Some(ldso_ptr()) {
            *core::ptr::addr_of_mut!(ffi::__aligned_alloc_replaced) = 1;
        }
    }

    crate::error::enter_runtime();
    let d = debug_ptr();
    // SAFETY: r_debug and the loader's object are live statics; single-threaded.
    unsafe {
        (*d).ver = 1;
        (*d).head = head() as *mut c_void;
        (*d).base = (*ldso_ptr()).base as *mut c_void;
        (*d).state = 0; // RT_CONSISTENT
    }
    crate::debug::dl_debug_state();

    let argv_start = crate::command::replace_argv0(argv);
    // errno = 0, inline as in musl (set_errno is a call startup need not run).
    // SAFETY: the thread pointer is installed.
    unsafe { *ffi::___errno_location() = 0 };
    // SAFETY: AT_ENTRY is the program's entry point; argv_start is its initial stack.
    unsafe { crate::arch::jump_to_entry(aux[AT_ENTRY], argv_start) }
}

/// musl's `add_syms`: append to the global symbol chain.
pub fn add_syms(st: &mut State, p: *mut Dso) {
    // SAFETY: live Dsos.
    unsafe {
        if (*p).syms_next.is_null() && st.syms_tail != p {
            (*st.syms_tail).syms_next = p;
            st.syms_tail = p;
        }
    }
}
