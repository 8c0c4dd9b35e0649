//! Work spread over a given number of threads of the engine's pool, the calling thread one
//! of them: Block-STM's worker loop, and the parts of a replay after it (the final state,
//! the traces, the blooms, the state diff) that are independent per account or per
//! transaction.
//!
//! A replay asks for `threads` threads even when the pool holds more, so that a replay
//! measured at one thread count uses that many; the helpers here never start more.
//! Work is claimed in chunks through one `Relaxed` counter, which only hands out indices and
//! publishes no data; each chunk's result is published by a mutex, and the scope's join
//! orders every helper's work before the caller reads the results.

use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering::Relaxed},
};

/// Runs `work` on `threads` threads of `pool`: the caller and `threads - 1` pool threads.
pub(crate) fn on_threads(pool: &rayon::ThreadPool, threads: usize, work: impl Fn() + Sync) {
    if threads <= 1 {
        work();
        return;
    }
    pool.in_place_scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|_| work());
        }
        work();
    });
}

/// Runs `work` on the calling thread while another thread of `pool` drops `garbage`, when
/// `threads` allows a second thread and the freeing is `worth_a_thread` (waking a thread
/// costs more than freeing a small block's data); otherwise drops it first.
pub(crate) fn while_freeing<T: Send, R>(
    pool: &rayon::ThreadPool,
    threads: usize,
    worth_a_thread: bool,
    garbage: T,
    work: impl FnOnce() -> R,
) -> R {
    if threads > 1 && worth_a_thread {
        pool.in_place_scope(|scope| {
            scope.spawn(move |_| drop(garbage));
            work()
        })
    } else {
        drop(garbage);
        work()
    }
}

/// `f(0..n)` on at most `threads` threads, claimed `chunk` indices at a time; the results in
/// index order.
pub(crate) fn map_chunks<T: Send>(
    pool: &rayon::ThreadPool,
    threads: usize,
    n: usize,
    chunk: usize,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let chunk = chunk.max(1);
    let chunks = n.div_ceil(chunk);
    let next = AtomicUsize::new(0);
    let parts: Mutex<Vec<(usize, Vec<T>)>> = Mutex::new(Vec::with_capacity(chunks));
    on_threads(pool, threads.min(chunks), || {
        loop {
            let c = next.fetch_add(1, Relaxed);
            if c >= chunks {
                break;
            }
            let part: Vec<T> = (c * chunk..((c + 1) * chunk).min(n)).map(&f).collect();
            parts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((c, part));
        }
    });
    let mut parts = parts.into_inner().unwrap_or_else(|p| p.into_inner());
    parts.sort_unstable_by_key(|(c, _)| *c);
    parts.into_iter().flat_map(|(_, part)| part).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_back_in_order_on_any_thread_count() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for threads in 1..=4 {
            for n in [0, 1, 7, 64, 1000] {
                let squares = map_chunks(&pool, threads, n, 10, |i| i * i);
                assert_eq!(squares, (0..n).map(|i| i * i).collect::<Vec<_>>());
            }
        }
    }
}
