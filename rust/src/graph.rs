//! Random DAG generators.
//!
//! Every generator builds edges `u -> v` with `u < v` in its own construction labels (so the
//! construction order is topological), then [`Dag::from_edges`] relabels the nodes by a
//! uniformly random permutation: index order is then not a topological order, and a
//! learner cannot read the answer off the variable positions. Undirected models
//! (Watts-Strogatz, SBM, geometric) are oriented from lower to higher construction label,
//! which after the relabelling is a uniformly random acyclic orientation.

use crate::dist::validate_mixture_weights;
use crate::error::{int_at_least, probability, EngineError, Result};
use crate::seed::Rng;
use serde::{Deserialize, Serialize};

/// Most nodes a graph may have, and so most variables of a task or an SCM.
pub const MAX_NODES: usize = 1000;

/// A graph family. Node counts come from the task family, not from here.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GraphSpec {
    /// Erdos-Renyi: each pair is an edge with `edge_prob`, or with the probability that
    /// gives `edges_per_node * d` expected edges. Exactly one of the two is set.
    Er {
        edge_prob: Option<f64>,
        edges_per_node: Option<f64>,
    },
    /// Barabasi-Albert preferential attachment with `m` edges per new node, edges from old to
    /// new nodes (hubs are causes); `transpose` reverses every edge (hubs are effects).
    Sf { m: usize, transpose: bool },
    /// Watts-Strogatz: ring lattice with floor(k/2) neighbours per side (an odd k acts as
    /// k - 1), each edge rewired with `rewire_prob`, as networkx's `watts_strogatz_graph`.
    Ws { k: usize, rewire_prob: f64 },
    /// Stochastic block model with `blocks` (at most d) contiguous, near-equal blocks.
    Sbm { blocks: usize, p_in: f64, p_out: f64 },
    /// Random geometric graph: points uniform in the unit square, edges within `radius`.
    Grg { radius: f64 },
    /// 0 -> 1 -> ... -> d-1.
    Chain,
    /// One cause with d-1 effects.
    Fork,
    /// d-1 causes of one effect.
    Collider,
    /// source -> d-2 parallel mediators -> sink.
    Diamond,
    /// floor((d-1)/2) sources -> hub -> the other nodes (sinks), plus source i -> sink i.
    Butterfly,
    /// `layers` consecutive layers; edges only from a layer to the next, each with
    /// `edge_prob`, and every node after the first layer keeps at least one parent.
    Layered { layers: usize, edge_prob: f64 },
    /// A rooted out-tree in which every node has `branching` children (the last level partly).
    Hierarchical { branching: usize },
    /// round(cause_fraction * d) causes (at least 1, at most d-1) and the rest effects; each
    /// cause -> effect pair is an edge with `edge_prob`, every effect keeps a parent.
    Bipartite { cause_fraction: f64, edge_prob: f64 },
    /// One component drawn per graph with probability proportional to `weights`.
    Mixture {
        components: Vec<GraphSpec>,
        weights: Vec<f64>,
    },
}

/// A DAG with a dense adjacency `adj[i * d + j] = 1` for i -> j.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Dag {
    pub d: usize,
    pub adj: Vec<u8>,
    /// A topological order (causes before effects).
    pub order: Vec<usize>,
    /// Parents of all nodes, node by node in ascending index order (compressed rows: one
    /// allocation per graph instead of one per node).
    parent_list: Vec<usize>,
    /// Node j's parents are `parent_list[parent_start[j]..parent_start[j + 1]]`.
    parent_start: Vec<usize>,
}

