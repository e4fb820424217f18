//! Formats per-row decisions: key, outcome, reasons (`;`-joined, in rule
//! order), limit. A row without a `key` column is identified by its line in
//! the dataset — the row number a spreadsheet shows for it.

use crate::dataset::batch::{Column, ColumnData, SkippedRows};
use crate::engine::evaluate::NONE;
use crate::engine::kernels::TRUE;
use crate::engine::pass::Chunk;
use crate::engine::{Decisions, Outcome};
use crate::policy::CompiledPolicy;
use std::io::Write;

/// Policies with at most this many rules, and at most `MAX_SLOTS`
/// combinations of failed rules, outcome and limit band, have the end of
/// each line cached (see `write_csv`).
const CACHED_RULES: usize = 8;
const MAX_SLOTS: usize = 1 << 16;

/// The longest cached line end copied with one fixed-size copy.
const SHORT: usize = 64;

/// What a worker keeps between batches to write lines fast.
#[derive(Default)]
pub struct LineCache {
    tails: Tails,
    row_number: RowNumber,
}

/// Line ends formatted once: `spans[slot]` is where slot's text is in
/// `arena` (`u32::MAX` until it is formatted). Each text is followed by at
/// least [`SHORT`] bytes of the arena, so a short one is copied with one
/// fixed-size copy and the line cut back to length, rather than a call to
/// `memcpy` for every row.
#[derive(Default)]
struct Tails {
    spans: Vec<(u32, u32)>,
    arena: Vec<u8>,
}

impl Tails {
    #[inline]
    fn put(&mut self, slot: usize, out: &mut Vec<u8>, format: impl FnOnce(&mut Vec<u8>)) {
        let (mut start, mut len) = self.spans[slot];
        if start == u32::MAX {
            let at = self.arena.len();
            format(&mut self.arena);
            (start, len) = (at as u32, (self.arena.len() - at) as u32);
            self.arena.resize(self.arena.len() + SHORT, 0);
            self.spans[slot] = (start, len);
        }
        let (start, len) = (start as usize, len as usize);
        if len <= SHORT {
            let padded = self.arena[start..start + SHORT].first_chunk::<SHORT>();
            put_padded(out, padded.expect("every text is padded"), len);
        } else {
            out.extend_from_slice(&self.arena[start..start + len]);
        }
    }
}

/// A row number as text, counted up in place: consecutive rows (nearly all
/// of them) change only the last digit or so.
#[derive(Default)]
struct RowNumber {
    value: u64,
    /// The digits of `value`, left-aligned, then padding.
    text: [u8; 24],
    len: usize,
}

impl RowNumber {
    #[inline]
    fn put(&mut self, value: u64, out: &mut Vec<u8>) {
        if !(value == self.value.wrapping_add(1) && self.count_up()) {
            let mut buffer = itoa::Buffer::new();
            let digits = buffer.format(value).as_bytes();
            self.len = digits.len();
            self.text[..self.len].copy_from_slice(digits);
        }
        self.value = value;
        put_padded(out, &self.text, self.len);
    }

    /// Adds one to the text; `false` when it gains a digit (or is empty).
    fn count_up(&mut self) -> bool {
        for digit in self.text[..self.len].iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                return true;
            }
        }
        false
    }
}

/// Appends `padded[..len]`: copies all `N` bytes (one inlined fixed-size
/// copy) and cuts back.
#[inline(always)]
fn put_padded<const N: usize>(out: &mut Vec<u8>, padded: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(padded);
    out.truncate(at + len);
}

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
    /// Whether lines end with `why` (`decide --explain`; the decisions
    /// then carry it).
    explain: bool,
}

impl<'p> DecisionWriter<'p> {
    pub fn new(policy: &'p CompiledPolicy, format: Format) -> Self {
        DecisionWriter {
            policy,
            format,
            limits: policy
                .limits
                .iter()
                .map(|b| crate::report::amount_text(&b.amount))
                .collect(),
            explain: false,
        }
    }

    /// Lines end with the conditions that failed (`why`).
    pub fn explain(mut self, on: bool) -> Self {
        self.explain = on;
        self
    }

