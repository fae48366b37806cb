//! A private mount namespace, so that the view can sit at the served
//! directory's own absolute path (embedded paths stay valid) while nothing
//! outside this process and its children sees it. When the last process of
//! the namespace exits — however it exits — the kernel drops the mount with
//! it: a `netfs run` cannot leave a stale mount behind.
use anyhow::{bail, Result};
use std::io;

/// Enter a new mount namespace whose mounts no longer propagate to the
/// parent's. Must be called while the process has a single thread
/// (unshare(CLONE_NEWNS) unshares the file-system context too).
pub fn enter_private() -> Result<()> {
    // SAFETY: plain system calls with constant arguments.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        bail!(
            "cannot enter a private mount namespace (unshare CLONE_NEWNS; root needed): {}",
            io::Error::last_os_error()
        );
    }
    let root = c"/";
    // SAFETY: as above; a NULL source, type and data are what MS_PRIVATE takes.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!("cannot make the new namespace's mounts private: {}", io::Error::last_os_error());
    }
    Ok(())
}
