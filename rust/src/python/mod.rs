//! The PyO3 bindings of `causal_meta._core`, one file per class or group of functions.
//! Conversion of Python arguments only: every check of an engine value (ranges, lengths,
//! shapes) is engine code, and engine errors become Python exceptions in `errors.rs`.

pub mod batch;
pub mod convert;
pub mod crn;
pub mod env;
pub mod errors;
pub mod family;
pub mod interrupt;
pub mod runtime;
pub mod scm;
pub mod tasks;
