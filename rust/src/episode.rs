//! The start of CausalBO episodes drawn from a curriculum family: the SCM, its target,
//! the first observations and, for linear SCMs, the exact moments, the intervention
//! bounds and the optimum; many episodes in parallel.
//!
//! An episode is a pure function of its seed: the SCM is the family's SCM of the seed
//! (redrawn from `task_seed(seed, attempt)`, attempt = 1, 2, ... while its graph has no
//! edge, so that a target with a parent exists), the target and the noise stream come
//! from `task_seed(seed, index)` for the indices below, which lie far from the attempts.
//! The arithmetic is that of `envs/episode.py` and `envs/optimum.py` for the same
//! quantities, in float64 operation by operation, so that a batch of any size gives the
//! bits of one episode at a time. Moments of nonlinear SCMs are Monte Carlo estimates
//! left to the caller.

use crate::budget;
use crate::error::{EngineError, Result};
use crate::family::FamilySpec;
use crate::scm::{Interventions, Scm};
use crate::seed::{noise_stream_seed, task_seed, Rng};

/// `task_seed` index of an episode's target choice.
pub const TARGET_INDEX: u64 = u64::MAX - 1;
/// `task_seed` index of an episode's noise stream.
pub const NOISE_INDEX: u64 = u64::MAX - 2;
/// Most SCMs drawn for one episode before its family is declared edgeless.
pub const MAX_DRAWS: u64 = 100;
/// A standard deviation at or below this counts as zero (the node is constant): std 1.
pub const MIN_STD: f64 = 1e-12;

/// The settings every episode of a batch shares.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Padded width D of every array, at least the family's largest node count.
    pub width: usize,
    /// Observational rows drawn at the start.
    pub n_obs: usize,
    /// Intervention range in observational standard deviations around the mean.
    pub range: (f64, f64),
}

/// One started episode, its arrays of width D.
pub struct Start {
    pub scm: Scm,
    /// The SCM's own noise stream, after the first observations were drawn from it.
    pub rng: Rng,
    pub target: usize,
    /// The nodes an action may choose: the SCM's own, less the target.
    pub valid: Vec<bool>,
    /// The target's parents.
    pub parents: Vec<bool>,
    /// (n_obs, D) observational rows, zero-padded.
    pub observations: Vec<f32>,
    /// Exact moments, bounds and optimum of a linear SCM.
    pub linear: Option<LinearStart>,
}

/// The starts of K episodes as named columns, episode k's part of each at row k: the
/// record that `start_episodes` hands to Python under these names. A nonlinear
/// episode's SCM-dependent columns hold [`LinearStart::unknown`] (its moments are the
/// caller's Monte Carlo estimates).
pub struct Starts {
    /// The SCMs, each with its own noise stream after its first observations.
    pub scms: Vec<(Scm, Rng)>,
    /// (K,) each.
    pub target: Vec<i64>,
    pub n_nodes: Vec<i64>,
    pub is_linear: Vec<bool>,
    /// (K, D) each.
    pub valid: Vec<bool>,
    pub parents: Vec<bool>,
    pub effect: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
    /// (K, 4).
    pub optimum: Vec<f64>,
    /// (K, n_obs, D).
    pub observations: Vec<f32>,
}

impl Starts {
    /// The columns of `starts`, in their order; `width` is their D.
    pub fn stack(starts: Vec<Start>, width: usize) -> Starts {
        let k = starts.len();
        let cells = k * width;
        let observations = Vec::with_capacity(starts.iter().map(|s| s.observations.len()).sum());
        let mut out = Starts {
            scms: Vec::with_capacity(k),
            target: Vec::with_capacity(k),
            n_nodes: Vec::with_capacity(k),
            is_linear: Vec::with_capacity(k),
            valid: Vec::with_capacity(cells),
            parents: Vec::with_capacity(cells),
            effect: Vec::with_capacity(cells),
            mean: Vec::with_capacity(cells),
            std: Vec::with_capacity(cells),
            low: Vec::with_capacity(cells),
            high: Vec::with_capacity(cells),
            optimum: Vec::with_capacity(k * 4),
            observations,
        };
        let unknown = LinearStart::unknown(width);
        for start in starts {
            out.target.push(start.target as i64);
            out.n_nodes.push(start.scm.d() as i64);
            out.is_linear.push(start.linear.is_some());
            out.valid.extend_from_slice(&start.valid);
            out.parents.extend_from_slice(&start.parents);
            out.observations.extend_from_slice(&start.observations);
            let known = start.linear.as_ref().unwrap_or(&unknown);
            let columns = [&mut out.effect, &mut out.mean, &mut out.std, &mut out.low, &mut out.high];
            for (column, part) in columns.into_iter().zip([&known.effect, &known.mean, &known.std, &known.low, &known.high]) {
                column.extend_from_slice(part);
            }
            out.optimum.extend_from_slice(&known.optimum);
            out.scms.push((start.scm, start.rng));
        }
        out
    }
}

