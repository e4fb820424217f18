//! `--by FIELD` segments: each row keyed by the value of a column, or by
//! its numeric bin with `--by FIELD:EDGE,EDGE,...`. The pass keys every
//! chunk's rows once; accumulators keep their metrics per key.
//!
//! A field the policy declares (or derives) is segmented by its typed value,
//! as the policy sees it: `true`, `yes` and `1` of a bool are one segment,
//! labelled `true`; `600` and `0600` of an int are one, labelled `600`; a
//! decimal's `1.0` and `1.00` are one, labelled normalised (`1`). A column
//! the policy does not declare is text (trimmed). Bins are compared in the
//! field's type: exact decimal edges for a decimal, integer edges for an int,
//! floats for a float (and for a column the policy does not declare).

use crate::dataset::batch::{Batch, Column, ColumnData};
use crate::dataset::schema::{ColumnSpec, Role};
use crate::dataset::value::{FieldType, parse_decimal, parse_float, parse_int};
use crate::error::{Error, Result};
use crate::policy::CompiledPolicy;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Bin edges, typed as the field they bin.
#[derive(Debug, Clone, PartialEq)]
pub enum Edges {
    /// One segment per distinct value.
    None,
    Int(Vec<i64>),
    Float(Vec<f64>),
    Decimal(Vec<Decimal>),
}

impl Edges {
    fn len(&self) -> usize {
        match self {
            Edges::None => 0,
            Edges::Int(e) => e.len(),
            Edges::Float(e) => e.len(),
            Edges::Decimal(e) => e.len(),
        }
    }
}

/// A segmentation asked for on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSpec {
    pub field: String,
    /// The bin edges as written (trimmed); empty for one segment per value.
    pub edge_text: Vec<String>,
    /// The edges in the field's type (see [`SegmentSpec::resolve`]).
    pub edges: Edges,
    /// The type the field's values are read as.
    pub ty: FieldType,
}

fn bad_edges(text: &str) -> Error {
    Error::usage(
        format!("`--by {text}` has bad bin edges"),
        "write ascending numbers after the colon, e.g. `--by zhima_score:550,600,650,700`",
    )
}

impl SegmentSpec {
    /// Parses `FIELD` or `FIELD:EDGE,EDGE,...`. Edges are read as floats
    /// until [`SegmentSpec::resolve`] types them as the policy's field.
    pub fn parse(text: &str) -> Result<SegmentSpec> {
        let (field, edge_text) = match text.split_once(':') {
            None => (text, Vec::new()),
            Some((field, list)) => (
                field,
                list.split(',').map(|e| e.trim().to_owned()).collect(),
            ),
        };
        if field.is_empty() {
            return Err(Error::usage(
                format!("`--by {text}` names no field"),
                "write `--by FIELD`, e.g. `--by city_tier`",
            ));
        }
        let mut spec = SegmentSpec {
            field: field.to_owned(),
            edge_text,
            edges: Edges::None,
            ty: FieldType::String,
        };
        if !spec.edge_text.is_empty() {
            spec.ty = FieldType::Float;
            spec.edges = spec.typed_edges().map_err(|_| bad_edges(text))?;
        }
        Ok(spec)
    }

