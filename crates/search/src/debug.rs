//! `LD_DEBUG`: which diagnostics the loader prints (design.md §6). musl has none; the names
//! follow glibc's, so users type what they already know: `libs` (each resolution step and
//! probe), `statistics` (counts and time at the end of startup), `all`. Separators are commas,
//! colons and spaces, as glibc accepts. Ignored in secure mode, like every `LD_` variable.

/// What `LD_DEBUG` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugFlags {
    pub libs: bool,
    pub statistics: bool,
    /// A word that named nothing: the loader says so once, as glibc does.
    pub unknown: bool,
}

impl DebugFlags {
    pub const NONE: DebugFlags = DebugFlags { libs: false, statistics: false, unknown: false };

    /// Parse the variable's value (`None` when unset or in secure mode: nothing).
    pub fn parse(value: Option<&[u8]>, secure: bool) -> DebugFlags {
        let mut flags = DebugFlags::NONE;
        let Some(value) = value else { return flags };
        if secure {
            return flags;
        }
        for word in value.split(|b| matches!(b, b',' | b':' | b' ')).filter(|w| !w.is_empty()) {
            match word {
                b"libs" => flags.libs = true,
                b"statistics" => flags.statistics = true,
                b"all" => {
                    flags.libs = true;
                    flags.statistics = true;
                }
                _ => flags.unknown = true,
            }
        }
        flags
    }

    pub fn any(&self) -> bool {
        self.libs || self.statistics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_separators_and_secure_mode() {
        let p = |s: &str| DebugFlags::parse(Some(s.as_bytes()), false);
        assert_eq!(p("libs"), DebugFlags { libs: true, ..DebugFlags::NONE });
        assert_eq!(p("statistics,libs"), DebugFlags { libs: true, statistics: true, unknown: false });
        assert_eq!(p("libs:statistics"), p("libs statistics"));
        assert_eq!(p("all"), DebugFlags { libs: true, statistics: true, unknown: false });
        assert_eq!(p("bindings"), DebugFlags { unknown: true, ..DebugFlags::NONE });
        assert_eq!(p(""), DebugFlags::NONE);
        assert!(!p(",,").any());
        assert_eq!(DebugFlags::parse(Some(b"all"), true), DebugFlags::NONE);
        assert_eq!(DebugFlags::parse(None, false), DebugFlags::NONE);
    }
}
