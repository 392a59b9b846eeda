//! causal-meta's engine: random SCMs and their data, fast.
//!
//! The modules below are plain Rust with no Python in them (tested by `cargo test`).
//! This file is the thin PyO3 layer: argument conversion, GIL release around long work,
//! zero-copy hand-over of buffers to numpy, and the one place where engine errors and
//! panics become Python exceptions.

pub mod budget;
pub mod dist;
pub mod error;
pub mod family;
pub mod fastmath;
pub mod graph;
pub mod linear;
pub mod mechanism;
pub mod noise;
pub mod parallel;
pub mod scm;
pub mod seed;

use error::EngineError;
use family::FamilySpec;
use numpy::ndarray::{Array1, Array2, Array3, Ix1, Ix2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyTuple};
use scm::{Interventions, Scm};
use seed::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Below this many cells a sampling call is cheaper than releasing the GIL.
const DETACH_MIN_CELLS: usize = 4096;

/// Read an integer argument in [lo, hi] (bools refused, numpy integers accepted through
/// `__index__`), with errors that name the argument, its value and the allowed range;
/// PyO3's own conversion errors name none of them.
fn int_arg(name: &str, obj: &Bound<'_, PyAny>, lo: u64, hi: u64) -> PyResult<u64> {
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
            Err(PyValueError::new_err(format!("{name} = {} is not allowed: must be an integer in {allowed}", index.str()?)))
        }
    }
}

/// A numpy array argument with element type `T` and dimension `D`, or a TypeError that
/// names the argument, the array expected and what was given (PyO3's own conversion
/// error says only "type mismatch").
fn array_arg<'py, T: numpy::Element, D: numpy::ndarray::Dimension>(
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

fn usize_arg(name: &str, obj: &Bound<'_, PyAny>, lo: usize, hi: usize) -> PyResult<usize> {
    int_arg(name, obj, lo as u64, hi as u64).map(|v| v as usize)
}

/// The one mapping of engine errors to Python: MemoryError for an allocation the machine
/// could not serve, ValueError for everything the caller asked wrongly.
fn to_py(e: EngineError) -> PyErr {
    match e {
        EngineError::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Run engine code, turning engine errors into Python ones (`to_py`) and any panic into RuntimeError,
/// so that no Rust panic ever reaches Python as a PanicException or an abort.
fn guarded<T>(f: impl FnOnce() -> error::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
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

/// Sample tasks `start .. start + count` of the stream `base_seed` in parallel.
///
/// Returns `(data, mask, adjacency, n_nodes)`: float32 `(count, n, d_max)`, uint8
/// `(count, n, d_max)`, uint8 `(count, d_max, d_max)` and int64 `(count,)`, where
/// `n = n_obs + n_int` and tasks with fewer than `d_max` variables are zero-padded.
#[pyfunction]
#[pyo3(signature = (family_json, base_seed, start, count, n_obs, n_int, threads=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn sample_tasks<'py>(
    py: Python<'py>,
    family_json: &str,
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
    let spec = guarded(|| FamilySpec::from_json(family_json))?;
    let batch = py.detach(|| guarded(|| parallel::install(threads, || spec.sample_tasks(base_seed, start, count, n_obs, n_int))))?;
    let (c, n, d) = (batch.count, batch.n, batch.d_max);
    let shape_err = |e: numpy::ndarray::ShapeError| PyRuntimeError::new_err(e.to_string());
    let data = Array3::from_shape_vec((c, n, d), batch.data).map_err(shape_err)?;
    let mask = Array3::from_shape_vec((c, n, d), batch.mask).map_err(shape_err)?;
    let adj = Array3::from_shape_vec((c, d, d), batch.adjacency).map_err(shape_err)?;
    let nodes = Array1::from_iter(batch.n_nodes.into_iter().map(i64::from));
    Ok((data.into_pyarray(py), mask.into_pyarray(py), adj.into_pyarray(py), nodes.into_pyarray(py)))
}

/// Stacked graphs: adjacency (count, d_max, d_max) uint8 and node counts (count,) int64.
type Graphs<'py> = (Bound<'py, PyArray3<u8>>, Bound<'py, PyArray1<i64>>);

/// Graphs of tasks `start .. start + count` without mechanisms or data:
/// `(adjacency (count, d_max, d_max) uint8, n_nodes (count,) int64)`.
#[pyfunction]
fn sample_graphs<'py>(
    py: Python<'py>,
    family_json: &str,
    base_seed: &Bound<'py, PyAny>,
    start: &Bound<'py, PyAny>,
    count: &Bound<'py, PyAny>,
) -> PyResult<Graphs<'py>> {
    let base_seed = int_arg("base_seed", base_seed, 0, u64::MAX)?;
    let start = int_arg("start", start, 0, u64::MAX)?;
    let count = usize_arg("count", count, 1, budget::MAX_BYTES)?;
    let spec = guarded(|| FamilySpec::from_json(family_json))?;
    let (adj, n_nodes) = py.detach(|| guarded(|| parallel::install(None, || spec.sample_graphs(base_seed, start, count))))?;
    let d = spec.nodes[1];
    let adj = Array3::from_shape_vec((count, d, d), adj).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let nodes = Array1::from_iter(n_nodes.into_iter().map(i64::from));
    Ok((adj.into_pyarray(py), nodes.into_pyarray(py)))
}

