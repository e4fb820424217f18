//! Arrow columns — a Parquet row group's, an Arrow IPC stream's batch —
//! read straight into a [`Batch`], by the rules of the CSV reader.
//!
//! Every cell becomes what its CSV text would: a string cell is parsed as a
//! CSV cell is (trimmed, blank is missing); an integer, decimal, float or
//! boolean as the text it prints as (integers and decimals exactly as
//! stored, a float in its shortest form that reads back to the same double,
//! a boolean as `true`/`false`). That text is only made where a value needs
//! it — a conversion with a rule to apply, or a bad cell to name —; the
//! common pairs (an integer into an `int`, a decimal into a `decimal`, a
//! boolean into a `bool`, ...) are copied, giving the same values (a test
//! checks every pair both ways). A null is a missing value, and a row is a
//! row whatever it holds: unlike a CSV line, a Parquet row whose columns
//! are all null is not blank, it is a row of missing values.

use super::batch::{Batch, Column, ColumnData, SkippedRow, bad_cell};
use super::schema::Schema;
use super::value::MAX_DECIMAL;
use crate::error::{Diagnostic, Error, Location, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal32Type, Decimal64Type, Decimal128Type, Decimal256Type, Float16Type, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_buffer::BooleanBuffer;
use arrow_schema::DataType;
use rust_decimal::Decimal;

/// Some rows of Arrow columns to read.
pub struct ArrowPiece<'a> {
    /// The projected columns.
    pub batch: &'a RecordBatch,
    /// The file column (as [`super::schema::Projected::csv_index`] counts
    /// them) of each of `batch`'s columns, ascending.
    pub roots: &'a [usize],
    /// The line of the first row: a row's line is its row number (from 1)
    /// plus one, as if a header came first.
    pub first_line: u64,
}

/// A cell a column cannot take: its row, its column's place in the
/// projection, and its text.
struct BadCell {
    row: usize,
    column: usize,
    text: Vec<u8>,
}

/// Reads `piece` into `out`. A bad cell is an error — the first in the
/// file's order of rows, then the projection's order of columns, as in CSV
/// — or with `skip_bad` its row is recorded in `skipped` and left out.
pub(super) fn fill(
    piece: &ArrowPiece,
    schema: &Schema,
    skip_bad: bool,
    out: &mut Batch,
    skipped: &mut Vec<SkippedRow>,
) -> Result<()> {
    out.clear();
    let rows = piece.batch.num_rows();
    let mut bad = Vec::new();
    let mut text = Vec::new();
    for (j, (p, column)) in schema.columns.iter().zip(&mut out.columns).enumerate() {
        let Ok(k) = piece.roots.binary_search(&p.csv_index) else {
            return Err(Error::Usage(Diagnostic::new(format!(
                "internal error: column `{}` was not decoded",
                p.name
            ))));
        };
        let array = piece.batch.column(k);
        fill_column(array.as_ref(), column, true, &mut text, &mut |row, text| {
            bad.push(BadCell {
                row,
                column: j,
                text: text.to_vec(),
            })
        })
        .map_err(|what| {
            Error::Usage(
                Diagnostic::new(format!(
                    "column `{}` of `{}` holds {what}, which polsim cannot read",
                    p.name, schema.source
                ))
                .at(Location::new(&schema.source, 1, 1)),
            )
        })?;
    }
    out.lines
        .extend((0..rows as u64).map(|r| piece.first_line + r));
    out.len = rows;
    if bad.is_empty() {
        return Ok(());
    }
    bad.sort_by_key(|b| (b.row, b.column));
    let error = |b: &BadCell| {
        let p = &schema.columns[b.column];
        let line = piece.first_line + b.row as u64;
        let at = Location::new(&schema.source, line as usize, p.csv_index + 1);
        bad_cell(p, &b.text, at)
    };
    if !skip_bad {
        return Err(error(&bad[0]));
    }
    let mut keep = vec![true; rows];
    for b in &bad {
        if std::mem::replace(&mut keep[b.row], false) {
            let reason = match error(b) {
                Error::Data(d) => d.message,
                other => other.to_string(),
            };
            skipped.push(SkippedRow {
                line: piece.first_line + b.row as u64,
                reason,
            });
        }
    }
    out.retain_rows(&keep);
    Ok(())
}

