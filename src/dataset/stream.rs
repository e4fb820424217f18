//! One pass over a dataset, in parallel, in bounded memory.
//!
//! A reader thread cuts the input into record-aligned chunks and hands them to
//! worker threads through a bounded queue (so at most a few chunks per thread
//! are in memory, whatever the file size). For a Parquet file it hands out
//! row groups by number instead, which the workers decode themselves; for an
//! Arrow stream, its batches as they arrive. Each worker turns a chunk into a
//! result (an aggregate, or formatted output); the calling thread merges the
//! results strictly in chunk order. Because chunk boundaries depend only on
//! the bytes and results merge in file order, the output is the same at any
//! thread count, and the first error reported is the first in the file.
//!
//! When the report needs the input's SHA-256 and it is not remembered (see
//! `fingerprint`), a hashing thread reads every chunk beside the workers.
//! SHA-256 is sequential and costs about as much CPU as parsing, so it gets
//! a thread of its own rather than the reader's, and the workers never wait
//! for it: a chunk's buffer is shared, and goes back to the reader when both
//! are done with it.

use super::arrow_fill::ArrowPiece;
use super::batch::Piece;
use super::chunker::{CHUNK_SIZE, Chunk, Chunker};
use super::fingerprint::{self, FileId, Sha256};
use super::parquet::{ArrowStream, CsvText, ParquetFile};
use super::schema::Schema;
use crate::dataset::schema::ColumnSpec;
use crate::error::{Diagnostic, Error, Location, Result};
use arrow_array::RecordBatch;
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A dataset to read: a file, or standard input for `-`.
pub struct Input {
    /// How the input is named in messages.
    pub name: String,
    /// What identified the file's contents when it was opened, and the file
    /// (not for stdin): to reuse its hash, and to tell whether it changed
    /// while it was read.
    id: Option<(FileId, std::fs::File)>,
    reader: Box<dyn Read + Send>,
    /// For compressed data: the SHA-256 of the bytes as stored, taken as
    /// the decompressor reads them (the report names the file it read, not
    /// the CSV inside it).
    stored: Option<StoredHash>,
    /// A Parquet file: its row groups are read once the columns are known.
    parquet: Option<std::fs::File>,
    /// The data is an Arrow IPC stream (on standard input or in a file):
    /// its batches are read once the columns are known.
    arrow: bool,
}

/// The SHA-256 of the bytes a reader passes on.
type StoredHash = Arc<std::sync::Mutex<Option<Sha256>>>;

/// A reader that hashes what it reads into `hash`.
struct Hashing<R> {
    inner: R,
    hash: StoredHash,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hash.lock().expect("the hash lock").as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

impl Input {
    pub fn open(path: &Path) -> Result<Input> {
        if path.as_os_str() == "-" {
            let name = "<stdin>".to_owned();
            let (start, reader) = peek(std::io::stdin());
            let (reader, stored, arrow) = unwrapped(&name, None, &start, reader)?;
            return Ok(Input {
                name,
                id: None,
                reader,
                stored,
                parquet: None,
                arrow,
            });
        }
        let file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
        let id = FileId::of(path, &file).and_then(|id| Some((id, file.try_clone().ok()?)));
        let name = path.display().to_string();
        // A regular file is read at offset 0 without moving its position; a
        // FIFO or device is peeked and its first bytes put back in front.
        let is_file = file.metadata().is_ok_and(|m| m.is_file());
        #[cfg(unix)]
        let start = is_file.then(|| {
            use std::os::unix::fs::FileExt;
            let mut start = vec![0u8; MAGIC_LEN];
            let n = file.read_at(&mut start, 0).unwrap_or(0);
            start.truncate(n);
            start
        });
        #[cfg(not(unix))]
        let start = is_file.then(|| {
            use std::io::{Seek, SeekFrom};
            let mut start = vec![0u8; MAGIC_LEN];
            let n = (&file).read(&mut start).unwrap_or(0);
            start.truncate(n);
            let _ = (&file).seek(SeekFrom::Start(0));
            start
        });
        if start.as_deref().is_some_and(is_parquet) {
            return Ok(Input {
                id,
                name,
                reader: Box::new(std::io::empty()),
                stored: None,
                parquet: Some(file),
                arrow: false,
            });
        }
        let (start, reader): (Vec<u8>, Box<dyn Read + Send>) = match start {
            Some(start) => (start, Box::new(file)),
            None => peek(file),
        };
        let (reader, stored, arrow) = unwrapped(&name, Some(path), &start, reader)?;
        Ok(Input {
            id,
            name,
            reader,
            stored,
            parquet: None,
            arrow,
        })
    }

