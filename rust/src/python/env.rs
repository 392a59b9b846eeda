//! Bindings of the CausalBO environments: episode starts from a curriculum family and
//! the vector environment's step, each one call for many environments.

use super::convert::{array_arg, numpy_array, seeds_arg, usize_arg};
use super::errors::guarded;
use super::family::family_arg;
use super::scm::{exclusive, PyScm};
use crate::bo::{self, Buffers, Constants, Outcome, Rules};
use crate::episode::{self, Settings, Starts};
use crate::error::{finite, EngineError};
use crate::{family, graph};
use numpy::ndarray::{Dimension, Ix1, Ix2};
use numpy::{Element, IntoPyArray, PyArray1, PyUntypedArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray, PyReadwriteArray1, PyReadwriteArray2, PyReadwriteArray3};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Start the episodes of `seeds` in one family, in parallel with the GIL released, and
/// return their columns by name (`episode::Starts`, K episodes of width D): `scms` (each
/// with its noise stream seeded and the first observations drawn from it), `target`,
/// `n_nodes`, `is_linear` (K,); `valid` (the SCM's nodes but the target), `parents` (the
/// target's), and for linear SCMs the exact moments `effect` (on the target), `mean`,
/// `std` and the bounds `low`, `high` = mean + range * std (range = [low, high], in
/// float32), (K, D) each; the `optimum` (node, value, expected, 0) (K, 4); the first
/// `observations` (K, n_obs, D). Nonlinear episodes get effect 0, mean 0, std 1, bounds 0
/// and optimum (-1, NaN, NaN, NaN): their Monte Carlo estimates are the caller's.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn start_episodes<'py>(
    py: Python<'py>,
    family: &Bound<'py, PyAny>,
    seeds: &Bound<'py, PyAny>,
    n_obs: &Bound<'py, PyAny>,
    width: &Bound<'py, PyAny>,
    low: f64,
    high: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = family_arg(family)?;
    let seeds = seeds_arg("seeds", seeds)?;
    let settings = Settings {
        width: usize_arg("width", width, 1, graph::MAX_NODES)?,
        n_obs: usize_arg("n_obs", n_obs, 0, family::MAX_SAMPLES)?,
        range: (finite("low", low)?, finite("high", high)?),
    };
    let starts = py.detach(|| guarded(|| episode::start_all(&spec, &seeds, &settings)))?;
    // Taken apart field by field, so that a column added to `Starts` must be named here.
    let Starts { scms, target, n_nodes, is_linear, valid, parents, effect, mean, std, low, high, optimum, observations } = starts;
    let (k, d) = (scms.len(), settings.width);
    let columns = PyDict::new(py);
    columns.set_item("scms", scms.into_iter().map(|(scm, rng)| PyScm::new(scm, rng)).collect::<Vec<_>>())?;
    columns.set_item("target", target.into_pyarray(py))?;
    columns.set_item("n_nodes", n_nodes.into_pyarray(py))?;
    columns.set_item("is_linear", is_linear.into_pyarray(py))?;
    columns.set_item("valid", numpy_array(py, (k, d), valid)?)?;
    columns.set_item("parents", numpy_array(py, (k, d), parents)?)?;
    for (name, column) in [("effect", effect), ("mean", mean), ("std", std), ("low", low), ("high", high)] {
        columns.set_item(name, numpy_array(py, (k, d), column)?)?;
    }
    columns.set_item("optimum", numpy_array(py, (k, 4), optimum)?)?;
    columns.set_item("observations", numpy_array(py, (k, settings.n_obs, d), observations)?)?;
    Ok(columns)
}

/// The columns of `envs.episode.Episodes` that a step reads, by name: the episodes'
/// constants and their SCMs.
#[derive(FromPyObject)]
pub struct Episodes<'py> {
    #[pyo3(attribute)]
    scms: Vec<Bound<'py, PyScm>>,
    #[pyo3(attribute)]
    valid: PyReadonlyArray2<'py, bool>,
    #[pyo3(attribute)]
    parents: PyReadonlyArray2<'py, bool>,
    #[pyo3(attribute)]
    low: PyReadonlyArray2<'py, f64>,
    #[pyo3(attribute)]
    high: PyReadonlyArray2<'py, f64>,
    #[pyo3(attribute)]
    mean: PyReadonlyArray2<'py, f64>,
    #[pyo3(attribute)]
    std: PyReadonlyArray2<'py, f64>,
    #[pyo3(attribute)]
    effect: PyReadonlyArray2<'py, f64>,
    #[pyo3(attribute)]
    target: PyReadonlyArray1<'py, i64>,
    #[pyo3(attribute)]
    is_linear: PyReadonlyArray1<'py, bool>,
    #[pyo3(attribute)]
    has_optimum: PyReadonlyArray1<'py, bool>,
}

