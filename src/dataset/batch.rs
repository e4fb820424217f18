//! Typed column batches, parsed from one chunk of records.
//!
//! A batch holds only the projected columns, each as a typed vector with a
//! validity vector (an empty cell is a missing value). Batches are reused
//! from chunk to chunk, so after the first chunk parsing allocates nothing.

use super::arrow_fill::{self, ArrowPiece};
use super::chunker::{Chunk, bare_cr_error, csv_reader, find_bare_cr};
use super::regular::{RegularParser, masks};
use super::schema::{Projected, Schema};
use super::value::{
    FieldType, has_too_many_digits, is_too_large_decimal, parse_bool, parse_decimal, parse_float,
    parse_int,
};
use crate::dataset::schema::Role;
use crate::error::{CallerColumn, Diagnostic, Error, Location, Result};
use rust_decimal::Decimal;

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Decimal(Vec<Decimal>),
    /// 0 or 1.
    Bool(Vec<u8>),
    /// Cell bytes back to back; `ends[i]` is where row `i` ends.
    Str {
        bytes: Vec<u8>,
        ends: Vec<u32>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub data: ColumnData,
    /// `false` where the cell was empty (a missing value).
    pub valid: Vec<bool>,
}

impl Column {
    pub fn new(ty: FieldType) -> Column {
        let data = match ty {
            FieldType::Int => ColumnData::Int(Vec::new()),
            FieldType::Float => ColumnData::Float(Vec::new()),
            FieldType::Decimal => ColumnData::Decimal(Vec::new()),
            FieldType::Bool => ColumnData::Bool(Vec::new()),
            FieldType::String => ColumnData::Str {
                bytes: Vec::new(),
                ends: Vec::new(),
            },
        };
        Column {
            data,
            valid: Vec::new(),
        }
    }

    /// The bytes of a string cell (empty for other types).
    pub fn str(&self, row: usize) -> &[u8] {
        match &self.data {
            ColumnData::Str { bytes, ends } => {
                let start = if row == 0 { 0 } else { ends[row - 1] as usize };
                &bytes[start..ends[row] as usize]
            }
            _ => &[],
        }
    }

    /// Appends a missing value.
    pub fn push_missing(&mut self) {
        self.valid.push(false);
        match &mut self.data {
            ColumnData::Int(v) => v.push(0),
            ColumnData::Float(v) => v.push(0.0),
            ColumnData::Decimal(v) => v.push(Decimal::ZERO),
            ColumnData::Bool(v) => v.push(0),
            ColumnData::Str { bytes, ends } => ends.push(bytes.len() as u32),
        }
    }

    pub fn truncate(&mut self, len: usize) {
        self.valid.truncate(len);
        match &mut self.data {
            ColumnData::Int(v) => v.truncate(len),
            ColumnData::Float(v) => v.truncate(len),
            ColumnData::Decimal(v) => v.truncate(len),
            ColumnData::Bool(v) => v.truncate(len),
            ColumnData::Str { bytes, ends } => {
                ends.truncate(len);
                bytes.truncate(ends.last().copied().unwrap_or(0) as usize);
            }
        }
    }

    /// Appends `cells`; `false` when any does not parse as the column's
    /// type. The fast paths' column-at-a-time `push`.
    pub(super) fn fill<'c>(&mut self, cells: impl ExactSizeIterator<Item = &'c [u8]>) -> bool {
        let valid = &mut self.valid;
        match &mut self.data {
            ColumnData::Int(v) => fill_parsed(v, valid, cells, parse_int, 0),
            ColumnData::Float(v) => fill_parsed(v, valid, cells, parse_float, 0.0),
            ColumnData::Decimal(v) => fill_parsed(v, valid, cells, parse_decimal, Decimal::ZERO),
            ColumnData::Bool(v) => fill_parsed(v, valid, cells, |c| parse_bool(c).map(u8::from), 0),
            ColumnData::Str { bytes: out, ends } => {
                let mut ok = true;
                for cell in cells {
                    let cell = cell.trim_ascii();
                    valid.push(!cell.is_empty());
                    out.extend_from_slice(cell);
                    ends.push(out.len() as u32);
                    ok &= cell.is_ascii() || std::str::from_utf8(cell).is_ok();
                }
                ok
            }
        }
    }

    /// Appends a cell; `false` when it does not parse as the column's type.
    pub(super) fn push(&mut self, cell: &[u8]) -> bool {
        let missing = cell.is_empty() || cell.trim_ascii().is_empty();
        self.valid.push(!missing);
        match &mut self.data {
            ColumnData::Int(v) => push_parsed(v, missing, cell, parse_int, 0),
            ColumnData::Float(v) => push_parsed(v, missing, cell, parse_float, 0.0),
            ColumnData::Decimal(v) => push_parsed(v, missing, cell, parse_decimal, Decimal::ZERO),
            ColumnData::Bool(v) => {
                push_parsed(v, missing, cell, |c| parse_bool(c).map(u8::from), 0)
            }
            ColumnData::Str { bytes, ends } => {
                let cell = cell.trim_ascii();
                bytes.extend_from_slice(cell);
                ends.push(bytes.len() as u32);
                cell.is_ascii() || std::str::from_utf8(cell).is_ok()
            }
        }
    }
}

