//! Formats per-row decisions: key, outcome, reasons (`;`-joined, in rule
//! order), limit. A row without a `key` column is identified by its line in
//! the dataset — the row number a spreadsheet shows for it.

use super::evaluate::NONE;
use super::kernels::TRUE;
use super::{Decisions, Outcome};
use crate::dataset::batch::{Batch, ColumnData};
use crate::policy::CompiledPolicy;
use crate::policy::model::Action;
use std::io::Write;

/// Policies with at most this many rules get their reasons fields cached
/// per batch (3 × 2^rules slots).
const CACHED_RULES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// One JSON object per line.
    JsonLines,
}

pub struct DecisionWriter<'p> {
    policy: &'p CompiledPolicy,
    format: Format,
    /// Limit amounts, formatted once.
    limits: Vec<String>,
}

impl<'p> DecisionWriter<'p> {
    pub fn new(policy: &'p CompiledPolicy, format: Format) -> Self {
        DecisionWriter {
            policy,
            format,
            limits: policy.limits.iter().map(|b| b.amount.describe()).collect(),
        }
    }

    pub fn header(&self) -> Vec<u8> {
        match self.format {
            Format::Csv => {
                let key = self.policy.key_name.as_deref().unwrap_or("row");
                let mut out = csv_writer(Vec::new());
                let _ = out.write_record([key, "outcome", "reasons", "limit"]);
                out.into_inner().unwrap_or_default()
            }
            Format::JsonLines => Vec::new(),
        }
    }

    /// Appends one line per row of `batch` to `out`.
    pub fn write_batch(&self, batch: &Batch, d: &Decisions, out: &mut Vec<u8>) {
        let mut key = Vec::with_capacity(32);
        // The reasons field depends only on which rules failed and on the
        // outcome: with few rules, each one is formatted once per batch.
        let rules = d.rule_truth.len();
        let mut fields: Vec<Option<Vec<u8>>> = if rules <= CACHED_RULES {
            vec![None; 3 << rules]
        } else {
            Vec::new()
        };
        for row in 0..d.len {
            key.clear();
            self.key(batch, row, &mut key);
            let dynamic;
            let limit = match d.limit_band[row] {
                NONE => "",
                _ if !d.limit.is_empty() => {
                    dynamic = crate::simulate::report::money(d.limit[row]);
                    dynamic.as_str()
                }
                b => self.limits[b as usize].as_str(),
            };
            match self.format {
                Format::Csv => {
                    write_csv_field(out, &key);
                    out.push(b',');
                    out.extend_from_slice(d.outcome[row].name().as_bytes());
                    out.push(b',');
                    if fields.is_empty() {
                        self.reasons_field(d, row, out);
                    } else {
                        let failed = d
                            .rule_truth
                            .iter()
                            .enumerate()
                            .fold(0, |m, (i, t)| m | (usize::from(t[row] != TRUE) << i));
                        let slot = failed * 3 + d.outcome[row] as usize;
                        let field = fields[slot].get_or_insert_with(|| {
                            let mut field = Vec::new();
                            self.reasons_field(d, row, &mut field);
                            field
                        });
                        out.extend_from_slice(field);
                    }
                    out.push(b',');
                    out.extend_from_slice(limit.as_bytes());
                    out.push(b'\n');
                }
                Format::JsonLines => {
                    let line = JsonLine {
                        writer: self,
                        d,
                        row,
                        key: &key,
                        line: batch.lines[row],
                        limit: (d.outcome[row] == Outcome::Approve && !limit.is_empty())
                            .then_some(limit),
                    };
                    let _ = serde_json::to_writer(&mut *out, &line);
                    out.push(b'\n');
                }
            }
        }
    }

    /// Appends the CSV field of a row's reasons, `;`-joined, to `out`.
    fn reasons_field(&self, d: &Decisions, row: usize, out: &mut Vec<u8>) {
        let start = out.len();
        for reason in self.reasons(d, row) {
            if out.len() > start {
                out.push(b';');
            }
            out.extend_from_slice(reason.as_bytes());
        }
        // Reason codes are UPPER_SNAKE_CASE, so this is nearly never quoted.
        if needs_quotes(&out[start..]) {
            let joined = out.split_off(start);
            write_csv_field(out, &joined);
        }
    }

