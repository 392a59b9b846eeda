//! Task families: a distribution over SCMs plus how tasks draw interventional rows, and
//! the batched, parallel task sampler.

use crate::dist::Dist;
use crate::{budget, parallel};
use crate::error::{int_in, EngineError, Result};
use crate::graph::{Dag, GraphSpec, MAX_NODES};
use crate::mechanism::MechanismSpec;
use crate::noise::NoiseSpec;
use crate::scm::{Interventions, Scm};
use crate::seed::{task_seed, Rng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Most samples per task.
pub const MAX_SAMPLES: usize = 10_000_000;

/// How the interventional rows of a task are drawn: each such row sets one node, chosen
/// uniformly, to a value drawn from `value`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InterventionSpec {
    pub value: Dist,
}

/// A distribution over SCMs: node count uniform on `nodes = [min, max]`, then a graph,
/// then per node a mechanism and a noise law.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FamilySpec {
    pub nodes: [usize; 2],
    pub graph: GraphSpec,
    pub mechanism: MechanismSpec,
    pub noise: NoiseSpec,
    pub interventions: InterventionSpec,
}

/// Stacked tasks, padded to `d_max` variables.
pub struct TaskBatch {
    pub count: usize,
    /// Rows per task: `n_obs` observational ones, then interventional ones.
    pub n: usize,
    pub n_obs: usize,
    pub d_max: usize,
    /// (count, n, d_max) f32.
    pub data: Vec<f32>,
    /// (count, n, d_max), 1 where do() set the value.
    pub mask: Vec<u8>,
    /// (count, d_max, d_max), A[i, j] = 1 for i -> j.
    pub adjacency: Vec<u8>,
    /// (count,) the number of variables of each task.
    pub n_nodes: Vec<u32>,
}