    /// Reads the field as the policy types it: a declared or derived field
    /// by its type, with bin edges that type holds exactly (else a usage
    /// error); any other column as text, or as a float to bin.
    pub fn resolve(mut self, policy: &CompiledPolicy) -> Result<SegmentSpec> {
        let declared = policy
            .derived_index(&self.field)
            .map(|k| policy.derived[k].ty)
            .or_else(|| {
                policy
                    .declared
                    .iter()
                    .chain(&policy.columns)
                    .find(|c| c.name == self.field)
                    .map(|c| c.ty)
            });
        let binned = !self.edge_text.is_empty();
        self.ty = match declared {
            Some(ty) if !binned || ty.is_numeric() => ty,
            _ if binned => FieldType::Float,
            _ => FieldType::String,
        };
        if binned {
            let text = format!("{}:{}", self.field, self.edge_text.join(","));
            self.edges = match self.typed_edges() {
                Ok(edges) => edges,
                Err(Some(i)) if declared.is_some_and(|t| t != FieldType::Float) => {
                    return Err(Error::usage(
                        format!(
                            "`--by {text}` has a bin edge `{}` that {} field cannot hold exactly",
                            self.edge_text[i],
                            self.ty.with_article()
                        ),
                        match self.ty {
                            FieldType::Int => format!(
                                "`{}` is an int: write whole numbers as edges, e.g. `--by {}:550,600`",
                                self.field, self.field
                            ),
                            _ => format!(
                                "`{}` is a decimal: write edges of at most 28 digits, less than 10^15 in size, e.g. `--by {}:1000,5000.50`",
                                self.field, self.field
                            ),
                        },
                    ));
                }
                Err(_) => return Err(bad_edges(&text)),
            };
        }
        Ok(self)
    }

    /// The edges as `self.ty` reads them, strictly ascending; else the
    /// index of an edge that does not parse, or `None` when out of order.
    fn typed_edges(&self) -> Result<Edges, Option<usize>> {
        fn typed<T: PartialOrd>(
            text: &[String],
            parse: impl Fn(&[u8]) -> Option<T>,
        ) -> Result<Vec<T>, Option<usize>> {
            let mut out = Vec::with_capacity(text.len());
            for (i, e) in text.iter().enumerate() {
                out.push(parse(e.as_bytes()).ok_or(Some(i))?);
            }
            if out.is_empty() || !out.windows(2).all(|w| w[0] < w[1]) {
                return Err(None);
            }
            Ok(out)
        }
        let text = &self.edge_text;
        Ok(match self.ty {
            FieldType::Int => Edges::Int(typed(text, parse_int)?),
            FieldType::Decimal => Edges::Decimal(typed(text, parse_decimal)?),
            _ => Edges::Float(typed(text, parse_float)?),
        })
    }

    /// The segmentation as written on the command line.
    pub fn text(&self) -> String {
        if self.edge_text.is_empty() {
            return self.field.clone();
        }
        let edges: Vec<String> = (0..self.edges.len()).map(|i| self.edge(i)).collect();
        format!("{}:{}", self.field, edges.join(","))
    }

    /// Edge `i` as labels show it: a decimal as written, a number as itself.
    fn edge(&self, i: usize) -> String {
        match &self.edges {
            Edges::None => String::new(),
            Edges::Int(e) => e[i].to_string(),
            Edges::Float(e) => e[i].to_string(),
            Edges::Decimal(_) => self.edge_text[i].clone(),
        }
    }

    /// The number of bins (0 when not binned).
    pub fn bins(&self) -> usize {
        match self.edges.len() {
            0 => 0,
            n => n + 1,
        }
    }

    /// The column this segmentation reads.
    pub fn column(&self) -> ColumnSpec {
        ColumnSpec::new(self.field.clone(), self.ty).with_role(Role::Segment)
    }

    /// The label of bin `i` (`< a`, `[a, b)`, `>= z`).
    pub fn bin_label(&self, i: usize) -> String {
        let n = self.edges.len();
        if i == 0 {
            format!("< {}", self.edge(0))
        } else if i == n {
            format!(">= {}", self.edge(i - 1))
        } else {
            format!("[{}, {})", self.edge(i - 1), self.edge(i))
        }
    }
}

/// The segment of a row: its value as the policy types it, its bin, or missing.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum SegmentKey {
    /// By bin index, when binned.
    Bin(u32),
    Int(i64),
    /// Decimals hash and compare by value: `1.0` and `1.00` are one key.
    Decimal(Decimal),
    /// By the bits of the float (`-0` counted as `0`).
    Float(u64),
    Bool(bool),
    /// By distinct (trimmed) cell text.
    Text(Box<[u8]>),
    Missing,
}