fn push_parsed<T: Copy>(
    out: &mut Vec<T>,
    missing: bool,
    cell: &[u8],
    parse: impl Fn(&[u8]) -> Option<T>,
    zero: T,
) -> bool {
    if missing {
        out.push(zero);
        return true;
    }
    match parse(cell) {
        Some(v) => {
            out.push(v);
            true
        }
        None => {
            out.push(zero);
            false
        }
    }
}

fn fill_parsed<'c, T: Copy>(
    out: &mut Vec<T>,
    valid: &mut Vec<bool>,
    cells: impl ExactSizeIterator<Item = &'c [u8]>,
    parse: impl Fn(&[u8]) -> Option<T>,
    zero: T,
) -> bool {
    // Sized first and written in place: no capacity check per cell.
    let (start, n) = (out.len(), cells.len());
    out.resize(start + n, zero);
    valid.resize(start + n, false);
    let mut ok = true;
    for ((out, valid), cell) in out[start..].iter_mut().zip(&mut valid[start..]).zip(cells) {
        // Most cells parse; only one that does not is looked at again: a
        // blank cell (no parser takes one) is missing, any other is bad.
        let value = parse(cell);
        if value.is_none() {
            ok &= cell.trim_ascii().is_empty();
        }
        *valid = value.is_some();
        *out = value.unwrap_or(zero);
    }
    ok
}

/// A row the reader skipped under `--skip-bad-rows`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRow {
    pub line: u64,
    pub reason: String,
}

/// Malformed rows: every one counted, the first few kept to show.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRows {
    pub count: u64,
    pub examples: Vec<SkippedRow>,
}

impl SkippedRows {
    /// How many rows are kept to show.
    pub const EXAMPLES: usize = 20;

    pub fn add(&mut self, rows: &[SkippedRow]) {
        self.count += rows.len() as u64;
        let room = Self::EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(rows.iter().take(room).cloned());
    }

    /// Adds `later`, which comes after these rows in the file.
    /// Adds another part's rows. The examples kept are the first in the
    /// file, whichever order parts merge in.
    pub fn merge(&mut self, other: &SkippedRows) {
        self.count += other.count;
        self.examples.extend(other.examples.iter().cloned());
        self.examples.sort_by_key(|r| r.line);
        self.examples.truncate(Self::EXAMPLES);
    }
}

/// The projected columns of a run of records.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub len: usize,
    pub columns: Vec<Column>,
    /// The file line each row starts on.
    pub lines: Vec<u64>,
}

impl Batch {
    pub fn new(schema: &Schema) -> Batch {
        Batch {
            len: 0,
            columns: schema.columns.iter().map(|c| Column::new(c.ty)).collect(),
            lines: Vec::new(),
        }
    }

    /// Keeps only the rows `keep` marks.
    pub(super) fn retain_rows(&mut self, keep: &[bool]) {
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        retain(&mut self.lines, keep);
        for c in &mut self.columns {
            retain(&mut c.valid, keep);
            match &mut c.data {
                ColumnData::Int(v) => retain(v, keep),
                ColumnData::Float(v) => retain(v, keep),
                ColumnData::Decimal(v) => retain(v, keep),
                ColumnData::Bool(v) => retain(v, keep),
                ColumnData::Str { bytes, ends } => {
                    let (mut out, mut start) = (0, 0);
                    let mut row = 0;
                    ends.retain_mut(|end| {
                        let (from, to) = (start, *end as usize);
                        start = to;
                        row += 1;
                        if !keep[row - 1] {
                            return false;
                        }
                        bytes.copy_within(from..to, out);
                        out += to - from;
                        *end = out as u32;
                        true
                    });
                    bytes.truncate(out);
                }
            }
        }
        self.len = self.lines.len();
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.lines.clear();
        for c in &mut self.columns {
            c.truncate(0);
        }
    }
}

/// Records split before their cells are parsed into columns: few enough
/// that their bytes (about 80 a record in a typical file) stay in L1.
pub(super) const FILL_ROWS: usize = 256;

