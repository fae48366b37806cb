//! Secure mode and the `LD_LIBRARY_PATH` decision, as `__dls3` makes them.

/// Whether the process runs in secure mode, computed as `__dls3` does
/// (1.2.3 dynlink.c:1750–1751, 1.2.5 :1819–1820):
/// `(aux[0]&0x7800)!=0x7800 || aux[AT_UID]!=aux[AT_EUID] || aux[AT_GID]!=aux[AT_EGID] || aux[AT_SECURE]`.
/// `aux[0]&0x7800` is "AT_UID, AT_EUID, AT_GID and AT_EGID were all present", so a missing id
/// (`None`) means secure; an absent AT_SECURE counts as 0.
pub fn secure_mode(
    uid: Option<usize>,
    euid: Option<usize>,
    gid: Option<usize>,
    egid: Option<usize>,
    at_secure: Option<usize>,
) -> bool {
    match (uid, euid, gid, egid) {
        (Some(uid), Some(euid), Some(gid), Some(egid)) => uid != euid || gid != egid || at_secure.unwrap_or(0) != 0,
        _ => true,
    }
}

/// The `LD_LIBRARY_PATH` the search uses (musl's `env_path`), decided by `__dls3`:
/// the environment variable only outside secure mode (1.2.3 dynlink.c:1754–1756), then, when the
/// loader runs as a command, `--library-path DIRS` / `--library-path=DIRS` replaces it whatever
/// the mode (1.2.3 dynlink.c:1803–1806). An empty value is still a (useless) path list, which
/// searches nothing, like an absent one.
pub fn effective_ld_library_path<'a>(
    secure: bool,
    environment: Option<&'a [u8]>,
    library_path_option: Option<&'a [u8]>,
) -> Option<&'a [u8]> {
    library_path_option.or(if secure { None } else { environment })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dynlink.c:1750: each clause of libc.secure.
    #[test]
    fn secure_mode_clauses() {
        assert!(!secure_mode(Some(1000), Some(1000), Some(100), Some(100), Some(0)));
        assert!(!secure_mode(Some(1000), Some(1000), Some(100), Some(100), None));
        assert!(secure_mode(Some(1000), Some(0), Some(100), Some(100), Some(0)));
        assert!(secure_mode(Some(1000), Some(1000), Some(100), Some(0), Some(0)));
        assert!(secure_mode(Some(1000), Some(1000), Some(100), Some(100), Some(1)));
        assert!(secure_mode(None, Some(1000), Some(100), Some(100), Some(0)));
        assert!(secure_mode(Some(0), Some(0), Some(0), None, Some(0)));
    }

    /// dynlink.c:1754–1756 and :1803–1806.
    #[test]
    fn ld_library_path_sources() {
        assert_eq!(effective_ld_library_path(false, Some(b"/e"), None), Some(&b"/e"[..]));
        assert_eq!(effective_ld_library_path(true, Some(b"/e"), None), None);
        assert_eq!(effective_ld_library_path(false, Some(b"/e"), Some(b"/o")), Some(&b"/o"[..]));
        assert_eq!(effective_ld_library_path(true, Some(b"/e"), Some(b"/o")), Some(&b"/o"[..]));
        assert_eq!(effective_ld_library_path(false, None, None), None);
    }
}
