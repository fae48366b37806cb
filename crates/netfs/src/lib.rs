//! A network-filesystem model for startup benchmarks (docs/bench.md): a
//! directory served read-only through FUSE with a fixed latency per
//! operation, nothing cached by the kernel, and counters of the operations
//! as the server sees them — the load a cold cluster node puts on an NFS
//! server when it starts a program from a shared store.
pub mod counters;
pub mod fs;
pub mod namespace;
pub mod starts;

use anyhow::{bail, Context, Result};
use counters::{Counters, Snapshot};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How the model answers.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// Added to every operation before its reply (a cluster NFS round trip is ~200 µs).
    pub latency: Duration,
    /// Server threads answering at once (Linux's nfsd starts 8).
    pub threads: usize,
}

/// A mounted view; unmounted by [`Mounted::finish`] or, failing that, on drop.
pub struct Mounted {
    session: fuser::BackgroundSession,
    counters: Arc<Counters>,
}

/// Serve `source` read-only at `at` (which may be `source` itself).
pub fn mount(source: &Path, at: &Path, model: Model) -> Result<Mounted> {
    if model.threads == 0 {
        bail!("the server needs at least one thread");
    }
    for dir in [source, at] {
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
    }
    // Sleeps of 200 µs overshoot by the timer slack (50 µs by default);
    // the server's threads inherit this thread's.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64) };
    let counters = Arc::new(Counters::default());
    let fs = fs::NetFs::new(source, model.latency, counters.clone())
        .with_context(|| format!("cannot open {}", source.display()))?;
    let mut config = fuser::Config::default();
    config.mount_options =
        vec![fuser::MountOption::RO, fuser::MountOption::FSName("stormless-netfs".into()), fuser::MountOption::Exec];
    config.n_threads = Some(model.threads);
    config.clone_fd = true;
    let session = fuser::spawn_mount(fs, at, &config).with_context(|| {
        format!("cannot mount the view of {} at {} (root and /dev/fuse needed)", source.display(), at.display())
    })?;
    Ok(Mounted { session, counters })
}

impl Mounted {
    pub fn snapshot(&self) -> Snapshot {
        self.counters.snapshot()
    }

    /// Whether the server stopped by itself (an error, or an unmount from outside).
    pub fn stopped(&self) -> bool {
        self.session.guard.is_finished()
    }

    /// Unmount, wait for the server's threads, and return the final counts.
    pub fn finish(self) -> Result<Snapshot> {
        let counters = self.counters.clone();
        let stopped = if self.stopped() {
            // Unmounted from outside (`umount`): nothing left to unmount.
            self.session.join()
        } else {
            self.session.umount_and_join()
        };
        match stopped {
            Ok(()) => {}
            // A server thread blocked reading /dev/fuse while the unmount
            // ends the connection gets ECONNABORTED instead of fuser's
            // expected ENODEV (seen with K = 64 starts and 8 threads): the
            // session ended all the same.
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
            Err(e) => return Err(e).context("the server did not stop cleanly"),
        }
        Ok(counters.snapshot())
    }
}
