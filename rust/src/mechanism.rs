//! Mechanisms: how a node's value follows from its parents and its noise.
//!
//! A [`MechanismSpec`] is a distribution over functions; [`MechanismSpec::instantiate`]
//! draws one [`Mechanism`] for a node with `k` parents. Evaluation works column-wise on
//! `n` rows at once so that the inner loops run over contiguous rows and vectorise.
//!
//! A mechanism's vectors of parameters live in one flat buffer per SCM (`Scm::params`),
//! each named by a [`Span`]: an SCM is a handful of allocations instead of one per node,
//! which makes drawing and dropping thousands of SCMs (a vector environment's episode
//! starts) cheap, and keeps each SCM's parameters together in memory.

use crate::dist::{extend_standard_normals, validate_mixture_weights, Dist};
use crate::error::{int_in, Result};
use crate::fastmath::{cos_f32, sigmoid_f32, sin_f32, softplus_f32, tanh_f32};
use crate::params::Span;
use crate::seed::Rng;
use serde::{Deserialize, Serialize};

/// Hidden activation of MLP mechanisms.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    LeakyRelu,
    Tanh,
    Sigmoid,
}

/// The outer function of post-nonlinear mechanisms, x = g(w . pa + b + noise).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Nonlinearity {
    Cube,
    Sigmoid,
    Tanh,
}

/// A distribution over mechanisms (one per node is drawn).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MechanismSpec {
    /// x = w . pa + b + noise.
    Linear { weights: Dist, bias: Dist },
    /// x = W2 act(W1 pa / sqrt(k) + b1) / sqrt(hidden) + b2 + noise, weights and biases drawn
    /// from `weights` and `bias`. With `noise_input` the noise is an extra input of the
    /// network instead of being added (non-additive noise).
    Mlp {
        hidden: usize,
        activation: Activation,
        weights: Dist,
        bias: Dist,
        noise_input: bool,
    },
    /// A Gaussian-process draw with an RBF kernel, approximated by `features` random Fourier
    /// features: x = s sqrt(2/F) sum_f a_f cos(omega_f . pa / l + phi_f) + noise, with
    /// omega ~ N(0, I), phi ~ U[0, 2 pi), a ~ N(0, 1), l ~ `length_scale`, s ~ `output_scale`.
    Gp {
        features: usize,
        length_scale: Dist,
        output_scale: Dist,
    },
    /// Post-nonlinear: x = g(w . pa + b + noise) with g in {cube, sigmoid, tanh}.
    Pnl {
        nonlinearity: Nonlinearity,
        weights: Dist,
        bias: Dist,
    },
    /// x = sum_i w_i pa_i^2 + noise.
    Square { weights: Dist },
    /// x = sum_i w_i sin(f_i pa_i) + noise, with frequencies f_i ~ `frequency`.
    Periodic { weights: Dist, frequency: Dist },
    /// One step of the logistic map on the squashed parents: z = sigmoid(w . pa),
    /// x = r z (1 - z) + noise with rate r ~ `rate` (chaotic for r near 4).
    LogisticMap { weights: Dist, rate: Dist },
    /// Heteroscedastic: x = w . pa + b + softplus(v . pa) noise, v ~ `scale_weights`.
    Heteroscedastic {
        weights: Dist,
        bias: Dist,
        scale_weights: Dist,
    },
    /// One component drawn per node with probability proportional to `weights`.
    Mixture {
        components: Vec<MechanismSpec>,
        weights: Vec<f64>,
    },
}

/// One drawn mechanism (k = number of parents): its scalar parameters, and the spans of
/// its vectors in the SCM's parameter buffer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Mechanism {
    Linear { w: Span, b: f32 },
    /// `w1` is hidden x k_in row-major (k_in = k + 1 with noise input), already scaled.
    Mlp {
        w1: Span,
        b1: Span,
        w2: Span,
        b2: f32,
        act: Activation,
        noise_input: bool,
    },
    /// `omega` is F x k row-major, already divided by the length scale; `amp` includes
    /// the output scale and sqrt(2/F).
    Rff { omega: Span, phase: Span, amp: Span },
    Pnl { w: Span, b: f32, g: Nonlinearity },
    Square { w: Span },
    Periodic { w: Span, freq: Span },
    Logistic { w: Span, rate: f32 },
    Hetero { w: Span, b: f32, v: Span },
}

