//! Work spread over a given number of threads of the engine's pool, the calling thread one
//! of them: Block-STM's worker loop, and the parts of a replay after it (the final state,
//! the traces, the blooms) that are independent per account or per transaction, beside
//! serial work ([`beside`], [`Chunks`]).
//!
//! A replay asks for `threads` threads even when the pool holds more, so that a replay
//! measured at one thread count uses that many; the helpers here never start more.
//! Work is claimed in chunks through one `Relaxed` counter, which only hands out indices and
//! publishes no data; each chunk's result is published by a mutex, and the pool's join
//! (`pool.rs`: each helper's `Release` end, the caller's `Acquire` wait) orders every
//! helper's work before the caller reads the results.
//!
//! Also the pieces the engine's threads share: [`Line`] (a value alone on its cache line)
//! and [`lock`] (a mutex's guard across another thread's panic).

use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering::Relaxed},
};

use super::pool::WorkerPool;

/// Locks `mutex`. A poisoned lock means a thread panicked while it held it; the engine
/// reports that panic itself, and the data under the engine's locks (a status, a slot, a
/// list, a job) is stored or taken whole, never left half-updated, so it stays valid.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A value alone on its cache line (two lines, for the adjacent-line prefetcher), for data
/// the workers update concurrently: two such values sharing a line would move it between
/// their cores on every update of either (false sharing).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Line<T>(pub(crate) T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Runs `work` on `threads` threads of `pool`: the caller and `threads - 1` helpers.
pub(crate) fn on_threads(pool: &WorkerPool, threads: usize, work: impl Fn() + Sync) {
    on_threads_telling(pool, threads, |_| work());
}

/// [`on_threads`], telling `work` whether it runs on a helper (`true`) or on the calling
/// thread (`false`), which starts at once while the helpers are handed theirs.
pub(crate) fn on_threads_telling(pool: &WorkerPool, threads: usize, work: impl Fn(bool) + Sync) {
    pool.run(threads.saturating_sub(1), &|| work(true), || work(false));
}

/// Runs `work` on `threads` threads of `pool`, one helper first dropping `garbage`, when
/// `threads` allows a helper and the freeing is `worth_a_thread` (handing work to a thread
/// costs more than freeing a small block's data): then a helper frees it even when `work`
/// alone would not take one. Otherwise the caller drops it first. `work` must be work any
/// number of threads can share, since the helper that frees joins it late.
pub(crate) fn on_threads_freeing<T: Send>(
    pool: &WorkerPool,
    threads: usize,
    worth_a_thread: bool,
    garbage: T,
    work: impl Fn() + Sync,
) {
    if threads > 1 && worth_a_thread {
        let garbage = Mutex::new(Some(garbage));
        pool.run(
            threads - 1,
            &|| {
                let mine = lock(&garbage).take();
                drop(mine);
                work();
            },
            &work,
        );
        // Dropped here if no helper was idle to take it.
        drop(garbage);
    } else {
        drop(garbage);
        on_threads(pool, threads, work);
    }
}

/// Runs `serial` on the calling thread while `helpers` threads of `pool` run `parallel`,
/// which the caller then joins: serial work beside work any thread can share (`parallel`
/// claims [`Chunks`], so it ends when they are spent, whoever runs it). With no helpers the
/// caller runs both in turn, `parallel` first: in a replay it is the work that frees memory
/// (read sets into traces), and `serial` the work that holds more at once (the state
/// changes merged into a map), so the peak is the lower.
pub(crate) fn beside<S>(
    pool: &WorkerPool,
    helpers: usize,
    serial: impl FnOnce() -> S,
    parallel: impl Fn() + Sync,
) -> S {
    if helpers == 0 {
        parallel();
        return serial();
    }
    pool.run(helpers, &parallel, || {
        let result = serial();
        parallel();
        result
    })
}

