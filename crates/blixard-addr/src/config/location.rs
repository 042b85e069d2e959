//! Where a key is written in the TOML text: key paths from the parser's
//! spans, and byte offsets as 1-based line and column, so every
//! [`ConfigError`](crate::error::ConfigError) can point at its line.

use toml::de::{DeTable, DeValue};

enum Seg {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn parse_path(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        while let Some((index, tail)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Seg::Index(i));
            }
            rest = tail.strip_prefix('[').unwrap_or(tail);
        }
    }
    out
}

/// The key path of the innermost key or value around byte `offset`, e.g.
/// `firewall.rules[1].port`. Tables written as `[headers]` have spans that
/// cover only the header, so every table is searched, not just enclosing
/// spans.
pub(super) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let (table, _) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    search_table(table.get_ref(), offset, &mut path).then(|| render_path(&path))
}

fn contains(span: std::ops::Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end
}

fn search_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        let here = contains(key.span(), offset) || contains(value.span(), offset);
        if search_value(value.get_ref(), offset, path) || here {
            return true;
        }
        path.pop();
    }
    false
}

fn search_value(value: &DeValue<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
    match value {
        DeValue::Table(t) => search_table(t, offset, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                if search_value(item.get_ref(), offset, path) || contains(item.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// For text too broken to parse with spans (an unterminated string): the
/// key written at the start of the line holding `offset`, under the last
/// table header above it (`[[t]]` headers counted, so `t[1].key`).
pub(super) fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?.trim();
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if line.starts_with('[') {
        // A broken header (`[ipv4`): the table it names.
        let name = line.trim_start_matches('[').split(']').next()?.trim();
        return bare(name).then(|| name.to_string());
    }
    let key = line.split_once('=')?.0.trim();
    if !bare(key) {
        return None;
    }
    let above: Vec<&str> = text[..start].lines().map(str::trim).collect();
    let Some(header) = above.iter().rev().find(|l| l.starts_with('[')) else {
        return Some(key.to_string());
    };
    let table = if let Some(name) = header.strip_prefix("[[") {
        let name = name.split("]]").next()?.trim();
        let count = above.iter().filter(|l| *l == header).count();
        format!("{name}[{}]", count - 1)
    } else {
        header[1..].split(']').next()?.trim().to_string()
    };
    bare(table.split('[').next()?).then(|| format!("{table}.{key}"))
}

/// Byte offset where `key` (or its nearest parent present in the file) is
/// written; `None` when not even its top-level key is in the file.
pub(crate) fn key_offset(text: &str, key: &str) -> Option<usize> {
    let (table, _) = DeTable::parse_recoverable(text);
    let mut segs = parse_path(key).into_iter();
    let Some(Seg::Key(first)) = segs.next() else {
        return None;
    };
    let (k, v) = table.get_ref().get_key_value(first.as_str())?;
    let mut found = k.span().start;
    let mut current = v.get_ref();
    for seg in segs {
        match (seg, current) {
            (Seg::Key(k), DeValue::Table(t)) => match t.get_key_value(k.as_str()) {
                Some((k, v)) => {
                    found = k.span().start;
                    current = v.get_ref();
                }
                None => break,
            },
            (Seg::Index(i), DeValue::Array(items)) => match items.get(i) {
                Some(item) => {
                    // An array-of-tables item's span is its `[[header]]`;
                    // an inline item's span is the item itself.
                    found = item.span().start;
                    current = item.get_ref();
                }
                None => break,
            },
            _ => break,
        }
    }
    Some(found)
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clamp(line), clamp(column))
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}
