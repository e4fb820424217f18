//! The fastest way to parse a chunk, for the chunks nearly every
//! machine-written file is made of: *regular* ones.
//!
//! A chunk is regular when it has no quote character, every record has
//! exactly the header's number of fields, there are no blank or all-blank
//! lines, and a carriage return only ever comes right before a newline. In
//! such a chunk the k-th delimiter (comma or newline) of record r is entry
//! `r * width + k` of the chunk's list of delimiters, so the cells of a
//! projected column are read straight from that list, with no work per
//! record but one check that its last delimiter is a newline. The list is
//! built from bitmasks of each 64-byte block, eight positions per step
//! (simdjson's "flatten"), so the cost is a fraction of a cycle per byte and
//! no branch depends on where the commas fall.
//!
//! The same code is compiled three times, for the baseline x86_64, for AVX2
//! with BMI1 and POPCNT, and for AVX-512 VBMI2, where `compress_block` packs
//! a block's delimiter offsets in one instruction; each chunk runs the
//! widest the CPU has. A test runs every level the CPU has on the same
//! inputs.
//!
//! Whether a chunk is regular is only known once all of it has been seen, so
//! columns are filled as records come and the caller starts over on the
//! general path when [`RegularParser::parse`] says no.

use super::batch::{Batch, FILL_ROWS};
use super::chunker::Chunk;
use super::schema::Schema;

/// Room past the filled part of the delimiter list that one block's flatten
/// may write into: up to 64 positions, rounded up to the next step of eight.
const SLACK: usize = 72;

/// The most delimiters listed before the records they end are filled in,
/// so the list stays a few hundred KB however wide a file (up to 1024
/// fields, [`FILL_ROWS`] records of them).
const GROUP_DELIMS: usize = FILL_ROWS * 1024;

/// Reusable state of the regular path.
#[derive(Default)]
pub struct RegularParser {
    /// `delims[0]` is the newline that ends the record before the ones
    /// listed (`u32::MAX`, "just before byte 0", at a chunk's start); then the
    /// delimiters of the records not yet filled in, in order.
    delims: Vec<u32>,
}

impl RegularParser {
    /// Parses a regular `chunk` into `batch` (which must start empty), and
    /// says whether the chunk was regular and every cell parsed. On `false`
    /// the batch holds part of the chunk and must be cleared.
    pub fn parse(&mut self, chunk: &Chunk, schema: &Schema, batch: &mut Batch) -> bool {
        self.parse_at(Level::best(), chunk, schema, batch)
    }

    /// `parse` with the instructions of `level`, or the baseline's if the
    /// CPU lacks them.
    pub fn parse_at(
        &mut self,
        level: Level,
        chunk: &Chunk,
        schema: &Schema,
        batch: &mut Batch,
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        match level {
            // SAFETY (both): `available` has checked the CPU has the
            // features the function is compiled for.
            Level::Avx512 if Level::Avx512.available() => {
                return unsafe { self.parse_avx512(chunk, schema, batch) };
            }
            Level::Avx2 if Level::Avx2.available() => {
                return unsafe { self.parse_avx2(chunk, schema, batch) };
            }
            _ => {}
        }
        self.parse_with::<false>(chunk, schema, batch)
    }

    /// `parse_with` compiled for CPUs with AVX2, BMI1 and POPCNT (every
    /// x86_64 server CPU since 2013), which count and find the bits of a
    /// delimiter mask in one instruction each.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,popcnt")]
    fn parse_avx2(&mut self, chunk: &Chunk, schema: &Schema, batch: &mut Batch) -> bool {
        self.parse_with::<false>(chunk, schema, batch)
    }

    /// `parse_with` for CPUs with AVX-512 VBMI2 (Intel since Ice Lake, AMD
    /// since Zen 4), where one instruction packs the offsets of a block's
    /// delimiters (see `compress_block`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2,bmi1,popcnt")]
    fn parse_avx512(&mut self, chunk: &Chunk, schema: &Schema, batch: &mut Batch) -> bool {
        self.parse_with::<true>(chunk, schema, batch)
    }

