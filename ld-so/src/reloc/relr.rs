//! DT_RELR (packed relative relocations) of the objects the loader maps.
use crate::dso::Dso;
use crate::elf::WORD;
use crate::error::{self, Abort};
use crate::mem;
use crate::state::ldso_ptr;

/// DT_RELR for objects other than the loader (stage 1 did the loader's): the
/// format of `stage1::apply_relr`, with every word it names checked against
/// the object's writable segments before it is written. The first one outside
/// is reported and ends the table. Out of line: most objects have none.
#[inline(never)]
pub fn do_relr(d: &Dso, relr: usize, size: usize) -> Result<(), Abort> {
    if core::ptr::eq(d, ldso_ptr()) {
        return Ok(());
    }
    let (base, table) = (d.base, d.laddr(relr));
    let relocate = |addr: usize| -> Result<(), Abort> {
        if !d.writable(addr, WORD) {
            return error::relocation_outside(d.name, addr.wrapping_sub(base)).and(Err(Abort));
        }
        // SAFETY: a word inside the object's writable segments.
        unsafe { mem::write(addr, mem::read::<usize>(addr).wrapping_add(base)) };
        Ok(())
    };
    let mut cursor = 0usize;
    let mut result = Ok(());
    for i in 0..size / WORD {
        // SAFETY: DT_RELR and DT_RELRSZ name a table inside the mapping
        // (`check_dynamic`).
        let e = unsafe { mem::read::<usize>(table + i * WORD) };
        if e & 1 == 0 {
            cursor = base.wrapping_add(e);
            result = relocate(cursor);
            cursor = cursor.wrapping_add(WORD);
        } else {
            let mut bits = e >> 1;
            let mut at = cursor;
            while bits != 0 && result.is_ok() {
                if bits & 1 != 0 {
                    result = relocate(at);
                }
                bits >>= 1;
                at = at.wrapping_add(WORD);
            }
            cursor = cursor.wrapping_add((8 * WORD - 1) * WORD);
        }
        if result.is_err() {
            break;
        }
    }
    // Reported where it happened; at startup the rest of the table is skipped.
    result.or_else(|_| error::stop_at_runtime())
}
