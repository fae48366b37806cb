//! The driver over an in-memory world: the order of musl's search, the table's place in it, and
//! every rule that stops or skips a candidate, each with the line of dynlink.c it mirrors.

use super::*;
use alloc::vec::Vec;
use std::collections::BTreeMap;
use std::format;
use std::string::String;
use stormless_ldcache::TableBuilder;

const ENOENT: i32 = 2;
const EIO: i32 = 5;

struct Object {
    name: &'static [u8],
    kernel_mapped: bool,
    /// `fixup_rpath`'s outcome: the list, none, or a stop.
    rpath: Result<Option<&'static [u8]>, SearchStops>,
    needed_by: Option<usize>,
    table: Option<Vec<u8>>,
    short_name: Option<&'static [u8]>,
}

struct World {
    objects: Vec<Object>,
    ld_library_path: Option<&'static [u8]>,
    sys_path: &'static [u8],
    /// Files that open; any other path fails with ENOENT unless `errors` names it.
    files: Vec<&'static [u8]>,
    errors: BTreeMap<Vec<u8>, i32>,
    exe_link: Result<&'static [u8], i32>,
    secure: bool,
}

impl Default for Object {
    fn default() -> Object {
        Object { name: b"", kernel_mapped: false, rpath: Ok(None), needed_by: None, table: None, short_name: None }
    }
}

impl Default for World {
    fn default() -> World {
        World {
            objects: Vec::new(),
            ld_library_path: None,
            sys_path: b"",
            files: Vec::new(),
            errors: BTreeMap::new(),
            exe_link: Err(ENOENT),
            secure: false,
        }
    }
}

struct Env<'l> {
    world: &'l World,
    trace: Vec<String>,
}

fn source_name(source: Source<usize>) -> String {
    match source {
        Source::Pathname => String::from("path"),
        Source::LdLibraryPath => String::from("env"),
        Source::Table(o) => format!("table{o}"),
        Source::Rpath(o) => format!("rpath{o}"),
        Source::SysPath => String::from("sys"),
    }
}

impl<'l> SearchEnv<'l> for Env<'l> {
    type Object = usize;
    type Opened = Vec<u8>;
    fn ldso_name(&mut self) -> &'l [u8] {
        b"/lib/ld-musl-x86_64.so.1"
    }
    fn loaded_by_short_name(&mut self, name: &[u8]) -> Option<usize> {
        self.world.objects.iter().position(|o| o.short_name == Some(name))
    }
    fn ld_library_path(&mut self) -> Option<&'l [u8]> {
        self.world.ld_library_path
    }
    fn table_entry(&mut self, requester: usize, name: &[u8]) -> Option<Items<'l>> {
        let desc = self.world.objects[requester].table.as_deref()?;
        stormless_ldcache::Table::parse(desc).ok()?.lookup(name)
    }
    fn secure(&mut self) -> bool {
        self.world.secure
    }
    fn kernel_mapped(&mut self, object: usize) -> bool {
        self.world.objects[object].kernel_mapped
    }
    fn object_name(&mut self, object: usize) -> &'l [u8] {
        self.world.objects[object].name
    }
    fn read_exe_link(&mut self, buf: &mut [u8; LOAD_LIBRARY_BUF_SIZE]) -> Result<usize, i32> {
        self.trace.push(String::from("readlink"));
        let target = self.world.exe_link?;
        buf[..target.len()].copy_from_slice(target);
        Ok(target.len())
    }
    fn rpath(&mut self, object: usize) -> Result<Option<&'l [u8]>, SearchStops> {
        self.world.objects[object].rpath
    }
    fn needed_by(&mut self, object: usize) -> Option<usize> {
        self.world.objects[object].needed_by
    }
    fn sys_path(&mut self) -> &'l [u8] {
        self.world.sys_path
    }
    fn open(&mut self, path_z: &[u8], source: Source<usize>) -> Result<Vec<u8>, i32> {
        let (path, nul) = path_z.split_at(path_z.len() - 1);
        assert_eq!(nul, [0], "a candidate without its NUL");
        self.trace.push(format!("{} {}", source_name(source), path.escape_ascii()));
        if let Some(&errno) = self.world.errors.get(path) {
            return Err(errno);
        }
        if self.world.files.contains(&path) {
            Ok(path.to_vec())
        } else {
            Err(ENOENT)
        }
    }
    fn note(&mut self, event: Event<'_, usize>) {
        match event {
            Event::TableItemUnusable(item) => self.trace.push(format!("unusable {}", item.path().escape_ascii())),
            Event::StaleTableItem(path_z) => {
                self.trace.push(format!("stale {}", path_z[..path_z.len() - 1].escape_ascii()))
            }
            Event::TableGaveUp => self.trace.push(String::from("gave up")),
            Event::SearchList { .. } | Event::TableEntry { .. } => {}
        }
    }
}

