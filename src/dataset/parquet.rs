//! Parquet files (`--data FILE.parquet`) and Arrow IPC streams on standard
//! input (`--data -`, what Spark's `mapInArrow` hands a process), both told
//! by their magic bytes and read with arrow-rs: only the columns the run
//! reads, each checked against its field's type before a row is read, then
//! handed to the CSV reader as CSV text, exactly — integers and decimals as
//! stored, floats in their shortest form that reads back to the same
//! double, booleans as `true`/`false`, nulls as empty cells (missing
//! values) — so every rule of the CSV reader (typing, trimming, errors with
//! a row's line, which is its row number plus one) holds for them too.

use super::schema::ColumnSpec;
use super::value::FieldType;
use crate::error::{Diagnostic, Error, Location, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch, RecordBatchReader};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use std::io::Read;
use std::path::Path;

/// Rows decoded at a time.
const BATCH_ROWS: usize = 65_536;

/// Arrow record batches' projected columns, as CSV text.
pub struct ArrowCsv {
    batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, String>> + Send>,
    name: String,
    text: Vec<u8>,
    at: usize,
}

/// Whether a Parquet column of type `dt` can be read as a `ty` field.
fn fits(dt: &DataType, ty: FieldType) -> bool {
    use DataType as D;
    let int = matches!(
        dt,
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64
    );
    let text = matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let float = matches!(dt, D::Float32 | D::Float64);
    let decimal = matches!(dt, D::Decimal128(..));
    match ty {
        FieldType::String => int || text || float || decimal || *dt == D::Boolean,
        FieldType::Int => int || text,
        // A float holds a binary fraction: read as a decimal it would be
        // rounded, and polsim does not round money.
        FieldType::Decimal => int || text || decimal,
        FieldType::Float => int || text || float || decimal,
        FieldType::Bool => *dt == D::Boolean || text || int,
    }
}

/// The indices in `schema` of the columns the run reads, each checked
/// against its field's type (a column the data lacks is left to the CSV
/// reader, which names it).
fn project(
    schema: &arrow_schema::Schema,
    name: &str,
    columns: &[ColumnSpec],
    format: &str,
) -> Result<Vec<usize>> {
    let mut roots = Vec::new();
    for c in columns {
        let Some((i, field)) = schema.column_with_name(&c.name) else {
            continue;
        };
        if !fits(field.data_type(), c.ty) {
            return Err(Error::Usage(
                Diagnostic::new(format!(
                    "column `{}` of `{name}` is {format} {}, which polsim cannot read as `{}`",
                    c.name,
                    field.data_type(),
                    c.ty
                ))
                .at(Location::new(name, 1, 1))
                .help(match c.ty {
                    FieldType::Decimal => "a float is not exact: store money as a Parquet decimal (or an integer or a string)",
                    _ => "declare the field with the type the column holds, or convert the column",
                }),
            ));
        }
        if !roots.contains(&i) {
            roots.push(i);
        }
    }
    roots.sort_unstable();
    Ok(roots)
}

