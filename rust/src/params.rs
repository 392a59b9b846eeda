//! The flat parameter buffer of an SCM (`Scm::params`): every vector of parameters of
//! every mechanism lies in it, named by a [`Span`]. Drawing (`dist`) fills it and the
//! mechanisms (`mechanism`) read it, so the span sits below both.

use serde::{Deserialize, Serialize};

/// Where one vector of a mechanism's parameters lies in its SCM's flat buffer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    /// The span's values in `params`.
    #[inline(always)]
    pub fn of(self, params: &[f32]) -> &[f32] {
        &params[self.start..self.start + self.len]
    }

    /// Whether the span lies inside a buffer of `len` values.
    pub fn fits(self, len: usize) -> bool {
        self.start.checked_add(self.len).is_some_and(|end| end <= len)
    }

    /// Append `values` to `params` and return their span.
    pub fn push(params: &mut Vec<f32>, values: impl IntoIterator<Item = f32>) -> Span {
        let start = params.len();
        params.extend(values);
        Span { start, len: params.len() - start }
    }
}