impl FamilySpec {
    /// Parse a JSON spec (as the Python layer sends it) and validate it.
    pub fn from_json(json: &str) -> Result<FamilySpec> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let spec: FamilySpec = serde_path_to_error::deserialize(de).map_err(|e| EngineError::InvalidSpec {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Check every parameter, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let [lo, hi] = self.nodes;
        int_in("nodes[0] (min nodes)", lo, 1, MAX_NODES)?;
        int_in("nodes[1] (max nodes)", hi, lo, MAX_NODES)?;
        self.graph.validate("graph")?;
        self.graph.validate_nodes("graph", lo)?;
        self.graph.validate_nodes("graph", hi)?;
        self.mechanism.validate("mechanism")?;
        self.noise.validate("noise")?;
        self.interventions.value.validate("interventions.value")
    }

    /// The SCM of seed `seed`: a pure function of (spec, seed).
    pub fn sample_scm(&self, seed: u64) -> Scm {
        self.sample_scm_with(&mut Rng::new(seed))
    }

    /// The graph of the SCM of `seed`, without drawing mechanisms (the graph is drawn
    /// first from the same generator, so it equals `sample_scm(seed).dag`).
    pub fn sample_dag(&self, seed: u64) -> Dag {
        self.sample_dag_with(&mut Rng::new(seed))
    }

    fn sample_dag_with(&self, rng: &mut Rng) -> Dag {
        let [lo, hi] = self.nodes;
        let d = lo + rng.below(hi - lo + 1);
        self.graph.sample(d, rng)
    }

    /// At most how many bytes one SCM of this family occupies while it is drawn: the
    /// adjacency, the parent lists of a complete DAG, each node's mechanism parameters at
    /// the most parents, and per-node bookkeeping. Bounds a batch of SCMs before any is
    /// drawn (their many small buffers cannot be reserved fallibly one by one).
    pub fn scm_bytes(&self) -> usize {
        let d = self.nodes[1];
        let per_node = self.mechanism.max_floats(d - 1).saturating_mul(4).saturating_add(256);
        d.saturating_mul(d).saturating_mul(5).saturating_add(d.saturating_mul(per_node))
    }

    fn sample_scm_with(&self, rng: &mut Rng) -> Scm {
        let dag = self.sample_dag_with(rng);
        let d = dag.d;
        let mut params = Vec::new();
        let mechanisms = (0..d).map(|j| self.mechanism.instantiate(dag.parents(j).len(), rng, &mut params)).collect();
        let noises = (0..d).map(|_| self.noise.instantiate(rng)).collect();
        Scm::new(dag, mechanisms, params, noises)
    }

    /// Write one task (the SCM of `seed`, `n_obs` observational rows then `n_int` rows with
    /// one random single-node intervention each) into padded slots. Returns its node count.
    fn sample_task(&self, seed: u64, n_obs: usize, n_int: usize, slot: TaskSlot<'_>) -> Result<usize> {
        let mut rng = Rng::new(seed);
        let scm = self.sample_scm_with(&mut rng);
        let (d, n, stride) = (scm.d(), n_obs + n_int, slot.d_max);
        write_padded(&scm.dag, slot.adjacency, stride);
        if n_int == 0 {
            scm.sample_into(n, Interventions::None, &mut rng, slot.data, stride)?;
            return Ok(d);
        }
        let mut mask = budget::zeroed::<u8>("a task's intervention mask", n * d)?;
        let mut values = budget::zeroed::<f32>("a task's intervention values", n * d)?;
        for r in n_obs..n {
            let i = rng.below(d);
            mask[r * d + i] = 1;
            values[r * d + i] = self.interventions.value.sample(&mut rng) as f32;
            slot.mask[r * stride + i] = 1;
        }
        let ivs = Interventions::PerRow { mask: &mask, values: &values };
        scm.sample_into(n, ivs, &mut rng, slot.data, stride)?;
        Ok(d)
    }

    /// Tasks `start .. start + count` of the stream `base_seed`, in parallel on a pool of
    /// `threads` threads (default: one per core; on the calling thread when
    /// [`parallel::inline`]): [`FamilySpec::task_batch`] filled by one
    /// [`FamilySpec::fill_tasks`]. Task k depends only on (spec, base_seed, k), never on
    /// the split or the thread count.
    pub fn sample_tasks(&self, base_seed: u64, start: u64, count: usize, n_obs: usize, n_int: usize, threads: Option<usize>) -> Result<TaskBatch> {
        let mut batch = self.task_batch(count, n_obs, n_int, threads)?;
        self.fill_tasks(&mut batch, base_seed, start, 0..count, threads)?;
        Ok(batch)
    }

    /// A zeroed batch of `count` tasks of `n_obs + n_int` rows, its memory (outputs and
    /// the workspace of `threads` threads) checked first.
    pub fn task_batch(&self, count: usize, n_obs: usize, n_int: usize, threads: Option<usize>) -> Result<TaskBatch> {
        let d_max = self.nodes[1];
        let n = check_batch(count, n_obs, n_int, d_max, parallel::workers(threads, count))?;
        Ok(TaskBatch {
            count,
            n,
            n_obs,
            d_max,
            data: budget::zeroed("the tasks' data", count * n * d_max)?,
            mask: budget::zeroed("the tasks' intervention masks", count * n * d_max)?,
            adjacency: budget::zeroed("the tasks' adjacency matrices", count * d_max * d_max)?,
            n_nodes: budget::zeroed("the tasks' node counts", count)?,
        })
    }

    /// Sample the tasks `tasks` of `batch` (whose task k is task `start + k` of the stream
    /// `base_seed`) into their slots, in parallel as [`FamilySpec::sample_tasks`] does. The
    /// tasks are independent, so filling a batch range by range (a long call that checks
    /// for Ctrl-C between ranges) gives the bytes of one call. A family whose parameters
    /// overflow float32 gives infinite or NaN values; the first task of the range with
    /// any is refused by its index ([`EngineError::NonFinite`]).
    pub fn fill_tasks(&self, batch: &mut TaskBatch, base_seed: u64, start: u64, tasks: Range<usize>, threads: Option<usize>) -> Result<()> {
        let (n, n_obs, d_max) = (batch.n, batch.n_obs, batch.d_max);
        let (cells, square) = (n * d_max, d_max * d_max);
        let first = tasks.start;
        // Per task: whether its values are finite. Kept apart from the other errors, so that
        // the task named is the first such one whatever the thread count.
        let mut finite = vec![true; tasks.len()];
        let task = |(k, ((((data, mask), adjacency), nodes), finite)): (usize, TaskOut<'_>)| {
            let seed = task_seed(base_seed, start.wrapping_add((first + k) as u64));
            match self.sample_task(seed, n_obs, n - n_obs, TaskSlot { data, mask, adjacency, d_max }) {
                Ok(d) => *nodes = d as u32,
                Err(EngineError::NonFinite { .. }) => *finite = false,
                Err(e) => return Err(e),
            }
            Ok(())
        };
        let data = &mut batch.data[first * cells..tasks.end * cells];
        let mask = &mut batch.mask[first * cells..tasks.end * cells];
        let adjacency = &mut batch.adjacency[first * square..tasks.end * square];
        let n_nodes = &mut batch.n_nodes[tasks.clone()];
        if parallel::inline(threads, tasks.len()) {
            let slots = data.chunks_mut(cells).zip(mask.chunks_mut(cells)).zip(adjacency.chunks_mut(square));
            slots.zip(n_nodes.iter_mut()).zip(finite.iter_mut()).enumerate().try_for_each(task)?;
        } else {
            parallel::install(threads, || {
                let slots = data.par_chunks_mut(cells).zip(mask.par_chunks_mut(cells)).zip(adjacency.par_chunks_mut(square));
                slots.zip(n_nodes.par_iter_mut()).zip(finite.par_iter_mut()).enumerate().try_for_each(task)
            })?;
        }
        match finite.iter().position(|&ok| !ok) {
            Some(k) => Err(EngineError::non_finite(format!("task {} of the stream {base_seed}", start.wrapping_add((first + k) as u64)))),
            None => Ok(()),
        }
    }

    /// About how many values one task of `n` rows draws or computes: its cells and, at
    /// most, its SCM's parameters. Sizes the first chunk of a long call
    /// (`python::interrupt`), for which only the order of magnitude matters.
    pub fn task_values(&self, n: usize) -> usize {
        n.saturating_mul(self.nodes[1]).saturating_add(self.scm_bytes() / 4)
    }
}

impl FamilySpec {
    /// Graphs of tasks `start .. start + count` (as in [`FamilySpec::sample_tasks`]) without
    /// their mechanisms or data: (adjacency padded to (count, d_max, d_max), node counts).
    /// Much cheaper than sampling the tasks, for checks such as train/test disjointness.
    pub fn sample_graphs(&self, base_seed: u64, start: u64, count: usize) -> Result<(Vec<u8>, Vec<u32>)> {
        let d_max = self.nodes[1];
        budget::within("count * max nodes * max nodes", &[count, d_max, d_max], 1)?;
        let mut adjacency = budget::zeroed("the adjacency matrices", count * d_max * d_max)?;
        let mut n_nodes = budget::zeroed("the node counts", count)?;
        adjacency
            .par_chunks_mut(d_max * d_max)
            .zip(n_nodes.par_iter_mut())
            .enumerate()
            .for_each(|(k, (slot, nodes))| {
                let dag = self.sample_dag(task_seed(base_seed, start.wrapping_add(k as u64)));
                write_padded(&dag, slot, d_max);
                *nodes = dag.d as u32;
            });
        Ok((adjacency, n_nodes))
    }
}

/// Copy a DAG's adjacency into the top-left corner of a (d_max, d_max) slot.
pub fn write_padded(dag: &Dag, slot: &mut [u8], d_max: usize) {
    let d = dag.d;
    for (i, row) in slot.chunks_exact_mut(d_max).take(d).enumerate() {
        row[..d].copy_from_slice(&dag.adj[i * d..(i + 1) * d]);
    }
}

/// One task's outputs as the batch loops zip them: (((data, mask), adjacency), node
/// count), and whether all its values are finite.
type TaskOut<'a> = ((((&'a mut [f32], &'a mut [u8]), &'a mut [u8]), &'a mut u32), &'a mut bool);

