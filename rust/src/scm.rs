//! A drawn structural causal model and ancestral sampling under interventions.

use crate::budget;
use crate::error::{node_index, EngineError, Result, MAX_PARAMETER};
use crate::fastmath::{all_finite, simd_level, LaneRng, SimdLevel};
use crate::graph::{Dag, MAX_NODES};
use crate::mechanism::{Mechanism, Parents};
use crate::noise::{Noise, NoiseKind};
use crate::seed::Rng;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

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
                    node_index("do node", i, d)?;
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

/// One entry `{node: value}` of a `do=` dict, checked against an SCM with `d` nodes
/// before the value becomes float32 (so that 1e300 is named as itself, not as inf):
/// a finite value beyond float32 range or a node outside the SCM is refused. Non-finite
/// values are left to [`Interventions::validate`], which names them after all entries.
pub fn intervention_pair(node: i64, value: f64, d: usize) -> Result<(usize, f32)> {
    if value.is_finite() && value.abs() > MAX_PARAMETER {
        return Err(EngineError::param(
            format!("do value of node {node}"),
            format!("{value:?}"),
            "must be finite and within float32 range (|v| <= 3.4e38)",
        ));
    }
    Ok((node_index("do node", node, d)?, value as f32))
}

/// The shape of the mask or values array (`name`) of a per-row `do=(mask, values)` on an
/// SCM with `d` nodes and `n` rows: it must be (n, d).
pub fn per_row_shape(name: &str, shape: [usize; 2], n: usize, d: usize) -> Result<()> {
    if shape == [n, d] {
        Ok(())
    } else {
        Err(EngineError::param(format!("do {name} shape"), format!("{shape:?}"), format!("must be (n, d) = ({n}, {d})")))
    }
}

/// Entry k of the `nodes` and `values` arrays of a batched call on an SCM with `d` nodes:
/// do(X_node = value), or no intervention when node < 0.
pub fn single_intervention(k: usize, node: i64, value: f32, d: usize) -> Result<Option<(usize, f32)>> {
    if node >= d as i64 {
        return Err(EngineError::param(
            format!("nodes[{k}]"),
            node,
            format!("must be < 0 (no intervention) or a node index in [0, {}]", d.saturating_sub(1)),
        ));
    }
    if node >= 0 && !value.is_finite() {
        return Err(EngineError::param(format!("values[{k}]"), value, "must be finite"));
    }
    Ok((node >= 0).then_some((node as usize, value)))
}

/// A DAG with one mechanism and one noise law per node.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scm {
    pub dag: Dag,
    pub mechanisms: Vec<Mechanism>,
    /// Every vector of mechanism parameters, node after node (see [`Mechanism`]'s spans).
    pub params: Vec<f32>,
    pub noises: Vec<Noise>,
    /// Whether every noise law is Gaussian (then all noise comes from one bulk fill).
    all_gaussian: bool,
    /// For an all-linear SCM, its parameters as the row by row path of small samples reads
    /// them (derived, not stored: rebuilt when an SCM is unpickled).
    #[serde(skip)]
    plan: Option<LinearPlan>,
}

/// An all-linear SCM's parameters laid out for sampling a few rows (`Scm::linear_rows`):
/// node by node in topological order, each with its bias and its (parent, weight) pairs,
/// in two flat arrays read front to back. A vector environment samples one row from each
/// of a thousand SCMs per step, so what one row touches is what it costs: these arrays
/// are about a third of the cache lines of the mechanisms, their spans and the graph's
/// parent lists together.
#[derive(Clone, Debug, Default, PartialEq)]
struct LinearPlan {
    /// One entry per node, in topological order.
    steps: Vec<PlanStep>,
    /// Each node's (parent, weight) pairs, in the order of its parent list.
    edges: Vec<(u32, f32)>,
}

/// One node of a [`LinearPlan`]: x = bias + sum of its edges' weight * parent + noise.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PlanStep {
    node: u32,
    first_edge: u32,
    edges: u32,
    bias: f32,
}

impl LinearPlan {
    /// The plan of an SCM whose mechanisms are all linear; None otherwise.
    fn of(dag: &Dag, mechanisms: &[Mechanism], params: &[f32]) -> Option<LinearPlan> {
        let mut plan = LinearPlan { steps: Vec::with_capacity(dag.d), edges: Vec::with_capacity(dag.n_edges()) };
        for &j in &dag.order {
            let Mechanism::Linear { w, b } = mechanisms[j] else { return None };
            let parents = dag.parents(j);
            plan.steps.push(PlanStep { node: j as u32, first_edge: plan.edges.len() as u32, edges: parents.len() as u32, bias: b });
            plan.edges.extend(parents.iter().zip(w.of(params)).map(|(&p, &wp)| (p as u32, wp)));
        }
        Some(plan)
    }
}

