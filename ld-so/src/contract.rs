//! The symbols musl's libc and programs use from the loader, under their C
//! names, with the binding, visibility and type musl's `ldso/dynlink.c` gives
//! them (measured: docs/loader.md). Rust cannot say "hidden" or "weak", so
//! each name is an assembler alias of the Rust item that implements it.
//! `xtask` keeps exactly these global in the loader object (CONTRACT_SYMBOLS).
use core::arch::global_asm;

macro_rules! contract {
    ($($line:literal),* $(,)?; $($name:ident = $item:path),* $(,)?) => {
        global_asm!($($line),*, $($name = sym $item),*);
    };
}

contract!(
    // Exported, as in musl: the stage functions (found through the loader's
    // own symbol table) and gdb's hooks.
    ".globl __dls2b", ".type __dls2b, %function", ".set __dls2b, {dls2b}",
    ".globl __dls3", ".type __dls3, %function", ".set __dls3, {dls3}",
    ".weak _dl_debug_state", ".type _dl_debug_state, %function", ".set _dl_debug_state, {debug_state}",
    ".globl _dl_debug_addr", ".type _dl_debug_addr, %object", ".set _dl_debug_addr, {debug_addr}",
    // Hidden: libc-internal hooks that replace musl's weak fallbacks.
    ".globl __libc_start_init", ".hidden __libc_start_init", ".type __libc_start_init, %function",
    ".set __libc_start_init, {start_init}",
    ".globl __libc_exit_fini", ".hidden __libc_exit_fini", ".type __libc_exit_fini, %function",
    ".set __libc_exit_fini, {exit_fini}",
    ".globl __ldso_atfork", ".hidden __ldso_atfork", ".type __ldso_atfork, %function",
    ".set __ldso_atfork, {atfork}",
    ".globl __init_tls", ".hidden __init_tls", ".type __init_tls, %function", ".set __init_tls, {init_tls}",
    ".globl __dlsym", ".hidden __dlsym", ".type __dlsym, %function", ".set __dlsym, {dlsym}",
    ".globl __dlsym_redir_time64", ".hidden __dlsym_redir_time64", ".type __dlsym_redir_time64, %function",
    ".set __dlsym_redir_time64, {dlsym_redir_time64}",
    ".globl __dl_invalid_handle", ".hidden __dl_invalid_handle", ".type __dl_invalid_handle, %function",
    ".set __dl_invalid_handle, {invalid_handle}",
    // Exported: the dl API that lives in the loader.
    ".globl dlopen", ".type dlopen, %function", ".set dlopen, {dlopen}",
    ".globl dladdr", ".type dladdr, %function", ".set dladdr, {dladdr}",
    ".globl dl_iterate_phdr", ".type dl_iterate_phdr, %function", ".set dl_iterate_phdr, {dl_iterate_phdr}";
    dls2b = crate::start::dls2b,
    dls3 = crate::start::dls3,
    debug_state = crate::debug::dl_debug_state,
    debug_addr = crate::debug::DL_DEBUG_ADDR,
    start_init = crate::initfini::libc_start_init,
    exit_fini = crate::initfini::libc_exit_fini,
    atfork = crate::initfini::ldso_atfork,
    init_tls = crate::debug::init_tls,
    dlsym = crate::dlsym::dlsym,
    dlsym_redir_time64 = crate::dlsym::dlsym_redir_time64,
    invalid_handle = crate::dlsym::dl_invalid_handle,
    dlopen = crate::dlopen::dlopen,
    dladdr = crate::dlsym::dladdr,
    dl_iterate_phdr = crate::dlsym::dl_iterate_phdr,
);