    /// The parse; with `AVX512`, only called where the CPU has the features
    /// of `compress_block`.
    #[inline(always)]
    fn parse_with<const AVX512: bool>(
        &mut self,
        chunk: &Chunk,
        schema: &Schema,
        batch: &mut Batch,
    ) -> bool {
        let bytes = &chunk.bytes[..];
        let width = schema.width;
        if !chunk.quote_free || width == 0 || bytes.len() >= (u32::MAX as usize) - 128 {
            return false;
        }
        // Records are filled [`FILL_ROWS`] at a time, fewer in a file so
        // wide that the list would pass `GROUP_DELIMS` (at least one).
        let group = (GROUP_DELIMS / width).clamp(1, FILL_ROWS) * width;
        let delims = &mut self.delims;
        delims.clear();
        delims.resize(1 + group + 64 + SLACK, 0);
        delims[0] = u32::MAX;
        let mut filled = 1;
        let mut fill = Fill {
            bytes,
            schema,
            line: chunk.first_line,
            any_value: Vec::new(),
        };
        // A carriage return not followed by a newline, anywhere; and whether
        // the last byte of the previous block was one.
        let (mut bare_cr, mut cr_carry) = (0u64, 0u64);
        for (index, block) in bytes.chunks(64).enumerate() {
            let base = (index * 64) as u32;
            let slots: &mut [u32; SLACK] = (&mut delims[filled..filled + SLACK])
                .try_into()
                .expect("the list has room for a block past `filled`");
            let (count, newlines, crs) = match <&[u8; 64]>::try_from(block) {
                // SAFETY: with `AVX512`, the CPU has the features (see above).
                #[cfg(target_arch = "x86_64")]
                Ok(full) if AVX512 => unsafe { compress_block(full, base, slots) },
                _ => {
                    let (commas, newlines, crs) = masks(block);
                    (flatten(commas | newlines, base, slots), newlines, crs)
                }
            };
            bare_cr |= (cr_carry & !newlines & 1) | (crs & !(newlines >> 1) & !(1 << 63));
            cr_carry = crs >> 63;
            filled += count;
            if filled > group {
                let records = (filled - 1) / width;
                if !fill.records(delims, records, batch) {
                    return false;
                }
                let used = records * width;
                delims.copy_within(used..filled, 0);
                filled -= used;
            }
        }
        if bare_cr | cr_carry != 0 {
            return false;
        }
        // A last record without a newline ends where the chunk does.
        let unterminated = bytes.last().is_some_and(|&b| b != b'\n');
        if unterminated {
            delims[filled] = bytes.len() as u32;
            filled += 1;
        }
        let records = (filled - 1) / width;
        if records * width != filled - 1 || !fill.records(delims, records, batch) {
            return false;
        }
        // Every record ended on a newline, and there are as many records as
        // newlines: no newline stood where a comma should.
        let rows = batch.lines.len() as u64;
        batch.len = batch.lines.len();
        rows == chunk.lines + u64::from(unterminated)
    }
}

/// Which instructions a parse uses: the widest the CPU has, unless a test
/// asks for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2,
    Baseline,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Avx512, Level::Avx2, Level::Baseline];

    /// Whether this CPU can run the level's code.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            match self {
                Level::Avx512 => {
                    has!("avx512f")
                        && has!("avx512bw")
                        && has!("avx512vbmi2")
                        && Level::Avx2.available()
                }
                Level::Avx2 => has!("avx2") && has!("bmi1") && has!("popcnt"),
                Level::Baseline => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Level::Baseline
        }
    }

    fn best() -> Level {
        Level::ALL
            .into_iter()
            .find(|l| l.available())
            .unwrap_or(Level::Baseline)
    }
}

/// `masks` and `flatten` of a full block in a few AVX-512 instructions: the
/// compares give the masks, and `vpcompressb` packs the offsets (0–63) of
/// the delimiters to the front of a register, which are widened, offset by
/// `base` and stored sixteen at a time. Returns the count, newlines and
/// carriage returns.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2")]
fn compress_block(block: &[u8; 64], base: u32, slots: &mut [u32; SLACK]) -> (usize, u64, u64) {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_cmpeq_epi8_mask, _mm512_cvtepu8_epi32,
        _mm512_extracti32x4_epi32, _mm512_loadu_si512, _mm512_maskz_compress_epi8,
        _mm512_set1_epi8, _mm512_set1_epi32, _mm512_storeu_si512,
    };
    static OFFSETS: [u8; 64] = {
        let mut offsets = [0u8; 64];
        let mut i = 0;
        while i < 64 {
            offsets[i] = i as u8;
            i += 1;
        }
        offsets
    };
    // SAFETY: both loads read exactly 64 bytes of a 64-byte array.
    let (v, offsets) = unsafe {
        (
            _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()),
            _mm512_loadu_si512(OFFSETS.as_ptr().cast::<__m512i>()),
        )
    };
    let newlines = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\n' as i8));
    let commas = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b',' as i8));
    let crs = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\r' as i8));
    let delims = commas | newlines;
    let count = delims.count_ones() as usize;
    let packed = _mm512_maskz_compress_epi8(delims, offsets);
    let base = _mm512_set1_epi32(base as i32);
    let quarters = [
        _mm512_extracti32x4_epi32::<0>(packed),
        _mm512_extracti32x4_epi32::<1>(packed),
        _mm512_extracti32x4_epi32::<2>(packed),
        _mm512_extracti32x4_epi32::<3>(packed),
    ];
    for (i, quarter) in quarters.into_iter().enumerate() {
        if i * 16 >= count {
            break;
        }
        let positions = _mm512_add_epi32(_mm512_cvtepu8_epi32(quarter), base);
        let out = &mut slots[i * 16..i * 16 + 16];
        // SAFETY: `out` is sixteen `u32`s, the 64 bytes the store writes.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast::<__m512i>(), positions) };
    }
    (count, newlines, crs)
}

