//! The zero-copy reader.

use core::fmt;

use crate::cursor::Cursor;
use crate::scan::{field_end, split_field};
use crate::text::is_text;
use crate::{MAX_ITEM_LEN, MAX_NEEDED_LEN};

/// Why a descriptor is not a usable table. Each variant names the first problem found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The descriptor does not end with the terminating empty name (`…\0\0`, or a lone `\0`
    /// for an empty table): truncated or missing terminators.
    Unterminated,
    /// An entry has a name but its path list runs to the end of the descriptor.
    MissingPathList,
    /// A name is longer than [`MAX_NEEDED_LEN`](crate::MAX_NEEDED_LEN).
    NeededTooLong,
    /// An item (or an empty one, as in `a::b`) lacks its `=` or `?` prefix or its path.
    BadItem,
    /// An item's path is longer than [`MAX_ITEM_LEN`](crate::MAX_ITEM_LEN).
    ItemTooLong,
    /// A `=` item names a file by a relative path. Neither patchelf nor `stormless embed`
    /// writes one (a `=` item is a directory of the rpath that existed, joined with the name;
    /// relative and `$ORIGIN` directories become `?` items), and opened as written it would be
    /// looked up from the current directory, even in a setuid program: a table holding one is
    /// not trusted at all.
    RelativeFile,
    /// A byte that cannot be part of a name or path as text: a control character or invalid
    /// UTF-8.
    NotText,
}

impl ParseError {
    pub const fn message(self) -> &'static str {
        match self {
            ParseError::Unterminated => "table not terminated by an empty name",
            ParseError::MissingPathList => "an entry lacks its path list",
            ParseError::NeededTooLong => "a library name longer than NAME_MAX",
            ParseError::BadItem => "a path list item without '=' or '?' or without a path",
            ParseError::ItemTooLong => "a path longer than PATH_MAX",
            ParseError::RelativeFile => "a '=' item whose file is not an absolute path",
            ParseError::NotText => "bytes that are not text",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// One item of a path list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item<'a> {
    /// `=file`: open exactly this file.
    File(&'a [u8]),
    /// `?dir`: open `dir/needed`, as a search of that one directory would. An empty `dir` (what
    /// patchelf writes for an empty RUNPATH entry) is skipped, as musl skips empty entries.
    Dir(&'a [u8]),
}

impl<'a> Item<'a> {
    /// The prefix byte that marks this kind of item.
    pub const fn prefix(&self) -> u8 {
        match self {
            Item::File(_) => b'=',
            Item::Dir(_) => b'?',
        }
    }

    /// What the CLI calls this kind of item in JSON (`show --json`).
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Item::File(_) => "file",
            Item::Dir(_) => "dir",
        }
    }

    /// The file or directory, without the prefix.
    pub const fn path(&self) -> &'a [u8] {
        match self {
            Item::File(p) | Item::Dir(p) => p,
        }
    }

    fn parse(raw: &'a [u8]) -> Result<Item<'a>, ParseError> {
        let (&prefix, path) = raw.split_first().ok_or(ParseError::BadItem)?;
        // patchelf 0.19.3 writes a bare `?` for an empty RUNPATH entry (`a::b`, a trailing `:`);
        // musl's search skips such entries, and so does the loader. An empty `=` names no file.
        if path.is_empty() && prefix != b'?' {
            return Err(ParseError::BadItem);
        }
        if path.len() > MAX_ITEM_LEN {
            return Err(ParseError::ItemTooLong);
        }
        match prefix {
            b'=' if path.first() != Some(&b'/') => Err(ParseError::RelativeFile),
            b'=' => Ok(Item::File(path)),
            b'?' => Ok(Item::Dir(path)),
            _ => Err(ParseError::BadItem),
        }
    }
}

/// A validated table. Building one checks every byte once; reading it afterwards cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table<'a> {
    /// The entries without the final terminating NUL.
    pub(crate) body: &'a [u8],
}