    /// The input as CSV text, for a command that reads some of its rows
    /// outside the pass: a script policy typing its fields from the first
    /// rows (`columns` `None`: every column), or `explain --id` (the
    /// policy's columns, checked against its fields as the pass checks
    /// them). CSV comes decompressed; a Parquet file or an Arrow stream as
    /// the CSV of the same data, with its Arrow schema to type columns by.
    pub fn into_csv_text(
        self,
        columns: Option<&[ColumnSpec]>,
    ) -> Result<(Box<dyn Read + Send>, Option<arrow_schema::SchemaRef>)> {
        let all = columns.is_none();
        let columns = columns.unwrap_or(&[]);
        if let Some(file) = self.parquet {
            let file = ParquetFile::open(file, &self.name, columns)?;
            let schema = file.schema();
            return Ok((Box::new(CsvText::parquet(file, all)), Some(schema)));
        }
        if self.arrow {
            let stream = ArrowStream::open(self.reader, &self.name, columns)?;
            let schema = stream.schema();
            return Ok((Box::new(CsvText::arrow(stream, all)), Some(schema)));
        }
        Ok((self.reader, None))
    }

    /// An in-memory input, for tests and benchmarks.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Input {
        Input {
            name: name.to_owned(),
            id: None,
            reader: Box::new(std::io::Cursor::new(bytes)),
            stored: None,
            parquet: None,
            arrow: false,
        }
    }
}

/// The reader of data that starts with `start`: an Arrow IPC stream as it
/// is (told by its continuation marker, then read by its schema) and
/// hashed as received, compressed data decompressed (see [`decompressed`]),
/// another binary format refused, CSV as it is. Says whether it is Arrow.
fn unwrapped(
    name: &str,
    path: Option<&Path>,
    start: &[u8],
    reader: Box<dyn Read + Send>,
) -> Result<(Box<dyn Read + Send>, Option<StoredHash>, bool)> {
    if start.starts_with(b"\xff\xff\xff\xff") {
        let stored: StoredHash = Arc::new(std::sync::Mutex::new(Some(Sha256::default())));
        let hashing = Hashing {
            inner: reader,
            hash: stored.clone(),
        };
        return Ok((Box::new(hashing), Some(stored), true));
    }
    let (reader, stored) = decompressed(name, start, reader)?;
    let (start, reader) = peek(reader);
    refuse_binary(name, path, &start)?;
    Ok((reader, stored, false))
}

/// A gzip stream (every member of it, as `pigz` and `bgzip` write them) or
/// a zstd stream, decompressed on the way in, and the hash of its stored
/// bytes; anything else as it is.
fn decompressed(
    name: &str,
    start: &[u8],
    reader: Box<dyn Read + Send>,
) -> Result<(Box<dyn Read + Send>, Option<StoredHash>)> {
    let compressed = start.starts_with(b"\x1f\x8b") || start.starts_with(b"\x28\xb5\x2f\xfd");
    if !compressed {
        return Ok((reader, None));
    }
    let stored: StoredHash = Arc::new(std::sync::Mutex::new(Some(Sha256::default())));
    let reader: Box<dyn Read + Send> = Box::new(Hashing {
        inner: reader,
        hash: stored.clone(),
    });
    let (reader, format): (Box<dyn Read + Send>, _) = if start.starts_with(b"\x1f\x8b") {
        let buffered = std::io::BufReader::with_capacity(1 << 20, reader);
        (
            Box::new(flate2::read::MultiGzDecoder::new(buffered)),
            "gzip",
        )
    } else {
        let decoder = zstd::stream::read::Decoder::new(reader)
            .map_err(|e| Error::read(Path::new(name), damaged("zstd", e)))?;
        (Box::new(decoder), "zstd")
    };
    let (start, reader) = peek(Decompressing {
        inner: reader,
        format,
    });
    if start.is_empty() {
        return Err(Error::Usage(
            Diagnostic::new(format!(
                "dataset `{}` is {format}-compressed and holds no data",
                crate::error::printable(name)
            ))
            .at(Location::new(name, 1, 1))
            .help(format!(
                "check it with `{format} -t FILE`, or make it again"
            )),
        ));
    }
    Ok((reader, Some(stored)))
}