/// Writes the positions of the set bits of `bits` (plus `base`) to the front
/// of `slots`, eight at a time, and returns how many there are. Slots past
/// that count get garbage.
#[inline(always)]
fn flatten(mut bits: u64, base: u32, slots: &mut [u32; SLACK]) -> usize {
    let count = bits.count_ones() as usize;
    let mut at = 0;
    while at < count {
        for slot in &mut slots[at..at + 8] {
            *slot = base + bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
        }
        at += 8;
    }
    count
}

/// Fills a batch's columns from runs of records of a regular chunk.
struct Fill<'a> {
    bytes: &'a [u8],
    schema: &'a Schema,
    /// The file line of the next record.
    line: u64,
    /// Per record of a run: whether any projected cell holds a value.
    any_value: Vec<bool>,
}

impl Fill<'_> {
    /// Checks the first `records` records listed in `delims` and appends
    /// their projected cells to `batch`; `false` when one of them is not a
    /// regular record or a cell does not parse.
    #[inline(always)]
    fn records(&mut self, delims: &[u32], records: usize, batch: &mut Batch) -> bool {
        let (bytes, width) = (self.bytes, self.schema.width);
        let ends = (1..=records).map(|r| delims[r * width]);
        if ends
            .into_iter()
            .any(|end| bytes.get(end as usize).is_some_and(|&b| b != b'\n'))
        {
            return false;
        }
        let from = batch.lines.len();
        for (column, spec) in batch.columns.iter_mut().zip(&self.schema.columns) {
            // A cell runs from just past the delimiter before its field to
            // the one after.
            let field = spec.csv_index;
            // `move`: the loop keeps `width` and `field` in registers rather
            // than reloading them through references after every store.
            let cell = move |r: usize| {
                let start = delims[r * width + field].wrapping_add(1) as usize;
                &bytes[start..delims[r * width + field + 1] as usize]
            };
            let ok = if field + 1 < width {
                column.fill((0..records).map(cell))
            } else {
                // The last field of a CRLF line ends before the carriage return.
                column.fill(
                    (0..records)
                        .map(cell)
                        .map(|c| c.strip_suffix(b"\r").unwrap_or(c)),
                )
            };
            if !ok {
                return false;
            }
        }
        // A record whose every field is blank is not regular (the general
        // path reports or skips it). Only a row none of whose projected
        // cells holds a value can be one, so only such rows are looked at.
        self.any_value.clear();
        self.any_value.resize(records, false);
        for column in &batch.columns {
            for (any, &valid) in self.any_value.iter_mut().zip(&column.valid[from..]) {
                *any |= valid;
            }
        }
        for (r, _) in self.any_value.iter().enumerate().filter(|(_, any)| !**any) {
            let (start, end) = (delims[r * width].wrapping_add(1), delims[r * width + width]);
            if is_blank_record(&bytes[start as usize..end as usize]) {
                return false;
            }
        }
        batch.lines.extend(self.line..self.line + records as u64);
        self.line += records as u64;
        true
    }
}

/// Every field of the record blank.
fn is_blank_record(record: &[u8]) -> bool {
    record
        .split(|&b| b == b',')
        .all(|field| field.trim_ascii().is_empty())
}

/// Bitmasks of the commas, newlines and carriage returns in a block of up to
/// 64 bytes (bit `i` for byte `i`).
pub(super) fn masks(block: &[u8]) -> (u64, u64, u64) {
    #[cfg(target_arch = "x86_64")]
    if let Ok(full) = <&[u8; 64]>::try_from(block) {
        // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
        return unsafe { sse2_masks(full) };
    }
    let (mut commas, mut newlines, mut crs) = (0u64, 0u64, 0u64);
    for (i, b) in block.iter().enumerate() {
        commas |= u64::from(*b == b',') << i;
        newlines |= u64::from(*b == b'\n') << i;
        crs |= u64::from(*b == b'\r') << i;
    }
    (commas, newlines, crs)
}

/// `masks` for a full block with SSE2: sixteen byte compares and one mask
/// extraction per instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn sse2_masks(block: &[u8; 64]) -> (u64, u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let comma = _mm_set1_epi8(b',' as i8);
    let newline = _mm_set1_epi8(b'\n' as i8);
    let cr = _mm_set1_epi8(b'\r' as i8);
    let (mut commas, mut newlines, mut crs) = (0u64, 0u64, 0u64);
    for (i, lane) in block.chunks_exact(16).enumerate() {
        // SAFETY: `lane` is 16 readable bytes, and the unaligned load reads exactly those.
        let v = unsafe { _mm_loadu_si128(lane.as_ptr().cast::<__m128i>()) };
        let mask = |c| u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, c)) as u16) << (16 * i);
        commas |= mask(comma);
        newlines |= mask(newline);
        crs |= mask(cr);
    }
    (commas, newlines, crs)
}
