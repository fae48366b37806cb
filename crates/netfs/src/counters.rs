//! What the server saw, counted as it answers.
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// The operations the model tells apart.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    LookupFound,
    /// A name that does not exist: the failed probes of a search path.
    LookupMissing,
    Getattr,
    Open,
    Read,
    /// readlink, release, opendir, readdir, releasedir, statfs.
    Other,
}

#[derive(Default)]
pub struct Counters {
    lookup_found: AtomicU64,
    lookup_missing: AtomicU64,
    getattr: AtomicU64,
    open: AtomicU64,
    read: AtomicU64,
    other: AtomicU64,
    read_bytes: AtomicU64,
}

/// A snapshot of the counters (also the JSON the server prints).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub lookup_found: u64,
    pub lookup_missing: u64,
    pub getattr: u64,
    pub open: u64,
    pub read: u64,
    pub other: u64,
    pub read_bytes: u64,
}

impl Snapshot {
    /// Every operation that cost a round trip.
    pub fn ops(&self) -> u64 {
        self.lookup_found + self.lookup_missing + self.getattr + self.open + self.read + self.other
    }

    /// The sum of two snapshots (rounds added up).
    pub fn plus(&self, other: &Snapshot) -> Snapshot {
        Snapshot {
            lookup_found: self.lookup_found + other.lookup_found,
            lookup_missing: self.lookup_missing + other.lookup_missing,
            getattr: self.getattr + other.getattr,
            open: self.open + other.open,
            read: self.read + other.read,
            other: self.other + other.other,
            read_bytes: self.read_bytes + other.read_bytes,
        }
    }

    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            lookup_found: self.lookup_found - earlier.lookup_found,
            lookup_missing: self.lookup_missing - earlier.lookup_missing,
            getattr: self.getattr - earlier.getattr,
            open: self.open - earlier.open,
            read: self.read - earlier.read,
            other: self.other - earlier.other,
            read_bytes: self.read_bytes - earlier.read_bytes,
        }
    }
}

impl Counters {
    pub fn add(&self, op: Op) {
        let counter = match op {
            Op::LookupFound => &self.lookup_found,
            Op::LookupMissing => &self.lookup_missing,
            Op::Getattr => &self.getattr,
            Op::Open => &self.open,
            Op::Read => &self.read,
            Op::Other => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, n: u64) {
        self.read_bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            lookup_found: get(&self.lookup_found),
            lookup_missing: get(&self.lookup_missing),
            getattr: get(&self.getattr),
            open: get(&self.open),
            read: get(&self.read),
            other: get(&self.other),
            read_bytes: get(&self.read_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_subtract_and_sum() {
        let c = Counters::default();
        c.add(Op::LookupMissing);
        let before = c.snapshot();
        for op in [Op::LookupFound, Op::LookupMissing, Op::Getattr, Op::Open, Op::Read, Op::Read, Op::Other] {
            c.add(op);
        }
        c.add_bytes(4096);
        let d = c.snapshot().since(&before);
        assert_eq!(
            d,
            Snapshot { lookup_found: 1, lookup_missing: 1, getattr: 1, open: 1, read: 2, other: 1, read_bytes: 4096 }
        );
        assert_eq!(d.ops(), 7);
        assert_eq!(c.snapshot().lookup_missing, 2);
    }
}