    pub fn header(&self) -> Vec<u8> {
        match self.format {
            Format::Csv => {
                let key = self.policy.key_name.as_deref().unwrap_or("row");
                let mut out = csv_writer(Vec::new());
                let mut header = vec![key, "outcome", "reasons", "limit"];
                if self.explain {
                    header.push("why");
                }
                let _ = out.write_record(header);
                out.into_inner().unwrap_or_default()
            }
            Format::JsonLines => Vec::new(),
        }
    }

    /// Appends one line per row of a chunk to `out`: the rows' `ids`, the
    /// policy's decisions `d`. `cache` is the worker's, kept from chunk to
    /// chunk.
    pub fn write_batch(
        &self,
        ids: RowIds,
        d: &Decisions,
        cache: &mut LineCache,
        out: &mut Vec<u8>,
    ) {
        match self.format {
            Format::Csv => self.write_csv(ids, d, cache, out),
            Format::JsonLines => self.write_json(ids, d, out),
        }
    }

    fn write_csv(&self, ids: RowIds, d: &Decisions, cache: &mut LineCache, out: &mut Vec<u8>) {
        let dynamic = self.policy.dynamic_limits();
        // What follows the key depends only on which rules failed, the
        // outcome and the limit band (unless limits are computed per row,
        // or the line ends with why): with few rules and bands, it is
        // formatted once per worker and copied for every row.
        let per_row = dynamic || self.explain;
        let rules = d.rule_truth.len();
        let bands = if per_row { 1 } else { self.limits.len() + 1 };
        let slots = (3usize << rules.min(usize::BITS as usize - 3)) * bands;
        let cached = rules <= CACHED_RULES && slots <= MAX_SLOTS;
        if cached && cache.tails.spans.len() != slots {
            cache.tails = Tails {
                spans: vec![(u32::MAX, 0); slots],
                arena: Vec::new(),
            };
        }
        out.reserve(d.len * 16);
        let mut key = Vec::with_capacity(32);
        for row in 0..d.len {
            match self.policy.key {
                None => cache.row_number.put(ids.lines[row], out),
                Some(_) => {
                    key.clear();
                    ids.key(row, &mut key);
                    write_csv_field(out, &key);
                }
            }
            let band = d.limit_band[row];
            if cached {
                let failed = d
                    .rule_truth
                    .iter()
                    .enumerate()
                    .fold(0, |m, (i, t)| m | (usize::from(t[row] != TRUE) << i));
                let band_slot = match band {
                    _ if per_row => 0,
                    NONE => self.limits.len(),
                    b => b as usize,
                };
                let slot = (failed * 3 + d.outcome[row] as usize) * bands + band_slot;
                cache
                    .tails
                    .put(slot, out, |tail| self.tail(d, row, !per_row, tail));
            } else {
                self.tail(d, row, !per_row, out);
            }
            if per_row {
                if let Some(limit) = self.limit_text(d, row) {
                    out.extend_from_slice(limit.as_bytes());
                }
                if self.explain {
                    out.push(b',');
                    write_csv_field(out, d.why.get(row).map_or("", String::as_str).as_bytes());
                }
                out.push(b'\n');
            }
        }
    }

    /// Appends what follows a row's key: `,outcome,reasons,` and, with
    /// `limit`, the limit of its band and the line's end.
    fn tail(&self, d: &Decisions, row: usize, limit: bool, out: &mut Vec<u8>) {
        out.push(b',');
        out.extend_from_slice(d.outcome[row].name().as_bytes());
        out.push(b',');
        self.reasons_field(d, row, out);
        out.push(b',');
        if limit {
            if let Some(amount) = self.limits.get(d.limit_band[row] as usize) {
                out.extend_from_slice(amount.as_bytes());
            }
            out.push(b'\n');
        }
    }

