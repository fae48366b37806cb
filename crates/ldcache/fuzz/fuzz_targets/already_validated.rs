//! Arbitrary bytes through `Table::already_validated`, which skips validation (the loader's
//! path for a table it checked before): iteration and lookups must never panic nor loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stormless_ldcache::Table;

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
    for name in [&b""[..], b"libc.so", b"a"] {
        if let Some(found) = table.lookup(name) {
            let _ = found.count();
        }
    }
});
