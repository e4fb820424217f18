//! Splits a CSV byte stream into chunks that end on record boundaries, so
//! that chunks can be parsed independently and in parallel.
//!
//! A newline ends a record only outside quotes. Because every chunk starts at
//! a record boundary, quote parity can be tracked from the chunk's start; a
//! chunk without any quote character (the common case) is cut at its last
//! newline with one `memrchr`. Chunk boundaries depend only on the bytes and
//! the chunk size, never on how reads were split or on the thread count, so
//! results that depend on chunking are reproducible.
//!
//! The chunker also counts lines, so every chunk knows the file line it
//! starts on (errors name lines). The header's bytes followed by every
//! chunk's are the input, byte for byte, which is what `stream` hashes.
//!
//! The header is found as the CSV parser finds it: past a byte-order mark
//! (only the file's first bytes can be one) and blank lines. The chunker's
//! own errors (a quote that never closes, a record over `MAX_RECORD`) come
//! only after every record before them has gone out as a chunk, and yield
//! to a bare carriage return before them, so the error reported is the
//! first in the file whatever the chunk size (see `find_bare_cr`).

use crate::error::{Diagnostic, Error, Location, Result};
use std::io::{self, Read};
use std::path::Path;

/// Default chunk size: large enough to amortise per-chunk costs, small enough
/// that a few chunks per thread in flight keep memory bounded.
pub const CHUNK_SIZE: usize = 1 << 20;

/// The longest record the chunker accepts. Longer ones are almost always an
/// unclosed quote, which would otherwise read the rest of the file into memory.
pub const MAX_RECORD: usize = 64 << 20;

/// The UTF-8 byte-order mark. Only the file's first three bytes may be one;
/// anywhere else these bytes are data.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A run of whole records.
pub struct Chunk {
    /// No quote character anywhere in the chunk.
    pub quote_free: bool,
    /// Position of the chunk in the file, from 0.
    pub index: usize,
    /// The file line (1-based) the chunk's first byte is on.
    pub first_line: u64,
    /// Newlines in the chunk: its row count, but for quoted newlines.
    pub lines: u64,
    pub bytes: Vec<u8>,
}

/// The header record and the bytes it took.
#[derive(Debug, Clone)]
pub struct Header {
    pub names: Names,
    /// The bytes up to the end of the header record as read: byte-order
    /// mark, blank lines before it and line ending included.
    pub raw: Vec<u8>,
    /// The file line (1-based) the header record starts on.
    pub line: u64,
}

/// A header's column names, back to back: besides their text, four bytes
/// a column (a file of a million empty names costs 4 MB, not the 24 of a
/// `String` each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    text: String,
    /// Where name `i` ends in `text` (a header is at most `MAX_RECORD` bytes).
    ends: Vec<u32>,
}

impl Names {
    pub fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Name `i`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

pub struct Chunker<R> {
    reader: R,
    /// How the input is named in messages.
    name: String,
    /// The read buffer: `pending[..filled]` are bytes read but not yet handed
    /// out, starting at a record boundary; the rest is room to read into. It
    /// is never zeroed again once allocated.
    pending: Vec<u8>,
    filled: usize,
    /// Buffers of chunks the workers are done with, to read into again.
    recycled: Option<crossbeam_channel::Receiver<Vec<u8>>>,
    eof: bool,
    chunk_size: usize,
    /// The longest record accepted: `MAX_RECORD` but in tests.
    max_record: usize,
    next_index: usize,
    next_line: u64,
}

impl<R: Read> Chunker<R> {
    pub fn new(reader: R, chunk_size: usize, name: &str) -> Self {
        Chunker {
            reader,
            name: name.to_owned(),
            pending: Vec::new(),
            filled: 0,
            recycled: None,
            eof: false,
            chunk_size: chunk_size.max(1),
            max_record: MAX_RECORD,
            next_index: 0,
            next_line: 1,
        }
    }

