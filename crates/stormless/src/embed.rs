//! `stormless embed FILE…|DIR…`: write each file's table from its own RPATH/RUNPATH.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use stormless_ldcache::Table;

use crate::elf_image::{looks_like_elf, ElfImage};
use crate::inherit::LoadedBy;
use crate::replace::{self, HardLinks};
use crate::resolution::{build_descriptor, FileSystem};
use crate::{preserve, report, rewrite, RootArg};

/// Write the resolution table (`.note.nixos.ldcache`) of each FILE, and of every ELF file under
/// each DIR (recursively, never following a symbolic link), from the file's own RPATH/RUNPATH
/// with musl's search rules. Files whose table is already right are not touched; a file is
/// replaced atomically, keeping its mode, owner and extended attributes (capabilities, ACLs);
/// a file with several hard links is refused unless --break-hard-links.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    root: RootArg,
    /// A name the program opens with dlopen: add an entry for it, resolved with the file's
    /// rpath as dlopen resolves it from the main program. Repeatable.
    #[arg(long, value_name = "NAME")]
    dlopen: Vec<String>,
    /// The program that loads these shared objects (e.g. the interpreter that imports a
    /// wheel's modules): a name a shared object finds neither itself nor through another of the
    /// given objects, but through PROGRAM's RPATH/RUNPATH, as musl's needed_by walk does, gets an
    /// entry for that file (docs/tables.md, "Names a library inherits").
    #[arg(long, value_name = "PROGRAM")]
    loaded_by: Option<PathBuf>,
    /// Print what would be written; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace a different table a file already carries (else such a file is refused).
    #[arg(long)]
    force: bool,
    /// Rewrite a file that has other hard links under this name only: the other names keep the
    /// old file (else such a file is refused, naming its link count).
    #[arg(long)]
    break_hard_links: bool,
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
}

#[derive(Default)]
struct Summary {
    embedded: usize,
    unchanged: usize,
    not_elf: usize,
    not_dynamic: usize,
    symlinks: usize,
    failed: usize,
}

enum Outcome {
    Embedded,
    Unchanged,
    /// A file met in a directory walk that has nothing to embed into.
    Skipped(Skip),
}

enum Skip {
    NotElf,
    NotDynamic,
}

/// Trees with more files than this get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: usize = 200;

pub fn run(args: &Args) -> bool {
    let fs = FileSystem::new(args.root.root.clone());
    let dlopen: Vec<Vec<u8>> = args.dlopen.iter().map(|n| n.as_bytes().to_vec()).collect();
    let mut targets: Vec<(PathBuf, bool)> = Vec::new();
    let mut summary = Summary::default();
    let mut walked = false;
    for path in &args.paths {
        if path.is_dir() {
            walked = true;
            for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
                match entry {
                    Ok(e) if !e.file_type().is_dir() => targets.push((e.into_path(), true)),
                    Ok(_) => {}
                    Err(e) => {
                        let at = e.path().unwrap_or(path).to_path_buf();
                        report::failure(&at, &anyhow::Error::new(e));
                        summary.failed += 1;
                    }
                }
            }
        } else {
            targets.push((path.clone(), false));
        }
    }
    let progress = (targets.len() > PROGRESS_THRESHOLD && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(targets.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let loaded_by = match &args.loaded_by {
        None => None,
        Some(program) => match loaded_by(program, &targets, &fs) {
            Ok(by) => Some(by),
            Err(e) => {
                report::failure(program, &e);
                return false;
            }
        },
    };
    let mut seen = HashSet::new();
    for (path, in_walk) in &targets {
        if let Some(bar) = &progress {
            bar.set_message(path.display().to_string());
            bar.inc(1);
        }
        // A walk never follows a symbolic link: the file it leads to is either in the tree,
        // and met there, or outside it, where embed must not write. A FILE named on the
        // command line is the file it leads to, once.
        if *in_walk && path.is_symlink() {
            summary.symlinks += 1;
            continue;
        }
        let real = match path.canonicalize() {
            Ok(real) => real,
            Err(e) => {
                report::failure(path, &anyhow::Error::new(e).context("cannot open the file"));
                summary.failed += 1;
                continue;
            }
        };
        if !seen.insert(real.clone()) {
            continue;
        }
        let context = Context { dlopen: &dlopen, loaded_by: loaded_by.as_ref(), fs: &fs };
        let result = embed_one(path, &real, *in_walk, args, &context, progress.as_ref());
        match result {
            Ok(Outcome::Embedded) => summary.embedded += 1,
            Ok(Outcome::Unchanged) => summary.unchanged += 1,
            Ok(Outcome::Skipped(Skip::NotElf)) => summary.not_elf += 1,
            Ok(Outcome::Skipped(Skip::NotDynamic)) => summary.not_dynamic += 1,
            Err(e) => {
                let print = || report::failure(path, &e);
                match &progress {
                    Some(bar) => bar.suspend(print),
                    None => print(),
                }
                summary.failed += 1;
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if walked || args.paths.len() > 1 {
        let verb = if args.dry_run { "would embed" } else { "embedded" };
        eprintln!(
            "{verb} {}, unchanged {}, skipped {} (not ELF), {} (not dynamically linked), {} (symbolic links), failed {}",
            summary.embedded,
            summary.unchanged,
            summary.not_elf,
            summary.not_dynamic,
            summary.symlinks,
            summary.failed
        );
    }
    summary.failed == 0
}

/// PROGRAM of `--loaded-by`, with what every given shared object finds itself.
fn loaded_by(program: &Path, targets: &[(PathBuf, bool)], fs: &FileSystem) -> Result<LoadedBy> {
    let mut by = LoadedBy::new(program, fs)?;
    for (path, in_walk) in targets {
        if *in_walk && path.is_symlink() {
            continue;
        }
        // Files that are not ELF objects are not in anyone's needed_by chain.
        if !starts_like_elf(path) {
            continue;
        }
        if let Ok(image) = ElfImage::read_file(path) {
            by.note_object(&image, &fs.runtime_path(path), fs);
        }
    }
    Ok(by)
}

/// Whether the file's first bytes are ELF's magic (a walk skips other files unread).
fn starts_like_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut magic));
    read.is_ok_and(|n| n == 4 && looks_like_elf(&magic))
}

/// What every file's table is built from, besides the file.
struct Context<'a> {
    dlopen: &'a [Vec<u8>],
    loaded_by: Option<&'a LoadedBy>,
    fs: &'a FileSystem,
}

