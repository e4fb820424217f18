//! The CSV reader against the `csv` crate.
//!
//! The first four bytes of an input say how to read the rest: the chunk
//! size (1 byte to 64 KiB, so that records straddle chunks), the number of
//! worker threads (1 to 4), whether to skip bad rows, and which columns to
//! project with which types. polsim reads the dataset through the whole
//! streaming pipeline; the oracle reads it with the `csv` crate and applies
//! the rules README.md documents (see `expect`). Both must give the same
//! rows (lines and typed values), the same skipped rows (lines and reasons)
//! or the same error (message and line).

use crate::dataset::batch::{Batch, ColumnData, Parser, SkippedRow};
use crate::dataset::schema::ColumnSpec;
use crate::dataset::stream::{self, Input, StreamOptions};
use crate::dataset::value::{
    FieldType, has_too_many_digits, is_too_large_decimal, parse_bool, parse_decimal, parse_float,
    parse_int,
};
use crate::error::Error;

const NAME: &str = "t.csv";
const BARE_CR: &str = "bare carriage return";
const OPEN_QUOTE: &str = "a quote opened on this line is never closed";
const BOM: &[u8] = b"\xEF\xBB\xBF";
const CHUNK_SIZES: [usize; 8] = [1, 2, 3, 7, 16, 64, 256, 1 << 16];
const TYPES: [FieldType; 5] = [
    FieldType::String,
    FieldType::Int,
    FieldType::Decimal,
    FieldType::Bool,
    FieldType::Float,
];

/// A cell as read: missing, or a typed value (floats by their bits,
/// decimals by their exact representation, scale included).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Missing,
    Int(i64),
    Float(u64),
    Decimal([u8; 16]),
    Bool(bool),
    Str(Vec<u8>),
}

/// What reading a dataset gives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    Rows {
        /// Line and projected cells of every row read.
        rows: Vec<(u64, Vec<Cell>)>,
        /// Line and reason of every row skipped.
        skipped: Vec<(u64, String)>,
    },
    /// The error's message and line (`None`: any line).
    Error(String, Option<usize>),
}

/// How to read an input.
struct Config {
    chunk_size: usize,
    threads: usize,
    skip_bad: bool,
    /// (Header field index, type) of each projected column.
    columns: Vec<(usize, FieldType)>,
}

impl Config {
    fn decode(data: &[u8]) -> Option<(Config, &[u8])> {
        let (head, rest) = data.split_first_chunk::<4>()?;
        let columns = head[1..]
            .iter()
            .take(usize::from(head[0] >> 6))
            .map(|&b| {
                (
                    usize::from(b & 0x0F),
                    TYPES[usize::from(b >> 4) % TYPES.len()],
                )
            })
            .collect();
        Some((
            Config {
                chunk_size: CHUNK_SIZES[usize::from(head[0] & 7)],
                threads: 1 + usize::from((head[0] >> 3) & 3),
                skip_bad: head[0] & 0x20 != 0,
                columns,
            },
            rest,
        ))
    }
}

/// The fuzz target.
pub fn csv_reader(data: &[u8]) {
    let Some((config, csv)) = Config::decode(data) else {
        return;
    };
    let scan = scan(csv);
    let (columns, expected) = expect(csv, &scan, &config);
    let got = read(csv, &columns, &config);
    let agree = match (&got, &expected) {
        (Read::Error(m, line), Read::Error(want, want_line)) => {
            m.contains(want.as_str()) && (want_line.is_none() || line == want_line)
        }
        _ => got == expected,
    };
    assert!(
        agree,
        "polsim and the csv crate disagree on {:?} (chunk size {}, {} threads, skip {}, columns {:?})\npolsim:   {got:?}\nexpected: {expected:?}",
        String::from_utf8_lossy(csv),
        config.chunk_size,
        config.threads,
        config.skip_bad,
        columns,
    );
}

