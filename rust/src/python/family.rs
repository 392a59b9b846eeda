//! The `CompiledFamily` class: a family parsed and validated once, which every call that
//! draws from a family takes instead of its JSON text, so that small calls do not pay
//! for the parse.

use super::errors::internal_error;
use crate::family::FamilySpec;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::Arc;

/// A family of SCMs in the engine's form. See `causal_meta.scm.compile_family`.
#[pyclass(name = "CompiledFamily", module = "causal_meta._core", frozen)]
pub struct PyFamily {
    pub(crate) spec: Arc<FamilySpec>,
}

#[pymethods]
impl PyFamily {
    /// Parse and validate the engine JSON of a family; ValueError naming the first bad field.
    #[new]
    fn new(family_json: &str) -> PyResult<Self> {
        Ok(PyFamily { spec: Arc::new(FamilySpec::from_json(family_json)?) })
    }

    /// The family's largest node count (the padded width of its tasks).
    #[getter]
    fn max_nodes(&self) -> usize {
        self.spec.nodes[1]
    }

    /// The engine JSON of the family (what `CompiledFamily(json)` takes back).
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&*self.spec).map_err(internal_error)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        Ok((slf.get_type().into_any(), (slf.get().to_json()?,)))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyFamily>().is_ok_and(|o| *o.get().spec == *self.spec)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("CompiledFamily({})", self.to_json()?))
    }
}

/// The family argument of a binding: a `CompiledFamily` as it is, or JSON text parsed
/// (and validated) now.
pub(crate) fn family_arg(obj: &Bound<'_, PyAny>) -> PyResult<Arc<FamilySpec>> {
    if let Ok(compiled) = obj.cast::<PyFamily>() {
        return Ok(Arc::clone(&compiled.get().spec));
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return Ok(Arc::new(FamilySpec::from_json(text.to_str()?)?));
    }
    Err(PyTypeError::new_err(format!(
        "family must be a CompiledFamily or the family's JSON text, got {}; causal_meta.scm.compile_family converts a Family or a mapping",
        obj.get_type().name()?
    )))
}
