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

/// Whether work of `count` items for which `threads` threads were asked (default: one
/// per core) runs on the calling thread: with one thread, or one item, a pool would only
/// add its hand-off.
pub fn inline(threads: Option<usize>, count: usize) -> bool {
    count < 2 || threads.unwrap_or_else(default_threads) == 1
}

/// How many threads work on `count` items for which `threads` were asked: one when
/// [`inline`], else as many as asked (default: one per core).
pub fn workers(threads: Option<usize>, count: usize) -> usize {
    if inline(threads, count) {
        1
    } else {
        threads.unwrap_or_else(default_threads)
    }
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
/// on the calling thread otherwise; the first error stops the rest. Each call sees only
/// its own item, so the results do not depend on which.
pub fn for_each<T: Send>(items: &mut [T], f: impl Fn(&mut T) -> Result<()> + Sync + Send) -> Result<()> {
    if items.len() < MIN_PARALLEL_ITEMS {
        return items.iter_mut().try_for_each(f);
    }
    install(None, || items.par_iter_mut().try_for_each(f))
}

/// `items.map(f)` in order, split between threads as [`for_each`] does.
pub fn map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Result<Vec<U>> {
    if items.len() < MIN_PARALLEL_ITEMS {
        return Ok(items.iter().map(f).collect());
    }
    install(None, || Ok(items.par_iter().map(f).collect()))
}

/// `f` on contiguous chunks of `items` and the matching chunks of `out` (`per_item`
/// cells per item), one chunk per thread of the default pool (all of them in one call
/// on the calling thread below [`MIN_PARALLEL_ITEMS`]): for work whose setup should be
/// paid once per thread, writing straight into the caller's buffer.
pub fn chunks_into<T: Sync, U: Send>(items: &[T], out: &mut [U], per_item: usize, f: impl Fn(&[T], &mut [U]) -> Result<()> + Sync + Send) -> Result<()> {
    assert_eq!(out.len(), items.len() * per_item, "per_item cells of out per item");
    if items.len() < MIN_PARALLEL_ITEMS || per_item == 0 {
        return f(items, out);
    }
    let size = items.len().div_ceil(default_threads());
    install(None, || items.par_chunks(size).zip(out.par_chunks_mut(size * per_item)).try_for_each(|(chunk, slot)| f(chunk, slot)))
}