    /// Reuses the buffers of chunks sent back on this channel.
    pub fn recycle_from(&mut self, buffers: crossbeam_channel::Receiver<Vec<u8>>) {
        self.recycled = Some(buffers);
    }

    fn data(&self) -> &[u8] {
        &self.pending[..self.filled]
    }

    /// Reads the header record; `None` for an input with no record (empty,
    /// or only a byte-order mark and blank lines). Like the CSV parser, it
    /// skips a byte-order mark at the very start and blank lines before the
    /// header. It reads at most `MAX_RECORD` bytes (and one more, to tell a
    /// header of exactly that size from a longer one).
    pub fn header(&mut self) -> Result<Option<Header>> {
        let mut want = self.chunk_size.min(self.max_record);
        let (start, end) = loop {
            self.fill(want)?;
            let first = first_record(self.data(), self.eof);
            if first == First::Incomplete && self.over_limit()? {
                let message = format!(
                    "the header record is longer than {}",
                    size_text(self.max_record)
                );
                return Err(self.data_error(self.next_line, 1, &message, "this usually means a quote that is never closed, or a file that is not CSV: check the first line"));
            }
            match first {
                First::Record { start, end } => break (start, end),
                First::Empty => return Ok(None),
                First::BareCr(at) => {
                    return Err(bare_cr_error(&self.name, self.data(), self.next_line, at));
                }
                First::OpenQuote(at) => return Err(self.unclosed_quote(at)),
                First::Incomplete => want = (self.filled * 2).min(self.max_record),
            }
        };
        let raw = self.pending[..end].to_vec();
        let names = {
            let (mut reader, _) = csv_reader(&raw[start..]);
            let mut record = csv::ByteRecord::new();
            match reader.read_byte_record(&mut record) {
                Ok(true) => {
                    let mut names = Names::default();
                    for f in record.iter() {
                        names.push(String::from_utf8_lossy(f).trim());
                    }
                    names
                }
                _ => return Ok(None),
            }
        };
        let line = self.next_line + bytecount::count(&raw[..start], b'\n') as u64;
        self.next_line += bytecount::count(&raw, b'\n') as u64;
        self.pending.copy_within(end..self.filled, 0);
        self.filled -= end;
        Ok(Some(Header { names, raw, line }))
    }

    /// The next run of whole records, `None` at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut want = self.chunk_size;
        loop {
            self.fill(want)?;
            if self.filled == 0 {
                return Ok(None);
            }
            // One look for quotes serves both the cut and the worker's choice
            // of parser (a chunk without quotes takes the fast path).
            let quoted = memchr::memchr(b'"', self.data()).is_some();
            let cut = if self.eof && self.filled <= want {
                match quoted.then(|| scan(self.data())) {
                    // A quote that never closes: the records before it go
                    // out first, so that an error among them (the first in
                    // the file) is the one reported, however the file is
                    // cut into chunks; then this is the error.
                    Some(Scan {
                        open_quote: Some(quote),
                        end,
                    }) => match end {
                        Some(end) => Some(end),
                        None => return Err(self.unclosed_quote(quote)),
                    },
                    _ => Some(self.filled),
                }
            } else {
                last_end(self.data(), quoted)
            };
            match cut {
                Some(cut) => {
                    let quote_free =
                        !quoted || memchr::memchr(b'"', &self.pending[..cut]).is_none();
                    return Ok(Some(self.emit(cut, quote_free)));
                }
                // A single record longer than the chunk: read on until it
                // ends, or is longer than `max_record` (whatever the chunk
                // size: the buffer never grows past it).
                None if !self.over_limit()? => {
                    want = (self.filled * 2).min(self.max_record);
                }
                None => {
                    if let Some(cr) = find_bare_cr(self.data(), self.eof) {
                        return Err(bare_cr_error(
                            &self.name,
                            self.data(),
                            self.next_line,
                            cr.at,
                        ));
                    }
                    let message = format!("a record is longer than {}", size_text(self.max_record));
                    return Err(self.data_error(self.next_line, 1, &message, "this usually means a quote that is never closed: check the quoting from this line on"));
                }
            }
        }
    }

