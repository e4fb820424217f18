//! Parquet files (`--data FILE.parquet`) and Arrow IPC streams on standard
//! input (`--data -`, what Spark's `mapInArrow` hands a process), both told
//! by their magic bytes and read with arrow-rs: only the columns the run
//! reads, each checked against its field's type before a row is read, then
//! read into the engine's batches by the CSV reader's rules
//! ([`super::arrow_fill`]).
//!
//! A Parquet file's row groups are decoded in parallel: the reader thread
//! hands out their numbers, and each worker decodes the groups it takes
//! from the file at their offsets (the file is shared, read with `pread`,
//! so no worker moves another's position). An Arrow stream is read in
//! order, as it arrives, and its batches are read into columns by the
//! workers.

use super::chunker::{Header, Names};
use super::fingerprint::Sha256;
use super::schema::ColumnSpec;
use super::value::FieldType;
use crate::error::{Diagnostic, Error, Location, Result};
use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

/// Rows read into one batch at a time.
pub const BATCH_ROWS: usize = 16_384;

/// Whether a Parquet column of type `dt` can be read as a `ty` field.
pub(super) fn fits(dt: &DataType, ty: FieldType) -> bool {
    use DataType as D;
    let int = matches!(
        dt,
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64
    );
    let text = matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    let float = matches!(dt, D::Float16 | D::Float32 | D::Float64);
    let decimal = matches!(
        dt,
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..)
    );
    match (dt, ty) {
        // A dictionary is read as its values; a column of nulls is missing
        // values whatever the field.
        (D::Dictionary(_, values), _) => fits(values, ty),
        (D::Null, _) => true,
        (_, FieldType::String) => int || text || float || decimal || *dt == D::Boolean,
        (_, FieldType::Int) => int || text,
        // A float holds a binary fraction: read as a decimal it would be
        // rounded, and polsim does not round money.
        (_, FieldType::Decimal) => int || text || decimal,
        (_, FieldType::Float) => int || text || float || decimal,
        (_, FieldType::Bool) => *dt == D::Boolean || text || int,
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
        // Names are matched as a CSV header's are, trimmed.
        let found = schema
            .fields()
            .iter()
            .enumerate()
            .find(|(_, f)| f.name().trim() == c.name);
        let Some((i, field)) = found else {
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
                    FieldType::Decimal => "a float is not exact: store money as a decimal column (pyarrow `pa.decimal128(12, 2)`, Spark `DecimalType(12, 2)`), or as an integer or a string",
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

/// The header a schema is resolved against: every top-level column's
/// name, so that a message about a missing one lists them all.
fn header_of(schema: &arrow_schema::Schema) -> Header {
    let mut names = Names::default();
    for f in schema.fields() {
        names.push(f.name().trim());
    }
    Header {
        names,
        raw: Vec::new(),
        line: 1,
    }
}

/// A Parquet file open for a pass: its metadata read once, its row groups
/// decoded by whichever worker takes each.
pub struct ParquetFile {
    name: String,
    file: SharedFile,
    metadata: ArrowReaderMetadata,
    mask: ProjectionMask,
    /// The file columns decoded, ascending.
    pub roots: Vec<usize>,
    /// Per row group: the rows before it in the file, and its own.
    pub groups: Vec<(u64, usize)>,
}

impl ParquetFile {
    /// Reads the metadata of `file` and checks the columns of `columns` it
    /// holds against their fields.
    pub fn open(file: File, name: &str, columns: &[ColumnSpec]) -> Result<ParquetFile> {
        let len = file
            .metadata()
            .map_err(|e| Error::read(std::path::Path::new(name), e))?
            .len();
        let file = SharedFile {
            file: Arc::new(file),
            len,
        };
        let metadata =
            crate::panics::caught(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()))
                .map_err(|why| damaged(name, ParquetError::General(why)))?
                .map_err(|e| damaged(name, e))?;
        let roots = project(metadata.schema(), name, columns, "a Parquet")?;
        let descr = metadata.metadata().file_metadata().schema_descr();
        let mask = ProjectionMask::roots(descr, roots.iter().copied());
        // A row group's count of rows is checked against the values of
        // each column read (every one is flat: one value, or null, a row),
        // and again against the rows decoded: a footer that lies would
        // drop rows, or shift every later row's line.
        let mut before = 0u64;
        let mut groups = Vec::new();
        for (i, g) in metadata.metadata().row_groups().iter().enumerate() {
            let lying = |what: String| {
                damaged(
                    name,
                    ParquetError::General(format!("row group {} {what}", i + 1)),
                )
            };
            let rows = usize::try_from(g.num_rows())
                .map_err(|_| lying(format!("claims {} rows", g.num_rows())))?;
            for leaf in 0..descr.num_columns() {
                let values = g.column(leaf).num_values();
                if roots.contains(&descr.get_column_root_idx(leaf)) && values != g.num_rows() {
                    return Err(lying(format!(
                        "claims {} rows, but its column `{}` holds {values} values",
                        g.num_rows(),
                        descr.column(leaf).name()
                    )));
                }
            }
            groups.push((before, rows));
            before += rows as u64;
        }
        Ok(ParquetFile {
            name: name.to_owned(),
            file,
            metadata,
            mask,
            roots,
            groups,
        })
    }

    pub fn header(&self) -> Header {
        header_of(self.metadata.schema())
    }

    pub fn schema(&self) -> arrow_schema::SchemaRef {
        self.metadata.schema().clone()
    }

    /// Decodes row group `group`, handing `each` its batches of at most
    /// [`BATCH_ROWS`] rows in order, with the line of each one's first row.
    pub fn decode(
        &self,
        group: usize,
        mut each: impl FnMut(&RecordBatch, u64) -> Result<()>,
    ) -> Result<()> {
        let mut line = self.groups[group].0 + 2;
        let damaged = |e: ParquetError, line: u64| {
            Error::Data(
                Diagnostic::new(format!(
                    "cannot read `{}`: its Parquet data is damaged ({e})",
                    self.name
                ))
                .at(Location::new(&self.name, line as usize, 1))
                .help("check that the file was written completely, or write it again"),
            )
        };
        let (claimed, mut decoded) = (self.groups[group].1, 0);
        // arrow-rs may panic on a damaged page: that is damage too.
        let caught = |why: String, line| damaged(ParquetError::General(why), line);
        let mut batches = crate::panics::caught(|| {
            ParquetRecordBatchReaderBuilder::new_with_metadata(
                self.file.clone(),
                self.metadata.clone(),
            )
            .with_projection(self.mask.clone())
            .with_row_groups(vec![group])
            .with_batch_size(BATCH_ROWS)
            .build()
        })
        .map_err(|why| caught(why, line))?
        .map_err(|e| damaged(e, line))?;
        while let Some(batch) =
            crate::panics::caught(|| batches.next()).map_err(|why| caught(why, line))?
        {
            let batch = batch.map_err(|e| damaged(e.into(), line))?;
            decoded += batch.num_rows();
            if decoded > claimed {
                break;
            }
            each(&batch, line)?;
            line += batch.num_rows() as u64;
        }
        if decoded != claimed {
            let why = format!(
                "row group {} claims {claimed} rows, but {decoded} were decoded",
                group + 1
            );
            return Err(damaged(ParquetError::General(why), line));
        }
        Ok(())
    }

    /// The SHA-256 of the whole file; `None` if it cannot be read.
    pub fn sha256(&self) -> Option<String> {
        let mut h = Sha256::default();
        let mut reader = At {
            file: self.file.file.clone(),
            at: 0,
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Some(h.finish()),
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }
}

/// An open file read at offsets by any thread.
#[derive(Clone)]
struct SharedFile {
    file: Arc<File>,
    len: u64,
}

/// A reader of a shared file from an offset on.
struct At {
    file: Arc<File>,
    at: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = read_at(&self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, at)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, at)
}

impl parquet::file::reader::Length for SharedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for SharedFile {
    type T = std::io::BufReader<At>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::new(At {
            file: self.file.clone(),
            at: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let mut buf = vec![0u8; length];
        let mut reader = At {
            file: self.file.clone(),
            at: start,
        };
        reader.read_exact(&mut buf)?;
        Ok(buf.into())
    }
}

/// What ends an Arrow IPC stream: a continuation marker and a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// A reader that keeps the last 8 bytes it passed on.
struct Tail {
    inner: Box<dyn Read + Send>,
    last: Arc<std::sync::Mutex<[u8; 8]>>,
}

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut last = self.last.lock().expect("the tail lock");
        if n >= 8 {
            last.copy_from_slice(&buf[n - 8..n]);
        } else {
            last.rotate_left(n);
            last[8 - n..].copy_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

/// An Arrow IPC stream, read in order as it arrives.
pub struct ArrowStream {
    name: String,
    batches: arrow_ipc::reader::StreamReader<Box<dyn Read + Send>>,
    /// The last bytes read, to tell a stream that ended from one cut short.
    tail: Arc<std::sync::Mutex<[u8; 8]>>,
    header: Header,
    /// The stream columns decoded, ascending.
    pub roots: Vec<usize>,
    /// What is left of a batch longer than [`BATCH_ROWS`].
    rest: Option<RecordBatch>,
}

impl ArrowStream {
    /// Reads the stream's schema and checks the columns of `columns` it
    /// holds against their fields.
    pub fn open(
        reader: Box<dyn Read + Send>,
        name: &str,
        columns: &[ColumnSpec],
    ) -> Result<ArrowStream> {
        let not_arrow = |e: arrow_schema::ArrowError| {
            Error::Usage(
                Diagnostic::new(format!("dataset `{name}` is not an Arrow IPC stream polsim can read: {e}"))
                    .at(Location::new(name, 1, 1))
                    .help("write it with an Arrow IPC stream writer (pyarrow's `ipc.new_stream`), schema first"),
            )
        };
        let tail = Arc::new(std::sync::Mutex::new([0u8; 8]));
        let reader: Box<dyn Read + Send> = Box::new(Tail {
            inner: reader,
            last: tail.clone(),
        });
        let batches =
            crate::panics::caught(|| arrow_ipc::reader::StreamReader::try_new(reader, None))
                .map_err(|why| not_arrow(arrow_schema::ArrowError::IpcError(why)))?
                .map_err(not_arrow)?;
        let schema = batches.schema();
        let roots = project(&schema, name, columns, "an Arrow")?;
        Ok(ArrowStream {
            name: name.to_owned(),
            header: header_of(&schema),
            batches,
            tail,
            roots,
            rest: None,
        })
    }

    pub fn header(&self) -> Header {
        self.header.clone()
    }

    pub fn schema(&self) -> arrow_schema::SchemaRef {
        self.batches.schema()
    }

    /// The next batch's projected columns, at most [`BATCH_ROWS`] rows of
    /// it; `None` at the end. `line` is where it starts, for a message.
    pub fn next_batch(&mut self, line: u64) -> Result<Option<RecordBatch>> {
        let damaged = |why: String| {
            Error::Data(
                Diagnostic::new(format!(
                    "cannot read `{}`: its Arrow data is damaged ({why})",
                    self.name
                ))
                .at(Location::new(&self.name, line as usize, 1))
                .help("check that the stream was written completely: a writer must be closed (pyarrow's `writer.close()`), which ends the stream with its end-of-stream marker"),
            )
        };
        let batch = match self.rest.take() {
            Some(rest) => rest,
            None => {
                let next = crate::panics::caught(|| self.batches.next()).map_err(damaged)?;
                match next {
                    Some(b) => b
                        .and_then(|b| b.project(&self.roots))
                        .map_err(|e| damaged(e.to_string()))?,
                    // The end-of-stream marker, which a writer writes when
                    // it is closed; a stream that just stops was cut short
                    // (a writer that died), and its rows are not all there.
                    None if *self.tail.lock().expect("the tail lock") != END_OF_STREAM => {
                        return Err(damaged(
                            "it is cut short: it ends without the end-of-stream marker".to_owned(),
                        ));
                    }
                    // Bytes after the marker are another stream or
                    // something else: reading on would drop them silently,
                    // and the manifest's hash would not be of the input.
                    None => return self.nothing_after_the_end(line).map(|()| None),
                }
            }
        };
        if batch.num_rows() > BATCH_ROWS {
            self.rest = Some(batch.slice(BATCH_ROWS, batch.num_rows() - BATCH_ROWS));
            return Ok(Some(batch.slice(0, BATCH_ROWS)));
        }
        Ok(Some(batch))
    }
}

impl ArrowStream {
    /// Checks that no byte follows the end-of-stream marker.
    fn nothing_after_the_end(&mut self, line: u64) -> Result<()> {
        let mut byte = [0u8; 1];
        let more = loop {
            match self.batches.get_mut().read(&mut byte) {
                Ok(n) => break n > 0,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Data(Diagnostic::new(format!(
                        "cannot read `{}`: {e}",
                        self.name
                    ))));
                }
            }
        };
        if !more {
            return Ok(());
        }
        Err(Error::Data(
            Diagnostic::new(format!(
                "`{}` goes on after its Arrow stream's end-of-stream marker: polsim reads one stream, and the bytes after it (another stream, or other data) would be left out",
                self.name
            ))
            .at(Location::new(&self.name, line as usize, 1))
            .help("write all the batches with one stream writer; for several streams, run polsim on each (`--emit partial`) and `polsim merge` the partials"),
        ))
    }
}

fn damaged(name: &str, e: ParquetError) -> Error {
    Error::Usage(
        Diagnostic::new(format!("dataset `{name}` is not a Parquet file polsim can read: {e}"))
            .at(Location::new(name, 1, 1))
            .help("check that the file is complete (a Parquet file ends with its metadata), or write it again"),
    )
}

/// Arrow batches as CSV text, a header first: what a command that reads a
/// few rows outside the pass (a script typing its fields, `explain --id`)
/// reads. Every cell is its CSV text (see [`super::arrow_fill`]), a null
/// an empty cell, so the rows read as the pass reads them.
pub struct CsvText {
    batches: Box<dyn FnMut() -> Result<Option<RecordBatch>> + Send>,
    text: Vec<u8>,
    at: usize,
    cell: Vec<u8>,
}

impl CsvText {
    /// The columns of `schema` (every one, or those `roots` names) then
    /// the rows `batches` returns, as CSV.
    fn new(
        schema: &arrow_schema::Schema,
        roots: Option<&[usize]>,
        batches: Box<dyn FnMut() -> Result<Option<RecordBatch>> + Send>,
    ) -> CsvText {
        let mut text = Vec::new();
        let names = schema.fields().iter().enumerate();
        let names = names.filter(|(i, _)| roots.is_none_or(|r| r.contains(i)));
        for (n, (_, f)) in names.enumerate() {
            if n > 0 {
                text.push(b',');
            }
            escape(f.name().as_bytes(), &mut text);
        }
        text.push(b'\n');
        CsvText {
            batches,
            text,
            at: 0,
            cell: Vec::new(),
        }
    }

    /// A Parquet file's columns (every one with `all`, else those it was
    /// opened to read), its row groups read in order.
    pub fn parquet(file: ParquetFile, all: bool) -> CsvText {
        let roots = (!all).then(|| file.roots.clone());
        let file = match all {
            true => ParquetFile {
                mask: ProjectionMask::all(),
                ..file
            },
            false => file,
        };
        let schema = file.metadata.schema().clone();
        let (mut group, mut pending) = (0, std::collections::VecDeque::new());
        let batches = move || loop {
            if let Some(b) = pending.pop_front() {
                return Ok(Some(b));
            }
            if group == file.groups.len() {
                return Ok(None);
            }
            file.decode(group, |b, _| {
                pending.push_back(b.clone());
                Ok(())
            })?;
            group += 1;
        };
        CsvText::new(&schema, roots.as_deref(), Box::new(batches))
    }

    /// An Arrow stream's columns (every one with `all`, else those it was
    /// opened to read).
    pub fn arrow(mut stream: ArrowStream, all: bool) -> CsvText {
        let schema = stream.batches.schema();
        let roots = (!all).then(|| stream.roots.clone());
        if all {
            stream.roots = (0..schema.fields().len()).collect();
        }
        let mut line = 2;
        let batches = move || {
            let b = stream.next_batch(line)?;
            line += b.as_ref().map_or(0, |b| b.num_rows() as u64);
            Ok(b)
        };
        CsvText::new(&schema, roots.as_deref(), Box::new(batches))
    }
}

impl Read for CsvText {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.text.len() {
            let batch = (self.batches)()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let Some(batch) = batch else { return Ok(0) };
            self.text.clear();
            self.at = 0;
            for row in 0..batch.num_rows() {
                for (j, column) in batch.columns().iter().enumerate() {
                    if j > 0 {
                        self.text.push(b',');
                    }
                    if column.is_null(row) {
                        continue;
                    }
                    let cell = super::arrow_fill::cell_text(column.as_ref(), row, &mut self.cell)
                        .map_err(|what| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("a column holds {what}"),
                        )
                    })?;
                    escape(cell, &mut self.text);
                }
                self.text.push(b'\n');
            }
        }
        let n = buf.len().min(self.text.len() - self.at);
        buf[..n].copy_from_slice(&self.text[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A cell as CSV writes it: quoted when it holds a comma, a quote or a
/// line break.
fn escape(cell: &[u8], out: &mut Vec<u8>) {
    if cell
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        out.push(b'"');
        for &b in cell {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell);
    }
}