/// Reads `csv` with polsim's streaming pipeline.
fn read(csv: &[u8], columns: &[ColumnSpec], config: &Config) -> Read {
    let options = StreamOptions {
        threads: config.threads,
        chunk_size: config.chunk_size,
        ..StreamOptions::default()
    };
    let (mut rows, mut skipped) = (Vec::new(), Vec::new());
    let outcome = stream::run(
        Input::from_bytes(NAME, csv.to_vec()),
        columns,
        &options,
        |schema| (Parser::default(), Batch::new(schema), Vec::new()),
        |(parser, batch, skipped), chunk, schema| {
            skipped.clear();
            parser.parse(chunk, schema, config.skip_bad, batch, skipped)?;
            Ok((cells_of(batch), std::mem::take(skipped)))
        },
        |(batch_rows, batch_skipped): (Vec<(u64, Vec<Cell>)>, Vec<SkippedRow>)| {
            rows.extend(batch_rows);
            skipped.extend(batch_skipped.into_iter().map(|s| (s.line, s.reason)));
            Ok(())
        },
    );
    match outcome {
        Ok(_) => Read::Rows { rows, skipped },
        Err(Error::Data(d)) => {
            let line = d.location.map(|l| l.line);
            Read::Error(d.message, line)
        }
        Err(e) => Read::Error(e.to_string(), None),
    }
}

fn cells_of(batch: &Batch) -> Vec<(u64, Vec<Cell>)> {
    (0..batch.len)
        .map(|row| {
            let cells = batch
                .columns
                .iter()
                .map(|c| {
                    if !c.valid[row] {
                        return Cell::Missing;
                    }
                    match &c.data {
                        ColumnData::Int(v) => Cell::Int(v[row]),
                        ColumnData::Float(v) => Cell::Float(v[row].to_bits()),
                        ColumnData::Decimal(v) => Cell::Decimal(v[row].serialize()),
                        ColumnData::Bool(v) => Cell::Bool(v[row] != 0),
                        ColumnData::Str { .. } => Cell::Str(c.str(row).to_vec()),
                    }
                })
                .collect();
            (batch.lines[row], cells)
        })
        .collect()
}

/// A record as the oracle's scanner finds it: byte offsets into the input.
#[derive(Debug)]
struct Record {
    start: usize,
    /// Where each field starts.
    fields: Vec<usize>,
    /// Where the record's line ending (or the input) starts.
    end: usize,
}

/// Where the records are, by the quoting rules of the `csv` crate (a quote
/// opens a quoted field only at the start of a field; inside, `""` is a
/// quote and a lone `"` closes it; after it, the field goes on unquoted),
/// with LF, CRLF and lone CR as line endings, as the crate takes them.
#[derive(Debug, Default)]
struct Scan {
    /// Where the input starts after a byte-order mark.
    body: usize,
    records: Vec<Record>,
    /// The first carriage return outside quotes that does not end a CRLF.
    bare_cr: Option<usize>,
    /// Where a quoted field that never closes opens.
    open_quote: Option<usize>,
}

fn scan(data: &[u8]) -> Scan {
    let body = if data.starts_with(BOM) { BOM.len() } else { 0 };
    let mut out = Scan {
        body,
        ..Scan::default()
    };
    let n = data.len();
    let bare = |at: usize, out: &mut Scan| {
        if data.get(at + 1) != Some(&b'\n') && out.bare_cr.is_none() {
            out.bare_cr = Some(at);
        }
    };
    let mut i = body;
    'records: loop {
        while i < n && matches!(data[i], b'\r' | b'\n') {
            if data[i] == b'\r' {
                bare(i, &mut out);
            }
            i += 1;
        }
        if i == n {
            break;
        }
        let mut record = Record {
            start: i,
            fields: vec![i],
            end: n,
        };
        loop {
            if data[i] == b'"' {
                let open = i;
                i += 1;
                loop {
                    match memchr::memchr(b'"', &data[i..]) {
                        None => {
                            out.open_quote = Some(open);
                            out.records.push(record);
                            break 'records;
                        }
                        Some(q) if data.get(i + q + 1) == Some(&b'"') => i += q + 2,
                        Some(q) => {
                            i += q + 1;
                            break;
                        }
                    }
                }
            }
            match memchr::memchr3(b',', b'\n', b'\r', &data[i..]) {
                None => {
                    out.records.push(record);
                    break 'records;
                }
                Some(d) => {
                    i += d;
                    match data[i] {
                        b',' => {
                            i += 1;
                            record.fields.push(i);
                            if i == n {
                                out.records.push(record);
                                break 'records;
                            }
                        }
                        byte => {
                            if byte == b'\r' {
                                bare(i, &mut out);
                            }
                            record.end = i;
                            out.records.push(record);
                            continue 'records;
                        }
                    }
                }
            }
        }
    }
    out
}

