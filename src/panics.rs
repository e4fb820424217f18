//! Panics inside a dependency, caught where polsim hands it untrusted
//! input (Rhai running a script, arrow-rs decoding a damaged Parquet page),
//! so that they become an error naming the input instead of an abort.
//!
//! The process's panic hook stays quiet about a panic caught here
//! ([`quiet`]): the error that replaces it says what happened.

use std::cell::Cell;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside [`caught`] (for the panic hook).
pub fn quiet() -> bool {
    CATCHING.with(Cell::get)
}

/// Runs `f`; a panic inside it is `Err` with its message.
pub fn caught<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let outer = CATCHING.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(outer));
    r.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message")
            .to_owned()
    })
}
