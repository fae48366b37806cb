//! `stormless show FILE`: the table a file carries.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use stormless_ldcache::Table;

use crate::elf_image::ElfImage;
use crate::report::{self, TableJson};

/// Print the resolution table FILE carries. A file without one is reported as such (exit 0);
/// a table the loader would reject is an error (exit 1) naming the reason.
#[derive(clap::Args)]
pub struct Args {
    /// Print JSON instead of text (schema in docs/tables.md).
    #[arg(long)]
    json: bool,
    file: PathBuf,
}

#[derive(Serialize)]
struct ShowJson {
    file: String,
    arch: String,
    class: &'static str,
    /// `null` when the file carries no table.
    table: Option<TableJson>,
}

pub fn run(args: &Args) -> bool {
    match show(args) {
        Ok(()) => true,
        Err(e) => {
            report::failure(&args.file, &e);
            false
        }
    }
}

fn show(args: &Args) -> Result<()> {
    let image = ElfImage::read_file(&args.file)?;
    let note = image.ldcache_note();
    let table = match note {
        Some(note) => Some(Table::parse(&note.desc).map_err(|e| anyhow::anyhow!("malformed resolution table: {e}"))?),
        None => None,
    };
    if args.json {
        let json = ShowJson {
            file: args.file.display().to_string(),
            arch: image.arch.to_string(),
            class: image.class_name(),
            table: table.as_ref().zip(note).map(|(t, n)| TableJson::new(t, n.desc.len())),
        };
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!("{}: {} {}", args.file.display(), image.arch, image.class_name());
    match (table, note) {
        (Some(table), Some(note)) => {
            let count = table.entries().count();
            println!("resolution table: {count} entries, {} bytes", note.desc.len());
            print!("{}", report::table_text(&table));
        }
        _ if !image.notes.is_empty() => {
            println!("no resolution table the loader reads (a resolution note lies outside every PT_LOAD's file data)")
        }
        _ => println!("no resolution table"),
    }
    Ok(())
}
