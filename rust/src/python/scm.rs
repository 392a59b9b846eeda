//! The `Scm` class: one drawn SCM with its own noise stream, sampled under interventions
//! given as a `do=` dict or per-row (mask, values) arrays; and its unpickling.
//!
//! Threads may share one `Scm`: every method takes it shared, and the own noise stream is
//! behind a lock that a call holds while it draws, so that concurrent unseeded samples
//! take turns on the stream. The batched calls that advance many streams at once borrow
//! their SCMs exclusively instead (`exclusive`), and reach the streams without locking.

use super::convert::{int_arg, numpy_array, pairs_arg, read_2d, usize_arg};
use super::crn::PyCrn;
use super::interrupt::DETACH_MIN_CELLS;
use super::family::family_arg;
use super::errors::{guarded, internal_error};
use crate::family;
use crate::scm::{intervention_pair, per_row_shape, Interventions, Scm};
use crate::seed::{noise_stream_seed, Rng};
use crate::{budget, error, mechanism, parallel};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyTuple};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Rows and intervention mask of `sample`: (n, d) float32 and (n, d) uint8.
type Rows<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<u8>>);

/// `(W, b)` of a linear SCM: (d, d) and (d,) float64.
type LinearParameters<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>);

/// Rebuild a pickled Scm.
#[pyfunction]
pub fn _scm_from_state(state: &[u8]) -> PyResult<PyScm> {
    let (scm, rng) = guarded(|| Scm::from_state(state))?;
    Ok(PyScm::new(scm, rng))
}

/// A structural causal model drawn by the engine. See `causal_meta.scm` for the docs.
#[pyclass(name = "Scm", module = "causal_meta._core")]
pub struct PyScm {
    pub(crate) scm: Scm,
    /// The SCM's own noise stream, used by `sample` when no seed is given; locked by the
    /// call that draws from it (see the module's docs).
    rng: Mutex<Rng>,
}

/// A lock's content whatever happened to its last holder: a panic inside the engine is
/// caught (`guarded`) before the guard drops, so a poisoned stream is still a valid one.
fn locked(rng: &Mutex<Rng>) -> MutexGuard<'_, Rng> {
    rng.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `scms` borrowed exclusively, for a batched call that advances the own noise streams of
/// all of them in parallel: an Scm listed twice is refused (ValueError), and so is one
/// that another thread is using right now (RuntimeError), each by its index.
pub(crate) fn exclusive<'py>(scms: &[Bound<'py, PyScm>]) -> PyResult<Vec<PyRefMut<'py, PyScm>>> {
    let borrow = |(k, scm): (usize, &Bound<'py, PyScm>)| {
        scm.try_borrow_mut().map_err(|_| match scms[..k].iter().position(|earlier| earlier.is(scm)) {
            Some(j) => PyValueError::new_err(format!("scms[{k}] is scms[{j}]: an Scm may appear only once in a call that draws from the own noise streams")),
            None => PyRuntimeError::new_err(format!(
                "scms[{k}] is in use by another thread (a call on that Scm has not returned yet): wait for it, or give this call its own copy (a pickle round trip)"
            )),
        })
    };
    scms.iter().enumerate().map(borrow).collect()
}

impl PyScm {
    /// The SCM `scm` with the own noise stream `rng`.
    pub(crate) fn new(scm: Scm, rng: Rng) -> PyScm {
        PyScm { scm, rng: Mutex::new(rng) }
    }

    /// The SCM of `scm` with its noise stream seeded from `noise_seed`.
    pub(crate) fn with_noise_seed(scm: Scm, noise_seed: u64) -> PyScm {
        PyScm::new(scm, Rng::new(noise_stream_seed(noise_seed)))
    }

    /// The SCM and its own noise stream, for a call that holds the Scm exclusively (no
    /// other thread can hold the lock, so none is taken).
    pub(crate) fn stream_mut(&mut self) -> (&Scm, &mut Rng) {
        (&self.scm, self.rng.get_mut().unwrap_or_else(PoisonError::into_inner))
    }

