//! Arbitrary bytes as a note descriptor. Whatever `Table::parse` accepts must read back
//! consistently and be exactly what `TableBuilder` writes for its entries: the decoder never
//! accepts a descriptor the encoder would not produce. `Table::lookup_from`, the loader's
//! lookup, must answer as `lookup` whatever order the names are asked in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stormless_ldcache::{Cursor, Item, Items, Table, TableBuilder, MAX_ITEM_LEN, MAX_NEEDED_LEN};

/// Names looked up in every accepted table besides its own: typical ones, the empty name and
/// one longer than any name a table may hold.
const OTHER_NAMES: &[&[u8]] = &[b"", b"libc.so", b"libs1.so", b"liba.so", &[b'n'; MAX_NEEDED_LEN + 1]];

fuzz_target!(|desc: &[u8]| {
    let Ok(table) = Table::parse(desc) else {
        assert!(Table::parse_with_cursor(desc).is_err());
        return;
    };
    // The loader reads a table it validated before through the unchecked constructor.
    assert_eq!(Table::already_validated(desc), table);
    let (with_cursor, cursor) = Table::parse_with_cursor(desc).expect("parse accepts, parse_with_cursor rejects");
    assert_eq!(with_cursor, table);
    assert_eq!(table.is_empty(), desc.len() == 1);

    let entries: Vec<(&[u8], Items<'_>)> = table.entries().map(|e| (e.needed, e.items)).collect();
    let mut builder = TableBuilder::new();
    for (needed, items) in &entries {
        assert!(!needed.is_empty() && needed.len() <= MAX_NEEDED_LEN);
        let items: Vec<Item<'_>> = items.clone().collect();
        for item in &items {
            // Only `?` may stand alone: patchelf's rendering of an empty RUNPATH entry.
            assert!(item.path().len() <= MAX_ITEM_LEN && (!item.path().is_empty() || matches!(item, Item::Dir(_))));
        }
        builder.push(needed, &items).unwrap_or_else(|e| panic!("the builder refuses an entry parse accepted: {e}"));
    }
    assert_eq!(builder.finish(), desc, "re-encoding the parsed entries changed the bytes");

    // Each name finds its first entry: compared by position in `desc`, since two entries of the
    // same name may hold equal lists.
    for (needed, _) in &entries {
        let found = table.lookup(needed).expect("an entry's own name is not found");
        let first = entries.iter().position(|(n, _)| n == needed).unwrap();
        let want = &entries[first].1;
        assert_eq!(&found, want);
        if !want.raw().is_empty() {
            assert_eq!(found.raw().as_ptr_range(), want.raw().as_ptr_range(), "lookup skipped the first entry");
        }
    }
    for name in OTHER_NAMES {
        let listed = entries.iter().any(|(n, _)| n == name);
        assert_eq!(table.lookup(name).is_some(), listed, "lookup of {}", name.escape_ascii());
    }
    let names_ascend = entries.windows(2).all(|pair| pair[0].0 < pair[1].0);
    assert_eq!(cursor.resumes(), names_ascend);
    lookups_from_answer_as_lookup(&table, cursor, &entries);
});

/// The entries' names in table order, reversed, and interleaved with other names, through one
/// cursor: each lookup as `lookup` answers it (the same list, at the same bytes).
fn lookups_from_answer_as_lookup(table: &Table<'_>, mut cursor: Cursor, entries: &[(&[u8], Items<'_>)]) {
    let names = entries.iter().map(|(n, _)| *n);
    let asks = names
        .clone()
        .chain(names.clone().rev())
        .chain(names.zip(OTHER_NAMES.iter().copied().cycle()).flat_map(|(a, b)| [b, a]));
    for name in asks {
        let want = table.lookup(name);
        let got = table.lookup_from(name, &mut cursor);
        assert_eq!(got, want, "lookup_from of {}", name.escape_ascii());
        if let (Some(got), Some(want)) = (got, want) {
            assert_eq!(got.raw().as_ptr_range(), want.raw().as_ptr_range(), "lookup_from found another entry");
        }
    }
}
