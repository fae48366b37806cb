//! What a table should hold and how the loader would resolve names, both from musl's search
//! rules in `stormless-search`; the file system is looked at through [`FileSystem`], which maps
//! the run-time paths a program sees to host paths inside `--root`.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use stormless_ldcache::{Item, TableBuilder};
use stormless_search::driver::{self, Walk};
use stormless_search::{classify, join, NameKind, Outcome, PathList, SearchEnv, Source, LOAD_LIBRARY_BUF_SIZE};

use crate::elf_image::{text, ElfImage};
use crate::inherit::LoadedBy;

mod env;
use env::{FsSearch, SearchObject};

/// Run-time paths seen from this host: absolute paths live under `root` (`/` without `--root`).
#[derive(Clone, Debug, Default)]
pub struct FileSystem {
    pub root: Option<PathBuf>,
}

impl FileSystem {
    pub fn new(root: Option<PathBuf>) -> FileSystem {
        FileSystem { root }
    }

    /// The host path of `runtime`: inside the root for an absolute path, relative to the
    /// current directory otherwise (as the loader would resolve it from where it runs).
    pub fn host(&self, runtime: &[u8]) -> PathBuf {
        let path = Path::new(std::ffi::OsStr::from_bytes(runtime));
        match (&self.root, runtime.first()) {
            (Some(root), Some(b'/')) => root.join(path.strip_prefix("/").unwrap_or(path)),
            _ => path.to_path_buf(),
        }
    }

    pub fn is_dir(&self, runtime: &[u8]) -> bool {
        self.host(runtime).is_dir()
    }

    /// Whether `open(runtime, O_RDONLY)` would find a file (symbolic links followed).
    pub fn opens(&self, runtime: &[u8]) -> bool {
        self.host(runtime).is_file()
    }

    /// Device and inode of the file `runtime` names, for musl's same-file check.
    pub fn identity(&self, runtime: &[u8]) -> Option<(u64, u64)> {
        std::fs::metadata(self.host(runtime)).ok().map(|m| (m.dev(), m.ino()))
    }

    /// The run-time path of a host file: inside the root, the part after it; else its
    /// canonical path (what `/proc/self/exe` reports).
    pub fn runtime_path(&self, host: &Path) -> Vec<u8> {
        let canonical = host.canonicalize().unwrap_or_else(|_| host.to_path_buf());
        if let Some(root) = &self.root {
            let root = root.canonicalize().unwrap_or_else(|_| root.clone());
            if let Ok(inside) = canonical.strip_prefix(&root) {
                let mut path = b"/".to_vec();
                path.extend_from_slice(inside.as_os_str().as_bytes());
                return path;
            }
        }
        canonical.as_os_str().as_bytes().to_vec()
    }
}

/// An item the embedder decided on (owned; [`Item`] borrows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedItem {
    File(Vec<u8>),
    Dir(Vec<u8>),
}

impl PlannedItem {
    pub fn as_item(&self) -> Item<'_> {
        match self {
            PlannedItem::File(p) => Item::File(p),
            PlannedItem::Dir(p) => Item::Dir(p),
        }
    }
}

/// Whether the loader can consult a table entry for `name` at all: a name it searches for.
/// libc's names (`libc.so`, `libpthread.so.0`, …) and the loader's own name resolve to the
/// loader itself and names with `/` are opened as they are, so entries for them are never read.
pub fn table_can_answer(name: &[u8], ldso_name: &[u8]) -> bool {
    matches!(classify(name, ldso_name), NameKind::Search) && stormless_search::fits_search(name)
}

/// The items for `name` from an object's own effective rpath, with musl's rules:
/// an rpath with an unsupported `$` token is ignored by musl as a whole → no items;
/// entries with `$ORIGIN` → `?entry`; relative entries (searched from the current directory at
/// run time) → `?entry`; an absolute entry that is not a directory now → `?entry` (it may appear
/// later; cached and uncached resolution must agree); a directory holding `name` → `=dir/name`;
/// a directory without it → nothing; a `dir/name` that does not fit musl's buffer → nothing.
pub fn table_items(rpath: Option<&[u8]>, name: &[u8], fs: &FileSystem) -> Vec<PlannedItem> {
    let Some(rpath) = rpath else { return Vec::new() };
    if matches!(stormless_search::origin_tokens(rpath), stormless_search::OriginTokens::Unsupported) {
        return Vec::new();
    }
    let mut items = Vec::new();
    for dir in PathList::new(rpath) {
        let Some(candidate) = join(dir, name, LOAD_LIBRARY_BUF_SIZE) else { continue };
        if dir.contains(&b'$') || dir.first() != Some(&b'/') || !fs.is_dir(dir) {
            items.push(PlannedItem::Dir(dir.to_vec()));
        } else if fs.opens(&candidate) {
            items.push(PlannedItem::File(candidate));
        }
    }
    items
}