impl Mechanism {
    /// Every span of the mechanism, in declaration order.
    fn spans(&self) -> Vec<Span> {
        match *self {
            Mechanism::Linear { w, .. } | Mechanism::Pnl { w, .. } | Mechanism::Square { w } | Mechanism::Logistic { w, .. } => vec![w],
            Mechanism::Mlp { w1, b1, w2, .. } => vec![w1, b1, w2],
            Mechanism::Rff { omega, phase, amp } => vec![omega, phase, amp],
            Mechanism::Periodic { w, freq } => vec![w, freq],
            Mechanism::Hetero { w, v, .. } => vec![w, v],
        }
    }

    /// Whether the parameter counts fit a node with `k` parents, every span lies inside
    /// `params` and every parameter is finite (see `Scm::check_consistent`).
    pub fn check_arity(&self, k: usize, params: &[f32]) -> std::result::Result<(), String> {
        if let Some(span) = self.spans().into_iter().find(|s| !s.fits(params.len())) {
            return Err(format!("the {} mechanism's parameters {span:?} lie outside the {} parameters", self.name(), params.len()));
        }
        let finite = |xs: Span| xs.of(params).iter().all(|x| x.is_finite());
        let (ok, what) = match *self {
            Mechanism::Linear { w, b } => (w.len == k && finite(w) && b.is_finite(), "linear"),
            Mechanism::Pnl { w, b, .. } => (w.len == k && finite(w) && b.is_finite(), "pnl"),
            Mechanism::Mlp { w1, b1, w2, b2, noise_input, .. } => {
                let (hidden, k_in) = (b1.len, k + usize::from(noise_input));
                let shapes = (1..=MAX_HIDDEN).contains(&hidden) && w1.len == hidden * k_in && w2.len == hidden;
                (shapes && finite(w1) && finite(b1) && finite(w2) && b2.is_finite(), "mlp")
            }
            Mechanism::Rff { omega, phase, amp } => {
                let f = phase.len;
                let shapes = (1..=MAX_HIDDEN).contains(&f) && omega.len == f * k && amp.len == f;
                (shapes && finite(omega) && finite(phase) && finite(amp), "gp")
            }
            Mechanism::Square { w } => (w.len == k && finite(w), "square"),
            Mechanism::Periodic { w, freq } => (w.len == k && freq.len == k && finite(w) && finite(freq), "periodic"),
            Mechanism::Logistic { w, rate } => (w.len == k && finite(w) && rate.is_finite(), "logistic_map"),
            Mechanism::Hetero { w, b, v } => (w.len == k && v.len == k && finite(w) && finite(v) && b.is_finite(), "heteroscedastic"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("the {what} mechanism's parameters do not fit {k} parents or are not finite"))
        }
    }
}

/// Largest MLP width and RFF feature count accepted (bounds memory per node).
pub const MAX_HIDDEN: usize = 4096;

impl MechanismSpec {
    /// Check every parameter; `path` is the dotted location used in messages.
    pub fn validate(&self, path: &str) -> Result<()> {
        let p = |f: &str| format!("{path}.{f}");
        match self {
            MechanismSpec::Linear { weights, bias } | MechanismSpec::Pnl { weights, bias, .. } => {
                weights.validate(&p("weights"))?;
                bias.validate(&p("bias"))
            }
            MechanismSpec::Mlp { hidden, weights, bias, .. } => {
                int_in(&p("hidden"), *hidden, 1, MAX_HIDDEN)?;
                weights.validate(&p("weights"))?;
                bias.validate(&p("bias"))
            }
            MechanismSpec::Gp { features, length_scale, output_scale } => {
                int_in(&p("features"), *features, 1, MAX_HIDDEN)?;
                length_scale.validate_positive(&p("length_scale"))?;
                output_scale.validate(&p("output_scale"))
            }
            MechanismSpec::Square { weights } => weights.validate(&p("weights")),
            MechanismSpec::Periodic { weights, frequency } => {
                weights.validate(&p("weights"))?;
                frequency.validate(&p("frequency"))
            }
            MechanismSpec::LogisticMap { weights, rate } => {
                weights.validate(&p("weights"))?;
                rate.validate(&p("rate"))
            }
            MechanismSpec::Heteroscedastic { weights, bias, scale_weights } => {
                weights.validate(&p("weights"))?;
                bias.validate(&p("bias"))?;
                scale_weights.validate(&p("scale_weights"))
            }
            MechanismSpec::Mixture { components, weights } => {
                validate_mixture_weights(path, components.len(), weights)?;
                for (i, c) in components.iter().enumerate() {
                    c.validate(&format!("{path}.components[{i}]"))?;
                }
                Ok(())
            }
        }
    }

