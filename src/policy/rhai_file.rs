//! A `.rhai` file given directly as the policy: `fn decide(user)` with no
//! YAML. Its fields are every column of the dataset, typed from the data:
//! the header names the columns, and the first [`SNIFF_ROWS`] rows decide
//! each type — int if every non-empty cell is a whole number, decimal if
//! every one is a number, bool if every one is true/false (yes/no, y/n, t/f),
//! string otherwise. A `user_id` column, if any, is the key. The policy is
//! built as the YAML a person would write, then compiled like any other.

use super::compile::{CompiledPolicy, compile_onto};
use super::load;
use crate::dataset::schema::ColumnSpec;
use crate::dataset::stream::Input;
use crate::dataset::value::{FieldType, parse_bool, parse_decimal, parse_int};
use crate::error::{Diagnostic, Error, Location, Result};
use std::path::Path;

/// Rows read to type the columns.
pub const SNIFF_ROWS: usize = 1000;

/// Whether `path` names a script given as the policy.
pub fn is_script(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rhai"))
}

/// Compiles the script at `path` with fields typed from `data`.
pub fn compile_script_file(
    path: &Path,
    overrides: &[(String, String)],
    data: Option<&Path>,
    base: &[ColumnSpec],
) -> Result<CompiledPolicy> {
    let script = match load::read_capped(path) {
        Ok(bytes) => bytes,
        Err(load::ReadError::Io(e)) => return Err(Error::read(path, e)),
        Err(load::ReadError::TooLarge(size)) => {
            return Err(Error::Usage(
                Diagnostic::new(load::too_large_message(path, size, "a script"))
                    .at(Location::new(path, 1, 1))
                    .help("check that this is the script: it comes first, and the dataset after `--data`"),
            ));
        }
    };
    // The dataset is read twice, to type the fields and then to run: a
    // pipe or FIFO would have nothing left the second time (and opening a
    // FIFO with no writer would wait), so its type is looked at first.
    let special = |d: &Path| std::fs::metadata(d).is_ok_and(|m| !m.is_file() && !m.is_dir());
    let data = match data {
        Some(d) if special(d) => {
            return Err(Error::Usage(
                Diagnostic::new(format!(
                    "`{}` is a script, whose fields are typed from the dataset, so it needs `--data FILE` (a regular file, not a pipe or device like `{}`)",
                    path.display(),
                    d.display()
                ))
                .help("save the dataset to a file first, or write a YAML policy with `fields` and `script:`"),
            ));
        }
        Some(d) if d != Path::new("-") => d,
        _ => {
            return Err(Error::Usage(
                Diagnostic::new(format!(
                    "`{}` is a script, whose fields are typed from the dataset, so it needs `--data FILE` (not standard input)",
                    path.display()
                ))
                .help("pass the dataset as a file, or write a YAML policy with `fields` and `script:`"),
            ));
        }
    };
    let fields = sniff(data)?;
    compile_script_typed(path, &script, &fields, overrides, base)
}

/// Compiles the script at `path` (its bytes `script`) with `fields`, as
/// typed from a dataset: what a partial result records, so a merge builds
/// the same policy without the data.
pub fn compile_script_typed(
    path: &Path,
    script: &[u8],
    fields: &[(String, FieldType)],
    overrides: &[(String, String)],
    base: &[ColumnSpec],
) -> Result<CompiledPolicy> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut yaml = format!("policy: {}\nversion: \"1\"\n", yaml_string(&stem));
    if fields.iter().any(|(n, _)| n == "user_id") {
        yaml.push_str("key: user_id\n");
    }
    yaml.push_str("fields:\n");
    for (n, ty) in fields {
        yaml.push_str(&format!("  {}: {ty}\n", yaml_string(n)));
    }
    yaml.push_str(&format!("script: {}\n", yaml_string(&name)));
    let (mut src, def) = load::load_str(&path.with_extension("rhai.yaml"), yaml)?;
    let mut policy = compile_onto(&mut src, &def, overrides, base)?;
    policy.path = path.to_owned();
    policy.sha256 = crate::dataset::fingerprint::sha256_hex(script);
    // The columns this policy added read as their first rows typed them.
    for column in policy.columns.iter_mut().skip(base.len()) {
        column.role = crate::dataset::schema::Role::Typed;
    }
    // Every column is declared, so most are read by nothing: not worth a warning here.
    policy
        .warnings
        .retain(|w| !w.message.contains("is declared but nothing reads it"));
    Ok(policy)
}

fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The columns of `data` and their inferred types: a Parquet or Arrow
/// column's from its type, a text column's from its first values.
fn sniff(data: &Path) -> Result<Vec<(String, FieldType)>> {
    let (text, schema) = Input::open(data)?.into_csv_text(None)?;
    let mut fields = sniff_csv(data, text)?;
    if let Some(schema) = schema {
        for ((_, ty), f) in fields.iter_mut().zip(schema.fields()) {
            *ty = typed(f.data_type()).unwrap_or(*ty);
        }
    }
    Ok(fields)
}

/// The field type of an Arrow column whose type says it; `None` for text
/// (typed by its values).
fn typed(dt: &arrow_schema::DataType) -> Option<FieldType> {
    use arrow_schema::DataType as D;
    match dt {
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            Some(FieldType::Int)
        }
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..) => {
            Some(FieldType::Decimal)
        }
        D::Float16 | D::Float32 | D::Float64 => Some(FieldType::Float),
        D::Boolean => Some(FieldType::Bool),
        D::Dictionary(_, values) => typed(values),
        D::Utf8 | D::LargeUtf8 | D::Utf8View | D::Null => None,
        _ => Some(FieldType::String),
    }
}

/// The columns of the CSV `text` and their types, from the first rows.
fn sniff_csv(data: &Path, text: impl std::io::Read) -> Result<Vec<(String, FieldType)>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let header = reader
        .byte_headers()
        .map_err(|e| bad_csv(data, &e))?
        .clone();
    let mut seen: Vec<[bool; 4]> = vec![[true; 4]; header.len()]; // int, decimal, bool, any value
    let mut any = vec![false; header.len()];
    for record in reader.byte_records().take(SNIFF_ROWS) {
        let record = record.map_err(|e| bad_csv(data, &e))?;
        for (i, cell) in record.iter().enumerate().take(header.len()) {
            let cell = cell.trim_ascii();
            if cell.is_empty() {
                continue;
            }
            any[i] = true;
            let s = &mut seen[i];
            s[0] &= parse_int(cell).is_some();
            s[1] &= parse_decimal(cell).is_some();
            s[2] &= parse_bool(cell).is_some() && parse_int(cell).is_none();
        }
    }
    Ok(header
        .iter()
        .zip(seen.iter().zip(&any))
        .map(|(name, (s, any))| {
            let ty = match (any, s) {
                (false, _) => FieldType::String,
                (true, [true, ..]) => FieldType::Int,
                (true, [_, true, ..]) => FieldType::Decimal,
                (true, [_, _, true, _]) => FieldType::Bool,
                _ => FieldType::String,
            };
            (String::from_utf8_lossy(name).trim().to_owned(), ty)
        })
        .collect())
}

fn bad_csv(data: &Path, e: &csv::Error) -> Error {
    let line = e.position().map_or(1, |p| p.line() as usize);
    Error::Data(
        Diagnostic::new(format!(
            "cannot read the header and first rows to type the fields: {e}"
        ))
        .at(Location::new(data, line, 1))
        .help("check that the dataset is a CSV file with a header row"),
    )
}