/// One chunk's segment keys for one segmentation: the distinct keys, and
/// each row's index into them. Reused from chunk to chunk.
#[derive(Debug, Default)]
pub struct SegmentKeys {
    pub keys: Vec<SegmentKey>,
    pub of_row: Vec<u32>,
}

impl SegmentKeys {
    /// Keys every row of `column` by `spec`. Looks text up by borrowed
    /// bytes: allocates only for a value not seen before in the chunk.
    pub fn fill(&mut self, spec: &SegmentSpec, column: &Column) {
        self.keys.clear();
        self.of_row.clear();
        let n = column.valid.len();
        // Bins and bools have few keys, known in advance: the key of a
        // row is computed, not looked up; missing takes the next one.
        let few = |keys: &mut Vec<SegmentKey>,
                   of_row: &mut Vec<u32>,
                   k: usize,
                   key: &dyn Fn(usize) -> usize| {
            keys.extend((0..k).map(|i| match spec.edges {
                Edges::None => SegmentKey::Bool(i == 1),
                _ => SegmentKey::Bin(i as u32),
            }));
            keys.push(SegmentKey::Missing);
            of_row.extend((0..n).map(|row| {
                if column.valid[row] {
                    key(row) as u32
                } else {
                    k as u32
                }
            }));
        };
        match (&column.data, &spec.edges) {
            (ColumnData::Float(v), Edges::Float(e)) => {
                few(&mut self.keys, &mut self.of_row, e.len() + 1, &|r| {
                    e.partition_point(|e| *e <= v[r])
                })
            }
            (ColumnData::Int(v), Edges::Int(e)) => {
                few(&mut self.keys, &mut self.of_row, e.len() + 1, &|r| {
                    e.partition_point(|e| *e <= v[r])
                })
            }
            (ColumnData::Decimal(v), Edges::Decimal(e)) => {
                few(&mut self.keys, &mut self.of_row, e.len() + 1, &|r| {
                    e.partition_point(|e| *e <= v[r])
                })
            }
            (ColumnData::Bool(v), _) => few(&mut self.keys, &mut self.of_row, 2, &|r| {
                usize::from(v[r] != 0)
            }),
            (ColumnData::Int(v), _) => self.lookup(column, |r| v[r], SegmentKey::Int),
            (ColumnData::Decimal(v), _) => self.lookup(column, |r| v[r], SegmentKey::Decimal),
            // `+ 0.0` turns `-0` into `0`.
            (ColumnData::Float(v), _) => {
                self.lookup(column, |r| (v[r] + 0.0).to_bits(), SegmentKey::Float)
            }
            (ColumnData::Str { .. }, _) => {
                self.lookup(column, |r| column.str(r), |t| SegmentKey::Text(t.into()))
            }
        }
    }

    /// Keys rows by their value in a chunk-local map from value to key.
    fn lookup<V: std::hash::Hash + Eq + Copy>(
        &mut self,
        column: &Column,
        value: impl Fn(usize) -> V,
        key: impl Fn(V) -> SegmentKey,
    ) {
        let mut index: HashMap<V, u32> = HashMap::new();
        let mut missing = None;
        for row in 0..column.valid.len() {
            let id = if column.valid[row] {
                let v = value(row);
                match index.get(&v) {
                    Some(id) => *id,
                    None => {
                        let id = self.keys.len() as u32;
                        self.keys.push(key(v));
                        index.insert(v, id);
                        id
                    }
                }
            } else {
                *missing.get_or_insert_with(|| {
                    self.keys.push(SegmentKey::Missing);
                    self.keys.len() as u32 - 1
                })
            };
            self.of_row.push(id);
        }
    }