/// One intervention per SCM, each drawn from that SCM's own noise stream, in parallel:
/// row block k equals `scms[k].sample(n, do={nodes[k]: values[k]})` (or no `do` where
/// `nodes[k] < 0`), zero-padded to `d_max` columns. The engine call behind vector envs.
#[pyfunction]
fn sample_interventions<'py>(
    py: Python<'py>,
    scms: Vec<PyRefMut<'py, PyScm>>,
    nodes: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    n: &Bound<'py, PyAny>,
    d_max: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
    let d_max = usize_arg("d_max", d_max, 1, family::MAX_NODES)?;
    let nodes = array_arg::<i64, Ix1>("nodes", nodes, "a 1-d int64 numpy array")?;
    let values = array_arg::<f32, Ix1>("values", values, "a 1-d float32 numpy array")?;
    let (nodes, values) = (nodes.as_array(), values.as_array());
    let count = scms.len();
    if nodes.len() != count || values.len() != count {
        return Err(PyValueError::new_err(format!(
            "nodes and values lengths = ({}, {}) are not allowed: must both equal len(scms) = {count}",
            nodes.len(),
            values.len()
        )));
    }
    let threads = parallel::default_threads().min(count);
    guarded(|| {
        budget::total(
            "sample_interventions' memory",
            &[budget::within("len(scms) * n * d_max", &[count, n, d_max], 4)?, budget::within("threads * n * d_max", &[threads, n, d_max], 8)?],
        )
    })?;
    let mut jobs = Vec::with_capacity(count);
    let mut scms = scms;
    for (k, cell) in scms.iter_mut().enumerate() {
        let d = cell.scm.d();
        if d > d_max {
            return Err(PyValueError::new_err(format!("d_max = {d_max} is not allowed: scms[{k}] has {d} nodes")));
        }
        let pair = do_pair(k, nodes[k], values[k], d)?;
        let PyScm { scm, rng } = &mut **cell;
        jobs.push((&*scm, rng, pair));
    }
    let mut out = guarded(|| budget::zeroed::<f32>("the sampled rows", count * n * d_max))?;
    let mut work: Vec<_> = jobs.into_iter().zip(out.chunks_mut(n * d_max)).collect();
    py.detach(|| {
        guarded(|| {
            parallel::for_each(&mut work, |((scm, rng, pair), slot)| {
                let pairs = pair.as_slice();
                let ivs = if pairs.is_empty() { Interventions::None } else { Interventions::AllRows(pairs) };
                scm.sample_into(n, ivs, rng, slot, d_max)
            })
        })
    })?;
    drop(work); // ends its borrow of `out`
    let out = Array3::from_shape_vec((count, n, d_max), out).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(out.into_pyarray(py))
}