    /// The error for a quote at `pending[at]`, in the record at the start of
    /// `pending`, that never closes; or, when a bare carriage return comes
    /// before it in the record, the error for that (the parser would have
    /// ended the record there).
    fn unclosed_quote(&self, at: usize) -> Error {
        if let Some(cr) = find_bare_cr(&self.pending[..at], true) {
            return bare_cr_error(&self.name, self.data(), self.next_line, cr.at);
        }
        let (line, column) = locate(self.data(), self.next_line, at);
        self.data_error(line, column, "a quote opened on this line is never closed", "every quoted field needs a closing quote; a quote inside a value is written twice (`\"\"`)")
    }

    /// Whether `pending`, which holds no record end, holds more than
    /// `max_record` bytes of the record it starts with. A buffer of exactly
    /// `max_record` bytes reads one more to tell a last record of that size
    /// from a longer one.
    fn over_limit(&mut self) -> Result<bool> {
        if self.filled == self.max_record && !self.eof {
            self.fill(self.max_record + 1)?;
        }
        Ok(self.filled > self.max_record || (self.filled == self.max_record && !self.eof))
    }

    fn emit(&mut self, cut: usize, quote_free: bool) -> Chunk {
        // The next buffer: one a worker is done with, else a new one (whose
        // zeroed pages come from the allocator without a memset).
        let size = self.pending.len().max(self.chunk_size + 4096);
        let mut next = self
            .recycled
            .as_ref()
            .and_then(|r| r.try_recv().ok())
            .unwrap_or_default();
        if next.len() < size {
            next.resize(size, 0);
        }
        let rest = self.filled - cut;
        next[..rest].copy_from_slice(&self.pending[cut..self.filled]);
        let mut bytes = std::mem::replace(&mut self.pending, next);
        bytes.truncate(cut);
        self.filled = rest;
        let lines = bytecount::count(&bytes, b'\n') as u64;
        let chunk = Chunk {
            quote_free,
            index: self.next_index,
            first_line: self.next_line,
            lines,
            bytes,
        };
        self.next_index += 1;
        self.next_line += lines;
        chunk
    }

    fn data_error(&self, line: u64, column: usize, message: &str, help: &str) -> Error {
        Error::Data(
            Diagnostic::new(message)
                .at(Location::new(&self.name, line as usize, column))
                .help(help),
        )
    }

