//! `stormless install --root DIR` and `stormless uninstall --root DIR`: put a release's
//! `ld-musl-<m>.so.1` in place of a musl root's own, and take it out again (docs/deploy.md).
//!
//! The loader is the one file whose loss stops every program of the root, so every step leaves
//! the root's `/lib/ld-musl-<m>.so.1` whole — the original or ours, never missing or partial —
//! even when the process is killed (tests/tests/install.rs kills it at every system call):
//!
//! 1. both loaders are identified from their bytes (`identify.rs`: nothing is executed, the
//!    root may be another machine's) and must agree on architecture and musl version;
//! 2. the original is copied to `<file>.stormless-orig` beside the real file (a symbolic link
//!    such as Void's `/lib/ld-musl-x86_64.so.1 -> libc.so` is followed inside the root), through
//!    a temporary file, flushed and renamed ([`replace::write_copy_like`]);
//! 3. the real file is replaced by ours the same way ([`replace::replace_file`]), keeping its
//!    mode, owner and extended attributes.
//!
//! `uninstall` renames the kept original back over it (byte for byte), then removes the copy.
//! A run killed between steps is finished by the next: each command first looks at what is
//! there. Temporary files of a killed run (`*.stormless-tmp-<pid>`) are removed by the next.
mod identify;
mod root_path;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub use identify::{identify, MuslLoader};

use crate::replace::{self, HardLinks};

/// The suffix of the kept original, beside the real file.
pub const ORIGINAL_SUFFIX: &str = ".stormless-orig";

/// Replace DIR's musl dynamic linker (`/lib/ld-musl-<m>.so.1`) by this release's, after checking
/// from both files' bytes that they are for the same architecture and musl version. The original
/// is kept beside it as `<file>.stormless-orig`; `stormless uninstall` puts it back.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// The root of the musl system (`/` for this one).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Say what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The loader to install [default: this release's `lib/ld-musl-<m>.so.1`, beside `bin/`].
    #[arg(long, value_name = "FILE")]
    loader: Option<PathBuf>,
}

/// Put back the musl dynamic linker `stormless install` kept in DIR, byte for byte.
#[derive(clap::Args)]
pub struct UninstallArgs {
    /// The root of the musl system (`/` for this one).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Say what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run_install(args: &InstallArgs) -> bool {
    report(install(args))
}

pub fn run_uninstall(args: &UninstallArgs) -> bool {
    report(uninstall(args))
}

fn report(result: Result<()>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            eprintln!("stormless: {e:#}");
            false
        }
    }
}

/// The root's loader: the name programs use and the file it leads to.
struct RootLoader {
    root: PathBuf,
    /// `/lib/ld-musl-<m>.so.1`, as the root's programs name it.
    name: String,
    /// The regular file behind it, on this machine.
    real: PathBuf,
    /// `<real>.stormless-orig`.
    kept: PathBuf,
}

impl RootLoader {
    fn find(root: &Path, file_name: &str) -> Result<RootLoader> {
        if !root.is_dir() {
            bail!("--root {}: not a directory", root.display());
        }
        let name = format!("/lib/{file_name}");
        let real = root_path::resolve(root, Path::new(&name))?;
        if !real.exists() {
            let others = other_loaders(root);
            let why = if others.is_empty() {
                "no musl dynamic linker at all: not a musl root".to_string()
            } else {
                format!("it has {}: another architecture's", others.join(", "))
            };
            bail!("{} has no {name} ({why})", root.display());
        }
        let kept = append(&real, ORIGINAL_SUFFIX);
        Ok(RootLoader { root: root.to_path_buf(), name, real, kept })
    }

    /// `/lib/ld-musl-x86_64.so.1` or `/lib/ld-musl-x86_64.so.1 (/usr/lib/libc.so)`.
    fn shown(&self) -> String {
        let real = root_path::inside(&self.root, &self.real);
        if real == self.name {
            format!("{}{}", self.root.display(), self.name)
        } else {
            format!("{}{} ({real})", self.root.display(), self.name)
        }
    }