/// Appends `array`'s cells to `column`, calling `bad` with the row and the
/// text of each it cannot take (what is appended for such a cell is never
/// read: its row is dropped, or stops the read). With `fast`,
/// the common pairs of types are copied rather than printed and parsed.
/// `Err` names a type no field takes (refused before a row is read).
fn fill_column(
    array: &dyn Array,
    column: &mut Column,
    fast: bool,
    text: &mut Vec<u8>,
    bad: &mut dyn FnMut(usize, &[u8]),
) -> std::result::Result<(), String> {
    match array.data_type() {
        // A dictionary's cells are its values', looked up.
        DataType::Dictionary(..) => {
            let dictionary = array.as_any_dictionary();
            let values = arrow_select::take::take(dictionary.values(), dictionary.keys(), None)
                .map_err(|e| format!("a dictionary that cannot be read ({e})"))?;
            return fill_column(values.as_ref(), column, fast, text, bad);
        }
        DataType::Null => {
            (0..array.len()).for_each(|_| column.push_missing());
            return Ok(());
        }
        _ => {}
    }
    if fast && copy(array, column) {
        return Ok(());
    }
    if let Some(cells) = strings(array) {
        for (row, cell) in cells.enumerate() {
            match cell {
                None => column.push_missing(),
                Some(cell) if !column.push(cell) => bad(row, cell),
                Some(_) => {}
            }
        }
        return Ok(());
    }
    for row in 0..array.len() {
        if array.is_null(row) {
            column.push_missing();
            continue;
        }
        let cell = cell_text(array, row, text)?;
        // A refused cell's row is dropped or stops the read: what `push`
        // appended for it is never looked at.
        if !column.push(cell) {
            bad(row, cell);
        }
    }
    Ok(())
}

/// A string column's cells (`None` for a null), or `None` for another type.
fn strings(array: &dyn Array) -> Option<Box<dyn Iterator<Item = Option<&[u8]>> + '_>> {
    let cells: Box<dyn Iterator<Item = Option<&[u8]>>> = match array.data_type() {
        DataType::Utf8 => Box::new(
            array
                .as_string::<i32>()
                .iter()
                .map(|c| c.map(str::as_bytes)),
        ),
        DataType::LargeUtf8 => Box::new(
            array
                .as_string::<i64>()
                .iter()
                .map(|c| c.map(str::as_bytes)),
        ),
        DataType::Utf8View => Box::new(array.as_string_view().iter().map(|c| c.map(str::as_bytes))),
        _ => return None,
    };
    Some(cells)
}

/// A decimal cell's digits, at its scale (`12.50`).
fn decimal_text<T: arrow_array::types::DecimalType>(
    array: &dyn Array,
    row: usize,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(array.as_primitive::<T>().value_as_string(row).as_bytes());
}