/// For every SCM k, `scms[k].column_under_interventions(nodes[k], values[k], n, seeds[k],
/// columns[k])`: (K, G, n) float32, the G candidate interventions of each SCM scored
/// under that SCM's own common random numbers, all SCMs in parallel with the GIL
/// released. The engine call behind a vector environment's what-if.
#[pyfunction]
fn columns_under_interventions<'py>(
    py: Python<'py>,
    scms: Vec<PyRef<'py, PyScm>>,
    nodes: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    n: &Bound<'py, PyAny>,
    seeds: &Bound<'py, PyAny>,
    columns: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
    let nodes = array_arg::<i64, Ix2>("nodes", nodes, "a 2-d int64 numpy array")?;
    let values = array_arg::<f32, Ix2>("values", values, "a 2-d float32 numpy array")?;
    let columns = array_arg::<i64, Ix1>("columns", columns, "a 1-d int64 numpy array")?;
    let (nodes, values, columns) = (nodes.as_array(), values.as_array(), columns.as_array());
    let count = scms.len();
    let seeds = paired_seeds_arg("seeds", seeds, "scms", count)?;
    if nodes.shape() != values.shape() || nodes.nrows() != count || columns.len() != count {
        return Err(PyValueError::new_err(format!(
            "nodes {:?}, values {:?} and columns ({},) are not allowed: must be (K, G), (K, G) and (K,) with K = len(scms) = {count}",
            nodes.shape(),
            values.shape(),
            columns.len()
        )));
    }
    let g = nodes.ncols();
    let widest = scms.iter().map(|cell| cell.scm.d()).max().unwrap_or(0);
    let threads = parallel::default_threads().min(count);
    guarded(|| {
        budget::total(
            "columns_under_interventions' memory",
            &[budget::within("len(scms) * G * n", &[count, g, n], 4)?, budget::within("threads * n * nodes", &[threads, n, widest], 12)?],
        )
    })?;
    let mut jobs = Vec::with_capacity(count);
    for (k, cell) in scms.iter().enumerate() {
        let d = cell.scm.d();
        let column = columns[k];
        if column < 0 || column >= d as i64 {
            return Err(PyValueError::new_err(format!("columns[{k}] = {column} is not allowed: must be a node index in [0, {}]", d - 1)));
        }
        let pairs = (0..g).map(|m| do_pair(k, nodes[[k, m]], values[[k, m]], d)).collect::<PyResult<Vec<_>>>()?;
        jobs.push((&cell.scm, pairs, seeds[k], column as usize));
    }
    let mut out = guarded(|| budget::zeroed::<f32>("the columns under interventions", count * g * n))?;
    let mut work: Vec<_> = jobs.into_iter().zip(out.chunks_mut((g * n).max(1))).collect();
    py.detach(|| guarded(|| parallel::for_each(&mut work, |((scm, pairs, seed, column), slot)| scm.column_under_interventions_here(n, pairs, *seed, *column, slot))))?;
    drop(work); // ends its borrow of `out`
    let out = Array3::from_shape_vec((count, g, n), out).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(out.into_pyarray(py))
}

/// A sequence of seeds: a uint64 numpy array as is, any other sequence item by item with
/// the checks of `int_arg` (messages name `name[k]`).
fn seeds_arg(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    if let Ok(array) = obj.extract::<PyReadonlyArray1<'_, u64>>() {
        return Ok(array.as_array().to_vec());
    }
    let Ok(items) = obj.try_iter() else {
        return Err(PyTypeError::new_err(format!("{name} must be a sequence of integers, got {} {}", obj.get_type().name()?, obj.repr()?)));
    };
    items.enumerate().map(|(k, item)| int_arg(&format!("{name}[{k}]"), &item?, 0, u64::MAX)).collect()
}

/// `seeds_arg` for a sequence with one item per item of the argument `other`, of length `len`.
fn paired_seeds_arg(name: &str, obj: &Bound<'_, PyAny>, other: &str, len: usize) -> PyResult<Vec<u64>> {
    let seeds = seeds_arg(name, obj)?;
    if seeds.len() != len {
        return Err(PyValueError::new_err(format!("{name} length = {} is not allowed: must equal len({other}) = {len}", seeds.len())));
    }
    Ok(seeds)
}

/// Entry k of the `nodes` and `values` arrays of a batched call on an SCM with `d` nodes:
/// do(X_node = value), or no intervention when node < 0.
fn do_pair(k: usize, node: i64, value: f32, d: usize) -> PyResult<Option<(usize, f32)>> {
    if node >= d as i64 {
        return Err(PyValueError::new_err(format!(
            "nodes[{k}] = {node} is not allowed: must be < 0 (no intervention) or a node index in [0, {}]",
            d - 1
        )));
    }
    if node >= 0 && !value.is_finite() {
        return Err(PyValueError::new_err(format!("values[{k}] = {value} is not allowed: must be finite")));
    }
    Ok((node >= 0).then_some((node as usize, value)))
}

