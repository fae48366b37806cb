//! `stormless check FILE…`: is each table still what the search would find?

use std::path::{Path, PathBuf};

use anyhow::Result;
use stormless_ldcache::{Item, Table};

use crate::elf_image::{text, ElfImage};
use crate::inherit::LoadedBy;
use crate::resolution::{table_and_rpath_winners, table_can_answer, FileSystem};
use crate::{report, RootArg};

/// Report table entries that are stale: a `=file` that no longer exists, an entry whose
/// first item that opens now differs from what the uncached search through the file's rpath
/// finds, and a needed name without an entry that the search now finds in a listed directory.
/// Exit status 1 when any file is stale or cannot be checked.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    root: RootArg,
    /// The program that loads these shared objects, as given to `embed --loaded-by`: the search
    /// a table is checked against continues through its RPATH/RUNPATH.
    #[arg(long, value_name = "PROGRAM")]
    loaded_by: Option<PathBuf>,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> bool {
    let fs = FileSystem::new(args.root.root.clone());
    let loaded_by = match args.loaded_by.as_deref().map(|program| LoadedBy::new(program, &fs)) {
        None => None,
        Some(Ok(by)) => Some(by),
        Some(Err(e)) => {
            report::failure(args.loaded_by.as_deref().unwrap_or(Path::new("")), &e);
            return false;
        }
    };
    let mut ok = true;
    for file in &args.files {
        match check(file, loaded_by.as_ref(), &fs) {
            Ok(problems) if problems.is_empty() => println!("{}: up to date", file.display()),
            Ok(problems) => {
                ok = false;
                println!("{}: stale ({} problems)", file.display(), problems.len());
                for p in problems {
                    println!("  {p}");
                }
            }
            Err(e) => {
                report::failure(file, &e);
                ok = false;
            }
        }
    }
    ok
}

/// What the loader takes `$ORIGIN` from: the main program's `/proc/self/exe`, a library's
/// pathname. A file with an interpreter is taken to be a program.
pub fn origin_path(image: &ElfImage, file: &Path, fs: &FileSystem) -> (bool, Vec<u8>) {
    (image.interp.is_some(), fs.runtime_path(file))
}

fn check(file: &Path, loaded_by: Option<&LoadedBy>, fs: &FileSystem) -> Result<Vec<String>> {
    let image = ElfImage::read_file(file)?;
    let Some(note) = image.ldcache_note() else {
        anyhow::bail!("no resolution table to check");
    };
    let table = Table::parse(&note.desc).map_err(|e| anyhow::anyhow!("malformed resolution table: {e}"))?;
    let (is_program, origin_name) = origin_path(&image, file, fs);
    // The uncached search: the file's own rpath, then (--loaded-by) the program's context.
    let search = |name: &[u8], from_rpath: Option<Vec<u8>>| {
        from_rpath.or_else(|| loaded_by.and_then(|by| by.inherited(&image, &origin_name, name, fs)))
    };
    let mut problems = Vec::new();
    for entry in table.entries() {
        let name = text(entry.needed);
        for item in entry.items.clone() {
            if let Item::File(path) = item {
                if !fs.opens(path) {
                    problems.push(format!("{name}: ={} no longer exists", text(path)));
                }
            }
        }
        let (from_table, from_rpath) =
            table_and_rpath_winners(&image, Some(&note.desc), entry.needed, (is_program, &origin_name), fs);
        let from_search = search(entry.needed, from_rpath);
        if from_table != from_search {
            let show = |p: &Option<Vec<u8>>| p.as_deref().map_or("nothing".to_string(), text);
            // An entry only a loading program's context explains (`embed --loaded-by`).
            let hint = match (&from_search, loaded_by) {
                (None, None) => " (if `embed --loaded-by PROGRAM` wrote it, check with --loaded-by PROGRAM)",
                _ => "",
            };
            problems.push(format!(
                "{name}: the table no longer wins: it opens {}, the search finds {}{hint}",
                show(&from_table),
                show(&from_search)
            ));
        }
    }
    let ldso = image.interp.clone().unwrap_or_default();
    for needed in &image.needed {
        if !table_can_answer(needed, &ldso) || table.lookup(needed).is_some() {
            continue;
        }
        let (_, from_rpath) = table_and_rpath_winners(&image, None, needed, (is_program, &origin_name), fs);
        if let Some(found) = search(needed, from_rpath) {
            problems.push(format!("{}: no entry, but the search finds {}", text(needed), text(&found)));
        }
    }
    Ok(problems)
}