    /// The rows (of `rows`) of each key that has some, grouped.
    pub fn groups(&self, rows: crate::engine::pass::Rows) -> Groups<'_> {
        let mut starts = vec![0u32; self.keys.len() + 1];
        rows.for_each(|row| starts[self.of_row[row] as usize + 1] += 1);
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; rows.len()];
        rows.for_each(|row| {
            let at = &mut next[self.of_row[row] as usize];
            order[*at as usize] = row as u32;
            *at += 1;
        });
        Groups {
            keys: &self.keys,
            starts,
            order,
        }
    }
}

/// Rows grouped by segment key (see [`SegmentKeys::groups`]).
pub struct Groups<'k> {
    keys: &'k [SegmentKey],
    starts: Vec<u32>,
    order: Vec<u32>,
}

impl Groups<'_> {
    /// Each key with its rows, skipping keys with none.
    pub fn iter(&self) -> impl Iterator<Item = (&SegmentKey, &[u32])> {
        self.keys.iter().enumerate().filter_map(|(k, key)| {
            let rows = &self.order[self.starts[k] as usize..self.starts[k + 1] as usize];
            (!rows.is_empty()).then_some((key, rows))
        })
    }
}

/// Keys in report order, with their labels: bins in order; typed values in
/// their order (`false` before `true`); text values sorted numerically when
/// they all are numbers and as text otherwise; missing last.
pub fn report_order<'k, V>(
    spec: &SegmentSpec,
    entries: impl Iterator<Item = (&'k SegmentKey, V)>,
) -> Vec<(String, V)> {
    let mut typed: Vec<(&SegmentKey, V)> = Vec::new();
    let mut text: Vec<(String, V)> = Vec::new();
    let mut missing = None;
    for (key, v) in entries {
        match key {
            SegmentKey::Missing => missing = Some(v),
            SegmentKey::Text(t) => text.push((String::from_utf8_lossy(t).into_owned(), v)),
            _ => typed.push((key, v)),
        }
    }
    fn rank(k: &SegmentKey) -> u8 {
        match k {
            SegmentKey::Bin(_) => 0,
            SegmentKey::Int(_) => 1,
            SegmentKey::Decimal(_) => 2,
            SegmentKey::Float(_) => 3,
            _ => 4,
        }
    }
    typed.sort_by(|(a, _), (b, _)| {
        rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
            (SegmentKey::Bin(x), SegmentKey::Bin(y)) => x.cmp(y),
            (SegmentKey::Int(x), SegmentKey::Int(y)) => x.cmp(y),
            (SegmentKey::Decimal(x), SegmentKey::Decimal(y)) => x.cmp(y),
            (SegmentKey::Float(x), SegmentKey::Float(y)) => {
                f64::from_bits(*x).total_cmp(&f64::from_bits(*y))
            }
            (SegmentKey::Bool(x), SegmentKey::Bool(y)) => x.cmp(y),
            _ => std::cmp::Ordering::Equal,
        })
    });
    let mut out: Vec<(String, V)> = typed
        .into_iter()
        .map(|(k, v)| {
            let label = match k {
                SegmentKey::Bin(i) => spec.bin_label(*i as usize),
                SegmentKey::Int(x) => x.to_string(),
                SegmentKey::Decimal(x) => x.normalize().to_string(),
                SegmentKey::Float(x) => f64::from_bits(*x).to_string(),
                SegmentKey::Bool(x) => x.to_string(),
                SegmentKey::Text(_) | SegmentKey::Missing => unreachable!("sorted apart"),
            };
            (label, v)
        })
        .collect();
    let numbers: Option<Vec<f64>> = text
        .iter()
        .map(|(k, _)| k.trim().parse::<f64>().ok())
        .collect();
    if numbers.is_some() {
        text.sort_by(|a, b| {
            let (x, y) = (
                a.0.trim().parse::<f64>().unwrap_or(0.0),
                b.0.trim().parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y).then_with(|| a.0.cmp(&b.0))
        });
    } else {
        text.sort_by(|a, b| a.0.cmp(&b.0));
    }
    out.extend(text);
    if let Some(v) = missing {
        out.push(("(missing)".to_owned(), v));
    }
    out
}