    /// Reads until `pending` holds at least `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> Result<()> {
        while !self.eof && self.filled < want {
            if self.pending.len() < want {
                self.pending.resize(want, 0);
            }
            let start = self.filled;
            let n = loop {
                match self.reader.read(&mut self.pending[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::read(Path::new(&self.name), e)),
                }
            };
            self.filled += n;
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn with_max_record(mut self, max_record: usize) -> Self {
        self.max_record = max_record;
        self
    }
}

/// `64 MiB`, or a byte count for a limit that is not a whole MiB (tests).
fn size_text(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// What `csv_reader` makes.
pub(super) type CsvReader<'a> = csv::Reader<io::Chain<&'static [u8], &'a [u8]>>;

/// A CSV reader for `bytes` that reads them exactly: the `csv` crate drops
/// a byte-order mark at the start of whatever it is given, but only the
/// file's first bytes may be one, and the callers have already dropped that.
/// A newline put before such bytes (a blank line, which the parser skips)
/// keeps them. Returns the reader and how many bytes were put before.
pub(super) fn csv_reader(bytes: &[u8]) -> (CsvReader<'_>, usize) {
    let guard: &'static [u8] = if bytes.starts_with(BOM) { b"\n" } else { b"" };
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(guard.chain(bytes));
    (reader, guard.len())
}

/// Where the first record of a file lies, as far as `first_record` can tell.
#[derive(Debug, PartialEq, Eq)]
enum First {
    /// The record is `buf[start..end]`, line ending included.
    Record { start: usize, end: usize },
    /// No record at all: only a byte-order mark and blank lines.
    Empty,
    /// A bare carriage return outside quotes at this offset.
    BareCr(usize),
    /// A quote at this offset is never closed.
    OpenQuote(usize),
    /// The record does not end in `buf`, which is not the whole input.
    Incomplete,
}

/// Finds the first record of a file in `buf` (the file's first bytes, all of
/// it when `eof`) the way the CSV parser reads it: past a byte-order mark
/// and blank lines (`\n` or `\r\n`), and up to the first line ending outside
/// quotes.
fn first_record(buf: &[u8], eof: bool) -> First {
    if !eof && buf.len() < BOM.len() && BOM.starts_with(buf) {
        return First::Incomplete;
    }
    let mut i = if buf.starts_with(BOM) { BOM.len() } else { 0 };
    loop {
        match (buf.get(i), buf.get(i + 1)) {
            (Some(b'\n'), _) => i += 1,
            (Some(b'\r'), Some(b'\n')) => i += 2,
            (Some(b'\r'), None) if !eof => return First::Incomplete,
            (Some(b'\r'), _) => return First::BareCr(i),
            (Some(_), _) => break,
            (None, _) if eof => return First::Empty,
            (None, _) => return First::Incomplete,
        }
    }
    let start = i;
    loop {
        // At the start of a field.
        if buf[i] == b'"' {
            let open = i;
            i += 1;
            loop {
                match memchr::memchr(b'"', &buf[i..]) {
                    None if eof => return First::OpenQuote(open),
                    None => return First::Incomplete,
                    Some(q) if buf.get(i + q + 1) == Some(&b'"') => i += q + 2,
                    Some(q) => {
                        i += q + 1;
                        break;
                    }
                }
            }
        }
        match memchr::memchr3(b',', b'\n', b'\r', &buf[i..]) {
            None if eof => {
                return First::Record {
                    start,
                    end: buf.len(),
                };
            }
            None => return First::Incomplete,
            Some(d) => {
                i += d;
                match (buf[i], buf.get(i + 1)) {
                    (b',', _) => i += 1,
                    (b'\n', _) => return First::Record { start, end: i + 1 },
                    (_, Some(b'\n')) => return First::Record { start, end: i + 2 },
                    (_, None) if !eof => return First::Incomplete,
                    _ => return First::BareCr(i),
                }
                if i == buf.len() {
                    // A comma last: an empty last field.
                    return if eof {
                        First::Record { start, end: i }
                    } else {
                        First::Incomplete
                    };
                }
            }
        }
    }
}

/// A carriage return outside quotes that no line feed follows.
#[derive(Debug, PartialEq, Eq)]
pub struct BareCr {
    /// Where the record holding it starts.
    pub record: usize,
    /// Where it is.
    pub at: usize,
}

/// The first bare carriage return outside quoted fields in `buf`, which
/// starts at a record boundary, read the way the CSV parser reads quotes. A
/// carriage return last in `buf` is bare only when `eof` (the input ends
/// there). Most buffers have none, which one look finds out.
pub fn find_bare_cr(buf: &[u8], eof: bool) -> Option<BareCr> {
    let mut crs = memchr::memchr_iter(b'\r', buf);
    if crs.all(|i| buf.get(i + 1) == Some(&b'\n') || (i + 1 == buf.len() && !eof)) {
        return None;
    }
    let (mut i, mut record, n) = (0, 0, buf.len());
    while i < n {
        // At the start of a field.
        if buf[i] == b'"' {
            i += 1;
            loop {
                match memchr::memchr(b'"', &buf[i..]) {
                    None => return None,
                    Some(q) if buf.get(i + q + 1) == Some(&b'"') => i += q + 2,
                    Some(q) => {
                        i += q + 1;
                        break;
                    }
                }
            }
        }
        match memchr::memchr3(b',', b'\n', b'\r', &buf[i..]) {
            None => return None,
            Some(d) => {
                i += d;
                match (buf[i], buf.get(i + 1)) {
                    (b',', _) => {}
                    (b'\n', _) => record = i + 1,
                    (_, Some(b'\n')) => {
                        i += 1;
                        record = i + 1;
                    }
                    (_, None) if !eof => return None,
                    _ => return Some(BareCr { record, at: i }),
                }
                i += 1;
            }
        }
    }
    None
}

/// The file line and 1-based character column of `bytes[at]`, where
/// `bytes` starts on line `first_line` at a line start. A byte-order mark
/// at the start of the file is not a character of the line.
pub(super) fn locate(bytes: &[u8], first_line: u64, at: usize) -> (u64, usize) {
    let before = &bytes[..at];
    let line = first_line + bytecount::count(before, b'\n') as u64;
    let mut line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    if line_start == 0 && first_line == 1 && before.starts_with(BOM) {
        line_start = BOM.len();
    }
    let column = 1 + before[line_start..]
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80)
        .count();
    (line, column)
}

/// The error for a bare carriage return at `bytes[at]` (see `locate`).
pub(super) fn bare_cr_error(source: &str, bytes: &[u8], first_line: u64, at: usize) -> Error {
    let (line, column) = locate(bytes, first_line, at);
    Error::Data(
        Diagnostic::new("a bare carriage return (a `\\r` that no line feed follows): polsim reads LF or CRLF line endings only")
            .at(Location::new(source, line as usize, column))
            .help("convert old Mac (CR) line endings with `tr '\\r' '\\n' < in.csv > out.csv` (blank lines are skipped), or quote a value that holds a carriage return"),
    )
}

/// The end (exclusive) of the last whole record in `buf`, which starts at a
/// record boundary: just past the last newline outside a quoted field.
pub fn last_record_end(buf: &[u8]) -> Option<usize> {
    last_end(buf, memchr::memchr(b'"', buf).is_some())
}

/// `last_record_end` when the caller already knows whether `buf` has a quote.
fn last_end(buf: &[u8], quoted: bool) -> Option<usize> {
    if quoted {
        scan(buf).end
    } else {
        memchr::memrchr(b'\n', buf).map(|i| i + 1)
    }
}

/// What a scan for record ends found.
struct Scan {
    /// Just past the first (or last) record end.
    end: Option<usize>,
    /// Where a quoted field that never closes starts, when the scan ran out in one.
    open_quote: Option<usize>,
}

/// Finds record ends the way the CSV parser reads quotes: a quote opens a
/// quoted field only at the start of a field; inside one, `""` is a literal
/// quote and a lone `"` closes it; anywhere else a quote is an ordinary
/// character (`x"y` is the three characters it looks like). Tracking plain
/// quote parity instead would disagree with the parser on such fields and
/// cut a record in two. Returns the last end.
fn scan(buf: &[u8]) -> Scan {
    let mut end = None;
    let mut i = 0;
    let n = buf.len();
    while i < n {
        // At the start of a field.
        if buf[i] == b'"' {
            // A quoted field: find its closing quote, skipping `""`.
            let open = i;
            i += 1;
            loop {
                match memchr::memchr(b'"', &buf[i..]) {
                    None => {
                        return Scan {
                            end,
                            open_quote: Some(open),
                        };
                    }
                    Some(q) if i + q + 1 < n && buf[i + q + 1] == b'"' => i += q + 2,
                    Some(q) => {
                        i += q + 1;
                        break;
                    }
                }
            }
        }
        // The rest of the field is unquoted: up to the next comma or newline.
        match memchr::memchr2(b',', b'\n', &buf[i..]) {
            None => break,
            Some(d) => {
                i += d;
                if buf[i] == b'\n' {
                    end = Some(i + 1);
                }
                i += 1;
            }
        }
    }
    Scan {
        end,
        open_quote: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], size: usize) -> (Vec<String>, Vec<(u64, String)>) {
        let mut c = Chunker::new(input, size, "t.csv");
        let header = c
            .header()
            .unwrap()
            .map(|h| h.names.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            out.push((ch.first_line, String::from_utf8(ch.bytes).unwrap()));
        }
        (header, out)
    }

