//! musl's library search rules (`ldso/dynlink.c`) as pure logic, shared by the stormless
//! loader, which performs the opens, and the CLI (`stormless explain`), which predicts them.
//!
//! Nothing here touches the file system: inputs are the byte strings the loader has at hand
//! (names, dynamic-section strings, `readlink` results, the path file's bytes) and outputs are
//! the decisions musl would take. All byte strings are C strings without their NUL; paths are
//! not UTF-8. Line numbers below are musl 1.2.3's `ldso/dynlink.c` (1.2.5 in parentheses).
//!
//! | here | mirrors in dynlink.c |
//! |------|----------------------|
//! | [`classify`], [`libc_alias`], [`fits_search`] | the start of `load_library` (991): empty name → EINVAL, the `reserved` libc names and `ldso.name` → the loader itself, `/` → open as is, the `NAME_MAX` check (1003–1053; 1055–1117) |
//! | [`PathList`], [`join`] | `path_open` (809–833; 873–897) |
//! | [`search_continues_after_open_error`] | `path_open`'s errno switch |
//! | [`effective_rpath`] | `decode_dyn`'s DT_RPATH/DT_RUNPATH (920–923; 984–987) |
//! | [`expand_rpath`], [`Origin`], [`needs_exe_link`] | `fixup_rpath` (835–910; 899–974) |
//! | [`sys_path_file`], [`sys_path`] | the `sys_path` block of `load_library` (1062–1099; 1126–1163) |
//! | [`secure_mode`], [`effective_ld_library_path`] | `__dls3` (1750–1756, 1803–1806; 1819–1825, 1872–1878) |
//! | [`table_item_path_into`] | nothing: step 3 of design.md §5, the resolution table, between `env_path` and the rpaths |
//! | [`search`], [`SearchEnv`] | `load_library` from the name to the opened file: the checks before a search, its loop over `env_path`, the table, `p->needed_by`, `sys_path` (1003–1100; 1067–1164), and `dlopen`'s `load_library(file, head)` (2089; 2165) |
//!
//! ## musl 1.2.3 and 1.2.5
//!
//! The search paths are the same in both versions. The one textual difference in these
//! functions is in `fixup_rpath`: when `readlink("/proc/self/exe")` fails with ENOENT, ENOTDIR
//! or EACCES, 1.2.3 `break`s out of the switch and returns 0 through `if (l >= buf_size)`
//! (`l` is a `size_t` holding -1), while 1.2.5 returns 0 directly. Both leave the rpath unset
//! and go on: the behaviour is identical. (1.2.5's other `dynlink.c` changes — RELR, the LFS64
//! symbol aliases, page size from auxv, DT_DEBUG_INDIRECT_REL, the deferred error handler — do
//! not touch the search.)
//!
//! ## What is left to the loader and to the simulation
//!
//! What a [`SearchEnv`] does: opening a candidate, finding an object by its short name, the
//! memoisation musl does (`p->rpath` once set, `sys_path` once computed); and what follows an
//! open: the device/inode deduplication, mapping, the "a file defining `__libc_start_main` and
//! `stdin` is replaced by `libc.so`" check.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod debug;
pub mod driver;
pub mod errno;
pub mod name;
pub mod pathlist;
pub mod rpath;
pub mod secure;
pub mod syspath;
pub mod table;

pub use debug::DebugFlags;
pub use driver::{search, Event, Outcome, SearchEnv, SearchStops, Source};
pub use errno::{exe_link_error_is_tolerated, search_continues_after_open_error};
pub use name::{classify, classify_with, fits_search, libc_alias, LibcAlias, NameKind};
pub use pathlist::{is_separator, join, join_into, PathList};
pub use rpath::{
    effective_rpath, expand_rpath, needs_exe_link, origin_directory, origin_tokens, Expanded, IgnoredBecause, Origin,
    OriginTokens, MAX_ORIGIN_TOKENS,
};
pub use secure::{effective_ld_library_path, secure_mode};
pub use syspath::{sys_path, sys_path_file, SysPathFile, DEFAULT_SYS_PATH};
pub use table::{item_needs_exe_link, table_item_path_into, SkippedBecause};

/// musl's `NAME_MAX`: the longest name `load_library` searches for.
pub const NAME_MAX: usize = 255;
/// musl's `PATH_MAX`: bounds the path-file prefix and the `$ORIGIN` token count.
pub const PATH_MAX: usize = 4096;
/// `sizeof buf` in `load_library`, `char buf[2*NAME_MAX+2]`: the buffer every candidate
/// pathname and the `/proc/self/exe` target must fit in, NUL included.
pub const LOAD_LIBRARY_BUF_SIZE: usize = 2 * NAME_MAX + 2;
