//! The served file system: a read-only view of one directory, every
//! operation answered after a fixed delay (a network round trip), nothing
//! cacheable by the kernel, every operation counted.
//!
//! The source is reached through a directory file descriptor opened before
//! the mount: the view is usually mounted over its own source (the same
//! absolute path, in a private mount namespace), and a walk that starts at
//! that descriptor stays below the mount instead of re-entering it.
use crate::counters::{Counters, Op};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags,
    ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, Request,
};
use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Entries and attributes may be cached for no time at all: each start is a
/// cold client, as on a cluster node that has never seen the store (NFS with
/// `lookupcache=none,noac`). Failed lookups are answered with an error, which
/// the kernel never caches (a negative entry needs an explicit reply).
const NO_CACHE: Duration = Duration::ZERO;

/// Inode numbers given out, by relative path, and back.
#[derive(Default)]
struct Inodes {
    paths: Vec<PathBuf>,
    by_path: HashMap<PathBuf, u64>,
}

impl Inodes {
    fn number(&mut self, path: &Path) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            return ino;
        }
        self.paths.push(path.to_path_buf());
        let ino = self.paths.len() as u64; // the root is 1
        self.by_path.insert(path.to_path_buf(), ino);
        ino
    }
}

pub struct NetFs {
    /// `O_PATH` descriptor of the served directory.
    source: OwnedFd,
    latency: Duration,
    counters: Arc<Counters>,
    inodes: RwLock<Inodes>,
    /// What each open handle reads: the source path. Not an open file: a
    /// mapped library stays open on the client until it is unmapped, and 64
    /// pynamic starts hold about 27 000 of them, over the 20 000 files this
    /// process may hold (the clients saw EMFILE). A READ opens the file (an
    /// NFS server does not hold one per client open either).
    files: Mutex<HashMap<u64, PathBuf>>,
    next_handle: AtomicU64,
}

impl NetFs {
    pub fn new(source: &Path, latency: Duration, counters: Arc<Counters>) -> io::Result<NetFs> {
        let c = CString::new(source.as_os_str().as_bytes())?;
        // SAFETY: a valid C string; the descriptor returned is owned below.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut inodes = Inodes::default();
        inodes.number(Path::new(""));
        Ok(NetFs {
            // SAFETY: fd was just opened and is owned by nobody else.
            source: unsafe { OwnedFd::from_raw_fd(fd) },
            latency,
            counters,
            inodes: RwLock::new(inodes),
            files: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
        })
    }

    /// Count the operation and wait one round trip (the reply is sent after).
    fn round_trip(&self, op: Op) {
        self.counters.add(op);
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
    }

    fn path_of(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        let inodes = self.inodes.read().expect("inode table poisoned");
        inodes.paths.get((u64::from(ino) as usize).wrapping_sub(1)).cloned().ok_or(Errno::ENOENT)
    }

    /// The source path of `rel`, through the descriptor (see the module comment).
    fn source_path(&self, rel: &Path) -> PathBuf {
        let mut p = PathBuf::from(format!("/proc/self/fd/{}", self.source.as_raw_fd()));
        if !rel.as_os_str().is_empty() {
            p.push(rel);
        }
        p
    }

    fn attr_of(&self, rel: &Path, ino: u64) -> Result<FileAttr, Errno> {
        // The root is the descriptor's magic link itself, which must be followed.
        let meta = if rel.as_os_str().is_empty() {
            std::fs::metadata(self.source_path(rel))
        } else {
            std::fs::symlink_metadata(self.source_path(rel))
        }
        .map_err(Errno::from)?;
        let kind = meta.file_type();
        let kind = if kind.is_dir() {
            FileType::Directory
        } else if kind.is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        let time = |secs: i64, nsecs: i64| UNIX_EPOCH + Duration::new(secs.max(0) as u64, nsecs.max(0) as u32);
        Ok(FileAttr {
            ino: INodeNo(ino),
            size: meta.size(),
            blocks: meta.blocks(),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: SystemTime::UNIX_EPOCH,
            kind,
            // Read-only view: no write bits, whatever the source has.
            perm: (meta.mode() & 0o7555) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: 0,
            flags: 0,
            blksize: 4096,
        })
    }
}

impl Filesystem for NetFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = self.path_of(parent).map(|p| p.join(name)).and_then(|rel| {
            let ino = self.inodes.write().expect("inode table poisoned").number(&rel);
            self.attr_of(&rel, ino)
        });
        self.round_trip(if found.is_ok() { Op::LookupFound } else { Op::LookupMissing });
        match found {
            Ok(attr) => reply.entry(&NO_CACHE, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.round_trip(Op::Getattr);
        match self.path_of(ino).and_then(|rel| self.attr_of(&rel, ino.into())) {
            Ok(attr) => reply.attr(&NO_CACHE, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.round_trip(Op::Other);
        match self.path_of(ino).and_then(|rel| std::fs::read_link(self.source_path(&rel)).map_err(Errno::from)) {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.round_trip(Op::Open);
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let opened = self.path_of(ino).and_then(|rel| {
            let path = self.source_path(&rel);
            File::open(&path).map(|_| path).map_err(Errno::from)
        });
        match opened {
            Ok(path) => {
                let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
                self.files.lock().expect("file table poisoned").insert(fh, path);
                // No FOPEN_KEEP_CACHE: the kernel drops the file's cached pages
                // at every open, so each start reads the file from the server.
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.round_trip(Op::Read);
        let path = self.files.lock().expect("file table poisoned").get(&u64::from(fh)).cloned();
        let Some(path) = path else { return reply.error(Errno::EBADF) };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return reply.error(e.into()),
        };
        let mut buf = vec![0; size as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(e.into()),
            }
        }
        self.counters.add_bytes(filled as u64);
        reply.data(&buf[..filled]);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.round_trip(Op::Other);
        self.files.lock().expect("file table poisoned").remove(&u64::from(fh));
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.round_trip(Op::Other);
        match self.path_of(ino) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        self.round_trip(Op::Other);
        let rel = match self.path_of(ino) {
            Ok(rel) => rel,
            Err(e) => return reply.error(e),
        };
        let listing = match std::fs::read_dir(self.source_path(&rel)) {
            Ok(l) => l,
            Err(e) => return reply.error(e.into()),
        };
        let mut entries: Vec<(OsString, FileType)> =
            vec![(".".into(), FileType::Directory), ("..".into(), FileType::Directory)];
        for entry in listing.flatten() {
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => FileType::Directory,
                Ok(t) if t.is_symlink() => FileType::Symlink,
                _ => FileType::RegularFile,
            };
            entries.push((entry.file_name(), kind));
        }
        for (i, (name, kind)) in entries.iter().enumerate().skip(offset as usize) {
            let child = if i < 2 {
                u64::from(ino)
            } else {
                self.inodes.write().expect("inode table poisoned").number(&rel.join(name))
            };
            if reply.add(INodeNo(child), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        self.round_trip(Op::Other);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.round_trip(Op::Other);
        reply.statfs(0, 0, 0, 0, 0, 4096, 255, 4096);
    }
}
