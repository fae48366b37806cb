//! `stormless_search::search` over the file system: the simulation's side of the one search
//! driver the loader also runs. Opens are `is_file` checks under `--root`, every candidate is
//! recorded, and failures are counted; what the loader memoises (`p->rpath`) is computed when
//! an object is admitted.

use stormless_ldcache::{Items, Table};
use stormless_search::{expand_rpath, Expanded, Origin, SearchEnv, SearchStops, Source, LOAD_LIBRARY_BUF_SIZE};

use super::FileSystem;

/// `ENOENT`: what a candidate that is not a file fails with here.
const ENOENT: i32 = 2;

/// An object as the search sees it.
pub struct SearchObject {
    /// `p->name`: the pathname it was opened by (the main program's: its `/proc/self/exe`).
    pub name: Vec<u8>,
    /// Set when a search (not a pathname) found it.
    pub short_name: Option<Vec<u8>>,
    /// The main program, mapped by the kernel.
    pub kernel_mapped: bool,
    /// `fixup_rpath`'s outcome: the search list, if any.
    pub rpath: Result<Option<Vec<u8>>, SearchStops>,
    /// A validated table descriptor.
    pub table: Option<Vec<u8>>,
    pub needed_by: Option<usize>,
}

impl SearchObject {
    /// `rpath` as musl's `fixup_rpath` leaves it for an object named `name` (`$ORIGIN`: its
    /// name, or `/proc/self/exe`'s target for the main program), secure mode off; `desc` kept
    /// only when it decodes.
    pub fn new(name: Vec<u8>, kernel_mapped: bool, rpath: Option<&[u8]>, desc: Option<&[u8]>) -> SearchObject {
        // The simulated `/proc/self/exe` of the main program is its name.
        let origin = Origin::of_object(kernel_mapped, Some(Ok(&name)), || &name);
        let rpath = match expand_rpath(rpath, origin, false) {
            e if e.aborts_search() => Err(SearchStops),
            Expanded::Substituted(list) => Ok(Some(list)),
            e => Ok(e.search_list().map(<[u8]>::to_vec)),
        };
        let table = desc.filter(|d| Table::parse(d).is_ok()).map(<[u8]>::to_vec);
        SearchObject { name, short_name: None, kernel_mapped, rpath, table, needed_by: None }
    }
}

/// One search's environment: the objects loaded so far, and what the search opened.
pub struct FsSearch<'l, T: AsRef<SearchObject>> {
    pub objects: &'l [T],
    pub fs: &'l FileSystem,
    pub ld_library_path: Option<&'l [u8]>,
    pub sys_path: &'l [u8],
    pub ldso_name: &'l [u8],
    /// Whether tables are consulted (the search without them is simulated too).
    pub use_tables: bool,
    /// Every candidate searched for, in order (what `LD_DEBUG=libs` shows as `trying file=`);
    /// a pathname opened as it is does not appear.
    pub probes: Vec<Vec<u8>>,
    /// Opens that failed, pathnames included.
    pub failed: usize,
}

impl AsRef<SearchObject> for SearchObject {
    fn as_ref(&self) -> &SearchObject {
        self
    }
}

impl<'l, T: AsRef<SearchObject>> FsSearch<'l, T> {
    fn object(&self, index: usize) -> &'l SearchObject {
        self.objects[index].as_ref()
    }
}

impl<'l, T: AsRef<SearchObject>> SearchEnv<'l> for FsSearch<'l, T> {
    type Object = usize;
    /// The pathname that opened.
    type Opened = Vec<u8>;

    fn ldso_name(&mut self) -> &'l [u8] {
        self.ldso_name
    }

    fn loaded_by_short_name(&mut self, name: &[u8]) -> Option<usize> {
        self.objects.iter().position(|o| o.as_ref().short_name.as_deref() == Some(name))
    }

    fn ld_library_path(&mut self) -> Option<&'l [u8]> {
        self.ld_library_path
    }

    fn table_entry(&mut self, requester: usize, name: &[u8]) -> Option<Items<'l>> {
        let desc = self.object(requester).table.as_deref().filter(|_| self.use_tables)?;
        Table::already_validated(desc).lookup(name)
    }

    fn secure(&mut self) -> bool {
        false
    }

    fn kernel_mapped(&mut self, object: usize) -> bool {
        self.object(object).kernel_mapped
    }

    fn object_name(&mut self, object: usize) -> &'l [u8] {
        &self.object(object).name
    }

    /// The main program's name is its `/proc/self/exe` target; `readlink` truncates to the buffer.
    fn read_exe_link(&mut self, buf: &mut [u8; LOAD_LIBRARY_BUF_SIZE]) -> Result<usize, i32> {
        let main = self.objects.iter().map(AsRef::as_ref).find(|o| o.kernel_mapped).map_or(&[][..], |o| &o.name);
        let n = main.len().min(buf.len());
        buf[..n].copy_from_slice(&main[..n]);
        Ok(n)
    }

    fn rpath(&mut self, object: usize) -> Result<Option<&'l [u8]>, SearchStops> {
        self.object(object).rpath.as_ref().map(Option::as_deref).map_err(|e| *e)
    }

    fn needed_by(&mut self, object: usize) -> Option<usize> {
        self.object(object).needed_by
    }

    fn sys_path(&mut self) -> &'l [u8] {
        self.sys_path
    }

    fn open(&mut self, path_z: &[u8], source: Source<usize>) -> Result<Vec<u8>, i32> {
        let path = &path_z[..path_z.len() - 1];
        if !matches!(source, Source::Pathname) {
            self.probes.push(path.to_vec());
        }
        if self.fs.opens(path) {
            Ok(path.to_vec())
        } else {
            self.failed += 1;
            Err(ENOENT)
        }
    }
}
