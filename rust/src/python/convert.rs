//! Conversion of Python arguments (integers through `__index__`, numpy arrays of one
//! dtype, sequences of seeds) and of engine buffers back to numpy. Errors about Python
//! types are TypeErrors raised here; range and length checks are the engine's.

use super::errors::internal_error;
use crate::checks;
use crate::error::{self, EngineError};
use crate::scm::single_intervention;
use numpy::ndarray::{Array, Dimension, IntoDimension, Ix1};
use numpy::{IntoPyArray, PyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBool;

/// Read an integer argument in [lo, hi] (bools refused, numpy integers accepted through
/// `__index__`), with errors that name the argument, its value and the allowed range;
/// PyO3's own conversion errors name none of them.
pub(crate) fn int_arg(name: &str, obj: &Bound<'_, PyAny>, lo: u64, hi: u64) -> PyResult<u64> {
    let index = if obj.is_instance_of::<PyBool>() { None } else { obj.call_method0("__index__").ok() };
    let Some(index) = index else {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an integer, got {} {}",
            obj.get_type().name()?,
            obj.repr()?
        )));
    };
    match index.extract::<u64>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => {
            let allowed = if hi == u64::MAX { format!("[{lo}, 2**64)") } else { format!("[{lo}, {hi}]") };
            Err(EngineError::param(name, index.str()?, format!("must be an integer in {allowed}")).into())
        }
    }
}

/// `int_arg` for a size or an index.
pub(crate) fn usize_arg(name: &str, obj: &Bound<'_, PyAny>, lo: usize, hi: usize) -> PyResult<usize> {
    int_arg(name, obj, lo as u64, hi as u64).map(|v| v as usize)
}

/// A numpy array argument with element type `T` and dimension `D`, or a TypeError that
/// names the argument, the array expected and what was given (PyO3's own conversion
/// error says only "type mismatch").
pub(crate) fn array_arg<'py, T: numpy::Element, D: Dimension>(
    name: &str,
    obj: &Bound<'py, PyAny>,
    expected: &str,
) -> PyResult<numpy::PyReadonlyArray<'py, T, D>> {
    obj.extract::<numpy::PyReadonlyArray<'py, T, D>>().map_err(|_| {
        let given = match (obj.getattr("dtype"), obj.getattr("shape")) {
            (Ok(dtype), Ok(shape)) => format!("a {} array of shape {}", dtype.str().map(|s| s.to_string()).unwrap_or_default(), shape.str().map(|s| s.to_string()).unwrap_or_default()),
            _ => format!("a {}", obj.get_type().name().map(|s| s.to_string()).unwrap_or_default()),
        };
        PyTypeError::new_err(format!("{name} must be {expected}, got {given}"))
    })
}

/// A sequence of seeds: a uint64 numpy array as is, any other sequence item by item with
/// the checks of `int_arg` (messages name `name[k]`).
pub(crate) fn seeds_arg(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    if let Ok(array) = obj.extract::<PyReadonlyArray1<'_, u64>>() {
        return Ok(array.as_array().to_vec());
    }
    let Ok(items) = obj.try_iter() else {
        return Err(PyTypeError::new_err(format!("{name} must be a sequence of integers, got {} {}", obj.get_type().name()?, obj.repr()?)));
    };
    items.enumerate().map(|(k, item)| int_arg(&format!("{name}[{k}]"), &item?, 0, u64::MAX)).collect()
}

/// `seeds_arg` for a sequence with one item per item of the argument `other`, of length `len`.
pub(crate) fn paired_seeds_arg(name: &str, obj: &Bound<'_, PyAny>, other: &str, len: usize) -> PyResult<Vec<u64>> {
    let seeds = seeds_arg(name, obj)?;
    checks::same_length(name, seeds.len(), other, len)?;
    Ok(seeds)
}

/// A 2-d numpy array of element type `T`: its shape and its items in row-major order.
pub(crate) fn read_2d<T: numpy::Element + Copy>(obj: &Bound<'_, PyAny>) -> PyResult<([usize; 2], Vec<T>)> {
    let arr: PyReadonlyArray2<T> = obj.extract()?;
    let view = arr.as_array();
    Ok(([view.nrows(), view.ncols()], view.iter().copied().collect()))
}

/// An engine buffer (row-major) as a numpy array of `shape`, handed over without a copy.
pub(crate) fn numpy_array<'py, T: numpy::Element, D: Dimension>(
    py: Python<'py>,
    shape: impl IntoDimension<Dim = D>,
    data: Vec<T>,
) -> PyResult<Bound<'py, PyArray<T, D>>> {
    Ok(Array::from_shape_vec(shape.into_dimension(), data).map_err(internal_error)?.into_pyarray(py))
}

/// The (node, value) pairs of single interventions given as 1-d `nodes` (int64, < 0 for
/// none) and `values` (float32) arrays of one length, for an SCM with `d` nodes.
pub(crate) fn pairs_arg(nodes: &Bound<'_, PyAny>, values: &Bound<'_, PyAny>, d: usize) -> PyResult<Vec<Option<(usize, f32)>>> {
    let nodes = array_arg::<i64, Ix1>("nodes", nodes, "a 1-d int64 numpy array")?;
    let values = array_arg::<f32, Ix1>("values", values, "a 1-d float32 numpy array")?;
    let (nodes, values) = (nodes.as_array(), values.as_array());
    checks::nodes_values_lengths(nodes.len(), values.len(), None)?;
    Ok(nodes.iter().zip(values).enumerate().map(|(m, (&node, &value))| single_intervention(m, node, value, d)).collect::<error::Result<Vec<_>>>()?)
}
