//! Property tests of the codec: the builder and the parser agree on exactly one language.
//! What `TableBuilder` writes always parses back into the pushed entries, and `Table::parse`
//! accepts no descriptor, however it was damaged, that the builder would not write.

use proptest::prelude::*;
use proptest::sample::Index;
use stormless_ldcache::{BuildError, Item, Items, Table, TableBuilder, MAX_ITEM_LEN, MAX_NEEDED_LEN};

/// An item as owned bytes: `(is_file, path)`, `=path` when `is_file`, else `?path`.
type OwnedItem = (bool, Vec<u8>);
/// A `needed` name with its path list.
type OwnedEntry = (Vec<u8>, Vec<OwnedItem>);

fn item(item: &OwnedItem) -> Item<'_> {
    match item {
        (true, path) => Item::File(path),
        (false, path) => Item::Dir(path),
    }
}

fn owned(item: Item<'_>) -> OwnedItem {
    (matches!(item, Item::File(_)), item.path().to_vec())
}

/// Pieces of library names, separated by spaces: text with `:`, `=` and `?` (which only paths
/// may not hold) and non-ASCII UTF-8.
const NAME_PIECES: &str = "lib a Z 0 9 . so _ + - : = ? @ ü 日本 🦀";
/// Pieces of paths, separated by spaces: store paths, `$ORIGIN` in both spellings (and a `$`
/// starting no token), `..`, non-ASCII UTF-8; never `:`.
const PATH_PIECES: &str = "/ / $ORIGIN ${ORIGIN} $ .. /nix/store/ 0abc9xyz- lib s1 . - _ + = ? @ ü 日本 🦀";

/// Between 1 and `max` pieces, concatenated (cheaper to draw than a regex).
fn text(pieces: &'static str, max: usize) -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&str> = pieces.split(' ').collect();
    prop::collection::vec(prop::sample::select(pieces), 1..=max).prop_map(|p| p.concat().into_bytes())
}

/// Library names from [`NAME_PIECES`], or long ASCII ones up to musl's NAME_MAX.
fn needed() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => text(NAME_PIECES, 40),
        1 => (200..=MAX_NEEDED_LEN).prop_map(|len| vec![b'n'; len]),
    ]
}

/// Paths from [`PATH_PIECES`], or long ones up to the longest item a table may hold.
fn path() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => text(PATH_PIECES, 30),
        1 => (MAX_ITEM_LEN - 100..=MAX_ITEM_LEN).prop_map(|len| {
            let mut p = b"$ORIGIN/".to_vec();
            p.resize(len, b'd');
            p
        }),
    ]
}

/// Paths a `=` item may hold: absolute ones (a relative `=` item makes the table invalid).
fn file_path() -> impl Strategy<Value = Vec<u8>> {
    path().prop_map(|mut p| {
        if p.first() != Some(&b'/') {
            p.insert(0, b'/');
            p.truncate(MAX_ITEM_LEN);
        }
        p
    })
}

fn entries() -> impl Strategy<Value = Vec<OwnedEntry>> {
    // A bare `?` is patchelf's rendering of an empty RUNPATH entry; a bare `=` is refused.
    let item = prop_oneof![
        4 => path().prop_map(|p| (false, p)),
        4 => file_path().prop_map(|p| (true, p)),
        1 => Just((false, Vec::new())),
    ];
    let items = prop::collection::vec(item, 0..5);
    // Names drawn from a few on purpose, so that tables repeat names (the first entry wins).
    let names = prop::collection::vec(needed(), 1..6);
    (names, prop::collection::vec((any::<Index>(), items), 0..8))
        .prop_map(|(names, entries)| entries.into_iter().map(|(i, items)| (i.get(&names).clone(), items)).collect())
}

fn build(entries: &[OwnedEntry]) -> Result<Vec<u8>, BuildError> {
    let mut builder = TableBuilder::new();
    for (needed, items) in entries {
        let items: Vec<Item<'_>> = items.iter().map(item).collect();
        builder.push(needed, &items)?;
    }
    Ok(builder.finish())
}

fn read(table: &Table<'_>) -> Vec<OwnedEntry> {
    table.entries().map(|e| (e.needed.to_vec(), e.items.map(owned).collect())).collect()
}

/// A descriptor `parse` accepted must be exactly what the builder writes for its entries.
fn assert_parse_accepts_only_built(desc: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(table) = Table::parse(desc) {
        let rebuilt = build(&read(&table));
        prop_assert!(rebuilt.is_ok(), "the builder refuses what parse accepted: {:?}", rebuilt);
        prop_assert_eq!(rebuilt.unwrap(), desc, "{} parses but is not what the builder writes", desc.escape_ascii());
    }
    Ok(())
}

/// An answer of `lookup`, comparable across lookups: which bytes of the descriptor the path list
/// is (two entries of one name may hold equal lists), or the empty list, or none.
fn answer(found: Option<Items<'_>>) -> Option<(*const u8, usize)> {
    found
        .map(|items| (items.raw().as_ptr(), items.raw().len()))
        .map(|(at, len)| (if len == 0 { std::ptr::null() } else { at }, len))
}