/// What a worker parses into a [`Batch`]: a chunk of CSV text, or the
/// projected columns of some Arrow rows.
pub enum Piece<'a> {
    Text(&'a Chunk),
    Arrow(ArrowPiece<'a>),
}

impl Piece<'_> {
    /// The rows it holds (for CSV text, its newlines).
    pub fn rows(&self) -> u64 {
        match self {
            Piece::Text(chunk) => chunk.lines,
            Piece::Arrow(a) => a.batch.num_rows() as u64,
        }
    }
}

/// Reusable state for parsing chunks.
#[derive(Default)]
pub struct Parser {
    record: csv::ByteRecord,
    /// Field boundaries of the current record on the fast path.
    ranges: Vec<(usize, usize)>,
    /// The projected cells of a chunk on the fast path, a list per
    /// projected column, so that filling a column reads its list in order.
    cells: Vec<Vec<(u32, u32)>>,
    regular: RegularParser,
}

impl Parser {
    /// Parses `chunk` into `batch`. A malformed row is an error, or with
    /// `skip_bad` is recorded in `skipped` and left out of the batch.
    ///
    /// Three paths, fastest first, all giving the same batch (a proptest
    /// says so): a regular chunk (see `regular`) — nearly every chunk of a
    /// machine-written file — is read straight from its list of delimiters;
    /// another chunk without quote characters takes `parse_plain`, where a
    /// field is exactly the bytes between two commas but records may be
    /// blank or malformed; any other chunk goes through the `csv` crate.
    ///
    /// A bare carriage return (one no line feed follows, outside quotes) is
    /// an error on every path, even with `skip_bad`: the rows before it are
    /// read as usual (so an error among them comes first), then the chunk
    /// stops there. The regular path takes no chunk that has one.
    ///
    /// Arrow columns (a Parquet row group's, an Arrow stream's batch) are
    /// read by [`arrow_fill::fill`], by the same rules.
    pub fn parse(
        &mut self,
        piece: &Piece,
        schema: &Schema,
        skip_bad: bool,
        batch: &mut Batch,
        skipped: &mut Vec<SkippedRow>,
    ) -> Result<()> {
        match piece {
            Piece::Text(chunk) => self.parse_text(chunk, schema, skip_bad, batch, skipped),
            Piece::Arrow(columns) => arrow_fill::fill(columns, schema, skip_bad, batch, skipped),
        }
    }

    fn parse_text(
        &mut self,
        chunk: &Chunk,
        schema: &Schema,
        skip_bad: bool,
        batch: &mut Batch,
        skipped: &mut Vec<SkippedRow>,
    ) -> Result<()> {
        batch.clear();
        if self.regular.parse(chunk, schema, batch) {
            return Ok(());
        }
        batch.clear();
        let mut sink = Sink {
            schema,
            skip_bad,
            batch,
            skipped,
        };
        let bare_cr = find_bare_cr(&chunk.bytes, true);
        let bytes = match &bare_cr {
            Some(cr) => &chunk.bytes[..cr.record],
            None => &chunk.bytes[..],
        };
        if chunk.quote_free {
            self.parse_plain(bytes, chunk.first_line, &mut sink)?;
        } else {
            self.parse_csv(bytes, chunk.first_line, &mut sink)?;
        }
        match bare_cr {
            Some(cr) => Err(bare_cr_error(
                &schema.source,
                &chunk.bytes,
                chunk.first_line,
                cr.at,
            )),
            None => Ok(()),
        }
    }

