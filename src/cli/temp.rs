//! The temporary files `-o` writes into, removed on SIGINT, SIGTERM, SIGHUP
//! and every other signal that would end the process ([`FATAL_SIGNALS`]).
//!
//! A decisions file can be hundreds of MB, so an interrupted `decide -o`
//! must not leave its hidden `.polsim-*.tmp` behind. The first temporary
//! file starts a thread that waits for those signals (through `signal-hook`,
//! so the handler itself only wakes it): it removes every registered file
//! and exits with the conventional status 128 + the signal's number.
//!
//! A file is created and registered, and later renamed into place and
//! unregistered, under one lock that the signal thread takes too: a signal
//! either finds the temporary file and removes it, or comes after the rename
//! (the output is complete), never in between.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

/// The temporary files now on disk.
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temps() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The signals that end the process by default and can be caught: on any
/// of them the temporary files are removed, then polsim exits 128 + the
/// signal's number. Not SIGPIPE (a closed pipe is a write error), nor the
/// faults a process raises on itself (SIGSEGV, SIGBUS, SIGABRT, ...);
/// SIGKILL and SIGSTOP cannot be caught. For SIGQUIT, whose default also
/// dumps core, the exit is the same, with no core.
#[cfg(unix)]
const FATAL_SIGNALS: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::SIGPOLL,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::SIGPWR,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::SIGSTKFLT,
];

/// Starts the thread that cleans up on a signal, once.
fn watch_signals() {
    static WATCH: Once = Once::new();
    #[cfg(unix)]
    WATCH.call_once(|| {
        // Without the handler the signal still stops the run, as before.
        let Ok(mut signals) = signal_hook::iterator::Signals::new(FATAL_SIGNALS) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("polsim-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    // Held until the process is gone: no rename starts after this.
                    let files = temps();
                    for path in files.iter() {
                        let _ = std::fs::remove_file(path);
                    }
                    std::process::exit(128 + signal);
                }
            });
    });
}

/// A hidden temporary file (`.polsim-XXXXXX.tmp`) in `dir`, created with
/// `mode` (less the umask) and removed if a signal stops the run.
pub struct Temp {
    // Dropped first: the file is deleted before it is unregistered.
    file: Option<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Temp {
    pub fn new_in(dir: &Path, mode: u32) -> io::Result<Temp> {
        watch_signals();
        let mut files = temps();
        let mut builder = tempfile::Builder::new();
        builder.prefix(".polsim-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        #[cfg(not(unix))]
        let _ = mode;
        let file = builder.tempfile_in(dir)?;
        let path = file.path().to_owned();
        files.push(path.clone());
        Ok(Temp {
            file: Some(file),
            path,
        })
    }

    pub fn as_file_mut(&mut self) -> &mut std::fs::File {
        self.file.as_mut().expect("a temporary file").as_file_mut()
    }

    pub fn as_file(&self) -> &std::fs::File {
        self.file.as_ref().expect("a temporary file").as_file()
    }

    /// Hands the file to `put` (which renames it into place) with signals
    /// held off, then forgets it.
    pub fn finish<T>(mut self, put: impl FnOnce(tempfile::NamedTempFile) -> T) -> T {
        let mut files = temps();
        let done = put(self.file.take().expect("a temporary file"));
        files.retain(|p| *p != self.path);
        self.path = PathBuf::new();
        done
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        drop(self.file.take());
        if !self.path.as_os_str().is_empty() {
            temps().retain(|p| *p != self.path);
        }
    }
}
