//! The Rhai engine polsim runs expressions and scripts in: sandboxed, with
//! missing values and exact decimals.
//!
//! One [`Engine`] is built per policy and shared by every worker (Rhai's
//! `sync` feature); each worker keeps its own `Scope`. The sandbox: no
//! modules or `import` (the `no_module` feature), no `eval`, `print` and
//! `debug` silenced, and limits on operations, call depth, expression depth
//! and string, array and map sizes, and on the memory a row holds (see
//! [`memory`]), so a runaway script ends with an error that names the row
//! instead of hanging or exhausting memory.
//!
//! A missing cell is a value of type `missing`. Comparing it or computing
//! with it gives `missing`; `!missing` is `missing`. Rhai's `&&`, `||` and
//! `if` need a real bool, so when a missing value reaches one the whole
//! expression is missing (see `engine::rhai_row`).
//!
//! A float meeting a decimal is read as the shortest decimal that prints as
//! the float: `monthly_income * 0.5` multiplies by exactly one half and
//! `ratio < 0.3` compares with exactly three tenths.

use rhai::{Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Position};
use rust_decimal::Decimal;
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Operations one row may take before the run stops. A built-in that walks
/// an array (`contains`, `in`, `index_of`, `==`, `sort`, `reverse`, a
/// closure called per item, ...) counts one operation per item it visits.
pub const MAX_OPERATIONS: u64 = 1_000_000;
/// What one comparison or print of an item through the engine costs, in
/// operations: a call back into Rhai takes about as long as ten steps of a
/// script.
pub const DISPATCH_COST: usize = 10;
/// Wall-clock time one row may take: what the operation count cannot see
/// (copying a 10,000-item array on every step, say) still ends. Unlike the
/// other limits it depends on the machine, so `POLSIM_ROW_DEADLINE`
/// (seconds) can raise it for a slow or busy one; see [`row_deadline`].
pub const DEFAULT_ROW_DEADLINE: Duration = Duration::from_secs(2);

/// The per-row deadline in force: `POLSIM_ROW_DEADLINE` if set (the command
/// line checks it first, see [`row_deadline_setting`]), else the default.
pub fn row_deadline() -> Duration {
    static DEADLINE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *DEADLINE.get_or_init(|| {
        row_deadline_setting()
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_ROW_DEADLINE)
    })
}

/// `POLSIM_ROW_DEADLINE` as a duration, `None` when unset, or why it is not
/// a number of seconds above zero.
pub fn row_deadline_setting() -> Result<Option<Duration>, String> {
    let Some(text) = std::env::var_os("POLSIM_ROW_DEADLINE") else {
        return Ok(None);
    };
    let text = text.to_string_lossy();
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(format!(
            "`POLSIM_ROW_DEADLINE={text}` is not a number of seconds between 0 and 86400"
        )),
    }
}
/// How deep arrays and maps may be nested where polsim walks them: printing
/// (`print`, `debug`, `to_string`, interpolation) and comparing (`==`,
/// `!=`, `contains`, `in`, `index_of`). Building a value is bounded by the
/// array and map sizes (every level is an item), so at most
/// [`MAX_COLLECTION`] levels of each.
pub const MAX_DEPTH: usize = 64;
/// The stack of a thread that runs Rhai: Rhai clones, drops, sizes and
/// hashes a value recursively, and the sizes allow 20,000 levels of
/// nesting. The unit test `rhai_walks_values_as_deep_as_the_sizes_allow`
/// runs those walks at that depth on a quarter of this stack (a debug build
/// needs between 32 and 64 MiB; a release build far less). Only the pages
/// a thread touches are ever allocated.
pub const STACK_SIZE: usize = 256 << 20;
/// Nested function calls a script may make.
pub const MAX_CALL_LEVELS: usize = 32;
/// Longest string, and largest array or map, a script may build.
pub const MAX_STRING: usize = 10_000;
pub const MAX_COLLECTION: usize = 10_000;
/// Memory one row may hold at once, in bytes, over what it started with.
/// The sizes above bound a value (a full map takes about a megabyte), but
/// Rhai does not check them on every path (`m[key] = value` grows a map
/// without one), so the memory itself is watched too (see [`memory`]).
pub const MAX_ROW_MEMORY: u64 = 64 << 20;

/// A missing cell, as Rhai sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing;