/// The SCMs of `seeds` in one family, drawn in parallel: `out[k]` equals
/// `Scm.from_family(family_json, seeds[k])` (its noise stream seeded as
/// `seed_noise(noise_seeds[k])` would, if given). The JSON is parsed once, where
/// `from_family` parses it per SCM; vector environments start many episodes at once.
#[pyfunction]
#[pyo3(signature = (family_json, seeds, noise_seeds=None))]
fn sample_scms(
    py: Python<'_>,
    family_json: &str,
    seeds: &Bound<'_, PyAny>,
    noise_seeds: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<PyScm>> {
    let seeds = seeds_arg("seeds", seeds)?;
    let noise_seeds = match noise_seeds.filter(|s| !s.is_none()) {
        Some(obj) => paired_seeds_arg("noise_seeds", obj, "seeds", seeds.len())?,
        None => seeds.clone(),
    };
    let spec = guarded(|| FamilySpec::from_json(family_json))?;
    guarded(|| budget::within("len(seeds)", &[seeds.len()], spec.scm_bytes()))?;
    let scms = py.detach(|| guarded(|| parallel::map(&seeds, |&s| spec.sample_scm(s))))?;
    Ok(scms.into_iter().zip(noise_seeds).map(|(scm, s)| PyScm { scm, rng: Rng::new(noise_stream_seed(s)) }).collect())
}

/// The graphs of many SCMs stacked: `(adjacency (K, d_max, d_max) uint8, n_nodes (K,)
/// int64)`, zero-padded, as `sample_graphs` returns them; one call instead of K
/// `adjacency` reads.
#[pyfunction]
fn stack_graphs<'py>(
    py: Python<'py>,
    scms: Vec<PyRef<'py, PyScm>>,
    d_max: &Bound<'py, PyAny>,
) -> PyResult<Graphs<'py>> {
    let d_max = usize_arg("d_max", d_max, 1, family::MAX_NODES)?;
    check_widths(&scms, d_max)?;
    let mut adj = vec![0u8; scms.len() * d_max * d_max];
    for (cell, slot) in scms.iter().zip(adj.chunks_exact_mut(d_max * d_max)) {
        family::write_padded(&cell.scm.dag, slot, d_max);
    }
    let adj = Array3::from_shape_vec((scms.len(), d_max, d_max), adj).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let nodes = Array1::from_iter(scms.iter().map(|cell| cell.scm.d() as i64));
    Ok((adj.into_pyarray(py), nodes.into_pyarray(py)))
}

/// ValueError unless every SCM has at most `d_max` nodes.
fn check_widths(scms: &[PyRef<'_, PyScm>], d_max: usize) -> PyResult<()> {
    match scms.iter().position(|cell| cell.scm.d() > d_max) {
        Some(k) => Err(PyValueError::new_err(format!("d_max = {d_max} is not allowed: scms[{k}] has {} nodes", scms[k].scm.d()))),
        None => Ok(()),
    }
}

/// Exact moments of linear SCMs, in parallel: `(effect, mean, std)`, each float64
/// `(K, d_max)` padded with 0, 0 and 1, where `effect[k, i]` is the total effect of node
/// i on `targets[k]` (so E[target | do(X_i = v)] = mean[target] + effect[i] (v - mean[i]))
/// and mean, std are the observational moments. Computed by propagation along the
/// topological order (`linear.rs`), not by a matrix inverse.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn linear_moments<'py>(
    py: Python<'py>,
    scms: Vec<PyRef<'py, PyScm>>,
    targets: &Bound<'py, PyAny>,
    d_max: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>)> {
    let d_max = usize_arg("d_max", d_max, 1, family::MAX_NODES)?;
    let targets = array_arg::<i64, Ix1>("targets", targets, "a 1-d int64 numpy array")?;
    check_widths(&scms, d_max)?;
    let targets = targets.as_array();
    if targets.len() != scms.len() {
        return Err(PyValueError::new_err(format!(
            "targets length = {} is not allowed: must equal len(scms) = {}",
            targets.len(),
            scms.len()
        )));
    }
    let mut jobs = Vec::with_capacity(scms.len());
    for (k, (cell, &t)) in scms.iter().zip(targets).enumerate() {
        let d = cell.scm.d();
        if t < 0 || t as usize >= d {
            return Err(PyValueError::new_err(format!("targets[{k}] = {t} is not allowed: must be a node index in [0, {}]", d - 1)));
        }
        jobs.push((&cell.scm, t as usize));
    }
    let results = py.detach(|| guarded(|| parallel::map(&jobs, |(scm, t)| scm.linear_moments(*t))))?;
    let count = results.len();
    let (mut effect, mut mean, mut std) = (vec![0f64; count * d_max], vec![0f64; count * d_max], vec![1f64; count * d_max]);
    for (k, result) in results.into_iter().enumerate() {
        let moments = result.map_err(|e| PyValueError::new_err(format!("scms[{k}] has no exact linear moments: {e}")))?;
        let (slot, d) = (k * d_max, moments.mean.len());
        effect[slot..slot + d].copy_from_slice(&moments.effect);
        mean[slot..slot + d].copy_from_slice(&moments.mean);
        std[slot..slot + d].copy_from_slice(&moments.std);
    }
    let err = |e: numpy::ndarray::ShapeError| PyRuntimeError::new_err(e.to_string());
    let shaped = |v: Vec<f64>| Array2::from_shape_vec((count, d_max), v).map_err(err);
    Ok((shaped(effect)?.into_pyarray(py), shaped(mean)?.into_pyarray(py), shaped(std)?.into_pyarray(py)))
}

