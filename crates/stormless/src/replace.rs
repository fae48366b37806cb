//! Replacing a file's bytes without losing anything else about it.
//!
//! The new bytes go to a temporary file in the same directory, which is given the old file's
//! owner, mode and every extended attribute (file capabilities such as `security.capability`
//! on a `ping`, POSIX ACLs in `system.posix_acl_*`, SELinux labels, `user.*`), read back to
//! prove they all arrived, flushed, and renamed over the old name; then the directory is
//! flushed. Any failure removes the temporary file and leaves the old one untouched.
//!
//! A rename gives the name a new inode, so a file with other hard links (Nix's store
//! optimisation links identical files together) would be split: the other names would keep
//! the old bytes. That is refused unless the caller asks for exactly that
//! ([`HardLinks::BreakThisName`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xattr::FileExt;

/// What to do with a file that has more than one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardLinks {
    /// Refuse, naming the link count: the file is left as it is.
    Refuse,
    /// Give this name the new bytes; the other names keep the old file.
    BreakThisName,
}

/// `FILE.stormless-tmp-<pid>` in the file's directory.
pub fn temporary_path(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}{}", temporary_prefix(path), std::process::id()))
}

/// `FILE.stormless-tmp-`: the name of every temporary file for `path`, but for the process id.
pub fn temporary_prefix(path: &Path) -> String {
    format!("{}.stormless-tmp-", path.file_name().unwrap_or_default().to_string_lossy())
}

/// Every extended attribute of the file at `path` (not following a final symlink: callers
/// pass the real file), by name.
fn attributes_of(path: &Path) -> Result<BTreeMap<OsString, Vec<u8>>> {
    let mut found = BTreeMap::new();
    let names = match xattr::list(path) {
        Ok(names) => names,
        // A file system without extended attributes has none to keep.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(found),
        Err(e) => return Err(e).context("cannot list the file's extended attributes"),
    };
    for name in names {
        let value = xattr::get(path, &name)
            .with_context(|| format!("cannot read the file's extended attribute {}", name.to_string_lossy()))?;
        // A name listed but gone by the time it is read was removed meanwhile: nothing to keep.
        if let Some(value) = value {
            found.insert(name, value);
        }
    }
    Ok(found)
}

/// Whether `path` can be replaced at all: a regular file, and under `hard_links`' rule. What
/// [`replace_file`] checks first; a dry run asks it alone.
pub fn check_replaceable(path: &Path, hard_links: HardLinks) -> Result<std::fs::Metadata> {
    let metadata = std::fs::symlink_metadata(path).context("cannot read the file's metadata")?;
    if !metadata.file_type().is_file() {
        bail!("not a regular file");
    }
    if metadata.nlink() > 1 && hard_links == HardLinks::Refuse {
        bail!(
            "has {} hard links: rewriting it would split them (the other names would keep the old bytes); \
             --break-hard-links rewrites this name only",
            metadata.nlink()
        );
    }
    Ok(metadata)
}

/// Replace `path` by `bytes` atomically, keeping owner, mode and extended attributes (see the
/// module comment). `path` must name the regular file itself, not a symbolic link to it.
pub fn replace_file(path: &Path, bytes: &[u8], hard_links: HardLinks) -> Result<()> {
    let metadata = check_replaceable(path, hard_links)?;
    write_like(path, bytes, path, &metadata)
}

/// Write `bytes` to `dest` (replacing it atomically if it exists) as a file with the owner,
/// mode and extended attributes of the regular file `like`: the same sequence as
/// [`replace_file`]. `install` keeps a copy of the original loader this way.
pub fn write_copy_like(dest: &Path, bytes: &[u8], like: &Path) -> Result<()> {
    let metadata = check_replaceable(like, HardLinks::BreakThisName)?;
    write_like(dest, bytes, like, &metadata)
}

