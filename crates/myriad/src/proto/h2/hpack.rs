//! HPACK (RFC 7541): the encoder of myriad's constant request blocks and the
//! decoder of the server's response blocks.
//!
//! The encoder writes only static-table indices and literals without
//! indexing, so a block never touches the server's dynamic table and can be
//! built once per run. The decoder must read every block the server sends to
//! keep its dynamic table in step, but the request loop needs only `:status`:
//! it decodes each field without allocating, and keeps the dynamic table as
//! one byte store (entries appended at the end, eviction advancing the start,
//! compacted now and then) plus a ring of entry offsets, never a string per
//! entry.

use std::collections::VecDeque;

use super::huffman;

/// The static table (RFC 7541 Appendix A), index 1 first.
pub(crate) const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The dynamic table size a decoder starts with and myriad allows (it never
/// announces another `SETTINGS_HEADER_TABLE_SIZE`).
pub(crate) const TABLE_SIZE: usize = 4096;

/// Why a header block cannot be decoded: each is a connection error
/// (COMPRESSION_ERROR), counted as `http2_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HpackError {
    /// The block ends inside a field.
    #[error("header block truncated")]
    Truncated,
    /// An integer longer than any size or index can be.
    #[error("HPACK integer overflow")]
    Overflow,
    /// An index of neither table (or 0).
    #[error("HPACK index {0} is in neither table")]
    BadIndex(usize),
    /// A Huffman string with EOS or bad padding.
    #[error("bad Huffman string")]
    Huffman,
    /// A table size update above the allowed size, or after the first field.
    #[error("bad dynamic table size update")]
    SizeUpdate,
    /// `:status` that is not three digits.
    #[error("malformed :status")]
    Status,
}

// --- encoding -------------------------------------------------------------

/// Appends `value` as an HPACK integer with an `n`-bit prefix, the prefix's
/// other bits being `flags`.
pub(crate) fn encode_int(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Appends a string literal, without Huffman coding.
fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    encode_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// Appends a field: the static entry itself when `name` and `value` are one
/// (an indexed field), otherwise a literal without indexing, its name by
/// static index when the table has it. Neither touches the dynamic table.
pub(crate) fn encode_field(out: &mut Vec<u8>, name: &str, value: &str) {
    if let Some(i) = STATIC.iter().position(|&(n, v)| n == name && v == value) {
        encode_int(out, 0x80, 7, i + 1);
        return;
    }
    encode_literal_name(out, name);
    encode_str(out, value.as_bytes());
}

/// Appends the start of a literal field without indexing: its name, by
/// static index when the table has it. The value ([`encode_value`]) follows.
pub(crate) fn encode_literal_name(out: &mut Vec<u8>, name: &str) {
    match STATIC.iter().position(|&(n, _)| n == name) {
        Some(i) => encode_int(out, 0x00, 4, i + 1),
        None => {
            out.push(0x00);
            encode_str(out, name.as_bytes());
        }
    }
}

/// Turns the bytes of `out` from `at` on into a string literal (its length
/// in front, without Huffman coding): a value rendered in place.
pub(crate) fn encode_value(out: &mut Vec<u8>, at: usize) {
    let len = out.len().saturating_sub(at);
    if len < 127 {
        out.insert(at, len as u8); // the usual case: one byte, no allocation
        return;
    }
    let mut prefix = Vec::with_capacity(8);
    encode_int(&mut prefix, 0, 7, len);
    out.splice(at..at, prefix);
}

// --- decoding -------------------------------------------------------------

/// An entry of the dynamic table: where its name and value lie in the store.
#[derive(Debug, Clone, Copy)]
struct Entry {
    at: usize,
    name: u32,
    value: u32,
}

impl Entry {
    /// Its size as RFC 7541 §4.1 counts it.
    fn size(&self) -> usize {
        self.name as usize + self.value as usize + 32
    }
}

/// A decoder's state: the dynamic table.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// Entry bytes (name then value), oldest first, from `start` on.
    store: Vec<u8>,
    start: usize,
    /// Newest at the back.
    entries: VecDeque<Entry>,
    size: usize,
    /// The table's size limit (the last size update; `TABLE_SIZE` at first).
    max: Option<usize>,
}