/// A decompressor whose errors say the compressed data is damaged.
struct Decompressing {
    inner: Box<dyn Read + Send>,
    format: &'static str,
}

impl Read for Decompressing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => e,
            _ => damaged(self.format, e),
        })
    }
}

fn damaged(format: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("its {format} data is damaged or cut short ({e})"),
    )
}

/// Whether data starts as a Parquet file does: `PAR1`, then a binary byte
/// (a CSV header could begin with the letters).
fn is_parquet(start: &[u8]) -> bool {
    start.starts_with(b"PAR1")
        && start
            .get(4)
            .is_some_and(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
}

/// The longest magic number [`refuse_binary`] looks for.
const MAGIC_LEN: usize = 8;

/// Reads the first bytes of `reader` (up to [`MAGIC_LEN`], fewer at its
/// end or on an error, which the next read meets again) and returns them
/// with a reader that gives them again first.
fn peek(mut reader: impl Read + Send + 'static) -> (Vec<u8>, Box<dyn Read + Send>) {
    let mut start = vec![0u8; MAGIC_LEN];
    let mut n = 0;
    while n < MAGIC_LEN {
        match reader.read(&mut start[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    start.truncate(n);
    let again = std::io::Cursor::new(start.clone());
    (start, Box::new(again.chain(reader)))
}

/// Refuses data that starts with the magic number of a compressed or
/// binary format: read as CSV it would fail with a misleading message (a
/// bare carriage return somewhere in the first line).
fn refuse_binary(name: &str, path: Option<&Path>, start: &[u8]) -> Result<()> {
    // gzip and zstd are decompressed before this sees the bytes.
    let formats: [(&[u8], &str, &str); 6] = [
        (b"\xfd7zXZ\x00", "xz-compressed data", "xz -dc"),
        (b"BZh", "bzip2-compressed data", "bzip2 -dc"),
        (b"PK\x03\x04", "a zip archive", "unzip -p"),
        (b"PAR1", "a Parquet file", ""),
        (b"ARROW1\x00\x00", "an Arrow IPC file", ""),
        (b"\xff\xff\xff\xff", "an Arrow IPC stream", ""),
    ];
    let Some((magic, what, tool)) = formats.iter().find(|(magic, ..)| start.starts_with(magic))
    else {
        return Ok(());
    };
    // `PAR1` could begin a header; a Parquet file's next byte is binary.
    if *magic == b"PAR1" && !is_parquet(start) {
        return Ok(());
    }
    // `BZh` too: bzip2's level digit, then a block's magic (the digits of
    // pi) or, for no data, the end of stream's.
    if *magic == b"BZh"
        && !(start.len() >= 8
            && (b'1'..=b'9').contains(&start[3])
            && matches!(
                start[4..8],
                [0x31, 0x41, 0x59, 0x26] | [0x17, 0x72, 0x45, 0x38]
            ))
    {
        return Ok(());
    }
    let shown = crate::error::printable(name);
    let help = match (tool.is_empty(), path) {
        (false, Some(path)) => {
            let file = crate::error::printable(&path.display().to_string()).into_owned();
            let plain = [".xz", ".zip", ".bz2"]
                .iter()
                .find_map(|ext| file.strip_suffix(ext))
                .filter(|p| p.ends_with(".csv"))
                .map_or_else(|| "decompressed.csv".to_owned(), str::to_owned);
            format!("polsim reads CSV, gzip- or zstd-compressed too; decompress it first, e.g. `{tool} {file} > {plain}`")
        }
        (false, None) => format!(
            "polsim reads CSV, gzip- or zstd-compressed too; decompress it on the way in, e.g. `{tool} FILE | polsim ... --data -`"
        ),
        (true, _) if *magic == b"PAR1" => "polsim reads a Parquet file by its path (`--data FILE.parquet`), not from a pipe: save it to a file first".to_owned(),
        (true, _) if *magic == b"ARROW1\x00\x00" => "polsim reads CSV, Parquet and Arrow IPC *streams* (from a file or `--data -`), not an Arrow IPC file: convert it to Parquet, e.g. `python3 -c \"import pyarrow.feather as f, pyarrow.parquet as pq; pq.write_table(f.read_table('FILE'), 'data.parquet')\"`".to_owned(),
        // Compressed: the stream is told before decompressing, not after.
        (true, _) => "polsim reads an Arrow IPC stream as it is, not compressed (its own buffer compression is fine): decompress it on the way in, e.g. `gzip -dc FILE | polsim ... --data -` (or `zstd -dc`)".to_owned(),
    };
    // Usage, not Data: the file cannot be read at all (`check` exits 2 too).
    Err(Error::Usage(
        Diagnostic::new(format!("dataset `{shown}` looks like {what}, not CSV"))
            .at(Location::new(name, 1, 1))
            .help(help),
    ))
}

/// How to run a pass.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub threads: usize,
    pub chunk_size: usize,
    /// Draw a progress bar on standard error.
    pub progress: bool,
    /// Compute the SHA-256 of the input (for a report's manifest). Off by
    /// default: hashing costs more than the rest of a pass on CPUs without
    /// SHA instructions, so only a command that reports it asks for it.
    pub hash: bool,
    /// A file whose size or times change during the pass is a warning (and
    /// the summary has no hash), not an error: `--skip-bad-rows`.
    pub tolerate_change: bool,
    /// The stack of each worker thread, when the work needs more than the
    /// platform's default (a policy that runs Rhai: see
    /// `CompiledPolicy::worker_stack`).
    pub worker_stack: Option<usize>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            chunk_size: CHUNK_SIZE,
            progress: false,
            hash: false,
            tolerate_change: false,
            worker_stack: None,
        }
    }
}

/// What a pass learned about the input itself.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub schema: Schema,
    /// With `hash`: the SHA-256 of the input, remembered or computed; never
    /// for a file that changed while it was read.
    pub data_sha256: Option<String>,
    /// The file's size or times changed during the pass (only with
    /// `tolerate_change`; otherwise that is an error).
    pub changed_while_read: bool,
}