/// What polsim should read from `csv`, by the documented rules, and the
/// columns it is asked for. The `csv` crate splits the fields; the scan
/// says where records and fields start (for line numbers) and finds what
/// the crate takes silently but polsim refuses.
fn expect(csv: &[u8], scan: &Scan, config: &Config) -> (Vec<ColumnSpec>, Read) {
    let line_of = |at: usize| 1 + bytecount::count(&csv[..at], b'\n') as u64;
    let error = |message: &str, line: Option<u64>| {
        (
            Vec::new(),
            Read::Error(message.to_owned(), line.map(|l| l as usize)),
        )
    };
    // The crate drops a byte-order mark at the start of whatever it reads,
    // so after the file's own one a second would vanish too; a blank line
    // in front (which it skips) keeps that one data, as polsim's rules say.
    let body = std::io::Read::chain(&b"\n"[..], &csv[scan.body..]);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body);
    let records: Vec<csv::ByteRecord> = reader
        .byte_records()
        .collect::<Result<_, _>>()
        .expect("the csv crate reads bytes from memory");
    assert_eq!(
        records.len(),
        scan.records.len(),
        "the oracle's scan finds the records the csv crate finds in {:?}: {:?}",
        String::from_utf8_lossy(csv),
        scan.records
    );
    for (r, s) in records.iter().zip(&scan.records) {
        assert_eq!(r.len(), s.fields.len(), "fields of {s:?}");
    }
    let Some((header, header_at)) = records.first().zip(scan.records.first()) else {
        // Only line endings: but a lone `\r` is not one, so not a blank line.
        if scan.bare_cr.is_some() {
            return error(BARE_CR, None);
        }
        return error(&format!("dataset `{NAME}` is empty"), Some(1));
    };
    // Of a bare carriage return and an unclosed quote, the first in the
    // file is the error (a carriage return the scan found is outside quotes).
    if let Some(quote) = scan.open_quote
        && records.len() == 1
        && scan.bare_cr.is_none_or(|cr| cr > quote)
    {
        return error(OPEN_QUOTE, Some(line_of(quote)));
    }
    if scan.bare_cr.is_some_and(|cr| cr <= header_at.end) {
        return error(BARE_CR, None);
    }
    let names: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_owned())
        .collect();
    let width = names.len();
    // Project columns whose name is unique in the header.
    let mut projected: Vec<(usize, FieldType)> = Vec::new();
    for &(index, ty) in &config.columns {
        let index = index % width;
        let unique = names.iter().filter(|n| **n == names[index]).count() == 1;
        if unique && projected.iter().all(|(i, _)| *i != index) {
            projected.push((index, ty));
        }
    }
    let columns: Vec<ColumnSpec> = projected
        .iter()
        .map(|&(i, ty)| ColumnSpec::new(names[i].clone(), ty))
        .collect();

    let (mut rows, mut skipped) = (Vec::new(), Vec::new());
    let last = records.len() - 1;
    for (k, (record, at)) in records.iter().zip(&scan.records).enumerate().skip(1) {
        if scan.bare_cr.is_some_and(|cr| cr <= at.end) {
            return (columns, Read::Error(BARE_CR.to_owned(), None));
        }
        // The scan stops at a quote that never closes: it is in the last record.
        if let Some(quote) = scan.open_quote
            && k == last
        {
            let line = line_of(quote) as usize;
            return (columns, Read::Error(OPEN_QUOTE.to_owned(), Some(line)));
        }
        let line = line_of(at.start);
        match row(record, at, &projected, &names) {
            Ok(cells) => rows.push((line, cells)),
            Err((message, _)) if config.skip_bad => skipped.push((line, message)),
            Err((message, error_line)) => {
                let line = line_of(error_line.unwrap_or(at.start)) as usize;
                return (columns, Read::Error(message, Some(line)));
            }
        }
    }
    if scan.bare_cr.is_some() {
        return (columns, Read::Error(BARE_CR.to_owned(), None));
    }
    (columns, Read::Rows { rows, skipped })
}

