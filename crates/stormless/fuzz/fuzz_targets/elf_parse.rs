//! Any bytes as a file for `show`, `check`, `explain` and `embed`: `ElfImage::parse` either
//! refuses it with an error or returns a model whose every derived value can be computed
//! without overflow — never a panic, whatever the headers claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stormless::elf_image::ElfImage;

fuzz_target!(|data: &[u8]| {
    let Ok(image) = ElfImage::parse(data.to_vec()) else { return };
    for s in &image.segments {
        // Checked at parse time: these may be computed anywhere later.
        let _ = (s.file_end(), s.memory_end());
        if s.p_filesz > 0 {
            assert!(s.file_end() <= data.len() as u64, "a segment past the end of the file was accepted");
        }
    }
    for s in &image.sections {
        assert!(s.sh_offset + s.file_size() <= data.len() as u64, "a section past the end of the file was accepted");
    }
    if let Some(note) = image.ldcache_note() {
        // The table a `show` would print: decoding it must not panic either.
        let _ = stormless_ldcache::Table::parse(&note.desc);
    }
    let _ = image.effective_rpath();
});