/// What the reader thread hands the workers.
enum Unit {
    /// A chunk of CSV text.
    Text(Arc<Chunk>),
    /// A Parquet row group, by number, which the worker decodes.
    Group(usize),
    /// Rows of an Arrow stream, the `index`-th piece of it, starting on `line`.
    Arrow {
        index: usize,
        batch: RecordBatch,
        line: u64,
    },
}

/// Where the reader thread takes its units from.
enum Feed<'p> {
    Text(Chunker<Box<dyn Read + Send>>),
    /// The row groups of a Parquet file, by number.
    Groups(&'p ParquetFile),
    Arrow(ArrowStream),
}

/// Reads the header of `input`, resolves `columns` against it, then runs
/// `work` on every piece of it in parallel (each worker with its own state
/// from `init`) and feeds the results to `merge` in the input's order.
///
/// A piece is a chunk of CSV text, or the Arrow columns of some rows: a
/// Parquet row group is decoded by the worker that takes it, in batches of
/// [`super::parquet::BATCH_ROWS`] rows, each a piece.
pub fn run<S, R, I, W, M>(
    input: Input,
    columns: &[ColumnSpec],
    options: &StreamOptions,
    init: I,
    work: W,
    mut merge: M,
) -> Result<StreamSummary>
where
    R: Send,
    I: Fn(&Schema) -> S + Sync,
    W: Fn(&mut S, &Piece, &Schema) -> Result<R> + Sync,
    M: FnMut(R) -> Result<()>,
{
    let Input {
        name,
        reader,
        id,
        stored,
        parquet,
        arrow,
    } = input;
    let parquet = match parquet {
        Some(file) => Some(ParquetFile::open(file, &name, columns)?),
        None => None,
    };
    let mut feed = match &parquet {
        Some(p) => Feed::Groups(p),
        None if arrow => Feed::Arrow(ArrowStream::open(reader, &name, columns)?),
        None => Feed::Text(Chunker::new(reader, options.chunk_size, &name)),
    };
    let roots: Vec<usize> = match &feed {
        Feed::Groups(p) => p.roots.clone(),
        Feed::Arrow(a) => a.roots.clone(),
        Feed::Text(_) => Vec::new(),
    };
    // Any write from here on moves the file's times past this (see `fingerprint`).
    let started = fingerprint::now_ns();
    let known_sha256 = if options.hash {
        id.as_ref().and_then(|(id, _)| fingerprint::cached(id))
    } else {
        None
    };
    let header = match &mut feed {
        Feed::Text(chunker) => chunker.header()?.ok_or_else(|| {
            Error::Data(
                Diagnostic::new(format!("dataset `{name}` is empty"))
                    .at(Location::new(&name, 1, 1))
                    .help("a dataset needs a header row naming its columns, then one row per user"),
            )
        })?,
        Feed::Arrow(a) => a.header(),
        Feed::Groups(p) => p.header(),
    };
    let schema = Schema::resolve(&name, &header, columns)?;
    // Compressed data is hashed as stored, as the decompressor reads it.
    let hash_stored = match &stored {
        Some(_) if options.hash && known_sha256.is_none() => true,
        Some(h) => {
            *h.lock().expect("the hash lock") = None;
            false
        }
        None => false,
    };
    // A Parquet file is hashed as stored, beside the reading.
    let hash_file = parquet
        .as_ref()
        .filter(|_| options.hash && known_sha256.is_none());
    let text = matches!(feed, Feed::Text(_));
    let hasher = (options.hash && known_sha256.is_none() && !hash_stored && text).then(|| {
        let mut hasher = Sha256::default();
        hasher.update(&header.raw);
        hasher
    });
    let threads = options.threads.max(1);
    let progress = progress_bar(options.progress);
    let cancel = AtomicBool::new(false);
    let (unit_tx, unit_rx) = crossbeam_channel::bounded::<Unit>(threads * 2);
    let (hash_tx, hash_rx) = crossbeam_channel::bounded::<Arc<Chunk>>(threads * 4);
    let hash_tx = hasher.is_some().then_some(hash_tx);
    type Done<R> = (usize, u64, Result<Vec<R>>);
    let (result_tx, result_rx) = crossbeam_channel::bounded::<Done<R>>(threads * 2);
    // Tickets bound the pieces read but not yet merged (queued, in work, or
    // waiting for an earlier one), so memory stays bounded even when one
    // is slow: the reader takes a ticket per unit, the merger returns it.
    let window = threads * 4;
    let (ticket_tx, ticket_rx) = crossbeam_channel::bounded::<()>(window);
    // Buffers go back to the reader once the workers (and the hasher) are
    // done with them.
    let (recycle_tx, recycle_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let recycle = |chunk: Arc<Chunk>, to: &crossbeam_channel::Sender<Vec<u8>>| {
        if let Some(chunk) = Arc::into_inner(chunk) {
            let _ = to.send(chunk.bytes);
        }
    };
    if let Feed::Text(chunker) = &mut feed {
        chunker.recycle_from(recycle_rx);
    }
    for _ in 0..window {
        let _ = ticket_tx.send(());
    }

    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(|| -> Result<()> {
            let (mut index, mut line) = (0, 2);
            while !cancel.load(Ordering::Relaxed) && ticket_rx.recv().is_ok() {
                let unit = match &mut feed {
                    Feed::Text(chunker) => match chunker.next_chunk()? {
                        Some(chunk) => {
                            let chunk = Arc::new(chunk);
                            let hashed = hash_tx
                                .as_ref()
                                .is_none_or(|h| h.send(chunk.clone()).is_ok());
                            if !hashed {
                                break;
                            }
                            Unit::Text(chunk)
                        }
                        None => break,
                    },
                    Feed::Groups(p) if index < p.groups.len() => Unit::Group(index),
                    Feed::Groups(_) => break,
                    Feed::Arrow(stream) => match stream.next_batch(line)? {
                        Some(batch) => {
                            let unit_line = line;
                            line += batch.num_rows() as u64;
                            Unit::Arrow {
                                index,
                                batch,
                                line: unit_line,
                            }
                        }
                        None => break,
                    },
                };
                index += 1;
                if unit_tx.send(unit).is_err() {
                    break;
                }
            }
            drop(unit_tx);
            drop(hash_tx);
            Ok(())
        });
        let file_hashing = hash_file.map(|p| scope.spawn(move || p.sha256()));
        let hashing = hasher.map(|mut hasher| {
            let (recycle_tx, recycle) = (recycle_tx.clone(), &recycle);
            scope.spawn(move || {
                for chunk in hash_rx {
                    hasher.update(&chunk.bytes);
                    recycle(chunk, &recycle_tx);
                }
                hasher.finish()
            })
        });
        // Results do not depend on the thread count, so a machine that will
        // not start as many workers as asked runs with those it started.
        let mut started = 0;
        let mut refused = None;
        for _ in 0..threads {
            let unit_rx = unit_rx.clone();
            let result_tx = result_tx.clone();
            let recycle_tx = recycle_tx.clone();
            let (schema, init, work, cancel, recycle) = (&schema, &init, &work, &cancel, &recycle);
            let (parquet, roots) = (&parquet, &roots);
            let worker = match options.worker_stack {
                Some(bytes) => std::thread::Builder::new().stack_size(bytes),
                None => std::thread::Builder::new(),
            };
            let spawned = worker.spawn_scoped(scope, move || {
                let mut state = init(schema);
                let arrow = |state: &mut S, batch: &RecordBatch, line: u64| {
                    let piece = Piece::Arrow(ArrowPiece {
                        batch,
                        roots,
                        first_line: line,
                    });
                    work(state, &piece, schema)
                };
                for unit in unit_rx {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let done = match unit {
                        Unit::Text(chunk) => {
                            let result = work(&mut state, &Piece::Text(&chunk), schema);
                            let (index, lines) = (chunk.index, chunk.lines);
                            recycle(chunk, &recycle_tx);
                            (index, lines, result.map(|r| vec![r]))
                        }
                        Unit::Arrow { index, batch, line } => {
                            let result = arrow(&mut state, &batch, line);
                            (index, batch.num_rows() as u64, result.map(|r| vec![r]))
                        }
                        Unit::Group(group) => {
                            let Some(parquet) = parquet else { break };
                            let mut parts = Vec::new();
                            let result = parquet.decode(group, |batch, line| {
                                parts.push(arrow(&mut state, batch, line)?);
                                Ok(())
                            });
                            let rows = parquet.groups[group].1 as u64;
                            (group, rows, result.map(|()| parts))
                        }
                    };
                    if result_tx.send(done).is_err() {
                        break;
                    }
                }
            });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        drop(result_tx);
        drop(unit_rx);
        drop(recycle_tx);

        let merged = match refused {
            Some(e) if started == 0 => Err(no_workers(&name, e)),
            _ => merge_in_order(&result_rx, &mut merge, &progress, &ticket_tx),
        };
        if merged.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        drop(ticket_tx);
        drop(result_rx);
        let read = reader.join().expect("the reader thread does not panic");
        let hashed = hashing.map(|h| h.join().expect("the hashing thread does not panic"));
        // The decompressors read their input to its end (gzip looks for
        // another member, zstd for another frame), so every stored byte
        // is hashed once the chunker has met the end of the data.
        let hashed = match (&stored, hash_stored) {
            (Some(h), true) => h.lock().expect("the hash lock").take().map(Sha256::finish),
            _ => hashed,
        };
        let hashed = match file_hashing {
            Some(h) => h.join().expect("the hashing thread does not panic"),
            None => hashed,
        };
        (merged, read.map(|()| hashed))
    });
    progress.finish_and_clear();
    match outcome {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(hashed)) => {
            let changed_while_read = id
                .as_ref()
                .is_some_and(|(id, file)| !id.still_describes(file));
            if changed_while_read {
                if !options.tolerate_change {
                    return Err(changed_error(&name));
                }
                return Ok(StreamSummary {
                    schema,
                    data_sha256: None,
                    changed_while_read,
                });
            }
            let data_sha256 = match (known_sha256, hashed) {
                (Some(known), _) => Some(known),
                (None, Some(computed)) => {
                    if let Some((id, _)) = &id {
                        fingerprint::remember(id, &computed, started);
                    }
                    Some(computed)
                }
                (None, None) => None,
            };
            Ok(StreamSummary {
                schema,
                data_sha256,
                changed_while_read,
            })
        }
    }
}