/// The trace of a search and its outcome, rendered.
fn run(world: &World, name: &[u8], requester: Option<usize>) -> (Vec<String>, String) {
    let mut env = Env { world, trace: Vec::new() };
    let outcome = match search(&mut env, name, requester) {
        Outcome::Opened { file, source } => format!("{} {}", source_name(source), file.escape_ascii()),
        other => format!("{other:?}"),
    };
    (env.trace, outcome)
}

fn table(entries: &[(&[u8], &[Item<'_>])]) -> Vec<u8> {
    let mut builder = TableBuilder::new();
    for (name, items) in entries {
        builder.push(name, items).unwrap();
    }
    builder.finish()
}

/// A main program (object 0, kernel-mapped) and a library it loaded (object 1).
fn two_objects(main_rpath: Option<&'static [u8]>, lib_rpath: Option<&'static [u8]>) -> Vec<Object> {
    std::vec![
        Object { name: b"/bin/prog", kernel_mapped: true, rpath: Ok(main_rpath), ..Object::default() },
        Object { name: b"/opt/a/lib/liba.so", rpath: Ok(lib_rpath), needed_by: Some(0), ..Object::default() },
    ]
}

/// dynlink.c:1055–1099 (1119–1163): LD_LIBRARY_PATH, the requester's rpath, its ancestors',
/// then the system path; a hit ends the search.
#[test]
fn order_env_then_chain_then_sys() {
    let world = World {
        objects: two_objects(Some(b"/main1:/main2"), Some(b"/req")),
        ld_library_path: Some(b"/env1:/env2"),
        sys_path: b"/lib:/usr/lib",
        files: std::vec![b"/usr/lib/libq.so".as_slice()],
        ..World::default()
    };
    let (trace, outcome) = run(&world, b"libq.so", Some(1));
    assert_eq!(
        trace,
        [
            "env /env1/libq.so",
            "env /env2/libq.so",
            "rpath1 /req/libq.so",
            "rpath0 /main1/libq.so",
            "rpath0 /main2/libq.so",
            "sys /lib/libq.so",
            "sys /usr/lib/libq.so"
        ]
    );
    assert_eq!(outcome, "sys /usr/lib/libq.so");
}

/// design.md §5: the table comes after LD_LIBRARY_PATH and before every rpath; a stale `=`
/// item and an unusable `?` item are passed over, the first item that opens wins.
#[test]
fn table_between_env_and_rpaths() {
    let desc = table(&[(b"libq.so", &[Item::File(b"/gone/libq.so"), Item::Dir(b""), Item::Dir(b"/t")])]);
    let mut objects = two_objects(None, Some(b"/req"));
    objects[1].table = Some(desc);
    let world = World {
        objects,
        ld_library_path: Some(b"/env"),
        files: std::vec![b"/t/libq.so".as_slice(), b"/req/libq.so".as_slice()],
        ..World::default()
    };
    let (trace, outcome) = run(&world, b"libq.so", Some(1));
    assert_eq!(
        trace,
        ["env /env/libq.so", "table1 /gone/libq.so", "stale /gone/libq.so", "unusable ", "table1 /t/libq.so"]
    );
    assert_eq!(outcome, "table1 /t/libq.so");
    // A name the table does not list, and a table whose items all fail: the full search.
    let (trace, outcome) = run(&world, b"libz.so", Some(1));
    assert_eq!(trace, ["env /env/libz.so", "rpath1 /req/libz.so"]);
    assert_eq!(outcome, "NotFound");
    let desc = table(&[(b"libq.so", &[Item::File(b"/gone/libq.so")])]);
    let mut objects = two_objects(None, Some(b"/req"));
    objects[1].table = Some(desc);
    let world = World { objects, files: std::vec![b"/req/libq.so".as_slice()], ..world };
    let (trace, outcome) = run(&world, b"libq.so", Some(1));
    assert_eq!(
        trace,
        ["env /env/libq.so", "table1 /gone/libq.so", "stale /gone/libq.so", "gave up", "rpath1 /req/libq.so"]
    );
    assert_eq!(outcome, "rpath1 /req/libq.so");
}

/// An open error other than ENOENT/ENOTDIR/EACCES/ENAMETOOLONG: in a search list it stops
/// the whole search (path_open's -2); in the table it ends the table, and the full search meets
/// it again and stops there.
#[test]
fn hard_open_errors_stop() {
    let desc = table(&[(b"libq.so", &[Item::File(b"/bad/libq.so"), Item::File(b"/ok/libq.so")])]);
    let mut objects = two_objects(None, Some(b"/bad:/ok"));
    objects[1].table = Some(desc);
    let world = World {
        objects,
        sys_path: b"/lib",
        files: std::vec![b"/ok/libq.so".as_slice()],
        errors: BTreeMap::from([(b"/bad/libq.so".to_vec(), EIO)]),
        ..World::default()
    };
    let (trace, outcome) = run(&world, b"libq.so", Some(1));
    assert_eq!(trace, ["table1 /bad/libq.so", "gave up", "rpath1 /bad/libq.so"]);
    assert_eq!(outcome, "NotFound");
}

/// dynlink.c:1057–1058: `fixup_rpath` < 0 stops the walk and skips the system path; earlier
/// lists are still tried.
#[test]
fn fixup_failure_stops_after_earlier_lists() {
    let mut objects = two_objects(None, Some(b"/lib1"));
    objects[0].rpath = Err(SearchStops);
    let world = World { objects, ld_library_path: Some(b"/env"), sys_path: b"/lib", ..World::default() };
    let (trace, outcome) = run(&world, b"liba.so", Some(1));
    assert_eq!(trace, ["env /env/liba.so", "rpath1 /lib1/liba.so"]);
    assert_eq!(outcome, "NotFound");
}

/// Empty lists and empty entries search nothing; a name over NAME_MAX is never searched; a
/// directory too long for the buffer is skipped and the walk goes on (dynlink.c:817).
#[test]
fn empty_and_overlong() {
    let world = World {
        objects: two_objects(Some(b"::"), Some(b"")),
        ld_library_path: Some(b":/e:"),
        sys_path: b"\n/s\n",
        ..World::default()
    };
    let (trace, _) = run(&world, b"liba.so", Some(1));
    assert_eq!(trace, ["env /e/liba.so", "sys /s/liba.so"]);
    let (trace, outcome) = run(&world, &[b'a'; 256], Some(1));
    assert!(trace.is_empty());
    assert_eq!(outcome, "NotFound");
    let long: &'static [u8] =
        std::boxed::Box::leak(format!("/{}:/{}", "d".repeat(255), "d".repeat(254)).into_bytes().into_boxed_slice());
    let world = World { objects: two_objects(None, Some(long)), ..World::default() };
    let (trace, _) = run(&world, &[b'n'; 255], Some(1));
    assert_eq!(trace.len(), 1);
    assert_eq!(trace[0].len(), "rpath1 ".len() + 511);
}

/// The names that never search: the empty name, libc's names and the loader's own, names
/// with `/` (opened as they are), and a short name already loaded.
#[test]
fn names_that_are_not_searched() {
    let mut objects = two_objects(None, Some(b"/req"));
    objects[1].short_name = Some(b"liba.so");
    let world = World { objects, files: std::vec![b"./x/liba.so".as_slice()], ..World::default() };
    assert_eq!(run(&world, b"", Some(1)).1, "Empty");
    assert_eq!(
        run(&world, b"libc.so", Some(1)).1,
        format!("{:?}", Outcome::<usize, ()>::Loader(NameKind::LibcAlias(crate::LibcAlias::C)))
    );
    assert!(run(&world, b"/lib/ld-musl-x86_64.so.1", Some(1)).1.starts_with("Loader(LoaderItself"));
    assert_eq!(
        run(&world, b"./x/liba.so", Some(1)),
        (std::vec![String::from("path ./x/liba.so")], String::from("path ./x/liba.so"))
    );
    assert_eq!(run(&world, b"liba.so", Some(1)), (Vec::new(), String::from("AlreadyLoaded(1)")));
}

/// `LD_PRELOAD` names have no requester: no table, no rpath, straight to the system path.
#[test]
fn preload_has_no_table_and_no_rpath() {
    let world = World { objects: two_objects(Some(b"/main"), None), sys_path: b"/lib", ..World::default() };
    assert_eq!(run(&world, b"libp.so", None).0, ["sys /lib/libp.so"]);
}

/// `?$ORIGIN` items: a library's from its own name; the main program's from
/// `/proc/self/exe`, read once per search and only when an item needs it; in secure mode the
/// main program's are unusable (dynlink.c:855–879).
#[test]
fn origin_items() {
    let desc = table(&[(b"libq.so", &[Item::Dir(b"$ORIGIN/a"), Item::Dir(b"$ORIGIN/b"), Item::Dir(b"/c")])]);
    let mut objects = two_objects(None, None);
    objects[0].table = Some(desc.clone());
    objects[1].table = Some(desc);
    let mut world = World { objects, exe_link: Ok(b"/opt/bin/prog"), ..World::default() };
    let (trace, _) = run(&world, b"libq.so", Some(0));
    assert_eq!(
        trace,
        ["readlink", "table0 /opt/bin/a/libq.so", "table0 /opt/bin/b/libq.so", "table0 /c/libq.so", "gave up"]
    );
    let (trace, _) = run(&world, b"libq.so", Some(1));
    assert_eq!(trace[0], "table1 /opt/a/lib/a/libq.so");
    world.secure = true;
    let (trace, _) = run(&world, b"libq.so", Some(0));
    assert_eq!(trace, ["unusable $ORIGIN/a", "unusable $ORIGIN/b", "table0 /c/libq.so", "gave up"]);
    world.secure = false;
    world.exe_link = Err(ENOENT);
    let (trace, _) = run(&world, b"libq.so", Some(0));
    assert_eq!(trace, ["readlink", "unusable $ORIGIN/a", "unusable $ORIGIN/b", "table0 /c/libq.so", "gave up"]);
}

/// design.md §8: 20 libraries each in its own RUNPATH directory: Σ(k−1) = 190 failed opens
/// without a table, none with one.
#[test]
fn runpath_storm_and_its_table() {
    let runpath: &'static [u8] = std::boxed::Box::leak(
        (1..=20).map(|k| format!("/store/p{k}/lib")).collect::<Vec<_>>().join(":").into_bytes().into_boxed_slice(),
    );
    let names: Vec<String> = (1..=20).map(|k| format!("libk{k}.so")).collect();
    let paths: Vec<&'static [u8]> = (1..=20)
        .map(|k| &*std::boxed::Box::leak(format!("/store/p{k}/lib/libk{k}.so").into_bytes().into_boxed_slice()))
        .collect();
    let mut world = World { objects: two_objects(Some(runpath), None), files: paths.clone(), ..World::default() };
    let failed = |world: &World| -> usize { names.iter().map(|n| run(world, n.as_bytes(), Some(0)).0.len() - 1).sum() };
    assert_eq!(failed(&world), 190);
    let mut sorted: Vec<(&[u8], [Item<'_>; 1])> =
        names.iter().zip(&paths).map(|(n, p)| (n.as_bytes(), [Item::File(p)])).collect();
    sorted.sort_by_key(|e| e.0);
    let entries: Vec<(&[u8], &[Item<'_>])> = sorted.iter().map(|(n, i)| (*n, i.as_slice())).collect();
    world.objects[0].table = Some(table(&entries));
    assert_eq!(failed(&world), 0);
}
