//! `polsim explain POLICY (--data FILE --id KEY | --row JSON)`: why one
//! user got their decision, rule by rule and condition by condition.

use super::Common;
use crate::dataset::batch::{Batch, Parser};
use crate::dataset::stream::{self, Input, StreamOptions};
use crate::engine::Evaluator;
use crate::engine::trace::{self, RowTrace};
use crate::error::{Error, Result, printable};
use crate::policy::CompiledPolicy;
use crate::policy::compile::compile_file_for;
use crate::report::Format;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file: YAML, or a `.rhai` script (fields typed from the data).
    pub policy: PathBuf,
    /// The dataset to find the user in (with `--id`).
    #[arg(long, value_name = "FILE", requires = "id")]
    pub data: Option<PathBuf>,
    /// The user's key: the value of the policy's `key` column.
    #[arg(long, value_name = "KEY", requires = "data", conflicts_with = "row")]
    pub id: Option<String>,
    /// The user as a JSON object of field values, e.g.
    /// `{"zhima_score": 583, "is_plus_member": true}`; a field left out is
    /// missing.
    #[arg(long, value_name = "JSON", required_unless_present = "id")]
    pub row: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(args: &Args) -> Result<()> {
    let policy = compile_file_for(&args.policy, &args.common.set, args.data.as_deref())?;
    let (name, csv, lines) = match (&args.row, &args.id, &args.data) {
        (Some(json), _, _) => {
            let csv = row_csv(&policy, json)?;
            ("--row".to_owned(), csv, vec![0])
        }
        (None, Some(id), Some(data)) => rows_with_key(&policy, data, id)?,
        _ => {
            return Err(Error::usage(
                "`explain` needs the user: `--row JSON`, or `--data FILE --id KEY`",
                "e.g. `polsim explain policy.yaml --data users.csv --id u00000083`",
            ));
        }
    };
    let traces = traces(&policy, Input::from_bytes(&name, csv), &lines)?;
    let text = match args.common.format() {
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&traces).expect("a trace serialises");
            t.push('\n');
            t
        }
        _ => traces
            .iter()
            .map(|t| crate::report::explain::render(&policy, t))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut out = super::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(super::stdout_error)
}