/// Not one worker thread could be started (for a policy that runs Rhai a
/// stack is 256 MiB of address space, see `policy::script::STACK_SIZE`).
fn no_workers(name: &str, e: std::io::Error) -> Error {
    Error::Usage(
        Diagnostic::new(format!("cannot start a thread to read `{name}`: {e}"))
            .help("the process may be limited in memory or address space (`ulimit -v`); raise the limit, or run fewer processes at once"),
    )
}

/// The file was written to while it was read: rows from before and after
/// the write may both be in the result, which then describes neither version.
fn changed_error(name: &str) -> Error {
    Error::Data(
        Diagnostic::new(format!(
            "dataset `{name}` changed while it was read (its size or modification time moved)"
        ))
        .at(Location::new(name, 1, 1))
        .help("run again once whatever is writing the file has finished, or on a copy of it; with `--skip-bad-rows` this is only a warning and the report has no data hash"),
    )
}

fn merge_in_order<R>(
    results: &crossbeam_channel::Receiver<(usize, u64, Result<Vec<R>>)>,
    merge: &mut impl FnMut(R) -> Result<()>,
    progress: &ProgressBar,
    tickets: &crossbeam_channel::Sender<()>,
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut next = 0;
    let mut rows = 0u64;
    for (index, lines, result) in results {
        pending.insert(index, (lines, result));
        while let Some((lines, result)) = pending.remove(&next) {
            for part in result? {
                merge(part)?;
            }
            let _ = tickets.send(());
            rows += lines;
            progress.set_position(rows);
            next += 1;
        }
    }
    Ok(())
}