impl ArrowCsv {
    /// A Parquet file.
    pub fn parquet(path: &Path, name: &str, columns: &[ColumnSpec]) -> Result<ArrowCsv> {
        let file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| damaged(name, e))?;
        let roots = project(builder.schema(), name, columns, "a Parquet")?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
        let batches: ParquetRecordBatchReader = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| damaged(name, e))?;
        let header = batches.schema();
        let batches = batches.map(|b| b.map_err(|e| format!("its Parquet data is damaged ({e})")));
        Ok(ArrowCsv::new(name, &header, Box::new(batches)))
    }

    /// An Arrow IPC stream.
    pub fn arrow_stream(
        reader: Box<dyn Read + Send>,
        name: &str,
        columns: &[ColumnSpec],
    ) -> Result<ArrowCsv> {
        let not_arrow = |e: arrow_schema::ArrowError| {
            Error::Usage(
                Diagnostic::new(format!("dataset `{name}` is not an Arrow IPC stream polsim can read: {e}"))
                    .at(Location::new(name, 1, 1))
                    .help("write it with an Arrow IPC stream writer (pyarrow's `ipc.new_stream`), schema first"),
            )
        };
        let probe = arrow_ipc::reader::StreamReader::try_new(reader, None).map_err(not_arrow)?;
        let schema = probe.schema();
        let roots = project(&schema, name, columns, "an Arrow")?;
        let projected = std::sync::Arc::new(schema.project(&roots).map_err(not_arrow)?);
        let batches = probe.map(move |b| {
            b.and_then(|b| b.project(&roots))
                .map_err(|e| format!("its Arrow data is damaged ({e})"))
        });
        Ok(ArrowCsv::new(name, &projected, Box::new(batches)))
    }

    fn new(
        name: &str,
        schema: &arrow_schema::SchemaRef,
        batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, String>> + Send>,
    ) -> ArrowCsv {
        let header: Vec<String> = schema.fields().iter().map(|f| escaped(f.name())).collect();
        let mut text = header.join(",").into_bytes();
        text.push(b'\n');
        ArrowCsv {
            batches,
            name: name.to_owned(),
            text,
            at: 0,
        }
    }

    /// The next batch as CSV rows into `text`; false at the end.
    fn next_batch(&mut self) -> std::io::Result<bool> {
        let Some(batch) = self.batches.next() else {
            return Ok(false);
        };
        let batch = batch.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.text.clear();
        self.at = 0;
        render(&batch, &mut self.text).map_err(|what| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{}` holds {what}", self.name),
            )
        })?;
        Ok(true)
    }
}

impl Read for ArrowCsv {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.text.len() {
            if !self.next_batch()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.text.len() - self.at);
        buf[..n].copy_from_slice(&self.text[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn damaged(name: &str, e: parquet::errors::ParquetError) -> Error {
    Error::Usage(
        Diagnostic::new(format!("dataset `{name}` is not a Parquet file polsim can read: {e}"))
            .at(Location::new(name, 1, 1))
            .help("check that the file is complete (a Parquet file ends with its metadata), or write it again"),
    )
}

/// A text cell as CSV writes it: quoted when it holds a comma, a quote or
/// a line break.
fn escaped(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Appends the rows of `batch` to `out` as CSV.
fn render(batch: &RecordBatch, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    use std::io::Write;
    let columns = batch.columns();
    let mut ints = itoa::Buffer::new();
    for row in 0..batch.num_rows() {
        for (j, col) in columns.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            if col.is_null(row) {
                continue;
            }
            macro_rules! int {
                ($t:ty) => {
                    out.extend_from_slice(
                        ints.format(col.as_primitive::<$t>().value(row)).as_bytes(),
                    )
                };
            }
            match col.data_type() {
                DataType::Int8 => int!(Int8Type),
                DataType::Int16 => int!(Int16Type),
                DataType::Int32 => int!(Int32Type),
                DataType::Int64 => int!(Int64Type),
                DataType::UInt8 => int!(UInt8Type),
                DataType::UInt16 => int!(UInt16Type),
                DataType::UInt32 => int!(UInt32Type),
                DataType::UInt64 => int!(UInt64Type),
                DataType::Float32 => {
                    // Widened first, so the double read back is the float stored.
                    let v = f64::from(col.as_primitive::<Float32Type>().value(row));
                    let _ = write!(out, "{v}");
                }
                DataType::Float64 => {
                    let _ = write!(out, "{}", col.as_primitive::<Float64Type>().value(row));
                }
                DataType::Decimal128(..) => {
                    let a = col.as_primitive::<arrow_array::types::Decimal128Type>();
                    out.extend_from_slice(a.value_as_string(row).as_bytes());
                }
                DataType::Boolean => {
                    let v = col.as_boolean().value(row);
                    out.extend_from_slice(if v { b"true" } else { b"false" });
                }
                DataType::Utf8 => {
                    out.extend_from_slice(escaped(col.as_string::<i32>().value(row)).as_bytes())
                }
                DataType::LargeUtf8 => {
                    out.extend_from_slice(escaped(col.as_string::<i64>().value(row)).as_bytes())
                }
                DataType::Utf8View => {
                    out.extend_from_slice(escaped(col.as_string_view().value(row)).as_bytes())
                }
                other => return Err(format!("a column of type {other}")),
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::ArrayRef;
    use arrow_array::builder::{Decimal128Builder, Float32Builder, Float64Builder, StringBuilder};
    use std::sync::Arc;

    #[test]
    fn cells_render_exactly() {
        let mut f32s = Float32Builder::new();
        f32s.append_value(0.1);
        f32s.append_null();
        let mut f64s = Float64Builder::new();
        f64s.append_value(1e-7);
        f64s.append_value(123456789.125);
        let mut decs = Decimal128Builder::new();
        decs.append_value(-105);
        decs.append_value(1_000_000_000_000_001);
        let mut strs = StringBuilder::new();
        strs.append_value("a,\"b\"");
        strs.append_value("plain");
        let batch = RecordBatch::try_from_iter([
            ("f", Arc::new(f32s.finish()) as ArrayRef),
            ("g", Arc::new(f64s.finish()) as ArrayRef),
            (
                "d",
                Arc::new(decs.finish().with_precision_and_scale(20, 2).unwrap()) as ArrayRef,
            ),
            ("s", Arc::new(strs.finish()) as ArrayRef),
        ])
        .unwrap();
        let mut out = Vec::new();
        render(&batch, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        let first: Vec<&str> = rows[0].splitn(4, ',').collect();
        // The float32 reads back as the very value stored, widened.
        assert_eq!(first[0].parse::<f64>().unwrap(), f64::from(0.1f32));
        assert_eq!(first[1].parse::<f64>().unwrap(), 1e-7);
        assert_eq!(first[2], "-1.05");
        assert_eq!(first[3], "\"a,\"\"b\"\"\"");
        assert_eq!(rows[1], ",123456789.125,10000000000000.01,plain");
    }
}