/// Parses and evaluates the rows of `input` (a few), tracing each.
pub(crate) fn traces(
    policy: &CompiledPolicy,
    input: Input,
    lines: &[u64],
) -> Result<Vec<RowTrace>> {
    let mut out = Vec::new();
    let options = StreamOptions {
        threads: 1,
        worker_stack: policy.worker_stack(),
        ..StreamOptions::default()
    };
    stream::run(
        input,
        &policy.columns,
        &options,
        |schema| {
            (
                Parser::default(),
                Batch::new(schema),
                Evaluator::new(policy).source(&schema.source),
                crate::engine::Decisions::default(),
            )
        },
        |(parser, batch, evaluator, d), chunk, schema| {
            parser.parse(chunk, schema, false, batch, &mut Vec::new())?;
            evaluator.evaluate(batch, d)?;
            let cols = evaluator.cols(batch);
            Ok((0..batch.len)
                .map(|row| {
                    let line = batch.lines[row];
                    trace::trace(policy, &policy.columns, evaluator, &cols, d, row, line)
                })
                .collect::<Vec<_>>())
        },
        |part| {
            // The rows come in file order: the n-th is the n-th found.
            for mut t in part {
                t.line = lines.get(out.len()).copied().unwrap_or(t.line);
                out.push(t);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// `--row JSON` as a one-row CSV of the policy's declared fields.
fn row_csv(policy: &CompiledPolicy, json: &str) -> Result<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        Error::usage(
            format!("`--row` is not JSON: {e}"),
            r#"give the user as one JSON object, e.g. `--row '{"zhima_score": 583, "is_plus_member": true}'`"#,
        )
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(Error::usage(
            "`--row` is JSON but not an object",
            r#"give the user as one JSON object of field values, e.g. `--row '{"zhima_score": 583}'`"#,
        ));
    };
    let names: Vec<&str> = policy.declared.iter().map(|c| c.name.as_str()).collect();
    for key in map.keys() {
        if !names.contains(&key.as_str()) {
            return Err(Error::usage(
                format!(
                    "`--row` names `{}`, which policy `{}` does not declare",
                    printable(key),
                    printable(&policy.id)
                ),
                match crate::error::did_you_mean(key, names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("its fields are {}", names.join(", ")),
                },
            ));
        }
    }
    let cells = names
        .iter()
        .map(|n| match map.get(*n) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(serde_json::Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(serde_json::Value::Number(x)) => Ok(Some(x.to_string())),
            Some(_) => Err(Error::usage(
                format!("`--row`: the value of `{n}` is a list or an object"),
                "give each field a plain value: a string, a number, true/false or null",
            )),
        })
        .collect::<Result<Vec<Option<String>>>>()?;
    Ok(rows_csv(policy, &[cells]))
}

/// Rows of the policy's declared fields (in `declared` order; `None` is an
/// empty cell, a missing value) as a CSV with its header.
pub(crate) fn rows_csv(policy: &CompiledPolicy, rows: &[Vec<Option<String>>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing into memory cannot fail.
    let _ = w.write_record(policy.declared.iter().map(|c| c.name.as_str()));
    for row in rows {
        let _ = w.write_record(row.iter().map(|c| c.as_deref().unwrap_or("")));
    }
    w.into_inner().unwrap_or_default()
}

/// The rows of `data` whose key is `id`, as a small CSV (the header and
/// those rows), with the line each starts on in `data`.
fn rows_with_key(
    policy: &CompiledPolicy,
    data: &std::path::Path,
    id: &str,
) -> Result<(String, Vec<u8>, Vec<u64>)> {
    let Some(key) = &policy.key_name else {
        return Err(Error::usage(
            format!(
                "policy `{}` has no `key`, so `--id` cannot find a row",
                printable(&policy.id)
            ),
            "give the user with `--row JSON`, or add `key: COLUMN` to the policy",
        ));
    };
    let shown = printable(&data.display().to_string()).into_owned();
    // A Parquet file or Arrow stream comes as the CSV of its rows.
    let (text, _) = Input::open(data)?.into_csv_text(Some(&policy.columns))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
    let bad = |e: csv::Error| {
        Error::usage(
            format!("`{shown}` cannot be read as CSV: {e}"),
            format!("check it with `polsim check POLICY --data {shown}`"),
        )
    };
    let header = reader.byte_headers().map_err(bad)?.clone();
    let Some(at) = header.iter().position(|h| h == key.as_bytes()) else {
        return Err(Error::usage(
            format!(
                "`{shown}` has no column `{}`, the policy's key",
                printable(key)
            ),
            format!("check it with `polsim check POLICY --data {shown}`"),
        ));
    };
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let written = |r: csv::Result<()>| r.map_err(bad);
    written(w.write_byte_record(&header))?;
    let mut lines = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(bad)? {
        if record.get(at).map(|k| k.trim_ascii()) == Some(id.trim().as_bytes()) {
            lines.push(record.position().map_or(0, |p| p.line()));
            written(w.write_byte_record(&record))?;
        }
    }
    if lines.is_empty() {
        return Err(Error::usage(
            format!(
                "no row of `{shown}` has `{}` = `{}`",
                printable(key),
                printable(id)
            ),
            format!("check the key, e.g. with `grep {} {shown}`", printable(id)),
        ));
    }
    if lines.len() > 1 {
        crate::note!(
            "note: {} rows of `{shown}` have `{}` = `{}` (lines {}); each is explained",
            lines.len(),
            printable(key),
            printable(id),
            lines
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let name = format!("{shown} (rows with {key} = {id})");
    let bytes = w.into_inner().map_err(|e| bad(e.into_error().into()))?;
    Ok((name, bytes, lines))
}