/// A literal field's name: from a table, or a literal of the block (raw
/// bytes, and whether Huffman-coded).
pub(crate) enum Name<'a> {
    Known(&'a [u8]),
    Literal(&'a [u8], bool),
}

/// What a decoder's walk over a block tells its caller.
pub(crate) trait Sink {
    /// A field from a table, or one just added to the dynamic table.
    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), HpackError>;
    /// A literal not added to the table: its name, and its value's raw bytes
    /// and whether they are Huffman-coded. The sink decodes what it needs,
    /// but must check a Huffman string it does not need (`check_huffman`).
    fn literal(&mut self, name: Name<'_>, value: &[u8], huffman: bool) -> Result<(), HpackError>;
}

/// Checks a Huffman string without keeping it.
pub(crate) fn check_huffman(raw: &[u8]) -> Result<(), HpackError> {
    huffman::decode(raw, |_| {}).map_err(|_| HpackError::Huffman)
}

/// Appends a string's bytes, decoded if Huffman-coded.
pub(crate) fn decode_string(
    raw: &[u8],
    huffman: bool,
    out: &mut Vec<u8>,
) -> Result<(), HpackError> {
    if huffman {
        huffman::decode_into(raw, out).map_err(|_| HpackError::Huffman)
    } else {
        out.extend_from_slice(raw);
        Ok(())
    }
}

impl Decoder {
    /// A decoder for a new connection (no dynamic table).
    pub fn new() -> Decoder {
        Decoder::default()
    }

    fn max(&self) -> usize {
        self.max.unwrap_or(TABLE_SIZE)
    }

    /// Entries in the dynamic table.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The dynamic table's size (RFC 7541 §4.1).
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The dynamic table's size, and a bound on its store (fuzz targets).
    pub fn table_size(&self) -> usize {
        debug_assert!(self.store.len() <= 5 * TABLE_SIZE + 2 * u16::MAX as usize);
        self.size
    }

    /// Entry `i` of the dynamic table (0 the newest), as name and value.
    fn dynamic(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let e = self.entries.get(self.entries.len().checked_sub(i + 1)?)?;
        let name = self.store.get(e.at..e.at + e.name as usize)?;
        let value_at = e.at + e.name as usize;
        let value = self.store.get(value_at..value_at + e.value as usize)?;
        Some((name, value))
    }

    /// The name and value of index `i` of either table.
    fn lookup(&self, i: usize) -> Result<(&[u8], &[u8]), HpackError> {
        match i {
            0 => Err(HpackError::BadIndex(0)),
            1..=61 => {
                let (n, v) = STATIC[i - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            _ => self.dynamic(i - 62).ok_or(HpackError::BadIndex(i)),
        }
    }

    /// Evicts the oldest entries until the table's size is at most `max`.
    /// Their bytes stay in the store until `compact`.
    fn evict_to(&mut self, max: usize) {
        while self.size > max {
            let Some(e) = self.entries.pop_front() else {
                self.size = 0;
                break;
            };
            self.size -= e.size();
            self.start = e.at + e.name as usize + e.value as usize;
        }
    }

    /// Drops the store's evicted bytes once they are most of it, so the store
    /// stays within a few table sizes without moving bytes per entry.
    fn compact(&mut self) {
        if self.entries.is_empty() {
            self.store.clear();
            self.start = 0;
        } else if self.start > 2 * TABLE_SIZE && self.start * 2 > self.store.len() {
            self.store.drain(..self.start);
            for e in &mut self.entries {
                e.at -= self.start;
            }
            self.start = 0;
        }
    }

    /// Decodes one complete header block, updating the dynamic table, and
    /// returns its `:status`, if it has one.
    pub fn decode(&mut self, block: &[u8]) -> Result<Option<u16>, HpackError> {
        let mut sink = StatusSink { status: None };
        self.walk(block, &mut sink)?;
        Ok(sink.status)
    }

    /// Decodes one complete header block, updating the dynamic table, and
    /// tells `sink` each field.
    pub(crate) fn walk<S: Sink>(&mut self, block: &[u8], sink: &mut S) -> Result<(), HpackError> {
        let mut at = 0;
        let mut first = true;
        while at < block.len() {
            let b = block[at];
            if b & 0x80 != 0 {
                let i = decode_int(block, &mut at, 7)?;
                let (name, value) = self.lookup(i)?;
                sink.field(name, value)?;
            } else if b & 0x40 != 0 {
                self.insert(block, &mut at, sink)?;
            } else if b & 0x20 != 0 {
                let size = decode_int(block, &mut at, 5)?;
                if !first || size > TABLE_SIZE {
                    return Err(HpackError::SizeUpdate);
                }
                self.max = Some(size);
                self.evict_to(size);
                self.compact();
                // Several updates may open a block (RFC 7541 §4.2).
                continue;
            } else {
                // Without indexing (0000) or never indexed (0001): 4-bit index.
                let i = decode_int(block, &mut at, 4)?;
                let name = if i == 0 {
                    let (raw, huffman) = string_at(block, &mut at)?;
                    Name::Literal(raw, huffman)
                } else {
                    Name::Known(self.lookup(i)?.0)
                };
                let (value, huffman) = string_at(block, &mut at)?;
                sink.literal(name, value, huffman)?;
            }
            first = false;
        }
        Ok(())
    }

    /// A literal with incremental indexing at `at`: decoded into the store's
    /// end (its name copied there first, before any eviction could take it),
    /// then made an entry, the oldest evicted to make room.
    fn insert<S: Sink>(
        &mut self,
        block: &[u8],
        at: &mut usize,
        sink: &mut S,
    ) -> Result<(), HpackError> {
        let i = decode_int(block, at, 6)?;
        let begin = self.store.len();
        if i == 0 {
            let (raw, huffman) = string_at(block, at)?;
            decode_string(raw, huffman, &mut self.store)?;
        } else if i <= 61 {
            self.store.extend_from_slice(STATIC[i - 1].0.as_bytes());
        } else {
            let e = self
                .entries
                .len()
                .checked_sub(i - 61)
                .and_then(|k| self.entries.get(k).copied())
                .ok_or(HpackError::BadIndex(i))?;
            self.store.extend_from_within(e.at..e.at + e.name as usize);
        }
        let name_len = self.store.len() - begin;
        let (raw, huffman) = string_at(block, at)?;
        decode_string(raw, huffman, &mut self.store)?;
        let value_len = self.store.len() - begin - name_len;
        sink.field(
            &self.store[begin..begin + name_len],
            &self.store[begin + name_len..],
        )?;
        let entry = Entry {
            at: begin,
            name: u32::try_from(name_len).map_err(|_| HpackError::Overflow)?,
            value: u32::try_from(value_len).map_err(|_| HpackError::Overflow)?,
        };
        let max = self.max();
        if entry.size() > max {
            // Larger than the table: the table ends empty (RFC 7541 §4.4).
            self.entries.clear();
            self.size = 0;
            self.compact();
            return Ok(());
        }
        self.evict_to(max - entry.size());
        self.entries.push_back(entry);
        self.size += entry.size();
        self.compact();
        Ok(())
    }
}

/// The sink of the hot path: `:status` only, nothing stored.
struct StatusSink {
    status: Option<u16>,
}

impl Sink for StatusSink {
    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), HpackError> {
        if name == b":status" {
            self.status = Some(parse_status(value)?);
        }
        Ok(())
    }

    fn literal(&mut self, name: Name<'_>, value: &[u8], huffman: bool) -> Result<(), HpackError> {
        let is_status = match name {
            Name::Known(n) => n == b":status",
            Name::Literal(raw, false) => raw == b":status",
            Name::Literal(raw, true) => {
                // ":status" is 7 bytes: compare without keeping the string.
                let mut k = 0usize;
                let mut same = true;
                huffman::decode(raw, |b| {
                    same &= b":status".get(k) == Some(&b);
                    k += 1;
                })
                .map_err(|_| HpackError::Huffman)?;
                same && k == 7
            }
        };
        if !is_status {
            return match huffman {
                true => check_huffman(value),
                false => Ok(()),
            };
        }
        if !huffman {
            self.status = Some(parse_status(value)?);
            return Ok(());
        }
        let mut digits = [0u8; 3];
        let mut k = 0usize;
        huffman::decode(value, |b| {
            if let Some(d) = digits.get_mut(k) {
                *d = b;
            }
            k += 1;
        })
        .map_err(|_| HpackError::Huffman)?;
        if k != 3 {
            return Err(HpackError::Status);
        }
        self.status = Some(parse_status(&digits)?);
        Ok(())
    }
}

/// A `:status` value: three digits.
fn parse_status(value: &[u8]) -> Result<u16, HpackError> {
    match *value {
        [a, b, c] if value.iter().all(u8::is_ascii_digit) => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(HpackError::Status),
    }
}

/// Decodes an integer with an `n`-bit prefix at `at`.
fn decode_int(block: &[u8], at: &mut usize, n: u32) -> Result<usize, HpackError> {
    let max = (1usize << n) - 1;
    let first = *block.get(*at).ok_or(HpackError::Truncated)?;
    *at += 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let b = *block.get(*at).ok_or(HpackError::Truncated)?;
        *at += 1;
        // Four continuation bytes carry 28 bits: more than any size here.
        if shift > 21 {
            return Err(HpackError::Overflow);
        }
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// The raw bytes of a string literal at `at` and whether they are
/// Huffman-coded; `at` moves past it.
fn string_at<'b>(block: &'b [u8], at: &mut usize) -> Result<(&'b [u8], bool), HpackError> {
    let huffman = block.get(*at).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = decode_int(block, at, 7)?;
    let end = at.checked_add(len).ok_or(HpackError::Overflow)?;
    let raw = block.get(*at..end).ok_or(HpackError::Truncated)?;
    *at = end;
    Ok((raw, huffman))
}

/// A sink that keeps every field (tests, the fuzz targets).
#[derive(Default)]
pub(crate) struct Collect {
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Sink for Collect {
    fn field(&mut self, name: &[u8], value: &[u8]) -> Result<(), HpackError> {
        self.fields.push((name.to_vec(), value.to_vec()));
        Ok(())
    }

    fn literal(&mut self, name: Name<'_>, value: &[u8], huffman: bool) -> Result<(), HpackError> {
        let mut n = Vec::new();
        match name {
            Name::Known(k) => n.extend_from_slice(k),
            Name::Literal(raw, h) => decode_string(raw, h, &mut n)?,
        }
        let mut v = Vec::new();
        decode_string(value, huffman, &mut v)?;
        self.fields.push((n, v));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