    fn write_json(&self, ids: RowIds, d: &Decisions, out: &mut Vec<u8>) {
        let mut key = Vec::with_capacity(32);
        for row in 0..d.len {
            key.clear();
            ids.key(row, &mut key);
            // Borrowed for a band's fixed amount: no allocation per row.
            let limit: Option<std::borrow::Cow<str>> = match d.limit_band[row] {
                NONE => None,
                _ if !d.limit.is_empty() => Some(crate::report::money(d.limit[row]).into()),
                b => Some(self.limits[b as usize].as_str().into()),
            };
            let line = JsonLine {
                writer: self,
                d,
                row,
                key: &key,
                line: ids.lines[row],
                limit: limit.as_deref(),
            };
            let _ = serde_json::to_writer(&mut *out, &line);
            out.push(b'\n');
        }
    }

    /// A row's limit as its line shows it; `None` without one.
    pub fn limit_text(&self, d: &Decisions, row: usize) -> Option<std::borrow::Cow<'_, str>> {
        match d.limit_band[row] {
            NONE => None,
            _ if d.outcome[row] != Outcome::Approve => None,
            _ if !d.limit.is_empty() => Some(crate::report::money(d.limit[row]).into()),
            b => Some(self.limits[b as usize].as_str().into()),
        }
    }

    /// A row's limit as an amount, to compare with another policy's.
    pub fn limit_value(&self, d: &Decisions, row: usize) -> Option<rust_decimal::Decimal> {
        match d.limit_band[row] {
            NONE => None,
            _ if d.outcome[row] != Outcome::Approve => None,
            _ if !d.limit.is_empty() => Some(d.limit[row]),
            b => self.policy.limits[b as usize].amount.fixed(),
        }
    }

    /// A row's reason codes, `;`-joined, as its line shows them.
    pub fn reasons_text(&self, d: &Decisions, row: usize) -> String {
        self.reasons(d, row).collect::<Vec<_>>().join(";")
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

    /// The reason codes of a row's failing rules, primary first (see
    /// [`Decisions::failing_rules`]).
    fn reasons<'a>(&'a self, d: &'a Decisions, row: usize) -> impl Iterator<Item = &'a str> + 'a {
        let rules = &self.policy.rules;
        d.failing_rules(rules, row)
            .map(move |i| rules[i].reason.as_str())
    }
}

/// The decision writer as a sink on the pass: one chunk's lines, in order.
/// Parts merge by appending, so they must be merged in file order (the
/// pass folds them so).
#[derive(Debug, Default)]
pub struct DecisionLines {
    pub bytes: Vec<u8>,
    pub skipped: SkippedRows,
}

/// What a worker keeps from chunk to chunk to write lines fast.
#[derive(Default)]
pub struct WriterLocal {
    cache: LineCache,
    /// The size of the last chunk's output: the next one's buffer is
    /// allocated a little larger, not grown.
    last_len: usize,
}

impl DecisionLines {
    pub fn worker() -> WriterLocal {
        WriterLocal::default()
    }

    /// The lines of the plan's policy `policy` for `chunk`.
    pub fn write(
        writer: &DecisionWriter,
        policy: usize,
        chunk: &Chunk,
        local: &mut WriterLocal,
    ) -> DecisionLines {
        let mut bytes = Vec::with_capacity(local.last_len + local.last_len / 8 + 4096);
        writer.write_batch(
            RowIds::of(chunk, policy),
            &chunk.decisions[policy],
            &mut local.cache,
            &mut bytes,
        );
        local.last_len = bytes.len();
        let mut skipped = SkippedRows::default();
        skipped.add(chunk.skipped);
        DecisionLines { bytes, skipped }
    }
}

/// `compare -o changes.csv`: the rows whose outcome or limit differs
/// between the champion (plan policy 0) and the challenger (policy 1).
pub struct ChangesWriter<'p> {
    pub champion: DecisionWriter<'p>,
    pub challenger: DecisionWriter<'p>,
}