    /// At most how many float32 parameters (temporaries of `instantiate` included) a node
    /// with `k` parents draws: what bounds the memory of a batch of SCMs before any is drawn.
    pub fn max_floats(&self, k: usize) -> usize {
        let k1 = k.saturating_add(1);
        match self {
            MechanismSpec::Mixture { components, .. } => components.iter().map(|c| c.max_floats(k)).max().unwrap_or(0),
            MechanismSpec::Linear { .. } | MechanismSpec::Pnl { .. } | MechanismSpec::LogisticMap { .. } | MechanismSpec::Square { .. } => k1,
            MechanismSpec::Periodic { .. } | MechanismSpec::Heteroscedastic { .. } => k1.saturating_mul(2),
            MechanismSpec::Mlp { hidden, .. } => hidden.saturating_mul(k1.saturating_add(3)).saturating_mul(2),
            MechanismSpec::Gp { features, .. } => features.saturating_mul(k1.saturating_add(1)).saturating_mul(2),
        }
    }

    /// Draw the mechanism of a node with `k` parents, appending its vectors of parameters
    /// to `params` (the draws, in order, are the same whatever the buffer holds).
    pub fn instantiate(&self, k: usize, rng: &mut Rng, params: &mut Vec<f32>) -> Mechanism {
        match self {
            MechanismSpec::Mixture { components, weights } => components[rng.categorical(weights)].instantiate(k, rng, params),
            MechanismSpec::Linear { weights, bias } => Mechanism::Linear {
                w: weights.extend(rng, k, params),
                b: bias.sample(rng) as f32,
            },
            MechanismSpec::Mlp { hidden, activation, weights, bias, noise_input } => {
                let k_in = k + usize::from(*noise_input);
                let s1 = 1.0 / (k_in.max(1) as f32).sqrt();
                let s2 = 1.0 / (*hidden as f32).sqrt();
                let w1 = scaled(weights.extend(rng, hidden * k_in, params), s1, params);
                let b1 = bias.extend(rng, *hidden, params);
                let w2 = scaled(weights.extend(rng, *hidden, params), s2, params);
                Mechanism::Mlp {
                    w1,
                    b1,
                    w2,
                    b2: bias.sample(rng) as f32,
                    act: *activation,
                    noise_input: *noise_input,
                }
            }
            MechanismSpec::Gp { features, length_scale, output_scale } => {
                let inv_l = 1.0 / length_scale.sample(rng);
                let amp_scale = output_scale.sample(rng) * (2.0 / *features as f64).sqrt();
                let omega = extend_standard_normals(rng, features * k, params);
                rescale(omega, inv_l, params);
                let phase = Span::push(params, (0..*features).map(|_| rng.uniform_in(0.0, std::f64::consts::TAU) as f32));
                let amp = extend_standard_normals(rng, *features, params);
                rescale(amp, amp_scale, params);
                Mechanism::Rff { omega, phase, amp }
            }
            MechanismSpec::Pnl { nonlinearity, weights, bias } => Mechanism::Pnl {
                w: weights.extend(rng, k, params),
                b: bias.sample(rng) as f32,
                g: *nonlinearity,
            },
            MechanismSpec::Square { weights } => Mechanism::Square { w: weights.extend(rng, k, params) },
            MechanismSpec::Periodic { weights, frequency } => Mechanism::Periodic {
                w: weights.extend(rng, k, params),
                freq: frequency.extend(rng, k, params),
            },
            MechanismSpec::LogisticMap { weights, rate } => Mechanism::Logistic {
                w: weights.extend(rng, k, params),
                rate: rate.sample(rng) as f32,
            },
            MechanismSpec::Heteroscedastic { weights, bias, scale_weights } => Mechanism::Hetero {
                w: weights.extend(rng, k, params),
                b: bias.sample(rng) as f32,
                v: scale_weights.extend(rng, k, params),
            },
        }
    }
}

/// Multiply the values of `span` by `s` in float32, in place.
fn scaled(span: Span, s: f32, params: &mut [f32]) -> Span {
    for w in &mut params[span.start..span.start + span.len] {
        *w *= s;
    }
    span
}

