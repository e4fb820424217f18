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

use crate::error::{Diagnostic, Error, Location, Result};
use std::io::{self, Read};
use std::path::Path;

/// Default chunk size: large enough to amortise per-chunk costs, small enough
/// that a few chunks per thread in flight keep memory bounded.
pub const CHUNK_SIZE: usize = 1 << 20;

/// The longest record the chunker accepts. Longer ones are almost always an
/// unclosed quote, which would otherwise read the rest of the file into memory.
pub const MAX_RECORD: usize = 64 << 20;

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
pub struct Header {
    pub names: Vec<String>,
    /// The record as read, byte-order mark and line ending included.
    pub raw: Vec<u8>,
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

    /// Reads the header record; `None` for an empty input.
    pub fn header(&mut self) -> Result<Option<Header>> {
        let mut want = self.chunk_size;
        let end = loop {
            self.fill(want)?;
            if let Some(end) = first_record_end(self.data()) {
                break end;
            }
            if self.eof {
                break self.filled;
            }
            want = self.filled * 2;
        };
        if end == 0 {
            return Ok(None);
        }
        if has_bare_cr(&self.pending[..end]) {
            return Err(self.data_error(1, "lines end with a bare carriage return (old Mac line endings)", "convert the file to LF or CRLF line endings, e.g. `tr '\\r' '\\n' < in.csv > out.csv`"));
        }
        let raw = self.pending[..end].to_vec();
        let mut bytes: &[u8] = &raw;
        if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
            bytes = rest;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        let names = match reader.read_byte_record(&mut record) {
            Ok(true) => record
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_owned())
                .collect(),
            _ => return Ok(None),
        };
        self.next_line += bytecount::count(&self.pending[..end], b'\n') as u64;
        self.pending.copy_within(end..self.filled, 0);
        self.filled -= end;
        Ok(Some(Header { names, raw }))
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
                if let Some(quote) = quoted
                    .then(|| scan(self.data(), false).open_quote)
                    .flatten()
                {
                    let line =
                        self.next_line + bytecount::count(&self.pending[..quote], b'\n') as u64;
                    return Err(self.data_error(line, "a quote opened on this line is never closed", "every quoted field needs a closing quote; a quote inside a value is written twice (`\"\"`)"));
                }
                Some(self.filled)
            } else {
                last_end(self.data(), quoted)
            };
            match cut {
                Some(cut) => {
                    let quote_free =
                        !quoted || memchr::memchr(b'"', &self.pending[..cut]).is_none();
                    return Ok(Some(self.emit(cut, quote_free)));
                }
                // A single record longer than the chunk: read on until it ends.
                None if self.filled < MAX_RECORD => want = self.filled * 2,
                None => {
                    let message = format!("a record is longer than {} MiB", MAX_RECORD >> 20);
                    return Err(self.data_error(self.next_line, &message, "this usually means a quote that is never closed: check the quoting from this line on"));
                }
            }
        }
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

    fn data_error(&self, line: u64, message: &str, help: &str) -> Error {
        Error::Data(
            Diagnostic::new(message)
                .at(Location::new(&self.name, line as usize, 1))
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
}

/// The end (exclusive) of the first record: just past its newline.
fn first_record_end(buf: &[u8]) -> Option<usize> {
    scan(buf, true).end
}

/// The end (exclusive) of the last whole record in `buf`, which starts at a
/// record boundary: just past the last newline outside a quoted field.
pub fn last_record_end(buf: &[u8]) -> Option<usize> {
    last_end(buf, memchr::memchr(b'"', buf).is_some())
}

/// `last_record_end` when the caller already knows whether `buf` has a quote.
fn last_end(buf: &[u8], quoted: bool) -> Option<usize> {
    if quoted {
        scan(buf, false).end
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
/// cut a record in two. Returns the first end when `first`, else the last.
fn scan(buf: &[u8], first: bool) -> Scan {
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
                    if first {
                        break;
                    }
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

/// Whether `buf` ends lines with a bare carriage return (old Mac format).
fn has_bare_cr(buf: &[u8]) -> bool {
    memchr::memchr_iter(b'\r', buf).any(|i| buf.get(i + 1) != Some(&b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], size: usize) -> (Vec<String>, Vec<(u64, String)>) {
        let mut c = Chunker::new(input, size, "t.csv");
        let header = c.header().unwrap().map(|h| h.names).unwrap_or_default();
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
        assert_eq!(first_record_end(buf), Some(12));
        assert_eq!(last_record_end(buf), Some(buf.len()));
        assert_eq!(last_record_end(&buf[..8]), None);
        assert_eq!(last_record_end(b"\"a\"\"\nb\"\nc\n"), Some(10));
    }

    #[test]
    fn bare_carriage_returns_are_refused() {
        let mut c = Chunker::new(&b"a,b\r1,2\r"[..], 64, "t.csv");
        let e = c.header().err().expect("refused").to_string();
        assert!(
            e.contains("bare carriage return") && e.contains("t.csv:1:1"),
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
}