/// What a linear SCM's episode knows exactly, each of width D (padding: effect 0, mean
/// 0, std 1, bounds from those).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearStart {
    pub effect: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
    /// (node, value, expected target, standard error 0) of the best intervention.
    pub optimum: [f64; 4],
}

impl LinearStart {
    /// What a nonlinear episode's columns hold in its place, the moments being unknown
    /// here: effect 0, mean 0, std 1, bounds 0 and optimum (-1, NaN, NaN, NaN).
    pub fn unknown(width: usize) -> LinearStart {
        let zeros = vec![0.0; width];
        LinearStart { effect: zeros.clone(), mean: zeros.clone(), std: vec![1.0; width], low: zeros.clone(), high: zeros, optimum: [-1.0, f64::NAN, f64::NAN, f64::NAN] }
    }
}

/// The SCM of an episode and its target: the first draw with an edge, and the target
/// `task_seed(seed, TARGET_INDEX) % candidates`-th of the nodes with a parent, in index
/// order.
pub fn draw(spec: &FamilySpec, seed: u64) -> Result<(Scm, usize)> {
    let mut scm = spec.sample_scm(seed);
    let mut attempt = 1;
    while scm.dag.n_edges() == 0 {
        if attempt == MAX_DRAWS {
            return Err(EngineError::param("the family", format!("edgeless in {MAX_DRAWS} draws from episode seed {seed}"), "must give graphs with an edge (a target needs a parent)"));
        }
        scm = spec.sample_scm(task_seed(seed, attempt));
        attempt += 1;
    }
    let candidates: Vec<usize> = (0..scm.d()).filter(|&j| !scm.dag.parents(j).is_empty()).collect();
    let pick = task_seed(seed, TARGET_INDEX) % candidates.len() as u64;
    let target = candidates[pick as usize];
    Ok((scm, target))
}

/// The exact moments of a linear SCM padded to `width`, its intervention bounds and its
/// best intervention on the nodes of `valid`.
pub fn linear_start(scm: &Scm, target: usize, valid: &[bool], range: (f64, f64)) -> Result<LinearStart> {
    let width = valid.len();
    let moments = scm.linear_moments(target)?;
    let d = scm.d();
    let (mut effect, mut mean, mut std) = (vec![0.0; width], vec![0.0; width], vec![1.0; width]);
    effect[..d].copy_from_slice(&moments.effect);
    mean[..d].copy_from_slice(&moments.mean);
    for (s, &m) in std.iter_mut().zip(&moments.std) {
        *s = if m > MIN_STD { m } else { 1.0 };
    }
    // Rounded to float32, the precision at which the engine sets values, so that every
    // decoded value lies inside.
    let bound = |r: f64| -> Vec<f64> { mean.iter().zip(&std).map(|(m, s)| f64::from((m + r * s) as f32)).collect() };
    let (low, high) = (bound(range.0), bound(range.1));
    let optimum = linear_optimum(&effect, &mean, target, &low, &high, valid);
    Ok(LinearStart { effect, mean, std, low, high, optimum })
}

/// The best intervention of a linear SCM: E[target | do(X_i = v)] = mean_Y + effect[i]
/// (v - mean[i]) is affine in v, so only the ends of each valid node's interval are
/// candidates; ties go to the lowest node, then to its low end. (node, value, expected, 0).
pub fn linear_optimum(effect: &[f64], mean: &[f64], target: usize, low: &[f64], high: &[f64], valid: &[bool]) -> [f64; 4] {
    let mean_y = mean[target];
    let mut best = [0.0, low[0], f64::INFINITY, 0.0];
    let mut first = true;
    for i in 0..valid.len() {
        for end in [low[i], high[i]] {
            let expected = if valid[i] { mean_y + effect[i] * (end - mean[i]) } else { f64::INFINITY };
            // numpy's argmin: the first minimum, NaN counting as the minimum.
            if first || expected < best[2] || (expected.is_nan() && !best[2].is_nan()) {
                best = [i as f64, end, expected, 0.0];
                first = false;
            }
        }
    }
    best
}

