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
//! The cache is a small text file under `$POLSIM_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/polsim`, else `~/.cache/polsim`. `POLSIM_CACHE_DIR=off`
//! turns it off. Any problem with it (unwritable, missing `HOME`) only means
//! the hash is computed again.

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
pub struct FileId(String);

impl FileId {
    #[cfg(unix)]
    pub fn of(path: &Path, file: &std::fs::File) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().ok()?;
        if !m.is_file() {
            return None;
        }
        let path = std::fs::canonicalize(path).ok()?;
        Some(FileId(format!(
            "{}\t{}\t{}\t{}\t{}.{}\t{}.{}",
            path.display(),
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )))
    }

    #[cfg(not(unix))]
    pub fn of(_path: &Path, _file: &std::fs::File) -> Option<FileId> {
        None
    }
}

/// Most entries the cache keeps; older ones are dropped.
const CACHE_ENTRIES: usize = 512;
const CACHE_FILE: &str = "data-sha256.tsv";

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("POLSIM_CACHE_DIR") {
        Some(d) if d == "off" => None,
        Some(d) => Some(PathBuf::from(d)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("polsim")),
    }
}

/// The remembered hash of the file `id` names, if any.
pub fn cached(id: &FileId) -> Option<String> {
    let text = std::fs::read_to_string(cache_dir()?.join(CACHE_FILE)).ok()?;
    text.lines().rev().find_map(|line| {
        let (key, sha) = line.rsplit_once('\t')?;
        (key == id.0 && sha.len() == 64).then(|| sha.to_owned())
    })
}

/// Remembers `sha` for the file `id` names. Best effort: errors are ignored.
pub fn remember(id: &FileId, sha: &str) {
    let Some(dir) = cache_dir() else { return };
    let path = dir.join(CACHE_FILE);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<&str> = old
        .lines()
        .filter(|l| l.rsplit_once('\t').is_some_and(|(k, _)| k != id.0))
        .collect();
    let entry = format!("{}\t{sha}", id.0);
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
}
