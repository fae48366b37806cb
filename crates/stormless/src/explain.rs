//! `stormless explain FILE`: how the loader would resolve the whole closure, without running it.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::elf_image::ElfImage;
use crate::resolution::{FileSystem, How, Resolution, Simulation};
use crate::{report, RootArg};

/// Simulate the start of FILE as the stormless loader runs it: every DT_NEEDED of every loaded
/// object, breadth first as musl loads them, with the name, who asked, the path opened and how
/// (table, LD_LIBRARY_PATH, rpath of an object, system path, already loaded, the loader itself),
/// and the failed opens with the tables and without them.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    root: RootArg,
    /// LD_LIBRARY_PATH to assume (default: the variable in this environment).
    #[arg(long, value_name = "PATHS")]
    library_path: Option<String>,
    /// Print JSON instead of text (schema in docs/tables.md).
    #[arg(long)]
    json: bool,
    file: PathBuf,
}

#[derive(Serialize)]
struct ExplainJson {
    file: String,
    interpreter: Option<String>,
    resolutions: Vec<Resolution>,
    failed_probes_with_tables: usize,
    failed_probes_without_tables: usize,
}

pub fn run(args: &Args) -> bool {
    match explain(args) {
        Ok(ok) => ok,
        Err(e) => {
            report::failure(&args.file, &e);
            false
        }
    }
}

fn how_text(how: &How) -> String {
    match how {
        How::LoaderItself => "the loader itself".into(),
        How::AlreadyLoaded => "already loaded".into(),
        How::Pathname => "pathname".into(),
        How::LdLibraryPath => "LD_LIBRARY_PATH".into(),
        How::Table => "table".into(),
        How::Rpath { object } => format!("rpath of {object}"),
        How::SysPath => "system path".into(),
        How::SameFile { loaded } => format!("same file as {loaded}"),
        How::NotFound => "NOT FOUND".into(),
    }
}

fn explain(args: &Args) -> Result<bool> {
    let fs = FileSystem::new(args.root.root.clone());
    let image = ElfImage::read_file(&args.file)?;
    let interpreter = image.interp.as_deref().map(crate::elf_image::text);
    let ld_library_path = match &args.library_path {
        Some(p) => Some(p.as_bytes().to_vec()),
        None => std::env::var_os("LD_LIBRARY_PATH").map(|p| p.as_bytes().to_vec()),
    };
    let simulation = Simulation { fs: &fs, ld_library_path, exe_path: fs.runtime_path(&args.file) };
    let resolutions = simulation.run(image, &args.file);
    let with: usize = resolutions.iter().map(|r| r.failed_probes_with_tables).sum();
    let without: usize = resolutions.iter().map(|r| r.failed_probes_without_tables).sum();
    let all_found = resolutions.iter().all(|r| r.how != How::NotFound);
    if args.json {
        let json = ExplainJson {
            file: args.file.display().to_string(),
            interpreter,
            resolutions,
            failed_probes_with_tables: with,
            failed_probes_without_tables: without,
        };
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(all_found);
    }
    println!("{} (interpreter {})", args.file.display(), interpreter.as_deref().unwrap_or("none"));
    for r in &resolutions {
        println!(
            "{} (needed by {}) => {} [{}] failed probes: {} with tables, {} without",
            r.name,
            r.requester,
            r.path.as_deref().unwrap_or("-"),
            how_text(&r.how),
            r.failed_probes_with_tables,
            r.failed_probes_without_tables
        );
    }
    println!(
        "total: {} names, {} failed probes with tables, {} without, {} saved",
        resolutions.len(),
        with,
        without,
        without.saturating_sub(with)
    );
    Ok(all_found)
}
