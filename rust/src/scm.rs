//! A drawn structural causal model and ancestral sampling under interventions.

use crate::error::{EngineError, Result};
use crate::fastmath::{simd_enabled, LaneRng};
use crate::graph::Dag;
use crate::mechanism::{Mechanism, Parents};
use crate::noise::Noise;
use crate::seed::Rng;
use serde::{Deserialize, Serialize};

/// Perfect interventions do(X_i = v) for one call to [`Scm::sample_into`].
#[derive(Clone, Copy, Debug)]
pub enum Interventions<'a> {
    /// Purely observational rows.
    None,
    /// The same (node, value) pairs on every row.
    AllRows(&'a [(usize, f32)]),
    /// Per cell: `mask[r * d + i] != 0` sets X_i = `values[r * d + i]` on row r.
    PerRow { mask: &'a [u8], values: &'a [f32] },
}

impl Interventions<'_> {
    /// Check node indices and values against an SCM with `d` nodes and `n` rows.
    pub fn validate(&self, d: usize, n: usize) -> Result<()> {
        match *self {
            Interventions::None => Ok(()),
            Interventions::AllRows(pairs) => {
                for &(i, v) in pairs {
                    if i >= d {
                        return Err(EngineError::param("do node", i, format!("must be a node index in [0, {}]", d - 1)));
                    }
                    if !v.is_finite() {
                        return Err(EngineError::param(format!("do value of node {i}"), v, "must be finite"));
                    }
                }
                Ok(())
            }
            Interventions::PerRow { mask, values } => {
                if mask.len() != n * d || values.len() != n * d {
                    return Err(EngineError::param(
                        "do mask/values shape",
                        format!("{} and {} cells", mask.len(), values.len()),
                        format!("must both be (n, d) = ({n}, {d})"),
                    ));
                }
                for (c, (&m, &v)) in mask.iter().zip(values).enumerate() {
                    if m != 0 && !v.is_finite() {
                        return Err(EngineError::param(format!("do value at row {}, node {}", c / d, c % d), v, "must be finite"));
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether node `i` is intervened on every row (its mechanism need not run).
    fn all_rows_value(&self, i: usize) -> Option<f32> {
        match *self {
            Interventions::AllRows(pairs) => pairs.iter().rev().find(|p| p.0 == i).map(|p| p.1),
            _ => None,
        }
    }
}

/// A DAG with one mechanism and one noise law per node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scm {
    pub dag: Dag,
    pub mechanisms: Vec<Mechanism>,
    pub noises: Vec<Noise>,
}

/// Reusable buffers of one sampling call (columns, noise, two row buffers).
struct Workspace {
    cols: Vec<f32>,
    noise: Vec<f32>,
    out: Vec<f32>,
    scratch: Vec<f32>,
}

impl Scm {
    /// Number of variables.
    pub fn d(&self) -> usize {
        self.dag.d
    }

    /// Whether every mechanism is linear with additive noise.
    pub fn is_linear(&self) -> bool {
        self.mechanisms.iter().all(Mechanism::is_linear)
    }

    /// Draw `n` rows into `out`, row-major with row stride `stride >= d` (the columns
    /// from d to stride are left untouched, so batched tasks can be padded in place).
    /// Noise is drawn for every cell, intervened or not: with the same generator state, an
    /// intervention leaves the values of non-descendants bit for bit unchanged.
    pub fn sample_into(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) {
        #[cfg(target_arch = "x86_64")]
        if simd_enabled() {
            // SAFETY: simd_enabled() is true only when the CPU reports AVX2.
            unsafe { self.sample_avx2(n, ivs, rng, out, stride) };
            return;
        }
        let _ = simd_enabled;
        self.sample_generic(n, ivs, rng, out, stride);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sample_avx2(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) {
        self.sample_generic(n, ivs, rng, out, stride)
    }

    #[inline(always)]
    fn sample_generic(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) {
        let d = self.d();
        let mut ws = Workspace {
            cols: vec![0f32; d * n],
            noise: vec![0f32; d * n],
            out: vec![0f32; n],
            scratch: vec![0f32; n],
        };
        let mut lanes = LaneRng::from_rng(rng);
        for (i, nz) in self.noises.iter().enumerate() {
            nz.fill(&mut lanes, &mut ws.noise[i * n..(i + 1) * n]);
        }
        for &j in &self.dag.order {
            if let Some(v) = ivs.all_rows_value(j) {
                ws.cols[j * n..(j + 1) * n].fill(v);
                continue;
            }
            let parents = Parents::new(&ws.cols, n, &self.dag.parents[j]);
            self.mechanisms[j].eval(parents, &ws.noise[j * n..(j + 1) * n], &mut ws.out, &mut ws.scratch);
            if let Interventions::PerRow { mask, values } = ivs {
                for r in 0..n {
                    if mask[r * d + j] != 0 {
                        ws.out[r] = values[r * d + j];
                    }
                }
            }
            ws.cols[j * n..(j + 1) * n].copy_from_slice(&ws.out);
        }
        for r in 0..n {
            let row = &mut out[r * stride..r * stride + d];
            for (i, x) in row.iter_mut().enumerate() {
                *x = ws.cols[i * n + r];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::tests::spec_with;
    use crate::fastmath::set_simd;
    use crate::mechanism::MechanismSpec;

    fn draw(scm: &Scm, n: usize, ivs: Interventions<'_>, seed: u64) -> Vec<f32> {
        let mut out = vec![0f32; n * scm.d()];
        scm.sample_into(n, ivs, &mut Rng::new(seed), &mut out, scm.d());
        out
    }

    #[test]
    fn simd_and_plain_paths_give_the_same_bytes() {
        for mech in crate::family::tests::all_mechanisms() {
            let scm = spec_with(mech.clone()).sample_scm(4);
            set_simd(true);
            let fast = draw(&scm, 300, Interventions::None, 1);
            set_simd(false);
            let plain = draw(&scm, 300, Interventions::None, 1);
            set_simd(true);
            let same = fast.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{mech:?}");
        }
    }

    #[test]
    fn intervention_only_changes_descendants() {
        let scm = spec_with(MechanismSpec::Linear {
            weights: crate::dist::Dist::SignedUniform { low: 0.5, high: 2.0 },
            bias: crate::dist::Dist::Fixed { value: 0.0 },
        })
        .sample_scm(21);
        let d = scm.d();
        let node = scm.dag.order[d / 2];
        let obs = draw(&scm, 50, Interventions::None, 3);
        let pairs = [(node, 7.5f32)];
        let int = draw(&scm, 50, Interventions::AllRows(&pairs), 3);
        // Descendants of `node` by reachability.
        let mut desc = vec![false; d];
        desc[node] = true;
        for &j in &scm.dag.order {
            if scm.dag.parents[j].iter().any(|&p| desc[p]) {
                desc[j] = true;
            }
        }
        for r in 0..50 {
            assert_eq!(int[r * d + node], 7.5);
            for i in 0..d {
                if !desc[i] {
                    assert_eq!(int[r * d + i].to_bits(), obs[r * d + i].to_bits());
                }
            }
        }
    }

    #[test]
    fn bad_interventions_are_named() {
        let e = Interventions::AllRows(&[(9, 1.0)]).validate(5, 1).unwrap_err().to_string();
        assert!(e.contains("do node = 9") && e.contains("[0, 4]"), "{e}");
        let e = Interventions::AllRows(&[(1, f32::NAN)]).validate(5, 1).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
    }
}
