//! `--by FIELD` segments: approval counts per value of a column, or per
//! numeric bin with `--by FIELD:EDGE,EDGE,...`.

use crate::dataset::batch::{Column, ColumnData};
use crate::dataset::value::FieldType;
use crate::engine::Outcome;
use crate::error::{Error, Result};
use crate::policy::compile::{ColumnSpec, Role};
use std::collections::HashMap;

/// A segmentation asked for on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSpec {
    pub field: String,
    /// Ascending bin edges; empty for one segment per distinct value.
    pub edges: Vec<f64>,
}

impl SegmentSpec {
    /// Parses `FIELD` or `FIELD:EDGE,EDGE,...`.
    pub fn parse(text: &str) -> Result<SegmentSpec> {
        let (field, edges) = match text.split_once(':') {
            None => (text, Vec::new()),
            Some((field, list)) => {
                let edges: Option<Vec<f64>> = list
                    .split(',')
                    .map(|e| e.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                    .collect();
                let edges = edges.filter(|e| !e.is_empty() && e.windows(2).all(|w| w[0] < w[1]));
                match edges {
                    Some(edges) => (field, edges),
                    None => {
                        return Err(Error::usage(
                            format!("`--by {text}` has bad bin edges"),
                            "write ascending numbers after the colon, e.g. `--by zhima_score:550,600,650,700`",
                        ));
                    }
                }
            }
        };
        if field.is_empty() {
            return Err(Error::usage(
                format!("`--by {text}` names no field"),
                "write `--by FIELD`, e.g. `--by city_tier`",
            ));
        }
        Ok(SegmentSpec {
            field: field.to_owned(),
            edges,
        })
    }

    /// The segmentation as written on the command line.
    pub fn text(&self) -> String {
        if self.edges.is_empty() {
            return self.field.clone();
        }
        let edges: Vec<String> = self.edges.iter().map(f64::to_string).collect();
        format!("{}:{}", self.field, edges.join(","))
    }

    /// The column this segmentation reads: raw text per value, or a number to bin.
    pub fn column(&self) -> ColumnSpec {
        let ty = if self.edges.is_empty() {
            FieldType::String
        } else {
            FieldType::Float
        };
        ColumnSpec::new(self.field.clone(), ty).with_role(Role::Segment)
    }

    /// The label of bin `i` (`< a`, `[a, b)`, `>= z`).
    pub fn bin_label(&self, i: usize) -> String {
        let e = &self.edges;
        if i == 0 {
            format!("< {}", e[0])
        } else if i == e.len() {
            format!(">= {}", e[i - 1])
        } else {
            format!("[{}, {})", e[i - 1], e[i])
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
    /// By distinct cell text.
    pub values: HashMap<Box<[u8]>, Counts>,
    /// By bin index, when binned.
    pub bins: Vec<Counts>,
    pub missing: Counts,
}

impl Segments {
    pub fn new(spec: &SegmentSpec) -> Segments {
        Segments {
            bins: vec![
                Counts::default();
                if spec.edges.is_empty() {
                    0
                } else {
                    spec.edges.len() + 1
                }
            ],
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
        match &column.data {
            ColumnData::Float(v) => {
                let bin = spec.edges.partition_point(|e| *e <= v[row]);
                self.bins[bin].add(outcome, bad);
            }
            _ => {
                let key = column.str(row);
                match self.values.get_mut(key) {
                    Some(c) => c.add(outcome, bad),
                    None => {
                        let mut c = Counts::default();
                        c.add(outcome, bad);
                        self.values.insert(key.into(), c);
                    }
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Segments) {
        for (k, c) in &other.values {
            self.values.entry(k.clone()).or_default().merge(c);
        }
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.merge(b);
        }
        self.missing.merge(&other.missing);
    }

    /// `(label, counts)` in report order: bins in order, or values sorted
    /// numerically when they all are numbers and as text otherwise; missing last.
    pub fn rows(&self, spec: &SegmentSpec) -> Vec<(String, Counts)> {
        let mut out: Vec<(String, Counts)> = if spec.edges.is_empty() {
            let mut values: Vec<(String, Counts)> = self
                .values
                .iter()
                .map(|(k, c)| (String::from_utf8_lossy(k).into_owned(), *c))
                .collect();
            let numbers: Option<Vec<f64>> = values
                .iter()
                .map(|(k, _)| k.trim().parse::<f64>().ok())
                .collect();
            if numbers.is_some() {
                values.sort_by(|a, b| {
                    let (x, y) = (
                        a.0.trim().parse::<f64>().unwrap_or(0.0),
                        b.0.trim().parse::<f64>().unwrap_or(0.0),
                    );
                    x.total_cmp(&y).then_with(|| a.0.cmp(&b.0))
                });
            } else {
                values.sort_by(|a, b| a.0.cmp(&b.0));
            }
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
        assert_eq!(
            SegmentSpec::parse("city_tier").unwrap().edges,
            Vec::<f64>::new()
        );
        let s = SegmentSpec::parse("zhima_score:550,600,650").unwrap();
        assert_eq!(s.edges, [550.0, 600.0, 650.0]);
        assert_eq!(s.bin_label(0), "< 550");
        assert_eq!(s.bin_label(1), "[550, 600)");
        assert_eq!(s.bin_label(3), ">= 650");
        assert!(SegmentSpec::parse("s:600,550").is_err());
        assert!(SegmentSpec::parse("s:abc").is_err());
        assert!(SegmentSpec::parse(":1").is_err());
    }
}
