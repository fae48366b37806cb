//! A GNU hash table built here, looked up, and then broken in every field.

mod common;

use common::build_gnu_hash;
use stormless_elf::{gnu_hash, Class, Error, GnuHashTable};

const NAMES: [&[u8]; 9] = [b"a", b"b", b"malloc", b"free", b"realloc", b"calloc", b"memcpy", b"strlen", b"x"];

#[test]
fn lookups_find_every_name_at_its_index_in_both_classes() {
    for class in [Class::Elf32, Class::Elf64] {
        for (nbuckets, bloom_size, shift) in [(1, 1, 5), (4, 2, 6), (17, 4, 26), (3, 1, 31)] {
            let t = build_gnu_hash(class, 5, &NAMES, nbuckets, bloom_size, shift);
            let table = GnuHashTable::parse(&t.bytes, class).unwrap();
            assert_eq!(
                GnuHashTable::fixed_len(&t.bytes, class),
                Some(16 + bloom_size as usize * class.word_size() + nbuckets as usize * 4)
            );
            assert_eq!(table.symbol_count(), Some(5 + NAMES.len()));
            for (i, name) in t.order.iter().enumerate() {
                assert!(table.bloom_may_contain(gnu_hash(name)));
                let c: Vec<u32> = table.candidates(gnu_hash(name)).collect();
                assert!(c.contains(&(5 + i as u32)), "{name:?} {c:?}");
                // Candidates match the hash up to bit 0 and nothing else.
                for j in &c {
                    let other = &t.order[(*j - 5) as usize];
                    assert_eq!(gnu_hash(other) | 1, gnu_hash(name) | 1);
                }
            }
            // Absent names: the bloom filter or the chain rejects them.
            for absent in [&b"mallocx"[..], b"puts", b"c", b""] {
                let c: Vec<u32> = table.candidates(gnu_hash(absent)).collect();
                assert!(c.iter().all(|j| gnu_hash(&t.order[(*j - 5) as usize]) | 1 == gnu_hash(absent) | 1));
            }
        }
    }
}

#[test]
fn a_full_bloom_filter_still_walks_the_right_chain() {
    // With every bloom bit set, only the chain comparison rejects a name.
    let t = build_gnu_hash(Class::Elf64, 1, &NAMES, 2, 1, 6);
    let mut bytes = t.bytes.clone();
    bytes[16..24].copy_from_slice(&[0xff; 8]);
    let table = GnuHashTable::parse(&bytes, Class::Elf64).unwrap();
    assert!(table.bloom_may_contain(gnu_hash(b"not_there")));
    assert_eq!(table.candidates(gnu_hash(b"not_there")).count(), 0);
    // And with no bloom bit set, nothing gets through.
    bytes[16..24].copy_from_slice(&[0; 8]);
    let table = GnuHashTable::parse(&bytes, Class::Elf64).unwrap();
    assert_eq!(table.candidates(gnu_hash(b"malloc")).count(), 0);
}

#[test]
fn malformed_tables_are_errors_or_end_walks() {
    let class = Class::Elf64;
    let t = build_gnu_hash(class, 3, &NAMES, 4, 2, 6);
    let set = |off: usize, v: u32| {
        let mut b = t.bytes.clone();
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        b
    };
    assert_eq!(GnuHashTable::parse(&set(0, 0), class).unwrap_err(), Error::BadHashTable);
    assert_eq!(GnuHashTable::parse(&set(8, 0), class).unwrap_err(), Error::BadHashTable);
    assert_eq!(GnuHashTable::parse(&set(0, u32::MAX), class).unwrap_err(), Error::Truncated);
    assert!(GnuHashTable::parse(&set(8, u32::MAX), class).is_err());
    let fixed = 16 + 2 * 8 + 4 * 4;
    for len in 0..fixed {
        assert!(GnuHashTable::parse(&t.bytes[..len], class).is_err(), "{len}");
    }
    // Only the fixed part: lookups and counting end at the slice's end instead of reading on.
    let short = GnuHashTable::parse(&t.bytes[..fixed], class).unwrap();
    assert_eq!(short.candidates(gnu_hash(b"malloc")).count(), 0);
    assert_eq!(short.symbol_count(), None);
    // A symoffset above the bucket values: no chain to walk.
    let b = set(4, 1000);
    let high = GnuHashTable::parse(&b, class).unwrap();
    assert_eq!(high.symbol_count(), None);
    assert_eq!(high.candidates(gnu_hash(b"malloc")).count(), 0);
    // No stop bit anywhere: the walk ends at the slice's end.
    let mut b = t.bytes.clone();
    for w in b[fixed..].chunks_mut(4) {
        w[0] &= !1;
    }
    let endless = GnuHashTable::parse(&b, class).unwrap();
    assert_eq!(endless.symbol_count(), None);
    assert!(endless.candidates(gnu_hash(b"malloc")).count() <= NAMES.len());
    // A shift of 32 or more does not panic.
    let b = set(12, 200);
    let wide = GnuHashTable::parse(&b, class).unwrap();
    let _ = wide.candidates(gnu_hash(b"malloc")).count();
    // All buckets empty: musl counts no symbols.
    let mut b = t.bytes.clone();
    b[32..fixed].fill(0);
    assert_eq!(GnuHashTable::parse(&b, class).unwrap().symbol_count(), Some(0));
}