impl<'a> Table<'a> {
    /// Validate a note descriptor. Trailing padding is not part of the descriptor: callers
    /// pass exactly `descsz` bytes.
    pub fn parse(desc: &'a [u8]) -> Result<Table<'a>, ParseError> {
        Table::parse_with_cursor(desc).map(|(table, _)| table)
    }

    /// [`parse`](Self::parse), and the cursor for [`lookup_from`](Self::lookup_from): one that
    /// resumes after each hit when the names are strictly ascending (as patchelf and
    /// `stormless embed` write them), one that always starts from the first entry otherwise.
    pub fn parse_with_cursor(desc: &'a [u8]) -> Result<(Table<'a>, Cursor), ParseError> {
        let body = match desc {
            [body @ .., 0] => body,
            _ => return Err(ParseError::Unterminated),
        };
        // body is `{ needed NUL pathlist NUL }`: empty, or ending with NUL, so every field
        // below finds its NUL.
        if body.last().is_some_and(|&last| last != 0) {
            return Err(ParseError::Unterminated);
        }
        let mut rest = body;
        // The empty name is below every name.
        let mut previous: &[u8] = &[];
        let mut names_ascend = true;
        while !rest.is_empty() {
            let TextField { field: needed, after, .. } = text_field(rest, false)?;
            if needed.is_empty() {
                // An empty name before the end: the terminator came early.
                return Err(ParseError::Unterminated);
            }
            if needed.len() > MAX_NEEDED_LEN {
                return Err(ParseError::NeededTooLong);
            }
            let TextField { field: list, plain: one_item, after } = match after {
                Some(after) if !after.is_empty() => text_field(after, true)?,
                _ => return Err(ParseError::MissingPathList),
            };
            let mut items = (!list.is_empty()).then_some(list);
            while let Some(raw_items) = items {
                let (raw, tail) = if one_item { (raw_items, None) } else { split_field(raw_items, true) };
                Item::parse(raw)?;
                items = tail;
            }
            names_ascend &= previous < needed;
            previous = needed;
            rest = after.unwrap_or_default();
        }
        Ok((Table { body }, Cursor::new(names_ascend)))
    }

    /// A descriptor [`parse`](Self::parse) accepted before, without checking it again (the
    /// loader validates each object's table once, then looks names up in it many times). On
    /// bytes `parse` would reject, lookups give unspecified entries, but never panic.
    pub fn already_validated(desc: &'a [u8]) -> Table<'a> {
        Table { body: desc.split_last().map_or(&[][..], |(_, body)| body) }
    }

    /// The entries in table order.
    pub fn entries(&self) -> Entries<'a> {
        Entries { rest: self.body }
    }

    /// The path list of the first entry for `needed`, if any.
    pub fn lookup(&self, needed: &[u8]) -> Option<Items<'a>> {
        self.entries().find(|e| e.needed == needed).map(|e| e.items)
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

/// A field of the descriptor, checked to be text.
struct TextField<'a> {
    field: &'a [u8],
    /// Printable ASCII without `:`: for a path list, at most one item.
    plain: bool,
    /// What follows the field's NUL.
    after: Option<&'a [u8]>,
}

/// The field that starts `rest` (up to its NUL), checked to be text, where `:` is not plain
/// when `colon_ends`. Printable ASCII, the usual case, is both found and checked in one pass.
fn text_field(rest: &[u8], colon_ends: bool) -> Result<TextField<'_>, ParseError> {
    let run = field_end(rest, colon_ends, true);
    if let (Some(field), Some(0)) = (rest.get(..run), rest.get(run)) {
        return Ok(TextField { field, plain: true, after: rest.get(run + 1..) });
    }
    let (field, after) = split_field(rest, false);
    check_text(field)?;
    Ok(TextField { field, plain: false, after })
}

/// Control characters and invalid UTF-8 are not text. NUL never reaches here.
/// (Printable ASCII fields are found to be text by `text_field` without this.)
fn check_text(bytes: &[u8]) -> Result<(), ParseError> {
    if !is_text(bytes) {
        return Err(ParseError::NotText);
    }
    Ok(())
}

/// One entry: a `DT_NEEDED` (or `dlopen`) name and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub needed: &'a [u8],
    pub items: Items<'a>,
}

/// Iterator over a validated table's entries.
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (needed, after) = split_field(self.rest, false);
        let (list, rest) = split_field(after?, false);
        self.rest = rest.unwrap_or_default();
        Some(Entry { needed, items: Items { rest: (!list.is_empty()).then_some(list) } })
    }
}