/// The text of a cell as CSV would hold it: a string's own bytes, a
/// number as it prints exactly.
pub(super) fn cell_text<'t>(
    array: &'t dyn Array,
    row: usize,
    out: &'t mut Vec<u8>,
) -> std::result::Result<&'t [u8], String> {
    use std::io::Write;
    out.clear();
    let mut ints = itoa::Buffer::new();
    macro_rules! int {
        ($t:ty) => {
            out.extend_from_slice(
                ints.format(array.as_primitive::<$t>().value(row))
                    .as_bytes(),
            )
        };
    }
    match array.data_type() {
        DataType::Utf8 => return Ok(array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => return Ok(array.as_string::<i64>().value(row).as_bytes()),
        DataType::Utf8View => return Ok(array.as_string_view().value(row).as_bytes()),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float16 => {
            let v = f64::from(array.as_primitive::<Float16Type>().value(row));
            let _ = write!(out, "{v}");
        }
        DataType::Float32 => {
            // Widened first, so the double read back is the float stored.
            let v = f64::from(array.as_primitive::<Float32Type>().value(row));
            let _ = write!(out, "{v}");
        }
        DataType::Float64 => {
            let _ = write!(out, "{}", array.as_primitive::<Float64Type>().value(row));
        }
        DataType::Decimal32(..) => decimal_text::<Decimal32Type>(array, row, out),
        DataType::Decimal64(..) => decimal_text::<Decimal64Type>(array, row, out),
        DataType::Decimal128(..) => decimal_text::<Decimal128Type>(array, row, out),
        DataType::Decimal256(..) => decimal_text::<Decimal256Type>(array, row, out),
        DataType::Boolean => {
            let v = array.as_boolean().value(row);
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        other => return Err(format!("values of type {other}")),
    }
    Ok(out)
}

/// Copies `array` into `column` when their types are a common pair whose
/// every value needs no text (see the module's doc); `false`, having
/// appended nothing, for any other pair (or a value that needs its text:
/// an integer too large for its field, a float that is not finite).
fn copy(array: &dyn Array, column: &mut Column) -> bool {
    let start = column.valid.len();
    let copied = match (array.data_type(), &mut column.data) {
        (DataType::Int64, ColumnData::Int(out)) => {
            out.extend_from_slice(array.as_primitive::<Int64Type>().values());
            true
        }
        (DataType::UInt64, _) => {
            let values = array.as_primitive::<UInt64Type>().values();
            // Any value past i64 goes by its text, which says it is too large.
            values.iter().all(|&v| i64::try_from(v).is_ok())
                && copy_ints(values.iter().map(|&v| v as i64), &mut column.data)
        }
        (DataType::Int8, _) => copy_ints(ints::<Int8Type>(array), &mut column.data),
        (DataType::Int16, _) => copy_ints(ints::<Int16Type>(array), &mut column.data),
        (DataType::Int32, _) => copy_ints(ints::<Int32Type>(array), &mut column.data),
        (DataType::Int64, _) => copy_ints(ints::<Int64Type>(array), &mut column.data),
        (DataType::UInt8, _) => copy_ints(ints::<UInt8Type>(array), &mut column.data),
        (DataType::UInt16, _) => copy_ints(ints::<UInt16Type>(array), &mut column.data),
        (DataType::UInt32, _) => copy_ints(ints::<UInt32Type>(array), &mut column.data),
        (DataType::Boolean, ColumnData::Bool(out)) => {
            unpack(array.as_boolean().values(), out, u8::from);
            true
        }
        // A NaN or an infinity is no float the CSV reader takes (nor is a
        // null slot's, whatever it holds): its text names it.
        (DataType::Float64, ColumnData::Float(out)) => {
            let values = array.as_primitive::<Float64Type>().values();
            values.iter().all(|v| v.is_finite()) && {
                out.extend_from_slice(values);
                true
            }
        }
        (DataType::Float32, ColumnData::Float(out)) => {
            let values = array.as_primitive::<Float32Type>().values();
            values.iter().all(|v| v.is_finite()) && {
                out.extend(values.iter().map(|&v| f64::from(v)));
                true
            }
        }
        (&DataType::Decimal128(_, scale), ColumnData::Decimal(out)) => {
            // Below 10^15 in size with at most 13 places, a value has at
            // most 28 digits: a decimal holds it exactly, as the CSV reader
            // takes it. Another scale, or a value too large, goes by its
            // text (a null slot's value is never looked at there).
            let values = array.as_primitive::<Decimal128Type>().values();
            match u32::try_from(scale) {
                Ok(places) if places <= 13 => {
                    let limit = 10i128.pow(15 + places);
                    values.iter().all(|m| m.abs() < limit) && {
                        out.extend(values.iter().map(|&m| exact(m, places)));
                        true
                    }
                }
                _ => false,
            }
        }
        _ => false,
    };
    if !copied {
        return false;
    }
    // Validity, and a missing value's slot holds zero, as the CSV reader's.
    let valid = &mut column.valid;
    match array.logical_nulls().filter(|n| n.null_count() > 0) {
        None => valid.resize(start + array.len(), true),
        Some(nulls) => {
            unpack(nulls.inner(), valid, |b| b);
            let missing = nulls.iter().enumerate().filter(|(_, v)| !v);
            let data = &mut column.data;
            for (row, _) in missing {
                let at = start + row;
                match data {
                    ColumnData::Int(v) => v[at] = 0,
                    ColumnData::Float(v) => v[at] = 0.0,
                    ColumnData::Decimal(v) => v[at] = Decimal::ZERO,
                    ColumnData::Bool(v) => v[at] = 0,
                    ColumnData::Str { .. } => {}
                }
            }
        }
    }
    true
}

/// Appends `bits` as one value each, a 64-bit word at a time.
fn unpack<T>(bits: &BooleanBuffer, out: &mut Vec<T>, value: impl Fn(bool) -> T) {
    let chunks = bits.inner().bit_chunks(bits.offset(), bits.len());
    for word in chunks.iter() {
        out.extend((0..64).map(|b| value((word >> b) & 1 == 1)));
    }
    let rest = chunks.remainder_bits();
    out.extend((0..chunks.remainder_len()).map(|b| value((rest >> b) & 1 == 1)));
}

/// The decimal `m` × 10^-`places`, for |m| < 10^28 and `places` ≤ 28
/// (which a decimal's 96-bit mantissa holds): what
/// `Decimal::from_i128_with_scale` makes, without its checks.
#[inline]
fn exact(m: i128, places: u32) -> Decimal {
    let a = m.unsigned_abs();
    Decimal::from_parts(a as u32, (a >> 32) as u32, (a >> 64) as u32, m < 0, places)
}

/// An integer column's values, widened.
fn ints<T>(array: &dyn Array) -> impl ExactSizeIterator<Item = i64> + Clone + '_
where
    T: arrow_array::ArrowPrimitiveType,
    i64: From<T::Native>,
{
    array
        .as_primitive::<T>()
        .values()
        .iter()
        .map(|&v| i64::from(v))
}

/// [`copy`] for an integer column into an `int`, `decimal` or `float`
/// field (a `bool` or `string` field goes by the text, and so does a
/// column with a value too large for a decimal).
fn copy_ints(values: impl ExactSizeIterator<Item = i64> + Clone, data: &mut ColumnData) -> bool {
    match data {
        ColumnData::Int(out) => out.extend(values),
        ColumnData::Decimal(out) => {
            let max = MAX_DECIMAL.mantissa();
            if !values.clone().all(|v| i128::from(v).abs() < max) {
                return false;
            }
            out.extend(values.map(Decimal::from));
        }
        // Rounded to the nearest double, as parsing its digits is.
        ColumnData::Float(out) => out.extend(values.map(|v| v as f64)),
        ColumnData::Bool(_) | ColumnData::Str { .. } => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::value::FieldType;
    use arrow_array::builder::{
        BooleanBuilder, Decimal128Builder, Float32Builder, Int8Builder, Int32Builder,
        StringBuilder, UInt64Builder,
    };
    use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array};
    use proptest::prelude::*;
    use std::sync::Arc;

    const TYPES: [FieldType; 5] = [
        FieldType::Int,
        FieldType::Float,
        FieldType::Decimal,
        FieldType::Bool,
        FieldType::String,
    ];

    /// `array` read into a `ty` column by the fast copies, or cell by cell
    /// through its text: the column (decimals with their scale) and the
    /// rows refused.
    fn read(array: &dyn Array, ty: FieldType, fast: bool) -> (String, Vec<(usize, Vec<u8>)>) {
        let mut column = Column::new(ty);
        let mut bad = Vec::new();
        fill_column(
            array,
            &mut column,
            fast,
            &mut Vec::new(),
            &mut |row, text| bad.push((row, text.to_vec())),
        )
        .unwrap();
        // A refused row is dropped or stops the read: only the others count.
        let rows: Vec<String> = (0..array.len())
            .filter(|r| !bad.iter().any(|(b, _)| b == r))
            .map(|r| match &column.data {
                _ if !column.valid[r] => "missing".to_owned(),
                ColumnData::Int(v) => v[r].to_string(),
                ColumnData::Float(v) => format!("{:?}", v[r].to_bits()),
                ColumnData::Decimal(v) => format!("{}/{}", v[r].mantissa(), v[r].scale()),
                ColumnData::Bool(v) => v[r].to_string(),
                ColumnData::Str { .. } => format!("{:?}", column.str(r)),
            })
            .collect();
        (rows.join(" "), bad)
    }

    /// Both ways of reading give the same values and refuse the same cells,
    /// for every field type the array's type can become.
    fn agree(array: &dyn Array) {
        for ty in TYPES {
            if !crate::dataset::parquet::fits(array.data_type(), ty) {
                continue;
            }
            assert_eq!(
                read(array, ty, true),
                read(array, ty, false),
                "{} into {ty}",
                array.data_type()
            );
        }
    }

    #[test]
    fn the_fast_copies_read_what_the_text_reads() {
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(0),
                None,
                Some(-1),
                Some(1),
                Some(i64::MIN),
                Some(i64::MAX),
                Some(999_999_999_999_999),
                Some(1_000_000_000_000_000),
                Some(9_007_199_254_740_993),
            ])),
            Arc::new(Int64Array::from(vec![Some(0), None, Some(1), Some(-5)])),
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                None,
                Some(-0.0),
                Some(1e300),
                Some(5e-324),
                Some(f64::NAN),
            ])),
            Arc::new(Float64Array::from(vec![Some(0.1), None, Some(2.5)])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ];
        let mut i8s = Int8Builder::new();
        i8s.extend([Some(-128), None, Some(1), Some(0), Some(127)]);
        let mut i32s = Int32Builder::new();
        i32s.extend([Some(i32::MIN), None, Some(0)]);
        let mut u64s = UInt64Builder::new();
        u64s.extend([Some(0), Some(1), None]);
        let mut big_u64s = UInt64Builder::new();
        big_u64s.extend([Some(u64::MAX), Some(1), None]);
        let mut f32s = Float32Builder::new();
        f32s.extend([Some(0.1f32), None, Some(f32::INFINITY)]);
        let mut finite_f32s = Float32Builder::new();
        finite_f32s.extend([Some(0.1f32), None, Some(3.4e38)]);
        let mut strings = StringBuilder::new();
        strings.extend([
            Some(" 12 "),
            None,
            Some(""),
            Some("true"),
            Some("1.50"),
            Some("x"),
        ]);
        let mut bools = BooleanBuilder::new();
        bools.extend([Some(true), Some(false)]);
        arrays.extend([
            Arc::new(i8s.finish()) as ArrayRef,
            Arc::new(i32s.finish()),
            Arc::new(u64s.finish()),
            Arc::new(big_u64s.finish()),
            Arc::new(f32s.finish()),
            Arc::new(finite_f32s.finish()),
            Arc::new(strings.finish()),
            Arc::new(bools.finish()),
        ]);
        for (precision, scale, values) in [
            (
                12,
                2,
                vec![
                    Some(-105),
                    None,
                    Some(0),
                    Some(150),
                    Some(9_999_999_999_999_999),
                ],
            ),
            (20, 2, vec![Some(10_000_000_000_000_000), Some(1)]),
            (38, 13, vec![Some(10i128.pow(28) - 1), Some(-7), None]),
            (38, 14, vec![Some(1), Some(10i128.pow(20)), None]),
            (38, 28, vec![Some(5), Some(10i128.pow(28) + 1)]),
            (10, 0, vec![Some(12), None]),
            (10, -2, vec![Some(12), None]),
        ] {
            let mut b = Decimal128Builder::new();
            b.extend(values);
            let array = b
                .finish()
                .with_precision_and_scale(precision, scale)
                .unwrap();
            arrays.push(Arc::new(array));
        }
        for array in &arrays {
            agree(array.as_ref());
        }
    }

    proptest! {
        #[test]
        fn the_fast_copies_agree_on_any_values(
            ints in proptest::collection::vec(proptest::option::of(any::<i64>()), 0..40),
            floats in proptest::collection::vec(proptest::option::of(any::<f64>()), 0..40),
            mantissas in proptest::collection::vec(proptest::option::of(-10i128.pow(20)..10i128.pow(20)), 0..40),
            scale in 0i8..20,
        ) {
            agree(&Int64Array::from(ints));
            agree(&Float64Array::from(floats));
            let mut b = Decimal128Builder::new();
            b.extend(mantissas);
            agree(&b.finish().with_precision_and_scale(38, scale).unwrap());
        }
    }

    #[test]
    fn cells_print_as_the_csv_would_hold_them() {
        let mut f32s = Float32Builder::new();
        f32s.append_value(0.1);
        let mut decimals = Decimal128Builder::new();
        decimals.append_value(-105);
        let decimals = decimals.finish().with_precision_and_scale(20, 2).unwrap();
        let mut text = Vec::new();
        // The float32 prints as the double it widens to, which reads back
        // as the very value stored.
        let printed = cell_text(&f32s.finish(), 0, &mut text).unwrap().to_vec();
        let back: f64 = std::str::from_utf8(&printed).unwrap().parse().unwrap();
        assert_eq!(back, f64::from(0.1f32));
        assert_eq!(cell_text(&decimals, 0, &mut text).unwrap(), b"-1.05");
        let mut strings = StringBuilder::new();
        strings.append_value("a,\"b\"");
        assert_eq!(
            cell_text(&strings.finish(), 0, &mut text).unwrap(),
            b"a,\"b\""
        );
        let days = arrow_array::Date32Array::from(vec![1]);
        assert!(cell_text(&days, 0, &mut text).is_err());
    }
}