fn embed_one(
    shown: &Path,
    real: &Path,
    in_walk: bool,
    args: &Args,
    context: &Context<'_>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<Outcome> {
    if in_walk && !starts_like_elf(real) {
        return Ok(Outcome::Skipped(Skip::NotElf));
    }
    let image = ElfImage::read_file(real);
    let image = match image {
        // In a walk, ELF files the loader never maps with a table (objects, static programs,
        // other machines) are skipped, not failures.
        Err(_) if in_walk => return Ok(Outcome::Skipped(Skip::NotDynamic)),
        Err(e) => return Err(e),
        Ok(image) if in_walk && !image.segments.iter().any(|s| s.p_type == object::elf::PT_DYNAMIC.0) => {
            return Ok(Outcome::Skipped(Skip::NotDynamic))
        }
        Ok(image) => image,
    };
    let object = context.fs.runtime_path(real);
    let loaded_by = context.loaded_by.map(|by| (by, object.as_slice()));
    let desc = build_descriptor(&image, context.dlopen, loaded_by, context.fs)?;
    let rewritten = match rewrite::with_table(&image, &desc, args.force)? {
        rewrite::Embedding::Rewrite(rewritten) => rewritten,
        rewrite::Embedding::AlreadyCurrent => return Ok(Outcome::Unchanged),
        rewrite::Embedding::NothingToEmbed => {
            if !in_walk {
                println!("{}: nothing to embed (no searched name is found through its rpath)", shown.display());
            }
            return Ok(Outcome::Unchanged);
        }
    };
    // Before anything is replaced: the bytes, the meaning and the table (preserve.rs).
    preserve::check_rewrite(&image, &rewritten, &desc)?;
    let bytes = rewritten.bytes;
    let table = Table::parse(&desc).map_err(|e| anyhow::anyhow!("internal error: {e}"))?;
    let print = || {
        if args.dry_run {
            println!("{}: would write {} entries ({} bytes):", shown.display(), table.entries().count(), desc.len());
            print!("{}", report::table_text(&table));
        } else {
            println!("{}: wrote {} entries ({} bytes)", shown.display(), table.entries().count(), desc.len());
        }
    };
    let hard_links = if args.break_hard_links { HardLinks::BreakThisName } else { HardLinks::Refuse };
    if args.dry_run {
        replace::check_replaceable(real, hard_links)?;
    } else {
        replace::replace_file(real, &bytes, hard_links)?;
    }
    match progress {
        Some(_) if !args.dry_run => {}
        Some(bar) => bar.suspend(print),
        None => print(),
    }
    Ok(Outcome::Embedded)
}
