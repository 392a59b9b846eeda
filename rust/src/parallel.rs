//! Thread pools: rayon's global pool by default, or a cached pool of a requested size, so
//! that a caller can pin the engine to fewer cores than the machine has (e.g. next to
//! DataLoader workers) without paying for a new pool on every call.

use crate::error::{int_in, Result};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most threads a caller may ask for.
pub const MAX_THREADS: usize = 1024;

static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();

/// Run `f` on the global pool (`threads = None`) or on a cached pool of `threads` threads.
pub fn install<T: Send>(threads: Option<usize>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let Some(t) = threads else { return f() };
    int_in("threads", t, 1, MAX_THREADS)?;
    let pool = {
        let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(t)
            .or_insert_with(|| Arc::new(ThreadPoolBuilder::new().num_threads(t).build().expect("rayon pool")))
            .clone()
    };
    pool.install(f)
}