impl ChangesWriter<'_> {
    pub fn header(&self) -> Vec<u8> {
        let key = self.champion.policy.key_name.as_deref().unwrap_or("row");
        let mut out = csv_writer(Vec::new());
        let _ = out.write_record([
            key,
            "champion_outcome",
            "challenger_outcome",
            "champion_reasons",
            "challenger_reasons",
            "champion_limit",
            "challenger_limit",
        ]);
        out.into_inner().unwrap_or_default()
    }

    /// The lines of `chunk`'s changed rows, and how many there are.
    pub fn write(&self, chunk: &Chunk) -> (Vec<u8>, u64) {
        let (a, b) = (&chunk.decisions[0], &chunk.decisions[1]);
        let ids = RowIds::of(chunk, 0);
        let mut out = csv_writer(Vec::new());
        let (mut key, mut count) = (Vec::new(), 0);
        for row in 0..chunk.len {
            let changed = a.outcome[row] != b.outcome[row]
                || self.champion.limit_value(a, row) != self.challenger.limit_value(b, row);
            if !changed {
                continue;
            }
            count += 1;
            key.clear();
            ids.key(row, &mut key);
            let limit = |w: &DecisionWriter, d: &Decisions| {
                w.limit_text(d, row)
                    .map(|l| l.into_owned())
                    .unwrap_or_default()
            };
            let _ = out.write_record([
                &key[..],
                a.outcome[row].name().as_bytes(),
                b.outcome[row].name().as_bytes(),
                self.champion.reasons_text(a, row).as_bytes(),
                self.challenger.reasons_text(b, row).as_bytes(),
                limit(&self.champion, a).as_bytes(),
                limit(&self.challenger, b).as_bytes(),
            ]);
        }
        (out.into_inner().unwrap_or_default(), count)
    }
}

/// How a chunk's rows are named: the policy's key column, else their lines.
#[derive(Clone, Copy)]
pub struct RowIds<'a> {
    pub lines: &'a [u64],
    pub key: Option<&'a Column>,
}

impl<'a> RowIds<'a> {
    /// The ids of the plan's policy `policy` in `chunk`.
    pub fn of(chunk: &'a Chunk, policy: usize) -> RowIds<'a> {
        RowIds {
            lines: chunk.lines,
            key: chunk.keys[policy],
        }
    }

    /// Appends row `row`'s key (empty when its cell is), or its line.
    pub fn key(&self, row: usize, out: &mut Vec<u8>) {
        let Some(column) = self.key else {
            out.extend_from_slice(itoa::Buffer::new().format(self.lines[row]).as_bytes());
            return;
        };
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
        let mut map = s.serialize_map(Some(4 + usize::from(self.writer.explain)))?;
        match &self.writer.policy.key_name {
            Some(name) => map.serialize_entry(name, &String::from_utf8_lossy(self.key))?,
            None => map.serialize_entry("row", &self.line)?,
        }
        map.serialize_entry("outcome", self.d.outcome[self.row].name())?;
        map.serialize_entry("reasons", &Reasons(self))?;
        map.serialize_entry("limit", &self.limit)?;
        if self.writer.explain {
            let why = self.d.why.get(self.row).filter(|w| !w.is_empty());
            map.serialize_entry("why", &why)?;
        }
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
    use super::{RowNumber, Tails, write_csv_field};

    #[test]
    fn row_numbers_count_up_across_digits_and_jumps() {
        let values = (1..=12).chain([
            99,
            100,
            101,
            998,
            999,
            1000,
            7,
            8,
            9,
            10,
            u64::MAX - 1,
            u64::MAX,
        ]);
        let (mut number, mut out, mut want) = (RowNumber::default(), Vec::new(), String::new());
        for v in values {
            number.put(v, &mut out);
            out.push(b' ');
            want.push_str(&format!("{v} "));
        }
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn cached_line_ends_short_and_long() {
        let mut tails = Tails {
            spans: vec![(u32::MAX, 0); 3],
            arena: Vec::new(),
        };
        let long = "x".repeat(200);
        let mut out = Vec::new();
        for slot in [0, 1, 2, 1, 0, 2] {
            let text = ["short", long.as_str(), ""][slot];
            tails.put(slot, &mut out, |t| t.extend_from_slice(text.as_bytes()));
            out.push(b'|');
        }
        let want = format!("short|{long}||{long}|short||");
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

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
