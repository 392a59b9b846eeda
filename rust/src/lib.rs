//! causal-meta's engine: random SCMs and their data, fast.
//!
//! The modules below are plain Rust with no Python in them (tested by `cargo test`),
//! including every check of a range, length or shape (`error`, `checks`, `scm`). The
//! PyO3 layer lives in `python/`, one file per class or group of functions: argument
//! conversion (`python::convert`), the one place where engine errors and panics become
//! Python exceptions (`python::errors`), GIL release around long work (in chunks between
//! which Ctrl-C is handled, `python::interrupt`) and zero-copy hand-over of buffers to
//! numpy. This file only registers the bindings.

pub mod bo;
pub mod budget;
pub mod checks;
pub mod dist;
pub mod episode;
pub mod error;
pub mod family;
pub mod fastmath;
pub mod graph;
pub mod linear;
pub mod mechanism;
pub mod noise;
pub mod parallel;
pub mod params;
pub mod python;
pub mod scm;
pub mod seed;

use numpy::PyArray1;
use pyo3::prelude::*;
use python::{batch, crn, env, family as py_family, runtime, scm as py_scm, tasks};

/// The extension module `causal_meta._core`.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Import numpy's C API now: imported lazily, inside the first engine call, a Ctrl-C
    // arriving during that import surfaced as a PanicException instead of KeyboardInterrupt.
    // Importing numpy first makes a missing numpy an ImportError, not a panic.
    m.py().import("numpy")?;
    PyArray1::<f32>::zeros(m.py(), 0, false);
    m.add_function(wrap_pyfunction!(tasks::sample_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::task_seed, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::sample_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(batch::sample_interventions, m)?)?;
    m.add_function(wrap_pyfunction!(batch::columns_under_interventions, m)?)?;
    m.add_function(wrap_pyfunction!(batch::sample_scms, m)?)?;
    m.add_function(wrap_pyfunction!(batch::stack_graphs, m)?)?;
    m.add_function(wrap_pyfunction!(batch::linear_moments, m)?)?;
    m.add_function(wrap_pyfunction!(tasks::task_seeds, m)?)?;
    m.add_function(wrap_pyfunction!(env::start_episodes, m)?)?;
    m.add_function(wrap_pyfunction!(env::step_envs, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::set_simd, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_panic_for_test, m)?)?;
    m.add_function(wrap_pyfunction!(py_scm::_scm_from_state, m)?)?;
    m.add_class::<py_scm::PyScm>()?;
    m.add_class::<py_family::PyFamily>()?;
    m.add_class::<crn::PyCrn>()?;
    m.add("MAX_NODES", graph::MAX_NODES)?;
    m.add("MAX_SAMPLES", family::MAX_SAMPLES)?;
    m.add("EPISODE_NOISE_INDEX", episode::NOISE_INDEX)?;
    m.add("MIN_STD", episode::MIN_STD)?;
    Ok(())
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
