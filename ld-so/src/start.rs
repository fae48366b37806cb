//! Stage 0: the first Rust code after `_dlstart`.
//!
//! Rules for code reached before self-relocation: no dynamic relocation, no
//! static holding an address, no call outside this object, no panic. The only
//! data touched here is a byte string reached PC-relatively.

/// The loader is not written yet (issue 3). Say so on stderr and exit with
/// musl's "cannot load" status rather than crash or pretend.
pub extern "C" fn stage0(_sp: *const usize) -> ! {
    static MESSAGE: [u8; 62] = *b"stormless: dynamic linker not implemented yet (see issue 3)\n\0\0";
    // SAFETY: write(2) reads MESSAGE, which lives in this object; exit_group ends the process.
    unsafe {
        crate::arch::syscall3(crate::arch::nr::WRITE, 2, MESSAGE.as_ptr() as usize, 60);
        crate::arch::syscall1(crate::arch::nr::EXIT_GROUP, 127);
    }
    crate::arch::trap()
}