/// Start the episode of `seed`: [`draw`], its noise stream, the first `n_obs`
/// observations from that stream and, for a linear SCM, [`linear_start`] (the target is
/// not a valid node, nor are the padded ones).
pub fn start(spec: &FamilySpec, seed: u64, settings: &Settings) -> Result<Start> {
    let (scm, target) = draw(spec, seed)?;
    let (d, width) = (scm.d(), settings.width);
    if d > width {
        return Err(EngineError::param("width", width, format!("must be at least the SCM's {d} nodes")));
    }
    let mut rng = Rng::new(noise_stream_seed(task_seed(seed, NOISE_INDEX)));
    let mut observations = budget::zeroed("the first observations", settings.n_obs * width)?;
    if settings.n_obs > 0 {
        let sampled = scm.sample_into(settings.n_obs, Interventions::None, &mut rng, &mut observations, width);
        sampled.map_err(|e| e.non_finite_in(|| format!("the start of the episode of seed {seed}")))?;
    }
    let valid: Vec<bool> = (0..width).map(|i| i < d && i != target).collect();
    let mut parents = vec![false; width];
    for &p in scm.dag.parents(target) {
        parents[p] = true;
    }
    let linear = if scm.is_linear() { Some(linear_start(&scm, target, &valid, settings.range)?) } else { None };
    Ok(Start { scm, rng, target, valid, parents, observations, linear })
}