/// What `decide(user)` returns: `approve(limit)`, `decline(reason, ...)` or `review(reason, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: VerdictKind,
    pub reasons: Vec<ImmutableString>,
    pub limit: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictKind {
    Approve,
    Decline,
    Review,
}

/// The shared engine. `Debug` so a compiled policy can derive it.
#[derive(Clone)]
pub struct RhaiEngine(pub Arc<Engine>);

impl std::fmt::Debug for RhaiEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RhaiEngine")
    }
}

type Res = Result<Dynamic, Box<EvalAltResult>>;

/// A float as the decimal it prints as; `None` for NaN, infinities and
/// values a decimal cannot hold exactly (too large, or with more digits
/// than it holds, like `1.5e-29`), which would otherwise be rounded.
pub fn float_to_decimal(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    crate::dataset::value::exact_decimal(&f.to_string()).ok()
}

/// A float for a message: in scientific notation when very large or very
/// small (`1e300`, not three hundred digits).
pub fn show_float(f: FLOAT) -> String {
    if f.is_finite() && f != 0.0 && !(1e-7..1e21).contains(&f.abs()) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

fn to_dec(f: FLOAT, pos: Position) -> Result<Decimal, Box<EvalAltResult>> {
    float_to_decimal(f).ok_or_else(|| {
        EvalAltResult::ErrorArithmetic(format!("{} is not a decimal number", show_float(f)), pos)
            .into()
    })
}

fn dec_arith(op: &str, a: Decimal, b: Decimal) -> Res {
    let r = match op {
        "+" => a.checked_add(b),
        "-" => a.checked_sub(b),
        "*" => a.checked_mul(b),
        "/" => a.checked_div(b),
        _ => a.checked_rem(b),
    };
    r.map(Dynamic::from_decimal).ok_or_else(|| {
        let why = if b.is_zero() && matches!(op, "/" | "%") {
            "Division by zero"
        } else {
            "Arithmetic overflow"
        };
        EvalAltResult::ErrorArithmetic(format!("{why}: {a} {op} {b}"), Position::NONE).into()
    })
}

fn dec_cmp(op: &str, a: Decimal, b: Decimal) -> bool {
    match op {
        "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    }
}

const ARITH: [&str; 5] = ["+", "-", "*", "/", "%"];
const CMP: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

/// Builds the sandboxed engine.
pub fn engine() -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(MAX_OPERATIONS);
    e.set_max_call_levels(MAX_CALL_LEVELS);
    e.set_max_expr_depths(64, 32);
    e.set_max_string_size(MAX_STRING);
    e.set_max_array_size(MAX_COLLECTION);
    e.set_max_map_size(MAX_COLLECTION);
    e.disable_symbol("eval");
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.set_fail_on_invalid_map_property(true);
    e.on_progress(|_| budget::tick());
    // A row must not wait, nor depend on the clock: same data, same decisions.
    for name in ["sleep", "timestamp"] {
        let refuse =
            move |ctx: rhai::NativeCallContext| -> Res { Err(refused(name, ctx.call_position())) };
        e.register_fn(name, refuse);
        e.register_fn(name, move |ctx: rhai::NativeCallContext, _: INT| {
            refuse(ctx)
        });
        e.register_fn(name, move |ctx: rhai::NativeCallContext, _: FLOAT| {
            refuse(ctx)
        });
    }
    register_missing(&mut e);
    register_walks(&mut e);
    register_mixed_decimal(&mut e);
    register_verdicts(&mut e);
    e
}

/// Why polsim stopped a row (the token of Rhai's `ErrorTerminated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// More than [`MAX_OPERATIONS`], counting the items built-ins walk.
    Operations,
    /// Longer than [`row_deadline`].
    Deadline,
    /// An array or map nested more than [`MAX_DEPTH`] deep, printed or compared.
    Nesting,
    /// More than [`MAX_ROW_MEMORY`] held at once.
    Memory,
}

