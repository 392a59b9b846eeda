//! The engine's one error type. The bindings map it to Python exceptions in one place
//! (`python/errors.rs`), so every message here is written for the user: it names the
//! parameter, the value it got and what is allowed.

use std::fmt;

/// Everything the engine can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    /// A parameter outside its allowed range: `name`, the value given, what is allowed.
    InvalidParameter {
        name: String,
        value: String,
        allowed: String,
    },
    /// A specification that does not parse (unknown key, unknown type name, wrong type).
    InvalidSpec { path: String, message: String },
    /// A buffer of `bytes` bytes for `what` that the allocator could not provide.
    OutOfMemory { what: String, bytes: u128 },
    /// Values that came out infinite or NaN although every parameter is finite: `what`
    /// (the sample of one call, a task of a stream, an SCM of a batch) overflowed float32.
    NonFinite { what: String },
    /// A request refused for a reason that no one parameter carries (arguments that do
    /// not fit together, an SCM without what was asked of it, a corrupt state): the
    /// message says it all.
    Refused { message: String },
}

impl EngineError {
    /// Shorthand for [`EngineError::InvalidParameter`].
    pub fn param(name: impl Into<String>, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        EngineError::InvalidParameter {
            name: name.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// Shorthand for [`EngineError::NonFinite`].
    pub fn non_finite(what: impl Into<String>) -> Self {
        EngineError::NonFinite { what: what.into() }
    }

    /// A [`EngineError::NonFinite`] renamed after `what`, for a caller that knows better
    /// than the sampler where the values belong (which task, which SCM of a batch); any
    /// other error as it is.
    pub fn non_finite_in(self, what: impl FnOnce() -> String) -> Self {
        match self {
            EngineError::NonFinite { .. } => EngineError::NonFinite { what: what() },
            other => other,
        }
    }

    /// Shorthand for [`EngineError::Refused`].
    pub fn refused(message: impl Into<String>) -> Self {
        EngineError::Refused { message: message.into() }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::InvalidParameter { name, value, allowed } => {
                write!(f, "{name} = {value} is not allowed: {allowed}")
            }
            EngineError::InvalidSpec { path, message } => {
                if path.is_empty() || path == "." {
                    write!(f, "invalid spec: {message}")
                } else {
                    write!(f, "invalid spec at {path}: {message}")
                }
            }
            EngineError::OutOfMemory { what, bytes } => {
                write!(f, "cannot allocate {:.2} GiB for {what}: the machine has not enough free memory; ask for less per call", *bytes as f64 / (1u64 << 30) as f64)
            }
            EngineError::NonFinite { what } => write!(
                f,
                "{what} has non-finite values (inf or NaN): the SCM's parameters (mechanism weights, biases or noise scales) or the intervention values overflow float32; choose smaller ones"
            ),
            EngineError::Refused { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for EngineError {}

/// Result alias used across the engine.
pub type Result<T> = std::result::Result<T, EngineError>;

/// Largest magnitude of a parameter: the sampler works in float32, so anything larger
/// would silently become infinite.
pub const MAX_PARAMETER: f64 = f32::MAX as f64;

/// Check that a float is finite and representable in float32, naming it otherwise.
pub fn finite(name: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x.abs() <= MAX_PARAMETER {
        Ok(x)
    } else {
        // Debug formatting keeps 1e300 short (Display would print all 301 digits).
        Err(EngineError::param(name, format!("{x:?}"), "must be a finite number within float32 range (|x| <= 3.4e38)"))
    }
}

/// Check that a probability lies in [0, 1].
pub fn probability(name: &str, p: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(EngineError::param(name, p, "must be a probability in [0, 1]"))
    }
}

/// Check that an integer lies in [lo, hi].
pub fn int_in(name: &str, x: usize, lo: usize, hi: usize) -> Result<usize> {
    if (lo..=hi).contains(&x) {
        Ok(x)
    } else {
        Err(EngineError::param(name, x, format!("must be an integer in [{lo}, {hi}]")))
    }
}

/// Check that an integer is at least `lo`: for a parameter bounded only by the node
/// count, which is checked apart, so that the message shows no end of the integer type.
pub fn int_at_least(name: &str, x: usize, lo: usize) -> Result<usize> {
    if x >= lo {
        Ok(x)
    } else {
        Err(EngineError::param(name, x, format!("must be an integer >= {lo}")))
    }
}

/// Check that `index` (any integer type) is a node index of an SCM with `d` nodes.
pub fn node_index<T: Copy + fmt::Display + TryInto<usize>>(name: &str, index: T, d: usize) -> Result<usize> {
    match index.try_into() {
        Ok(i) if i < d => Ok(i),
        _ => Err(not_a_node(name, index, d)),
    }
}

/// The refusal of `shown` as the node index `name` of an SCM with `d` nodes; for indices
/// that fit no integer type of the engine (a Python int of 2**70).
pub fn not_a_node(name: &str, shown: impl fmt::Display, d: usize) -> EngineError {
    EngineError::param(name, shown, format!("must be a node index in [0, {}]", d.saturating_sub(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_indices_outside_the_scm_are_named() {
        assert_eq!(node_index("targets[2]", 3i64, 4), Ok(3));
        assert_eq!(node_index("do node", 0usize, 1), Ok(0));
        for bad in [-1i64, 4, i64::MAX] {
            let e = node_index("targets[2]", bad, 4).unwrap_err().to_string();
            assert_eq!(e, format!("targets[2] = {bad} is not allowed: must be a node index in [0, 3]"));
        }
        let e = node_index("do node", 7usize, 5).unwrap_err().to_string();
        assert_eq!(e, "do node = 7 is not allowed: must be a node index in [0, 4]");
    }

    #[test]
    fn non_finite_values_are_named_by_the_caller_that_knows_where_they_belong() {
        let e = EngineError::non_finite("the sample").non_finite_in(|| "task 3 of the stream 0".to_string()).to_string();
        assert!(e.starts_with("task 3 of the stream 0 has non-finite values (inf or NaN): the SCM's parameters"), "{e}");
        assert!(e.ends_with("overflow float32; choose smaller ones"), "{e}");
        assert_eq!(EngineError::refused("no").non_finite_in(|| unreachable!()), EngineError::refused("no"));
    }

    #[test]
    fn lower_bounds_alone_show_no_end_of_the_integer_type() {
        assert_eq!(int_at_least("graph.m", 1, 1), Ok(1));
        assert_eq!(int_at_least("graph.k", 1, 2).unwrap_err().to_string(), "graph.k = 1 is not allowed: must be an integer >= 2");
    }

    #[test]
    fn refusals_print_their_message_alone() {
        assert_eq!(EngineError::refused("a and b are not allowed: must agree").to_string(), "a and b are not allowed: must agree");
    }
}