/// Buffers of one sampling call: node columns, noise, and two row buffers.
#[derive(Default)]
struct Workspace {
    cols: Vec<f32>,
    noise: Vec<f32>,
    out: Vec<f32>,
    scratch: Vec<f32>,
}

impl Workspace {
    /// Store the row buffer as node j's column, after the per-row interventions on j.
    #[inline(always)]
    fn set_column(&mut self, j: usize, n: usize, d: usize, ivs: Interventions<'_>) {
        if let Interventions::PerRow { mask, values } = ivs {
            for r in 0..n {
                if mask[r * d + j] != 0 {
                    self.out[r] = values[r * d + j];
                }
            }
        }
        self.cols[j * n..(j + 1) * n].copy_from_slice(&self.out[..n]);
    }

    /// Size the buffers for d nodes and n rows, reserving fallibly (a MemoryError, not an
    /// abort). Stale contents are fine: every cell is written before it is read.
    fn fit(&mut self, d: usize, n: usize) -> Result<()> {
        budget::grow("the sampler's node columns", &mut self.cols, d * n, 0.0)?;
        budget::grow("the sampler's noise", &mut self.noise, d * n, 0.0)?;
        budget::grow("the sampler's row buffer", &mut self.out, n, 0.0)?;
        budget::grow("the sampler's row buffer", &mut self.scratch, n, 0.0)
    }
}

/// Below this many rows a linear SCM is sampled row by row (see `Scm::linear_rows`).
const ROW_MAJOR_BELOW: usize = 8;

/// Largest workspace (in cells) kept alive per thread between calls; bigger calls allocate
/// their own so that one huge request does not pin its memory forever.
const KEEP_WORKSPACE_CELLS: usize = 1 << 20;

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::new(Workspace::default());
}

/// Copy column-major node values into row-major output rows of width `stride`.
#[inline(always)]
fn write_rows<const SIMD: bool>(cols: &[f32], n: usize, d: usize, out: &mut [f32], stride: usize) {
    assert!(cols.len() >= n * d && out.len() >= (n - 1) * stride + d);
    let (mut rows_done, mut cols_done) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        rows_done = n / 8 * 8;
        cols_done = d / 8 * 8;
        for r0 in (0..rows_done).step_by(8) {
            for i0 in (0..cols_done).step_by(8) {
                // SAFETY: SIMD is only true on the AVX2 path, and the assert above keeps the
                // 8 x 8 tile inside both buffers.
                unsafe { transpose8x8(cols.as_ptr().add(i0 * n + r0), n, out.as_mut_ptr().add(r0 * stride + i0), stride) };
            }
        }
    }
    for r in 0..n {
        let first = if r < rows_done { cols_done } else { 0 };
        for i in first..d {
            out[r * stride + i] = cols[i * n + r];
        }
    }
}

/// Transpose one 8 x 8 tile: src rows are `src_stride` apart, dst rows `dst_stride` apart.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose8x8(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    let r: [__m256; 8] = std::array::from_fn(|k| _mm256_loadu_ps(src.add(k * src_stride)));
    let lo = |a, b| _mm256_unpacklo_ps(a, b);
    let hi = |a, b| _mm256_unpackhi_ps(a, b);
    let t = [lo(r[0], r[1]), hi(r[0], r[1]), lo(r[2], r[3]), hi(r[2], r[3]), lo(r[4], r[5]), hi(r[4], r[5]), lo(r[6], r[7]), hi(r[6], r[7])];
    let q = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    for m in 0..4 {
        _mm256_storeu_ps(dst.add(m * dst_stride), _mm256_permute2f128_ps::<0x20>(q[m], q[m + 4]));
        _mm256_storeu_ps(dst.add((m + 4) * dst_stride), _mm256_permute2f128_ps::<0x31>(q[m], q[m + 4]));
    }
}