impl Dag {
    /// Whether every field agrees with the others, as a DAG built here guarantees; a
    /// deserialised one (an unpickled `Scm`) may come from anywhere. Err names the fault.
    pub fn check_consistent(&self, max_nodes: usize) -> std::result::Result<(), String> {
        let d = self.d;
        if d == 0 || d > max_nodes {
            return Err(format!("d = {d} is not in [1, {max_nodes}]"));
        }
        if self.adj.len() != d * d || self.adj.iter().any(|&a| a > 1) {
            return Err(format!("adjacency has {} entries (must be d * d = {}) of 0 and 1", self.adj.len(), d * d));
        }
        let mut position = vec![usize::MAX; d];
        if self.order.len() != d {
            return Err(format!("order has {} nodes, not d = {d}", self.order.len()));
        }
        for (k, &j) in self.order.iter().enumerate() {
            if j >= d || position[j] != usize::MAX {
                return Err("order is not a permutation of the nodes".to_string());
            }
            position[j] = k;
        }
        let starts = &self.parent_start;
        if starts.len() != d + 1 || starts[0] != 0 || starts.windows(2).any(|w| w[0] > w[1]) || starts[d] != self.parent_list.len() {
            return Err("parent lists are malformed".to_string());
        }
        for j in 0..d {
            let listed = self.parents(j);
            let from_adj: Vec<usize> = (0..d).filter(|&i| self.adj[i * d + j] == 1).collect();
            if listed != from_adj.as_slice() {
                return Err(format!("the parents of node {j} disagree with the adjacency"));
            }
            if listed.iter().any(|&p| position[p] >= position[j]) {
                return Err(format!("order is not topological at node {j}"));
            }
        }
        Ok(())
    }

    /// Relabel construction-order edges (u < v) by a random permutation.
    pub fn from_edges(d: usize, edges: &[(usize, usize)], rng: &mut Rng) -> Dag {
        let perm = rng.permutation(d);
        let mut adj = vec![0u8; d * d];
        for &(u, v) in edges {
            debug_assert!(u < v);
            adj[perm[u] * d + perm[v]] = 1;
        }
        Dag::with_order(d, adj, perm)
    }

    /// A DAG from an adjacency and a topological order that the caller guarantees.
    ///
    /// The parent lists are filled by a counting sort over the rows of the adjacency
    /// ([`nonzero`] of each row) instead of a scan down each column; rows come in
    /// ascending order, so each list is ascending.
    pub fn with_order(d: usize, adj: Vec<u8>, order: Vec<usize>) -> Dag {
        let mut parent_start = vec![0usize; d + 1];
        for row in adj.chunks_exact(d) {
            for (count, &a) in parent_start[1..].iter_mut().zip(row) {
                *count += usize::from(a != 0);
            }
        }
        for j in 0..d {
            parent_start[j + 1] += parent_start[j];
        }
        let mut next = parent_start[..d].to_vec();
        let mut parent_list = vec![0usize; parent_start[d]];
        for (i, row) in adj.chunks_exact(d).enumerate() {
            for j in nonzero(row) {
                parent_list[next[j]] = i;
                next[j] += 1;
            }
        }
        Dag { d, adj, order, parent_list, parent_start }
    }

    /// Parents of node `j` in ascending index order.
    #[inline]
    pub fn parents(&self, j: usize) -> &[usize] {
        &self.parent_list[self.parent_start[j]..self.parent_start[j + 1]]
    }

    /// A DAG from any adjacency; fails if it has a cycle or a self-loop.
    pub fn from_adjacency(d: usize, adj: Vec<u8>) -> Result<Dag> {
        let mut indegree: Vec<usize> = (0..d).map(|j| (0..d).filter(|&i| adj[i * d + j] != 0).count()).collect();
        let mut ready: Vec<usize> = (0..d).rev().filter(|&j| indegree[j] == 0).collect();
        let mut order = Vec::with_capacity(d);
        while let Some(i) = ready.pop() {
            order.push(i);
            for j in (0..d).rev() {
                if adj[i * d + j] != 0 {
                    indegree[j] -= 1;
                    if indegree[j] == 0 {
                        ready.push(j);
                    }
                }
            }
        }
        if order.len() != d {
            return Err(EngineError::param("adjacency", "a graph with a cycle", "must be a DAG (no cycles, no self-loops)"));
        }
        Ok(Dag::with_order(d, adj, order))
    }

    /// Number of edges.
    pub fn n_edges(&self) -> usize {
        self.parent_list.len()
    }
}

