//! The suite's check of the scale harness (`cargo xtask test`): every
//! workload on its tiny configuration, counts only, never times — the
//! harness keeps working and the counts it reports are the ones the loader
//! must produce.
use super::measure::{self, Opens};
use super::{prepare, Config, Fs, Options, Variant, WorkloadKind};
use crate::util::say;
use anyhow::{ensure, Context, Result};
use stormless_trees::{arch_dir, Arch, Loader, MuslVersion, Store, Tree};

fn options(workload: WorkloadKind) -> Options {
    Options {
        workload,
        fs: Fs::Local,
        concurrency: vec![2],
        json: None,
        runs: Some(1),
        config: Config::Tiny,
        latency_us: 0,
        sizes: None,
    }
}

/// Opens of every variant of each case of a tiny workload.
fn counted(version: MuslVersion, workload: WorkloadKind) -> Result<Vec<(super::Case, Vec<Opens>)>> {
    let base = Tree::new(version, Arch::X86_64, Loader::Stormless);
    let cases = prepare(&options(workload), &base)?;
    cases
        .into_iter()
        .map(|case| {
            let opens = Variant::ALL
                .iter()
                .zip(&case.starts)
                .map(|(v, s)| measure::opens(Arch::X86_64, s, &case.root.join("trace").join(v.name())))
                .collect::<Result<Vec<_>>>()?;
            Ok((case, opens))
        })
        .collect()
}

pub fn suite_check(version: MuslVersion) -> Result<()> {
    say(format!("test: the scale harness on tiny workloads (musl {version}, x86_64; counts only)"));
    // store-n, N=4: library k is found in the k-th directory.
    for (case, o) in counted(version, WorkloadKind::StoreN)? {
        let n = case.n.context("store-n without N")? as u64;
        let storm = n * (n - 1) / 2;
        let failed: Vec<u64> = o.iter().map(|x| x.failed_opens).collect();
        ensure!(
            failed == [storm, storm, 0, 0],
            "store-n {}: loader's failed opens {failed:?}, want [{storm}, {storm}, 0, 0]",
            case.size
        );
        ensure!(
            o[2].opens + storm == o[0].opens,
            "store-n {}: ours-tables opens {} of stock's {}",
            case.size,
            o[2].opens,
            o[0].opens
        );
        // The network-filesystem model sees the same storm, as failed LOOKUPs.
        let netfs = measure::netfs_binary(false)?;
        let source = arch_dir(version, Arch::X86_64).canonicalize()?;
        let missing = case
            .starts
            .iter()
            .map(|s| {
                let run = measure::netfs(&netfs, &source, Arch::X86_64, s, 0, 2, 1)?;
                let r = &run.rounds[0];
                ensure!(
                    r.ops.open >= 2 * (n + 1) && r.ops.read > 0 && r.ops.lookup_found > 0,
                    "netfs counts {:?}",
                    r.ops
                );
                Ok(r.ops.lookup_missing)
            })
            .collect::<Result<Vec<u64>>>()?;
        ensure!(
            missing == [2 * storm, 2 * storm, 0, 0],
            "store-n {} under netfs, 2 starts: failed lookups {missing:?}",
            case.size
        );
        say(format!(
            "test: store-n {}: loader's failed opens {failed:?}, netfs failed lookups of 2 starts {missing:?}",
            case.size
        ));
    }
    // pynamic, 6 modules over 5 utility libraries, through the store's Python.
    if !Store::new(version, Arch::X86_64).is_complete() {
        say(format!("test: no x86_64 store for musl {version}: the pynamic check is skipped"));
        return Ok(());
    }
    for (case, o) in counted(version, WorkloadKind::Pynamic)? {
        let failed: Vec<u64> = o.iter().map(|x| x.failed_opens).collect();
        ensure!(
            failed[2] == 0 && failed[3] == 0,
            "pynamic {}: loader's failed opens {failed:?}: tables and floor must have none",
            case.size
        );
        ensure!(
            failed[0] > 0 && failed[0] == failed[1],
            "pynamic {}: loader's failed opens {failed:?}: stock and ours search alike",
            case.size
        );
        say(format!("test: pynamic {}: loader's failed opens (stock, ours, ours-tables, floor) {failed:?}", case.size));
    }
    Ok(())
}