    #[test]
    fn cuts_outside_quotes_only() {
        let data = b"a,b\n1,\"x\ny\"\n2,z\n";
        for size in 1..data.len() + 2 {
            let (header, out) = chunks(data, size);
            assert_eq!(header, ["a", "b"]);
            let joined: String = out.iter().map(|(_, s)| s.as_str()).collect();
            assert_eq!(joined, "1,\"x\ny\"\n2,z\n", "size {size}");
            for (line, s) in &out {
                assert!(
                    s == "1,\"x\ny\"\n" && *line == 2
                        || s == "2,z\n" && *line == 4
                        || s == "1,\"x\ny\"\n2,z\n",
                    "size {size}: {line} {s:?}"
                );
            }
        }
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_literal() {
        let buf = b"x\"y,\"p\nq\",7\na,b,c\n";
        assert_eq!(first_record(buf, true), First::Record { start: 0, end: 12 });
        assert_eq!(last_record_end(buf), Some(buf.len()));
        assert_eq!(last_record_end(&buf[..8]), None);
        assert_eq!(last_record_end(b"\"a\"\"\nb\"\nc\n"), Some(10));
    }

    #[test]
    fn bare_carriage_returns_are_refused() {
        let mut c = Chunker::new(&b"a,b\r1,2\r"[..], 64, "t.csv");
        let e = c.header().expect_err("refused").to_string();
        assert!(
            e.contains("bare carriage return") && e.contains("t.csv:1:4"),
            "{e}"
        );
    }

    #[test]
    fn strips_bom_and_handles_missing_final_newline() {
        let (header, out) = chunks(b"\xEF\xBB\xBFid, score\r\n1,2", 4);
        assert_eq!(header, ["id", "score"]);
        assert_eq!(out, [(2, "1,2".to_owned())]);
    }

    #[test]
    fn empty_input_has_no_header() {
        let mut c = Chunker::new(&b""[..], 16, "t.csv");
        assert!(c.header().unwrap().is_none());
    }

    #[test]
    fn the_header_and_the_chunks_are_the_input() {
        let data = "\u{FEFF}a,b\r\n1,\"x\ny\"\n2,3\n4,5".as_bytes();
        for size in [1, 2, 7, 64] {
            let mut c = Chunker::new(data, size, "t.csv");
            let mut all = c.header().unwrap().unwrap().raw;
            while let Some(chunk) = c.next_chunk().unwrap() {
                all.extend_from_slice(&chunk.bytes);
            }
            assert_eq!(all, data, "chunk size {size}");
        }
    }

    /// Counts the bytes read from an endless input.
    struct Endless<'a>(&'a std::cell::Cell<usize>, u8);