/// Write `bytes` through a temporary file beside `dest` that gets `like`'s owner, mode
/// (`metadata`) and extended attributes, read back, flushed, renamed over `dest`; then the
/// directory is flushed. On failure the temporary file is removed and `dest` is untouched.
fn write_like(dest: &Path, bytes: &[u8], like: &Path, metadata: &std::fs::Metadata) -> Result<()> {
    let attributes = attributes_of(like)?;
    let temporary = temporary_path(dest);
    let result = (|| -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .with_context(|| format!("cannot create {}", temporary.display()))?;
        file.write_all(bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
        // Owner first: chown clears set-user-ID and set-group-ID bits, which the mode restores,
        // and file capabilities, which the attributes restore.
        std::os::unix::fs::fchown(&file, Some(metadata.uid()), Some(metadata.gid()))
            .with_context(|| format!("cannot give {} the file's owner", temporary.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(metadata.mode() & 0o7777))
            .with_context(|| format!("cannot give {} the file's mode", temporary.display()))?;
        for (name, value) in &attributes {
            file.set_xattr(name, value).with_context(|| {
                format!("cannot give {} the file's extended attribute {}", temporary.display(), name.to_string_lossy())
            })?;
        }
        // Read back what the new file carries: a file system may accept an attribute and keep
        // another (a security module relabelling it); the file must end up with exactly the same.
        let kept = attributes_of(&temporary)?;
        if kept != attributes {
            let differing: Vec<String> = attributes
                .keys()
                .chain(kept.keys())
                .filter(|n| attributes.get(*n) != kept.get(*n))
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            bail!("{} does not keep the file's extended attributes ({})", temporary.display(), differing.join(", "));
        }
        let mode = std::fs::symlink_metadata(&temporary)?.mode() & 0o7777;
        if mode != metadata.mode() & 0o7777 {
            bail!("{} has mode {mode:o} instead of the file's {:o}", temporary.display(), metadata.mode() & 0o7777);
        }
        file.sync_all().with_context(|| format!("cannot flush {}", temporary.display()))?;
        std::fs::rename(&temporary, dest)
            .with_context(|| format!("cannot rename {} over {}", temporary.display(), dest.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    } else {
        // The rename is durable once the directory is flushed; a failure here loses nothing.
        sync_parent(dest);
    }
    result
}

/// Flush the directory holding `path`, so that a rename or removal in it is durable.
pub fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stormless-replace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn temporary_file_sits_beside_the_file() {
        let t = temporary_path(Path::new("/a/b/prog"));
        assert_eq!(t.parent(), Some(Path::new("/a/b")));
        assert!(t.file_name().unwrap().to_string_lossy().starts_with("prog.stormless-tmp-"));
    }

    #[test]
    fn replace_keeps_mode_and_leaves_nothing_behind() {
        let dir = scratch("mode");
        let file = dir.join("prog");
        std::fs::write(&file, b"old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o751)).unwrap();
        replace_file(&file, b"new", HardLinks::Refuse).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, 0o751);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A file that does not exist: an error, and no temporary file left.
        assert!(replace_file(&dir.join("missing"), b"x", HardLinks::Refuse).is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replace_keeps_extended_attributes() {
        let dir = scratch("xattr");
        let file = dir.join("prog");
        std::fs::write(&file, b"old").unwrap();
        if xattr::set(&file, "user.stormless.test", b"kept").is_err() {
            // This file system has no user attributes (tmpfs without user_xattr): nothing to test.
            eprintln!("no user.* extended attributes on {}", dir.display());
            return;
        }
        xattr::set(&file, "user.empty", b"").unwrap();
        replace_file(&file, b"new", HardLinks::Refuse).unwrap();
        assert_eq!(xattr::get(&file, "user.stormless.test").unwrap().as_deref(), Some(&b"kept"[..]));
        assert_eq!(xattr::get(&file, "user.empty").unwrap().as_deref(), Some(&b""[..]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn hard_links_are_refused_unless_broken_on_purpose() {
        let dir = scratch("links");
        let (file, other) = (dir.join("prog"), dir.join("other-name"));
        std::fs::write(&file, b"old").unwrap();
        std::fs::hard_link(&file, &other).unwrap();
        let e = replace_file(&file, b"new", HardLinks::Refuse).unwrap_err();
        assert!(e.to_string().contains("has 2 hard links"), "{e}");
        assert_eq!(std::fs::read(&file).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        replace_file(&file, b"new", HardLinks::BreakThisName).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(std::fs::read(&other).unwrap(), b"old");
        assert_eq!(std::fs::metadata(&other).unwrap().nlink(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_regular_files() {
        let dir = scratch("kinds");
        let e = replace_file(&dir, b"x", HardLinks::Refuse).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        std::fs::write(dir.join("target"), b"old").unwrap();
        std::os::unix::fs::symlink("target", dir.join("link")).unwrap();
        let e = replace_file(&dir.join("link"), b"x", HardLinks::Refuse).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        assert_eq!(std::fs::read(dir.join("target")).unwrap(), b"old");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
