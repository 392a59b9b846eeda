//! The `CommonRandomNumbers` class: an SCM's unintervened state under one stream, kept
//! to score many single interventions on one column (a Monte Carlo response, asked for
//! one value at a time by a scalar minimiser).

use super::convert::{numpy_array, pairs_arg};
use super::errors::guarded;
use super::interrupt::DETACH_MIN_CELLS;
use crate::budget;
use crate::scm::{CommonRandomNumbers, Scm};
use numpy::PyArray2;
use pyo3::prelude::*;

/// What `Scm.common_random_numbers(n, seed, column)` returns: a copy of the SCM with its
/// noise and unintervened values for `n` rows of the stream `seed`.
#[pyclass(name = "CommonRandomNumbers", module = "causal_meta._core", frozen)]
pub struct PyCrn {
    pub(crate) scm: Scm,
    pub(crate) crn: CommonRandomNumbers,
}

#[pymethods]
impl PyCrn {
    /// Column `column` under each do(X_nodes[m] = values[m]) (none where nodes[m] < 0):
    /// (M, n) float32, the bits of `Scm.column_under_interventions(nodes, values, n, seed,
    /// column)` for this object's n, seed and column, without drawing the noise or
    /// evaluating the unmoved nodes again.
    fn columns<'py>(&self, py: Python<'py>, nodes: &Bound<'py, PyAny>, values: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let pairs = pairs_arg(nodes, values, self.scm.d())?;
        let n = self.crn.n();
        guarded(|| budget::within("len(nodes) * n", &[pairs.len(), n], 4))?;
        let mut out = guarded(|| budget::zeroed::<f32>("the columns under interventions", pairs.len() * n))?;
        let mut run = || guarded(|| self.scm.crn_columns(&self.crn, &pairs, &mut out));
        if pairs.len() * n * self.scm.d() >= DETACH_MIN_CELLS {
            py.detach(run)?;
        } else {
            run()?;
        }
        numpy_array(py, (pairs.len(), n), out)
    }

    fn __repr__(&self) -> String {
        format!("CommonRandomNumbers(d={}, n={})", self.scm.d(), self.crn.n())
    }
}
