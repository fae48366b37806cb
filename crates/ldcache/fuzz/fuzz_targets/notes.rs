//! Arbitrary bytes as a `PT_NOTE` area, walked as the loader walks it: `Notes` with both
//! alignments, the resolution note decoded by `Table::parse`, every item of an accepted table
//! turned into a pathname by `table_item_path_into` for each kind of origin, in and out of secure
//! mode. Nothing may panic; the pathnames keep the rules they promise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stormless_elf::note::{NoteAlign, Notes};
use stormless_ldcache::{Item, Table, NOTE_OWNER, NOTE_TYPE};
use stormless_search::{item_needs_exe_link, table_item_path_into, Origin, LOAD_LIBRARY_BUF_SIZE};

/// A library opened by pathname, the kernel-mapped main program (its `/proc/self/exe` target,
/// or readlink's failures), and a relative pathname, which secure mode refuses as an origin.
const ORIGINS: &[Origin<'static>] = &[
    Origin::ObjectName(b"/nix/store/abc-foo/lib/libfoo.so"),
    Origin::ObjectName(b"lib/libfoo.so"),
    Origin::ExeLink(b"/nix/store/xyz-prog/bin/prog"),
    Origin::ExeLinkUnavailable,
    Origin::ExeLinkFailed(5),
];

/// The name asked for besides each entry's own.
const FIXED_NAME: &[u8] = b"libfuzz.so.1";

fuzz_target!(|area: &[u8]| {
    for align in [NoteAlign::Four, NoteAlign::Eight] {
        let mut notes = Notes::new(area, align);
        for note in notes.by_ref() {
            // A note running past the area ends the walk, as in the loader.
            let Ok(note) = note else { break };
            if note.name == NOTE_OWNER && note.kind == NOTE_TYPE {
                resolve_every_item(note.desc);
            }
        }
        assert_eq!(notes.next(), None, "the walk goes on after its end");
    }
});

fn resolve_every_item(desc: &[u8]) {
    let Ok(table) = Table::parse(desc) else { return };
    for entry in table.entries() {
        for item in entry.items {
            for secure in [false, true] {
                let _ = item_needs_exe_link(item, secure);
                for &origin in ORIGINS {
                    for name in [entry.needed, FIXED_NAME] {
                        let mut buf = [0u8; LOAD_LIBRARY_BUF_SIZE];
                        let Ok(len) = table_item_path_into(item, name, origin, secure, &mut buf) else { continue };
                        assert_eq!(buf[len], 0, "no NUL after the pathname");
                        let path = &buf[..len];
                        match item {
                            Item::File(file) => assert_eq!(path, file),
                            Item::Dir(_) => {
                                assert!(path.len() < LOAD_LIBRARY_BUF_SIZE, "longer than musl's buffer");
                                assert!(path.ends_with(name) && path[path.len() - name.len() - 1] == b'/');
                            }
                        }
                    }
                }
            }
        }
    }
}