/// `task_seed(base_seeds[k], index[k])` for every k, as a uint64 array (`index` is one
/// integer for all, or one per base seed): the seeds of many episodes in one call.
#[pyfunction]
fn task_seeds<'py>(py: Python<'py>, base_seeds: &Bound<'py, PyAny>, index: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<u64>>> {
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
fn task_seed(base_seed: &Bound<'_, PyAny>, index: &Bound<'_, PyAny>) -> PyResult<u64> {
    Ok(seed::task_seed(int_arg("base_seed", base_seed, 0, u64::MAX)?, int_arg("index", index, 0, u64::MAX)?))
}

/// Which build of the hot loops runs on this CPU: "avx512", "avx2" or "plain".
#[pyfunction]
fn simd_level() -> &'static str {
    match fastmath::simd_level() {
        fastmath::SimdLevel::Avx512 => "avx512",
        fastmath::SimdLevel::Avx2 => "avx2",
        fastmath::SimdLevel::Plain => "plain",
    }
}

/// Force the plain (SSE2) path with `False`, or back to the best the CPU has with `True`.
/// Both paths return the same bytes; benchmarks use this to compare their speed.
#[pyfunction]
fn set_simd(enabled: bool) {
    fastmath::set_simd(enabled)
}

/// Panics inside the engine on purpose: lets the tests show that a panic surfaces as a
/// RuntimeError instead of aborting the interpreter.
#[pyfunction]
fn _panic_for_test() -> PyResult<()> {
    guarded(|| -> error::Result<()> { panic!("deliberate test panic") })
}

/// Rebuild a pickled Scm.
#[pyfunction]
fn _scm_from_state(state: &[u8]) -> PyResult<PyScm> {
    let (scm, rng): (Scm, Rng) = serde_json::from_slice(state)
        .map_err(|e| PyValueError::new_err(format!("corrupt Scm pickle state: {e}")))?;
    scm.check_consistent().map_err(|e| PyValueError::new_err(format!("corrupt Scm pickle state: {e}")))?;
    if !rng.is_valid() {
        return Err(PyValueError::new_err("corrupt Scm pickle state: the noise stream's state is all zero"));
    }
    Ok(PyScm { scm, rng })
}

/// A structural causal model drawn by the engine. See `causal_meta.scm` for the docs.
#[pyclass(name = "Scm", module = "causal_meta._core")]
pub struct PyScm {
    scm: Scm,
    /// The SCM's own noise stream, used by `sample` when no seed is given.
    rng: Rng,
}

/// Seed of an SCM's own noise stream, distinct from the seed that drew the SCM.
fn noise_stream_seed(seed: u64) -> u64 {
    seed::task_seed(seed, u64::MAX)
}

