//! One CausalBO step in many environments at once: decode each action, draw the rows of
//! its intervention, write them standardised into the observation buffers, and score the
//! step (reward, best target so far, exact expected target of linear SCMs).
//!
//! The arithmetic is the single environment's (`envs/causal_bo.py`), operation by
//! operation in float64, so that a vector environment stepped here gives the bits of
//! N single environments: numpy's and Python's float64 operations are IEEE operations,
//! and Rust neither reorders nor fuses them. Where Python's `min`/`max` and numpy's
//! clipping treat NaN differently from `f64::min`/`f64::max`, the helpers below follow
//! Python.

use crate::error::{EngineError, Result};
use crate::scm::{Interventions, Scm};
use crate::seed::Rng;
use std::ops::Range;

/// The reward's weights and the two clipping bounds of an environment.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub w_target: f64,
    pub w_parent: f64,
    pub w_info: f64,
    /// Bound of a standardised observation value.
    pub value_clip: f64,
    /// Bound of the standardised target in the reward.
    pub target_clip: f64,
}

/// One environment's observation buffers: `values` and `intervened` are (T, D) row-major,
/// `row_mask` is (T,).
pub struct Observation<'a> {
    pub values: &'a mut [f32],
    pub intervened: &'a mut [i8],
    pub row_mask: &'a mut [i8],
}

/// What a step reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    pub node: usize,
    /// The value set, in float32 as the engine sets it.
    pub value: f32,
    /// Mean of the step's target values, summed row by row in float64.
    pub y: f64,
    pub reward: f64,
    pub is_parent: bool,
    /// E[target | do(node = value)]: exact for a linear SCM with an optimum, else NaN.
    pub expected: f64,
}

/// numpy's `minimum(maximum(x, -bound), bound)`: NaN stays NaN.
#[inline]
fn clip(x: f64, bound: f64) -> f64 {
    if x.is_nan() { x } else { x.max(-bound).min(bound) }
}

/// The chosen node and value of a finite action (D + 1 entries): the first highest score
/// among the valid nodes (node 0 if none is valid), and the last entry clipped to [-1, 1]
/// and mapped affinely onto [low, high] of that node, rounded to float32
/// (`envs.actions.decode_actions`).
pub fn decode(action: &[f64], valid: &[bool], low: &[f64], high: &[f64]) -> (usize, f32) {
    let d = valid.len();
    let mut node = 0;
    let mut best = f64::NEG_INFINITY;
    for (i, (&score, &ok)) in action[..d].iter().zip(valid).enumerate() {
        if ok && score > best {
            best = score;
            node = i;
        }
    }
    let (lo, hi) = (low[node], high[node]);
    let position = (action[d].clamp(-1.0, 1.0) + 1.0) / 2.0;
    (node, (lo + position * (hi - lo)) as f32)
}

/// The episodes' constants of `count` environments, flat row-major arrays of width D.
#[derive(Clone, Copy, Debug)]
pub struct Constants<'a> {
    pub width: usize,
    /// (count, D) each.
    pub valid: &'a [bool],
    pub parents: &'a [bool],
    pub low: &'a [f64],
    pub high: &'a [f64],
    pub mean: &'a [f64],
    pub std: &'a [f64],
    pub effect: &'a [f64],
    /// (count,) each.
    pub target: &'a [i64],
    pub is_linear: &'a [bool],
    pub has_optimum: &'a [bool],
}

/// The state that a step updates, of `count` environments with T = `rows` rows.
pub struct Buffers<'a> {
    pub rows: usize,
    /// (count,) steps taken in each episode.
    pub steps: &'a mut [i64],
    /// (count,) best target value so far.
    pub best: &'a mut [f64],
    /// (count, T, D) standardised samples.
    pub values: &'a mut [f32],
    /// (count, T, D) 1 where do() set the value.
    pub intervened: &'a mut [i8],
    /// (count, T) 1 for filled rows.
    pub row_mask: &'a mut [i8],
}

