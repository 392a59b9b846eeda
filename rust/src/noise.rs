//! Exogenous noise: a family per node and a scale drawn per node.

use crate::dist::{validate_mixture_weights, Dist};
use crate::error::Result;
use crate::fastmath::{ln_f32, sincos_f32, LaneRng};
use crate::seed::Rng;
use serde::{Deserialize, Serialize};

/// A distribution over noise laws (one per node is drawn).
///
/// `scale` is the standard deviation for gaussian and uniform noise (uniform on
/// [-sqrt(3) s, sqrt(3) s]), the scale b of the Laplace law (std sqrt(2) b) and the
/// half-width at half-maximum of the Cauchy law (which has no variance).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NoiseSpec {
    Gaussian { scale: Dist },
    Laplace { scale: Dist },
    Cauchy { scale: Dist },
    Uniform { scale: Dist },
    Mixture {
        components: Vec<NoiseSpec>,
        weights: Vec<f64>,
    },
}

/// The law of one node's noise.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum NoiseKind {
    Gaussian,
    Laplace,
    Cauchy,
    Uniform,
}

/// One node's drawn noise law.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Noise {
    pub kind: NoiseKind,
    pub scale: f32,
}

impl NoiseSpec {
    /// Check every parameter; scales must be positive.
    pub fn validate(&self, path: &str) -> Result<()> {
        match self {
            NoiseSpec::Gaussian { scale }
            | NoiseSpec::Laplace { scale }
            | NoiseSpec::Cauchy { scale }
            | NoiseSpec::Uniform { scale } => scale.validate_positive(&format!("{path}.scale")),
            NoiseSpec::Mixture { components, weights } => {
                validate_mixture_weights(path, components.len(), weights)?;
                for (i, c) in components.iter().enumerate() {
                    c.validate(&format!("{path}.components[{i}]"))?;
                }
                Ok(())
            }
        }
    }

    /// Draw one node's noise law.
    pub fn instantiate(&self, rng: &mut Rng) -> Noise {
        let (kind, scale) = match self {
            NoiseSpec::Mixture { components, weights } => return components[rng.categorical(weights)].instantiate(rng),
            NoiseSpec::Gaussian { scale } => (NoiseKind::Gaussian, scale),
            NoiseSpec::Laplace { scale } => (NoiseKind::Laplace, scale),
            NoiseSpec::Cauchy { scale } => (NoiseKind::Cauchy, scale),
            NoiseSpec::Uniform { scale } => (NoiseKind::Uniform, scale),
        };
        Noise { kind, scale: scale.sample(rng) as f32 }
    }
}

impl NoiseKind {
    /// Short name, as in the spec's `type` field.
    pub fn name(self) -> &'static str {
        match self {
            NoiseKind::Gaussian => "gaussian",
            NoiseKind::Laplace => "laplace",
            NoiseKind::Cauchy => "cauchy",
            NoiseKind::Uniform => "uniform",
        }
    }
}

impl Noise {
    /// The law's variance (see [`NoiseSpec`] for what the scale means per law); None for
    /// Cauchy noise, which has none.
    pub fn variance(&self) -> Option<f64> {
        let s2 = f64::from(self.scale) * f64::from(self.scale);
        match self.kind {
            NoiseKind::Gaussian | NoiseKind::Uniform => Some(s2),
            NoiseKind::Laplace => Some(2.0 * s2),
            NoiseKind::Cauchy => None,
        }
    }

    /// Fill `out` with independent draws of this law.
    #[inline(always)]
    pub fn fill(&self, lanes: &mut LaneRng, out: &mut [f32]) {
        let s = self.scale;
        match self.kind {
            NoiseKind::Gaussian => {
                lanes.fill_normal(out);
                for x in out.iter_mut() {
                    *x *= s;
                }
            }
            NoiseKind::Uniform => {
                lanes.fill_uniform(out);
                let width = 2.0 * 3f32.sqrt() * s;
                for x in out.iter_mut() {
                    *x = (*x - 0.5) * width;
                }
            }
            NoiseKind::Laplace => {
                lanes.fill_uniform(out);
                for x in out.iter_mut() {
                    // Inverse CDF: -b sign(u - 1/2) ln(1 - 2 |u - 1/2|); u is in (0, 1) so the log is finite.
                    let c = *x - 0.5;
                    let mag = -s * ln_f32(1.0 - 2.0 * c.abs());
                    *x = f32::from_bits(mag.to_bits() ^ (c.to_bits() & 0x8000_0000));
                }
            }
            NoiseKind::Cauchy => {
                lanes.fill_uniform(out);
                for x in out.iter_mut() {
                    let (sn, cs) = sincos_f32(std::f32::consts::PI * (*x - 0.5));
                    *x = s * sn / cs;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(kind: NoiseKind, scale: f32, n: usize) -> Vec<f64> {
        let mut rng = Rng::new(9);
        let mut lanes = LaneRng::from_rng(&mut rng);
        let mut out = vec![0f32; n];
        Noise { kind, scale }.fill(&mut lanes, &mut out);
        out.into_iter().map(f64::from).collect()
    }

    fn var(xs: &[f64]) -> f64 {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64
    }

    #[test]
    fn scales_give_the_documented_spread() {
        let n = 400_000;
        assert!((var(&draws(NoiseKind::Gaussian, 2.0, n)) - 4.0).abs() < 0.05);
        assert!((var(&draws(NoiseKind::Uniform, 2.0, n)) - 4.0).abs() < 0.05);
        assert!((var(&draws(NoiseKind::Laplace, 1.5, n)) - 2.0 * 2.25).abs() < 0.08);
        // Cauchy: the median of |x| equals the scale.
        let mut a: Vec<f64> = draws(NoiseKind::Cauchy, 0.7, n).into_iter().map(f64::abs).collect();
        a.sort_by(|x, y| x.partial_cmp(y).unwrap());
        assert!((a[n / 2] - 0.7).abs() < 0.01, "{}", a[n / 2]);
    }
}
