//! Memory bounds of engine calls.
//!
//! Rust aborts the process when an allocation fails, and an oversized request reaching
//! the allocator takes the machine's memory first. So every call that allocates in
//! proportion to its arguments goes through two checks here:
//! - [`within`]: the bytes it needs (outputs and workspace together), computed with
//!   checked arithmetic, against one cap, [`MAX_BYTES`]; past it the call is refused
//!   with a ValueError that names the arguments;
//! - [`zeroed`] and [`grow`]: its large buffers reserved fallibly, so that an allocation
//!   the machine cannot serve inside the cap is a MemoryError naming the buffer.

use crate::error::{EngineError, Result};
use std::alloc::{alloc_zeroed, Layout};

/// Most bytes one engine call may allocate, outputs and workspace together: 4 GiB.
pub const MAX_BYTES: usize = 4 << 30;

/// The bytes of `factors` items of `bytes_each` bytes each (their product), refused
/// past [`MAX_BYTES`] or on overflow. `name` names the factors as the caller knows them
/// ("n * d"); `bytes_each` counts what the call allocates per item, outputs and
/// workspace.
pub fn within(name: &str, factors: &[usize], bytes_each: usize) -> Result<usize> {
    let items = factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f));
    let bytes = items.and_then(|i| i.checked_mul(bytes_each));
    match bytes {
        Some(b) if b <= MAX_BYTES => Ok(b),
        _ => {
            let shown = factors
                .iter()
                .map(|&f| f as u128)
                .try_fold(1u128, |acc, f| acc.checked_mul(f));
            let value = shown.map_or_else(|| "more than 2**128".to_string(), |v| v.to_string());
            Err(EngineError::param(
                name,
                value,
                format!("at {bytes_each} bytes each, it needs more than the 4 GiB one call may use; ask for less per call"),
            ))
        }
    }
}

/// The sum of several [`within`] terms, itself refused past [`MAX_BYTES`]: for calls
/// whose outputs and workspace scale with different arguments.
pub fn total(name: &str, terms: &[usize]) -> Result<usize> {
    match terms.iter().try_fold(0usize, |acc, &t| acc.checked_add(t)) {
        Some(b) if b <= MAX_BYTES => Ok(b),
        _ => Err(EngineError::param(
            name,
            format!("{} bytes", terms.iter().map(|&t| t as u128).sum::<u128>()),
            "a call may use at most 4 GiB (outputs and workspace); ask for less per call",
        )),
    }
}

/// Element types whose all-zero bit pattern is a valid zero value.
pub trait Zeroable: Copy {}
impl Zeroable for f32 {}
impl Zeroable for f64 {}
impl Zeroable for u8 {}
impl Zeroable for u32 {}

/// `len` zeros, or a MemoryError naming `what`. Zeroed pages come from the allocator as
/// `vec![0; len]` gets them (no separate fill pass), but a failure is returned.
pub fn zeroed<T: Zeroable>(what: &str, len: usize) -> Result<Vec<T>> {
    if len == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<T>(len).map_err(|_| out_of_memory::<T>(what, len))?;
    // SAFETY: the layout has a non-zero size (checked above); a non-null pointer from
    // alloc_zeroed with T's layout holds `len` zero-initialised T, and T: Zeroable says
    // that all-zero bits are a valid T, so the Vec owns `len` initialised elements
    // allocated by the global allocator with exactly the layout it will free them with.
    unsafe {
        let ptr = alloc_zeroed(layout) as *mut T;
        if ptr.is_null() {
            return Err(out_of_memory::<T>(what, len));
        }
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

/// Resize `buffer` to `len` elements (new ones `fill`), reserving fallibly: the
/// workspace of a sampling call.
pub fn grow<T: Clone>(what: &str, buffer: &mut Vec<T>, len: usize, fill: T) -> Result<()> {
    if len > buffer.len() {
        buffer
            .try_reserve_exact(len - buffer.len())
            .map_err(|_| out_of_memory::<T>(what, len))?;
    }
    buffer.resize(len, fill);
    Ok(())
}

fn out_of_memory<T>(what: &str, len: usize) -> EngineError {
    EngineError::OutOfMemory {
        what: what.to_string(),
        bytes: (len as u128) * std::mem::size_of::<T>() as u128,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_past_the_cap_or_overflowing_are_refused_by_name() {
        assert_eq!(within("n * d", &[1000, 1000], 13).unwrap(), 13_000_000);
        let err = within("n * d", &[10_000_000, 1000], 13)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n * d = 10000000000 is not allowed"),
            "{err}"
        );
        let err = within("a * b * c", &[usize::MAX, usize::MAX, 2], 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a * b * c = more than 2**128 is not allowed"),
            "{err}"
        );
        assert!(within("n", &[MAX_BYTES], 1).is_ok());
        assert!(within("n", &[MAX_BYTES + 1], 1).is_err());
        assert!(total("sizes", &[MAX_BYTES, 1]).is_err());
        assert!(total("sizes", &[usize::MAX, usize::MAX]).is_err());
    }

    #[test]
    fn zeroed_buffers_are_zero_and_impossible_ones_are_errors() {
        let v: Vec<f32> = zeroed("buffer", 1 << 20).unwrap();
        assert!(v.len() == 1 << 20 && v.iter().all(|&x| x == 0.0));
        assert!(zeroed::<u8>("buffer", 0).unwrap().is_empty());
        // More than the address space: the allocator refuses it, the process survives.
        let err = zeroed::<f64>("huge buffer", usize::MAX / 16).unwrap_err();
        assert!(matches!(err, EngineError::OutOfMemory { .. }), "{err}");
        assert!(err.to_string().contains("huge buffer"), "{err}");
        let mut w = vec![1f32; 3];
        grow("workspace", &mut w, 5, 0.0).unwrap();
        assert_eq!(w, [1.0, 1.0, 1.0, 0.0, 0.0]);
        assert!(grow("workspace", &mut w, usize::MAX / 8, 0.0).is_err());
    }
}