/// Replace each value z of `span` by (z * s in float64) rounded to float32, in place.
fn rescale(span: Span, s: f64, params: &mut [f32]) {
    for z in &mut params[span.start..span.start + span.len] {
        *z = (f64::from(*z) * s) as f32;
    }
}

/// The parent columns of one node inside the column-major buffer of all nodes
/// (no per-node allocation: sampling one row must stay cheap).
#[derive(Clone, Copy)]
pub struct Parents<'a> {
    cols: &'a [f32],
    n: usize,
    idx: &'a [usize],
}

impl<'a> Parents<'a> {
    /// `cols` holds node i's `n` rows at `cols[i * n..(i + 1) * n]`.
    pub fn new(cols: &'a [f32], n: usize, idx: &'a [usize]) -> Self {
        Parents { cols, n, idx }
    }

    /// Number of parents.
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// Whether the node is a root.
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// Column of each parent in order.
    #[inline(always)]
    pub fn iter(&self) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (cols, n) = (self.cols, self.n);
        self.idx.iter().map(move |&p| &cols[p * n..(p + 1) * n])
    }
}

/// out[r] = b + sum_p w[p] * parents[p][r].
#[inline(always)]
fn affine(parents: Parents<'_>, w: &[f32], b: f32, out: &mut [f32]) {
    out.fill(b);
    for (x, &wp) in parents.iter().zip(w) {
        for (o, &xv) in out.iter_mut().zip(x.iter()) {
            *o += wp * xv;
        }
    }
}

/// out[r] += w * act(z[r]), with the activation chosen once outside the row loop so that
/// the loop vectorises.
#[inline(always)]
fn add_activated(act: Activation, w: f32, z: &[f32], out: &mut [f32]) {
    #[inline(always)]
    fn run(w: f32, z: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
        for (o, &s) in out.iter_mut().zip(z) {
            *o += w * f(s);
        }
    }
    match act {
        Activation::Relu => run(w, z, out, |s| s.max(0.0)),
        Activation::LeakyRelu => run(w, z, out, |s| s.max(0.1 * s)),
        Activation::Tanh => run(w, z, out, tanh_f32),
        Activation::Sigmoid => run(w, z, out, sigmoid_f32),
    }
}

