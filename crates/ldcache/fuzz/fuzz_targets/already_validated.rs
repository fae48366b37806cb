//! Arbitrary bytes through `Table::already_validated`, which skips validation (the loader's
//! path for a table it checked before): iteration and lookups must never panic nor loop, also
//! through a cursor that resumes (one made for another table, which the API does not promise
//! answers for, only no panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stormless_ldcache::{Cursor, Table};

/// A table whose names ascend, so that its cursor resumes.
const ASCENDING: &[u8] = b"a\0=/a\0b\0?/b\0c\0\0\0";

fuzz_target!(|bytes: &[u8]| {
    let table = Table::already_validated(bytes);
    let _ = table.is_empty();
    let mut entries = 0usize;
    for entry in table.entries() {
        // Every entry but an empty trailing one consumes at least its name's NUL.
        entries += 1;
        assert!(entries <= bytes.len() + 1, "entries never end");
        let _ = entry.items.raw();
        let mut items = 0usize;
        for item in entry.items.clone() {
            items += 1;
            assert!(items <= bytes.len(), "items never end");
            let _ = (item.prefix(), item.path());
        }
        if let Some(found) = table.lookup(entry.needed) {
            let _ = found.count();
        }
    }
    let (other, mut resuming) = Table::parse_with_cursor(ASCENDING).expect("a valid table");
    assert!(resuming.resumes());
    let mut plain = Cursor::default();
    for name in [&b""[..], b"libc.so", b"a", b"b", b"\xff"] {
        if let Some(found) = table.lookup(name) {
            let _ = found.count();
        }
        assert_eq!(table.lookup_from(name, &mut plain), table.lookup(name));
        if let Some(found) = table.lookup_from(name, &mut resuming) {
            let _ = found.count();
        }
        // Moves the cursor to somewhere in the other table, maybe past the end of this one.
        let _ = other.lookup_from(b"b", &mut resuming);
    }
});