    impl Read for Endless<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(self.1);
            self.0.set(self.0.get() + buf.len());
            Ok(buf.len())
        }
    }

    #[test]
    fn the_header_search_stops_at_the_record_limit() {
        for byte in [0, b'x', b'"'] {
            for size in [1, 7, 4096, 100_000] {
                let read = std::cell::Cell::new(0);
                let mut c = Chunker::new(Endless(&read, byte), size, "t.csv").with_max_record(8192);
                let e = c.header().expect_err("refused").to_string();
                assert!(
                    e.contains("the header record is longer than 8192 bytes")
                        && e.contains("t.csv:1:1"),
                    "{e}"
                );
                assert!(e.len() < 400, "{e}");
                assert!(read.get() <= 8193, "read {} bytes", read.get());
            }
        }
    }

    #[test]
    fn the_record_limit_does_not_depend_on_the_chunk_size() {
        let record = |len: usize| format!("{}\n", "x".repeat(len - 1));
        for size in [1, 3, 5, 100, 1000, 4000] {
            let x = |n| "x".repeat(n);
            for fits in [
                format!("a\n{}b\n", record(8192)),
                format!("a\nb\n{}", x(8192)),
            ] {
                let mut c = Chunker::new(fits.as_bytes(), size, "t.csv").with_max_record(8192);
                c.header().unwrap();
                let mut all = 0;
                while let Some(chunk) = c.next_chunk().unwrap() {
                    all += chunk.bytes.len();
                }
                assert_eq!(all, 8194, "size {size}");
            }
            for long in [
                format!("a\n{}b\n", record(8193)),
                format!("a\nb\n{}", record(8193)),
                format!("a\nb\n{}", x(8193)),
            ] {
                let mut c = Chunker::new(long.as_bytes(), size, "t.csv").with_max_record(8192);
                c.header().unwrap();
                let e = loop {
                    match c.next_chunk() {
                        Ok(Some(_)) => {}
                        Ok(None) => panic!("size {size}: taken"),
                        Err(e) => break e.to_string(),
                    }
                };
                assert!(e.contains("a record is longer than 8192 bytes"), "{e}");
            }
        }
    }

    #[test]
    fn the_first_record_is_read_as_the_parser_reads_it() {
        let record = |start, end| First::Record { start, end };
        for (buf, want) in [
            (&b""[..], First::Empty),
            (b"\xEF\xBB\xBF", First::Empty),
            (b"\n\r\n\n", First::Empty),
            (b"\xEF\xBB", record(0, 2)),
            (b"\xEF\xBB\xBF\n\"a\nb\",c\r\nd", record(4, 13)),
            (b"\n\xEF\xBB\xBFa\n", record(1, 6)),
            (b"a,\"b\r\"\n", record(0, 7)),
            (b"a,", record(0, 2)),
            (b"a,\"b", First::OpenQuote(2)),
            (b"a,\"b\"\"", First::OpenQuote(2)),
            (b"a\rb\n", First::BareCr(1)),
            (b"\ra\n", First::BareCr(0)),
            (b"a\r", First::BareCr(1)),
        ] {
            assert_eq!(
                first_record(buf, true),
                want,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
        for partial in [&b"\xEF\xBB"[..], b"a\r", b"\n\r", b"a,\"b\"", b"a,b", b""] {
            assert_eq!(
                first_record(partial, false),
                First::Incomplete,
                "{partial:?}"
            );
        }
    }

    #[test]
    fn a_bare_carriage_return_is_found_outside_quotes_only() {
        let at = |record, at| Some(BareCr { record, at });
        assert_eq!(find_bare_cr(b"a\r\nb\r\n", true), None);
        assert_eq!(find_bare_cr(b"a\r\n\"b\r\",\"\rc\"\r\n", true), None);
        assert_eq!(find_bare_cr(b"a\r\nb,c\rd\n", true), at(3, 6));
        assert_eq!(find_bare_cr(b"\"x\ny\"\r\nx\"\ry\n", true), at(7, 9));
        assert_eq!(find_bare_cr(b"a\nb\r", true), at(2, 3));
        assert_eq!(find_bare_cr(b"a\nb\r", false), None);
        assert_eq!(find_bare_cr(b"\"a\rb", true), None);
    }

    #[test]
    fn errors_name_the_column_past_a_bom() {
        let mut c = Chunker::new("\u{feff}a,\"b\n".as_bytes(), 64, "t.csv");
        let e = c.header().expect_err("refused").to_string();
        assert!(e.contains("never closed") && e.contains("t.csv:1:3"), "{e}");
    }
}
