//! Bindings about the running engine rather than its models: the SIMD level of the hot
//! loops, and a deliberate panic for the tests of the panic plumbing.

use super::errors::guarded;
use crate::{error, fastmath};
use pyo3::prelude::*;

/// Which build of the hot loops runs on this CPU: "avx512", "avx2" or "plain".
#[pyfunction]
pub fn simd_level() -> &'static str {
    match fastmath::simd_level() {
        fastmath::SimdLevel::Avx512 => "avx512",
        fastmath::SimdLevel::Avx2 => "avx2",
        fastmath::SimdLevel::Plain => "plain",
    }
}

/// Force the plain (SSE2) path with `False`, or back to the best the CPU has with `True`.
/// Both paths return the same bytes; benchmarks use this to compare their speed.
#[pyfunction]
pub fn set_simd(enabled: bool) {
    fastmath::set_simd(enabled)
}

/// Panics inside the engine on purpose: lets the tests show that a panic surfaces as a
/// RuntimeError instead of aborting the interpreter.
#[pyfunction]
pub fn _panic_for_test() -> PyResult<()> {
    guarded(|| -> error::Result<()> { panic!("deliberate test panic") })
}