impl PyScm {
    fn parse_do(&self, n: usize, do_: Option<&Bound<'_, PyAny>>) -> PyResult<DoArg> {
        let Some(obj) = do_ else { return Ok(DoArg::None) };
        if obj.is_none() {
            return Ok(DoArg::None);
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            let mut pairs = Vec::with_capacity(dict.len());
            for (k, v) in dict.iter() {
                for (what, obj) in [("keys", &k), ("values", &v)] {
                    if obj.is_instance_of::<PyBool>() {
                        return Err(PyTypeError::new_err(format!(
                            "do: {what} must be {}, got the bool {obj}",
                            if what == "keys" { "node indices (int)" } else { "numbers" }
                        )));
                    }
                }
                let node: i64 = k.extract().map_err(|_| PyTypeError::new_err(format!("do: keys must be node indices (int), got {k}")))?;
                let value: f64 = v.extract().map_err(|_| PyTypeError::new_err(format!("do: values must be numbers, got {v} for node {node}")))?;
                if value.is_finite() && value.abs() > error::MAX_PARAMETER {
                    return Err(PyValueError::new_err(format!(
                        "do value of node {node} = {value:?} is not allowed: must be finite and within float32 range (|v| <= 3.4e38)"
                    )));
                }
                if node < 0 || node as usize >= self.scm.d() {
                    return Err(PyValueError::new_err(format!(
                        "do node = {node} is not allowed: must be a node index in [0, {}]",
                        self.scm.d() - 1
                    )));
                }
                pairs.push((node as usize, value as f32));
            }
            return Ok(DoArg::All(pairs));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if tuple.len() == 2 {
                let d = self.scm.d();
                let mask = read_2d::<bool>(&tuple.get_item(0)?)
                    .map(|(s, v)| (s, v.into_iter().map(u8::from).collect()))
                    .or_else(|_| read_2d::<u8>(&tuple.get_item(0)?))
                    .map_err(|_| PyTypeError::new_err("do=(mask, values): mask must be a 2-d bool or uint8 numpy array"))?;
                let values = read_2d::<f32>(&tuple.get_item(1)?)
                    .or_else(|_| read_2d::<f64>(&tuple.get_item(1)?).map(|(s, v)| (s, v.into_iter().map(|x| x as f32).collect())))
                    .map_err(|_| PyTypeError::new_err("do=(mask, values): values must be a 2-d float32 or float64 numpy array"))?;
                for (name, shape) in [("mask", mask.0), ("values", values.0)] {
                    if shape != [n, d] {
                        return Err(PyValueError::new_err(format!(
                            "do {name} shape = {shape:?} is not allowed: must be (n, d) = ({n}, {d})"
                        )));
                    }
                }
                return Ok(DoArg::PerRow(mask.1, values.1));
            }
        }
        Err(PyTypeError::new_err(format!(
            "do must be None, a dict {{node: value}} or a tuple (mask, values) of (n, d) arrays, got {}",
            obj.get_type().name()?
        )))
    }
}

/// Parsed `do=` argument, owning its buffers.
enum DoArg {
    None,
    All(Vec<(usize, f32)>),
    PerRow(Vec<u8>, Vec<f32>),
}

impl DoArg {
    fn view(&self) -> Interventions<'_> {
        match self {
            DoArg::None => Interventions::None,
            DoArg::All(p) => Interventions::AllRows(p),
            DoArg::PerRow(m, v) => Interventions::PerRow { mask: m, values: v },
        }
    }
}

fn read_2d<T: numpy::Element + Copy>(obj: &Bound<'_, PyAny>) -> PyResult<([usize; 2], Vec<T>)> {
    let arr: PyReadonlyArray2<T> = obj.extract()?;
    let view = arr.as_array();
    Ok(([view.nrows(), view.ncols()], view.iter().copied().collect()))
}

#[pymethods]
impl PyScm {
    /// Draw the SCM of `seed` from a family (JSON spec). Pure function of (family, seed).
    #[staticmethod]
    fn from_family(family_json: &str, seed: &Bound<'_, PyAny>) -> PyResult<PyScm> {
        let seed = int_arg("seed", seed, 0, u64::MAX)?;
        let spec = guarded(|| FamilySpec::from_json(family_json))?;
        let scm = guarded(|| Ok(spec.sample_scm(seed)))?;
        Ok(PyScm { scm, rng: Rng::new(noise_stream_seed(seed)) })
    }

    /// Number of variables.
    #[getter]
    fn d(&self) -> usize {
        self.scm.d()
    }