impl GraphSpec {
    /// Check parameters that do not depend on the node count.
    pub fn validate(&self, path: &str) -> Result<()> {
        let p = |f: &str| format!("{path}.{f}");
        match self {
            GraphSpec::Er { edge_prob, edges_per_node } => match (edge_prob, edges_per_node) {
                (Some(q), None) => {
                    probability(&p("edge_prob"), *q)?;
                }
                (None, Some(k)) => {
                    if !k.is_finite() || *k < 0.0 {
                        return Err(EngineError::param(p("edges_per_node"), k, "must be finite and >= 0"));
                    }
                }
                _ => {
                    return Err(EngineError::param(
                        path,
                        "edge_prob and edges_per_node",
                        "set exactly one of edge_prob and edges_per_node",
                    ))
                }
            },
            GraphSpec::Sf { m, .. } => {
                int_at_least(&p("m"), *m, 1)?;
            }
            GraphSpec::Ws { k, rewire_prob } => {
                int_at_least(&p("k"), *k, 2)?;
                probability(&p("rewire_prob"), *rewire_prob)?;
            }
            GraphSpec::Sbm { blocks, p_in, p_out } => {
                int_at_least(&p("blocks"), *blocks, 1)?;
                probability(&p("p_in"), *p_in)?;
                probability(&p("p_out"), *p_out)?;
            }
            GraphSpec::Grg { radius } => {
                if !radius.is_finite() || *radius < 0.0 {
                    return Err(EngineError::param(p("radius"), radius, "must be finite and >= 0"));
                }
            }
            GraphSpec::Layered { layers, edge_prob } => {
                int_at_least(&p("layers"), *layers, 1)?;
                probability(&p("edge_prob"), *edge_prob)?;
            }
            GraphSpec::Hierarchical { branching } => {
                int_at_least(&p("branching"), *branching, 1)?;
            }
            GraphSpec::Bipartite { cause_fraction, edge_prob } => {
                probability(&p("cause_fraction"), *cause_fraction)?;
                probability(&p("edge_prob"), *edge_prob)?;
            }
            GraphSpec::Mixture { components, weights } => {
                validate_mixture_weights(path, components.len(), weights)?;
                for (i, c) in components.iter().enumerate() {
                    c.validate(&format!("{path}.components[{i}]"))?;
                }
            }
            GraphSpec::Chain | GraphSpec::Fork | GraphSpec::Collider | GraphSpec::Diamond | GraphSpec::Butterfly => {}
        }
        Ok(())
    }

    /// Check that `d` nodes are enough (and not too many) for this family.
    pub fn validate_nodes(&self, path: &str, d: usize) -> Result<()> {
        // (parameter, its value, the largest value d nodes allow) for size parameters.
        let sized = match self {
            GraphSpec::Sf { m, .. } => Some(("m", *m, d.saturating_sub(1), "m < d")),
            GraphSpec::Ws { k, .. } => Some(("k", *k, d.saturating_sub(1), "k < d")),
            GraphSpec::Layered { layers, .. } => Some(("layers", *layers, d, "layers <= d")),
            GraphSpec::Sbm { blocks, .. } => Some(("blocks", *blocks, d, "blocks <= d")),
            _ => None,
        };
        if let Some((name, value, most, rule)) = sized {
            if value > most {
                return Err(EngineError::param(
                    format!("{path}.{name}"),
                    value,
                    format!("needs {rule}: at most {most} for a family with {d} nodes"),
                ));
            }
        }
        let min = match self {
            GraphSpec::Fork | GraphSpec::Collider | GraphSpec::Bipartite { .. } => 2,
            GraphSpec::Diamond | GraphSpec::Butterfly => 3,
            GraphSpec::Mixture { components, .. } => {
                for (i, c) in components.iter().enumerate() {
                    c.validate_nodes(&format!("{path}.components[{i}]"), d)?;
                }
                1
            }
            _ => 1,
        };
        if d < min {
            return Err(EngineError::param("nodes", d, format!("{path} of this type needs at least {min} nodes")));
        }
        self.er_probability_fits(path, d)
    }

    fn er_probability_fits(&self, path: &str, d: usize) -> Result<()> {
        if let GraphSpec::Er { edges_per_node: Some(k), .. } = self {
            let p = er_probability(*k, d);
            if p > 1.0 {
                return Err(EngineError::param(
                    format!("{path}.edges_per_node"),
                    k,
                    format!("must be at most (d - 1) / 2 = {} for d = {d} nodes", (d as f64 - 1.0) / 2.0),
                ));
            }
        }
        Ok(())
    }