/// [`start`] for every seed, in parallel, as columns; the first error stops the rest.
pub fn start_all(spec: &FamilySpec, seeds: &[u64], settings: &Settings) -> Result<Starts> {
    budget::total(
        "the episodes' memory",
        &[budget::within("len(seeds)", &[seeds.len()], spec.scm_bytes())?, budget::within("len(seeds) * (n_obs + width) * width", &[seeds.len(), settings.n_obs + settings.width, settings.width], 4)?],
    )?;
    let starts = crate::parallel::map(seeds, |&seed| start(spec, seed, settings))?.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(Starts::stack(starts, settings.width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Dist;
    use crate::family::tests::spec_with;
    use crate::mechanism::MechanismSpec;

    fn linear_spec() -> FamilySpec {
        spec_with(MechanismSpec::Linear { weights: Dist::SignedUniform { low: 0.5, high: 2.0 }, bias: Dist::Uniform { low: -1.0, high: 1.0 } })
    }

    #[test]
    fn the_target_has_a_parent_and_is_a_pure_function_of_the_seed() {
        let spec = linear_spec();
        for seed in 0..50 {
            let (scm, target) = draw(&spec, seed).unwrap();
            assert!(!scm.dag.parents(target).is_empty());
            assert_eq!(draw(&spec, seed).unwrap().1, target);
            assert_eq!(scm, spec.sample_scm(seed)); // these graphs always have edges
        }
    }

    #[test]
    fn an_edgeless_family_is_refused_after_max_draws() {
        let mut spec = linear_spec();
        spec.graph = crate::graph::GraphSpec::Er { edge_prob: Some(0.0), edges_per_node: None };
        let e = draw(&spec, 3).err().unwrap().to_string();
        assert!(e.contains("edgeless in 100 draws") && e.contains("seed 3"), "{e}");
    }

    /// The optimum against a brute-force search over both ends of every valid node.
    #[test]
    fn the_linear_optimum_is_the_best_end_of_a_valid_node() {
        let effect = [0.5, -2.0, 0.0, 3.0];
        let mean = [1.0, 0.0, 2.0, -1.0];
        let (low, high) = ([-1.0, -1.0, 0.0, -3.0], [3.0, 1.0, 4.0, 1.0]);
        // Target 2. Node 3 would reach 2 + 3 * (-3 + 1) = -4 but is not valid; node 1 at
        // its high end gives 2 - 2 * 1 = 0, node 0 at its low end 2 + 0.5 * -2 = 1.
        let got = linear_optimum(&effect, &mean, 2, &low, &high, &[true, true, false, false]);
        assert_eq!(got, [1.0, 1.0, 0.0, 0.0]);
        // A tie between node 0's ends (effect 0) goes to its low end.
        let got = linear_optimum(&[0.0, 0.0], &[0.0, 0.0], 1, &[-1.0, -1.0], &[1.0, 1.0], &[true, false]);
        assert_eq!(got, [0.0, -1.0, 0.0, 0.0]);
    }

    #[test]
    fn the_valid_nodes_are_the_scms_but_the_target_and_the_parents_its_column() {
        let got = start(&linear_spec(), 4, &Settings { width: 13, n_obs: 0, range: (-2.0, 2.0) }).unwrap();
        let d = got.scm.d();
        for i in 0..13 {
            assert_eq!(got.valid[i], i < d && i != got.target, "node {i}");
            assert_eq!(got.parents[i], i < d && got.scm.dag.adj[i * d + got.target] == 1, "node {i}");
        }
        assert!(got.parents.iter().any(|&p| p));
    }

    /// Row k of every column is seed k's start, linear or not (a nonlinear one holds
    /// `LinearStart::unknown`), whatever the batch.
    #[test]
    fn the_columns_of_a_batch_are_its_starts_one_after_another() {
        let unknown = LinearStart::unknown(2);
        assert_eq!([unknown.effect, unknown.mean, unknown.std, unknown.low, unknown.high], [[0.0; 2], [0.0; 2], [1.0; 2], [0.0; 2], [0.0; 2]]);
        assert!(unknown.optimum[0] == -1.0 && unknown.optimum[1..].iter().all(|x| x.is_nan()));
        let settings = Settings { width: 12, n_obs: 2, range: (-1.5, 2.0) };
        let seeds = [3, 1, 4, 1, 5];
        let square = spec_with(MechanismSpec::Square { weights: Dist::Fixed { value: 1.0 } });
        for (spec, linear) in [(linear_spec(), true), (square, false)] {
            let all = start_all(&spec, &seeds, &settings).unwrap();
            assert_eq!(all.scms.len(), seeds.len());
            assert!(all.is_linear.iter().all(|&l| l == linear));
            for (k, &seed) in seeds.iter().enumerate() {
                let one = start(&spec, seed, &settings).unwrap();
                let known = one.linear.clone().unwrap_or_else(|| LinearStart::unknown(12));
                let (row, wide) = (k..k + 1, k * 12..(k + 1) * 12);
                assert_eq!((&all.target[row.clone()], &all.n_nodes[row.clone()]), (&[one.target as i64][..], &[one.scm.d() as i64][..]));
                assert_eq!((&all.valid[wide.clone()], &all.parents[wide.clone()]), (&one.valid[..], &one.parents[..]));
                for (column, part) in [(&all.effect, &known.effect), (&all.mean, &known.mean), (&all.std, &known.std), (&all.low, &known.low), (&all.high, &known.high)] {
                    assert_eq!(&column[wide.clone()], &part[..]);
                }
                let optimum = &all.optimum[k * 4..(k + 1) * 4];
                assert!(optimum.iter().zip(&known.optimum).all(|(a, b)| a.to_bits() == b.to_bits()), "{optimum:?}");
                assert_eq!(&all.observations[k * 24..(k + 1) * 24], &one.observations[..]);
                assert_eq!(all.scms[k], (one.scm, one.rng));
            }
        }
    }

    #[test]
    fn a_start_draws_its_observations_from_the_noise_stream() {
        let spec = linear_spec();
        let settings = Settings { width: 14, n_obs: 3, range: (-2.0, 2.0) };
        let got = start(&spec, 9, &settings).unwrap();
        let d = got.scm.d();
        let mut rng = Rng::new(noise_stream_seed(task_seed(9, NOISE_INDEX)));
        let mut rows = vec![0f32; 3 * d];
        got.scm.sample_into(3, Interventions::None, &mut rng, &mut rows, d).unwrap();
        for r in 0..3 {
            assert_eq!(&got.observations[r * 14..r * 14 + d], &rows[r * d..(r + 1) * d]);
            assert!(got.observations[r * 14 + d..(r + 1) * 14].iter().all(|&x| x == 0.0));
        }
        assert_eq!(got.rng, rng);
        let linear = got.linear.unwrap();
        let moments = got.scm.linear_moments(got.target).unwrap();
        assert_eq!(&linear.mean[..d], moments.mean.as_slice());
        assert_eq!(linear.std[d..], [1.0, 1.0]);
        for i in 0..14 {
            assert_eq!(linear.low[i], f64::from((linear.mean[i] - 2.0 * linear.std[i]) as f32));
        }
        assert_ne!(linear.optimum[0] as usize, got.target);
        let wide = start(&spec, 9, &Settings { width: 11, ..settings });
        assert!(wide.err().unwrap().to_string().contains("width = 11"));
    }
}