    /// The fast path, in two passes over every [`FILL_ROWS`] records: split
    /// them into tables of cell ranges, then fill each typed column in one
    /// loop, so the type is decided once per column rather than once per
    /// cell, while the records' bytes are still in the core's cache. A chunk with any
    /// malformed row is parsed again by `parse_csv`, which reports or skips
    /// rows exactly, in file order.
    fn parse_plain(&mut self, bytes: &[u8], first_line: u64, sink: &mut Sink) -> Result<()> {
        let width = sink.schema.width;
        let mut line = first_line;
        let (mut record_start, mut field_start, mut fields) = (0, 0, 0);
        let mut well_formed = true;
        // One slot per field, plus one to notice a record with too many.
        self.ranges.clear();
        self.ranges.resize(width + 1, (0, 0));
        let projected = sink.schema.columns.len();
        self.cells.resize_with(projected, Vec::new);
        self.cells.iter_mut().for_each(Vec::clear);
        // Walk the commas and newlines of each 64-byte block as bitmasks:
        // the cost is per delimiter, not per byte.
        'blocks: for (block_index, block) in bytes.chunks(64).enumerate() {
            let base = block_index * 64;
            let (commas, newlines, _) = masks(block);
            let mut delimiters = commas | newlines;
            while delimiters != 0 {
                let bit = delimiters.trailing_zeros();
                delimiters &= delimiters - 1;
                let at = base + bit as usize;
                if let Some(slot) = self.ranges.get_mut(fields) {
                    *slot = (field_start, at);
                }
                fields += 1;
                field_start = at + 1;
                if newlines & (1 << bit) != 0 {
                    well_formed = self.end_record(bytes, fields, line, sink)
                        && (self.cells.first().is_none_or(|c| c.len() < FILL_ROWS)
                            || self.fill(bytes, sink));
                    if !well_formed {
                        break 'blocks;
                    }
                    line += 1;
                    (record_start, fields) = (at + 1, 0);
                }
            }
        }
        if well_formed && record_start < bytes.len() {
            if let Some(slot) = self.ranges.get_mut(fields) {
                *slot = (field_start, bytes.len());
            }
            well_formed = self.end_record(bytes, fields + 1, line, sink);
        }
        well_formed = well_formed && self.fill(bytes, sink);
        if !well_formed {
            sink.batch.clear();
            return self.parse_csv(bytes, first_line, sink);
        }
        sink.batch.len = sink.batch.lines.len();
        Ok(())
    }

    /// Fills the batch's columns from the cells split so far, and forgets
    /// them; `false` when a cell does not parse.
    fn fill(&mut self, bytes: &[u8], sink: &mut Sink) -> bool {
        let mut ok = true;
        for (column, cells) in sink.batch.columns.iter_mut().zip(&mut self.cells) {
            ok = ok && column.fill(cells.iter().map(|&(a, b)| &bytes[a as usize..b as usize]));
            cells.clear();
        }
        ok
    }

    /// Records the cells of a record of `fields` fields, whose ranges are the
    /// first slots of `ranges`; `false` when it is malformed (wrong field
    /// count, or every field blank).
    fn end_record(&mut self, bytes: &[u8], fields: usize, line: u64, sink: &mut Sink) -> bool {
        if fields > self.ranges.len() {
            return false;
        }
        let ranges = &mut self.ranges[..fields];
        if let Some(last) = ranges.last_mut()
            && last.1 > last.0
            && bytes[last.1 - 1] == b'\r'
        {
            last.1 -= 1;
        }
        // Like the CSV parser, skip blank lines.
        if fields == 1 && ranges[0].0 == ranges[0].1 {
            return true;
        }
        if fields != sink.schema.width
            || ranges
                .iter()
                .all(|&(a, b)| bytes[a..b].trim_ascii().is_empty())
        {
            return false;
        }
        for (j, p) in sink.schema.columns.iter().enumerate() {
            let (a, b) = ranges[p.csv_index];
            self.cells[j].push((a as u32, b as u32));
        }
        sink.batch.lines.push(line);
        true
    }

    /// The `csv` crate's reading of `bytes`, records that start on line
    /// `first_line`. A byte-order mark at their start is data, as anywhere
    /// but at the file's start (which the header has taken).
    fn parse_csv(&mut self, bytes: &[u8], first_line: u64, sink: &mut Sink) -> Result<()> {
        let (mut reader, guard) = csv_reader(bytes);
        let record = &mut self.record;
        // The line of the record being read, advanced by counting newlines
        // from the previous record's start to this one's.
        let (mut line, mut cursor) = (first_line, 0usize);
        loop {
            match reader.read_byte_record(record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    return Err(Error::Data(
                        Diagnostic::new(format!("cannot parse CSV: {e}"))
                            .at(Location::new(&sink.schema.source, first_line as usize, 1))
                            .help("check the file is comma-separated UTF-8 text with a header row"),
                    ));
                }
            }
            // The parser's position is where it stood before the record: it may
            // still be on the previous record's line ending or on blank lines.
            let mut start = record
                .position()
                .map_or(cursor, |p| (p.byte() as usize).saturating_sub(guard))
                .max(cursor);
            while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
                start += 1;
            }
            line += bytecount::count(&bytes[cursor..start], b'\n') as u64;
            cursor = start;
            sink.accept(&*record, &bytes[start..], line)?;
        }
        Ok(())
    }
}

/// Where parsed rows go: the batch, or (malformed, under `skip_bad`) the
/// list of skipped rows.
struct Sink<'a> {
    schema: &'a Schema,
    skip_bad: bool,
    batch: &'a mut Batch,
    skipped: &'a mut Vec<SkippedRow>,
}

