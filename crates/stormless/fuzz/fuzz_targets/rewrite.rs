//! Any bytes as a file given to `stormless embed`: where `ElfImage::parse` accepts it, the
//! rewrite (a first note, or with `--force` a larger and a smaller replacement) either refuses
//! or produces bytes that pass `preserve::check_rewrite` — what `embed` checks before it
//! replaces a file: every byte of every original segment kept, the result read back with the
//! same meaning and exactly the table meant — and then, read back again here, have the same
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
        // What embed checks before replacing the file; a rewrite that fails it is refused.
        let Ok(again) = preserve::check_rewrite(&image, &rewritten, desc) else { continue };
        // Read back independently of the checks' own comparisons.
        let note = again.ldcache_note().expect("a checked rewrite carries no table");
        assert_eq!(note.desc, desc, "a checked rewrite carries another table");
        assert_eq!(again.interp, image.interp, "a checked rewrite changed the interpreter");
        assert_eq!(again.needed, image.needed, "a checked rewrite changed the needed names");
        assert_eq!(again.effective_rpath(), image.effective_rpath(), "a checked rewrite changed the rpath");
    }
});