/// Where a segmentation's values come from.
pub enum Source {
    Parsed(usize),
    /// A derived column of the plan's first policy, read as it is or (to
    /// bin a bool, say) converted.
    Derived {
        index: usize,
        convert: bool,
    },
}

impl Source {
    /// A derived field of `policy` is read from its evaluator; any other
    /// column is added to the projection `columns`.
    pub fn of(
        spec: &SegmentSpec,
        policy: &CompiledPolicy,
        columns: &mut Vec<ColumnSpec>,
    ) -> Source {
        match policy.derived_index(&spec.field) {
            Some(k) => Source::Derived {
                index: k,
                convert: policy.derived[k].ty != spec.ty,
            },
            None => {
                let column = spec.column();
                match columns.iter().position(|c| *c == column) {
                    Some(i) => Source::Parsed(i),
                    None => {
                        columns.push(column);
                        Source::Parsed(columns.len() - 1)
                    }
                }
            }
        }
    }

    /// The segmentation's column in a chunk; `converted` holds it when it
    /// is a derived column of another type.
    pub fn column<'a>(
        &self,
        batch: &'a Batch,
        derived: &'a [Column],
        converted: &'a mut Column,
    ) -> &'a Column {
        match self {
            Source::Parsed(i) => &batch.columns[*i],
            Source::Derived {
                index,
                convert: false,
            } => &derived[*index],
            Source::Derived { index, .. } => {
                derived_column(&derived[*index], converted);
                converted
            }
        }
    }
}

/// A derived column as a segment reads it: a float to bin, or the text of each value.
pub fn derived_column(derived: &Column, out: &mut Column) {
    use rust_decimal::prelude::ToPrimitive;
    out.truncate(0);
    let n = derived.valid.len();
    for row in 0..n {
        if !derived.valid[row] {
            out.push_missing();
            continue;
        }
        match &mut out.data {
            ColumnData::Float(v) => {
                let x = match &derived.data {
                    ColumnData::Int(d) => d[row] as f64,
                    ColumnData::Float(d) => d[row],
                    ColumnData::Decimal(d) => d[row].to_f64().unwrap_or(f64::NAN),
                    ColumnData::Bool(d) => f64::from(d[row]),
                    ColumnData::Str { .. } => f64::NAN,
                };
                v.push(x);
                out.valid.push(true);
            }
            ColumnData::Str { bytes, ends } => {
                use std::io::Write;
                let _ = match &derived.data {
                    ColumnData::Int(d) => write!(bytes, "{}", d[row]),
                    ColumnData::Float(d) => write!(bytes, "{}", d[row]),
                    ColumnData::Decimal(d) => write!(bytes, "{}", d[row]),
                    ColumnData::Bool(d) => write!(bytes, "{}", d[row] != 0),
                    ColumnData::Str { .. } => bytes.write_all(derived.str(row)),
                };
                ends.push(bytes.len() as u32);
                out.valid.push(true);
            }
            _ => out.push_missing(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_bins() {
        assert_eq!(SegmentSpec::parse("city_tier").unwrap().edges, Edges::None);
        let s = SegmentSpec::parse("zhima_score:550,600,650").unwrap();
        assert_eq!(s.edges, Edges::Float(vec![550.0, 600.0, 650.0]));
        assert_eq!(s.bin_label(0), "< 550");
        assert_eq!(s.bin_label(1), "[550, 600)");
        assert_eq!(s.bin_label(3), ">= 650");
        assert!(SegmentSpec::parse("s:600,550").is_err());
        assert!(SegmentSpec::parse("s:abc").is_err());
        assert!(SegmentSpec::parse(":1").is_err());
    }
}