impl Mechanism {
    /// Short name, as in the spec's `type` field.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Linear { .. } => "linear",
            Mechanism::Mlp { noise_input: false, .. } => "mlp",
            Mechanism::Mlp { noise_input: true, .. } => "mlp_nonadditive",
            Mechanism::Rff { .. } => "gp",
            Mechanism::Pnl { .. } => "pnl",
            Mechanism::Square { .. } => "square",
            Mechanism::Periodic { .. } => "periodic",
            Mechanism::Logistic { .. } => "logistic_map",
            Mechanism::Hetero { .. } => "heteroscedastic",
        }
    }

    /// Whether E[x | pa] is affine in the parents (linear, with additive zero-mean noise).
    pub fn is_linear(&self) -> bool {
        matches!(self, Mechanism::Linear { .. })
    }

    /// Whether the value is f(parents) + noise (then a root is a constant plus its noise).
    fn additive(&self) -> bool {
        !matches!(self, Mechanism::Mlp { noise_input: true, .. } | Mechanism::Pnl { .. } | Mechanism::Hetero { .. })
    }

    /// Write the node's values for all rows into `out`. `params` is the SCM's parameter
    /// buffer, `parents[p]` the column of the p-th parent, `noise` the node's scaled
    /// noise, `scratch` a buffer of the same length.
    #[inline(always)]
    pub fn eval(&self, params: &[f32], parents: Parents<'_>, noise: &[f32], out: &mut [f32], scratch: &mut [f32]) {
        if parents.is_empty() && self.additive() {
            // A root's f() is one constant: evaluate it on one row instead of n (a GP root
            // would otherwise take F cosines per row).
            let (mut c, mut s) = ([0f32], [0f32]);
            self.eval_rows(params, parents, &[0.0], &mut c, &mut s);
            for (o, &e) in out.iter_mut().zip(noise) {
                *o = c[0] + e;
            }
            return;
        }
        self.eval_rows(params, parents, noise, out, scratch);
    }

    #[inline(always)]
    fn eval_rows(&self, params: &[f32], parents: Parents<'_>, noise: &[f32], out: &mut [f32], scratch: &mut [f32]) {
        let of = |span: Span| span.of(params);
        match *self {
            Mechanism::Linear { w, b } => {
                let w = of(w);
                affine(parents, w, b, out);
                add(out, noise);
            }
            Mechanism::Mlp { w1, b1, w2, b2, act, noise_input } => {
                let (w1, b1, w2) = (of(w1), of(b1), of(w2));
                let k_in = parents.len() + usize::from(noise_input);
                out.fill(b2);
                if !noise_input {
                    add(out, noise);
                }
                for (u, (&bu, &w2u)) in b1.iter().zip(w2).enumerate() {
                    let row = &w1[u * k_in..(u + 1) * k_in];
                    affine(parents, row, bu, scratch);
                    if noise_input {
                        let wn = row[k_in - 1];
                        for (s, &e) in scratch.iter_mut().zip(noise) {
                            *s += wn * e;
                        }
                    }
                    add_activated(act, w2u, scratch, out);
                }
            }
            Mechanism::Rff { omega, phase, amp } => rff(parents, of(omega), of(phase), of(amp), noise, out),
            Mechanism::Pnl { w, b, g } => {
                affine(parents, of(w), b, out);
                add(out, noise);
                for o in out.iter_mut() {
                    let z = *o;
                    *o = match g {
                        Nonlinearity::Cube => z * z * z,
                        Nonlinearity::Sigmoid => sigmoid_f32(z),
                        Nonlinearity::Tanh => tanh_f32(z),
                    };
                }
            }
            Mechanism::Square { w } => {
                out.copy_from_slice(noise);
                for (x, &wp) in parents.iter().zip(of(w)) {
                    for (o, &xv) in out.iter_mut().zip(x.iter()) {
                        *o += wp * xv * xv;
                    }
                }
            }
            Mechanism::Periodic { w, freq } => {
                out.copy_from_slice(noise);
                for ((x, &wp), &f) in parents.iter().zip(of(w)).zip(of(freq)) {
                    for (o, &xv) in out.iter_mut().zip(x.iter()) {
                        *o += wp * sin_f32(f * xv);
                    }
                }
            }
            Mechanism::Logistic { w, rate } => {
                affine(parents, of(w), 0.0, out);
                for (o, &e) in out.iter_mut().zip(noise) {
                    let z = sigmoid_f32(*o);
                    *o = rate * z * (1.0 - z) + e;
                }
            }
            Mechanism::Hetero { w, b, v } => {
                affine(parents, of(w), b, out);
                affine(parents, of(v), 0.0, scratch);
                for ((o, &s), &e) in out.iter_mut().zip(scratch.iter()).zip(noise) {
                    *o += softplus_f32(s) * e;
                }
            }
        }
    }
}

/// Rows per block of the GP loop when at least this many remain: four AVX-512 registers
/// (eight AVX2), so that four independent cosine chains overlap per feature.
const WIDE: usize = 64;
/// Rows per block otherwise (one AVX-512 register): a block costs its full width whatever
/// its rows, and a vector environment's step samples one row.
const NARROW: usize = 16;

/// out = noise + sum_f amp_f cos(omega_f . pa + phase_f), by blocks of rows so that the
/// arguments and the running sums stay in registers (or L1) across all F features
/// instead of going through memory once per feature. Each row's sum runs over the
/// features in the same order whatever the block, so the block sizes do not change bits.
#[inline(always)]
fn rff(parents: Parents<'_>, omega: &[f32], phase: &[f32], amp: &[f32], noise: &[f32], out: &mut [f32]) {
    let n = out.len();
    let cols: Vec<&[f32]> = parents.iter().collect();
    let block = Rff { cols: &cols, omega, phase, amp, noise };
    let mut r0 = 0;
    while r0 < n {
        if n - r0 >= WIDE {
            block.rows::<WIDE>(r0, WIDE, &mut out[r0..r0 + WIDE]);
            r0 += WIDE;
        } else {
            let rows = NARROW.min(n - r0);
            block.rows::<NARROW>(r0, rows, &mut out[r0..r0 + rows]);
            r0 += rows;
        }
    }
}

/// Parents held in registers by [`Rff::rows`]; nodes with more take the loop over a
/// buffer of arguments.
const MAX_BLOCK_PARENTS: usize = 8;

