//! Step 3 of the search (design.md §5): the requester's resolution table, the
//! `.note.nixos.ldcache` note patchelf ≥ 0.19 and `stormless embed` write.
//!
//! The note is read where it is mapped: a `PT_NOTE` inside the file-backed part
//! of a `PT_LOAD`, so using a table costs no system call. It is decoded by
//! `stormless_ldcache` (the CLI's decoder too) and validated once per object;
//! what an item makes us open is decided by `stormless_search::search`, the
//! driver `stormless explain` predicts with. A table only saves failed probes: a name
//! it does not list, or whose items all fail to open, goes through the full
//! search, and a table that cannot be decoded is ignored (one `LD_DEBUG=libs`
//! line), never trusted.
// `debug_libs!` forwards C varargs into its unsafe dprintf call.
#![allow(clippy::macro_metavars_in_unsafe)]

use crate::dso::Dso;
use crate::dso::TableState;
use crate::elf::{PT_LOAD, PT_NOTE};
use crate::mem;
use stormless_elf::note::{NoteAlign, Notes};
use stormless_ldcache::{Cursor, Items, Table, NOTE_OWNER, NOTE_TYPE};

/// The descriptor of `d`'s resolution note, if it has one inside its mapped
/// file data. A note outside every `PT_LOAD`'s file bytes is not read: those
/// addresses may not be mapped.
fn note_descriptor(d: &Dso) -> Option<&'static [u8]> {
    for note in d.program_headers().filter(|ph| ph.p_type == PT_NOTE) {
        let end = note.p_vaddr.checked_add(note.p_filesz)?;
        let mapped = d.program_headers().any(|load| {
            load.p_type == PT_LOAD
                && note.p_vaddr >= load.p_vaddr
                && load.p_vaddr.checked_add(load.p_filesz).is_some_and(|load_end| end <= load_end)
        });
        if !mapped {
            continue;
        }
        // SAFETY: the range lies inside a mapped PT_LOAD's file data.
        let area = unsafe { mem::bytes(d.laddr(note.p_vaddr), note.p_filesz) };
        for n in Notes::new(area, NoteAlign::from_segment_align(note.p_align as u64)) {
            match n {
                Ok(n) if n.name == NOTE_OWNER && n.kind == NOTE_TYPE => return Some(n.desc),
                Ok(_) => {}
                // A note running past its segment: the area is not a note list.
                Err(_) => {
                    crate::debug_libs!(" ignoring the notes of %s: a note runs past its segment", d.name);
                    break;
                }
            }
        }
    }
    None
}

/// `d`'s table and its cursor; None when it has none or it is unusable.
fn table_of(d: &mut Dso) -> Option<(Table<'static>, &mut Cursor)> {
    if matches!(d.table, TableState::NotLookedFor) {
        d.table = validate(d);
    }
    match &mut d.table {
        TableState::Usable { desc, cursor } => Some((Table::already_validated(desc), cursor)),
        _ => None,
    }
}

/// Find and decode `d`'s table, the first time it is asked for.
fn validate(d: &Dso) -> TableState {
    let Some(desc) = note_descriptor(d) else {
        return TableState::Unusable;
    };
    match Table::parse_with_cursor(desc) {
        Ok((_, cursor)) => TableState::Usable { desc, cursor },
        Err(e) => {
            if crate::ld_debug::libs() {
                let why = crate::ld_debug::name_z(e.message().as_bytes());
                crate::debug_libs!(" ignoring the resolution table of %s: %s", d.name, crate::ld_debug::z_ptr(&why));
            }
            TableState::Unusable
        }
    }
}

/// The entry for `name` in `requester`'s table, if it has a usable one that
/// lists the name. What its items make the search open is
/// `stormless_search::search`'s.
pub fn entry(requester: &mut Dso, name: &[u8]) -> Option<Items<'static>> {
    let (table, cursor) = table_of(requester)?;
    table.lookup_from(name, cursor)
}
