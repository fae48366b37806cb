//! Any bytes as a file given to `stormless embed`: where `ElfImage::parse` accepts it, the
//! rewrite (a first note, or with `--force` a larger and a smaller replacement) either refuses
//! or produces bytes that keep every byte of every original segment (`preserve::verify`) and
//! read back with the same meaning (`preserve::verify_meaning`) — the checks `embed` runs
//! before it replaces a file — and then carry exactly the table meant, with the same
//! interpreter, needed names and search path. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stormless::elf_image::ElfImage;
use stormless::preserve;
use stormless::rewrite::{with_table, Embedding};

/// Tables of three sizes, so that both replacement paths (in place, moved) are taken.
const TABLES: [&[u8]; 3] = [
    b"liba.so\0=/s/1/liba.so\0\0",
    b"liba.so\0?/s/0:=/s/1/liba.so\0libb.so\0?/s/0:?$ORIGIN/../lib:=/s/2/libb.so\0\0",
    b"x\0=/x\0\0",
];

fuzz_target!(|data: &[u8]| {
    let Ok(image) = ElfImage::parse(data.to_vec()) else { return };
    for desc in TABLES {
        let Ok(Embedding::Rewrite(rewritten)) = with_table(&image, desc, true) else { continue };
        // What embed does before replacing the file: a rewrite that fails this is refused.
        if preserve::verify(&image, &rewritten.bytes, &rewritten.plan).is_err() {
            continue;
        }
        // A result that does not read back is refused by embed too (headers that disagree,
        // say a DT_STRTAB whose strings run into the moved block).
        let Ok(again) = ElfImage::parse(rewritten.bytes.clone()) else { continue };
        let replaced = image.ldcache_note().map(|n| n.segment);
        if preserve::verify_meaning(&image, &again, &rewritten.plan, replaced).is_err() {
            // Refused by embed too: headers that disagree about what lies where (a DT_STRTAB
            // whose strings run into the moved block, say) are caught here, not damaged.
            continue;
        }
        let note = again.ldcache_note().expect("a verified rewrite carries no table");
        assert_eq!(note.desc, desc, "a verified rewrite carries another table");
        assert_eq!(again.interp, image.interp, "a verified rewrite changed the interpreter");
        assert_eq!(again.needed, image.needed, "a verified rewrite changed the needed names");
        assert_eq!(again.effective_rpath(), image.effective_rpath(), "a verified rewrite changed the rpath");
    }
});
