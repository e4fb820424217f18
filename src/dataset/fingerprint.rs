//! The dataset's SHA-256 for the report's manifest, without making every
//! rerun pay for it.
//!
//! Hashing is the most expensive thing polsim does to a file: on a CPU
//! without SHA instructions it runs at about 300 MB/s, slower than parsing
//! and evaluating on two cores. Analysts rerun the same file dozens of times
//! an hour with a changed threshold, so the hash of a file is remembered,
//! keyed by what identifies its contents on disk — device, inode, size and
//! the modification and status-change times in nanoseconds, as git's index
//! does. A file that is rewritten gets a new status-change time, which user
//! programs cannot set back, so a stale hash is not reused.
//!
//! Two things could still make a remembered hash lie, and both are refused:
//! a cache line that is not a hash polsim wrote (only 64 lowercase hex digits
//! are taken), and a hash taken while the file could still change without its
//! times showing it (see [`FileId::settled_before`]: such an entry is treated
//! as racy, as git treats an index entry no older than the index). A file
//! whose size or times change *during* a run is caught by the stream, which
//! compares them again at the end ([`FileId::still_describes`]).
//!
//! The cache is a small text file under `$POLSIM_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/polsim`, else `~/.cache/polsim`; empty and relative
//! values are ignored. `POLSIM_CACHE_DIR=off` turns it off. Any problem with
//! it (unwritable, missing `HOME`) only means the hash is computed again.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Incremental SHA-256.
pub struct Sha256(ring::digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
}

impl Sha256 {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Lowercase hex of the digest.
    pub fn finish(self) -> String {
        hex(self.0.finish().as_ref())
    }
}

/// SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What identifies a file's contents on disk; `None` where that cannot be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId {
    path: PathBuf,
    stat: Stat,
}

/// The parts of a file's status that change when its contents do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    dev: u64,
    ino: u64,
    len: u64,
    /// Modification and status-change times, in nanoseconds since the epoch.
    mtime: i128,
    ctime: i128,
}

impl Stat {
    #[cfg(unix)]
    fn of(file: &std::fs::File) -> Option<Stat> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().ok()?;
        if !m.is_file() {
            return None;
        }
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Some(Stat {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: ns(m.mtime(), m.mtime_nsec()),
            ctime: ns(m.ctime(), m.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    fn of(_file: &std::fs::File) -> Option<Stat> {
        None
    }
}

impl FileId {
    pub fn of(path: &Path, file: &std::fs::File) -> Option<FileId> {
        let stat = Stat::of(file)?;
        let path = std::fs::canonicalize(path).ok()?;
        Some(FileId { path, stat })
    }

    /// Whether `file` still has the size and times it had when this id was
    /// taken: `false` means it was written to meanwhile.
    pub fn still_describes(&self, file: &std::fs::File) -> bool {
        Stat::of(file) == Some(self.stat)
    }

    /// The cache key: the path, then the status fields, tab-separated.
    fn key(&self) -> String {
        let s = &self.stat;
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.path.display(),
            s.dev,
            s.ino,
            s.len,
            s.mtime,
            s.ctime
        )
    }

    /// Whether a hash computed from `started` on can be trusted later.
    ///
    /// Git's rule for a racily clean index entry, widened: a write the status
    /// times do not show is one into a page that is already dirty (a program
    /// writing through `mmap`), and the kernel marks the file modified only
    /// when a clean page is first written. Pages are cleaned within the
    /// write-back window, so once that window has passed since the last
    /// status change, every further write moves the times. A hash whose
    /// computation started sooner may describe neither version, and is
    /// computed again (and remembered afresh) on the next run.
    fn settled_before(&self, started: i128) -> bool {
        let last_change = self.stat.mtime.max(self.stat.ctime);
        started - racy_window_ns() > last_change
    }
}

/// How long after a file last changed its times may still miss writes: the
/// kernel's dirty-page expiry plus its write-back interval (Linux's defaults:
/// 30 s + 5 s), and at least a second for file systems with coarse times.
fn racy_window_ns() -> i128 {
    let centisecs = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/vm/{name}"))
            .ok()
            .and_then(|t| t.trim().parse::<i128>().ok())
    };
    let window = match (
        centisecs("dirty_expire_centisecs"),
        centisecs("dirty_writeback_centisecs"),
    ) {
        (Some(expire), Some(writeback)) => (expire + writeback) * 10_000_000,
        _ => 35_000_000_000,
    };
    window.max(1_000_000_000)
}

/// Now, in nanoseconds since the epoch (as file times are).
pub fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Most entries the cache keeps; older ones are dropped.
const CACHE_ENTRIES: usize = 512;
/// One line an entry: the file's key, the time its hashing started, the hash.
/// (Version 2: version 1 lines had no start time and are ignored.)
const CACHE_FILE: &str = "data-sha256.v2.tsv";

/// Where the cache lives. An empty or relative directory in the environment
/// is ignored (as the XDG rules say), so it never lands in the current
/// directory by accident.
fn cache_dir() -> Option<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
    };
    if std::env::var_os("POLSIM_CACHE_DIR").is_some_and(|d| d == "off") {
        return None;
    }
    absolute("POLSIM_CACHE_DIR").or_else(|| {
        absolute("XDG_CACHE_HOME")
            .or_else(|| absolute("HOME").map(|h| h.join(".cache")))
            .map(|d| d.join("polsim"))
    })
}