    /// The own noise stream, locked, from a thread that holds the GIL. Another thread may
    /// hold the lock for a large sample, drawn with the GIL released: wait for it with the
    /// GIL released too, so that the other Python threads run meanwhile.
    fn own_stream(&self, py: Python<'_>) -> MutexGuard<'_, Rng> {
        loop {
            match self.rng.try_lock() {
                Ok(rng) => return rng,
                Err(TryLockError::Poisoned(rng)) => return rng.into_inner(),
                Err(TryLockError::WouldBlock) => py.detach(|| drop(locked(&self.rng))),
            }
        }
    }

    fn parse_do(&self, n: usize, do_: Option<&Bound<'_, PyAny>>) -> PyResult<DoArg> {
        let Some(obj) = do_ else { return Ok(DoArg::None) };
        if obj.is_none() {
            return Ok(DoArg::None);
        }
        let d = self.scm.d();
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
                let node: i64 = match k.extract() {
                    Ok(node) => node,
                    // An integer beyond int64 is a node index out of range, not a key of the wrong kind.
                    Err(_) if k.call_method0("__index__").is_ok() => return Err(error::not_a_node("do node", k.str()?, d).into()),
                    Err(_) => return Err(PyTypeError::new_err(format!("do: keys must be node indices (int), got {k}"))),
                };
                let value: f64 = v.extract().map_err(|_| PyTypeError::new_err(format!("do: values must be numbers, got {v} for node {node}")))?;
                pairs.push(intervention_pair(node, value, d)?);
            }
            return Ok(DoArg::All(pairs));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if tuple.len() == 2 {
                let mask = read_2d::<bool>(&tuple.get_item(0)?)
                    .map(|(s, v)| (s, v.into_iter().map(u8::from).collect()))
                    .or_else(|_| read_2d::<u8>(&tuple.get_item(0)?))
                    .map_err(|_| PyTypeError::new_err("do=(mask, values): mask must be a 2-d bool or uint8 numpy array"))?;
                let values = read_2d::<f32>(&tuple.get_item(1)?)
                    .or_else(|_| read_2d::<f64>(&tuple.get_item(1)?).map(|(s, v)| (s, v.into_iter().map(|x| x as f32).collect())))
                    .map_err(|_| PyTypeError::new_err("do=(mask, values): values must be a 2-d float32 or float64 numpy array"))?;
                per_row_shape("mask", mask.0, n, d)?;
                per_row_shape("values", values.0, n, d)?;
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

#[pymethods]
impl PyScm {
    /// Draw the SCM of `seed` from a family (a `CompiledFamily` or JSON). Pure function of
    /// (family, seed).
    #[staticmethod]
    fn from_family(family: &Bound<'_, PyAny>, seed: &Bound<'_, PyAny>) -> PyResult<PyScm> {
        let seed = int_arg("seed", seed, 0, u64::MAX)?;
        let spec = family_arg(family)?;
        let scm = guarded(|| Ok(spec.sample_scm(seed)))?;
        Ok(PyScm::with_noise_seed(scm, seed))
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
        numpy_array(py, (d, d), self.scm.dag.adj.clone())
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
    fn linear_parameters<'py>(&self, py: Python<'py>) -> PyResult<LinearParameters<'py>> {
        let d = self.scm.d();
        let (w, b) = self.scm.linear_parameters()?;
        Ok((numpy_array(py, (d, d), w)?, numpy_array(py, d, b)?))
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
        let pairs = pairs_arg(nodes, values, d)?;
        let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
        let seed = int_arg("seed", seed, 0, u64::MAX)?;
        let column = usize_arg("column", column, 0, d - 1)?;
        let threads = parallel::default_threads().min(pairs.len().max(1));
        guarded(|| {
            budget::total(
                "column_under_interventions' memory",
                &[budget::within("len(nodes) * n", &[pairs.len(), n], 4)?, budget::within("threads * n * d", &[threads, n, d], 12)?],
            )
        })?;
        let scm = &self.scm;
        let columns = py.detach(|| guarded(|| scm.column_under_interventions(n, &pairs, seed, column)))?;
        numpy_array(py, (pairs.len(), n), columns)
    }

    /// The unintervened state of `n` rows under the stream `seed`, kept to score many single
    /// interventions on `column` (`CommonRandomNumbers.columns`), each for the price of the
    /// nodes it moves instead of a whole sample.
    fn common_random_numbers(&self, n: &Bound<'_, PyAny>, seed: &Bound<'_, PyAny>, column: &Bound<'_, PyAny>) -> PyResult<PyCrn> {
        let d = self.scm.d();
        let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
        let seed = int_arg("seed", seed, 0, u64::MAX)?;
        let column = usize_arg("column", column, 0, d - 1)?;
        // Noise and values kept, and the working copy of a later call.
        guarded(|| budget::within("n * d", &[n, d], 12))?;
        let crn = guarded(|| self.scm.common_random_numbers(n, seed, column))?;
        Ok(PyCrn { scm: self.scm.clone(), crn })
    }

    /// Reset the SCM's own noise stream (used when `sample` gets no seed).
    fn seed_noise(&self, py: Python<'_>, seed: &Bound<'_, PyAny>) -> PyResult<()> {
        let rng = Rng::new(noise_stream_seed(int_arg("seed", seed, 0, u64::MAX)?));
        *self.own_stream(py) = rng;
        Ok(())
    }

    /// Draw `n` rows, optionally under interventions; see `causal_meta.scm.Scm.sample`.
    #[pyo3(signature = (n, r#do=None, seed=None))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: &Bound<'py, PyAny>,
        r#do: Option<&Bound<'py, PyAny>>,
        seed: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Rows<'py>> {
        let n = usize_arg("n", n, 1, family::MAX_SAMPLES)?;
        let seed = seed.filter(|s| !s.is_none()).map(|s| int_arg("seed", s, 0, u64::MAX)).transpose()?;
        let d = self.scm.d();
        // Rows and mask out (5 bytes a cell), node columns and noise inside (8).
        guarded(|| budget::within("n * d", &[n, d], 13))?;
        let do_arg = self.parse_do(n, r#do)?;
        let ivs = do_arg.view();
        guarded(|| ivs.validate(d, n))?;
        let mut out = guarded(|| budget::zeroed::<f32>("the sampled rows", n * d))?;
        let scm = &self.scm;
        let mut run = |rng: &mut Rng| guarded(|| scm.sample_into(n, ivs, rng, &mut out, d));
        // The own stream stays locked while it draws: with the GIL released for a large
        // sample, the lock is taken there too.
        match (seed, n * d >= DETACH_MIN_CELLS) {
            (Some(s), false) => run(&mut Rng::new(s)),
            (Some(s), true) => py.detach(|| run(&mut Rng::new(s))),
            (None, false) => run(&mut self.own_stream(py)),
            (None, true) => py.detach(|| run(&mut locked(&self.rng))),
        }?;
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
        Ok((numpy_array(py, (n, d), out)?, numpy_array(py, (n, d), mask)?))
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let rng = self.own_stream(py).clone();
        let state = self.scm.to_state(&rng).map_err(internal_error)?;
        let ctor = py.import("causal_meta._core")?.getattr("_scm_from_state")?;
        Ok((ctor, (PyBytes::new(py, &state),)))
    }

    fn __repr__(&self) -> String {
        format!("Scm(d={}, edges={}, linear={})", self.scm.d(), self.scm.dag.n_edges(), self.scm.is_linear())
    }
}