impl Sink<'_> {
    /// Parses a record into the batch; a malformed one is an error, or under
    /// `skip_bad` is recorded and what it had pushed is dropped.
    fn accept(&mut self, record: &csv::ByteRecord, raw: &[u8], line: u64) -> Result<()> {
        let (batch, skipped, skip_bad) = (&mut *self.batch, &mut *self.skipped, self.skip_bad);
        match parse_record(record, raw, self.schema, batch, line) {
            Ok(()) => {
                batch.lines.push(line);
                batch.len += 1;
                Ok(())
            }
            Err(Error::Data(d)) if skip_bad => {
                for c in &mut batch.columns {
                    c.truncate(batch.len);
                }
                skipped.push(SkippedRow {
                    line,
                    reason: d.message,
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// `raw` is the input from the record's first byte on, to locate a bad cell.
fn parse_record(
    record: &csv::ByteRecord,
    raw: &[u8],
    schema: &Schema,
    batch: &mut Batch,
    line: u64,
) -> Result<()> {
    // Built only for an error: this runs for every row.
    let at = || Location::new(&schema.source, line as usize, 1);
    if record.len() != schema.width {
        return Err(Error::Data(
            Diagnostic::new(format!("row has {} field(s) but the header has {}", record.len(), schema.width))
                .at(at())
                .help("quote values that contain commas (\"1,000\"), or pass --skip-bad-rows to count and skip such rows"),
        ));
    }
    if record.iter().all(|f| f.trim_ascii().is_empty()) {
        return Err(Error::Data(
            Diagnostic::new("row is empty: every field is blank")
                .at(at())
                .help("remove empty rows (spreadsheets often add them at the end), or pass --skip-bad-rows to count and skip them"),
        ));
    }
    for (col, p) in batch.columns.iter_mut().zip(&schema.columns) {
        let cell = &record[p.csv_index];
        if !col.push(cell) {
            let (extra_lines, column) = locate_field(raw, p.csv_index);
            let line = line + extra_lines;
            return Err(bad_cell(
                p,
                cell,
                Location::new(&schema.source, line as usize, column),
            ));
        }
    }
    Ok(())
}

/// The error for `cell`, which `p` cannot take, found at `at`.
pub(super) fn bad_cell(p: &Projected, cell: &[u8], at: Location) -> Error {
    let too_large = p.ty == FieldType::Decimal && is_too_large_decimal(cell);
    let too_long = p.ty == FieldType::Decimal && has_too_many_digits(cell);
    Error::Data(
        Diagnostic::new(format!(
            "`{}` in column `{}` (field {}) is {}",
            String::from_utf8_lossy(cell),
            p.name,
            p.csv_index + 1,
            if too_large { "too large for a decimal".to_owned() } else if too_long { "a decimal with too many digits".to_owned() } else { format!("not {}", p.ty.with_article()) }
        ))
        .at(at)
        .help(match p.role {
            // A header line again: files joined with `cat`, each with its own.
            _ if cell.trim_ascii() == p.name.as_bytes() => "this row repeats the header line (files joined with `cat`, each with its header?): keep the first file's header only (`tail -n +2` on the others), or pass --skip-bad-rows to count and skip such rows".to_owned(),
            _ if too_long => "a decimal holds 28 significant digits exactly, and a longer value would be silently rounded: round it to the precision you mean, or pass --skip-bad-rows to count and skip such rows".to_owned(),
            _ if too_large => "decimals are money: polsim takes values below 10^15 (a quadrillion) in size, so that no total can overflow; a larger one is almost always corrupt data. Fix it, or pass --skip-bad-rows to count and skip such rows".to_owned(),
            _ if p.ty == FieldType::String => "save the file as UTF-8 (in Excel: \"CSV UTF-8\"); convert a GBK/GB18030 file with `iconv -f GB18030 -t UTF-8`".to_owned(),
            _ if p.ty.is_numeric() && cell.contains(&b',') => "remove the thousands separators: write `1234.50`, not `1,234.50`".to_owned(),
            Role::Typed => format!(
                "a `.rhai` policy types each column from the data's first {} rows, and `{}` read as {} there: declare its type in a YAML policy (`fields: {{ {}: … }}` beside `script:`), or pass --skip-bad-rows to count and skip such rows",
                crate::policy::rhai_file::SNIFF_ROWS,
                p.name,
                p.ty.with_article(),
                p.name
            ),
            _ => format!(
                "expected {}; fix the value, leave the cell empty for a missing value, or pass --skip-bad-rows to count and skip such rows",
                p.ty.example()
            ),
        })
        .caller_column((p.role == Role::Segment && !too_long && !too_large).then(|| CallerColumn::BadCell(p.name.clone()))),
    )
}

/// Where field `index` of the record at the start of `raw` begins: lines
/// after the record's first line, and the 1-based character column on that
/// line. Follows the parser's quoting rules; only used to report an error.
fn locate_field(raw: &[u8], index: usize) -> (u64, usize) {
    let (mut field, mut in_quotes, mut at_field_start) = (0, false, true);
    let mut i = 0;
    while i < raw.len() && field < index {
        let b = raw[i];
        if in_quotes {
            if b == b'"' {
                if raw.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if b == b'"' && at_field_start {
            in_quotes = true;
        } else if b == b',' {
            field += 1;
        } else if b == b'\n' {
            break;
        }
        at_field_start = b == b',' && !in_quotes;
        i += 1;
    }
    let before = &raw[..i];
    let lines = bytecount::count(before, b'\n') as u64;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p + 1);
    let column = 1 + before[line_start..]
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80)
        .count();
    (lines, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::chunker::{Chunker, Header};
    use crate::dataset::regular::{Level, RegularParser};
    use crate::dataset::schema::ColumnSpec;

    fn parse(
        data: &str,
        cols: &[(&str, FieldType)],
        skip: bool,
    ) -> (Result<Batch>, Vec<SkippedRow>) {
        let mut chunker = Chunker::new(data.as_bytes(), 1 << 16, "t.csv");
        let header: Header = chunker.header().unwrap().unwrap();
        let specs: Vec<ColumnSpec> = cols.iter().map(|(n, t)| ColumnSpec::new(*n, *t)).collect();
        let schema = Schema::resolve("d.csv", &header, &specs).unwrap();
        let chunk = chunker.next_chunk().unwrap().unwrap();
        let mut batch = Batch::new(&schema);
        let mut skipped = Vec::new();
        let r = Parser::default().parse(
            &Piece::Text(&chunk),
            &schema,
            skip,
            &mut batch,
            &mut skipped,
        );
        (r.map(|_| batch), skipped)
    }

    #[test]
    fn parses_projected_columns_with_quotes_and_missing() {
        let data = "id,note,score,ok\n\"a,1\",\"say \"\"hi\"\"\nthere\",600,yes\nb,,,\r\n";
        let (b, _) = parse(
            data,
            &[
                ("score", FieldType::Int),
                ("id", FieldType::String),
                ("ok", FieldType::Bool),
            ],
            false,
        );
        let b = b.unwrap();
        assert_eq!(b.len, 2);
        assert_eq!(b.lines, [2, 4]);
        assert!(matches!(&b.columns[0].data, ColumnData::Int(v) if v[0] == 600));
        assert_eq!(b.columns[0].valid, [true, false]);
        assert_eq!(b.columns[1].str(0), b"a,1");
        assert_eq!(b.columns[1].str(1), b"b");
        assert!(matches!(&b.columns[2].data, ColumnData::Bool(v) if v[0] == 1));
        assert_eq!(b.columns[2].valid, [true, false]);
    }

    #[test]
    fn bad_value_names_line_column_and_field() {
        let (r, _) = parse(
            "id,score\nu1,600\nu2,6x0\n",
            &[("score", FieldType::Int)],
            false,
        );
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("`6x0` in column `score` (field 2) is not an int"),
            "{e}"
        );
        assert!(e.contains("d.csv:3:4"), "{e}");
    }

    #[test]
    fn locates_fields_past_quotes_and_newlines() {
        assert_eq!(locate_field(b"\"a,1\",6x0\n", 1), (0, 7));
        assert_eq!(locate_field(b"\"x\ny\",b,c", 2), (1, 6));
        assert_eq!(locate_field("é,x".as_bytes(), 1), (0, 3));
        assert_eq!(locate_field(b"a,\"q\"\"r\",z", 2), (0, 10));
    }

    /// `fill_parsed` relies on it: a blank cell is missing because no
    /// parser takes one.
    #[test]
    fn no_parser_takes_a_blank_cell() {
        use crate::dataset::value::{parse_bool, parse_decimal, parse_float, parse_int};
        for blank in ["", " ", "\t", "  \t "] {
            let b = blank.as_bytes();
            assert_eq!(parse_int(b), None, "{blank:?}");
            assert_eq!(parse_float(b), None, "{blank:?}");
            assert_eq!(parse_decimal(b), None, "{blank:?}");
            assert_eq!(parse_bool(b), None, "{blank:?}");
        }
    }

    #[test]
    fn line_numbers_survive_crlf_and_blank_lines() {
        let (b, _) = parse(
            "s,t\r\n1,a\r\n\r\n2,b\r\n\n3,c\n",
            &[("s", FieldType::Int)],
            false,
        );
        assert_eq!(b.unwrap().lines, [2, 4, 6]);
    }

    use proptest::prelude::*;

    /// Parses `body` (after the header `a,b,c`) the way `Parser::parse`
    /// does (the regular path, if it takes the chunk, else the others), then
    /// with the general fast path alone, then with the csv crate alone.
    fn every_path(
        body: &str,
        skip: bool,
    ) -> [(std::result::Result<Batch, String>, Vec<SkippedRow>); 3] {
        let data = format!("a,b,c\n{body}");
        let mut chunker = Chunker::new(data.as_bytes(), 1 << 20, "t.csv");
        let header = chunker.header().unwrap().unwrap();
        let schema = Schema::resolve("t.csv", &header, &every_path_columns()).unwrap();
        let Some(chunk) = chunker.next_chunk().unwrap() else {
            return std::array::from_fn(|_| (Ok(Batch::new(&schema)), vec![]));
        };
        assert!(chunk.quote_free);
        let run = |path: usize| {
            let (mut batch, mut skipped, mut parser) =
                (Batch::new(&schema), Vec::new(), Parser::default());
            let r = if path == 0 {
                parser.parse(
                    &Piece::Text(&chunk),
                    &schema,
                    skip,
                    &mut batch,
                    &mut skipped,
                )
            } else {
                let mut sink = Sink {
                    schema: &schema,
                    skip_bad: skip,
                    batch: &mut batch,
                    skipped: &mut skipped,
                };
                if path == 1 {
                    parser.parse_plain(&chunk.bytes, chunk.first_line, &mut sink)
                } else {
                    parser.parse_csv(&chunk.bytes, chunk.first_line, &mut sink)
                }
            };
            (r.map(|_| batch).map_err(|e| e.to_string()), skipped)
        };
        [run(0), run(1), run(2)]
    }

    /// Whether the regular path takes `body` (after the header `a,b,c`),
    /// the same at every level of instructions this CPU has.
    fn regular_takes(body: &str) -> bool {
        let data = format!("a,b,c\n{body}");
        let mut chunker = Chunker::new(data.as_bytes(), 1 << 20, "t.csv");
        let header = chunker.header().unwrap().unwrap();
        let schema =
            Schema::resolve("t.csv", &header, &[ColumnSpec::new("c", FieldType::Int)]).unwrap();
        let chunk = chunker.next_chunk().unwrap().unwrap();
        let takes: Vec<bool> = Level::ALL
            .iter()
            .filter(|l| l.available())
            .map(|&l| {
                RegularParser::default().parse_at(l, &chunk, &schema, &mut Batch::new(&schema))
            })
            .collect();
        assert!(takes.iter().all(|&t| t == takes[0]), "{takes:?}");
        takes[0]
    }

    /// The batch the regular path makes of `body` at each level of
    /// instructions this CPU has, for a chunk it takes.
    fn regular_batches(body: &str) -> Vec<(Level, Batch)> {
        let data = format!("a,b,c\n{body}");
        let mut chunker = Chunker::new(data.as_bytes(), 1 << 20, "t.csv");
        let header = chunker.header().unwrap().unwrap();
        let schema = Schema::resolve("t.csv", &header, &every_path_columns()).unwrap();
        let Some(chunk) = chunker.next_chunk().unwrap() else {
            return vec![];
        };
        Level::ALL
            .into_iter()
            .filter(|l| l.available())
            .filter_map(|level| {
                let mut batch = Batch::new(&schema);
                RegularParser::default()
                    .parse_at(level, &chunk, &schema, &mut batch)
                    .then_some((level, batch))
            })
            .collect()
    }

    fn every_path_columns() -> [ColumnSpec; 3] {
        [
            ColumnSpec::new("c", FieldType::Int),
            ColumnSpec::new("a", FieldType::String),
            ColumnSpec::new("b", FieldType::Bool),
        ]
    }

    #[test]
    fn the_regular_path_takes_only_regular_chunks() {
        let many = "u,true,3\n".repeat(700);
        for body in [
            &many[..],
            "u,true,3\n",
            "u,true,3",
            "u,true,3\r\nv,no,\r\n",
            "x,y,1\n,,2\n",
        ] {
            assert!(regular_takes(body), "{body:?}");
        }
        let irregular = [
            format!("{many}\n"),
            format!("{many}u,true\n"),
            format!("{many}u,true,3,4\n"),
            format!("{many},,\n"),
            format!("{many} , ,\t\n"),
            format!("{many}  ,    ,      \n"),
            format!("{many}{}\r\n", "  ,".repeat(2) + "    "),
            format!("{many}u,true,3\r"),
            format!("{many}u,tr\rue,3\n"),
            "u,true,3\nv\n\nw,x,y\n".to_owned(),
            format!("{many}u,true,x\n"),
        ];
        for body in &irregular {
            assert!(
                !regular_takes(body),
                "{:?}",
                &body[body.len().saturating_sub(20)..]
            );
        }
    }

    /// Records wider than a group of `FILL_ROWS` holds are filled fewer at
    /// a time, the same at every level.
    #[test]
    fn the_regular_path_reads_records_of_thousands_of_fields() {
        let width = 3000;
        let header: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
        let mut data = header.join(",") + "\n";
        for r in 0..300 {
            data.push_str(&format!("{r}{}x{r}\n", ",".repeat(width - 1)));
        }
        let mut chunker = Chunker::new(data.as_bytes(), 1 << 24, "t.csv");
        let header = chunker.header().unwrap().unwrap();
        let specs = [
            ColumnSpec::new("c2999", FieldType::String),
            ColumnSpec::new("c0", FieldType::Int),
        ];
        let schema = Schema::resolve("t.csv", &header, &specs).unwrap();
        let chunk = chunker.next_chunk().unwrap().unwrap();
        for level in Level::ALL.into_iter().filter(|l| l.available()) {
            let mut batch = Batch::new(&schema);
            assert!(RegularParser::default().parse_at(level, &chunk, &schema, &mut batch));
            assert_eq!(batch.len, 300, "{level:?}");
            assert!(
                matches!(&batch.columns[1].data, ColumnData::Int(v) if v[..] == (0..300).collect::<Vec<i64>>()[..])
            );
            assert_eq!(batch.columns[0].str(299), b"x299");
            assert_eq!(batch.lines[299], 301);
        }
    }

    /// Blocks of 64 bytes with up to 64 delimiters, at every level.
    #[test]
    fn dense_records_parse_the_same_at_every_level() {
        for body in [
            "1,,\n".repeat(100),
            "x,,\r\n".repeat(90),
            ",y,1\n".repeat(80),
        ] {
            let [_, _, csv] = every_path(&body, false);
            let batches = regular_batches(&body);
            assert!(!batches.is_empty(), "{body:?}");
            for (level, batch) in batches {
                assert_eq!(csv.0.as_ref(), Ok(&batch), "{level:?}");
            }
        }
    }

    proptest! {
        /// The fast paths read a quote-free chunk exactly as the csv crate
        /// does, errors and line numbers included.
        #[test]
        fn fast_paths_agree_with_the_csv_parser(
            rows in proptest::collection::vec(
                (
                    proptest::collection::vec(proptest::sample::select(vec!["", "7", "-12", " 3 ", "x", "true", "No", "é", "2.5", "0", "      ", "\t\t"]), 0..5),
                    proptest::sample::select(vec!["\n", "\r\n"]),
                ),
                0..30),
            skip in any::<bool>(),
            // Good rows first, so that the generated ones may come after the
            // fast paths have already filled columns (every FILL_ROWS records).
            pad in prop_oneof![Just(0usize), 250..600usize],
            last_newline in any::<bool>(),
        ) {
            let mut body: String = std::iter::repeat_n("u,true,3\n".to_owned(), pad)
                .chain(rows.iter().map(|(fields, end)| format!("{}{end}", fields.join(","))))
                .collect();
            if !last_newline && body.ends_with('\n') {
                body.pop();
                if body.ends_with('\r') {
                    body.pop();
                }
            }
            let [parsed, plain, csv] = every_path(&body, skip);
            prop_assert_eq!(&parsed, &csv);
            for (level, batch) in regular_batches(&body) {
                prop_assert_eq!(csv.0.as_ref(), Ok(&batch), "{:?}", level);
            }
            prop_assert_eq!(plain, csv);
        }
    }

    #[test]
    fn skipped_rows_count_all_and_keep_the_first_in_file_order() {
        let rows = |from: u64, n: u64| {
            (from..from + n)
                .map(|line| SkippedRow {
                    line,
                    reason: String::new(),
                })
                .collect::<Vec<_>>()
        };
        let (mut first, mut second) = (SkippedRows::default(), SkippedRows::default());
        first.add(&rows(1, 15));
        second.add(&rows(100, 30));
        first.merge(&second);
        assert_eq!(first.count, 45);
        let lines: Vec<u64> = first.examples.iter().map(|s| s.line).collect();
        assert_eq!(lines, (1..16).chain(100..105).collect::<Vec<_>>());
    }

    #[test]
    fn skip_bad_rows_counts_every_skipped_row() {
        let (r, skipped) = parse(
            "id,score\nu1,600\nu2,abc\nu3\nu4,700\n",
            &[("id", FieldType::String), ("score", FieldType::Int)],
            true,
        );
        let b = r.unwrap();
        assert_eq!(b.len, 2);
        assert_eq!(b.columns[0].str(1), b"u4");
        assert_eq!(skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [3, 4]);
        assert!(
            skipped[1]
                .reason
                .contains("row has 1 field(s) but the header has 2")
        );
    }
}