/// What every block of a GP node reads: its parents' columns, its features and its noise.
struct Rff<'a> {
    cols: &'a [&'a [f32]],
    omega: &'a [f32],
    phase: &'a [f32],
    amp: &'a [f32],
    noise: &'a [f32],
}

impl Rff<'_> {
    /// Rows `r0 .. r0 + rows` (at most B) into `out`, computed B lanes wide.
    #[inline(always)]
    fn rows<const B: usize>(&self, r0: usize, rows: usize, out: &mut [f32]) {
        let k = self.cols.len();
        let mut acc = [0f32; B];
        acc[..rows].copy_from_slice(&self.noise[r0..r0 + rows]);
        if k <= MAX_BLOCK_PARENTS {
            // Parent values of this block, zero-padded to a full block.
            let mut x = [[0f32; B]; MAX_BLOCK_PARENTS];
            for (xp, col) in x.iter_mut().zip(self.cols) {
                xp[..rows].copy_from_slice(&col[r0..r0 + rows]);
            }
            for (f, (&ph, &a)) in self.phase.iter().zip(self.amp).enumerate() {
                let mut z = [ph; B];
                for (xp, &w) in x[..k].iter().zip(&self.omega[f * k..(f + 1) * k]) {
                    for l in 0..B {
                        z[l] += w * xp[l];
                    }
                }
                for l in 0..B {
                    acc[l] += a * cos_f32(z[l]);
                }
            }
        } else {
            for (f, (&ph, &a)) in self.phase.iter().zip(self.amp).enumerate() {
                let mut z = [ph; B];
                for (p, col) in self.cols.iter().enumerate() {
                    let w = self.omega[f * k + p];
                    for l in 0..rows {
                        z[l] += w * col[r0 + l];
                    }
                }
                for l in 0..B {
                    acc[l] += a * cos_f32(z[l]);
                }
            }
        }
        out.copy_from_slice(&acc[..rows]);
    }
}

