//! How the runners spread their work: plain scoped threads, two per available core, each
//! taking the next item; and a panic inside revm or the engine caught as a failure of that one
//! item rather than the end of the run.
//!
//! These are plain threads, not rayon tasks: a rayon worker that waits for the parallel
//! engine's pool steals other items meanwhile and nests them on its stack without bound.

use std::{
    num::NonZeroUsize,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::atomic::{AtomicUsize, Ordering},
};

/// Runs `f`; a panic becomes `Err("panicked: <its message>")`.
pub(crate) fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        format!("panicked: {text}")
    })
}

/// How many workers `items` items get: two per available core, at most one per item.
///
/// Two per core because a replay's hand-offs to the engine's pool leave a core idle while
/// threads wake up, and a second item fills it (measured on two cores, GeneralStateTests
/// without vmPerformance: 243 s with one worker, 213 s with one per core, 195 s with two per
/// core).
pub(crate) fn worker_count(items: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .saturating_mul(2)
        .min(items)
}

/// `f` of every item, in item order, computed by `workers` threads each taking the next item
/// (on the calling thread when `workers` is at most one). An item is `None` only when its
/// worker died, which takes an abort: callers catch panics inside `f`.
pub(crate) fn map_on_workers<T, R>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
{
    if workers <= 1 {
        return items.iter().map(|item| Some(f(item))).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = Vec::new();
    results.resize_with(items.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        // Relaxed suffices: the counter only hands out distinct indexes; the
                        // results travel back through `join`, which synchronises.
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        for handle in handles {
            for (i, result) in handle.join().unwrap_or_default() {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(result);
                }
            }
        }
    });
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_item_order_and_panics_are_caught() {
        let items: Vec<usize> = (0..50).collect();
        for workers in [1, 4] {
            let doubled = map_on_workers(&items, workers, |&i| i * 2);
            let expected: Vec<Option<usize>> = items.iter().map(|&i| Some(i * 2)).collect();
            assert_eq!(doubled, expected);
        }
        assert_eq!(catch_panic(|| 7), Ok(7));
        let caught = catch_panic(|| -> usize { panic!("boom") });
        assert_eq!(caught, Err("panicked: boom".to_owned()));
    }
}
