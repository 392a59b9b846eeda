//! Thread pools for the engine: cached rayon pools keyed by size, one per process.
//!
//! rayon's global pool is never used, because it is not fork-safe: a DataLoader worker
//! forked from a process whose pool has started inherits the pool's bookkeeping but none
//! of its threads, and the first parallel call deadlocks. The cache remembers the process
//! id it was built in; a forked child sees another id and starts fresh pools (the
//! inherited ones are leaked, since dropping a pool whose threads do not exist is unsafe).

use crate::error::{int_in, Result};
use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most threads a caller may ask for.
pub const MAX_THREADS: usize = 1024;

/// Batches of fewer items run on the calling thread: handing work to a pool and waking
/// it costs some 10-20 us, more than a few SCMs take (a single environment starts one
/// episode at a time, a vector environment a thousand).
pub const MIN_PARALLEL_ITEMS: usize = 32;

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

/// `f` on every item: on the default pool for batches of at least [`MIN_PARALLEL_ITEMS`],
/// on the calling thread otherwise. Each call sees only its own item, so the results do
/// not depend on which.
pub fn for_each<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync + Send) -> Result<()> {
    if items.len() < MIN_PARALLEL_ITEMS {
        items.iter_mut().for_each(f);
        return Ok(());
    }
    install(None, || {
        items.par_iter_mut().for_each(f);
        Ok(())
    })
}

/// `items.map(f)` in order, split between threads as [`for_each`] does.
pub fn map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Result<Vec<U>> {
    if items.len() < MIN_PARALLEL_ITEMS {
        return Ok(items.iter().map(f).collect());
    }
    install(None, || Ok(items.par_iter().map(f).collect()))
}

/// `f` on contiguous chunks of `items`, one chunk per thread of the default pool (all of
/// them in one call on the calling thread below [`MIN_PARALLEL_ITEMS`]), the outputs
/// concatenated in order: for work whose setup should be paid once per thread.
pub fn map_chunks<T: Sync, U: Send>(items: &[T], f: impl Fn(&[T]) -> Vec<U> + Sync + Send) -> Result<Vec<Vec<U>>> {
    if items.len() < MIN_PARALLEL_ITEMS {
        return Ok(vec![f(items)]);
    }
    let size = items.len().div_ceil(default_threads());
    install(None, || Ok(items.par_chunks(size).map(&f).collect()))
}
