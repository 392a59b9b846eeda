//! Scalar distributions over mechanism and noise parameters ("weights ~ signed uniform
//! on [0.5, 2]", "noise scale ~ Gamma(2, 0.5)"), as they appear in family specs.

use crate::error::{finite, EngineError, Result};
use crate::fastmath::LaneRng;
use crate::params::Span;
use crate::seed::Rng;
use serde::{Deserialize, Serialize};

/// A distribution over one real parameter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Fixed { value: f64 },
    /// Uniform on [low, high].
    Uniform { low: f64, high: f64 },
    /// A random sign times uniform on [low, high] (weights bounded away from zero).
    SignedUniform { low: f64, high: f64 },
    /// Normal(mean, std^2).
    Gaussian { mean: f64, std: f64 },
    /// exp(Uniform[ln low, ln high]).
    LogUniform { low: f64, high: f64 },
    /// Gamma with shape k and scale theta (mean k * theta).
    Gamma { shape: f64, scale: f64 },
}

impl Dist {
    /// Check the parameters; `path` is the dotted location used in messages.
    pub fn validate(&self, path: &str) -> Result<()> {
        let p = |field: &str| format!("{path}.{field}");
        match *self {
            Dist::Fixed { value } => {
                finite(&p("value"), value)?;
            }
            Dist::Uniform { low, high } | Dist::LogUniform { low, high } => {
                finite(&p("low"), low)?;
                finite(&p("high"), high)?;
                if high < low {
                    return Err(EngineError::param(p("high"), high, format!("must be >= low ({low})")));
                }
                if matches!(self, Dist::LogUniform { .. }) && low <= 0.0 {
                    return Err(EngineError::param(p("low"), low, "must be > 0 for log_uniform"));
                }
            }
            Dist::SignedUniform { low, high } => {
                finite(&p("low"), low)?;
                finite(&p("high"), high)?;
                if low < 0.0 {
                    return Err(EngineError::param(p("low"), low, "must be >= 0 (the sign is drawn separately)"));
                }
                if high < low {
                    return Err(EngineError::param(p("high"), high, format!("must be >= low ({low})")));
                }
            }
            Dist::Gaussian { mean, std } => {
                finite(&p("mean"), mean)?;
                finite(&p("std"), std)?;
                if std < 0.0 {
                    return Err(EngineError::param(p("std"), std, "must be >= 0"));
                }
            }
            Dist::Gamma { shape, scale } => {
                for (name, v) in [("shape", shape), ("scale", scale)] {
                    finite(&p(name), v)?;
                    if v <= 0.0 {
                        return Err(EngineError::param(p(name), v, "must be > 0"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Check that every draw is strictly positive, as scales must be.
    pub fn validate_positive(&self, path: &str) -> Result<()> {
        self.validate(path)?;
        let ok = match *self {
            Dist::Fixed { value } => value > 0.0,
            Dist::Uniform { low, .. } => low > 0.0,
            Dist::LogUniform { .. } | Dist::Gamma { .. } => true,
            Dist::SignedUniform { .. } | Dist::Gaussian { .. } => false,
        };
        if ok {
            Ok(())
        } else {
            Err(EngineError::param(
                path,
                format!("{self:?}"),
                "must only produce values > 0: fixed or uniform with low > 0, log_uniform, or gamma",
            ))
        }
    }

    /// One draw.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Dist::Fixed { value } => value,
            Dist::Uniform { low, high } => rng.uniform_in(low, high),
            Dist::SignedUniform { low, high } => {
                // The sign bit set on a failed coin: -magnitude, without a branch that
                // would mispredict half the time.
                let magnitude = rng.uniform_in(low, high);
                let negative = u64::from(!rng.bernoulli(0.5));
                f64::from_bits(magnitude.to_bits() ^ (negative << 63))
            }
            Dist::Gaussian { mean, std } => mean + std * rng.normal(),
            Dist::LogUniform { low, high } => rng.uniform_in(low.ln(), high.ln()).exp(),
            Dist::Gamma { shape, scale } => scale * rng.gamma(shape),
        }
    }

    /// Append `n` draws to `params` as f32 and return their span (Gaussians in bulk).
    pub fn extend(&self, rng: &mut Rng, n: usize, params: &mut Vec<f32>) -> Span {
        match *self {
            Dist::Gaussian { mean, std } => {
                let span = extend_standard_normals(rng, n, params);
                for z in &mut params[span.start..] {
                    *z = (mean + std * f64::from(*z)) as f32;
                }
                span
            }
            _ => Span::push(params, (0..n).map(|_| self.sample(rng) as f32)),
        }
    }
}

/// Below this many draws the scalar generator is cheaper than seeding the lanes.
const BULK_NORMALS: usize = 64;

/// Append `n` standard normals as f32 to `params` and return their span: from
/// [`LaneRng`] in bulk, from the scalar generator for a handful. Either way a pure
/// function of the generator state.
pub fn extend_standard_normals(rng: &mut Rng, n: usize, params: &mut Vec<f32>) -> Span {
    if n < BULK_NORMALS {
        return Span::push(params, (0..n).map(|_| rng.normal() as f32));
    }
    let start = params.len();
    params.resize(start + n, 0.0);
    LaneRng::from_rng(rng).fill_normal(&mut params[start..]);
    Span { start, len: n }
}

/// Check the weights of a mixture: as many as components, finite, >= 0, positive sum.
pub fn validate_mixture_weights(path: &str, n_components: usize, weights: &[f64]) -> Result<()> {
    if n_components == 0 {
        return Err(EngineError::param(format!("{path}.components"), "[]", "must list at least one component"));
    }
    if weights.len() != n_components {
        return Err(EngineError::param(
            format!("{path}.weights"),
            format!("{} weights", weights.len()),
            format!("must give one weight per component ({n_components})"),
        ));
    }
    for (i, w) in weights.iter().enumerate() {
        if !w.is_finite() || *w < 0.0 {
            return Err(EngineError::param(format!("{path}.weights[{i}]"), w, "must be finite and >= 0"));
        }
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err(EngineError::param(format!("{path}.weights"), format!("{weights:?}"), "must have a positive sum"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_parameters_by_name() {
        let e = Dist::Uniform { low: 2.0, high: 1.0 }.validate("w").unwrap_err();
        assert!(e.to_string().contains("w.high"), "{e}");
        let e = Dist::Gaussian { mean: f64::NAN, std: 1.0 }.validate("w").unwrap_err();
        assert!(e.to_string().contains("w.mean = NaN"), "{e}");
        assert!(Dist::Gaussian { mean: 0.0, std: 1.0 }.validate_positive("s").is_err());
        assert!(Dist::Gamma { shape: 2.0, scale: 0.5 }.validate_positive("s").is_ok());
    }

    #[test]
    fn signed_uniform_has_both_signs_and_bounded_magnitude() {
        let mut rng = Rng::new(5);
        let d = Dist::SignedUniform { low: 0.5, high: 2.0 };
        let xs: Vec<f64> = (0..10_000).map(|_| d.sample(&mut rng)).collect();
        assert!(xs.iter().all(|x| (0.5..=2.0).contains(&x.abs())));
        let pos = xs.iter().filter(|x| **x > 0.0).count();
        assert!((4_700..5_300).contains(&pos), "{pos}");
    }
}
