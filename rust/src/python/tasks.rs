//! Bindings of the task stream: whole tasks (data, masks, graphs) or graphs only, drawn
//! in parallel from a family, and the seeds of tasks.

use super::convert::{int_arg, numpy_array, paired_seeds_arg, seeds_arg, usize_arg};
use super::errors::guarded;
use super::family::family_arg;
use super::interrupt::{detach_in_chunks, DETACH_MIN_CELLS};
use crate::family;
use crate::{budget, parallel, seed};
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray3};
use pyo3::prelude::*;

/// Stacked graphs: adjacency (count, d_max, d_max) uint8 and node counts (count,) int64.
pub(crate) type Graphs<'py> = (Bound<'py, PyArray3<u8>>, Bound<'py, PyArray1<i64>>);

/// Sample tasks `start .. start + count` of the stream `base_seed` in parallel.
///
/// Returns `(data, mask, adjacency, n_nodes)`: float32 `(count, n, d_max)`, uint8
/// `(count, n, d_max)`, uint8 `(count, d_max, d_max)` and int64 `(count,)`, where
/// `n = n_obs + n_int` and tasks with fewer than `d_max` variables are zero-padded. A
/// long call runs in chunks of tasks, between which Ctrl-C raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (family, base_seed, start, count, n_obs, n_int, threads=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn sample_tasks<'py>(
    py: Python<'py>,
    family: &Bound<'py, PyAny>,
    base_seed: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    count: &Bound<'py, PyAny>,
    n_obs: &Bound<'py, PyAny>,
    n_int: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<(
    Bound<'py, PyArray3<f32>>,
    Bound<'py, PyArray3<u8>>,
    Bound<'py, PyArray3<u8>>,
    Bound<'py, PyArray1<i64>>,
)> {
    let base_seed = int_arg("base_seed", base_seed, 0, u64::MAX)?;
    let start = int_arg("start", start, 0, u64::MAX)?;
    let count = usize_arg("count", count, 1, budget::MAX_BYTES)?;
    let n_obs = usize_arg("n_obs", n_obs, 0, family::MAX_SAMPLES)?;
    let n_int = usize_arg("n_int", n_int, 0, family::MAX_SAMPLES)?;
    let threads = threads.filter(|t| !t.is_none()).map(|t| usize_arg("threads", t, 1, parallel::MAX_THREADS)).transpose()?;
    let spec = family_arg(family)?;
    let mut batch = guarded(|| spec.task_batch(count, n_obs, n_int, threads))?;
    let n = batch.n;
    let mut fill = |tasks| spec.fill_tasks(&mut batch, base_seed, start, tasks, threads);
    // A small call on the calling thread is cheaper than releasing the GIL.
    if parallel::inline(threads, count) && count * n * spec.nodes[1] < DETACH_MIN_CELLS {
        guarded(|| fill(0..count))?;
    } else {
        detach_in_chunks(py, count, spec.task_values(n), parallel::workers(threads, count), fill)?;
    }
    let (c, n, d) = (batch.count, batch.n, batch.d_max);
    let nodes = Array1::from_iter(batch.n_nodes.into_iter().map(i64::from));
    Ok((
        numpy_array(py, (c, n, d), batch.data)?,
        numpy_array(py, (c, n, d), batch.mask)?,
        numpy_array(py, (c, d, d), batch.adjacency)?,
        nodes.into_pyarray(py),
    ))
}

/// Graphs of tasks `start .. start + count` without mechanisms or data:
/// `(adjacency (count, d_max, d_max) uint8, n_nodes (count,) int64)`.
#[pyfunction]
pub fn sample_graphs<'py>(
    py: Python<'py>,
    family: &Bound<'py, PyAny>,
    base_seed: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    count: &Bound<'py, PyAny>,
) -> PyResult<Graphs<'py>> {
    let base_seed = int_arg("base_seed", base_seed, 0, u64::MAX)?;
    let start = int_arg("start", start, 0, u64::MAX)?;
    let count = usize_arg("count", count, 1, budget::MAX_BYTES)?;
    let spec = family_arg(family)?;
    let (adj, n_nodes) = py.detach(|| guarded(|| parallel::install(None, || spec.sample_graphs(base_seed, start, count))))?;
    let d = spec.nodes[1];
    let nodes = Array1::from_iter(n_nodes.into_iter().map(i64::from));
    Ok((numpy_array(py, (count, d, d), adj)?, nodes.into_pyarray(py)))
}

/// `task_seed(base_seeds[k], index[k])` for every k, as a uint64 array (`index` is one
/// integer for all, or one per base seed): the seeds of many episodes in one call.
#[pyfunction]
pub fn task_seeds<'py>(py: Python<'py>, base_seeds: &Bound<'py, PyAny>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let bases = seeds_arg("base_seeds", base_seeds)?;
    let indices = if index.try_iter().is_ok() {
        paired_seeds_arg("index", index, "base_seeds", bases.len())?
    } else {
        vec![int_arg("index", index, 0, u64::MAX)?; bases.len()]
    };
    let out: Vec<u64> = bases.into_iter().zip(indices).map(|(s, i)| seed::task_seed(s, i)).collect();
    Ok(out.into_pyarray(py))
}

/// The seed of task `index` of stream `base_seed` (what `sample_tasks` uses internally).
#[pyfunction]
pub fn task_seed(base_seed: &Bound<'_, PyAny>, index: &Bound<'_, PyAny>) -> PyResult<u64> {
    Ok(seed::task_seed(int_arg("base_seed", base_seed, 0, u64::MAX)?, int_arg("index", index, 0, u64::MAX)?))
}
