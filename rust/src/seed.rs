//! Counter-based seeding and the scalar generator.
//!
//! The seeding contract of the project is that task `k` of a stream is a pure
//! function of `(base_seed, k)`. [`task_seed`] hashes the pair into one 64-bit seed, and
//! every random draw of the task comes from generators seeded by it. No generator is shared
//! between tasks, so the bytes of a task do not depend on thread count or batch split.

use serde::{Deserialize, Serialize};

/// One step of SplitMix64: a bijective mixer that turns correlated seeds into
/// well-spread generator states.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of task `index` of the stream `base_seed`.
///
/// Two rounds of mixing so that neighbouring indices and neighbouring base seeds give
/// unrelated seeds (a plain `base_seed + index` would make stream 1 task 0 equal stream 0
/// task 1).
pub fn task_seed(base_seed: u64, index: u64) -> u64 {
    let mut s = base_seed ^ 0x6A09_E667_F3BC_C909;
    let stream = splitmix64(&mut s);
    let mut t = stream ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut t)
}

/// Seed of an SCM's own noise stream given its noise seed (the seed that drew the SCM,
/// or the one `Scm.seed_noise` gets): distinct from the seed that drew the SCM.
pub fn noise_stream_seed(seed: u64) -> u64 {
    task_seed(seed, u64::MAX)
}

/// xoshiro256++: the scalar generator for graphs and parameters (a few hundred draws per
/// task). Bulk noise uses [`crate::fastmath::LaneRng`] instead.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Whether the state can generate: xoshiro's all-zero state only ever yields zeros.
    pub fn is_valid(&self) -> bool {
        self.s.iter().any(|&x| x != 0)
    }

    /// A generator whose whole state is derived from one seed.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// Next raw 64 bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on [low, high).
    #[inline]
    pub fn uniform_in(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Bernoulli(p).
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform integer in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        let n = n as u64;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let low = m as u64;
            if low >= n || low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Standard normal by Box-Muller on libm functions; parameters only, so exactness over speed.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang (2000), with the shape < 1 boost.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Index drawn with probability proportional to `weights` (all finite and >= 0, sum > 0).
    pub fn categorical(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut u = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }

    /// A uniformly random permutation of 0..n (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_seeds_are_pure_and_distinct() {
        assert_eq!(task_seed(7, 3), task_seed(7, 3));
        assert_ne!(task_seed(7, 3), task_seed(7, 4));
        assert_ne!(task_seed(1, 0), task_seed(0, 1));
    }

    #[test]
    fn below_is_uniform() {
        let mut rng = Rng::new(1);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[rng.below(7)] += 1;
        }
        for c in counts {
            assert!((c as f64 - 10_000.0).abs() < 500.0, "{counts:?}");
        }
    }

    #[test]
    fn gamma_moments() {
        let mut rng = Rng::new(2);
        for shape in [0.5, 2.0, 7.5] {
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| rng.gamma(shape)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            // Gamma(k, 1): mean k, variance k; 5 standard errors.
            assert!((mean - shape).abs() < 5.0 * (shape / n as f64).sqrt(), "{shape} {mean}");
            assert!((var - shape).abs() < 0.05 * shape + 0.02, "{shape} {var}");
        }
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut rng = Rng::new(3);
        let mut p = rng.permutation(50);
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }
}
