//! The loader run as a command (musl's branch of `__dls3` where AT_PHDR is the
//! loader's own): `ld-musl-<arch>.so.1 [--list] [--library-path P]
//! [--preload L] [--argv0 A] [--] program [args]`, and `ldd` behaviour when
//! invoked under a name ending in "ldd".
use crate::elf::*;
use crate::load;
use crate::mem;
use crate::musl::ffi;
use crate::state::{app_ptr, ldso_ptr, State};
use core::cell::Cell;
use core::ffi::{c_char, c_void};

struct Argv0(Cell<usize>);
// SAFETY: written and read during single-threaded startup only.
unsafe impl Sync for Argv0 {}
static REPLACE_ARGV0: Argv0 = Argv0(Cell::new(0));
static NEW_ARGV: Argv0 = Argv0(Cell::new(0));

fn arg(argv: *mut *mut c_char, i: usize) -> *mut c_char {
    // SAFETY: argv is NULL-terminated; callers stop at NULL.
    unsafe { *argv.add(i) }
}

fn bytes(p: *mut c_char) -> &'static [u8] {
    // SAFETY: argv strings are NUL-terminated.
    unsafe { mem::cstr(p as usize) }
}

/// Parse the options, map the program named on the command line into
/// the program's object (`state::app_ptr`), and set AT_ENTRY to its entry point.
pub fn run(st: &mut State, sp: *mut usize, aux: &mut [usize], env_preload: &mut usize) {
    // SAFETY: the kernel's stack: argc then argv.
    let argc = unsafe { *sp };
    // SAFETY: argv follows argc on the kernel's stack.
    let argv_orig = unsafe { sp.add(1) } as *mut *mut c_char;
    let ldname = arg(argv_orig, 0);
    if bytes(ldname).ends_with(b"ldd") {
        st.ldd_mode = true;
    }
    let mut i = 1;
    loop {
        let a = arg(argv_orig, i);
        if a.is_null() {
            break;
        }
        let s = bytes(a);
        if !s.starts_with(b"--") {
            break;
        }
        let opt = &s[2..];
        // SAFETY: options are replaced by -1 as musl does; argv slots stay in bounds.
        unsafe { *argv_orig.add(i) = usize::MAX as *mut c_char };
        i += 1;
        let mut value = |name: &[u8]| -> Option<usize> {
            let rest = &opt[name.len()..];
            if rest.first() == Some(&b'=') {
                Some(a as usize + 2 + name.len() + 1)
            } else if !rest.is_empty() {
                // SAFETY: as above.
                unsafe { *argv_orig.add(i) = core::ptr::null_mut() };
                None
            } else {
                let next = arg(argv_orig, i);
                if next.is_null() {
                    None
                } else {
                    i += 1;
                    Some(next as usize)
                }
            }
        };
        if opt.is_empty() {
            break;
        } else if opt.starts_with(b"list") && opt.len() == 4 {
            st.ldd_mode = true;
        } else if opt.starts_with(b"library-path") {
            if let Some(v) = value(b"library-path") {
                st.env_path = v;
            }
        } else if opt.starts_with(b"preload") {
            if let Some(v) = value(b"preload") {
                *env_preload = v;
            }
        } else if opt.starts_with(b"argv0") {
            if let Some(v) = value(b"argv0") {
                REPLACE_ARGV0.0.set(v);
            }
        } else {
            // SAFETY: unknown option: end the argument list here, as musl does.
            unsafe { *argv_orig.add(i) = core::ptr::null_mut() };
        }
    }
    // SAFETY: i <= argc: at most the argv array's terminating null.
    let argv = unsafe { argv_orig.add(i) };
    // SAFETY: argv[-1] becomes the program's argc, as musl does.
    unsafe { *argv.sub(1) = (argc - i) as *mut c_char };
    NEW_ARGV.0.set(argv as usize);
    let prog = arg(argv, 0);
    // SAFETY: C strings for musl's printf.
    unsafe {
        if prog.is_null() {
            ffi::dprintf(
                2,
                c"musl libc (%s)\nVersion %s\nDynamic Program Loader\nUsage: %s [options] [--] pathname%s\n".as_ptr(),
                crate::arch::LDSO_ARCH_C.as_ptr(),
                ffi::__libc_version.as_ptr(),
                ldname,
                if st.ldd_mode { c"".as_ptr() } else { c" [args]".as_ptr() },
            );
            ffi::_exit(1);
        }
        let fd = ffi::open(prog, 0);
        if fd < 0 {
            ffi::dprintf(2, c"%s: cannot load %s: %s\n".as_ptr(), ldname, prog, ffi::strerror(ffi::errno()));
            ffi::_exit(1);
        }
        // musl's command mode does not fstat the program; map_library needs its
        // size to check the segments, so here (and only here) is one more call.
        let size = load::file_info(fd).map_or(0, |f| f.size);
        // SAFETY: startup, single-threaded: nothing else refers to the
        // program's or the loader's object while this function runs.
        let (app, ldso) = (&mut *app_ptr(), &mut *ldso_ptr());
        let mapped = load::map_library(fd, size, app);
        let Some(start) = mapped else {
            ffi::dprintf(2, c"%s: %s: Not a valid dynamic program\n".as_ptr(), ldname, prog);
            ffi::_exit(1);
        };
        ffi::close(fd);
        ldso.name = ldname as *const u8;
        app.name = prog as *const u8;
        let eh = Ehdr::read(start);
        aux[AT_ENTRY] = app.laddr(eh.e_entry);
        if st.ldd_mode {
            for i in 0..app.phnum {
                let ph = app.phdr_at(i);
                // The name is printed only if it lies in the file data of one of the
                // program's PT_LOADs (map_library checked those against the file) and
                // ends with its NUL there; musl prints whatever address it names.
                let in_file_data = |start: usize, len: usize| {
                    (0..app.phnum).map(|j| app.phdr_at(j)).any(|load| {
                        load.p_type == PT_LOAD
                            && start.wrapping_sub(load.p_vaddr) < load.p_filesz
                            && len <= load.p_filesz - (start - load.p_vaddr)
                    })
                };
                if ph.p_type == PT_INTERP && ph.p_filesz != 0 && in_file_data(ph.p_vaddr, ph.p_filesz) {
                    let at = app.laddr(ph.p_vaddr);
                    // (The enclosing unsafe block covers the read: the last byte of
                    // the range, in the mapped file data.)
                    if crate::mem::read::<u8>(at + ph.p_filesz - 1) == 0 {
                        ldso.name = at as *const u8;
                    }
                }
            }
            ffi::dprintf(1, c"\t%s (%p)\n".as_ptr(), ldso.name, ldso.base as *const c_void);
        }
    }
}

/// The program's argv: the kernel's, or in command mode the part after the loader's own
/// options (whose `argv[-1]` now holds argc: the kernel's `argv[0]` may be overwritten). What
/// musl's `argv` is after `argv += i`; `--argv0` is not applied yet.
pub fn program_argv(kernel_argv: *mut *mut c_char) -> *mut *mut c_char {
    match NEW_ARGV.0.get() {
        0 => kernel_argv,
        a => a as *mut *mut c_char,
    }
}

/// The argv the program starts with (argc just before it), with `--argv0`
/// applied.
pub fn replace_argv0(kernel_argv: *mut *mut c_char) -> *mut usize {
    let argv = program_argv(kernel_argv);
    let r = REPLACE_ARGV0.0.get();
    if r != 0 {
        // SAFETY: argv[0] exists (command mode checked it).
        unsafe { *argv = r as *mut c_char };
    }
    // SAFETY: argc sits one word before argv.
    unsafe { (argv as *mut usize).sub(1) }
}
