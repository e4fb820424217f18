//! Typed column batches, parsed from one chunk of records.
//!
//! A batch holds only the projected columns, each as a typed vector with a
//! validity vector (an empty cell is a missing value). Batches are reused
//! from chunk to chunk, so after the first chunk parsing allocates nothing.

use super::chunker::Chunk;
use super::schema::Schema;
use super::value::{FieldType, parse_bool, parse_decimal, parse_float, parse_int};
use crate::error::{Diagnostic, Error, Location, Result};
use rust_decimal::Decimal;

/// The values of one column.
#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
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

    fn truncate(&mut self, len: usize) {
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

    /// Appends a cell; `false` when it does not parse as the column's type.
    fn push(&mut self, cell: &[u8]) -> bool {
        let missing = cell.trim_ascii().is_empty();
        self.valid.push(!missing);
        match &mut self.data {
            ColumnData::Int(v) => push_parsed(v, missing, cell, parse_int, 0),
            ColumnData::Float(v) => push_parsed(v, missing, cell, parse_float, 0.0),
            ColumnData::Decimal(v) => push_parsed(v, missing, cell, parse_decimal, Decimal::ZERO),
            ColumnData::Bool(v) => {
                push_parsed(v, missing, cell, |c| parse_bool(c).map(u8::from), 0)
            }
            ColumnData::Str { bytes, ends } => {
                bytes.extend_from_slice(cell);
                ends.push(bytes.len() as u32);
                true
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

/// A row the reader skipped under `--skip-bad-rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    pub line: u64,
    pub reason: String,
}

/// The projected columns of a run of records.
#[derive(Debug, Clone)]
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

    fn clear(&mut self) {
        self.len = 0;
        self.lines.clear();
        for c in &mut self.columns {
            c.truncate(0);
        }
    }
}

/// Reusable state for parsing chunks.
pub struct Parser {
    record: csv::ByteRecord,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            record: csv::ByteRecord::new(),
        }
    }
}

impl Parser {
    /// Parses `chunk` into `batch`. A malformed row is an error, or with
    /// `skip_bad` is recorded in `skipped` and left out of the batch.
    pub fn parse(
        &mut self,
        chunk: &Chunk,
        schema: &Schema,
        skip_bad: bool,
        batch: &mut Batch,
        skipped: &mut Vec<SkippedRow>,
    ) -> Result<()> {
        batch.clear();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&chunk.bytes[..]);
        let record = &mut self.record;
        loop {
            match reader.read_byte_record(record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    return Err(Error::Data(
                        Diagnostic::new(format!("cannot parse CSV: {e}"))
                            .at(Location::new(&schema.source, chunk.first_line as usize, 1))
                            .help("check the file is comma-separated UTF-8 text with a header row"),
                    ));
                }
            }
            let line = chunk.first_line + record.position().map_or(1, |p| p.line()) - 1;
            match parse_record(record, schema, batch, line) {
                Ok(()) => {
                    batch.lines.push(line);
                    batch.len += 1;
                }
                Err(e) if skip_bad => {
                    for c in &mut batch.columns {
                        c.truncate(batch.len);
                    }
                    let Error::Data(d) = e else {
                        unreachable!("record errors are data errors")
                    };
                    skipped.push(SkippedRow {
                        line,
                        reason: d.message,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn parse_record(
    record: &csv::ByteRecord,
    schema: &Schema,
    batch: &mut Batch,
    line: u64,
) -> Result<()> {
    if record.len() != schema.width {
        return Err(Error::Data(
            Diagnostic::new(format!("row has {} fields but the header has {}", record.len(), schema.width))
                .at(Location::new(&schema.source, line as usize, 1))
                .help("quote values that contain commas (\"1,000\"), or pass --skip-bad-rows to count and skip such rows"),
        ));
    }
    for (col, p) in batch.columns.iter_mut().zip(&schema.columns) {
        let cell = &record[p.csv_index];
        if !col.push(cell) {
            let column = 1 + (0..p.csv_index).map(|i| record[i].len() + 1).sum::<usize>();
            return Err(Error::Data(
                Diagnostic::new(format!(
                    "`{}` in column `{}` (field {}) is not a {}",
                    String::from_utf8_lossy(cell),
                    p.name,
                    p.csv_index + 1,
                    p.ty
                ))
                .at(Location::new(&schema.source, line as usize, column))
                .help(format!(
                    "expected {}; fix the value, leave the cell empty for a missing value, or pass --skip-bad-rows to count and skip such rows",
                    p.ty.example()
                )),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::chunker::{Chunker, Header};
    use crate::policy::compile::ColumnSpec;

    fn parse(
        data: &str,
        cols: &[(&str, FieldType)],
        skip: bool,
    ) -> (Result<Batch>, Vec<SkippedRow>) {
        let mut chunker = Chunker::new(data.as_bytes(), 1 << 16);
        let header: Header = chunker.header().unwrap().unwrap();
        let specs: Vec<ColumnSpec> = cols
            .iter()
            .map(|(n, t)| ColumnSpec {
                name: n.to_string(),
                ty: *t,
            })
            .collect();
        let schema = Schema::resolve("d.csv", &header, &specs).unwrap();
        let chunk = chunker.next_chunk().unwrap().unwrap();
        let mut batch = Batch::new(&schema);
        let mut skipped = Vec::new();
        let r = Parser::default().parse(&chunk, &schema, skip, &mut batch, &mut skipped);
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
            e.contains("`6x0` in column `score` (field 2) is not a int"),
            "{e}"
        );
        assert!(e.contains("d.csv:3:4"), "{e}");
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
                .contains("row has 1 fields but the header has 2")
        );
    }
}