impl Scm {
    /// Whether the SCM is one this engine could have built: a consistent DAG, one
    /// mechanism and one noise law per node, parameter counts that fit each node's
    /// parents, finite parameters and positive finite noise scales. The unpickling of an
    /// `Scm` runs it, since a tampered state would otherwise reach unchecked indexing.
    pub fn check_consistent(&self) -> std::result::Result<(), String> {
        self.dag.check_consistent(MAX_NODES)?;
        let d = self.d();
        if self.mechanisms.len() != d || self.noises.len() != d {
            return Err(format!("{} mechanisms and {} noise laws for {d} nodes", self.mechanisms.len(), self.noises.len()));
        }
        for (j, (m, noise)) in self.mechanisms.iter().zip(&self.noises).enumerate() {
            let k = self.dag.parents(j).len();
            m.check_arity(k, &self.params).map_err(|e| format!("node {j}: {e}"))?;
            if !(noise.scale.is_finite() && noise.scale > 0.0) {
                return Err(format!("node {j}: noise scale {} is not finite and positive", noise.scale));
            }
        }
        if self.all_gaussian != self.noises.iter().all(|n| n.kind == NoiseKind::Gaussian) {
            return Err("the all-Gaussian flag disagrees with the noise laws".to_string());
        }
        Ok(())
    }