/// An error naming an array whose length does not fit the batch.
fn length(name: &str, len: usize, shape: &str, cells: usize) -> EngineError {
    EngineError::param(format!("{name} length"), len, format!("must be {shape} = {cells} cells"))
}

impl Constants<'_> {
    /// Check every array against `count` environments of width D.
    pub fn check(&self, count: usize) -> Result<()> {
        let cells = count * self.width;
        let wide = [("valid", self.valid.len()), ("parents", self.parents.len())];
        let wide_f = [("low", self.low.len()), ("high", self.high.len()), ("mean", self.mean.len()), ("std", self.std.len()), ("effect", self.effect.len())];
        for (name, len) in wide.into_iter().chain(wide_f) {
            if len != cells {
                return Err(length(name, len, "(count, D)", cells));
            }
        }
        for (name, len) in [("target", self.target.len()), ("is_linear", self.is_linear.len()), ("has_optimum", self.has_optimum.len())] {
            if len != count {
                return Err(length(name, len, "(count,)", count));
            }
        }
        Ok(())
    }

    /// The constants of environment k alone: a batch of one, as [`step`] takes it.
    pub fn row(&self, k: usize) -> Constants<'_> {
        let wide = k * self.width..(k + 1) * self.width;
        Constants {
            width: self.width,
            valid: &self.valid[wide.clone()],
            parents: &self.parents[wide.clone()],
            low: &self.low[wide.clone()],
            high: &self.high[wide.clone()],
            mean: &self.mean[wide.clone()],
            std: &self.std[wide.clone()],
            effect: &self.effect[wide],
            target: &self.target[k..k + 1],
            is_linear: &self.is_linear[k..k + 1],
            has_optimum: &self.has_optimum[k..k + 1],
        }
    }
}

/// The SCM and noise stream of one environment.
pub type Stream<'a> = (&'a Scm, &'a mut Rng);

/// One step in every environment k with `stepping[k]`, in parallel: [`step`] with action
/// row k of `actions` ((count, D + 1)), at row `n_obs + steps[k] * m`, after which
/// `steps[k]` grows by one and `best[k]` takes the new target value if lower. The others
/// are left as they are and report `Outcome::default()`.
#[allow(clippy::too_many_arguments)]
pub fn step_all(streams: Vec<Stream<'_>>, consts: &Constants<'_>, buffers: Buffers<'_>, actions: &[f64], stepping: &[bool], m: usize, n_obs: usize, rules: &Rules) -> Result<Vec<Outcome>> {
    let (count, d, t) = (streams.len(), consts.width, buffers.rows);
    consts.check(count)?;
    for (name, len, shape, cells) in [
        ("actions", actions.len(), "(count, D + 1)", count * (d + 1)),
        ("stepping", stepping.len(), "(count,)", count),
        ("steps", buffers.steps.len(), "(count,)", count),
        ("best", buffers.best.len(), "(count,)", count),
        ("values", buffers.values.len(), "(count, T, D)", count * t * d),
        ("intervened", buffers.intervened.len(), "(count, T, D)", count * t * d),
        ("row_mask", buffers.row_mask.len(), "(count, T)", count * t),
    ] {
        if len != cells {
            return Err(length(name, len, shape, cells));
        }
    }
    let mut outcomes = vec![Outcome::default(); count];
    let Buffers { steps, best, values, intervened, row_mask, .. } = buffers;
    let mut jobs = Vec::with_capacity(count);
    let slots = values.chunks_exact_mut(t * d).zip(intervened.chunks_exact_mut(t * d)).zip(row_mask.chunks_exact_mut(t));
    let state = steps.iter_mut().zip(best.iter_mut()).zip(outcomes.iter_mut());
    for (k, (((stream, ((values, intervened), row_mask)), ((steps, best), out)), action)) in streams.into_iter().zip(slots).zip(state).zip(actions.chunks_exact(d + 1)).enumerate() {
        if !stepping[k] {
            continue;
        }
        let first_row = usize::try_from(*steps).ok().and_then(|s| s.checked_mul(m)).and_then(|r| r.checked_add(n_obs));
        let first_row = first_row.ok_or_else(|| EngineError::param(format!("steps[{k}]"), *steps, "must be a step count >= 0 whose rows fit the observation"))?;
        jobs.push((k, stream, consts.row(k), action, Observation { values, intervened, row_mask }, first_row, steps, best, out));
    }
    crate::parallel::for_each(&mut jobs, |(k, (scm, rng), ep, action, obs, first_row, steps, best, out)| {
        let obs = Observation { values: &mut *obs.values, intervened: &mut *obs.intervened, row_mask: &mut *obs.row_mask };
        let stepped = step(scm, rng, ep, action, *first_row..*first_row + m, obs, rules);
        **out = stepped.map_err(|e| e.non_finite_in(|| format!("the step of environment {k}")))?;
        **steps += 1;
        **best = best_so_far(**best, out.y);
        Ok(())
    })?;
    drop(jobs); // ends their borrows of `outcomes`
    Ok(outcomes)
}

