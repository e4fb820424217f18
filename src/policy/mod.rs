//! Policies: YAML → [`model::PolicyDef`] (shape) → [`compile::CompiledPolicy`] (typed).
//!
//! Each stage has its own checks so that an error is found as early as it can
//! be, and always before the first row of data is read.

pub mod compile;
pub mod condition;
pub mod expr;
pub mod load;
pub mod lower;
pub mod model;
pub mod native_script;
pub mod rhai_compile;
pub mod rhai_file;
pub mod script;
pub mod source;
pub mod test_file;

pub use compile::{CompiledPolicy, compile_file};
