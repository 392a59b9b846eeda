//! Checks of the lengths and shapes that the batched calls over many SCMs take (one
//! entry per SCM, `d_max` wide outputs). Plain engine code so that `cargo test` covers
//! them; the bindings convert the Python arguments and call these. Every message names
//! the argument, the value it got and what is allowed.

use crate::error::{EngineError, Result};

/// The argument `name` of length `len` must have one item per item of `other` (length
/// `other_len`): seeds per SCM, targets per SCM, indices per base seed.
pub fn same_length(name: &str, len: usize, other: &str, other_len: usize) -> Result<()> {
    if len == other_len {
        Ok(())
    } else {
        Err(EngineError::param(format!("{name} length"), len, format!("must equal len({other}) = {other_len}")))
    }
}

/// The `nodes` and `values` of single interventions: equally long, and as long as
/// `len(scms)` when `scms` is given (one intervention per SCM).
pub fn nodes_values_lengths(nodes: usize, values: usize, scms: Option<usize>) -> Result<()> {
    let allowed = match scms {
        Some(count) if nodes != count || values != count => format!("must both equal len(scms) = {count}"),
        None if nodes != values => "must be equal".to_string(),
        _ => return Ok(()),
    };
    Err(EngineError::refused(format!("nodes and values lengths = ({nodes}, {values}) are not allowed: {allowed}")))
}

/// The arrays of `columns_under_interventions`: `nodes` and `values` of shape (K, G) and
/// `columns` of length K, where K = len(scms) = `count`.
pub fn candidate_grid(nodes: [usize; 2], values: [usize; 2], columns: usize, count: usize) -> Result<()> {
    if nodes == values && nodes[0] == count && columns == count {
        return Ok(());
    }
    Err(EngineError::refused(format!(
        "nodes {nodes:?}, values {values:?} and columns ({columns},) are not allowed: must be (K, G), (K, G) and (K,) with K = len(scms) = {count}"
    )))
}

/// SCM `k`, with `d` nodes, must fit in outputs `d_max` columns wide.
pub fn width(k: usize, d: usize, d_max: usize) -> Result<()> {
    if d <= d_max {
        Ok(())
    } else {
        Err(EngineError::param("d_max", d_max, format!("scms[{k}] has {d} nodes")))
    }
}

/// [`width`] for every SCM of a batch, given their node counts in order: the first SCM
/// too wide is named.
pub fn widths(node_counts: impl IntoIterator<Item = usize>, d_max: usize) -> Result<()> {
    node_counts.into_iter().enumerate().try_for_each(|(k, d)| width(k, d, d_max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_paired_with_another_argument_name_both() {
        assert_eq!(same_length("targets", 3, "scms", 3), Ok(()));
        let e = same_length("noise_seeds", 1, "seeds", 2).unwrap_err().to_string();
        assert_eq!(e, "noise_seeds length = 1 is not allowed: must equal len(seeds) = 2");
        let e = same_length("targets", 1, "scms", 2).unwrap_err().to_string();
        assert_eq!(e, "targets length = 1 is not allowed: must equal len(scms) = 2");
    }

    #[test]
    fn nodes_and_values_lengths_must_agree() {
        assert_eq!(nodes_values_lengths(2, 2, Some(2)), Ok(()));
        assert_eq!(nodes_values_lengths(4, 4, None), Ok(()));
        for (nodes, values) in [(2, 1), (1, 2), (1, 1)] {
            let e = nodes_values_lengths(nodes, values, Some(2)).unwrap_err().to_string();
            assert_eq!(e, format!("nodes and values lengths = ({nodes}, {values}) are not allowed: must both equal len(scms) = 2"));
        }
        let e = nodes_values_lengths(2, 1, None).unwrap_err().to_string();
        assert_eq!(e, "nodes and values lengths = (2, 1) are not allowed: must be equal");
    }

    #[test]
    fn candidate_grids_must_be_k_by_g() {
        assert_eq!(candidate_grid([3, 4], [3, 4], 3, 3), Ok(()));
        let expected = "are not allowed: must be (K, G), (K, G) and (K,) with K = len(scms) = 3";
        for (nodes, values, columns) in [([3, 4], [3, 5], 3), ([2, 4], [2, 4], 3), ([3, 4], [3, 4], 2)] {
            let e = candidate_grid(nodes, values, columns, 3).unwrap_err().to_string();
            assert_eq!(e, format!("nodes {nodes:?}, values {values:?} and columns ({columns},) {expected}"));
        }
    }

    #[test]
    fn an_scm_wider_than_d_max_is_named() {
        assert_eq!(width(0, 4, 4), Ok(()));
        assert_eq!(widths([3, 4, 2], 4), Ok(()));
        let e = widths([3, 5, 6], 4).unwrap_err().to_string();
        assert_eq!(e, "d_max = 4 is not allowed: scms[1] has 5 nodes");
    }
}