    fn read(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.real).with_context(|| format!("cannot read {}", self.real.display()))
    }

    fn read_kept(&self) -> Result<Option<Vec<u8>>> {
        match std::fs::read(&self.kept) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.kept.display())),
        }
    }

    /// Remove temporary files a killed run left beside the loader and its copy.
    fn remove_stale_temporaries(&self) {
        let Some(dir) = self.real.parent() else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let prefixes = [replace::temporary_prefix(&self.real), replace::temporary_prefix(&self.kept)];
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = prefixes.iter().find_map(|p| name.strip_prefix(p.as_str())) else { continue };
            if pid.parse::<i32>().is_ok_and(|pid| !process_alive(pid)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid == std::process::id() as i32
        || unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

fn append(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// The `/lib/ld-musl-*.so.1` names the root has.
fn other_loaders(root: &Path) -> Vec<String> {
    let Ok(lib) = root_path::resolve(root, Path::new("/lib")) else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(lib) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ld-musl-") && n.ends_with(".so.1"))
        .map(|n| format!("/lib/{n}"))
        .collect();
    names.sort();
    names
}

/// This release's loader: the one `lib/ld-musl-*.so.1` beside the running program's `bin/`.
fn release_loader() -> Result<PathBuf> {
    let exe = std::env::current_exe().and_then(|e| e.canonicalize()).context("cannot find the running program")?;
    let lib = exe.parent().and_then(Path::parent).map(|p| p.join("lib")).context("the program is not in a bin/")?;
    let found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .with_context(|| {
            format!("{} has no lib/ beside its bin/ (not run from a release? pass --loader FILE)", exe.display())
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ld-musl-")))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!("expected one ld-musl-*.so.1 in {}, found {} (pass --loader FILE)", lib.display(), found.len()),
    }
}

fn install(args: &InstallArgs) -> Result<()> {
    let release_path = match &args.loader {
        Some(path) => path.clone(),
        None => release_loader()?,
    };
    let ours = std::fs::read(&release_path).with_context(|| format!("cannot read {}", release_path.display()))?;
    let release = identify(&ours).with_context(|| format!("{} is not a loader to install", release_path.display()))?;
    let target = RootLoader::find(&args.root, &release.file_name())?;
    let original = target.read()?;
    let kept = target.read_kept()?;
    if original == ours {
        match kept {
            Some(_) => println!(
                "{}: already this release's loader; the original is kept in {}",
                target.shown(),
                target.kept.display()
            ),
            None => println!(
                "{}: already this release's loader (no original kept: it was not put there by install)",
                target.shown()
            ),
        }
        next_step(&args.root);
        return Ok(());
    }
    let found =
        identify(&original).with_context(|| format!("refusing: {} is not musl's dynamic linker", target.shown()))?;
    if found.ldso_arch != release.ldso_arch || found.version != release.version {
        bail!(
            "refusing: {} is {}, this release's loader is {}; the root is unchanged",
            target.shown(),
            found.describe(),
            release.describe()
        );
    }
    // A rename gives the name a new file: other hard links would keep musl's own loader.
    let links = std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&target.real)?);
    if links > 1 {
        bail!(
            "refusing: {} has {links} hard links, which would keep the old loader; make the other names \
             symbolic links first; the root is unchanged",
            target.shown()
        );
    }
    match &kept {
        // Another stormless release's loader may be replaced; the original stays kept. Anything
        // else changed the file since it was kept (a package upgrade): which is right is the
        // user's call.
        Some(kept_bytes) if *kept_bytes != original && !found.stormless => bail!(
            "refusing: {} changed since its original was kept in {} (a package upgrade?): check \
             which one is right, remove {} and run install again; the root is unchanged",
            target.shown(),
            target.kept.display(),
            target.kept.display()
        ),
        None if found.stormless => bail!(
            "refusing: {} is already a stormless loader (another release) and no original is kept in {}",
            target.shown(),
            target.kept.display()
        ),
        _ => {}
    }
    if args.dry_run {
        if kept.is_none() {
            println!("would keep the original ({}) in {}", found.describe(), target.kept.display());
        }
        println!("would replace {} by {} ({})", target.shown(), release_path.display(), release.describe());
        return Ok(());
    }
    target.remove_stale_temporaries();
    if kept.is_none() {
        replace::write_copy_like(&target.kept, &original, &target.real)
            .with_context(|| format!("cannot keep the original in {}", target.kept.display()))?;
    }
    replace::replace_file(&target.real, &ours, HardLinks::Refuse)
        .with_context(|| format!("cannot replace {}", target.shown()))?;
    if target.read()? != ours {
        bail!("{} does not read back as this release's loader", target.shown());
    }
    println!(
        "installed: {} is now {} (the original, {}, is kept in {})",
        target.shown(),
        release.describe(),
        found.describe(),
        target.kept.display()
    );
    next_step(&args.root);
    Ok(())
}

fn next_step(root: &Path) {
    let usr = root.join("usr");
    println!(
        "next: stormless embed --root {} {}   (or the store inside the root, e.g. {}/nix/store)",
        root.display(),
        usr.display(),
        root.display()
    );
}

fn uninstall(args: &UninstallArgs) -> Result<()> {
    // The root's own musl loader: whichever ld-musl-<m>.so.1 it has.
    let names = other_loaders(&args.root);
    let [name] = names.as_slice() else {
        if !args.root.is_dir() {
            bail!("--root {}: not a directory", args.root.display());
        }
        bail!(
            "{} has {} musl dynamic linkers in /lib ({}): expected one",
            args.root.display(),
            names.len(),
            names.join(", ")
        );
    };
    let file_name = name.trim_start_matches("/lib/");
    let target = RootLoader::find(&args.root, file_name)?;
    let current = target.read()?;
    let Some(kept) = target.read_kept()? else {
        if identify(&current).is_ok_and(|l| l.stormless) {
            bail!(
                "{} is a stormless loader but no original is kept in {}: nothing to restore",
                target.shown(),
                target.kept.display()
            );
        }
        println!("{}: not installed by stormless (no {}): nothing to do", target.shown(), target.kept.display());
        return Ok(());
    };
    let original = identify(&kept)
        .with_context(|| format!("refusing: the kept {} is not musl's dynamic linker", target.kept.display()))?;
    if original.file_name() != file_name {
        bail!("refusing: the kept {} is {}, not for {}", target.kept.display(), original.describe(), target.name);
    }
    if current != kept && !identify(&current).is_ok_and(|l| l.stormless) {
        bail!(
            "refusing: {} is no longer a stormless loader (a package upgrade?), so the original kept in {} is not \
             put over it; remove {} if {} is right",
            target.shown(),
            target.kept.display(),
            target.kept.display(),
            target.name
        );
    }
    if args.dry_run {
        if current != kept {
            println!("would put back {} ({}) as {}", target.kept.display(), original.describe(), target.shown());
        }
        println!("would remove {}", target.kept.display());
        return Ok(());
    }
    target.remove_stale_temporaries();
    if current != kept {
        replace::replace_file(&target.real, &kept, HardLinks::Refuse)
            .with_context(|| format!("cannot put the original back as {}", target.shown()))?;
        if target.read()? != kept {
            bail!("{} does not read back as the kept original", target.shown());
        }
    }
    std::fs::remove_file(&target.kept).with_context(|| format!("cannot remove {}", target.kept.display()))?;
    replace::sync_parent(&target.kept);
    println!("uninstalled: {} is the original again ({})", target.shown(), original.describe());
    Ok(())
}