    /// Draw a DAG on `d` nodes (parameters already validated).
    pub fn sample(&self, d: usize, rng: &mut Rng) -> Dag {
        let edges = match self {
            GraphSpec::Mixture { components, weights } => {
                return components[rng.categorical(weights)].sample(d, rng);
            }
            GraphSpec::Er { edge_prob, edges_per_node } => {
                let p = edge_prob.unwrap_or_else(|| er_probability(edges_per_node.unwrap_or(0.0), d));
                pairs_with(d, rng, |_, _| p)
            }
            GraphSpec::Sf { m, transpose } => {
                let edges = barabasi_albert(d, *m, rng);
                if *transpose {
                    // Reverse every edge, then flip labels so that u < v still holds.
                    edges.into_iter().map(|(u, v)| (d - 1 - v, d - 1 - u)).collect()
                } else {
                    edges
                }
            }
            GraphSpec::Ws { k, rewire_prob } => watts_strogatz(d, *k, *rewire_prob, rng),
            GraphSpec::Sbm { blocks, p_in, p_out } => {
                let b = *blocks;
                pairs_with(d, rng, |i, j| if i * b / d == j * b / d { *p_in } else { *p_out })
            }
            GraphSpec::Grg { radius } => {
                let pts: Vec<(f64, f64)> = (0..d).map(|_| (rng.uniform(), rng.uniform())).collect();
                let r2 = radius * radius;
                let mut e = Vec::new();
                for v in 0..d {
                    for u in 0..v {
                        let (dx, dy) = (pts[u].0 - pts[v].0, pts[u].1 - pts[v].1);
                        if dx * dx + dy * dy <= r2 {
                            e.push((u, v));
                        }
                    }
                }
                e
            }
            GraphSpec::Chain => (1..d).map(|v| (v - 1, v)).collect(),
            GraphSpec::Fork => (1..d).map(|v| (0, v)).collect(),
            GraphSpec::Collider => (0..d - 1).map(|u| (u, d - 1)).collect(),
            GraphSpec::Diamond => (1..d - 1).flat_map(|m| [(0, m), (m, d - 1)]).collect(),
            GraphSpec::Butterfly => butterfly(d),
            GraphSpec::Layered { layers, edge_prob } => layered(d, *layers, *edge_prob, rng),
            GraphSpec::Hierarchical { branching } => (1..d).map(|v| ((v - 1) / branching, v)).collect(),
            GraphSpec::Bipartite { cause_fraction, edge_prob } => {
                let causes = ((cause_fraction * d as f64).round() as usize).clamp(1, d - 1);
                let groups = [(0..causes).collect::<Vec<_>>(), (causes..d).collect()];
                connect_groups(&groups[0], &groups[1], *edge_prob, rng)
            }
        };
        Dag::from_edges(d, &edges, rng)
    }
}

/// Edge probability giving `k * d` expected edges among d (d - 1) / 2 pairs.
fn er_probability(k: f64, d: usize) -> f64 {
    if d < 2 {
        0.0
    } else {
        2.0 * k / (d as f64 - 1.0)
    }
}

/// Every pair u < v is an edge with probability `p(u, v)`. Each candidate parent of v is
/// written into a row buffer and kept by advancing its length on a success: no branch on
/// the coin, which a sparse graph would mispredict at every edge, and memory linear in d
/// (one row), not in the d (d - 1) / 2 pairs. The generator runs on a local copy, in
/// registers.
fn pairs_with(d: usize, rng: &mut Rng, p: impl Fn(usize, usize) -> f64) -> Vec<(usize, usize)> {
    let mut e = Vec::with_capacity(4 * d);
    let mut row = vec![0; d];
    let mut local = rng.clone();
    for v in 1..d {
        let mut len = 0;
        for u in 0..v {
            row[len] = u;
            len += usize::from(local.bernoulli(p(u, v)));
        }
        e.extend(row[..len].iter().map(|&u| (u, v)));
    }
    *rng = local;
    e
}

