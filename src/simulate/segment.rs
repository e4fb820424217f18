//! `--by FIELD` segments: approval counts per value of a column, or per
//! numeric bin with `--by FIELD:EDGE,EDGE,...`.
//!
//! A field the policy declares (or derives) is segmented by its typed value,
//! as the policy sees it: `true`, `yes` and `1` of a bool are one segment,
//! labelled `true`; `600` and `0600` of an int are one, labelled `600`; a
//! decimal's `1.0` and `1.00` are one, labelled normalised (`1`). A column
//! the policy does not declare is text (trimmed). Bins are compared in the
//! field's type: exact decimal edges for a decimal, integer edges for an int,
//! floats for a float (and for a column the policy does not declare).

use crate::dataset::batch::{Column, ColumnData};
use crate::dataset::value::{FieldType, parse_decimal, parse_float, parse_int};
use crate::engine::Outcome;
use crate::error::{Error, Result};
use crate::policy::CompiledPolicy;
use crate::dataset::schema::{ColumnSpec, Role};
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

/// Counts for one segment value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rows: u64,
    pub approved: u64,
    pub review: u64,
    pub declined: u64,
    /// Observed bads among all rows, and among approved rows (the backtest).
    pub bads: u64,
    pub approved_bads: u64,
}

impl Counts {
    fn add(&mut self, outcome: Outcome, bad: bool) {
        self.rows += 1;
        match outcome {
            Outcome::Approve => self.approved += 1,
            Outcome::Review => self.review += 1,
            Outcome::Decline => self.declined += 1,
        }
        self.bads += u64::from(bad);
        self.approved_bads += u64::from(bad && outcome == Outcome::Approve);
    }

    fn merge(&mut self, o: &Counts) {
        self.rows += o.rows;
        self.approved += o.approved;
        self.review += o.review;
        self.declined += o.declined;
        self.bads += o.bads;
        self.approved_bads += o.approved_bads;
    }
}

/// Counts per segment value, mergeable across chunks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Segments {
    /// By distinct (trimmed) cell text.
    pub values: HashMap<Box<[u8]>, Counts>,
    /// By typed value, for a field the policy types.
    pub ints: HashMap<i64, Counts>,
    /// Decimals hash and compare by value: `1.0` and `1.00` are one key.
    pub decimals: HashMap<Decimal, Counts>,
    /// By the bits of the float (`-0` counted as `0`).
    pub floats: HashMap<u64, Counts>,
    /// `false`, `true`.
    pub bools: [Counts; 2],
    /// By bin index, when binned.
    pub bins: Vec<Counts>,
    pub missing: Counts,
}

fn count<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Counts>,
    key: K,
    outcome: Outcome,
    bad: bool,
) {
    map.entry(key).or_default().add(outcome, bad);
}

impl Segments {
    pub fn new(spec: &SegmentSpec) -> Segments {
        let n = spec.edges.len();
        Segments {
            bins: vec![Counts::default(); if n == 0 { 0 } else { n + 1 }],
            ..Segments::default()
        }
    }

    /// Adds one row. Looks up by borrowed bytes: allocates only for a value not seen before.
    pub fn add(
        &mut self,
        spec: &SegmentSpec,
        column: &Column,
        row: usize,
        outcome: Outcome,
        bad: bool,
    ) {
        if !column.valid[row] {
            self.missing.add(outcome, bad);
            return;
        }
        let bin = match (&column.data, &spec.edges) {
            (ColumnData::Float(v), Edges::Float(e)) => e.partition_point(|e| *e <= v[row]),
            (ColumnData::Int(v), Edges::Int(e)) => e.partition_point(|e| *e <= v[row]),
            (ColumnData::Decimal(v), Edges::Decimal(e)) => e.partition_point(|e| *e <= v[row]),
            (ColumnData::Int(v), _) => return count(&mut self.ints, v[row], outcome, bad),
            (ColumnData::Decimal(v), _) => {
                return count(&mut self.decimals, v[row], outcome, bad);
            }
            (ColumnData::Float(v), _) => {
                // `+ 0.0` turns `-0` into `0`.
                let bits = (v[row] + 0.0).to_bits();
                return count(&mut self.floats, bits, outcome, bad);
            }
            (ColumnData::Bool(v), _) => {
                return self.bools[usize::from(v[row] != 0)].add(outcome, bad);
            }
            (ColumnData::Str { .. }, _) => {
                let key = column.str(row);
                match self.values.get_mut(key) {
                    Some(c) => c.add(outcome, bad),
                    None => {
                        let mut c = Counts::default();
                        c.add(outcome, bad);
                        self.values.insert(key.into(), c);
                    }
                }
                return;
            }
        };
        self.bins[bin].add(outcome, bad);
    }

    pub fn merge(&mut self, other: &Segments) {
        for (k, c) in &other.values {
            self.values.entry(k.clone()).or_default().merge(c);
        }
        for (k, c) in &other.ints {
            self.ints.entry(*k).or_default().merge(c);
        }
        for (k, c) in &other.decimals {
            self.decimals.entry(*k).or_default().merge(c);
        }
        for (k, c) in &other.floats {
            self.floats.entry(*k).or_default().merge(c);
        }
        for (a, b) in self.bools.iter_mut().zip(&other.bools) {
            a.merge(b);
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.merge(b);
        }
        self.missing.merge(&other.missing);
    }

    /// `(label, counts)` in report order: bins in order; typed values in
    /// their order (`false` before `true`); text values sorted numerically
    /// when they all are numbers and as text otherwise; missing last.
    pub fn rows(&self, spec: &SegmentSpec) -> Vec<(String, Counts)> {
        let mut out: Vec<(String, Counts)> = if spec.edges.len() == 0 {
            let mut ints: Vec<_> = self.ints.iter().collect();
            ints.sort_by_key(|(k, _)| **k);
            let mut decimals: Vec<_> = self.decimals.iter().collect();
            decimals.sort_by_key(|(k, _)| **k);
            let mut floats: Vec<_> = self
                .floats
                .iter()
                .map(|(k, c)| (f64::from_bits(*k), c))
                .collect();
            floats.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut values: Vec<(String, Counts)> = ints
                .into_iter()
                .map(|(k, c)| (k.to_string(), *c))
                .chain(
                    decimals
                        .into_iter()
                        .map(|(k, c)| (k.normalize().to_string(), *c)),
                )
                .chain(floats.into_iter().map(|(k, c)| (k.to_string(), *c)))
                .chain(
                    ["false", "true"]
                        .iter()
                        .zip(&self.bools)
                        .filter(|(_, c)| c.rows > 0)
                        .map(|(k, c)| ((*k).to_owned(), *c)),
                )
                .collect();
            let mut text: Vec<(String, Counts)> = self
                .values
                .iter()
                .map(|(k, c)| (String::from_utf8_lossy(k).into_owned(), *c))
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
            values.extend(text);
            values
        } else {
            self.bins
                .iter()
                .enumerate()
                .map(|(i, c)| (spec.bin_label(i), *c))
                .collect()
        };
        if self.missing.rows > 0 {
            out.push(("(missing)".to_owned(), self.missing));
        }
        out
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