/// The projected cells of a body record, or why it is a bad row (and where
/// the bad field starts, for a bad value).
fn row(
    record: &csv::ByteRecord,
    at: &Record,
    projected: &[(usize, FieldType)],
    names: &[String],
) -> Result<Vec<Cell>, (String, Option<usize>)> {
    let width = names.len();
    if record.len() != width {
        return Err((
            format!(
                "row has {} field(s) but the header has {width}",
                record.len()
            ),
            None,
        ));
    }
    if record.iter().all(|f| f.trim_ascii().is_empty()) {
        return Err(("row is empty: every field is blank".to_owned(), None));
    }
    let mut cells = Vec::with_capacity(projected.len());
    for &(index, ty) in projected {
        let raw = &record[index];
        let cell = raw.trim_ascii();
        let value = if cell.is_empty() {
            Some(Cell::Missing)
        } else {
            match ty {
                FieldType::Int => parse_int(cell).map(Cell::Int),
                FieldType::Float => parse_float(cell).map(|v| Cell::Float(v.to_bits())),
                FieldType::Decimal => parse_decimal(cell).map(|d| Cell::Decimal(d.serialize())),
                FieldType::Bool => parse_bool(cell).map(Cell::Bool),
                FieldType::String => std::str::from_utf8(cell)
                    .is_ok()
                    .then(|| Cell::Str(cell.to_vec())),
            }
        };
        match value {
            Some(v) => cells.push(v),
            None => {
                let what = if ty == FieldType::Decimal && is_too_large_decimal(raw) {
                    "too large for a decimal".to_owned()
                } else if ty == FieldType::Decimal && has_too_many_digits(raw) {
                    "a decimal with too many digits".to_owned()
                } else {
                    format!("not {}", ty.with_article())
                };
                return Err((
                    format!(
                        "`{}` in column `{}` (field {}) is {what}",
                        String::from_utf8_lossy(raw),
                        names[index],
                        index + 1
                    ),
                    Some(at.fields[index]),
                ));
            }
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "",
            "7",
            " 3 ",
            "-12",
            "x",
            "true",
            "No",
            "2.5",
            "  ",
            "\t",
            "é",
            "1e3",
            "1000000000000000",
            "x\"y",
            "\"q,1\"",
            "\"a\"\"b\"",
            "\"l1\nl2\"",
            "\"\"",
            "\" 5 \"",
            "\"\r\n\"",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The target's oracle holds on datasets made of the awkward parts
        /// of CSV: quotes, newlines in quotes, CRLF, blank lines, blank and
        /// malformed rows, at every chunk size and thread count.
        #[test]
        fn the_reader_agrees_with_the_csv_crate(
            settings in any::<[u8; 4]>(),
            width in 1usize..4,
            rows in prop::collection::vec(
                (prop::collection::vec(field(), 0..5), prop::sample::select(vec!["\n", "\r\n", "\n\n"])),
                0..12,
            ),
            last_newline in any::<bool>(),
        ) {
            let header: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
            let mut data = format!("{}\n", header.join(","));
            for (fields, end) in &rows {
                data.push_str(&fields.join(","));
                data.push_str(end);
            }
            if !last_newline {
                data.truncate(data.trim_end_matches(['\r', '\n']).len());
            }
            let mut input = settings.to_vec();
            input.extend_from_slice(data.as_bytes());
            csv_reader(&input);
        }
    }
}