/// Iterator over one path list's items, in search order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Items<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Items<'a> {
    /// The path list as stored (`=a:?b`).
    pub fn raw(&self) -> &'a [u8] {
        self.rest.unwrap_or_default()
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = Item<'a>;
    fn next(&mut self) -> Option<Item<'a>> {
        let (raw, tail) = split_field(self.rest?, true);
        self.rest = tail;
        // Validated by Table::parse.
        Item::parse(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn items(t: &Table<'_>, name: &[u8]) -> Option<Vec<Item<'static>>> {
        t.lookup(name).map(|i| i.map(|x| leak(x)).collect())
    }

    fn leak(item: Item<'_>) -> Item<'static> {
        let path: &'static [u8] = std::boxed::Box::leak(item.path().to_vec().into_boxed_slice());
        match item {
            Item::File(_) => Item::File(path),
            Item::Dir(_) => Item::Dir(path),
        }
    }

    /// The descriptor patchelf 0.19.3 wrote for a program with RUNPATH
    /// `$ORIGIN/../s1:/nonexist:/store/s2` needing libs2.so (abridged from a real run).
    #[test]
    fn patchelf_descriptor() {
        let desc = b"libc.so\0?$ORIGIN/../s1:?/nonexist\0libs2.so\0?$ORIGIN/../s1:?/nonexist:=/store/s2/libs2.so\0\0";
        let t = Table::parse(desc).unwrap();
        assert_eq!(t.entries().count(), 2);
        assert_eq!(
            items(&t, b"libs2.so").unwrap(),
            [Item::Dir(b"$ORIGIN/../s1"), Item::Dir(b"/nonexist"), Item::File(b"/store/s2/libs2.so")]
        );
        assert_eq!(items(&t, b"libs3.so"), None);
        assert_eq!(t.lookup(b"libc.so").unwrap().raw(), b"?$ORIGIN/../s1:?/nonexist");
    }

    #[test]
    fn empty_table_and_empty_list() {
        let t = Table::parse(b"\0").unwrap();
        assert!(t.is_empty());
        assert_eq!(t.entries().count(), 0);
        let t = Table::parse(b"liba.so\0\0\0").unwrap();
        assert_eq!(items(&t, b"liba.so").unwrap(), []);
    }

    /// patchelf's output for RUNPATH `/a::/b:`: bare `?` items, accepted and kept.
    #[test]
    fn empty_dir_items_from_patchelf() {
        let t = Table::parse(b"liba.so\0?:=/b/liba.so:?\0\0").unwrap();
        assert_eq!(items(&t, b"liba.so").unwrap(), [Item::Dir(b""), Item::File(b"/b/liba.so"), Item::Dir(b"")]);
    }

    #[test]
    fn first_entry_wins() {
        let t = Table::parse(b"a\0=/x/a\0a\0=/y/a\0\0").unwrap();
        assert_eq!(items(&t, b"a").unwrap(), [Item::File(b"/x/a")]);
    }

    #[test]
    fn malformed() {
        use ParseError::*;
        let cases: &[(&[u8], ParseError)] = &[
            (b"", Unterminated),
            (b"liba.so", Unterminated),
            (b"liba.so\0=/a", Unterminated),
            (b"liba.so\0=/a\0", Unterminated),
            (b"liba.so\0\0", MissingPathList),
            (b"\0\0", Unterminated),
            (b"liba.so\0=/a\0\0\0", Unterminated),
            (b"liba.so\0/a\0\0", BadItem),
            (b"liba.so\0=\0\0", BadItem),
            (b"liba.so\0=/a::=/b\0\0", BadItem),
            (b"liba.so\0=/a:\0\0", BadItem),
            (b"liba.so\0!/a\0\0", BadItem),
            (b"lib\x01.so\0=/a\0\0", NotText),
            (b"liba.so\0=/\xff\0\0", NotText),
            (b"liba.so\0=/a\n\0\0", NotText),
            (b"liba.so\0=./liba.so\0\0", RelativeFile),
            (b"liba.so\0=liba.so\0\0", RelativeFile),
            (b"liba.so\0?/d:=$ORIGIN/liba.so\0\0", RelativeFile),
            (b"liba.so\0=/a\0libb.so\0=../libb.so\0\0", RelativeFile),
        ];
        for (desc, want) in cases {
            assert_eq!(Table::parse(desc), Err(*want), "{}", desc.escape_ascii());
        }
        let mut long = b"liba.so\0=".to_vec();
        long.extend(core::iter::repeat_n(b'a', MAX_ITEM_LEN + 1));
        long.extend_from_slice(b"\0\0");
        assert_eq!(Table::parse(&long), Err(ItemTooLong));
        let mut ok = b"liba.so\0=/".to_vec();
        ok.extend(core::iter::repeat_n(b'a', MAX_ITEM_LEN - 1));
        ok.extend_from_slice(b"\0\0");
        assert!(Table::parse(&ok).is_ok());
        let mut name = std::vec![b'n'; MAX_NEEDED_LEN + 1];
        name.extend_from_slice(b"\0=/a\0\0");
        assert_eq!(Table::parse(&name), Err(NeededTooLong));
    }

    /// Garbage through the unchecked constructor: nothing panics.
    #[test]
    fn already_validated_never_panics() {
        for desc in [&b""[..], b"\0", b"a", b"a\0", b"a\0:::\0", b"a\0=\0b", b"\0\0\0x\0?"] {
            let t = Table::already_validated(desc);
            for e in t.entries() {
                let _ = e.items.count();
            }
            let _ = t.lookup(b"a").map(|i| i.count());
        }
    }

    /// Every prefix of a valid descriptor but the whole is rejected: truncation is always
    /// detected, since the terminator is the last byte.
    #[test]
    fn every_truncation_is_rejected() {
        let desc = b"libc.so\0?$ORIGIN/../s1\0libs2.so\0=/store/s2/libs2.so:?/x\0\0";
        for len in 0..desc.len() {
            assert!(Table::parse(&desc[..len]).is_err(), "len {len}");
        }
        assert!(Table::parse(desc).is_ok());
    }
}