/// The output slices of one task inside a batch.
struct TaskSlot<'a> {
    data: &'a mut [f32],
    mask: &'a mut [u8],
    adjacency: &'a mut [u8],
    d_max: usize,
}

/// Check the sizes of a batch request on `threads` threads; returns rows per task. Per
/// cell a batch holds its data and mask (5 bytes), plus the adjacency matrices; each
/// thread in flight holds
/// one task's workspace: its node columns and noise, its intervention mask and values
/// (13 bytes per cell).
fn check_batch(count: usize, n_obs: usize, n_int: usize, d_max: usize, threads: usize) -> Result<usize> {
    int_in("count", count, 1, budget::MAX_BYTES)?;
    int_in("n_obs", n_obs, 0, MAX_SAMPLES)?;
    int_in("n_int", n_int, 0, MAX_SAMPLES)?;
    let n = int_in("n_obs + n_int", n_obs + n_int, 1, MAX_SAMPLES)?;
    let threads = threads.min(count);
    budget::total(
        "the batch's memory",
        &[
            budget::within("count * (n_obs + n_int) * max nodes", &[count, n, d_max], 5)?,
            budget::within("count * max nodes * max nodes", &[count, d_max, d_max], 1)?,
            budget::within("threads * (n_obs + n_int) * max nodes", &[threads, n, d_max], 13)?,
        ],
    )?;
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mechanism::{Activation, Nonlinearity};

    pub fn spec_with(mechanism: MechanismSpec) -> FamilySpec {
        FamilySpec {
            nodes: [12, 12],
            graph: GraphSpec::Er { edge_prob: None, edges_per_node: Some(2.0) },
            mechanism,
            noise: NoiseSpec::Gaussian { scale: Dist::Uniform { low: 0.5, high: 1.0 } },
            interventions: InterventionSpec { value: Dist::Uniform { low: -2.0, high: 2.0 } },
        }
    }

    pub fn all_mechanisms() -> Vec<MechanismSpec> {
        let w = Dist::SignedUniform { low: 0.5, high: 1.5 };
        let b = Dist::Uniform { low: -0.5, high: 0.5 };
        let mut v = vec![
            MechanismSpec::Linear { weights: w.clone(), bias: b.clone() },
            MechanismSpec::Gp {
                features: 64,
                length_scale: Dist::Uniform { low: 0.5, high: 2.0 },
                output_scale: Dist::Fixed { value: 1.0 },
            },
            MechanismSpec::Square { weights: w.clone() },
            MechanismSpec::Periodic { weights: w.clone(), frequency: Dist::Uniform { low: 0.5, high: 2.0 } },
            MechanismSpec::LogisticMap { weights: w.clone(), rate: Dist::Uniform { low: 3.6, high: 4.0 } },
            MechanismSpec::Heteroscedastic { weights: w.clone(), bias: b.clone(), scale_weights: w.clone() },
        ];
        for act in [Activation::Relu, Activation::LeakyRelu, Activation::Tanh, Activation::Sigmoid] {
            for noise_input in [false, true] {
                v.push(MechanismSpec::Mlp {
                    hidden: 8,
                    activation: act,
                    weights: Dist::Gaussian { mean: 0.0, std: 1.0 },
                    bias: b.clone(),
                    noise_input,
                });
            }
        }
        // A cube's output feeds the next cube: with weights near 1 the values pass float32's
        // range a few generations down (a sample the sampler refuses), so the cube's
        // parents count for little here; 0.001 keeps x = (w x + noise)^3 bounded.
        let tiny = Dist::SignedUniform { low: 0.001, high: 0.002 };
        for (g, w) in [(Nonlinearity::Cube, &tiny), (Nonlinearity::Sigmoid, &w), (Nonlinearity::Tanh, &w)] {
            v.push(MechanismSpec::Pnl { nonlinearity: g, weights: w.clone(), bias: b.clone() });
        }
        v
    }

    #[test]
    fn batch_split_and_thread_count_do_not_change_bytes() {
        let spec = spec_with(all_mechanisms().remove(0));
        let whole = spec.sample_tasks(5, 10, 6, 20, 5, Some(3)).unwrap();
        let head = spec.sample_tasks(5, 10, 2, 20, 5, None).unwrap();
        let tail = spec.sample_tasks(5, 12, 4, 20, 5, Some(1)).unwrap();
        let joined: Vec<f32> = head.data.iter().chain(&tail.data).copied().collect();
        assert_eq!(whole.data.len(), joined.len());
        assert!(whole.data.iter().zip(&joined).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!(whole.adjacency, [head.adjacency, tail.adjacency].concat());
        assert_eq!(whole.mask, [head.mask, tail.mask].concat());
    }

    /// What a long call does between its checks for Ctrl-C: one range of the batch at a time.
    #[test]
    fn a_batch_filled_range_by_range_has_the_bytes_of_one_call() {
        let spec = spec_with(all_mechanisms().remove(3));
        let whole = spec.sample_tasks(5, 10, 40, 6, 3, Some(2)).unwrap();
        let mut parts = spec.task_batch(40, 6, 3, Some(2)).unwrap();
        for (range, threads) in [(0..1, Some(2)), (1..33, None), (33..40, Some(1))] {
            spec.fill_tasks(&mut parts, 5, 10, range, threads).unwrap();
        }
        assert!(whole.data.iter().zip(&parts.data).all(|(a, b)| a.to_bits() == b.to_bits()));
        assert_eq!((whole.mask, whole.adjacency, whole.n_nodes), (parts.mask, parts.adjacency, parts.n_nodes));
    }

    #[test]
    fn graphs_alone_equal_the_graphs_of_full_tasks() {
        let spec = spec_with(all_mechanisms().remove(1));
        let tasks = spec.sample_tasks(3, 40, 5, 4, 0, None).unwrap();
        let (adjacency, n_nodes) = spec.sample_graphs(3, 40, 5).unwrap();
        assert_eq!(tasks.adjacency, adjacency);
        assert_eq!(tasks.n_nodes, n_nodes);
    }

    #[test]
    fn task_rows_carry_one_intervention_each() {
        let spec = spec_with(all_mechanisms().remove(0));
        let b = spec.sample_tasks(1, 0, 3, 7, 9, None).unwrap();
        for t in 0..3 {
            for r in 0..16 {
                let set: usize = b.mask[(t * 16 + r) * 12..(t * 16 + r + 1) * 12].iter().map(|&m| m as usize).sum();
                assert_eq!(set, usize::from(r >= 7));
            }
        }
    }

    /// Weights of 1e30 along a chain overflow float32 from the third node on: every task
    /// is refused, and the message names the first.
    #[test]
    fn tasks_with_non_finite_values_are_refused_by_index() {
        let mut spec = spec_with(MechanismSpec::Linear { weights: Dist::Fixed { value: 1e30 }, bias: Dist::Fixed { value: 0.0 } });
        spec.graph = GraphSpec::Chain;
        for threads in [Some(1), Some(2)] {
            let e = spec.sample_tasks(4, 7, 40, 3, 0, threads).err().unwrap().to_string();
            assert!(e.starts_with("task 7 of the stream 4 has non-finite values"), "{e}");
            // A range of the batch names the first of its own tasks.
            let mut batch = spec.task_batch(40, 3, 0, threads).unwrap();
            let e = spec.fill_tasks(&mut batch, 4, 7, 35..40, threads).err().unwrap().to_string();
            assert!(e.starts_with("task 42 of the stream 4 has non-finite values"), "{e}");
        }
        spec.mechanism = MechanismSpec::Linear { weights: Dist::Fixed { value: 1.0 }, bias: Dist::Fixed { value: 0.0 } };
        assert!(spec.sample_tasks(4, 7, 40, 3, 0, Some(2)).is_ok());
    }

    #[test]
    fn parse_errors_name_the_path() {
        let bad = r#"{"nodes": [5, 5], "graph": {"type": "er", "edge_prob": 0.5, "edges_per_node": null},
            "mechanism": {"type": "linaer"}, "noise": {"type": "gaussian", "scale": {"type": "fixed", "value": 1}},
            "interventions": {"value": {"type": "fixed", "value": 0}}}"#;
        let e = FamilySpec::from_json(bad).unwrap_err().to_string();
        assert!(e.contains("mechanism") && e.contains("linaer") && e.contains("linear"), "{e}");
        let e = check_batch(0, 10, 0, 5, 1).unwrap_err().to_string();
        assert!(e.contains("count = 0"), "{e}");
    }
}
