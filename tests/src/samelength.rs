//! Copies of a store at a path exactly as long as the store's, as Nix rewrites store paths of
//! equal length: every occurrence of the old prefix, in every file and link target, replaced by
//! the new one. Used by the store's tabled copy (`store.rs`) and the benchmark's copies
//! (`xtask/src/scale/storecopy.rs`).

use anyhow::{ensure, Context, Result};
use std::fs;
use std::path::Path;

/// Replace `from` by `to` (as long) in every regular file and link target under `dir`, keeping
/// each file's mode and modification time (CPython checks its `.pyc` files against their
/// sources' times). A changed file is replaced by a new one (a rename), never written through:
/// a copy made of hard links (`cp -al`) keeps the original's bytes.
pub fn rewrite_tree(dir: &Path, from: &[u8], to: &[u8]) -> Result<()> {
    ensure!(from.len() == to.len(), "a same-length rewrite needs prefixes of equal length");
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            rewrite_tree(&path, from, to)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&path)?;
            if let Some(new) = replaced(target.as_os_str().as_encoded_bytes(), from, to) {
                fs::remove_file(&path)?;
                std::os::unix::fs::symlink(String::from_utf8(new)?, &path)?;
            }
        } else if kind.is_file() {
            let bytes = fs::read(&path)?;
            if let Some(new) = replaced(&bytes, from, to) {
                replace_file(&path, &new)?;
            }
        }
    }
    Ok(())
}

/// Replace `path` by a new file holding `bytes`, with the old one's mode and modification time.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let meta = fs::metadata(path)?;
    let tmp = path.with_extension("stormless-copy-tmp");
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    let file = fs::File::options().write(true).open(&tmp)?;
    file.set_modified(meta.modified()?)?;
    file.set_permissions(meta.permissions())?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let first = bytes.windows(from.len()).position(|w| w == from)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_occurrence_or_none() {
        assert_eq!(replaced(b"a/s/x:/s/y", b"/s/", b"/t/"), Some(b"a/t/x:/t/y".to_vec()));
        assert_eq!(replaced(b"nothing", b"/s/", b"/t/"), None);
    }

    #[test]
    fn a_hard_linked_original_keeps_its_bytes_and_the_copy_its_time() {
        let dir = std::env::temp_dir().join(format!("stormless-samelength-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("copy")).unwrap();
        fs::write(dir.join("orig"), b"/old/lib").unwrap();
        fs::hard_link(dir.join("orig"), dir.join("copy/f")).unwrap();
        let before = fs::metadata(dir.join("copy/f")).unwrap().modified().unwrap();
        rewrite_tree(&dir.join("copy"), b"/old/", b"/new/").unwrap();
        assert_eq!(fs::read(dir.join("orig")).unwrap(), b"/old/lib");
        assert_eq!(fs::read(dir.join("copy/f")).unwrap(), b"/new/lib");
        assert_eq!(fs::metadata(dir.join("copy/f")).unwrap().modified().unwrap(), before);
        let _ = fs::remove_dir_all(&dir);
    }
}