/// `f(0..n)`, claimed `chunk` indices at a time by every thread that calls
/// [`Chunks::work`]; [`Chunks::into_results`] gives the results in index order once every
/// such call has returned.
pub(crate) struct Chunks<'a, T> {
    n: usize,
    chunk: usize,
    next: AtomicUsize,
    parts: Mutex<Vec<(usize, Vec<T>)>>,
    f: Box<dyn Fn(usize) -> T + Sync + 'a>,
}

impl<'a, T: Send> Chunks<'a, T> {
    /// The work of `f` over `0..n`, in chunks of `chunk` indices.
    pub(crate) fn new(n: usize, chunk: usize, f: impl Fn(usize) -> T + Sync + 'a) -> Self {
        let chunk = chunk.max(1);
        Self {
            n,
            chunk,
            next: AtomicUsize::new(0),
            parts: Mutex::new(Vec::with_capacity(n.div_ceil(chunk))),
            f: Box::new(f),
        }
    }

    /// Number of chunks.
    pub(crate) fn count(&self) -> usize {
        self.n.div_ceil(self.chunk)
    }

    /// Claims and computes chunks until none is left.
    pub(crate) fn work(&self) {
        loop {
            let c = self.next.fetch_add(1, Relaxed);
            if c >= self.count() {
                break;
            }
            let part: Vec<T> = (c * self.chunk..((c + 1) * self.chunk).min(self.n))
                .map(&self.f)
                .collect();
            lock(&self.parts).push((c, part));
        }
    }

    /// Every result, in index order (after every [`Chunks::work`] returned; a chunk nobody
    /// claimed is computed here).
    pub(crate) fn into_results(self) -> Vec<T> {
        self.work();
        let mut parts = self.parts.into_inner().unwrap_or_else(|p| p.into_inner());
        parts.sort_unstable_by_key(|(c, _)| *c);
        // Exactly sized, each part freed as it is moved.
        let mut results = Vec::with_capacity(parts.iter().map(|(_, part)| part.len()).sum());
        for (_, part) in parts {
            results.extend(part);
        }
        results
    }
}

/// A pool of three helpers (four threads with the caller) shared by the unit tests of the
/// parallel engine.
#[cfg(test)]
pub(crate) fn test_pool() -> &'static WorkerPool {
    static POOL: std::sync::OnceLock<WorkerPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        WorkerPool::new(3, |i| format!("test-helper-{i}")).unwrap_or_else(|e| panic!("{e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_back_in_order_on_any_thread_count() {
        let pool = test_pool();
        for threads in 1..=4 {
            for n in [0, 1, 7, 64, 1000] {
                let squares = Chunks::new(n, 10, |i| i * i);
                on_threads(pool, threads, || squares.work());
                assert_eq!(
                    squares.into_results(),
                    (0..n).map(|i| i * i).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn the_garbage_is_freed_and_the_work_done_whoever_frees_it() {
        struct Garbage<'a>(&'a AtomicUsize);
        impl Drop for Garbage<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Relaxed);
            }
        }
        let pool = test_pool();
        for threads in 1..=4 {
            for worth_a_thread in [false, true] {
                let freed = AtomicUsize::new(0);
                let squares = Chunks::new(1000, 7, |i| i * i);
                on_threads_freeing(pool, threads, worth_a_thread, Garbage(&freed), || {
                    squares.work()
                });
                assert_eq!(freed.into_inner(), 1);
                assert_eq!(
                    squares.into_results(),
                    (0..1000).map(|i| i * i).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn chunks_shared_beside_serial_work_come_back_whole() {
        let pool = test_pool();
        for helpers in 0..=2 {
            let squares = Chunks::new(1000, 7, |i| i * i);
            let serial = beside(pool, helpers, || 42, || squares.work());
            assert_eq!(serial, 42);
            assert_eq!(
                squares.into_results(),
                (0..1000).map(|i| i * i).collect::<Vec<_>>()
            );
        }
    }
}
