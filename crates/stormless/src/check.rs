//! `stormless check FILE…`: is each table still what the search would find?

use std::path::{Path, PathBuf};

use anyhow::Result;
use stormless_ldcache::Table;
use stormless_search::Origin;

use crate::elf_image::{text, ElfImage};
use crate::resolution::{owned_item, table_and_rpath_winners, table_can_answer, FileSystem, PlannedItem};
use crate::{report, RootArg};

/// Report table entries that are stale: a `=file` that no longer exists, an entry whose
/// first item that opens now differs from what the uncached search through the file's rpath
/// finds, and a needed name without an entry that the search now finds in a listed directory.
/// Exit status 1 when any file is stale or cannot be checked.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    root: RootArg,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> bool {
    let fs = FileSystem::new(args.root.root.clone());
    let mut ok = true;
    for file in &args.files {
        match check(file, &fs) {
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

fn check(file: &Path, fs: &FileSystem) -> Result<Vec<String>> {
    let image = ElfImage::read_file(file)?;
    let Some(note) = image.ldcache_note() else {
        anyhow::bail!("no resolution table to check");
    };
    let table = Table::parse(&note.desc).map_err(|e| anyhow::anyhow!("malformed resolution table: {e}"))?;
    let (is_program, origin_name) = origin_path(&image, file, fs);
    let origin = if is_program { Origin::ExeLink(&origin_name) } else { Origin::ObjectName(&origin_name) };
    let mut problems = Vec::new();
    for entry in table.entries() {
        let name = text(entry.needed);
        let items: Vec<PlannedItem> = entry.items.clone().map(owned_item).collect();
        for item in &items {
            if let PlannedItem::File(path) = item {
                if !fs.opens(path) {
                    problems.push(format!("{name}: ={} no longer exists", text(path)));
                }
            }
        }
        let (from_table, from_search) = table_and_rpath_winners(&image, &items, entry.needed, origin, fs);
        if from_table != from_search {
            let show = |p: &Option<Vec<u8>>| p.as_deref().map_or("nothing".to_string(), text);
            problems.push(format!(
                "{name}: the table no longer wins: it opens {}, the search finds {}",
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
        let (_, from_search) = table_and_rpath_winners(&image, &[], needed, origin, fs);
        if let Some(found) = from_search {
            problems.push(format!("{}: no entry, but the search finds {}", text(needed), text(&found)));
        }
    }
    Ok(problems)
}
