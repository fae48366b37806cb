//! The list of loaded objects and the dependency walk: [`Objects`], the walk
//! along the list; `append`, which puts a newly mapped object at its tail; and
//! musl's `load_direct_deps`, `load_deps`, `extend_bfs_deps` and `load_preload`.

use crate::dso::Dso;
use crate::elf::DT_NEEDED;
use crate::error::Abort;
use crate::load::load_library;
use crate::state::{head, head_link, State};

/// A walk along the list of loaded objects (`Dso::next`), yielding each
/// object's pointer. Each link is read only when the object it points to is
/// asked for, after the loop body has run on the one before: a body that
/// appends objects sees them too, as musl's `for (; p; p = p->next)` does.
///
/// Every object on the list is live while a walk runs: the list only grows
/// (at startup, or under the `dlopen` lock), and only a rolled-back `dlopen`
/// cuts its tail, under that lock, where no walk spans the cut.
pub struct Objects {
    /// The link to read next: the `next` field of the object yielded last,
    /// or the list head's own field.
    link: *const *mut Dso,
}

impl Objects {
    /// The whole list, from the main program.
    #[inline(always)]
    pub fn all() -> Objects {
        Objects { link: head_link() }
    }

    /// The object `p` of the list, then the objects after it (those appended
    /// while the walk runs included): from the link that points at `p`, its
    /// predecessor's `next`, or the head's for the first object.
    #[inline(always)]
    pub fn from(p: *mut Dso) -> Objects {
        // SAFETY: p is a live object of the list; so is its predecessor.
        let prev = unsafe { (*p).prev };
        debug_assert!(!prev.is_null() || p == head(), "Objects::from an object not on the list");
        if prev.is_null() {
            Objects::all()
        } else {
            Objects::after(prev)
        }
    }

    /// The objects after the live object `p`, not `p` itself.
    #[inline(always)]
    pub fn after(p: *mut Dso) -> Objects {
        // SAFETY: p is live: the address of its field, nothing read.
        Objects { link: unsafe { &raw const (*p).next } }
    }
}

impl Iterator for Objects {
    type Item = *mut Dso;

    #[inline(always)]
    fn next(&mut self) -> Option<*mut Dso> {
        // SAFETY: `link` is the head field of the state or the `next` field of a
        // live object of the list (see the type).
        let p = unsafe { *self.link };
        if p.is_null() {
            return None;
        }
        // SAFETY: as above, p is live.
        self.link = unsafe { &raw const (*p).next };
        Some(p)
    }
}

/// Append `p` to the list of loaded objects.
pub fn append(st: &mut State, p: *mut Dso) {
    // SAFETY: tail and p are live Dsos.
    unsafe {
        (*st.tail).next = p;
        (*p).prev = st.tail;
    }
    st.tail = p;
}

/// musl's `load_direct_deps`.
#[link_section = ".text.startup.stormless"]
pub fn load_direct_deps(st: &mut State, p: *mut Dso) -> Result<(), Abort> {
    // SAFETY: p is a live Dso; startup or the dlopen lock keeps others from it.
    let d = unsafe { &mut *p };
    if d.deps_loaded {
        return Ok(());
    }
    // One allocation of the exact size, as musl's calloc(cnt+1): growing the
    // vector would touch more malloc size classes (and cost mmap calls). Up to
    // two entries stay inline, as musl's builtin_deps: no malloc at all.
    let is_head = p == head();
    let preloads = if is_head { Objects::after(p).count() } else { 0 };
    let needed = d.dynamic().filter(|&(t, _)| t == DT_NEEDED).count();
    let total = preloads + needed;
    // Filled in place by index, as musl fills its array: no growth path to
    // run and no copy of the list afterwards.
    if d.deps.fill_new(total).is_err() {
        crate::error::loading_dependencies(d.name);
        return crate::error::stop_at_runtime();
    }
    let slots = d.deps.as_mut_ptr();
    let mut cnt = 0;
    // Preloaded libraries are the main program's first pseudo-dependencies.
    let mut q = d.next;
    while cnt < preloads {
        // SAFETY: cnt < preloads ≤ total slots.
        unsafe { slots.add(cnt).write(q) };
        cnt += 1;
        // SAFETY: q is a live Dso of the list.
        q = unsafe { (*q).next };
    }
    for (tag, off) in d.dynamic() {
        if tag != DT_NEEDED {
            continue;
        }
        let name = d.string(off);
        let dep = load_library(st, name, p);
        if dep.is_null() {
            crate::error::loading_dependency(name.as_ptr(), d.name);
            if let Err(abort) = crate::error::stop_at_runtime() {
                // No half-filled list left behind for the rollback.
                d.deps.clear();
                return Err(abort);
            }
            continue;
        }
        // SAFETY: at most one slot per DT_NEEDED entry counted above (the
        // dynamic section does not change in between): cnt < total.
        unsafe { slots.add(cnt).write(dep) };
        cnt += 1;
    }
    d.deps.truncate(cnt);
    d.ndeps_direct = cnt;
    d.deps_loaded = true;
    Ok(())
}

/// musl's `load_deps`: every object from `p` to the end of the list.
#[link_section = ".text.startup.stormless"]
pub fn load_deps(st: &mut State, p: *mut Dso) -> Result<(), Abort> {
    // SAFETY: p is a live Dso.
    if unsafe { (*p).deps_loaded } {
        return Ok(());
    }
    // The walk sees the objects each step appends: musl's breadth-first load.
    for p in Objects::from(p) {
        load_direct_deps(st, p)?;
    }
    Ok(())
}

/// musl's `extend_bfs_deps`: append to `p`'s direct dependencies the rest of
/// its dependency closure, breadth first, each object once, so that a
/// `dlopen` handle's symbol scope is the object and everything it needs.
pub fn extend_bfs_deps(p: *mut Dso) -> Result<(), Abort> {
    // SAFETY: (the whole function) live Dsos, under the dlopen lock.
    unsafe {
        if (*p).bfs_built {
            return Ok(());
        }
        for &dep in (*p).deps.iter() {
            (*dep).mark = true;
        }
        let mut i = 0;
        while i < (*p).deps.len() {
            let dep = (&(*p).deps)[i];
            let direct = &(&(*dep).deps)[..(*dep).ndeps_direct];
            let new = direct.iter().filter(|&&q| !(*q).mark).count();
            if (*p).deps.try_reserve_exact(new).is_err() {
                crate::error::recording_dependencies((*p).name);
                crate::error::stop_at_runtime()?;
                i += 1;
                continue;
            }
            for j in 0..(*dep).ndeps_direct {
                let q = (&(*dep).deps)[j];
                if !(*q).mark {
                    (*q).mark = true;
                    (*p).deps.push(q);
                }
            }
            i += 1;
        }
        (*p).bfs_built = true;
        for q in Objects::all() {
            (*q).mark = false;
        }
    }
    Ok(())
}

/// musl's `load_preload`: names separated by spaces or colons.
pub fn load_preload(st: &mut State, list: &[u8]) {
    // C's isspace: space, \t, \n, \v, \f, \r.
    for name in list.split(|b| b" \t\n\x0b\x0c\r:".contains(b)).filter(|n| !n.is_empty()) {
        load_library(st, name, core::ptr::null_mut());
    }
}