/// Names to look up in a table of `entries`: its own, each with a byte more and a byte less
/// (names that sort next to it), and `others`.
fn names_to_ask(entries: &[OwnedEntry], others: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut names = others;
    for (needed, _) in entries {
        names.push(needed.clone());
        names.push([needed.as_slice(), b"0"].concat());
        names.push(needed[..needed.len() - 1].to_vec());
    }
    names
}

/// Damage to a byte: a byte with a meaning in the format, or any byte.
fn damage() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(b':'), Just(b'='), Just(b'?'), Just(0x01), Just(0x7f), Just(0xff), any::<u8>()]
}

/// Printable ASCII most of the time, so that some entries pass, else DEL or any byte.
fn mostly_printable() -> impl Strategy<Value = u8> {
    prop_oneof![12 => 0x20u8..0x7f, 1 => Just(0x7f), 3 => any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn built_tables_parse_into_the_pushed_entries(entries in entries()) {
        let desc = build(&entries).expect("the builder refuses a valid entry");
        let table = Table::parse(&desc).expect("the builder wrote a table parse rejects");
        prop_assert_eq!(read(&table), entries.clone());
        prop_assert_eq!(Table::already_validated(&desc), table);
        for (needed, _) in &entries {
            let first = &entries.iter().find(|(n, _)| n == needed).unwrap().1;
            let found: Vec<OwnedItem> = table.lookup(needed).expect("a pushed name is not found").map(owned).collect();
            prop_assert_eq!(&found, first);
        }
    }

    /// `lookup_from` gives exactly `lookup`'s answers, whatever was asked before through the
    /// same cursor: for tables sorted as the writers sort them (where the cursor resumes) and
    /// for tables in any order, with repeated names (where it must not).
    #[test]
    fn lookup_from_answers_as_lookup(
        entries in entries(),
        sorted in any::<bool>(),
        asks in prop::collection::vec(any::<Index>(), 0..40),
        others in prop::collection::vec(needed(), 1..3),
    ) {
        let mut entries = entries;
        if sorted {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
        }
        let desc = build(&entries).unwrap();
        let (table, mut cursor) = Table::parse_with_cursor(&desc).expect("parse_with_cursor rejects a built table");
        prop_assert_eq!(Ok(table), Table::parse(&desc));
        let ascending = entries.windows(2).all(|pair| pair[0].0 < pair[1].0);
        prop_assert_eq!(cursor.resumes(), ascending);
        let names = names_to_ask(&entries, others);
        for ask in asks {
            let name = ask.get(&names);
            let want = answer(table.lookup(name));
            prop_assert_eq!(answer(table.lookup_from(name, &mut cursor)), want, "{}", name.escape_ascii());
        }
    }

    #[test]
    fn truncation_is_always_rejected(entries in entries(), cut in any::<Index>()) {
        let desc = build(&entries).unwrap();
        let len = cut.index(desc.len());
        prop_assert!(Table::parse(&desc[..len]).is_err(), "{} parses", desc[..len].escape_ascii());
    }

    #[test]
    fn a_damaged_byte_parses_only_into_what_the_builder_writes(
        entries in entries(),
        at in any::<Index>(),
        byte in damage(),
    ) {
        let mut desc = build(&entries).unwrap();
        let at = at.index(desc.len());
        desc[at] = byte;
        assert_parse_accepts_only_built(&desc)?;
    }

    #[test]
    fn a_removed_or_inserted_byte_parses_only_into_what_the_builder_writes(
        entries in entries(),
        at in any::<Index>(),
        byte in damage(),
    ) {
        let desc = build(&entries).unwrap();
        let at = at.index(desc.len());
        let mut removed = desc.clone();
        removed.remove(at);
        assert_parse_accepts_only_built(&removed)?;
        let mut inserted = desc;
        inserted.insert(at, byte);
        assert_parse_accepts_only_built(&inserted)?;
    }

    /// Arbitrary bytes as names and paths: the builder either refuses the entry and writes
    /// nothing, or writes a table that parses back into it.
    #[test]
    fn the_builder_writes_nothing_parse_rejects(
        needed in prop::collection::vec(mostly_printable(), 0..12),
        items in prop::collection::vec((any::<bool>(), prop::collection::vec(mostly_printable(), 0..12)), 0..4),
    ) {
        let entry = [(needed, items)];
        match build(&entry) {
            Ok(desc) => prop_assert_eq!(read(&Table::parse(&desc).expect("built but rejected")), entry.to_vec()),
            Err(refused) => {
                // The error blames the part at fault; when both are, either.
                let name_ok = build(&[(entry[0].0.clone(), Vec::new())]).is_ok();
                let items_ok = build(&[(b"x".to_vec(), entry[0].1.clone())]).is_ok();
                let blames_name = matches!(refused, BuildError::BadNeeded(_));
                prop_assert!(!(name_ok && items_ok), "refused a valid entry: {:?}", refused);
                if name_ok {
                    prop_assert!(!blames_name, "blames a valid name: {:?}", refused);
                }
                if items_ok {
                    prop_assert!(blames_name, "blames valid paths: {:?}", refused);
                }
                let items: Vec<Item<'_>> = entry[0].1.iter().map(item).collect();
                let mut builder = TableBuilder::new();
                prop_assert!(builder.push(&entry[0].0, &items).is_err());
                prop_assert_eq!(builder.finish(), b"\0".to_vec(), "a refused entry left bytes behind");
            }
        }
    }
}
