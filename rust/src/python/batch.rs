//! Bindings that work on many SCMs in one call, in parallel with the GIL released: the
//! engine calls behind vector environments (draw a batch of SCMs, sample one
//! intervention each, score candidates, stack graphs, exact linear moments).

use super::convert::{array_arg, numpy_array, paired_seeds_arg, seeds_arg, usize_arg};
use super::errors::guarded;
use super::scm::{exclusive, PyScm};
use super::tasks::Graphs;
use crate::error::{self, node_index};
use super::family::family_arg;
use crate::family;
use crate::scm::{single_intervention, Interventions};
use crate::{budget, checks, graph, linear, parallel};
use numpy::ndarray::{Array1, Ix1, Ix2};
use numpy::{IntoPyArray, PyArray2, PyArray3};
use pyo3::prelude::*;

/// The SCMs of `seeds` in one family, drawn in parallel: `out[k]` equals
/// `Scm.from_family(family, seeds[k])` (its noise stream seeded as
/// `seed_noise(noise_seeds[k])` would, if given); vector environments start many
/// episodes at once.
#[pyfunction]
#[pyo3(signature = (family, seeds, noise_seeds=None))]
pub fn sample_scms(
    py: Python<'_>,
    family: &Bound<'_, PyAny>,
    seeds: &Bound<'_, PyAny>,
    noise_seeds: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<PyScm>> {
    let seeds = seeds_arg("seeds", seeds)?;
    let noise_seeds = match noise_seeds.filter(|s| !s.is_none()) {
        Some(obj) => paired_seeds_arg("noise_seeds", obj, "seeds", seeds.len())?,
        None => seeds.clone(),
    };
    let spec = family_arg(family)?;
    guarded(|| budget::within("len(seeds)", &[seeds.len()], spec.scm_bytes()))?;
    let scms = py.detach(|| guarded(|| parallel::map(&seeds, |&s| spec.sample_scm(s))))?;
    Ok(scms.into_iter().zip(noise_seeds).map(|(scm, s)| PyScm::with_noise_seed(scm, s)).collect())
}

/// The graphs of many SCMs stacked: `(adjacency (K, d_max, d_max) uint8, n_nodes (K,)
/// int64)`, zero-padded, as `sample_graphs` returns them; one call instead of K
/// `adjacency` reads.
#[pyfunction]
pub fn stack_graphs<'py>(
    py: Python<'py>,
    scms: Vec<PyRef<'py, PyScm>>,
    d_max: &Bound<'py, PyAny>,
) -> PyResult<Graphs<'py>> {
    let d_max = usize_arg("d_max", d_max, 1, graph::MAX_NODES)?;
    checks::widths(scms.iter().map(|cell| cell.scm.d()), d_max)?;
    let mut adj = vec![0u8; scms.len() * d_max * d_max];
    for (cell, slot) in scms.iter().zip(adj.chunks_exact_mut(d_max * d_max)) {
        family::write_padded(&cell.scm.dag, slot, d_max);
    }
    let nodes = Array1::from_iter(scms.iter().map(|cell| cell.scm.d() as i64));
    Ok((numpy_array(py, (scms.len(), d_max, d_max), adj)?, nodes.into_pyarray(py)))
}

/// One intervention per SCM, each drawn from that SCM's own noise stream, in parallel:
/// row block k equals `scms[k].sample(n, do={nodes[k]: values[k]})` (or no `do` where
/// `nodes[k] < 0`), zero-padded to `d_max` columns. The engine call behind vector envs.
/// Each SCM may appear once, and not while another thread uses it (`exclusive`).
#[pyfunction]
pub fn sample_interventions<'py>(
    py: Python<'py>,
    scms: Vec<Bound<'py, PyScm>>,
    nodes: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    n: &Bound<'py, PyAny>,
    d_max: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<f32>>> {
    let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
    let d_max = usize_arg("d_max", d_max, 1, graph::MAX_NODES)?;
    let nodes = array_arg::<i64, Ix1>("nodes", nodes, "a 1-d int64 numpy array")?;
    let values = array_arg::<f32, Ix1>("values", values, "a 1-d float32 numpy array")?;
    let (nodes, values) = (nodes.as_array(), values.as_array());
    let count = scms.len();
    checks::nodes_values_lengths(nodes.len(), values.len(), Some(count))?;
    let threads = parallel::default_threads().min(count);
    guarded(|| {
        budget::total(
            "sample_interventions' memory",
            &[budget::within("len(scms) * n * d_max", &[count, n, d_max], 4)?, budget::within("threads * n * d_max", &[threads, n, d_max], 8)?],
        )
    })?;
    let mut jobs = Vec::with_capacity(count);
    let mut scms = exclusive(&scms)?;
    for (k, cell) in scms.iter_mut().enumerate() {
        let d = cell.scm.d();
        checks::width(k, d, d_max)?;
        let pair = single_intervention(k, nodes[k], values[k], d)?;
        let (scm, rng) = cell.stream_mut();
        jobs.push((scm, rng, pair));
    }
    let mut out = guarded(|| budget::zeroed::<f32>("the sampled rows", count * n * d_max))?;
    let mut work: Vec<_> = jobs.into_iter().zip(out.chunks_mut(n * d_max)).enumerate().collect();
    py.detach(|| {
        guarded(|| {
            parallel::for_each(&mut work, |(k, ((scm, rng, pair), slot))| {
                let pairs = pair.as_slice();
                let ivs = if pairs.is_empty() { Interventions::None } else { Interventions::AllRows(pairs) };
                scm.sample_into(n, ivs, rng, slot, d_max).map_err(|e| e.non_finite_in(|| format!("the sample of scms[{k}]")))
            })
        })
    })?;
    drop(work); // ends its borrow of `out`
    numpy_array(py, (count, n, d_max), out)
}