    /// The reason codes of the failing rules: those of the action that decided
    /// the outcome first (so the first is the primary reason), each group in
    /// rule order. With decline rules before review rules, as policies are
    /// usually written, this is simply rule order.
    fn reasons<'a>(&'a self, d: &'a Decisions, row: usize) -> impl Iterator<Item = &'a str> + 'a {
        let deciding = match d.outcome[row] {
            Outcome::Review => Action::Review,
            _ => Action::Decline,
        };
        let rules = &self.policy.rules;
        let failing = move |want: bool| {
            rules
                .iter()
                .enumerate()
                .filter(move |(i, r)| (r.action == deciding) == want && d.failed(*i, row))
                .map(|(_, r)| r.reason.as_str())
        };
        failing(true).chain(failing(false))
    }

    fn key(&self, batch: &Batch, row: usize, out: &mut Vec<u8>) {
        let Some(col) = self.policy.key else {
            out.extend_from_slice(itoa::Buffer::new().format(batch.lines[row]).as_bytes());
            return;
        };
        let column = &batch.columns[col];
        if !column.valid[row] {
            return;
        }
        let _ = match &column.data {
            ColumnData::Str { .. } => out.write_all(column.str(row)),
            ColumnData::Int(v) => out.write_all(itoa::Buffer::new().format(v[row]).as_bytes()),
            ColumnData::Float(v) => write!(out, "{}", v[row]),
            ColumnData::Decimal(v) => write!(out, "{}", v[row]),
            ColumnData::Bool(v) => write!(out, "{}", v[row] == 1),
        };
    }
}

fn needs_quotes(field: &[u8]) -> bool {
    field
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends a CSV field: as it is when it needs no quoting (keys, reason
/// codes, amounts nearly always), else quoted by the csv crate.
fn write_csv_field(out: &mut Vec<u8>, field: &[u8]) {
    if !needs_quotes(field) {
        out.extend_from_slice(field);
        return;
    }
    // A one-field record: the writer closes a quoted field only when the
    // record ends. Drop the record's terminator.
    let mut w = csv_writer(Vec::new());
    let _ = w.write_record([field]);
    if let Ok(quoted) = w.into_inner() {
        out.extend_from_slice(quoted.strip_suffix(b"\n").unwrap_or(&quoted));
    }
}

/// One decision as a JSON object, serialised from borrowed data (no map or
/// vector per row). The key is named like the CSV column: the key field, or
/// `row` (a number).
struct JsonLine<'a> {
    writer: &'a DecisionWriter<'a>,
    d: &'a Decisions,
    row: usize,
    key: &'a [u8],
    line: u64,
    limit: Option<&'a str>,
}

impl serde::Serialize for JsonLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(4))?;
        match &self.writer.policy.key_name {
            Some(name) => map.serialize_entry(name, &String::from_utf8_lossy(self.key))?,
            None => map.serialize_entry("row", &self.line)?,
        }
        map.serialize_entry("outcome", self.d.outcome[self.row].name())?;
        map.serialize_entry("reasons", &Reasons(self))?;
        map.serialize_entry("limit", &self.limit)?;
        map.end()
    }
}

struct Reasons<'a>(&'a JsonLine<'a>);

impl serde::Serialize for Reasons<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let line = self.0;
        s.collect_seq(line.writer.reasons(line.d, line.row))
    }
}

fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

#[cfg(test)]
mod tests {
    use super::write_csv_field;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let mut out = Vec::new();
        for field in [&b"u1"[..], b"a,b", b"say \"hi\"", b"two\nlines", b""] {
            write_csv_field(&mut out, field);
            out.push(b'|');
        }
        assert_eq!(
            out,
            b"u1|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"||".to_vec()
        );
    }
}