/// One cache line, split: `(key, hashing started, sha)`.
fn parse_entry(line: &str) -> Option<(&str, i128, &str)> {
    let (rest, sha) = line.rsplit_once('\t')?;
    let (key, started) = rest.rsplit_once('\t')?;
    Some((key, started.parse().ok()?, sha))
}

/// A SHA-256 as this module writes it: 64 lowercase hex digits.
fn is_sha256_hex(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The remembered hash of the file `id` names, if one can be trusted.
pub fn cached(id: &FileId) -> Option<String> {
    let text = std::fs::read_to_string(cache_dir()?.join(CACHE_FILE)).ok()?;
    let key = id.key();
    text.lines().rev().find_map(|line| {
        let (k, started, sha) = parse_entry(line)?;
        (k == key && is_sha256_hex(sha) && id.settled_before(started)).then(|| sha.to_owned())
    })
}

/// Remembers `sha` for the file `id` names, hashed from `started` (see
/// [`now_ns`]) on. Best effort: errors are ignored.
pub fn remember(id: &FileId, sha: &str, started: i128) {
    let Some(dir) = cache_dir() else { return };
    let path = dir.join(CACHE_FILE);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let key = id.key();
    let mut lines: Vec<&str> = old
        .lines()
        .filter(|l| parse_entry(l).is_some_and(|(k, _, _)| k != key))
        .collect();
    let entry = format!("{key}\t{started}\t{sha}");
    lines.push(&entry);
    let keep = &lines[lines.len().saturating_sub(CACHE_ENTRIES)..];
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        for l in keep {
            writeln!(tmp, "{l}")?;
        }
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    let _ = write();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut s = Sha256::default();
        s.update(b"a");
        s.update(b"bc");
        assert_eq!(s.finish(), sha256_hex(b"abc"));
    }

    #[cfg(unix)]
    #[test]
    fn a_rewritten_file_gets_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, "a\n1\n").unwrap();
        let id = |p: &Path| FileId::of(p, &std::fs::File::open(p).unwrap()).unwrap();
        let first = id(&path);
        assert_eq!(first, id(&path));
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&path, "a\n2\n").unwrap();
        assert_ne!(first, id(&path));
    }

    #[test]
    fn only_lowercase_hex_is_taken_for_a_hash() {
        assert!(is_sha256_hex(&sha256_hex(b"abc")));
        assert!(!is_sha256_hex(&"Z".repeat(64)));
        assert!(!is_sha256_hex(&sha256_hex(b"abc").to_uppercase()));
        assert!(!is_sha256_hex(&sha256_hex(b"abc")[1..]));
    }

    #[test]
    fn cache_lines_split_into_key_start_and_hash() {
        assert_eq!(
            parse_entry("/d.csv\t1\t2\t3\t4\t5\t99\tabc"),
            Some(("/d.csv\t1\t2\t3\t4\t5", 99, "abc"))
        );
        // A version-1 line (no start time) does not parse.
        assert_eq!(parse_entry("/d.csv\t1\t2\t3\t4.0\t5.0\tabc"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_hash_taken_within_the_write_back_window_of_a_change_is_racy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, "a\n1\n").unwrap();
        let id = FileId::of(&path, &std::fs::File::open(&path).unwrap()).unwrap();
        let changed = id.stat.mtime.max(id.stat.ctime);
        // Hashing that started right after the last change may have missed a
        // write into a dirty page; one that started after the window did not.
        assert!(!id.settled_before(changed));
        assert!(!id.settled_before(changed + 1_000_000));
        assert!(!id.settled_before(changed + racy_window_ns()));
        assert!(id.settled_before(changed + racy_window_ns() + 1));
    }
}
