//! Exact moments of linear SCMs, x_j = sum_p w_pj x_p + b_j + noise_j, and their total
//! effects, by propagation along a topological order.
//!
//! With B = (I - W)^{-1}, B[i, j] is the total effect of i on j, the mean is B^T b and
//! var(x_j) = sum_i B[i, j]^2 var(noise_i). Propagating B column by column in
//! topological order (B[., j] = e_j + sum_p w_pj B[., p]) costs d * edges operations
//! instead of the d^3 of an inverse, needs no LAPACK, and gives exact zeros for the
//! nodes that are not ancestors. The environment calls this for every episode start.

use crate::error::{node_index, EngineError, Result};
use crate::mechanism::Mechanism;
use crate::scm::Scm;

/// Observational mean and standard deviation of every node, and the total effect of
/// every node on one target node.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearMoments {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// `effect[i]` = dE[target | do(X_i = v)] / dv: 1 for the target itself, 0 for the
    /// nodes that are not its ancestors.
    pub effect: Vec<f64>,
}

impl Scm {
    /// The [`LinearMoments`] of this SCM for node `target`, in float64. Refuses SCMs with
    /// a mechanism that is not linear or a noise law without a variance (Cauchy).
    pub fn linear_moments(&self, target: usize) -> Result<LinearMoments> {
        let d = self.d();
        node_index("target", target, d)?;
        let mut noise_var = Vec::with_capacity(d);
        for (j, nz) in self.noises.iter().enumerate() {
            noise_var.push(nz.variance().ok_or_else(|| {
                EngineError::param(format!("noise of node {j}"), nz.kind.name(), "must have a finite variance (not cauchy)")
            })?);
        }
        // effects[i * d + j] = B[i, j], filled column j at a time in topological order.
        let mut effects = vec![0f64; d * d];
        let mut mean = vec![0f64; d];
        for &j in &self.dag.order {
            let Mechanism::Linear { w, b } = self.mechanisms[j] else {
                return Err(EngineError::param(format!("mechanism of node {j}"), self.mechanisms[j].name(), "must be linear"));
            };
            let mut m = f64::from(b);
            effects[j * d + j] = 1.0;
            for (&p, &wp) in self.dag.parents(j).iter().zip(w.of(&self.params)) {
                let wp = f64::from(wp);
                m += wp * mean[p];
                for i in 0..d {
                    effects[i * d + j] += wp * effects[i * d + p];
                }
            }
            mean[j] = m;
        }
        let std = (0..d)
            .map(|j| {
                let var: f64 = (0..d).map(|i| effects[i * d + j] * effects[i * d + j] * noise_var[i]).sum();
                var.sqrt()
            })
            .collect();
        let effect = (0..d).map(|i| effects[i * d + target]).collect();
        Ok(LinearMoments { mean, std, effect })
    }

    /// `(W, b)` of a linear SCM, x = W^T x + b + noise, in float64: W row-major (d, d)
    /// with W[i, j] the weight of edge i -> j. Refuses an SCM with a mechanism that is not
    /// linear.
    pub fn linear_parameters(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let d = self.d();
        let (mut w, mut b) = (vec![0f64; d * d], vec![0f64; d]);
        for (j, m) in self.mechanisms.iter().enumerate() {
            let Mechanism::Linear { w: wj, b: bj } = *m else {
                return Err(EngineError::refused(format!(
                    "linear_parameters: node {j} has a {} mechanism; only SCMs whose mechanisms are all linear have them",
                    m.name()
                )));
            };
            for (&p, &wp) in self.dag.parents(j).iter().zip(wj.of(&self.params)) {
                w[p * d + j] = f64::from(wp);
            }
            b[j] = f64::from(bj);
        }
        Ok((w, b))
    }
}