/// The fields of `envs.vector.StepArrays`, read by name: what a step changes.
#[derive(FromPyObject)]
pub struct StepArrays<'py> {
    #[pyo3(attribute)]
    steps: PyReadwriteArray1<'py, i64>,
    #[pyo3(attribute)]
    best: PyReadwriteArray1<'py, f64>,
    #[pyo3(attribute)]
    values: PyReadwriteArray3<'py, f32>,
    #[pyo3(attribute)]
    intervened: PyReadwriteArray3<'py, i8>,
    #[pyo3(attribute)]
    row_mask: PyReadwriteArray2<'py, i8>,
}

/// A contiguous array's items, or a ValueError naming it.
fn items<'a, T: Element, D: Dimension>(name: &str, array: &'a numpy::PyReadonlyArray<'_, T, D>) -> PyResult<&'a [T]> {
    array.as_slice().map_err(|_| EngineError::param(name, "a strided view", "must be a C-contiguous array").into())
}

/// [`items`] of an array the call writes into.
fn items_mut<'a, T: Element, D: Dimension>(name: &str, array: &'a mut PyReadwriteArray<'_, T, D>) -> PyResult<&'a mut [T]> {
    array.as_slice_mut().map_err(|_| EngineError::param(name, "a strided view", "must be a C-contiguous array").into())
}

/// The step's reports, (K,) each: node (int64), value (float64 of the float32 set), mean
/// target value y, reward, is_parent (bool) and the exact expected target (NaN unless
/// linear with an optimum); zeros where not stepping.
type Reports<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<bool>>,
    Bound<'py, PyArray1<f64>>,
);

/// One step of every environment k with `stepping[k]`: action row k of `actions`
/// ((K, D + 1) float64, finite) decoded against the constants of episode k of
/// `episodes` (an `envs.episode.Episodes`), `m` rows of its SCM drawn from its own
/// stream under that intervention and written standardised at row `n_obs + steps[k] * m`
/// of the observation buffers of `arrays` (an `envs.vector.StepArrays`, updated in place
/// with `steps` and `best`), all in parallel with the GIL released. `rules` is (w_target,
/// w_parent, w_info, value clip, target clip). The single environment's arithmetic, bit
/// for bit (`bo.rs`). Each SCM may appear once, and not while another thread uses it
/// (`exclusive`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn step_envs<'py>(
    py: Python<'py>,
    episodes: Episodes<'py>,
    mut arrays: StepArrays<'py>,
    actions: &Bound<'py, PyAny>,
    stepping: &Bound<'py, PyAny>,
    m: &Bound<'py, PyAny>,
    n_obs: &Bound<'py, PyAny>,
    rules: (f64, f64, f64, f64, f64),
) -> PyResult<Reports<'py>> {
    let m = usize_arg("m", m, 1, family::MAX_SAMPLES)?;
    let n_obs = usize_arg("n_obs", n_obs, 0, family::MAX_SAMPLES)?;
    let actions = array_arg::<f64, Ix2>("actions", actions, "a 2-d float64 numpy array")?;
    let stepping = array_arg::<bool, Ix1>("stepping", stepping, "a 1-d bool numpy array")?;
    let (w_target, w_parent, w_info, value_clip, target_clip) = rules;
    let rules = Rules { w_target, w_parent, w_info, value_clip, target_clip };
    let ep = &episodes;
    let consts = Constants {
        width: ep.valid.shape()[1],
        valid: items("valid", &ep.valid)?,
        parents: items("parents", &ep.parents)?,
        low: items("low", &ep.low)?,
        high: items("high", &ep.high)?,
        mean: items("mean", &ep.mean)?,
        std: items("std", &ep.std)?,
        effect: items("effect", &ep.effect)?,
        target: items("target", &ep.target)?,
        is_linear: items("is_linear", &ep.is_linear)?,
        has_optimum: items("has_optimum", &ep.has_optimum)?,
    };
    let buffers = Buffers {
        rows: arrays.row_mask.shape()[1],
        steps: items_mut("steps", &mut arrays.steps)?,
        best: items_mut("best", &mut arrays.best)?,
        values: items_mut("values", &mut arrays.values)?,
        intervened: items_mut("intervened", &mut arrays.intervened)?,
        row_mask: items_mut("row_mask", &mut arrays.row_mask)?,
    };
    let (actions, stepping) = (items("actions", &actions)?, items("stepping", &stepping)?);
    let mut scms = exclusive(&ep.scms)?;
    let streams: Vec<_> = scms.iter_mut().map(|cell| cell.stream_mut()).collect();
    let outcomes = py.detach(|| guarded(|| bo::step_all(streams, &consts, buffers, actions, stepping, m, n_obs, &rules)))?;
    let column = |f: fn(&Outcome) -> f64| outcomes.iter().map(f).collect::<Vec<f64>>().into_pyarray(py);
    Ok((
        outcomes.iter().map(|o| o.node as i64).collect::<Vec<_>>().into_pyarray(py),
        column(|o| f64::from(o.value)),
        column(|o| o.y),
        column(|o| o.reward),
        outcomes.iter().map(|o| o.is_parent).collect::<Vec<_>>().into_pyarray(py),
        column(|o| o.expected),
    ))
}