/// For every SCM k, `scms[k].column_under_interventions(nodes[k], values[k], n, seeds[k],
/// columns[k])`: (K, G, n) float32, the G candidate interventions of each SCM scored
/// under that SCM's own common random numbers, all SCMs in parallel with the GIL
/// released. The engine call behind a vector environment's what-if.
#[pyfunction]
pub fn columns_under_interventions<'py>(
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
    checks::candidate_grid([nodes.nrows(), nodes.ncols()], [values.nrows(), values.ncols()], columns.len(), count)?;
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
        let column = node_index(&format!("columns[{k}]"), columns[k], d)?;
        let pairs = (0..g).map(|m| single_intervention(k, nodes[[k, m]], values[[k, m]], d)).collect::<error::Result<Vec<_>>>()?;
        jobs.push((&cell.scm, pairs, seeds[k], column));
    }
    let mut out = guarded(|| budget::zeroed::<f32>("the columns under interventions", count * g * n))?;
    let mut work: Vec<_> = jobs.into_iter().zip(out.chunks_mut((g * n).max(1))).enumerate().collect();
    py.detach(|| {
        guarded(|| {
            parallel::for_each(&mut work, |(k, ((scm, pairs, seed, column), slot))| {
                let columns = scm.column_under_interventions_here(n, pairs, *seed, *column, slot);
                columns.map_err(|e| e.non_finite_in(|| format!("the sample of scms[{k}] under common random numbers")))
            })
        })
    })?;
    drop(work); // ends its borrow of `out`
    numpy_array(py, (count, g, n), out)
}

/// Exact moments of linear SCMs, in parallel: `(effect, mean, std)`, each float64
/// `(K, d_max)` padded with 0, 0 and 1, where `effect[k, i]` is the total effect of node
/// i on `targets[k]` (so E[target | do(X_i = v)] = mean[target] + effect[i] (v - mean[i]))
/// and mean, std are the observational moments. Computed by propagation along the
/// topological order (`linear.rs`), not by a matrix inverse.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn linear_moments<'py>(
    py: Python<'py>,
    scms: Vec<PyRef<'py, PyScm>>,
    targets: &Bound<'py, PyAny>,
    d_max: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>)> {
    let d_max = usize_arg("d_max", d_max, 1, graph::MAX_NODES)?;
    let targets = array_arg::<i64, Ix1>("targets", targets, "a 1-d int64 numpy array")?;
    checks::widths(scms.iter().map(|cell| cell.scm.d()), d_max)?;
    let targets = targets.as_array();
    checks::same_length("targets", targets.len(), "scms", scms.len())?;
    let jobs = scms
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(k, (cell, &t))| Ok((&cell.scm, node_index(&format!("targets[{k}]"), t, cell.scm.d())?)))
        .collect::<error::Result<Vec<_>>>()?;
    let results = py.detach(|| guarded(|| linear::linear_moments_of(&jobs)))?;
    let count = results.len();
    let (mut effect, mut mean, mut std) = (vec![0f64; count * d_max], vec![0f64; count * d_max], vec![1f64; count * d_max]);
    for (k, moments) in results.into_iter().enumerate() {
        let (slot, d) = (k * d_max, moments.mean.len());
        effect[slot..slot + d].copy_from_slice(&moments.effect);
        mean[slot..slot + d].copy_from_slice(&moments.mean);
        std[slot..slot + d].copy_from_slice(&moments.std);
    }
    Ok((numpy_array(py, (count, d_max), effect)?, numpy_array(py, (count, d_max), mean)?, numpy_array(py, (count, d_max), std)?))
}