/// A spinner counting rows, with rows/s; hidden unless enabled.
fn progress_bar(enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let template = "{spinner} {human_pos} rows  {rate}  {elapsed}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        // Whole rows per second: indicatif's `{per_sec}` shows four decimals.
        bar.set_style(
            style.with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", HumanCount(s.per_sec().round() as u64));
            }),
        );
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::value::FieldType;

    /// Runs a pass counting rows, and returns them with the hash it reports.
    fn pass(data: &[u8], threads: usize, hash: bool) -> (u64, Option<String>) {
        let options = StreamOptions {
            threads,
            chunk_size: 16,
            hash,
            ..StreamOptions::default()
        };
        let mut rows = 0;
        let summary = run(
            Input::from_bytes("t.csv", data.to_vec()),
            &[ColumnSpec::new("a", FieldType::String)],
            &options,
            |_| (),
            |(), piece, _| Ok(piece.rows()),
            |lines| {
                rows += lines;
                Ok(())
            },
        )
        .unwrap();
        (rows, summary.data_sha256)
    }

    #[test]
    fn the_hash_covers_every_byte_at_any_thread_count() {
        let mut data = b"\xEF\xBB\xBFa,b\r\n\"x\ny\",1\n".to_vec();
        for i in 0..500 {
            data.extend_from_slice(format!("u{i},{i}\n").as_bytes());
        }
        let want = fingerprint::sha256_hex(&data);
        for threads in [1, 2, 5] {
            assert_eq!(pass(&data, threads, true), (502, Some(want.clone())));
            assert_eq!(pass(&data, threads, false), (502, None));
        }
    }

    /// Rows as their line and key, and the lines of the rows skipped; or
    /// the error as the user sees it.
    type Outcome = std::result::Result<(Vec<(u64, String)>, Vec<u64>), String>;

    /// Every row of `data` (columns `a` as text, `b` as an int) as its line
    /// and `a`, with the rows skipped; or the error, as the user sees it.
    fn read(data: &[u8], chunk_size: usize, threads: usize, skip_bad: bool) -> Outcome {
        use crate::dataset::batch::{Batch, Parser};
        let options = StreamOptions {
            threads,
            chunk_size,
            ..StreamOptions::default()
        };
        let (mut rows, mut skipped) = (Vec::new(), Vec::new());
        run(
            Input::from_bytes("t.csv", data.to_vec()),
            &[
                ColumnSpec::new("a", FieldType::String),
                ColumnSpec::new("b", FieldType::Int),
            ],
            &options,
            |schema| (Parser::default(), Batch::new(schema)),
            |(parser, batch), chunk, schema| {
                let mut skipped = Vec::new();
                parser.parse(chunk, schema, skip_bad, batch, &mut skipped)?;
                let rows: Vec<(u64, String)> = (0..batch.len)
                    .map(|r| {
                        let a = String::from_utf8_lossy(batch.columns[0].str(r)).into_owned();
                        (batch.lines[r], a)
                    })
                    .collect();
                Ok((rows, skipped))
            },
            |(r, s)| {
                rows.extend(r);
                skipped.extend(s.into_iter().map(|s| s.line));
                Ok(())
            },
        )
        .map_err(|e| e.to_string())?;
        Ok((rows, skipped))
    }

    /// `read` at every chunk size up to past the input's length and at a
    /// few thread counts: one result, which is returned.
    fn read_everywhere(data: &[u8], skip_bad: bool) -> Outcome {
        let want = read(data, 1 << 20, 1, skip_bad);
        for chunk_size in 1..data.len() + 2 {
            for threads in [1, 3] {
                assert_eq!(
                    read(data, chunk_size, threads, skip_bad),
                    want,
                    "chunk size {chunk_size}, {threads} threads: {:?}",
                    String::from_utf8_lossy(data)
                );
            }
        }
        want
    }

    fn rows(rows: &[(u64, &str)]) -> Vec<(u64, String)> {
        rows.iter().map(|&(l, a)| (l, a.to_owned())).collect()
    }

    #[test]
    fn a_bare_carriage_return_is_an_error_at_any_chunk_size() {
        for (data, at) in [
            // A quote after the CR: the parser would open a quoted field
            // there, the chunker read it as a plain character.
            (&b"a,b\nx\r\"y,1\n2,3\n"[..], "t.csv:2:2"),
            (b"a,b\nu1,1\nu2,2\rx\",3\nu4,4\n", "t.csv:3:5"),
            (b"a,b\n\"u1\",1\nu2,2\rx\",3\n\"u4\",4\n", "t.csv:3:5"),
            (b"a,b\nu1,1\nu2,2\r", "t.csv:3:5"),
            (b"a,b\r\nu1,1\r\nu2,2\r\r\n", "t.csv:3:5"),
            (b"a,b\nu1,1\n\ru2,2\n", "t.csv:3:1"),
            (b"a,b\nu1,1\n\"u2\"\r,2\n", "t.csv:3:5"),
        ] {
            for skip in [false, true] {
                let e = read_everywhere(data, skip).expect_err(at);
                assert!(
                    e.contains("bare carriage return") && e.contains(at),
                    "{at}: {e}"
                );
            }
        }
        // An error in an earlier row comes first; skipped, it is counted.
        let data = b"a,b\nu1,x\nu2,2\r";
        let e = read_everywhere(data, false).unwrap_err();
        assert!(e.contains("t.csv:2:4"), "{e}");
        let e = read_everywhere(data, true).unwrap_err();
        assert!(e.contains("t.csv:3:5"), "{e}");
    }

    #[test]
    fn a_carriage_return_inside_quotes_is_data_at_any_chunk_size() {
        let data = b"a,\"b\r\"\n\"u\r1\",1\n\"\r\",2\r\nu3,3\r\n";
        assert_eq!(
            read_everywhere(data, false),
            Ok((rows(&[(2, "u\r1"), (3, ""), (4, "u3")]), vec![]))
        );
    }

    #[test]
    fn a_bom_is_data_but_at_the_start_of_the_file() {
        let data = "\u{feff}a,b\n\u{feff}u1,1\n\"u2\",2\n\u{feff}\"u3\",3\n";
        assert_eq!(
            read_everywhere(data.as_bytes(), false),
            Ok((
                rows(&[(2, "\u{feff}u1"), (3, "u2"), (4, "\u{feff}\"u3\"")]),
                vec![]
            ))
        );
    }

    #[test]
    fn blank_lines_are_skipped_before_the_header_and_after() {
        let data = b"\n\r\na,b\n\nu1,1\n\r\n\nu2,2\r\n\n";
        assert_eq!(
            read_everywhere(data, false),
            Ok((rows(&[(5, "u1"), (8, "u2")]), vec![]))
        );
    }

    #[test]
    fn the_first_error_in_the_file_wins_over_an_unclosed_quote() {
        let data = b"a,b\nu1,x\nu2,2\n\"u3,3\n";
        let e = read_everywhere(data, false).unwrap_err();
        assert!(e.contains("not an int") && e.contains("t.csv:2:4"), "{e}");
        let e = read_everywhere(data, true).unwrap_err();
        assert!(e.contains("never closed") && e.contains("t.csv:4:1"), "{e}");
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the bytes, the rows read, the rows skipped and the error
        /// do not depend on the chunk size or the thread count.
        #[test]
        fn the_result_does_not_depend_on_chunking(
            body in proptest::collection::vec(
                proptest::sample::select(vec!["u", "1", ",", "\"", "\r", "\n", "\r\n", "\u{feff}", " "]),
                0..24,
            ),
            header in proptest::sample::select(vec!["a,b\n", "\u{feff}a,b\r\n", "\n\"a\",b\n", "a,\"b\"\n"]),
            skip in any::<bool>(),
        ) {
            let data = format!("{header}{}", body.concat());
            read_everywhere(data.as_bytes(), skip).ok();
        }
    }
}