/// [`Scm::linear_moments`] of many (SCM, target) pairs in parallel, in order; the first
/// refusal names its SCM as `scms[k]`.
pub fn linear_moments_of(jobs: &[(&Scm, usize)]) -> Result<Vec<LinearMoments>> {
    let results = crate::parallel::map(jobs, |(scm, target)| scm.linear_moments(*target))?;
    results
        .into_iter()
        .enumerate()
        .map(|(k, result)| result.map_err(|e| EngineError::refused(format!("scms[{k}] has no exact linear moments: {e}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::graph::Dag;
    use crate::mechanism::MechanismSpec;
    use crate::params::Span;
    use crate::noise::{Noise, NoiseKind};

    /// 0 -> 1 -> 2 and 0 -> 2 with weights 2, 3 and -1, biases 1, 0, 0.5.
    fn triangle(noise: NoiseKind) -> Scm {
        let dag = Dag::from_adjacency(3, vec![0, 1, 1, 0, 0, 1, 0, 0, 0]).unwrap();
        let mut params = Vec::new();
        let mechanisms = vec![
            Mechanism::Linear { w: Span::push(&mut params, []), b: 1.0 },
            Mechanism::Linear { w: Span::push(&mut params, [2.0]), b: 0.0 },
            Mechanism::Linear { w: Span::push(&mut params, [-1.0, 3.0]), b: 0.5 },
        ];
        Scm::new(dag, mechanisms, params, vec![Noise { kind: noise, scale: 1.0 }; 3])
    }

    #[test]
    fn moments_of_a_triangle_match_the_hand_computation() {
        // x1 = 2 x0 + e1, x2 = -x0 + 3 x1 + 0.5 + e2 = 5 x0 + 3 e1 + e2 + 0.5.
        let m = triangle(NoiseKind::Gaussian).linear_moments(2).unwrap();
        assert_eq!(m.mean, vec![1.0, 2.0, 5.5]);
        assert_eq!(m.effect, vec![5.0, 3.0, 1.0]);
        assert_eq!(m.std, vec![1.0, 5f64.sqrt(), 35f64.sqrt()]);
        // The target's descendants cannot move it.
        assert_eq!(triangle(NoiseKind::Gaussian).linear_moments(0).unwrap().effect, vec![1.0, 0.0, 0.0]);
        // Laplace noise of scale b has variance 2 b^2.
        let m = triangle(NoiseKind::Laplace).linear_moments(2).unwrap();
        assert_eq!(m.std[0], 2f64.sqrt());
    }

    #[test]
    fn refusals_name_the_node() {
        let e = triangle(NoiseKind::Cauchy).linear_moments(2).unwrap_err().to_string();
        assert!(e.contains("noise of node 0 = cauchy"), "{e}");
        let e = triangle(NoiseKind::Gaussian).linear_moments(3).unwrap_err().to_string();
        assert!(e.contains("target = 3") && e.contains("[0, 2]"), "{e}");
        let mlp = crate::family::tests::spec_with(MechanismSpec::Square { weights: Dist::Fixed { value: 1.0 } }).sample_scm(0);
        let e = mlp.linear_moments(0).unwrap_err().to_string();
        assert!(e.contains("mechanism of node") && e.contains("square"), "{e}");
        let e = mlp.linear_parameters().unwrap_err().to_string();
        assert!(e.starts_with("linear_parameters: node ") && e.contains("square mechanism"), "{e}");
    }

    #[test]
    fn parameters_of_a_triangle_are_its_weights() {
        let (w, b) = triangle(NoiseKind::Gaussian).linear_parameters().unwrap();
        assert_eq!(w, vec![0.0, 2.0, -1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]);
        assert_eq!(b, vec![1.0, 0.0, 0.5]);
    }

    #[test]
    fn batched_moments_name_the_scm_at_fault() {
        let (good, cauchy) = (triangle(NoiseKind::Gaussian), triangle(NoiseKind::Cauchy));
        let all = linear_moments_of(&[(&good, 2), (&good, 0)]).unwrap();
        assert_eq!(all, vec![good.linear_moments(2).unwrap(), good.linear_moments(0).unwrap()]);
        let e = linear_moments_of(&[(&good, 2), (&cauchy, 2), (&cauchy, 1)]).unwrap_err().to_string();
        assert!(e.starts_with("scms[1] has no exact linear moments: noise of node 0 = cauchy"), "{e}");
    }
}
