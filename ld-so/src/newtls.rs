//! Dynamic TLS for libraries `dlopen` loads while threads already run
//! (musl's `install_new_tls`): every thread gets a larger dtv holding the
//! new modules' blocks. The memory was reserved when each library was loaded
//! (`DlExtras::tls_space`), so nothing here can fail.
use crate::dso::Dso;
use crate::mem;
use crate::musl::probed as p;
use crate::state::State;
use crate::tls::DTP_OFFSET;
use core::ffi::c_int;
use core::mem::offset_of;

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: c_int = 8;

extern "C" {
    fn __block_app_sigs(set: *mut u8);
    fn __restore_sigs(set: *const u8);
    fn __tl_lock();
    fn __tl_unlock();
    fn __membarrier(cmd: c_int, flags: c_int) -> c_int;
}

fn dtv_of(thread: usize) -> usize {
    // SAFETY: `thread` is a live struct pthread; the field offset is probed.
    unsafe { mem::read::<usize>(thread + p::PTHREAD_DTV) }
}

fn next_thread(thread: usize) -> usize {
    // SAFETY: as `dtv_of`; the thread list is circular and stable under __tl_lock.
    unsafe { mem::read::<usize>(thread + p::PTHREAD_NEXT) }
}

/// Give every running thread the TLS of the modules loaded since its dtv was
/// built. Called under the loader lock with thread creation inhibited.
pub fn install(st: &State) {
    let w = core::mem::size_of::<usize>();
    let cnt = st.tls_cnt;
    // The last TLS module loaded reserved the dtvs, sized for every module.
    let provider = (st.tls_tail as usize - offset_of!(Dso, tls)) as *const Dso;
    // SAFETY: tls_tail is the `tls` field of a live Dso loaded by this dlopen.
    let new_dtv = unsafe { (*provider).dl.as_ref().map_or(core::ptr::null_mut(), |x| x.new_dtv) } as usize;
    let me = crate::musl::pthread_self();
    // SAFETY: dtv[0] is the number of modules the dtv covers.
    let old_cnt = unsafe { mem::read::<usize>(dtv_of(me)) };

    let mut sigs = [0u64; 16]; // sigset_t
                               // SAFETY: musl's internal locks and signal masking, paired below.
    unsafe {
        __block_app_sigs(sigs.as_mut_ptr() as *mut u8);
        __tl_lock();
    }
    // Each thread's current dtv, copied into its enlarged slot.
    let mut threads = 0;
    let mut td = me;
    loop {
        let slot = new_dtv + threads * (cnt + 1) * w;
        // SAFETY: the reservation has (cnt + 1) words per thread counted at load
        // time, and no thread was created since (pthread_create is inhibited).
        unsafe {
            mem::copy(slot, dtv_of(td), (old_cnt + 1) * w);
            mem::write::<usize>(slot, cnt);
        }
        threads += 1;
        td = next_thread(td);
        if td == me {
            break;
        }
    }
    // The new modules' blocks, one per thread, each aligned like its image.
    for q in crate::load::Objects::all() {
        // SAFETY: the object list links live Dsos.
        let d = unsafe { &*q };
        if d.tls_id <= old_cnt {
            continue;
        }
        let align = d.tls.align.max(1);
        let mut block = d.dl.as_ref().map_or(0, |x| x.new_tls as usize);
        for j in 0..threads {
            let at = block + ((d.tls.image as usize).wrapping_sub(block) & (align - 1));
            // SAFETY: `block` walks the object's own reservation (size + align per thread).
            unsafe {
                mem::copy(at, d.tls.image as usize, d.tls.len);
                mem::write::<usize>(new_dtv + (j * (cnt + 1) + d.tls_id) * w, at + DTP_OFFSET);
            }
            block += d.tls.size + align;
        }
        if d.tls_id == cnt {
            break;
        }
    }
    // Make the new dtvs' contents visible to every thread before their pointers.
    // SAFETY: a system call (musl falls back to signals where it is missing).
    unsafe { __membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) };
    let mut td = me;
    for j in 0..threads {
        // SAFETY: replaces the dtv pointer of a live thread under __tl_lock.
        unsafe { mem::write::<usize>(td + p::PTHREAD_DTV, new_dtv + j * (cnt + 1) * w) };
        td = next_thread(td);
    }
    // SAFETY: pairs with the calls above.
    unsafe {
        __tl_unlock();
        __restore_sigs(sigs.as_ptr() as *const u8);
    }
}
