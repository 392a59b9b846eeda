//! The one place where engine errors and panics become Python exceptions.

use crate::error::{EngineError, Result};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::PyErr;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// MemoryError for an allocation the machine could not serve, ValueError for everything
/// the caller asked wrongly; so `?` on an engine `Result` works in the bindings.
impl From<EngineError> for PyErr {
    fn from(e: EngineError) -> PyErr {
        match e {
            EngineError::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
            _ => PyValueError::new_err(e.to_string()),
        }
    }
}

/// Run engine code that may panic, turning engine errors into Python ones and any panic
/// into RuntimeError, so that no Rust panic ever reaches Python as a PanicException or
/// an abort.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> pyo3::PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(PyErr::from),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!("internal error in the causal-meta engine (please report it): {msg}")))
        }
    }
}

/// RuntimeError for a failure of the plumbing that no caller can cause (a buffer that
/// does not fit its own shape, a state that does not serialize).
pub(crate) fn internal_error(e: impl Display) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}