    /// Adjacency (d, d) uint8 with A[i, j] = 1 for i -> j.
    #[getter]
    fn adjacency<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let d = self.scm.d();
        let a = Array2::from_shape_vec((d, d), self.scm.dag.adj.clone()).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py))
    }

    /// A topological order: every cause comes before its effects.
    #[getter]
    fn topological_order(&self) -> Vec<usize> {
        self.scm.dag.order.clone()
    }

    /// Parents of node `i` in ascending order.
    fn parents(&self, i: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
        let i = usize_arg("node", i, 0, self.scm.d() - 1)?;
        Ok(self.scm.dag.parents(i).to_vec())
    }

    /// Whether every mechanism is linear with additive noise.
    #[getter]
    fn is_linear(&self) -> bool {
        self.scm.is_linear()
    }

    /// Name of each node's mechanism ("linear", "mlp", "gp", ...).
    #[getter]
    fn mechanism_names(&self) -> Vec<&'static str> {
        self.scm.mechanisms.iter().map(mechanism::Mechanism::name).collect()
    }

    /// Name of each node's noise law ("gaussian", "laplace", "cauchy", "uniform").
    #[getter]
    fn noise_names(&self) -> Vec<&'static str> {
        self.scm.noises.iter().map(|n| n.kind.name()).collect()
    }

    /// Each node's noise scale (see NoiseSpec for what scale means per law).
    #[getter]
    fn noise_scales(&self) -> Vec<f32> {
        self.scm.noises.iter().map(|n| n.scale).collect()
    }

    /// `(W, b)` of a linear SCM: x = W^T x + b + noise, W[i, j] the weight of edge i -> j.
    /// Raises ValueError if a mechanism is not linear.
    fn linear_parameters<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>)> {
        let d = self.scm.d();
        let mut w = Array2::<f64>::zeros((d, d));
        let mut b = Array1::<f64>::zeros(d);
        for (j, m) in self.scm.mechanisms.iter().enumerate() {
            let mechanism::Mechanism::Linear { w: wj, b: bj } = m else {
                return Err(PyValueError::new_err(format!(
                    "linear_parameters: node {j} has a {} mechanism; only SCMs whose mechanisms are all linear have them",
                    m.name()
                )));
            };
            for (&p, &wp) in self.scm.dag.parents(j).iter().zip(wj) {
                w[[p, j]] = f64::from(wp);
            }
            b[j] = f64::from(*bj);
        }
        Ok((w.into_pyarray(py), b.into_pyarray(py)))
    }

    /// Column `column` of `n` rows under each single intervention do(X_nodes[m] =
    /// values[m]) (none where nodes[m] < 0), every one drawn from the fresh stream `seed`
    /// (common random numbers): (M, n) float32 whose row m equals
    /// `sample(n, do={nodes[m]: values[m]}, seed=seed)[0][:, column]`, computed without
    /// re-drawing the shared noise or re-evaluating nodes an intervention cannot move
    /// (`Scm::column_under_interventions`), in parallel with the GIL released: the Monte
    /// Carlo optimum of an episode asks for hundreds of pairs.
    fn column_under_interventions<'py>(
        &self,
        py: Python<'py>,
        nodes: &Bound<'py, PyAny>,
        values: &Bound<'py, PyAny>,
        n: &Bound<'py, PyAny>,
        seed: &Bound<'py, PyAny>,
        column: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let d = self.scm.d();
        let nodes = array_arg::<i64, Ix1>("nodes", nodes, "a 1-d int64 numpy array")?;
        let values = array_arg::<f32, Ix1>("values", values, "a 1-d float32 numpy array")?;
        let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
        let seed = int_arg("seed", seed, 0, u64::MAX)?;
        let column = usize_arg("column", column, 0, d - 1)?;
        let (nodes, values) = (nodes.as_array(), values.as_array());
        if nodes.len() != values.len() {
            return Err(PyValueError::new_err(format!(
                "nodes and values lengths = ({}, {}) are not allowed: must be equal",
                nodes.len(),
                values.len()
            )));
        }
        let threads = parallel::default_threads().min(nodes.len().max(1));
        guarded(|| {
            budget::total(
                "column_under_interventions' memory",
                &[budget::within("len(nodes) * n", &[nodes.len(), n], 4)?, budget::within("threads * n * d", &[threads, n, d], 12)?],
            )
        })?;
        let pairs = nodes.iter().zip(values).enumerate().map(|(m, (&node, &value))| do_pair(m, node, value, d)).collect::<PyResult<Vec<_>>>()?;
        let scm = &self.scm;
        let columns = py.detach(|| guarded(|| scm.column_under_interventions(n, &pairs, seed, column)))?;
        let out = Array2::from_shape_vec((pairs.len(), n), columns).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(out.into_pyarray(py))
    }

    /// Reset the SCM's own noise stream (used when `sample` gets no seed).
    fn seed_noise(&mut self, seed: &Bound<'_, PyAny>) -> PyResult<()> {
        self.rng = Rng::new(noise_stream_seed(int_arg("seed", seed, 0, u64::MAX)?));
        Ok(())
    }

    /// Draw `n` rows, optionally under interventions; see `causal_meta.scm.Scm.sample`.
    #[pyo3(signature = (n, r#do=None, seed=None))]
    fn sample<'py>(
        &mut self,
        py: Python<'py>,
        n: &Bound<'py, PyAny>,
        r#do: Option<&Bound<'py, PyAny>>,
        seed: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<u8>>)> {
        let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
        let seed = seed.filter(|s| !s.is_none()).map(|s| int_arg("seed", s, 0, u64::MAX)).transpose()?;
        let d = self.scm.d();
        // Rows and mask out (5 bytes a cell), node columns and noise inside (8).
        guarded(|| budget::within("n * d", &[n, d], 13))?;
        let do_arg = self.parse_do(n, r#do)?;
        let ivs = do_arg.view();
        guarded(|| ivs.validate(d, n))?;
        let mut out = guarded(|| budget::zeroed::<f32>("the sampled rows", n * d))?;
        let mut local;
        let rng = match seed {
            Some(s) => {
                local = Rng::new(s);
                &mut local
            }
            None => &mut self.rng,
        };
        let scm = &self.scm;
        let mut run = || guarded(|| scm.sample_into(n, ivs, rng, &mut out, d));
        if n * d >= DETACH_MIN_CELLS {
            py.detach(run)?;
        } else {
            run()?;
        }
        let mut mask = guarded(|| budget::zeroed::<u8>("the intervention mask", n * d))?;
        match &do_arg {
            DoArg::None => {}
            DoArg::All(pairs) => {
                for r in 0..n {
                    for &(i, _) in pairs {
                        mask[r * d + i] = 1;
                    }
                }
            }
            DoArg::PerRow(m, _) => mask.copy_from_slice(m),
        }
        let err = |e: numpy::ndarray::ShapeError| PyRuntimeError::new_err(e.to_string());
        let data = Array2::from_shape_vec((n, d), out).map_err(err)?;
        let mask = Array2::from_shape_vec((n, d), mask).map_err(err)?;
        Ok((data.into_pyarray(py), mask.into_pyarray(py)))
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let state = serde_json::to_vec(&(&self.scm, &self.rng)).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let ctor = py.import("causal_meta._core")?.getattr("_scm_from_state")?;
        Ok((ctor, (PyBytes::new(py, &state),)))
    }

    fn __repr__(&self) -> String {
        format!("Scm(d={}, edges={}, linear={})", self.scm.d(), self.scm.dag.n_edges(), self.scm.is_linear())
    }
}

/// The extension module `causal_meta._core`.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Import numpy's C API now: imported lazily, inside the first engine call, a Ctrl-C
    // arriving during that import surfaced as a PanicException instead of KeyboardInterrupt.
    PyArray1::<f32>::zeros(m.py(), 0, false);
    m.add_function(wrap_pyfunction!(sample_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(task_seed, m)?)?;
    m.add_function(wrap_pyfunction!(sample_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(sample_interventions, m)?)?;
    m.add_function(wrap_pyfunction!(columns_under_interventions, m)?)?;
    m.add_function(wrap_pyfunction!(sample_scms, m)?)?;
    m.add_function(wrap_pyfunction!(stack_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(linear_moments, m)?)?;
    m.add_function(wrap_pyfunction!(task_seeds, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(set_simd, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(_scm_from_state, m)?)?;
    m.add_class::<PyScm>()?;
    m.add("MAX_NODES", family::MAX_NODES)?;
    m.add("MAX_SAMPLES", family::MAX_SAMPLES)?;
    Ok(())
}