/// The descriptor `stormless embed` writes for `image`: one entry per searched `DT_NEEDED`
/// name and per `extra` (`--dlopen`) name that has at least one item, sorted by name as
/// patchelf sorts them. With `loaded_by` (the program and `image`'s run-time path), a name
/// only that program's context finds gets that file (inherit.rs).
pub fn build_descriptor(
    image: &ElfImage,
    extra: &[Vec<u8>],
    loaded_by: Option<(&LoadedBy, &[u8])>,
    fs: &FileSystem,
) -> anyhow::Result<Vec<u8>> {
    let ldso_name = image.interp.clone().unwrap_or_default();
    let mut names: Vec<&[u8]> = image.needed.iter().chain(extra).map(Vec::as_slice).collect();
    names.sort();
    names.dedup();
    let mut builder = TableBuilder::new();
    for name in names {
        if !table_can_answer(name, &ldso_name) {
            continue;
        }
        let mut items = table_items(image.effective_rpath(), name, fs);
        if let Some(found) = loaded_by.and_then(|(by, object)| by.inherited(image, object, name, fs)) {
            items = vec![PlannedItem::File(found)];
        }
        if items.is_empty() {
            continue;
        }
        let items: Vec<Item<'_>> = items.iter().map(PlannedItem::as_item).collect();
        builder
            .push(name, &items)
            .map_err(|e| anyhow::anyhow!("cannot store the entry for {}: {e}", String::from_utf8_lossy(name)))?;
    }
    Ok(builder.finish())
}

/// How one name was resolved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum How {
    /// libc's names and the loader's own name: the loader itself, never searched.
    LoaderItself,
    /// An object already loaded under this short name.
    AlreadyLoaded,
    /// A name with `/`, opened as it is.
    Pathname,
    LdLibraryPath,
    /// An item of the requester's table.
    Table,
    /// The rpath of the object `depth` steps up the `needed_by` chain (0: the requester).
    Rpath {
        object: String,
    },
    SysPath,
    /// The same file (device and inode) as an object loaded before.
    SameFile {
        loaded: String,
    },
    NotFound,
}

/// One `load_library` call.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Resolution {
    pub name: String,
    pub requester: String,
    pub path: Option<String>,
    pub how: How,
    /// Failed opens with the tables as they are, and with no table consulted.
    pub failed_probes_with_tables: usize,
    pub failed_probes_without_tables: usize,
    /// Every candidate the search opened with the tables as they are, in order, the one that
    /// opened included: what the loader's `LD_DEBUG=libs` shows as `trying file=`. A name with
    /// `/` is opened as it is, not searched, and is not listed.
    pub probes_with_tables: Vec<String>,
}

struct Loaded {
    search: SearchObject,
    identity: Option<(u64, u64)>,
    image: Option<ElfImage>,
}

impl AsRef<SearchObject> for Loaded {
    fn as_ref(&self) -> &SearchObject {
        &self.search
    }
}

impl Loaded {
    fn new(name: Vec<u8>, kernel_mapped: bool, image: Option<ElfImage>, identity: Option<(u64, u64)>) -> Loaded {
        let desc = image.as_ref().and_then(|i| i.ldcache_note()).map(|note| note.desc.as_slice());
        let rpath = image.as_ref().and_then(ElfImage::effective_rpath);
        let search = SearchObject::new(name, kernel_mapped, rpath, desc);
        Loaded { search, identity, image }
    }
}

/// Inputs of a simulated start.
pub struct Simulation<'a> {
    pub fs: &'a FileSystem,
    pub ld_library_path: Option<Vec<u8>>,
    /// The main program's `/proc/self/exe` target.
    pub exe_path: Vec<u8>,
}