/// The bytes each thread allocates and frees, counted by [`memory::Meter`]
/// when the binary installs it as the global allocator (without it, as in
/// unit tests, both counts stay zero and no row is stopped for memory).
pub mod memory {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATED: Cell<u64> = const { Cell::new(0) };
        static FREED: Cell<u64> = const { Cell::new(0) };
    }

    /// The system allocator, counting.
    pub struct Meter;

    fn add(counter: &'static std::thread::LocalKey<Cell<u64>>, n: usize) {
        // `try_with`: a thread being torn down still allocates.
        let _ = counter.try_with(|c| c.set(c.get().wrapping_add(n as u64)));
    }

    // SAFETY: every call is passed to the system allocator unchanged; the
    // counting touches only thread-local cells that need no destructor.
    unsafe impl GlobalAlloc for Meter {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(&ALLOCATED, layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            add(&ALLOCATED, layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            add(&FREED, layout.size());
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            add(&FREED, layout.size());
            add(&ALLOCATED, new_size);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Bytes this thread has allocated, ever.
    pub fn allocated() -> u64 {
        ALLOCATED.try_with(Cell::get).unwrap_or(0)
    }

    /// Bytes this thread has allocated less those it has freed (memory
    /// freed on another thread counts there).
    pub fn held() -> u64 {
        allocated().wrapping_sub(FREED.try_with(Cell::get).unwrap_or(0))
    }
}

/// The cost of the row running on this thread: Rhai's progress callback
/// adds one per operation (nested calls from built-ins included), the
/// built-ins below add the items they walk. The clock is read only every
/// [`CLOCK_EVERY`] units, so the deadline costs nothing per operation, and
/// after every [`ALLOC_EVERY`] bytes allocated, so operations that copy
/// large values (which take long but count one unit) cannot stretch it;
/// the memory held is checked then too.
pub mod budget {
    use super::*;

    /// Units of cost between two readings of the clock.
    pub const CLOCK_EVERY: u64 = 4096;
    /// Bytes allocated between two readings of the clock.
    pub const ALLOC_EVERY: u64 = 1 << 20;

    thread_local! {
        static COST: Cell<u64> = const { Cell::new(0) };
        /// When the next tick takes the slow path.
        static CHECK_AT: Cell<u64> = const { Cell::new(CLOCK_EVERY) };
        static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
        /// When the next tick takes the slow path, in bytes allocated.
        static ALLOC_CHECK_AT: Cell<u64> = const { Cell::new(0) };
        /// The memory held when the row started.
        static HELD_AT_START: Cell<u64> = const { Cell::new(0) };
        /// Where a value nested too deep was walked, if one was.
        static NESTING: Cell<Option<Position>> = const { Cell::new(None) };
        /// The call whose cost first took the row past [`MAX_OPERATIONS`],
        /// if a built-in's charge did.
        static OVER_AT: Cell<Option<Position>> = const { Cell::new(None) };
    }

    /// Starts a row's account.
    pub fn start_row() {
        COST.with(|c| c.set(0));
        CHECK_AT.with(|c| c.set(CLOCK_EVERY));
        STARTED.with(|c| c.set(None));
        NESTING.with(|c| c.set(None));
        OVER_AT.with(|c| c.set(None));
        ALLOC_CHECK_AT.with(|c| c.set(memory::allocated().wrapping_add(ALLOC_EVERY)));
        HELD_AT_START.with(|c| c.set(memory::held()));
    }

    /// Adds `n` units for the call at `pos` (the next operation stops the
    /// row if that is too many; the first call past the limit is where the
    /// error points, see [`over_at`]).
    pub fn charge(n: usize, pos: Position) {
        let cost = COST.with(|c| {
            let v = c.get().saturating_add(n as u64);
            c.set(v);
            v
        });
        if cost > MAX_OPERATIONS && OVER_AT.with(Cell::get).is_none() {
            OVER_AT.with(|c| c.set(Some(pos)));
        }
    }

    /// The call of a built-in whose cost took the row past the operation
    /// limit, if one did: the error's place, found without running the row
    /// again under the debugger (which copies a call's arguments at every
    /// step, and so would take minutes over a large array).
    pub fn over_at() -> Option<Position> {
        OVER_AT.with(Cell::get)
    }

    /// Rhai's progress callback: `Some(Stop)` ends the row.
    pub fn tick() -> Option<Dynamic> {
        let cost = COST.with(|c| {
            let v = c.get() + 1;
            c.set(v);
            v
        });
        if cost < CHECK_AT.with(Cell::get) && memory::allocated() < ALLOC_CHECK_AT.with(Cell::get) {
            return None;
        }
        slow(cost).map(Dynamic::from)
    }

    fn slow(cost: u64) -> Option<Stop> {
        if NESTING.with(Cell::get).is_some() {
            return Some(Stop::Nesting);
        }
        if cost > MAX_OPERATIONS {
            return Some(Stop::Operations);
        }
        let held = memory::held().wrapping_sub(HELD_AT_START.with(Cell::get));
        if held > MAX_ROW_MEMORY && held < u64::MAX / 2 {
            return Some(Stop::Memory);
        }
        ALLOC_CHECK_AT.with(|c| c.set(memory::allocated().wrapping_add(ALLOC_EVERY)));
        let now = Instant::now();
        match STARTED.with(Cell::get) {
            None => STARTED.with(|c| c.set(Some(now))),
            Some(t) if now.duration_since(t) > row_deadline() => return Some(Stop::Deadline),
            Some(_) => {}
        }
        CHECK_AT.with(|c| c.set((cost + CLOCK_EVERY).min(MAX_OPERATIONS + 1)));
        None
    }

    /// Records a walk of a value nested too deep, at `pos`; the next
    /// operation stops the row (print and interpolation swallow errors).
    pub fn nesting(pos: Position) -> Box<EvalAltResult> {
        NESTING.with(|c| {
            if c.get().is_none() {
                c.set(Some(pos));
            }
        });
        CHECK_AT.with(|c| c.set(0));
        EvalAltResult::ErrorTerminated(Dynamic::from(Stop::Nesting), pos).into()
    }

    /// Where a value nested too deep was walked in this row, if one was.
    pub fn nested_at() -> Option<Position> {
        NESTING.with(Cell::get)
    }
}

/// Whether `v` holds arrays or maps nested more than `max` deep (the walk
/// goes no deeper than `max`).
pub fn nested_deeper_than(v: &Dynamic, max: usize) -> bool {
    if let Ok(a) = v.as_array_ref() {
        return max == 0 || a.iter().any(|x| nested_deeper_than(x, max - 1));
    }
    if let Some(m) = v.read_lock::<rhai::Map>() {
        return max == 0 || m.values().any(|x| nested_deeper_than(x, max - 1));
    }
    false
}

/// `==`, `!=` and printing for arrays and maps, as Rhai's own but walking
/// nested arrays and maps directly (Rhai calls back into the engine per
/// level, a deep recursion), bounded by [`MAX_DEPTH`], and costing one
/// operation per item.
fn register_walks(e: &mut Engine) {
    use rhai::{Array, Map, NativeCallContext as Ctx};
    type R<T> = Result<T, Box<EvalAltResult>>;
    e.register_fn("==", |ctx: Ctx, mut a: Array, mut b: Array| -> R<bool> {
        eq_arrays(&ctx, &mut a, &mut b, 1)
    });
    e.register_fn("!=", |ctx: Ctx, mut a: Array, mut b: Array| -> R<bool> {
        eq_arrays(&ctx, &mut a, &mut b, 1).map(|x| !x)
    });
    e.register_fn("==", |ctx: Ctx, mut a: Map, mut b: Map| -> R<bool> {
        eq_maps(&ctx, &mut a, &mut b, 1)
    });
    e.register_fn("!=", |ctx: Ctx, mut a: Map, mut b: Map| -> R<bool> {
        eq_maps(&ctx, &mut a, &mut b, 1).map(|x| !x)
    });
    for name in ["print", "to_string", "debug", "to_debug"] {
        e.register_fn(name, |ctx: Ctx, mut a: Array| -> ImmutableString {
            let mut out = String::new();
            format_array(&ctx, &mut a, 1, &mut out);
            out.into()
        });
        e.register_fn(name, |ctx: Ctx, mut m: Map| -> ImmutableString {
            let mut out = String::new();
            format_map(&ctx, &mut m, 1, &mut out);
            out.into()
        });
    }
    // `contains`, `in` and `index_of` compare through the engine without
    // counting an operation per item.
    e.register_fn(
        "contains",
        |ctx: Ctx, a: &mut Array, v: Dynamic| -> R<bool> { Ok(find(&ctx, a, v)?.is_some()) },
    );
    e.register_fn(
        "index_of",
        |ctx: Ctx, a: &mut Array, v: Dynamic| -> R<INT> {
            Ok(find(&ctx, a, v)?.map_or(-1, |i| i as INT))
        },
    );
    // Built-ins that walk an array without calling back into the engine.
    e.register_fn("reverse", |ctx: Ctx, a: &mut Array| {
        budget::charge(a.len(), ctx.call_position());
        a.reverse();
    });
    e.register_fn("sort", |ctx: Ctx, a: &mut Array| -> R<()> {
        let cost = a.len().saturating_mul(a.len().max(2).ilog2() as usize);
        budget::charge(cost, ctx.call_position());
        sort(a)
    });
}

/// The first item of `a` equal to `v`, as Rhai's `contains` compares.
fn find(
    ctx: &rhai::NativeCallContext,
    a: &mut rhai::Array,
    v: Dynamic,
) -> Result<Option<usize>, Box<EvalAltResult>> {
    for (i, item) in a.iter_mut().enumerate() {
        if eq_dispatch(ctx, item, &mut v.clone(), 0)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn eq_dispatch(
    ctx: &rhai::NativeCallContext,
    x: &mut Dynamic,
    y: &mut Dynamic,
    depth: usize,
) -> Result<bool, Box<EvalAltResult>> {
    budget::charge(1, ctx.call_position());
    if x.is_array() && y.is_array() {
        let (mut a, mut b) = (
            x.as_array_mut().expect("an array"),
            y.as_array_mut().expect("an array"),
        );
        return eq_arrays(ctx, &mut a, &mut b, depth + 1);
    }
    if x.is_map() && y.is_map() {
        let (mut a, mut b) = (
            x.as_map_mut().expect("a map"),
            y.as_map_mut().expect("a map"),
        );
        return eq_maps(ctx, &mut a, &mut b, depth + 1);
    }
    // As Rhai's: no `==` between two kinds is false, between one kind an error.
    budget::charge(DISPATCH_COST - 1, ctx.call_position());
    let same = x.type_id() == y.type_id();
    let r = ctx.call_native_fn_raw("==", true, &mut [x, y]);
    match r {
        Ok(v) => Ok(v.as_bool().unwrap_or(false)),
        Err(err) => match *err {
            EvalAltResult::ErrorFunctionNotFound(ref sig, ..) if sig.starts_with("==") && !same => {
                Ok(false)
            }
            _ => Err(err),
        },
    }
}

fn eq_arrays(
    ctx: &rhai::NativeCallContext,
    a: &mut rhai::Array,
    b: &mut rhai::Array,
    depth: usize,
) -> Result<bool, Box<EvalAltResult>> {
    if depth > MAX_DEPTH {
        return Err(budget::nesting(ctx.call_position()));
    }
    if a.len() != b.len() {
        return Ok(false);
    }
    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
        if !eq_dispatch(ctx, x, y, depth)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn eq_maps(
    ctx: &rhai::NativeCallContext,
    a: &mut rhai::Map,
    b: &mut rhai::Map,
    depth: usize,
) -> Result<bool, Box<EvalAltResult>> {
    if depth > MAX_DEPTH {
        return Err(budget::nesting(ctx.call_position()));
    }
    if a.len() != b.len() {
        return Ok(false);
    }
    for (k, x) in a.iter_mut() {
        match b.get_mut(k) {
            // Rhai's map `==` has no fallback for values of two kinds.
            Some(y) if x.is_array() || x.is_map() || y.is_array() || y.is_map() => {
                if !eq_dispatch(ctx, x, y, depth)? {
                    return Ok(false);
                }
            }
            Some(y) => {
                budget::charge(DISPATCH_COST, ctx.call_position());
                let v = ctx.call_native_fn_raw("==", true, &mut [x, y])?;
                if !v.as_bool().unwrap_or(false) {
                    return Ok(false);
                }
            }
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// An item of an array or map as Rhai prints it: nested arrays and maps
/// here, anything else by its `to_debug`.
fn format_item(ctx: &rhai::NativeCallContext, x: &mut Dynamic, depth: usize, out: &mut String) {
    budget::charge(1, ctx.call_position());
    if x.is_array() {
        return format_array(
            ctx,
            &mut x.as_array_mut().expect("an array"),
            depth + 1,
            out,
        );
    }
    if x.is_map() {
        return format_map(ctx, &mut x.as_map_mut().expect("a map"), depth + 1, out);
    }
    budget::charge(DISPATCH_COST - 1, ctx.call_position());
    let engine = ctx.engine();
    match ctx.call_native_fn_raw("to_debug", true, &mut [x]) {
        Ok(s) if s.is_string() => out.push_str(&s.into_immutable_string().unwrap_or_default()),
        Ok(s) => out.push_str(engine.map_type_name(s.type_name())),
        Err(_) => {
            let text = format!("{x:?}");
            out.push_str(engine.map_type_name(&text));
        }
    }
}

fn format_array(
    ctx: &rhai::NativeCallContext,
    a: &mut rhai::Array,
    depth: usize,
    out: &mut String,
) {
    if depth > MAX_DEPTH {
        let _ = budget::nesting(ctx.call_position());
        out.push_str("[...]");
        return;
    }
    out.push('[');
    let len = a.len();
    for (i, x) in a.iter_mut().enumerate() {
        format_item(ctx, x, depth, out);
        if i + 1 < len {
            out.push_str(", ");
        }
    }
    out.push(']');
}

fn format_map(ctx: &rhai::NativeCallContext, m: &mut rhai::Map, depth: usize, out: &mut String) {
    use std::fmt::Write;
    if depth > MAX_DEPTH {
        let _ = budget::nesting(ctx.call_position());
        out.push_str("#{...}");
        return;
    }
    out.push_str("#{");
    let len = m.len();
    for (i, (k, v)) in m.iter_mut().enumerate() {
        let _ = write!(out, "{k:?}: ");
        format_item(ctx, v, depth, out);
        if i + 1 < len {
            out.push_str(", ");
        }
    }
    out.push('}');
}

/// Rhai's `sort()` with no comparer: every item of one kind.
fn sort(a: &mut rhai::Array) -> Result<(), Box<EvalAltResult>> {
    use std::any::TypeId;
    use std::cmp::Ordering;
    if a.len() <= 1 {
        return Ok(());
    }
    let type_id = a[0].type_id();
    if a.iter().any(|x| x.type_id() != type_id) {
        return Err(EvalAltResult::ErrorFunctionNotFound(
            "elements of different types cannot be sorted".into(),
            Position::NONE,
        )
        .into());
    }
    if type_id == TypeId::of::<INT>() {
        a.sort_by_key(|x| x.as_int().unwrap_or_default());
    } else if type_id == TypeId::of::<char>() {
        a.sort_by_key(|x| x.as_char().unwrap_or_default());
    } else if type_id == TypeId::of::<FLOAT>() {
        a.sort_by(|x, y| {
            let (x, y) = (
                x.as_float().unwrap_or_default(),
                y.as_float().unwrap_or_default(),
            );
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        });
    } else if type_id == TypeId::of::<ImmutableString>() {
        a.sort_by(|x, y| {
            let (x, y) = (x.as_immutable_string_ref(), y.as_immutable_string_ref());
            match (x, y) {
                (Ok(x), Ok(y)) => x.as_str().cmp(y.as_str()),
                _ => Ordering::Equal,
            }
        });
    } else if type_id == TypeId::of::<Decimal>() {
        a.sort_by_key(|x| x.as_decimal().unwrap_or_default());
    } else if type_id == TypeId::of::<bool>() {
        a.sort_by_key(|x| x.as_bool().unwrap_or_default());
    } else if type_id != TypeId::of::<()>() {
        return Err(EvalAltResult::ErrorFunctionNotFound(
            format!("elements of {} cannot be sorted", a[0].type_name()),
            Position::NONE,
        )
        .into());
    }
    Ok(())
}

fn register_missing(e: &mut Engine) {
    e.register_type_with_name::<Missing>("missing");
    macro_rules! with_missing {
        ($($t:ty),*) => {$(
            for op in ARITH.iter().chain(&CMP) {
                e.register_fn(*op, |_: Missing, _: $t| Missing);
                e.register_fn(*op, |_: $t, _: Missing| Missing);
            }
        )*};
    }
    with_missing!(INT, FLOAT, Decimal, bool, ImmutableString);
    for op in ARITH.iter().chain(&CMP) {
        e.register_fn(*op, |_: Missing, _: Missing| Missing);
    }
    e.register_fn("!", |_: Missing| Missing);
    e.register_fn("-", |_: Missing| Missing);
    e.register_fn("to_string", |_: &mut Missing| {
        ImmutableString::from("missing")
    });
    e.register_fn("is_missing", |x: Dynamic| x.is::<Missing>() || x.is_unit());
    // The rule's test: passes only on a real `true`.
    e.register_fn("holds", |x: Dynamic| x.as_bool().unwrap_or(false));
}

fn refused(name: &str, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        format!(
            "`{name}` is not available in polsim: every row must give the same answer, at once"
        )
        .into(),
        pos,
    )
    .into()
}

fn register_mixed_decimal(e: &mut Engine) {
    for op in ARITH {
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: Decimal, b: FLOAT| {
                dec_arith(op, a, to_dec(b, ctx.call_position())?)
            },
        );
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: FLOAT, b: Decimal| {
                dec_arith(op, to_dec(a, ctx.call_position())?, b)
            },
        );
    }
    for op in CMP {
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: Decimal, b: FLOAT| {
                Ok::<_, Box<EvalAltResult>>(dec_cmp(op, a, to_dec(b, ctx.call_position())?))
            },
        );
        e.register_fn(
            op,
            move |ctx: rhai::NativeCallContext, a: FLOAT, b: Decimal| {
                Ok::<_, Box<EvalAltResult>>(dec_cmp(op, to_dec(a, ctx.call_position())?, b))
            },
        );
    }
    for name in ["min", "max"] {
        let pick = move |a: Decimal, b: Decimal| {
            if crate::engine::native_script::pick_first(name == "min", &a, &b) {
                a
            } else {
                b
            }
        };
        e.register_fn(
            name,
            move |ctx: rhai::NativeCallContext, a: Decimal, b: FLOAT| {
                Ok::<_, Box<EvalAltResult>>(pick(a, to_dec(b, ctx.call_position())?))
            },
        );
        e.register_fn(
            name,
            move |ctx: rhai::NativeCallContext, a: FLOAT, b: Decimal| {
                Ok::<_, Box<EvalAltResult>>(pick(to_dec(a, ctx.call_position())?, b))
            },
        );
    }
}

fn verdict(outcome: VerdictKind, reasons: Vec<ImmutableString>, limit: Option<Decimal>) -> Verdict {
    Verdict {
        outcome,
        reasons,
        limit,
    }
}

fn register_verdicts(e: &mut Engine) {
    e.register_type_with_name::<Verdict>("verdict");
    e.register_fn("approve", || {
        verdict(VerdictKind::Approve, Vec::new(), None)
    });
    e.register_fn("approve", |l: INT| {
        verdict(VerdictKind::Approve, Vec::new(), Some(Decimal::from(l)))
    });
    e.register_fn("approve", |l: Decimal| {
        verdict(VerdictKind::Approve, Vec::new(), Some(l))
    });
    e.register_fn(
        "approve",
        |ctx: rhai::NativeCallContext, l: FLOAT| -> Result<Verdict, Box<EvalAltResult>> {
            Ok(verdict(
                VerdictKind::Approve,
                Vec::new(),
                Some(to_dec(l, ctx.call_position())?),
            ))
        },
    );
    for (name, kind) in [
        ("decline", VerdictKind::Decline),
        ("review", VerdictKind::Review),
    ] {
        type S = ImmutableString;
        e.register_fn(name, move |a: S| verdict(kind, vec![a], None));
        e.register_fn(name, move |a: S, b: S| verdict(kind, vec![a, b], None));
        e.register_fn(name, move |a: S, b: S, c: S| {
            verdict(kind, vec![a, b, c], None)
        });
        e.register_fn(name, move |a: S, b: S, c: S, d: S| {
            verdict(kind, vec![a, b, c, d], None)
        });
        e.register_fn(
            name,
            move |ctx: rhai::NativeCallContext,
                  list: rhai::Array|
                  -> Result<Verdict, Box<EvalAltResult>> {
                let mut reasons = Vec::with_capacity(list.len());
                for item in list {
                    match item.into_immutable_string() {
                        Ok(s) => reasons.push(s),
                        Err(t) => {
                            return Err(EvalAltResult::ErrorMismatchDataType(
                                "string".into(),
                                t.into(),
                                ctx.call_position(),
                            )
                            .into());
                        }
                    }
                }
                Ok(verdict(kind, reasons, None))
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_in_messages_are_short() {
        assert_eq!(show_float(1e300), "1e300");
        assert_eq!(show_float(-1.5e-29), "-1.5e-29");
        assert_eq!(show_float(0.5), "0.5");
        assert_eq!(show_float(123456.25), "123456.25");
        assert_eq!(show_float(f64::INFINITY), "inf");
    }

    fn eval(text: &str) -> Result<Dynamic, String> {
        let e = engine();
        let mut scope = rhai::Scope::new();
        scope.push("m", Missing);
        scope.push("d", Decimal::new(15, 1));
        scope.push("i", 3 as INT);
        e.eval_expression_with_scope::<Dynamic>(&mut scope, text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn missing_propagates_through_comparisons_and_arithmetic() {
        for text in [
            "m == 5", "m != 5", "5 < m", "m + 1", "d * m", "!m", "-m", "m == m",
        ] {
            assert!(eval(text).unwrap().is::<Missing>(), "{text}");
        }
        assert!(eval("m || true").is_err());
        assert_eq!(eval("true || m").unwrap().as_bool(), Ok(true));
        assert_eq!(eval("holds(m > 1)").unwrap().as_bool(), Ok(false));
        assert_eq!(eval("is_missing(m)").unwrap().as_bool(), Ok(true));
    }

    #[test]
    fn floats_meet_decimals_exactly() {
        assert_eq!(
            eval("d * 0.1").unwrap().as_decimal(),
            Ok(Decimal::new(15, 2))
        );
        assert_eq!(eval("d > 1.4").unwrap().as_bool(), Ok(true));
        assert_eq!(
            eval("min(d, 0.2)").unwrap().as_decimal(),
            Ok(Decimal::new(2, 1))
        );
        assert!(eval("d / 0.0").unwrap_err().contains("Division by zero"));
    }

    #[test]
    fn rhai_walks_values_as_deep_as_the_sizes_allow() {
        // Every level is an item of an array or a map, so the sizes allow
        // 2 * MAX_COLLECTION levels: Rhai clones, sizes, hashes and drops
        // such a value recursively, on a worker's stack.
        let run = || {
            let mut v = Dynamic::from_array(Vec::new());
            for _ in 0..MAX_COLLECTION - 1 {
                let mut m = rhai::Map::new();
                m.insert("x".into(), Dynamic::from_array(vec![v]));
                v = Dynamic::from_map(m);
            }
            assert!(nested_deeper_than(&v, MAX_DEPTH));
            assert!(!nested_deeper_than(&Dynamic::from_array(Vec::new()), 1));
            let e = engine();
            let mut scope = rhai::Scope::new();
            scope.push_dynamic("a", v);
            budget::start_row();
            let ok =
                "let b = a; let c = [a]; let d = #{y: b}; switch c { [1] => 1, _ => 2 }; c.len()";
            let r = e.eval_with_scope::<Dynamic>(&mut scope, ok);
            assert_eq!(r.map_err(|e| e.to_string())?.as_int(), Ok(1));
            for walk in [
                "a == a",
                "print(a)",
                "`${a}`",
                "a.to_string()",
                "debug(a)",
                "[a].contains(a)",
                "a != a",
            ] {
                budget::start_row();
                let r = e.eval_with_scope::<Dynamic>(&mut scope, walk);
                assert!(
                    matches!(r.as_ref().map_err(|e| &**e), Err(EvalAltResult::ErrorTerminated(t, _)) if t.clone().try_cast::<Stop>() == Some(Stop::Nesting))
                        || budget::nested_at().is_some(),
                    "{walk}: {r:?}"
                );
            }
            drop(scope);
            Ok::<_, String>(())
        };
        std::thread::scope(|s| {
            std::thread::Builder::new()
                // A quarter of the workers' stack: the margin.
                .stack_size(STACK_SIZE / 4)
                .spawn_scoped(s, run)
                .expect("a thread")
                .join()
                .expect("no overflow")
        })
        .unwrap();
    }

    #[test]
    fn sandbox_refuses_eval_and_bounds_work() {
        assert!(eval("eval(\"1\")").is_err());
        let e = engine();
        let r = e.eval::<Dynamic>("let x = 0; loop { x += 1; }");
        assert!(matches!(
            *r.unwrap_err(),
            EvalAltResult::ErrorTooManyOperations(_)
        ));
        budget::start_row();
        let r = e.eval::<Dynamic>("fn f(n) { f(n + 1) } f(0)");
        assert!(
            r.unwrap_err().to_string().contains("Stack overflow"),
            "stack"
        );
        budget::start_row();
        let r = e.eval::<Dynamic>("let s = \"x\"; loop { s += s; }");
        assert!(matches!(
            *r.unwrap_err(),
            EvalAltResult::ErrorDataTooLarge(..)
        ));
    }
}