    /// The pickle state of an SCM with its own noise stream `rng`: JSON of the pair.
    pub fn to_state(&self, rng: &Rng) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&(self, rng))
    }

    /// The (SCM, noise stream) of a pickle state written by [`Scm::to_state`], refused
    /// with the reason when it does not parse, is not consistent or has an all-zero stream.
    pub fn from_state(state: &[u8]) -> Result<(Scm, Rng)> {
        let corrupt = |reason: &dyn std::fmt::Display| EngineError::refused(format!("corrupt Scm pickle state: {reason}"));
        let (scm, rng): (Scm, Rng) = serde_json::from_slice(state).map_err(|e| corrupt(&e))?;
        scm.check_consistent().map_err(|e| corrupt(&e))?;
        if !rng.is_valid() {
            return Err(corrupt(&"the noise stream's state is all zero"));
        }
        Ok((Scm::new(scm.dag, scm.mechanisms, scm.params, scm.noises), rng))
    }

    /// Assemble an SCM; mechanisms and noises are per node, in index order, and the
    /// mechanisms' spans point into `params`.
    pub fn new(dag: Dag, mechanisms: Vec<Mechanism>, params: Vec<f32>, noises: Vec<Noise>) -> Scm {
        let all_gaussian = noises.iter().all(|nz| nz.kind == NoiseKind::Gaussian);
        let plan = LinearPlan::of(&dag, &mechanisms, &params);
        Scm { dag, mechanisms, params, noises, all_gaussian, plan }
    }

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
    /// intervention leaves the values of non-descendants bit for bit unchanged. Rows with
    /// an infinite or NaN value (parameters or intervention values that overflow float32)
    /// are refused with [`EngineError::NonFinite`] ("the sample").
    pub fn sample_into(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) -> Result<()> {
        match simd_level() {
            // SAFETY: simd_level() reports a level only when the CPU has its features.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => unsafe { self.sample_avx512(n, ivs, rng, out, stride) },
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => unsafe { self.sample_avx2(n, ivs, rng, out, stride) },
            _ => self.sample_generic::<false>(n, ivs, rng, out, stride),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512dq,avx512bw")]
    unsafe fn sample_avx512(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) -> Result<()> {
        self.sample_generic::<true>(n, ivs, rng, out, stride)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sample_avx2(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) -> Result<()> {
        self.sample_generic::<true>(n, ivs, rng, out, stride)
    }

    #[inline(always)]
    fn sample_generic<const SIMD: bool>(&self, n: usize, ivs: Interventions<'_>, rng: &mut Rng, out: &mut [f32], stride: usize) -> Result<()> {
        // The buffers are moved out of the thread-local rather than borrowed in a closure:
        // closures do not inherit the caller's target features, so work done inside
        // `with(|..| ..)` would lose the AVX2 code generation.
        let mut ws = WORKSPACE.with(RefCell::take);
        let done = self.sample_with::<SIMD>(&mut ws, n, ivs, rng, out, stride);
        if ws.cols.len() <= KEEP_WORKSPACE_CELLS {
            WORKSPACE.with(|slot| slot.replace(ws));
        }
        done
    }

    #[inline(always)]
    fn sample_with<const SIMD: bool>(
        &self,
        ws: &mut Workspace,
        n: usize,
        ivs: Interventions<'_>,
        rng: &mut Rng,
        out: &mut [f32],
        stride: usize,
    ) -> Result<()> {
        let d = self.d();
        ws.fit(d, n)?;
        self.fill_noise(rng, n, &mut ws.noise);
        if let Some(plan) = self.plan.as_ref().filter(|_| n < ROW_MAJOR_BELOW) {
            self.linear_rows(plan, ws, n, ivs);
        } else {
            for &j in &self.dag.order {
                if let Some(v) = ivs.all_rows_value(j) {
                    ws.cols[j * n..(j + 1) * n].fill(v);
                    continue;
                }
                self.eval_node(j, n, &ws.cols, &ws.noise, &mut ws.out, &mut ws.scratch);
                ws.set_column(j, n, d, ivs);
            }
        }
        // Checked while the columns are in cache: one vectorised pass over what is returned.
        if !all_finite(&ws.cols[..n * d]) {
            return Err(EngineError::non_finite("the sample"));
        }
        write_rows::<SIMD>(&ws.cols, n, d, out, stride);
        Ok(())
    }

    /// The node columns of a few rows of an all-linear SCM from its [`LinearPlan`], row by
    /// row with each node's sum in a register (column by column, one row per node is a
    /// chain of stores and reloads), with the arithmetic of `Mechanism::eval` (so the same
    /// bits): a root is (b + 0) + noise, any other node ((b + w_1 x_1) + w_2 x_2 ...) +
    /// noise.
    #[inline(always)]
    fn linear_rows(&self, plan: &LinearPlan, ws: &mut Workspace, n: usize, ivs: Interventions<'_>) {
        let d = self.d();
        for r in 0..n {
            for step in &plan.steps {
                let j = step.node as usize;
                let value = if let Some(v) = ivs.all_rows_value(j) {
                    v
                } else {
                    let edges = &plan.edges[step.first_edge as usize..(step.first_edge + step.edges) as usize];
                    let mut x = if edges.is_empty() { step.bias + 0.0 } else { step.bias };
                    for &(p, w) in edges {
                        x += w * ws.cols[p as usize * n + r];
                    }
                    x += ws.noise[j * n + r];
                    match ivs {
                        Interventions::PerRow { mask, values } if mask[r * d + j] != 0 => values[r * d + j],
                        _ => x,
                    }
                };
                ws.cols[j * n + r] = value;
            }
        }
    }

    /// The scaled noise of `n` rows of every node, node after node (`noise[i * n..(i + 1) *
    /// n]` for node i), drawn from `rng`'s stream.
    #[inline(always)]
    fn fill_noise(&self, rng: &mut Rng, n: usize, noise: &mut [f32]) {
        let mut lanes = LaneRng::from_rng(rng);
        if self.all_gaussian {
            // One fill for all nodes: with few rows, per-node fills would each draw a whole
            // block of 2 * LANES normals and use only n of them.
            lanes.fill_normal(&mut noise[..self.d() * n]);
            for (i, nz) in self.noises.iter().enumerate() {
                for x in &mut noise[i * n..(i + 1) * n] {
                    *x *= nz.scale;
                }
            }
        } else {
            for (i, nz) in self.noises.iter().enumerate() {
                nz.fill(&mut lanes, &mut noise[i * n..(i + 1) * n]);
            }
        }
    }

    /// Node `j`'s values on `n` rows into `out`, from its parents' columns in the
    /// column-major `cols` and its noise in `noise` (as [`Scm::fill_noise`] lays them out).
    #[inline(always)]
    fn eval_node(&self, j: usize, n: usize, cols: &[f32], noise: &[f32], out: &mut [f32], scratch: &mut [f32]) {
        let parents = Parents::new(cols, n, self.dag.parents(j));
        self.mechanisms[j].eval(&self.params, parents, &noise[j * n..(j + 1) * n], out, scratch);
    }

    /// Column `column` of `n` rows under each single intervention of `pairs` (None: no
    /// intervention), every one with the noise of the stream `seed` (common random
    /// numbers): `out[m * n..(m + 1) * n]` equals, bit for bit, that column of
    /// `sample_into(n, pair m, Rng::new(seed), ..)`. The noise and the unintervened values
    /// are computed once per thread; per pair only the nodes that are both descendants of
    /// the intervened node and ancestors of `column` are evaluated again. A Monte Carlo
    /// optimum asks for hundreds of pairs, and most nodes are untouched by each.
    pub fn column_under_interventions(&self, n: usize, pairs: &[Option<(usize, f32)>], seed: u64, column: usize) -> Result<Vec<f32>> {
        let mut out = budget::zeroed("the columns under interventions", pairs.len() * n)?;
        crate::parallel::chunks_into(pairs, &mut out, n, |chunk, slot| self.column_under_interventions_here(n, chunk, seed, column, slot))?;
        Ok(out)
    }

    /// [`Scm::column_under_interventions`] on the calling thread, written into `out`
    /// (`pairs.len() * n` cells), for callers that run many SCMs in parallel (a vector
    /// environment's what-if: a few candidates for each of many environments). The same
    /// bits.
    pub fn column_under_interventions_here(&self, n: usize, pairs: &[Option<(usize, f32)>], seed: u64, column: usize, out: &mut [f32]) -> Result<()> {
        let crn = self.common_random_numbers(n, seed, column)?;
        self.crn_columns(&crn, pairs, out)
    }

    /// The unintervened state of `n` rows under the stream `seed`, kept to score any
    /// number of single interventions on `column` later ([`Scm::crn_columns`]): a Monte
    /// Carlo response is asked for one value at a time by a scalar minimiser, and would
    /// otherwise draw the noise and evaluate every node again for each.
    pub fn common_random_numbers(&self, n: usize, seed: u64, column: usize) -> Result<CommonRandomNumbers> {
        crate::error::node_index("column", column, self.d())?;
        match simd_level() {
            // SAFETY: simd_level() reports a level only when the CPU has its features.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => unsafe { self.crn_base_avx512(n, seed, column) },
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => unsafe { self.crn_base_avx2(n, seed, column) },
            _ => self.crn_base_generic(n, seed, column),
        }
    }

    /// Column `crn.column` under each single intervention of `pairs` (None: no
    /// intervention), from the common random numbers `crn` of this SCM, into `out`
    /// (`pairs.len() * crn.n` cells): per pair only the nodes that are both descendants of
    /// the intervened node and ancestors of the column are evaluated again. Columns with an
    /// infinite or NaN value are refused with [`EngineError::NonFinite`].
    pub fn crn_columns(&self, crn: &CommonRandomNumbers, pairs: &[Option<(usize, f32)>], out: &mut [f32]) -> Result<()> {
        if crn.cols.len() != self.d() * crn.n || out.len() != pairs.len() * crn.n {
            return Err(EngineError::refused(format!(
                "common random numbers of {} cells for an SCM of {} nodes and {} rows, or an output of {} cells for {} pairs",
                crn.cols.len(), self.d(), crn.n, out.len(), pairs.len()
            )));
        }
        match simd_level() {
            // SAFETY: simd_level() reports a level only when the CPU has its features.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => unsafe { self.crn_pairs_avx512(crn, pairs, out) },
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => unsafe { self.crn_pairs_avx2(crn, pairs, out) },
            _ => self.crn_pairs_generic(crn, pairs, out),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512dq,avx512bw")]
    unsafe fn crn_base_avx512(&self, n: usize, seed: u64, column: usize) -> Result<CommonRandomNumbers> {
        self.crn_base_generic(n, seed, column)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn crn_base_avx2(&self, n: usize, seed: u64, column: usize) -> Result<CommonRandomNumbers> {
        self.crn_base_generic(n, seed, column)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512dq,avx512bw")]
    unsafe fn crn_pairs_avx512(&self, crn: &CommonRandomNumbers, pairs: &[Option<(usize, f32)>], out: &mut [f32]) -> Result<()> {
        self.crn_pairs_generic(crn, pairs, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn crn_pairs_avx2(&self, crn: &CommonRandomNumbers, pairs: &[Option<(usize, f32)>], out: &mut [f32]) -> Result<()> {
        self.crn_pairs_generic(crn, pairs, out)
    }

    /// The noise and unintervened values of [`Scm::common_random_numbers`], with loops
    /// rather than closures so that the SIMD callers' code generation reaches them.
    #[inline(always)]
    fn crn_base_generic(&self, n: usize, seed: u64, column: usize) -> Result<CommonRandomNumbers> {
        let d = self.d();
        let mut base = Workspace::default();
        base.fit(d, n)?;
        self.fill_noise(&mut Rng::new(seed), n, &mut base.noise);
        for &j in &self.dag.order {
            self.eval_node(j, n, &base.cols, &base.noise, &mut base.out, &mut base.scratch);
            base.cols[j * n..(j + 1) * n].copy_from_slice(&base.out);
        }
        // Per node: whether it is `column` or an ancestor of it (the only nodes that can
        // move it), and its place in the topological order.
        let mut relevant = vec![false; d];
        relevant[column] = true;
        for &j in self.dag.order.iter().rev() {
            if relevant[j] {
                for &p in self.dag.parents(j) {
                    relevant[p] = true;
                }
            }
        }
        let mut position = vec![0; d];
        for (k, &j) in self.dag.order.iter().enumerate() {
            position[j] = k;
        }
        Ok(CommonRandomNumbers { n, column, relevant, position, noise: base.noise, cols: base.cols })
    }

    /// The columns of [`Scm::crn_columns`], with loops rather than closures (see above).
    #[inline(always)]
    fn crn_pairs_generic(&self, crn: &CommonRandomNumbers, pairs: &[Option<(usize, f32)>], out: &mut [f32]) -> Result<()> {
        let (d, n, column) = (self.d(), crn.n, crn.column);
        // The working columns start as the kept ones; no noise of its own.
        let mut work = Workspace::default();
        budget::grow("the sampler's node columns", &mut work.cols, d * n, 0.0)?;
        work.cols.copy_from_slice(&crn.cols);
        budget::grow("the sampler's row buffer", &mut work.out, n, 0.0)?;
        budget::grow("the sampler's row buffer", &mut work.scratch, n, 0.0)?;
        let mut moved = vec![false; d];
        for (pair, slot) in pairs.iter().zip(out.chunks_exact_mut(n)) {
            match *pair {
                Some((i, v)) if i == column => slot.fill(v),
                Some((i, v)) if crn.relevant[i] => {
                    work.cols[i * n..(i + 1) * n].fill(v);
                    moved.fill(false);
                    moved[i] = true;
                    for &j in &self.dag.order[crn.position[i] + 1..] {
                        // A relevant node's parents that can move are all relevant too.
                        if crn.relevant[j] && self.dag.parents(j).iter().any(|&p| moved[p]) {
                            self.eval_node(j, n, &work.cols, &crn.noise, &mut work.out, &mut work.scratch);
                            work.cols[j * n..(j + 1) * n].copy_from_slice(&work.out);
                            moved[j] = true;
                        }
                    }
                    slot.copy_from_slice(&work.cols[column * n..(column + 1) * n]);
                    // Restore the moved columns for the next pair.
                    for (j, &m) in moved.iter().enumerate() {
                        if m {
                            work.cols[j * n..(j + 1) * n].copy_from_slice(&crn.cols[j * n..(j + 1) * n]);
                        }
                    }
                }
                _ => slot.copy_from_slice(&crn.cols[column * n..(column + 1) * n]),
            }
        }
        if !all_finite(out) {
            return Err(EngineError::non_finite("the sample under common random numbers"));
        }
        Ok(())
    }
}

/// One SCM's unintervened state under a stream of common random numbers: every node's
/// noise and value for `n` rows, and which nodes can move `column`
/// ([`Scm::common_random_numbers`]). Valid only with the SCM that made it.
#[derive(Clone, Debug)]
pub struct CommonRandomNumbers {
    n: usize,
    column: usize,
    /// Per node: whether it is `column` or one of its ancestors.
    relevant: Vec<bool>,
    /// Per node: its place in the topological order.
    position: Vec<usize>,
    noise: Vec<f32>,
    cols: Vec<f32>,
}

impl CommonRandomNumbers {
    /// Rows per column.
    pub fn n(&self) -> usize {
        self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::tests::spec_with;
    use crate::fastmath::{force_level, set_simd};
    use crate::mechanism::MechanismSpec;

    fn draw(scm: &Scm, n: usize, ivs: Interventions<'_>, seed: u64) -> Vec<f32> {
        let mut out = vec![0f32; n * scm.d()];
        scm.sample_into(n, ivs, &mut Rng::new(seed), &mut out, scm.d()).unwrap();
        out
    }

    #[test]
    fn every_simd_level_gives_the_plain_bytes() {
        for mech in crate::family::tests::all_mechanisms() {
            let scm = spec_with(mech.clone()).sample_scm(4);
            for n in [1, 13, 300] {
                assert!(force_level(SimdLevel::Plain));
                let plain = draw(&scm, n, Interventions::None, 1);
                for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
                    if force_level(level) {
                        let fast = draw(&scm, n, Interventions::None, 1);
                        let same = fast.iter().zip(&plain).all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(same, "{level:?} differs from plain for {mech:?}, n = {n}");
                    }
                }
                set_simd(true);
            }
        }
    }

    /// The row-by-row path of linear SCMs against the column-by-column one, for every
    /// kind of intervention.
    #[test]
    fn linear_rows_give_the_bytes_of_the_column_path() {
        let scm = spec_with(MechanismSpec::Linear {
            weights: crate::dist::Dist::SignedUniform { low: 0.5, high: 2.0 },
            bias: crate::dist::Dist::Uniform { low: -1.0, high: 1.0 },
        })
        .sample_scm(5);
        assert!(scm.plan.is_some());
        let generic = Scm { plan: None, ..scm.clone() };
        let d = scm.d();
        let node = scm.dag.order[d / 2];
        for n in [1, 5, 8, 13, 300] {
            let pairs = [(node, 2.5f32)];
            let mask: Vec<u8> = (0..n * d).map(|c| u8::from(c % 7 == 3)).collect();
            let values: Vec<f32> = (0..n * d).map(|c| c as f32 * 0.25).collect();
            for ivs in [Interventions::None, Interventions::AllRows(&pairs), Interventions::PerRow { mask: &mask, values: &values }] {
                let (fast, slow) = (draw(&scm, n, ivs, 9), draw(&generic, n, ivs, 9));
                assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()), "n = {n}, {ivs:?}");
            }
        }
        let mlp = spec_with(crate::family::tests::all_mechanisms().remove(6)).sample_scm(5);
        assert!(mlp.plan.is_none());
    }

    #[test]
    fn common_random_number_columns_equal_separate_samples() {
        for mech in crate::family::tests::all_mechanisms() {
            let scm = spec_with(mech.clone()).sample_scm(8);
            let d = scm.d();
            let column = scm.dag.order[d - 1];
            // Every node (the column itself, its ancestors, the others), twice, and no intervention:
            // more pairs than MIN_PARALLEL_ITEMS, so the chunks run on the pool.
            let pairs: Vec<Option<(usize, f32)>> =
                (0..d).flat_map(|i| [Some((i, 0.5)), Some((i, -1.25))]).chain([None]).cycle().take(40).collect();
            let got = scm.column_under_interventions(9, &pairs, 77, column).unwrap();
            for (m, pair) in pairs.iter().enumerate() {
                let ivs = pair.as_slice();
                let rows = draw(&scm, 9, if ivs.is_empty() { Interventions::None } else { Interventions::AllRows(ivs) }, 77);
                for r in 0..9 {
                    assert_eq!(got[m * 9 + r].to_bits(), rows[r * d + column].to_bits(), "{mech:?} pair {pair:?} row {r}");
                }
            }
        }
    }

    /// The linear SCM of `seed` (weights of magnitude 0.5 to 2, no bias).
    fn linear_scm(seed: u64) -> Scm {
        spec_with(MechanismSpec::Linear {
            weights: crate::dist::Dist::SignedUniform { low: 0.5, high: 2.0 },
            bias: crate::dist::Dist::Fixed { value: 0.0 },
        })
        .sample_scm(seed)
    }

    /// Common random numbers kept across calls give the columns of separate calls.
    #[test]
    fn kept_common_random_numbers_give_the_columns_of_fresh_ones() {
        for mech in crate::family::tests::all_mechanisms() {
            let scm = spec_with(mech.clone()).sample_scm(6);
            let column = scm.dag.order[scm.d() - 1];
            let crn = scm.common_random_numbers(11, 5, column).unwrap();
            for pairs in [vec![Some((scm.dag.order[0], 1.5f32)), None], vec![Some((column, -2.0))], vec![Some((scm.dag.order[1], 0.25))]] {
                let mut kept = vec![0f32; pairs.len() * 11];
                scm.crn_columns(&crn, &pairs, &mut kept).unwrap();
                let fresh = scm.column_under_interventions(11, &pairs, 5, column).unwrap();
                assert!(kept.iter().zip(&fresh).all(|(a, b)| a.to_bits() == b.to_bits()), "{mech:?} {pairs:?}");
            }
            let other = spec_with(mech.clone()).sample_scm(7);
            let mut out = vec![0f32; 11];
            if other.d() != scm.d() {
                assert!(other.crn_columns(&crn, &[None], &mut out).is_err());
            }
            assert!(scm.common_random_numbers(11, 5, scm.d()).is_err());
        }
    }

    /// Weights of 1e30 along a chain overflow float32 from the third node on: the sample is
    /// refused on the column path, on the row path of a few linear rows and under common
    /// random numbers; weights of 1 pass.
    #[test]
    fn samples_that_overflow_are_refused() {
        let mut spec = spec_with(MechanismSpec::Linear { weights: crate::dist::Dist::Fixed { value: 1e30 }, bias: crate::dist::Dist::Fixed { value: 0.0 } });
        spec.graph = crate::graph::GraphSpec::Chain;
        let scm = spec.sample_scm(1);
        let (d, last) = (scm.d(), scm.dag.order[scm.d() - 1]);
        for n in [1, ROW_MAJOR_BELOW, 300] {
            let mut out = vec![0f32; n * d];
            let e = scm.sample_into(n, Interventions::None, &mut Rng::new(2), &mut out, d).unwrap_err();
            assert_eq!(e, EngineError::non_finite("the sample"), "n = {n}");
        }
        let e = scm.column_under_interventions(5, &[None, Some((last, 1.0))], 3, last).unwrap_err();
        assert_eq!(e, EngineError::non_finite("the sample under common random numbers"));
        // do(last = 1) alone is finite: the refusal looks at what is returned.
        assert_eq!(scm.column_under_interventions(5, &[Some((last, 1.0))], 3, last).unwrap(), vec![1.0; 5]);
        spec.mechanism = MechanismSpec::Linear { weights: crate::dist::Dist::Fixed { value: 1.0 }, bias: crate::dist::Dist::Fixed { value: 0.0 } };
        assert!(draw(&spec.sample_scm(1), 300, Interventions::None, 2).iter().all(|x| x.is_finite()));
    }

    #[test]
    fn intervention_only_changes_descendants() {
        let scm = linear_scm(21);
        let d = scm.d();
        let node = scm.dag.order[d / 2];
        let obs = draw(&scm, 50, Interventions::None, 3);
        let pairs = [(node, 7.5f32)];
        let int = draw(&scm, 50, Interventions::AllRows(&pairs), 3);
        // Descendants of `node` by reachability.
        let mut desc = vec![false; d];
        desc[node] = true;
        for &j in &scm.dag.order {
            if scm.dag.parents(j).iter().any(|&p| desc[p]) {
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
    fn pickle_states_round_trip_and_corrupt_ones_are_refused() {
        let scm = linear_scm(5);
        let rng = Rng::new(9);
        let state = scm.to_state(&rng).unwrap();
        assert_eq!(Scm::from_state(&state).unwrap(), (scm.clone(), rng));
        let e = Scm::from_state(b"not a state").unwrap_err().to_string();
        assert!(e.starts_with("corrupt Scm pickle state: ") && e.contains("line 1"), "{e}");
        let mut value: serde_json::Value = serde_json::from_slice(&state).unwrap();
        value[1]["s"] = serde_json::json!([0, 0, 0, 0]);
        let e = Scm::from_state(&serde_json::to_vec(&value).unwrap()).unwrap_err().to_string();
        assert_eq!(e, "corrupt Scm pickle state: the noise stream's state is all zero");
        let mut value: serde_json::Value = serde_json::from_slice(&state).unwrap();
        value[0]["mechanisms"].as_array_mut().unwrap().pop();
        let e = Scm::from_state(&serde_json::to_vec(&value).unwrap()).unwrap_err().to_string();
        assert!(e.starts_with("corrupt Scm pickle state: ") && e.contains("mechanisms and"), "{e}");
    }

    #[test]
    fn do_dict_entries_are_checked_before_float32() {
        assert_eq!(intervention_pair(2, 0.5, 5), Ok((2, 0.5)));
        // Non-finite values pass here: `validate` names them once every entry is read.
        assert!(intervention_pair(2, f64::NAN, 5).unwrap().1.is_nan());
        let e = intervention_pair(2, 1e300, 5).unwrap_err().to_string();
        assert_eq!(e, "do value of node 2 = 1e300 is not allowed: must be finite and within float32 range (|v| <= 3.4e38)");
        // The value is checked first, as the bindings always did.
        assert!(intervention_pair(99, -1e300, 5).unwrap_err().to_string().starts_with("do value of node 99 = -1e300 "));
        for node in [-1, 5, 99] {
            let e = intervention_pair(node, 1.0, 5).unwrap_err().to_string();
            assert_eq!(e, format!("do node = {node} is not allowed: must be a node index in [0, 4]"));
        }
    }

    #[test]
    fn per_row_do_shapes_must_be_n_by_d() {
        assert_eq!(per_row_shape("mask", [3, 5], 3, 5), Ok(()));
        let e = per_row_shape("values", [2, 5], 3, 5).unwrap_err().to_string();
        assert_eq!(e, "do values shape = [2, 5] is not allowed: must be (n, d) = (3, 5)");
        let e = per_row_shape("mask", [3, 4], 3, 5).unwrap_err().to_string();
        assert_eq!(e, "do mask shape = [3, 4] is not allowed: must be (n, d) = (3, 5)");
    }

    #[test]
    fn batched_interventions_name_their_entry() {
        assert_eq!(single_intervention(0, -1, f32::NAN, 3), Ok(None));
        assert_eq!(single_intervention(0, 2, 1.5, 3), Ok(Some((2, 1.5))));
        let e = single_intervention(1, 50, 0.0, 3).unwrap_err().to_string();
        assert_eq!(e, "nodes[1] = 50 is not allowed: must be < 0 (no intervention) or a node index in [0, 2]");
        for (value, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
            let e = single_intervention(4, 0, value, 3).unwrap_err().to_string();
            assert_eq!(e, format!("values[4] = {shown} is not allowed: must be finite"));
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