impl Simulation<'_> {
    /// The system path the loader named by `interp` reads (`<prefix>/etc/ld-musl-<arch>.path`
    /// inside the root; musl's default when it does not exist).
    fn sys_path(&self, image: &ElfImage) -> Vec<u8> {
        let ldso = image.interp.clone().unwrap_or_default();
        // Out of memory, the loader searches an empty path: so does the simulation.
        let Ok(file) = stormless_search::sys_path_file(&ldso, image.arch.ldso_arch()) else { return Vec::new() };
        let contents = std::fs::read(self.fs.host(&file));
        let state = match &contents {
            Ok(bytes) => stormless_search::SysPathFile::Read(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => stormless_search::SysPathFile::Missing,
            Err(_) => stormless_search::SysPathFile::Unusable,
        };
        stormless_search::sys_path(state).to_vec()
    }

    /// Every `load_library` call of the start of `main`, breadth first as musl's `load_deps`
    /// walks its list of loaded objects.
    pub fn run(&self, main: ElfImage, main_host: &Path) -> Vec<Resolution> {
        let sys_path = self.sys_path(&main);
        let ldso_name = main.interp.clone().unwrap_or_default();
        let identity = self.fs.identity(&self.exe_path).or_else(|| identity_of(main_host));
        let mut loaded = vec![Loaded::new(self.exe_path.clone(), true, Some(main), identity)];
        let mut resolutions = Vec::new();
        let mut next = 0;
        while next < loaded.len() {
            let needed = loaded[next].image.as_ref().map(|i| i.needed.clone()).unwrap_or_default();
            for name in needed {
                let resolution = self.load_library(&name, next, &mut loaded, &ldso_name, &sys_path);
                resolutions.push(resolution);
            }
            next += 1;
        }
        resolutions
    }

    /// musl's `load_library` for `name` on behalf of `requester`, searched by the loader's
    /// own driver twice: without tables (for the count), then with them (what happens).
    fn load_library(
        &self,
        name: &[u8],
        requester: usize,
        loaded: &mut Vec<Loaded>,
        ldso_name: &[u8],
        sys_path: &[u8],
    ) -> Resolution {
        let search = |use_tables: bool| {
            let mut env = FsSearch {
                objects: loaded.as_slice(),
                fs: self.fs,
                ld_library_path: self.ld_library_path.as_deref(),
                sys_path,
                ldso_name,
                use_tables,
                probes: Vec::new(),
                failed: 0,
            };
            let outcome = stormless_search::search(&mut env, name, Some(requester));
            (outcome, env.probes, env.failed)
        };
        let (outcome, probes, failed_with) = search(true);
        // Only the requester's own table can change the search (design.md §5, step 3):
        // without one, the search without tables is this one.
        let failed_without = if loaded[requester].search.table.is_some() { search(false).2 } else { failed_with };
        let mut resolution = Resolution {
            name: text(name),
            requester: text(&loaded[requester].search.name),
            path: None,
            how: How::NotFound,
            failed_probes_with_tables: failed_with,
            failed_probes_without_tables: failed_without,
            probes_with_tables: probes.iter().map(|p| text(p)).collect(),
        };
        match outcome {
            Outcome::Empty | Outcome::NotFound => resolution,
            Outcome::Loader(_) => {
                resolution.how = How::LoaderItself;
                resolution.path = Some(text(ldso_name));
                resolution
            }
            Outcome::AlreadyLoaded(other) => {
                resolution.how = How::AlreadyLoaded;
                resolution.path = Some(text(&loaded[other].search.name));
                resolution
            }
            Outcome::Opened { file, source } => {
                resolution.how = match source {
                    Source::Pathname => How::Pathname,
                    Source::LdLibraryPath => How::LdLibraryPath,
                    Source::Table(_) => How::Table,
                    Source::Rpath(object) => How::Rpath { object: text(&loaded[object].search.name) },
                    Source::SysPath => How::SysPath,
                };
                let searched = !matches!(source, Source::Pathname);
                self.admit(resolution, &file, searched, requester, loaded)
            }
        }
    }

    /// The file was opened: musl's device/inode check, else a new object.
    fn admit(
        &self,
        mut resolution: Resolution,
        path: &[u8],
        searched: bool,
        requester: usize,
        loaded: &mut Vec<Loaded>,
    ) -> Resolution {
        let identity = self.fs.identity(path);
        resolution.path = Some(text(path));
        if let Some(other) = loaded.iter_mut().find(|l| identity.is_some() && l.identity == identity) {
            if other.search.short_name.is_none() && searched {
                other.search.short_name = Some(short_name(&other.search.name));
            }
            resolution.how = How::SameFile { loaded: text(&other.search.name) };
            return resolution;
        }
        let image = ElfImage::read_file(&self.fs.host(path)).ok();
        let mut object = Loaded::new(path.to_vec(), false, image, identity);
        object.search.short_name = searched.then(|| short_name(path));
        object.search.needed_by = Some(requester);
        loaded.push(object);
        resolution
    }
}

