//! Paths inside a root directory, resolved as the root's own programs would see them: a
//! symbolic link's absolute target is taken inside the root, and `..` never climbs out of it.
//! On Alpine `/lib/ld-musl-<m>.so.1` is the file itself; on Void `/lib` is a link to `usr/lib`
//! and the loader a link to `libc.so`; in our trees it is an absolute link to `lib/libc.so`.
use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed before giving up, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Where the absolute path `path` of the root `root` really is on this machine: every
/// symbolic link on the way followed inside `root`. The final component need not exist.
pub fn resolve(root: &Path, path: &Path) -> Result<PathBuf> {
    let mut pending: VecDeque<OsString> = components(path).collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = join(root, &resolved).join(&name);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    bail!("more than {MAX_LINKS} symbolic links resolving {} in {}", path.display(), root.display());
                }
                let target = std::fs::read_link(&candidate)
                    .with_context(|| format!("cannot read the symbolic link {}", candidate.display()))?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, part) in components(&target).enumerate() {
                    pending.insert(i, part);
                }
            }
            _ => resolved.push(name),
        }
    }
    Ok(join(root, &resolved))
}

/// The path's names, without the root, `.` and empty parts; `..` kept.
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

fn join(root: &Path, names: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(names);
    path
}

/// `path` (inside `root`) as the root's programs name it: `/lib/libc.so`.
pub fn inside(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rest) => format!("/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("stormless-root-path-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("usr/lib/libc.so"), b"x").unwrap();
        // Void's layout: /lib -> usr/lib, the loader -> libc.so; and an absolute link.
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("libc.so", root.join("usr/lib/ld-musl-x86_64.so.1")).unwrap();
        symlink("/usr/lib/libc.so", root.join("usr/lib/absolute")).unwrap();
        symlink("../../../../../usr/lib/libc.so", root.join("usr/lib/climbing")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let real = root.join("usr/lib/libc.so");
        assert_eq!(resolve(&root, Path::new("/lib/ld-musl-x86_64.so.1")).unwrap(), real);
        assert_eq!(resolve(&root, Path::new("/lib/absolute")).unwrap(), real);
        assert_eq!(resolve(&root, Path::new("/lib/climbing")).unwrap(), real);
        assert_eq!(resolve(&root, Path::new("/lib/missing")).unwrap(), root.join("usr/lib/missing"));
        assert!(resolve(&root, Path::new("/loop")).unwrap_err().to_string().contains("symbolic links"));
        assert_eq!(inside(&root, &real), "/usr/lib/libc.so");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