/// Preferential attachment as networkx's `barabasi_albert_graph`: a star on m + 1 nodes,
/// then each new node picks m distinct targets with probability proportional to degree.
fn barabasi_albert(d: usize, m: usize, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut edges: Vec<(usize, usize)> = (1..=m).map(|v| (0, v)).collect();
    let mut repeated: Vec<usize> = Vec::with_capacity(2 * m * d);
    for &(u, v) in &edges {
        repeated.push(u);
        repeated.push(v);
    }
    let mut chosen = vec![false; d];
    let mut targets = Vec::with_capacity(m);
    for source in (m + 1)..d {
        targets.clear();
        while targets.len() < m {
            let t = repeated[rng.below(repeated.len())];
            if !chosen[t] {
                chosen[t] = true;
                targets.push(t);
            }
        }
        for &t in &targets {
            chosen[t] = false;
            edges.push((t, source));
            repeated.push(t);
            repeated.push(source);
        }
    }
    edges
}

/// Indices of the nonzero entries of `row`, ascending: packed 64 at a time into a bit
/// mask without branches, then read off set bit by set bit, so that a sparse row (an
/// adjacency row) costs no mispredicted branch per zero.
fn nonzero(row: &[u8]) -> impl Iterator<Item = usize> + '_ {
    row.chunks(64).enumerate().flat_map(|(c, chunk)| {
        let mut bits = chunk.iter().enumerate().fold(0u64, |bits, (k, &a)| bits | (u64::from(a != 0) << k));
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                c * 64 + k
            })
        })
    })
}

/// Watts-Strogatz small world, following networkx's `watts_strogatz_graph`.
fn watts_strogatz(d: usize, k: usize, p: f64, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut g = vec![0u8; d * d];
    let mut degree = vec![0usize; d];
    let set = |g: &mut Vec<u8>, degree: &mut Vec<usize>, u: usize, v: usize, on: bool| {
        if (g[u * d + v] != 0) != on {
            g[u * d + v] = u8::from(on);
            g[v * d + u] = u8::from(on);
            let delta = if on { 1 } else { usize::MAX };
            degree[u] = degree[u].wrapping_add(delta);
            degree[v] = degree[v].wrapping_add(delta);
        }
    };
    // Validation guarantees k < d, so the lattice is never the complete graph, and
    // u + j < 2d: the ring's wrap is one subtraction, not an integer division.
    let ring = |u: usize, j: usize| if u + j >= d { u + j - d } else { u + j };
    for j in 1..=k / 2 {
        for u in 0..d {
            set(&mut g, &mut degree, u, ring(u, j), true);
        }
    }
    for j in 1..=k / 2 {
        for u in 0..d {
            let v = ring(u, j);
            if rng.uniform() < p {
                let mut w = rng.below(d);
                let mut rewire = true;
                while w == u || g[u * d + w] != 0 {
                    if degree[u] >= d - 1 {
                        rewire = false;
                        break;
                    }
                    w = rng.below(d);
                }
                if rewire {
                    set(&mut g, &mut degree, u, v, false);
                    set(&mut g, &mut degree, u, w, true);
                }
            }
        }
    }
    // The upper triangle row by row (the order of the edges does not matter: `from_edges`
    // only sets them).
    let mut e = Vec::with_capacity(k * d / 2);
    for (u, row) in g.chunks_exact(d).enumerate() {
        e.extend(nonzero(&row[u + 1..]).map(|j| (u, u + 1 + j)));
    }
    e
}

fn butterfly(d: usize) -> Vec<(usize, usize)> {
    let sources = (d - 1) / 2;
    let hub = sources;
    let sinks: Vec<usize> = (hub + 1..d).collect();
    let mut e: Vec<(usize, usize)> = (0..sources).map(|s| (s, hub)).collect();
    e.extend(sinks.iter().map(|&t| (hub, t)));
    e.extend((0..sources.min(sinks.len())).map(|i| (i, sinks[i])));
    e
}

/// Edges from each cause to each effect with probability p; each effect keeps a parent.
fn connect_groups(causes: &[usize], effects: &[usize], p: f64, rng: &mut Rng) -> Vec<(usize, usize)> {
    let mut e = Vec::new();
    for &v in effects {
        let before = e.len();
        for &u in causes {
            if rng.bernoulli(p) {
                e.push((u, v));
            }
        }
        if e.len() == before {
            e.push((causes[rng.below(causes.len())], v));
        }
    }
    e
}