fn identity_of(host: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(host).ok().map(|m| (m.dev(), m.ino()))
}

/// musl's short name: the part after the last `/`.
fn short_name(path: &[u8]) -> Vec<u8> {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path).to_vec()
}

/// Where the image's table (`desc`, its note's descriptor as written) leads now for `name` and
/// where the uncached search through the requester's own rpath leads (`check`): the first path
/// that opens, if any, for each; both walked by the search driver's own steps. `origin_name` is
/// what `$ORIGIN` stands for (the program's `/proc/self/exe` target when `is_program`).
pub fn table_and_rpath_winners(
    image: &ElfImage,
    desc: Option<&[u8]>,
    name: &[u8],
    (is_program, origin_name): (bool, &[u8]),
    fs: &FileSystem,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let object = [SearchObject::new(origin_name.to_vec(), is_program, image.effective_rpath(), desc)];
    let mut env = FsSearch {
        objects: &object,
        fs,
        ld_library_path: None,
        sys_path: b"",
        ldso_name: b"",
        use_tables: true,
        probes: Vec::new(),
        failed: 0,
    };
    let from_table = driver::table_open(&mut env, name, 0);
    let from_rpath = match env.rpath(0) {
        Ok(Some(list)) => match driver::path_open(&mut env, name, list, Source::Rpath(0)) {
            Walk::Opened(path) => Some(path),
            Walk::Exhausted | Walk::Stopped => None,
        },
        Ok(None) | Err(_) => None,
    };
    (from_table, from_rpath)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch sysroot per test (tests run in parallel threads of one process).
    fn tree(test: &str) -> (PathBuf, FileSystem) {
        let dir = std::env::temp_dir().join(format!("stormless-resolution-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["store/a", "store/b", "store/empty"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("store/a/liba.so"), b"").unwrap();
        std::fs::write(dir.join("store/b/liba.so"), b"").unwrap();
        std::fs::write(dir.join("store/b/libb.so"), b"").unwrap();
        std::fs::write(dir.join("store/file"), b"").unwrap();
        let fs = FileSystem::new(Some(dir.clone()));
        (dir, fs)
    }

    fn render(items: &[PlannedItem]) -> String {
        let items: Vec<Item<'_>> = items.iter().map(PlannedItem::as_item).collect();
        items
            .iter()
            .map(|i| format!("{}{}", i.prefix() as char, String::from_utf8_lossy(i.path())))
            .collect::<Vec<_>>()
            .join(":")
    }

    #[test]
    fn items_follow_musl_rules_inside_the_root() {
        let (dir, fs) = tree("rules");
        let rpath = b"/store/empty:/store/a:/missing:/store/file:$ORIGIN/../b:rel:/store/b/:";
        assert_eq!(
            render(&table_items(Some(rpath), b"liba.so", &fs)),
            "=/store/a/liba.so:?/missing:?/store/file:?$ORIGIN/../b:?rel:=/store/b//liba.so"
        );
        assert_eq!(
            render(&table_items(Some(rpath), b"libb.so", &fs)),
            "?/missing:?/store/file:?$ORIGIN/../b:?rel:=/store/b//libb.so"
        );
        // musl ignores an rpath with any other token as a whole.
        assert!(table_items(Some(b"/store/a:$LIB"), b"liba.so", &fs).is_empty());
        assert!(table_items(None, b"liba.so", &fs).is_empty());
        // A candidate that does not fit load_library's buffer is never tried.
        let long = format!("/{}", "d".repeat(300));
        assert!(table_items(Some(long.as_bytes()), &[b'n'; 250], &fs).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn loader_names_get_no_entry() {
        let ldso = b"/lib/ld-musl-x86_64.so.1";
        assert!(!table_can_answer(b"libc.so", ldso));
        assert!(!table_can_answer(b"libpthread.so.0", ldso));
        assert!(!table_can_answer(b"/x/liba.so", ldso));
        assert!(!table_can_answer(&[b'a'; 256], ldso));
        assert!(table_can_answer(b"liba.so", ldso));
    }

    #[test]
    fn runtime_paths_drop_the_root() {
        let (dir, fs) = tree("second");
        assert_eq!(fs.runtime_path(&dir.join("store/a/liba.so")), b"/store/a/liba.so");
        assert_eq!(fs.host(b"/store/a"), dir.join("store/a"));
        assert_eq!(FileSystem::default().host(b"/store/a"), PathBuf::from("/store/a"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