/// One step of one environment (`env`: the constants of a batch of one, width D) that
/// fills the observation's `rows`: as many rows of `scm` under do(node = value) from its
/// own stream `rng`, written standardised ((x - mean) / std clipped to the value bound,
/// float32) into those rows, which are marked as filled and as intervened at the node.
/// The expected target is the exact linear formula for a linear SCM whose optimum was
/// computed, NaN otherwise (the caller estimates it). `obs` must be (T, D), (T, D) and
/// (T,), as [`step_all`] checks.
pub fn step(scm: &Scm, rng: &mut Rng, env: &Constants<'_>, action: &[f64], rows: Range<usize>, obs: Observation<'_>, rules: &Rules) -> Result<Outcome> {
    let (first_row, m) = (rows.start, rows.len());
    let (width, total) = (env.width, obs.row_mask.len());
    if m == 0 || first_row + m > total {
        return Err(EngineError::param("the step's rows", format!("{first_row}..{}", first_row + m), format!("must lie within the {total} rows of the observation (is the episode past its horizon?)")));
    }
    if scm.d() > width {
        return Err(EngineError::param("the SCM's node count", scm.d(), format!("must be at most the width {width}")));
    }
    let target = crate::error::node_index("target", env.target[0], scm.d())?;
    let (node, value) = decode(action, env.valid, env.low, env.high);
    if node >= scm.d() {
        return Err(EngineError::param("the chosen node", node, format!("must be a node of the SCM, in [0, {}]: mark padded nodes invalid", scm.d() - 1)));
    }
    let block = &mut obs.values[first_row * width..(first_row + m) * width];
    scm.sample_into(m, Interventions::AllRows(&[(node, value)]), rng, block, width)?;
    let mut total = 0.0;
    for (r, row) in block.chunks_exact_mut(width).enumerate() {
        let x = f64::from(row[target]);
        total = if r == 0 { x } else { total + x };
        for ((cell, &mean), &std) in row[..scm.d()].iter_mut().zip(env.mean).zip(env.std) {
            *cell = clip((f64::from(*cell) - mean) / std, rules.value_clip) as f32;
        }
    }
    for r in first_row..first_row + m {
        obs.intervened[r * width + node] = 1;
        obs.row_mask[r] = 1;
    }
    let y = total / m as f64;
    let (mean_y, std_y) = (env.mean[target], env.std[target]);
    let r_target = -clip((y - mean_y) / std_y, rules.target_clip);
    let is_parent = env.parents[node];
    let reward = rules.w_target * r_target + rules.w_parent * f64::from(u8::from(is_parent)) + rules.w_info * 0.0;
    let linear = env.is_linear[0] && env.has_optimum[0];
    let expected = if linear { mean_y + env.effect[node] * (f64::from(value) - env.mean[node]) } else { f64::NAN };
    Ok(Outcome { node, value, y, reward, is_parent, expected })
}

