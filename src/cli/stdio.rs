//! Standard output as polsim writes it: every failed write is an error, and
//! a standard stream closed by the caller (`>&-`) stays unusable.
//!
//! Rust's runtime opens `/dev/null` on a standard descriptor that is closed
//! (so no file polsim opens can take its number and receive what was meant
//! for standard output), which made `polsim decide ... >&-` exit 0 with its
//! output lost. So before the runtime starts (a constructor in `main.rs`),
//! [`guard_standard_fds`] does that itself and remembers that standard
//! output was closed: a write to it then fails with `EBADF`.

use crate::error::Error;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Descriptor 1 was closed when polsim started.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first error of a [`say`]: commands that print line by line carry on
/// (`check` still checks every policy); `main` reports it at the end.
static SAY_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

/// Opens `/dev/null` on each of descriptors 0, 1 and 2 that is closed, so no
/// file polsim opens later gets one of their numbers, and remembers whether
/// standard output was closed. Runs before `main`: it uses only `libc` and
/// an atomic.
pub fn guard_standard_fds() {
    #[cfg(unix)]
    for fd in 0..=2 {
        // SAFETY: `fcntl(F_GETFD)` only asks whether `fd` is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
            || io::Error::last_os_error().raw_os_error() != Some(libc::EBADF)
        {
            continue;
        }
        if fd == 1 {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        let flags = if fd == 0 {
            libc::O_RDONLY
        } else {
            libc::O_WRONLY
        };
        // SAFETY: a NUL-terminated path; the descriptor is kept for the
        // process's lifetime, as a standard stream's is. Descriptors below
        // `fd` are open, so `open` returns `fd` itself; `dup2` makes sure.
        unsafe {
            let got = libc::open(c"/dev/null".as_ptr(), flags);
            if got >= 0 && got != fd {
                libc::dup2(got, fd);
                libc::close(got);
            }
        }
    }
}

/// Standard output, locked; writes fail with `EBADF` if it was closed when
/// polsim started.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

pub struct Stdout(io::StdoutLock<'static>);

fn closed() -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        #[cfg(unix)]
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        closed()?;
        self.0.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        closed()?;
        self.0.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        closed()?;
        self.0.flush()
    }
}

/// The error for a failed write to standard output.
pub fn stdout_error(source: io::Error) -> Error {
    Error::Stdout(source)
}

/// Writes one line to standard output (the `say!` macro). An error is kept
/// for [`finish`], which makes it the run's error.
pub fn say(args: std::fmt::Arguments) {
    let mut out = stdout();
    if let Err(e) = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
    {
        let mut first = SAY_ERROR.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(e);
    }
}

/// Flushes standard output; the first error of a `say!`, if any, or of the flush.
pub fn finish() -> Result<(), Error> {
    let kept = SAY_ERROR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(e) = kept {
        return Err(stdout_error(e));
    }
    // Nothing is written to a closed standard output, so nothing is lost.
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    io::stdout().flush().map_err(stdout_error)
}
