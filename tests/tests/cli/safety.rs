//! `safety`: what `stormless embed` must never do to a file (issue 15, findings 1 and 2), on
//! every arch:
//!
//! - a program without section headers (`e_shoff` = 0) is rewritten from its program headers
//!   and still runs identically under both loaders (armv7: its `.interp` alone has room for the
//!   two new 32-byte headers), or is refused and left as it was (x86_64, aarch64: 112 bytes are
//!   needed, and what follows `.interp` is known only by the dynamic section) — never written
//!   damaged, as it once was (the two new program headers overwrote `.interp`); a shared
//!   library without section headers is refused;
//! - extended attributes survive: a file capability (`security.capability`), a POSIX ACL
//!   (`system.posix_acl_access`) and a `user.*` attribute;
//! - a file with two hard links is refused (naming the count) and both names keep their bytes;
//!   `--break-hard-links` rewrites the one name and leaves the other;
//! - a directory walk never follows a symbolic link: a file outside the tree, reached only
//!   through a link inside it, is not touched;
//! - program headers whose offset + size wraps, or that lie past the end of the file: a clear
//!   error naming the file, exit 1, no panic.
use super::*;

/// `e_shoff`, `e_shnum` and `e_shstrndx` zeroed: the file as `sstrip` leaves it.
fn without_section_headers(elf: &[u8]) -> Vec<u8> {
    let mut out = elf.to_vec();
    let is_64 = elf[4] == 2;
    let (shoff, shoff_len, shnum) = if is_64 { (0x28, 8, 0x3c) } else { (0x20, 4, 0x30) };
    out[shoff..shoff + shoff_len].fill(0);
    out[shnum..shnum + 4].fill(0); // e_shnum and e_shstrndx
    out
}

/// The value of `security.capability` for `cap_net_raw=ep`: VFS_CAP_REVISION_2 with the
/// effective flag, CAP_NET_RAW (13) permitted.
fn cap_net_raw() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes());
    v.extend_from_slice(&(1u32 << 13).to_le_bytes()); // permitted, low word
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable, low word
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