/// The best target value so far after a step with mean target `y`: Python's `min(best,
/// y)`, as the single environment keeps it (`y` if `y < best`, else `best`, so a NaN `y`
/// keeps `best`).
pub fn best_so_far(best: f64, y: f64) -> f64 {
    if y < best { y } else { best }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::tests::spec_with;
    use crate::mechanism::MechanismSpec;

    const RULES: Rules = Rules { w_target: 0.9, w_parent: 0.1, w_info: 0.0, value_clip: 100.0, target_clip: 5.0 };

    #[test]
    fn decode_takes_the_first_highest_valid_score_and_maps_the_value() {
        let valid = [true, false, true, true];
        let (low, high) = ([0.0, 0.0, -2.0, 1.0], [1.0, 1.0, 2.0, 3.0]);
        // Node 1 scores highest but is invalid; nodes 2 and 3 tie: the lower index wins.
        let (node, value) = decode(&[0.0, 9.0, 0.5, 0.5, 0.5], &valid, &low, &high);
        assert_eq!((node, value), (2, 1.0)); // -2 + (0.5 + 1) / 2 * 4
        // The value entry is clipped to [-1, 1]: -7 gives the low end.
        assert_eq!(decode(&[0.0, 0.0, 0.0, 1.0, -7.0], &valid, &low, &high), (3, 1.0));
        // No valid node: node 0, as numpy's argmax over all -inf gives.
        assert_eq!(decode(&[1.0, 2.0, 3.0], &[false, false], &[0.0, 0.0], &[1.0, 1.0]).0, 0);
    }

    #[test]
    fn clipping_follows_python_and_numpy_on_nan() {
        assert!(clip(f64::NAN, 5.0).is_nan());
        assert_eq!(clip(-9.0, 5.0), -5.0);
        assert_eq!(clip(9.0, 5.0), 5.0);
        assert_eq!(best_so_far(1.0, f64::NAN), 1.0);
        assert_eq!(best_so_far(1.0, 0.5), 0.5);
        assert_eq!(best_so_far(f64::INFINITY, 2.0), 2.0);
    }

    /// A step against the same arithmetic written out by hand from a direct sample.
    #[test]
    fn a_step_writes_standardised_rows_and_scores_them() {
        let scm = spec_with(MechanismSpec::Linear {
            weights: crate::dist::Dist::SignedUniform { low: 0.5, high: 2.0 },
            bias: crate::dist::Dist::Fixed { value: 0.0 },
        })
        .sample_scm(3);
        let d = scm.d();
        let width = d + 2; // two padded columns
        let target = scm.dag.order[d - 1];
        let mut valid = vec![true; width];
        valid[target] = false;
        valid[d..].iter_mut().for_each(|v| *v = false);
        let parents: Vec<bool> = (0..width).map(|i| i < d && scm.dag.parents(target).contains(&i)).collect();
        let mean: Vec<f64> = (0..width).map(|i| if i < d { 0.1 * i as f64 } else { 0.0 }).collect();
        let std: Vec<f64> = (0..width).map(|i| if i < d { 1.0 + 0.05 * i as f64 } else { 1.0 }).collect();
        let low: Vec<f64> = mean.iter().zip(&std).map(|(m, s)| m - 2.0 * s).collect();
        let high: Vec<f64> = mean.iter().zip(&std).map(|(m, s)| m + 2.0 * s).collect();
        let effect: Vec<f64> = (0..width).map(|i| 0.3 * i as f64).collect();
        let ep = Constants { width, valid: &valid, parents: &parents, low: &low, high: &high, mean: &mean, std: &std, effect: &effect, target: &[target as i64], is_linear: &[true], has_optimum: &[true] };
        let node = (0..d).find(|&i| i != target).unwrap();
        let mut action = vec![-1.0; width + 1];
        action[node] = 1.0;
        action[width] = 0.25;
        let (t, m, first) = (6, 2, 3);
        let (mut values, mut intervened, mut row_mask) = (vec![0f32; t * width], vec![0i8; t * width], vec![0i8; t]);
        let obs = Observation { values: &mut values, intervened: &mut intervened, row_mask: &mut row_mask };
        let got = step(&scm, &mut Rng::new(11), &ep, &action, first..first + m, obs, &RULES).unwrap();

        let value = (low[node] + (0.25 + 1.0) / 2.0 * (high[node] - low[node])) as f32;
        let mut raw = vec![0f32; m * d];
        scm.sample_into(m, Interventions::AllRows(&[(node, value)]), &mut Rng::new(11), &mut raw, d).unwrap();
        let y = (f64::from(raw[target]) + f64::from(raw[d + target])) / 2.0;
        assert_eq!((got.node, got.value, got.y.to_bits()), (node, value, y.to_bits()));
        let z = ((y - mean[target]) / std[target]).clamp(-5.0, 5.0);
        assert_eq!(got.reward.to_bits(), (0.9 * -z + 0.1 * f64::from(u8::from(parents[node])) + 0.0).to_bits());
        assert_eq!(got.expected, mean[target] + effect[node] * (f64::from(value) - mean[node]));
        for r in 0..t {
            let filled = (first..first + m).contains(&r);
            assert_eq!(row_mask[r], i8::from(filled));
            for i in 0..width {
                let expect = if filled && i < d { ((f64::from(raw[(r - first) * d + i]) - mean[i]) / std[i]) as f32 } else { 0.0 };
                assert_eq!(values[r * width + i].to_bits(), expect.to_bits(), "row {r}, node {i}");
                assert_eq!(intervened[r * width + i], i8::from(filled && i == node));
            }
        }
    }

    #[test]
    fn a_step_past_the_buffer_or_on_a_padded_node_is_refused() {
        let scm = spec_with(MechanismSpec::Square { weights: crate::dist::Dist::Fixed { value: 1.0 } }).sample_scm(1);
        let d = scm.d();
        let width = d + 1;
        let zeros = vec![0.0; width];
        let ones = vec![1.0; width];
        let mut valid = vec![false; width];
        valid[d] = true; // only the padded node is valid
        let parents = vec![false; width];
        let ep = Constants { width, valid: &valid, parents: &parents, low: &zeros, high: &ones, mean: &zeros, std: &ones, effect: &zeros, target: &[0], is_linear: &[false], has_optimum: &[true] };
        let action = vec![0.0; width + 1];
        let (mut values, mut intervened, mut row_mask) = (vec![0f32; 2 * width], vec![0i8; 2 * width], vec![0i8; 2]);
        let obs = Observation { values: &mut values, intervened: &mut intervened, row_mask: &mut row_mask };
        let e = step(&scm, &mut Rng::new(1), &ep, &action, 2..3, obs, &RULES).unwrap_err().to_string();
        assert!(e.contains("2..3") && e.contains("2 rows"), "{e}");
        let obs = Observation { values: &mut values, intervened: &mut intervened, row_mask: &mut row_mask };
        let e = step(&scm, &mut Rng::new(1), &ep, &action, 0..1, obs, &RULES).unwrap_err().to_string();
        assert!(e.contains(&format!("chosen node = {d}")), "{e}");
    }

    /// `step_all` over three environments, the middle one resetting, against `step` on each.
    #[test]
    fn a_batch_step_equals_single_steps_and_skips_the_others() {
        let spec = spec_with(MechanismSpec::Linear {
            weights: crate::dist::Dist::SignedUniform { low: 0.5, high: 2.0 },
            bias: crate::dist::Dist::Fixed { value: 0.5 },
        });
        let scms: Vec<Scm> = (0..3).map(|s| spec.sample_scm(s)).collect();
        let width = scms.iter().map(Scm::d).max().unwrap();
        let (count, t, m, n_obs) = (3, 5, 2, 1);
        let valid: Vec<bool> = (0..count * width).map(|c| c % width != 0).collect();
        let parents = vec![false; count * width];
        let mean = vec![0.25; count * width];
        let std = vec![2.0; count * width];
        let low = vec![-1.0; count * width];
        let high = vec![3.0; count * width];
        let target = vec![0i64; count];
        let flags = vec![true; count];
        let consts = Constants { width, valid: &valid, parents: &parents, low: &low, high: &high, mean: &mean, std: &std, effect: &mean, target: &target, is_linear: &flags, has_optimum: &flags };
        let actions: Vec<f64> = (0..count * (width + 1)).map(|c| ((c * 7) % 5) as f64 - 2.0).collect();
        let stepping = [true, false, true];
        let (mut steps, mut best) = (vec![1i64; count], vec![f64::INFINITY; count]);
        let (mut values, mut intervened, mut row_mask) = (vec![0f32; count * t * width], vec![0i8; count * t * width], vec![0i8; count * t]);
        let mut rngs: Vec<Rng> = (0..count as u64).map(Rng::new).collect();
        let streams = scms.iter().zip(rngs.iter_mut()).collect();
        let buffers = Buffers { rows: t, steps: &mut steps, best: &mut best, values: &mut values, intervened: &mut intervened, row_mask: &mut row_mask };
        let got = step_all(streams, &consts, buffers, &actions, &stepping, m, n_obs, &RULES).unwrap();
        assert_eq!(steps, [2, 1, 2]);
        assert_eq!(got[1], Outcome::default());
        assert!(best[1].is_infinite() && values[t * width..2 * t * width].iter().all(|&v| v == 0.0));
        for k in [0, 2] {
            let (mut v, mut i, mut r) = (vec![0f32; t * width], vec![0i8; t * width], vec![0i8; t]);
            let obs = Observation { values: &mut v, intervened: &mut i, row_mask: &mut r };
            let one = step(&scms[k], &mut Rng::new(k as u64), &consts.row(k), &actions[k * (width + 1)..(k + 1) * (width + 1)], n_obs + m..n_obs + 2 * m, obs, &RULES).unwrap();
            assert_eq!(got[k], one);
            assert_eq!(best[k], one.y);
            assert_eq!(&values[k * t * width..(k + 1) * t * width], v.as_slice());
            assert_eq!(&row_mask[k * t..(k + 1) * t], r.as_slice());
        }
    }

    #[test]
    fn a_batch_with_a_short_array_names_it() {
        let scm = spec_with(MechanismSpec::Square { weights: crate::dist::Dist::Fixed { value: 1.0 } }).sample_scm(1);
        let width = scm.d();
        let (zeros, ones, flags, target) = (vec![0.0; width], vec![1.0; width], vec![true; width], [0i64]);
        let consts = Constants { width, valid: &flags, parents: &flags, low: &zeros, high: &ones, mean: &zeros, std: &ones, effect: &zeros, target: &target, is_linear: &[true], has_optimum: &[true] };
        let (mut steps, mut best) = (vec![0i64], vec![0.0]);
        let (mut values, mut intervened, mut row_mask) = (vec![0f32; 2 * width], vec![0i8; 2 * width], vec![0i8; 2]);
        let mut rng = Rng::new(0);
        let buffers = Buffers { rows: 2, steps: &mut steps, best: &mut best, values: &mut values, intervened: &mut intervened, row_mask: &mut row_mask };
        let e = step_all(vec![(&scm, &mut rng)], &consts, buffers, &zeros, &[true], 1, 0, &RULES).unwrap_err().to_string();
        assert!(e.contains("actions length") && e.contains("(count, D + 1)"), "{e}");
        let short = Constants { std: &ones[1..], ..consts };
        assert!(short.check(1).unwrap_err().to_string().contains("std length"));
        let bad = Constants { target: &[-1], ..consts };
        let (mut steps, mut best) = (vec![0i64], vec![0.0]);
        let buffers = Buffers { rows: 2, steps: &mut steps, best: &mut best, values: &mut values, intervened: &mut intervened, row_mask: &mut row_mask };
        let e = step_all(vec![(&scm, &mut rng)], &bad, buffers, &[0.0; 64][..width + 1], &[true], 1, 0, &RULES).unwrap_err().to_string();
        assert!(e.contains("target = -1 is not allowed"), "{e}");
    }
}
