//! What a table should hold and how the loader would resolve names, both from musl's search
//! rules in `stormless-search`; the file system is looked at through [`FileSystem`], which maps
//! the run-time paths a program sees to host paths inside `--root`.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use stormless_ldcache::{Item, Table, TableBuilder};
use stormless_search::{classify, expand_rpath, join, NameKind, Origin, PathList, LOAD_LIBRARY_BUF_SIZE};

use crate::elf_image::ElfImage;
use crate::inherit::LoadedBy;

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
}

struct Loaded {
    name: Vec<u8>,
    short_name: Option<Vec<u8>>,
    identity: Option<(u64, u64)>,
    needed_by: Option<usize>,
    image: Option<ElfImage>,
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
        let mut loaded = vec![Loaded {
            name: self.exe_path.clone(),
            short_name: None,
            identity: self.fs.identity(&self.exe_path).or_else(|| identity_of(main_host)),
            needed_by: None,
            image: Some(main),
        }];
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

    fn origin_of<'l>(&self, loaded: &'l [Loaded], index: usize) -> Origin<'l> {
        if index == 0 {
            Origin::ExeLink(&loaded[0].name)
        } else {
            Origin::ObjectName(&loaded[index].name)
        }
    }

    fn load_library(
        &self,
        name: &[u8],
        requester: usize,
        loaded: &mut Vec<Loaded>,
        ldso_name: &[u8],
        sys_path: &[u8],
    ) -> Resolution {
        let mut resolution = Resolution {
            name: crate::elf_image::text(name),
            requester: crate::elf_image::text(&loaded[requester].name),
            path: None,
            how: How::NotFound,
            failed_probes_with_tables: 0,
            failed_probes_without_tables: 0,
        };
        match classify(name, ldso_name) {
            NameKind::LibcAlias(_) | NameKind::LoaderItself => {
                resolution.how = How::LoaderItself;
                resolution.path = Some(crate::elf_image::text(ldso_name));
                return resolution;
            }
            NameKind::Empty => return resolution,
            NameKind::Path => {
                resolution.how = How::Pathname;
                if !self.fs.opens(name) {
                    resolution.failed_probes_with_tables = 1;
                    resolution.failed_probes_without_tables = 1;
                    resolution.how = How::NotFound;
                    return resolution;
                }
                return self.admit(resolution, name, name, false, requester, loaded);
            }
            NameKind::Search => {}
        }
        if let Some(other) = loaded.iter().find(|l| l.short_name.as_deref() == Some(name)) {
            resolution.how = How::AlreadyLoaded;
            resolution.path = Some(crate::elf_image::text(&other.name));
            return resolution;
        }
        if !stormless_search::fits_search(name) {
            return resolution;
        }
        // The uncached search: LD_LIBRARY_PATH, then the needed_by chain's rpaths, then sys path.
        let mut without: Option<(Vec<u8>, How)> = None;
        let mut failed_before_rpaths = 0;
        let mut failed_without = 0;
        if let Some(list) = &self.ld_library_path {
            for dir in PathList::new(list) {
                let Some(candidate) = join(dir, name, LOAD_LIBRARY_BUF_SIZE) else { continue };
                if self.fs.opens(&candidate) {
                    without = Some((candidate, How::LdLibraryPath));
                    break;
                }
                failed_without += 1;
            }
            failed_before_rpaths = failed_without;
        }
        let mut chain = Some(requester);
        let mut aborted = false;
        while without.is_none() && !aborted {
            let Some(index) = chain else { break };
            let rpath = loaded[index].image.as_ref().and_then(|i| i.effective_rpath().map(<[u8]>::to_vec));
            let expanded = expand_rpath(rpath.as_deref(), self.origin_of(loaded, index), false);
            if expanded.aborts_search() {
                aborted = true;
                break;
            }
            if let Some(list) = expanded.search_list() {
                for dir in PathList::new(list) {
                    let Some(candidate) = join(dir, name, LOAD_LIBRARY_BUF_SIZE) else { continue };
                    if self.fs.opens(&candidate) {
                        let object = crate::elf_image::text(&loaded[index].name);
                        without = Some((candidate, How::Rpath { object }));
                        break;
                    }
                    failed_without += 1;
                }
            }
            chain = loaded[index].needed_by;
        }
        if without.is_none() && !aborted {
            for dir in PathList::new(sys_path) {
                let Some(candidate) = join(dir, name, LOAD_LIBRARY_BUF_SIZE) else { continue };
                if self.fs.opens(&candidate) {
                    without = Some((candidate, How::SysPath));
                    break;
                }
                failed_without += 1;
            }
        }
        resolution.failed_probes_without_tables = failed_without;
        // With tables: LD_LIBRARY_PATH as above, then the requester's table, else the same search.
        let mut with = None;
        let mut failed_with = failed_before_rpaths;
        let found_in_env = matches!(without, Some((_, How::LdLibraryPath)));
        if !found_in_env {
            let table_items = loaded[requester].image.as_ref().and_then(|i| {
                let note = i.ldcache_note()?;
                let table = Table::parse(&note.desc).ok()?;
                table.lookup(name).map(|items| items.map(owned_item).collect::<Vec<_>>())
            });
            for item in table_items.unwrap_or_default() {
                let origin = self.origin_of(loaded, requester);
                let Ok(path) = stormless_search::table_item_path(item.as_item(), name, origin, false) else { continue };
                if self.fs.opens(&path) {
                    with = Some((path, How::Table));
                    break;
                }
                failed_with += 1;
            }
        }
        let (path, how) = match with {
            Some(hit) => hit,
            None => {
                failed_with += failed_without - failed_before_rpaths;
                match without {
                    Some(hit) => hit,
                    None => {
                        resolution.failed_probes_with_tables = failed_with;
                        return resolution;
                    }
                }
            }
        };
        resolution.failed_probes_with_tables = failed_with;
        resolution.how = how;
        self.admit(resolution, name, &path, true, requester, loaded)
    }

    /// The file was opened: musl's device/inode check, else a new object.
    fn admit(
        &self,
        mut resolution: Resolution,
        name: &[u8],
        path: &[u8],
        searched: bool,
        requester: usize,
        loaded: &mut Vec<Loaded>,
    ) -> Resolution {
        let identity = self.fs.identity(path);
        resolution.path = Some(crate::elf_image::text(path));
        if let Some(other) = loaded.iter_mut().find(|l| identity.is_some() && l.identity == identity) {
            if other.short_name.is_none() && searched {
                other.short_name = Some(short_name(&other.name));
            }
            resolution.how = How::SameFile { loaded: crate::elf_image::text(&other.name) };
            return resolution;
        }
        let host = self.fs.host(path);
        let image = ElfImage::read_file(&host).ok();
        let _ = name;
        loaded.push(Loaded {
            name: path.to_vec(),
            short_name: searched.then(|| short_name(path)),
            identity,
            needed_by: Some(requester),
            image,
        });
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

pub fn owned_item(item: Item<'_>) -> PlannedItem {
    match item {
        Item::File(p) => PlannedItem::File(p.to_vec()),
        Item::Dir(p) => PlannedItem::Dir(p.to_vec()),
    }
}

/// Where the table's items lead now for `name` and where the uncached search through the
/// requester's own rpath leads (`check`): the first path that opens, if any, for each.
pub fn table_and_rpath_winners(
    image: &ElfImage,
    items: &[PlannedItem],
    name: &[u8],
    origin: Origin<'_>,
    fs: &FileSystem,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let from_table = items.iter().find_map(|item| {
        let path = stormless_search::table_item_path(item.as_item(), name, origin, false).ok()?;
        fs.opens(&path).then_some(path)
    });
    let expanded = expand_rpath(image.effective_rpath(), origin, false);
    let from_rpath = expanded.search_list().and_then(|list| {
        PathList::new(list).find_map(|dir| {
            let candidate = join(dir, name, LOAD_LIBRARY_BUF_SIZE)?;
            fs.opens(&candidate).then_some(candidate)
        })
    });
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
