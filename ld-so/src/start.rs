//! Stage 2: the loader has relocated itself (relative relocations only).
//!
//! The dynamic linker proper arrives with issue 3. Until then this reports that
//! plainly and exits with musl's load-failure status 127. The message is read
//! through a `&'static str` stored in a static, whose pointer exists only after
//! stage 1's relative relocations: a broken stage 1 shows up here as garbage or
//! a fault, not as the expected text.
use crate::arch;

static NOT_YET: &str = "stormless: dynamic linker not implemented yet (see issue 3)\n";

/// # Safety
/// Only stage 1 may call this, once, after relocating the loader.
pub unsafe extern "C" fn stage2(_base: usize, _sp: *mut usize) -> ! {
    let message: &str = core::hint::black_box(NOT_YET);
    // SAFETY: write(2) reads `message`, which is valid; exit_group ends the process.
    unsafe {
        arch::syscall3(arch::nr::WRITE, 2, message.as_ptr() as usize, message.len());
        arch::syscall1(arch::nr::EXIT_GROUP, 127);
    }
    arch::trap()
}
