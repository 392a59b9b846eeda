//! Long engine calls that Ctrl-C stops. The work runs with the GIL released in chunks of
//! items, and between two chunks the calling thread takes the GIL back for a moment and
//! lets Python run its signal handlers, so that a SIGINT raises KeyboardInterrupt within
//! about a chunk's time instead of at the end of the call. The items of such a call must
//! not depend on the split (the tasks of a stream do not), so chunks never change a byte.
//! Calls too small to be worth releasing the GIL at all are told by [`DETACH_MIN_CELLS`].

use super::errors::guarded;
use crate::error;
use pyo3::prelude::*;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Below this many cells a sampling call is cheaper than releasing the GIL.
pub(crate) const DETACH_MIN_CELLS: usize = 4096;

/// How long a chunk should take: short enough for Ctrl-C to feel immediate, long enough
/// that the pool's hand-off and the GIL round trip between chunks (some 20 us) are noise.
const CHUNK_TIME: Duration = Duration::from_millis(50);

/// Values (see `FamilySpec::task_values`) in the first chunk: at a few nanoseconds per
/// value on each thread, some milliseconds, so that calls this small run in one chunk,
/// as they did before there were chunks.
const FIRST_CHUNK_VALUES: usize = 1 << 22;

/// Most a chunk grows over the last one: a fast chunk may have been a lucky one.
const MAX_GROWTH: usize = 8;

/// Run `work` on the items `0..count`, in consecutive ranges, each with the GIL released,
/// and check for signals between two ranges (an error there, KeyboardInterrupt, stops the
/// call, as does an error of `work`). `values` estimates the work per item and `threads`
/// the threads that share it: they size the first range; every later one is sized from
/// the time the last took, to take about [`CHUNK_TIME`].
pub(crate) fn detach_in_chunks(
    py: Python<'_>,
    count: usize,
    values: usize,
    threads: usize,
    mut work: impl FnMut(Range<usize>) -> error::Result<()> + Send,
) -> PyResult<()> {
    let mut size = (FIRST_CHUNK_VALUES / values.max(1)).max(threads).max(1);
    let mut done = 0;
    while done < count {
        let range = done..count.min(done.saturating_add(size));
        let started = Instant::now();
        py.detach(|| guarded(|| work(range.clone())))?;
        size = next_size(range.len(), started.elapsed());
        done = range.end;
        if done < count {
            py.check_signals()?;
        }
    }
    Ok(())
}

/// Items in the chunk after one of `last` items that took `took`: as many as take about
/// [`CHUNK_TIME`] at its pace, at most [`MAX_GROWTH`] times as many, at least one.
fn next_size(last: usize, took: Duration) -> usize {
    let pace = CHUNK_TIME.as_secs_f64() / took.as_secs_f64().max(1e-9);
    ((last as f64 * pace) as usize).clamp(1, last.saturating_mul(MAX_GROWTH).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_aim_at_the_chunk_time_and_grow_gradually() {
        // Twice too slow: half as many; 1000 times too fast: only MAX_GROWTH times as many.
        assert_eq!(next_size(1000, CHUNK_TIME * 2), 500);
        assert_eq!(next_size(1000, CHUNK_TIME / 1000), 1000 * MAX_GROWTH);
        assert_eq!(next_size(1000, CHUNK_TIME), 1000);
        // One item that took a second: still one; no time at all: still finite.
        assert_eq!(next_size(1, Duration::from_secs(1)), 1);
        assert_eq!(next_size(3, Duration::ZERO), 3 * MAX_GROWTH);
    }
}