/// `system.posix_acl_access` for `user::rwx user:1234:r-x group::r-x mask::r-x other::r-x`
/// (mode 0755 plus a named user).
fn acl_with_user() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec(); // POSIX_ACL_XATTR_VERSION
    for (tag, perm, id) in
        [(0x01u16, 7u16, u32::MAX), (0x02, 5, 1234), (0x04, 5, u32::MAX), (0x10, 5, u32::MAX), (0x20, 5, u32::MAX)]
    {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// A copy of `elf` whose `PT_GNU_STACK` claims an offset and size whose sum wraps (64-bit) or
/// lies past the end of the file (32-bit).
fn wrapping_note(elf: &[u8]) -> Result<Vec<u8>> {
    let file = object::File::parse(elf)?;
    let mut out = elf.to_vec();
    let is_64 = file.is_64();
    let (phoff, entsize) = if is_64 {
        (u64::from_le_bytes(elf[0x20..0x28].try_into()?) as usize, 56)
    } else {
        (u32::from_le_bytes(elf[0x1c..0x20].try_into()?) as usize, 32)
    };
    let phnum = u16::from_le_bytes(elf[if is_64 { 0x38..0x3a } else { 0x2c..0x2e }].try_into()?) as usize;
    let note = (0..phnum)
        .map(|i| phoff + i * entsize)
        .find(|&at| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 0x6474_e551)
        .context("no PT_GNU_STACK")?;
    if is_64 {
        out[note + 8..note + 16].copy_from_slice(&(u64::MAX - 8).to_le_bytes()); // p_offset
        out[note + 32..note + 40].copy_from_slice(&64u64.to_le_bytes()); // p_filesz
    } else {
        out[note + 4..note + 8].copy_from_slice(&(u32::MAX - 8).to_le_bytes());
        out[note + 16..note + 20].copy_from_slice(&64u32.to_le_bytes());
    }
    Ok(out)
}

pub fn safety(version: MuslVersion, arch: Arch) -> Result<()> {
    let dir = scratch(version, arch, "safety")?;
    small_store(version, arch, &dir)?;
    let rpath = format!("-Wl,-rpath,{}/d1:{}/d2", dir.display(), dir.display());
    let prog = dir.join("prog");
    cc(version, arch, &prog, MAIN_AB, &["-L", &format!("{}/d2", dir.display()), "-la", "-lb", &rpath])?;
    let original = std::fs::read(&prog)?;
    let (want, _) = run_both(version, arch, &prog)?;
    ensure!(want.status == 0 && want.stdout == "21\n", "before embedding: {want:?}");
    let mut problems = Vec::new();
    let write_copy = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(path)
    };

    // No section headers: rewritten from the program headers, and it runs.
    let bare = write_copy("prog.noshdr", &without_section_headers(&original))?;
    let (bare_want, _) = run_both(version, arch, &bare)?;
    ensure!(bare_want == want, "the copy without section headers does not run: {bare_want:?}");
    let out = stormless(&["embed", path_str(&bare)])?;
    if !out.status.success() {
        let untouched = std::fs::read(&bare)? == without_section_headers(&original);
        if !stderr(&out).contains("cannot rewrite safely: the file has no section headers") || !untouched {
            problems.push(format!("embed without section headers: {} (untouched: {untouched})", stderr(&out)));
        }
    } else {
        let (ours, theirs) = run_both(version, arch, &bare)?;
        if ours != want || theirs != want {
            problems.push(format!("without section headers, after embed: ours {ours:?}, reference {theirs:?}"));
        }
        let show = stormless(&["show", path_str(&bare)])?;
        if !stdout(&show).contains("=") {
            problems.push(format!("without section headers, show: {}", stdout(&show)));
        }
    }
    // A library without section headers: what follows its program headers is not accounted
    // for by segments (its dynamic symbols and hash table are), so it is refused, untouched.
    let user = dir.join("libuser.so");
    let user_rpath = format!("-Wl,-rpath,{}/d1", dir.display());
    let d1 = dir.join("d1");
    let user_args = ["-shared", "-fPIC", "-L", path_str(&d1), "-la", &user_rpath];
    cc(version, arch, &user, "int a(void); int u(void){return a();}", &user_args)?;
    let lib_bytes = without_section_headers(&std::fs::read(&user)?);
    let bare_lib = write_copy("libuser.noshdr.so", &lib_bytes)?;
    let out = stormless(&["embed", path_str(&bare_lib)])?;
    if out.status.success() {
        // Acceptable only if the result still loads; but then the refusal case is untested.
        problems.push(format!("a library without section headers was rewritten: {}", stdout(&out)));
    } else if !stderr(&out).contains("cannot rewrite safely") || std::fs::read(&bare_lib)? != lib_bytes {
        problems.push(format!(
            "library without section headers: {} (file changed: {})",
            stderr(&out),
            std::fs::read(&bare_lib)? != lib_bytes
        ));
    }

    // Extended attributes survive.
    let capable = write_copy("prog.caps", &original)?;
    let attributes: [(&str, Vec<u8>); 3] = [
        ("security.capability", cap_net_raw()),
        ("system.posix_acl_access", acl_with_user()),
        ("user.stormless.test", b"kept".to_vec()),
    ];
    for (name, value) in &attributes {
        xattr::set(&capable, name, value).with_context(|| format!("cannot set {name} on {}", capable.display()))?;
    }
    let before: Vec<Option<Vec<u8>>> = attributes.iter().map(|(n, _)| xattr::get(&capable, n).ok().flatten()).collect();
    let out = stormless(&["embed", path_str(&capable)])?;
    if !out.status.success() || descriptor(&capable)?.is_none() {
        problems.push(format!("embed with attributes: {}", stderr(&out)));
    }
    for ((name, _), was) in attributes.iter().zip(&before) {
        let now = xattr::get(&capable, name).ok().flatten();
        if now.is_none() || &now != was {
            problems.push(format!("{name} was {was:?}, is {now:?} after embed"));
        }
    }

    // Hard links: refused, then broken on request.
    let linked = write_copy("prog.linked", &original)?;
    let other = dir.join("prog.other-name");
    std::fs::hard_link(&linked, &other)?;
    for dry in [true, false] {
        let mut args = vec!["embed"];
        if dry {
            args.push("--dry-run");
        }
        args.push(path_str(&linked));
        let out = stormless(&args)?;
        if out.status.success() || !stderr(&out).contains("has 2 hard links") {
            problems.push(format!("hard links (dry run {dry}): status {}, {}", out.status, stderr(&out)));
        }
    }
    if std::fs::read(&linked)? != original || std::fs::metadata(&linked)?.nlink() != 2 {
        problems.push("a refused hard-linked file changed".into());
    }
    let out = stormless(&["embed", "--break-hard-links", path_str(&linked)])?;
    if !out.status.success()
        || descriptor(&linked)?.is_none()
        || std::fs::read(&other)? != original
        || std::fs::metadata(&other)?.nlink() != 1
    {
        problems.push(format!("--break-hard-links: {}", stderr(&out)));
    }

    // A walk does not follow symbolic links out of the tree.
    let outside = write_copy("outside", &original)?;
    let tree = dir.join("walked");
    std::fs::create_dir_all(&tree)?;
    std::os::unix::fs::symlink(&outside, tree.join("link-to-outside"))?;
    std::os::unix::fs::symlink(&dir, tree.join("link-to-parent"))?;
    let out = stormless(&["embed", path_str(&tree)])?;
    if !out.status.success() || !stderr(&out).contains("2 (symbolic links)") || std::fs::read(&outside)? != original {
        problems.push(format!("walk over symbolic links: {}{}", stdout(&out), stderr(&out)));
    }

    // Hostile program headers: an error, never a panic.
    let hostile = write_copy("prog.wrapping", &wrapping_note(&original)?)?;
    let hostile_bytes = std::fs::read(&hostile)?;
    for command in ["embed", "show", "check", "explain"] {
        let out = stormless(&[command, path_str(&hostile)])?;
        let message = stderr(&out);
        if out.status.code() != Some(1)
            || message.contains("panicked")
            || !message.starts_with(&format!("stormless: {}: malformed ELF file", hostile.display()))
        {
            problems.push(format!("{command} on wrapping program headers: status {}, {message}", out.status));
        }
    }
    if std::fs::read(&hostile)? != hostile_bytes {
        problems.push("a malformed file was changed".into());
    }
    problems.retain(|p| !p.is_empty());
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("\n"))
    }
}
