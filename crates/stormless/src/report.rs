//! How the commands talk: `stormless: <file>: <reason>` on stderr for every failure, and the
//! rendering of tables as text or JSON.

use std::path::Path;

use serde::Serialize;
use stormless_ldcache::{Item, Table};

/// Report a failure for `path`, with the whole cause chain.
pub fn failure(path: &Path, error: &anyhow::Error) {
    eprintln!("stormless: {}: {error:#}", path.display());
}

/// One item as text: `=file` or `?dir`.
pub fn item_text(item: Item<'_>) -> String {
    format!("{}{}", item.prefix() as char, String::from_utf8_lossy(item.path()))
}

/// The JSON form of a table (documented in docs/tables.md): names and paths as strings, bytes
/// that are not UTF-8 replaced by U+FFFD (the decoder accepts only UTF-8, so this happens only
/// in tables it rejects, which are never rendered).
#[derive(Serialize)]
pub struct TableJson {
    pub descriptor_size: usize,
    pub entries: Vec<EntryJson>,
}

#[derive(Serialize)]
pub struct EntryJson {
    pub needed: String,
    pub items: Vec<ItemJson>,
}

#[derive(Serialize)]
pub struct ItemJson {
    /// `file` (`=`: open exactly this file) or `dir` (`?`: probe this directory).
    pub kind: &'static str,
    pub path: String,
}

impl TableJson {
    pub fn new(table: &Table<'_>, size: usize) -> TableJson {
        let entries = table
            .entries()
            .map(|e| EntryJson {
                needed: String::from_utf8_lossy(e.needed).into_owned(),
                items: e
                    .items
                    .map(|i| ItemJson { kind: i.kind_name(), path: String::from_utf8_lossy(i.path()).into_owned() })
                    .collect(),
            })
            .collect();
        TableJson { descriptor_size: size, entries }
    }
}

/// A table as indented text, one entry per line followed by its items.
pub fn table_text(table: &Table<'_>) -> String {
    let mut out = String::new();
    for entry in table.entries() {
        out.push_str(&format!("  {}\n", String::from_utf8_lossy(entry.needed)));
        let mut empty = true;
        for item in entry.items {
            empty = false;
            out.push_str(&format!("    {}\n", item_text(item)));
        }
        if empty {
            out.push_str("    (no items)\n");
        }
    }
    out
}