#[inline(always)]
fn add(out: &mut [f32], x: &[f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(rows: &[[f32; 2]]) -> (Vec<f32>, Vec<f32>) {
        (rows.iter().map(|r| r[0]).collect(), rows.iter().map(|r| r[1]).collect())
    }

    #[test]
    fn each_mechanism_matches_its_formula() {
        let (a, b) = cols(&[[0.5, -1.0], [2.0, 0.25], [-1.5, 3.0]]);
        let all: Vec<f32> = a.iter().chain(&b).copied().collect();
        let idx = [0usize, 1];
        let parents = Parents::new(&all, 3, &idx);
        let noise = [0.1f32, -0.2, 0.3];
        let mut out = [0f32; 3];
        let mut scratch = [0f32; 3];
        let mut params = Vec::new();
        let w = Span::push(&mut params, [1.5, -0.5]);
        let freq = Span::push(&mut params, [2.0, 0.5]);
        let v = Span::push(&mut params, [0.3, 0.4]);
        let (w1, b1, w2) = (Span::push(&mut params, [1.0, 2.0, 0.5, -1.0, 0.5, 1.0]), Span::push(&mut params, [0.1, -0.2]), Span::push(&mut params, [0.7, -0.3]));
        let (omega, phase, amp) = (Span::push(&mut params, [1.0, -2.0, 0.5, 0.25]), Span::push(&mut params, [0.3, 1.0]), Span::push(&mut params, [0.8, -0.6]));
        let check = |m: Mechanism, f: &dyn Fn(f32, f32, f32) -> f32, out: &mut [f32; 3], scratch: &mut [f32; 3]| {
            m.check_arity(2, &params).unwrap();
            m.eval(&params, parents, &noise, out, scratch);
            for r in 0..3 {
                let want = f(a[r], b[r], noise[r]);
                assert!((out[r] - want).abs() < 1e-5 * (1.0 + want.abs()), "{m:?} row {r}: {} vs {want}", out[r]);
            }
        };
        check(Mechanism::Linear { w, b: 0.7 }, &|x, y, e| 1.5 * x - 0.5 * y + 0.7 + e, &mut out, &mut scratch);
        check(Mechanism::Pnl { w, b: 0.0, g: Nonlinearity::Cube }, &|x, y, e| (1.5 * x - 0.5 * y + e).powi(3), &mut out, &mut scratch);
        check(Mechanism::Square { w }, &|x, y, e| 1.5 * x * x - 0.5 * y * y + e, &mut out, &mut scratch);
        check(
            Mechanism::Periodic { w, freq },
            &|x, y, e| 1.5 * (2.0 * x).sin() - 0.5 * (0.5 * y).sin() + e,
            &mut out,
            &mut scratch,
        );
        check(
            Mechanism::Logistic { w, rate: 3.9 },
            &|x, y, e| {
                let z = 1.0 / (1.0 + (-(1.5 * x - 0.5 * y)).exp());
                3.9 * z * (1.0 - z) + e
            },
            &mut out,
            &mut scratch,
        );
        check(
            Mechanism::Hetero { w, b: 0.2, v },
            &|x, y, e| 1.5 * x - 0.5 * y + 0.2 + (1.0 + (0.3 * x + 0.4 * y).exp()).ln() * e,
            &mut out,
            &mut scratch,
        );
        // MLP with 2 hidden units and the noise as third input.
        check(
            Mechanism::Mlp { w1, b1, w2, b2: 0.05, act: Activation::Tanh, noise_input: true },
            &|x, y, e| 0.05 + 0.7 * (x + 2.0 * y + 0.5 * e + 0.1).tanh() - 0.3 * (-x + 0.5 * y + e - 0.2).tanh(),
            &mut out,
            &mut scratch,
        );
        check(
            Mechanism::Rff { omega, phase, amp },
            &|x, y, e| e + 0.8 * (x - 2.0 * y + 0.3).cos() - 0.6 * (0.5 * x + 0.25 * y + 1.0).cos(),
            &mut out,
            &mut scratch,
        );
    }

    /// The GP over 100 rows (a wide block of 64 and narrow ones of 16 and 16 and 4)
    /// against its formula, row by row in float64.
    #[test]
    fn gp_blocks_of_every_width_match_the_formula() {
        let n = 100;
        let x: Vec<f32> = (0..2 * n).map(|i| (i as f32 * 0.37).sin() * 2.0).collect();
        let noise: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() * 0.1).collect();
        let mut params = Vec::new();
        let omega = Span::push(&mut params, [1.0, -2.0, 0.5, 0.25, -0.75, 1.5]);
        let phase = Span::push(&mut params, [0.3, 1.0, -2.0]);
        let amp = Span::push(&mut params, [0.8, -0.6, 0.4]);
        let (mut out, mut scratch) = (vec![0f32; n], vec![0f32; n]);
        Mechanism::Rff { omega, phase, amp }.eval(&params, Parents::new(&x, n, &[0, 1]), &noise, &mut out, &mut scratch);
        let w = omega.of(&params);
        for r in 0..n {
            let (a, b) = (f64::from(x[r]), f64::from(x[n + r]));
            let want: f64 = f64::from(noise[r])
                + (0..3).map(|f| f64::from(amp.of(&params)[f]) * (f64::from(w[2 * f]) * a + f64::from(w[2 * f + 1]) * b + f64::from(phase.of(&params)[f])).cos()).sum::<f64>();
            assert!((f64::from(out[r]) - want).abs() < 1e-5, "row {r}: {} vs {want}", out[r]);
        }
    }

    /// A tampered span (outside the buffer, or of the wrong length) is refused by name.
    #[test]
    fn spans_outside_the_parameters_or_of_the_wrong_length_are_refused() {
        let params = vec![1.0f32, 2.0];
        let e = Mechanism::Linear { w: Span { start: 1, len: 2 }, b: 0.0 }.check_arity(2, &params).unwrap_err();
        assert!(e.contains("outside the 2 parameters"), "{e}");
        let e = Mechanism::Linear { w: Span { start: usize::MAX, len: 2 }, b: 0.0 }.check_arity(2, &params).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let e = Mechanism::Linear { w: Span { start: 0, len: 2 }, b: 0.0 }.check_arity(3, &params).unwrap_err();
        assert!(e.contains("do not fit 3 parents"), "{e}");
    }

    #[test]
    fn mixture_validation_names_the_component() {
        let spec = MechanismSpec::Mixture {
            components: vec![MechanismSpec::Mlp {
                hidden: 0,
                activation: Activation::Relu,
                weights: Dist::Gaussian { mean: 0.0, std: 1.0 },
                bias: Dist::Fixed { value: 0.0 },
                noise_input: false,
            }],
            weights: vec![1.0],
        };
        let e = spec.validate("mechanism").unwrap_err().to_string();
        assert!(e.contains("mechanism.components[0].hidden = 0"), "{e}");
    }
}