fn layered(d: usize, layers: usize, p: f64, rng: &mut Rng) -> Vec<(usize, usize)> {
    let bounds: Vec<usize> = (0..=layers).map(|l| l * d / layers).collect();
    let mut e = Vec::new();
    for l in 1..layers {
        let causes: Vec<usize> = (bounds[l - 1]..bounds[l]).collect();
        let effects: Vec<usize> = (bounds[l]..bounds[l + 1]).collect();
        e.extend(connect_groups(&causes, &effects, p, rng));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_lists_the_set_entries_in_order() {
        let mut rng = Rng::new(3);
        for len in [0, 1, 63, 64, 65, 200] {
            let row: Vec<u8> = (0..len).map(|_| u8::from(rng.bernoulli(0.3)) * (1 + rng.below(3) as u8)).collect();
            let want: Vec<usize> = (0..len).filter(|&i| row[i] != 0).collect();
            assert_eq!(nonzero(&row).collect::<Vec<_>>(), want, "len {len}");
        }
    }

    fn is_acyclic(g: &Dag) -> bool {
        Dag::from_adjacency(g.d, g.adj.clone()).is_ok()
    }

    fn all_specs() -> Vec<GraphSpec> {
        vec![
            GraphSpec::Er { edge_prob: Some(0.3), edges_per_node: None },
            GraphSpec::Er { edge_prob: None, edges_per_node: Some(2.0) },
            GraphSpec::Sf { m: 2, transpose: false },
            GraphSpec::Sf { m: 2, transpose: true },
            GraphSpec::Ws { k: 4, rewire_prob: 0.3 },
            GraphSpec::Sbm { blocks: 3, p_in: 0.6, p_out: 0.05 },
            GraphSpec::Grg { radius: 0.3 },
            GraphSpec::Chain,
            GraphSpec::Fork,
            GraphSpec::Collider,
            GraphSpec::Diamond,
            GraphSpec::Butterfly,
            GraphSpec::Layered { layers: 3, edge_prob: 0.5 },
            GraphSpec::Hierarchical { branching: 2 },
            GraphSpec::Bipartite { cause_fraction: 0.4, edge_prob: 0.5 },
        ]
    }

    #[test]
    fn every_generator_gives_a_dag_with_a_valid_order() {
        let mut rng = Rng::new(1);
        for spec in all_specs() {
            for d in [5, 12, 31] {
                let g = spec.sample(d, &mut rng);
                assert!(is_acyclic(&g), "{spec:?}");
                let mut pos = vec![0; d];
                for (t, &i) in g.order.iter().enumerate() {
                    pos[i] = t;
                }
                for i in 0..d {
                    for j in 0..d {
                        if g.adj[i * d + j] == 1 {
                            assert!(pos[i] < pos[j], "{spec:?}: order violates {i}->{j}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fork_and_collider_have_one_hub() {
        let mut rng = Rng::new(2);
        let g = GraphSpec::Fork.sample(6, &mut rng);
        let out: Vec<usize> = (0..6).map(|i| (0..6).map(|j| g.adj[i * 6 + j] as usize).sum()).collect();
        assert_eq!(out.iter().filter(|&&o| o == 5).count(), 1);
        assert_eq!(g.n_edges(), 5);
        let g = GraphSpec::Collider.sample(6, &mut rng);
        assert_eq!((0..6).filter(|&j| g.parents(j).len() == 5).count(), 1);
        assert_eq!(g.n_edges(), 5);
    }

    #[test]
    fn ba_edge_count_is_exact() {
        let mut rng = Rng::new(3);
        let g = GraphSpec::Sf { m: 3, transpose: false }.sample(40, &mut rng);
        assert_eq!(g.n_edges(), 3 + (40 - 4) * 3);
    }

    #[test]
    fn node_count_checks_name_the_parameter() {
        let e = GraphSpec::Sf { m: 5, transpose: false }.validate_nodes("graph", 5).unwrap_err();
        assert!(e.to_string().contains("graph.m = 5") && e.to_string().contains("at most 4"), "{e}");
        let e = GraphSpec::Sbm { blocks: 9, p_in: 0.5, p_out: 0.1 }.validate_nodes("graph", 5).unwrap_err();
        assert!(e.to_string().contains("graph.blocks = 9"), "{e}");
        let e = GraphSpec::Er { edge_prob: None, edges_per_node: Some(5.0) }
            .validate_nodes("graph", 5)
            .unwrap_err();
        assert!(e.to_string().contains("graph.edges_per_node"), "{e}");
    }
}
