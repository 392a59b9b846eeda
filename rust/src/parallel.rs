//! Thread pools for the engine: cached rayon pools keyed by size, one per process.
//!
//! rayon's global pool is never used, because it is not fork-safe: a DataLoader worker
//! forked from a process whose pool has started inherits the pool's bookkeeping but none
//! of its threads, and the first parallel call deadlocks. The cache remembers the process
//! id it was built in; a forked child sees another id and starts fresh pools (the
//! inherited ones are leaked, since dropping a pool whose threads do not exist is unsafe).

use crate::error::{int_in, Result};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most threads a caller may ask for.
pub const MAX_THREADS: usize = 1024;

#[derive(Default)]
struct Pools {
    pid: u32,
    by_size: HashMap<usize, Arc<ThreadPool>>,
}

static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();

/// Threads used when the caller does not say: one per available core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn pool(threads: usize) -> Arc<ThreadPool> {
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if pools.pid != pid {
        std::mem::forget(std::mem::take(&mut pools.by_size));
        pools.pid = pid;
    }
    pools
        .by_size
        .entry(threads)
        .or_insert_with(|| Arc::new(ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool")))
        .clone()
}

/// Run `f` on a cached pool of `threads` threads (default: one per core).
pub fn install<T: Send>(threads: Option<usize>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let t = match threads {
        Some(t) => int_in("threads", t, 1, MAX_THREADS)?,
        None => default_threads(),
    };
    pool(t).install(f)
}
