//! The engine's helper threads: the calling thread's `threads - 1` helpers, created once per
//! engine, which wait for work by spinning a short while before they park.
//!
//! A replay hands work to its helpers several times (the worker loop, the fold, the traces,
//! the blooms), and on a small block each hand-over is a large part of the replay. A
//! helper that sleeps on a futex costs the caller a wake-up system call (6 to 7 us on the
//! 2-vCPU machine of BENCHMARKS.md, where waking an idle vCPU is an interrupt through the
//! hypervisor) and starts 15 to 20 us later; an 18-transaction block runs in 42 us
//! sequentially. So a helper that finished a job spins for [`SPIN`] before it parks, and
//! the caller, once its own share is done, spins for the helpers' ends before it parks: a
//! hand-over while the helper still spins is two atomic stores and a load. This is the
//! spin-then-block wait of OpenMP runtimes (whose default spin is far longer) and, with a
//! few yields instead, of rayon's pool, which the engine used before (its helpers fell
//! asleep between phases, and its caller slept on a condition variable at every join).
//!
//! ## Protocol (one helper, one job)
//! - *Claim.* A caller claims an idle helper by `claimed` false -> true (`Acquire`, pairing
//!   with the `Release` that freed it: the previous job's end happens before this one's
//!   start). Only the claimer writes the helper's job and reads its end until it frees it.
//!   A caller claims only idle helpers: a nested or concurrent call gets those left, and
//!   runs with fewer (every job here is work any number of threads can share, see
//!   `threads.rs`).
//! - *Post.* The claimer stores the job (under `job`'s mutex, never contended: the helper
//!   takes it only after the post) and then bumps `posted` with `Release`, so that the
//!   helper, which loads `posted` with `Acquire`, sees the job. Then it unparks the helper,
//!   which costs a system call only when the helper is parked.
//! - *Run.* The helper runs the job, catching a panic into `panic`, and then stores the
//!   job's number into `finished` with `Release`: everything the job did happens before the
//!   claimer's `Acquire` load that sees it. After that store the helper never touches the
//!   job again (it borrows the claimer's stack: see [`Job`]); it only unparks the claimer,
//!   through its own handle of the claimer's thread.
//! - *Join.* The claimer waits for `finished` to reach the job's number, spinning for
//!   [`SPIN`] and then parking (a park that returns early is checked again), takes a
//!   panic, frees the helper (`claimed` := false, `Release`) and then re-raises the first
//!   panic. It joins even when its own share panicked (a drop guard), so that no helper
//!   outlives the work it borrows.
//!
//! No lock is held across a wait: `job` and `panic` are each locked for one store or take.
//!
//! ## Woken ahead of a job
//! A replay prepares its worker loop before it posts it (the pre-block system calls, the
//! multi-version memory, the dependency hints: 4 to 66 us on the mainnet fixtures at two
//! threads). A helper that parked since the last replay (the bench and the job replay each
//! block sequentially just before) then started its share 16 to 64 us after the caller on
//! the 2-vCPU machine, the futex wake-up alone costing the caller 8 to 16 us: an interrupt
//! through the hypervisor to an idle vCPU. [`WorkerPool::wake`], called as the replay
//! starts, bumps an idle helper's `woken` and unparks it: the helper begins a fresh spin of
//! [`SPIN`] and is spinning when the job is posted, so that it starts within 0 to 25 us of
//! the caller. `woken` carries no data (the job is still published by `posted`), so
//! `Relaxed` suffices: the unpark after the bump makes a parked helper look again, and a
//! stale load costs one more spin or park, never a job. A claimed helper is not woken; a
//! wake that races a claim makes the helper spin once more after its job, nothing else.
//! The waker publishes its CPU as a claimer does, so that a helper woken onto that CPU
//! parks again rather than spin beside it.
//!
//! ## Not spinning beside the thread waited on
//! A spin pays only while the thread it waits on runs on another CPU. When the scheduler
//! put both on one CPU (it does, now and then, on the 2-vCPU machine: a replay of 930196
//! at two threads then took 140 to 243 us instead of 24, as it does with the process
//! confined to one CPU), the spinner holds that CPU for its whole spin while the other
//! waits for it, at every hand-over. So each side of a hand-over publishes the CPU it last
//! ran on (`cpu` for the helper, `caller_cpu` for its claimer, both refreshed at every
//! clock read of a wait, and at a job's post and start), and a wait parks at once when the
//! thread it waits on was last seen on its own CPU (930196 at two threads, medians of 100
//! execution-only replays, five runs alternating with the build before: 45 to 260 us ->
//! 41 to 56 us; with the process confined to one CPU 195 to 207 -> 56 to 58 us; blocks of
//! milliseconds level). The CPUs are hints, loaded and stored `Relaxed`: a stale one costs
//! a wake-up or a spin, never a lost wake-up (the park and unpark protocol above does not
//! read them).

use std::{
    any::Any,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    sync::{
        Arc, Mutex,
        atomic::{
            AtomicBool, AtomicU32, AtomicU64,
            Ordering::{Acquire, Relaxed, Release},
        },
    },
    thread::{self, JoinHandle, Thread},
    time::{Duration, Instant},
};

use super::threads::{Line, lock};

/// How long a helper spins for its next job, and a caller for its helpers' ends, before
/// parking. A replay's phases follow each other within it, and so do consecutive small
/// replays; a block that takes longer pays one wake-up in hundreds of microseconds.
pub(crate) const SPIN: Duration = Duration::from_micros(100);

/// Spin hints between two reads of the clock, so that reading it (about 20 ns) is a small
/// part of a spin.
const SPINS_PER_CLOCK_READ: u32 = 64;

/// The helpers' share of one hand-over.
type Work<'a> = dyn Fn() + Sync + 'a;

/// A job as a helper holds it: the caller's work, borrowed for as long as the caller waits
/// in [`WorkerPool::run`], and the caller's thread, to unpark when the job ends.
struct Job {
    /// The caller's work with its lifetime erased. Sound because the caller does not return
    /// (nor unwind) from [`WorkerPool::run`] before the helper stored the job's end, after
    /// which the helper no longer uses this reference (see the module docs, "Run" and
    /// "Join").
    work: &'static Work<'static>,
    caller: Thread,
}

/// One helper thread's mailbox.
#[derive(Default)]
struct Helper {
    /// Claimed by a caller (until it joined the job) or idle.
    claimed: AtomicBool,
    /// The number of the last job posted; the helper runs a job when this moves.
    posted: AtomicU64,
    /// The number of the last job that ended.
    finished: AtomicU64,
    /// Bumped by [`WorkerPool::wake`]: a job is coming; the helper spins for it afresh.
    woken: AtomicU64,
    /// The job posted and not yet taken by the helper.
    job: Mutex<Option<Job>>,
    /// The panic of the last job, for its caller to re-raise.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Set once, when the pool is dropped: the helper leaves instead of waiting.
    stop: AtomicBool,
    /// The CPU the helper was last seen on ([`UNKNOWN_CPU`] before it ran).
    cpu: Cpu,
    /// The CPU its last claimer was last seen on.
    caller_cpu: Cpu,
    /// Waits on this mailbox (the helper's for a job, its claimers' for its ends) that
    /// parked before their spin was over because the other side was on their CPU.
    #[cfg(test)]
    parked_beside: AtomicU64,
    /// Waits this helper began afresh on a wake, before any job was posted.
    #[cfg(test)]
    woken_ahead: AtomicU64,
}

/// Which side of a helper's mailbox waits: the helper for its next job, or its claimer
/// for the job's end.
#[derive(Clone, Copy)]
enum Side {
    Helper,
    Caller,
}

impl Helper {
    /// Waits as `side` until `ready()` ([`spin_then_park`]), publishing that side's CPU and
    /// comparing it with the other side's.
    fn wait(&self, side: Side, ready: impl Fn() -> bool) {
        let (own, peer) = match side {
            Side::Helper => (&self.cpu, &self.caller_cpu),
            Side::Caller => (&self.caller_cpu, &self.cpu),
        };
        let _beside = spin_then_park(ready, own, peer);
        #[cfg(test)]
        self.parked_beside.fetch_add(u64::from(_beside), Relaxed);
    }
}

/// A CPU number as a thread last published it (see "Not spinning beside the thread
/// waited on" in the module docs).
struct Cpu(AtomicU32);

impl Default for Cpu {
    fn default() -> Self {
        Self(AtomicU32::new(UNKNOWN_CPU))
    }
}

impl Cpu {
    /// Publishes the calling thread's CPU and returns it.
    fn publish(&self) -> u32 {
        let cpu = current_cpu();
        self.0.store(cpu, Relaxed);
        cpu
    }

    /// Whether the thread that publishes here was last seen on `cpu`.
    fn is(&self, cpu: u32) -> bool {
        cpu != UNKNOWN_CPU && self.0.load(Relaxed) == cpu
    }
}

/// No CPU known.
const UNKNOWN_CPU: u32 = u32::MAX;

/// The CPU the calling thread runs on (it may have moved by the time this returns), or
/// [`UNKNOWN_CPU`].
fn current_cpu() -> u32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sched_getcpu` takes no argument and touches no memory of ours (glibc
        // reads the thread's rseq area or asks the vDSO); it returns -1 on failure.
        let cpu = unsafe { libc::sched_getcpu() };
        u32::try_from(cpu).unwrap_or(UNKNOWN_CPU)
    }
    #[cfg(not(target_os = "linux"))]
    {
        UNKNOWN_CPU
    }
}

/// The calling thread's helpers (see the module docs).
pub(crate) struct WorkerPool {
    helpers: Vec<Arc<Line<Helper>>>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("helpers", &self.helpers.len())
            .finish()
    }
}

impl WorkerPool {
    /// A pool of `helpers` threads named `name(i)`.
    ///
    /// # Errors
    /// The operating system's refusal to start a thread.
    pub(crate) fn new(helpers: usize, name: impl Fn(usize) -> String) -> std::io::Result<Self> {
        let mut pool = Self {
            helpers: Vec::with_capacity(helpers),
            threads: Vec::with_capacity(helpers),
        };
        for i in 0..helpers {
            let helper = Arc::new(Line(Helper::default()));
            let mailbox = Arc::clone(&helper);
            // On failure, the threads already started are stopped by `pool`'s drop.
            let thread = thread::Builder::new()
                .name(name(i))
                .spawn(move || wait_for_jobs(&mailbox))?;
            pool.helpers.push(helper);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Runs `on_helpers` on up to `helpers` idle helpers while the calling thread runs
    /// `on_caller`, and returns its result once every helper returned too. A panic on any of
    /// them is re-raised here, after the others ended.
    pub(crate) fn run<R>(
        &self,
        helpers: usize,
        on_helpers: &(dyn Fn() + Sync),
        on_caller: impl FnOnce() -> R,
    ) -> R {
        if helpers == 0 {
            return on_caller();
        }
        let mut joined = Joined {
            pool: self,
            jobs: Vec::new(),
        };
        // SAFETY: only the lifetime is erased (same type, same layout). `joined` waits, on
        // return and on unwind, for every helper given this reference to store its job's
        // end, after which that helper no longer uses it.
        let erased: &'static Work<'static> =
            unsafe { std::mem::transmute::<&Work<'_>, &'static Work<'static>>(on_helpers) };
        let caller = thread::current();
        for (index, helper) in self.helpers.iter().enumerate() {
            if joined.jobs.len() == helpers {
                break;
            }
            if helper
                .claimed
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_err()
            {
                continue;
            }
            helper.caller_cpu.publish();
            *lock(&helper.job) = Some(Job {
                work: erased,
                caller: caller.clone(),
            });
            let number = helper.posted.fetch_add(1, Release) + 1;
            joined.jobs.push((index, number));
            self.threads[index].thread().unpark();
        }
        let result = on_caller();
        joined.join();
        result
    }

    /// Wakes up to `helpers` idle helpers ahead of a [`run`](Self::run) that the caller
    /// will post once it has prepared the work: each spins afresh for its job (see "Woken
    /// ahead of a job" in the module docs).
    pub(crate) fn wake(&self, helpers: usize) {
        let idle = self.helpers.iter().zip(&self.threads);
        let idle = idle.filter(|(helper, _)| !helper.claimed.load(Relaxed));
        for (helper, thread) in idle.take(helpers) {
            // A helper woken onto this thread's CPU parks again rather than spin beside it.
            helper.caller_cpu.publish();
            helper.woken.fetch_add(1, Relaxed);
            thread.thread().unpark();
        }
    }

    /// The number of helper threads.
    #[cfg(test)]
    pub(crate) fn helpers(&self) -> usize {
        self.helpers.len()
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for (helper, thread) in self.helpers.iter().zip(&self.threads) {
            helper.stop.store(true, Release);
            thread.thread().unpark();
        }
        for thread in self.threads.drain(..) {
            // A helper catches its jobs' panics: it cannot end in one.
            let _ = thread.join();
        }
    }
}

/// The jobs a [`WorkerPool::run`] posted, joined on return or on unwind.
struct Joined<'p> {
    pool: &'p WorkerPool,
    /// (helper index, job number).
    jobs: Vec<(usize, u64)>,
}

impl Joined<'_> {
    /// Waits for every posted job's end, frees the helpers and re-raises the first panic.
    fn join(mut self) {
        if let Some(panic) = self.wait() {
            resume_unwind(panic);
        }
    }

    fn wait(&mut self) -> Option<Box<dyn Any + Send>> {
        let mut first_panic = None;
        for (index, number) in self.jobs.drain(..) {
            let helper = &self.pool.helpers[index];
            helper.wait(Side::Caller, || helper.finished.load(Acquire) >= number);
            let panic = lock(&helper.panic).take();
            helper.claimed.store(false, Release);
            first_panic = first_panic.or(panic);
        }
        first_panic
    }
}

impl Drop for Joined<'_> {
    fn drop(&mut self) {
        // Only on unwind (the caller's share panicked): its panic goes on, the helpers' are
        // dropped.
        let _ = self.wait();
    }
}

/// A helper thread's life: wait for a job, run it, tell its caller, until the pool stops.
fn wait_for_jobs(helper: &Helper) {
    let mut seen = 0;
    let mut seen_woken = 0;
    loop {
        helper.wait(Side::Helper, || {
            helper.posted.load(Acquire) != seen
                || helper.stop.load(Acquire)
                || helper.woken.load(Relaxed) != seen_woken
        });
        if helper.stop.load(Acquire) {
            return;
        }
        seen_woken = helper.woken.load(Relaxed);
        let posted = helper.posted.load(Acquire);
        if posted == seen {
            // Woken ahead of a job: wait for it with a fresh spin.
            #[cfg(test)]
            helper.woken_ahead.fetch_add(1, Relaxed);
            continue;
        }
        seen = posted;
        helper.cpu.publish();
        let Some(job) = lock(&helper.job).take() else {
            // Unreachable: a caller stores the job before it bumps `posted`.
            continue;
        };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (job.work)())) {
            *lock(&helper.panic) = Some(panic);
        }
        let caller = job.caller;
        // From here on `job.work` may dangle: the caller returns once it sees this.
        helper.finished.store(seen, Release);
        caller.unpark();
    }
}

/// Waits until `ready()`: spinning for [`SPIN`], then parking until unparked (and checking
/// again, since a park may return early or on an unpark meant for an earlier wait). At
/// every clock read the waiting thread publishes its CPU in `own`, and parks at once when
/// the thread that will make `ready()` true was last seen there (`peer`). Returns whether
/// it parked for that reason.
fn spin_then_park(ready: impl Fn() -> bool, own: &Cpu, peer: &Cpu) -> bool {
    let started = Instant::now();
    let mut spins = 0u32;
    let mut beside = false;
    while !ready() {
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(SPINS_PER_CLOCK_READ) {
            std::hint::spin_loop();
            continue;
        }
        let spinning = started.elapsed() < SPIN;
        let peer_here = spinning && peer.is(own.publish());
        if spinning && !peer_here {
            std::hint::spin_loop();
            continue;
        }
        beside |= peer_here;
        // No wake-up is lost: whoever makes `ready()` true unparks this thread after it,
        // and an unpark that comes before the park makes the park return at once.
        thread::park();
    }
    beside
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn pool(helpers: usize) -> WorkerPool {
        WorkerPool::new(helpers, |i| format!("test-helper-{i}")).unwrap()
    }

    /// How many helpers ran their share of a `run` asking for `helpers` of them, counted
    /// once `run` returned.
    fn helpers_that_ran(pool: &WorkerPool, helpers: usize) -> usize {
        let ran = AtomicUsize::new(0);
        pool.run(
            helpers,
            &|| {
                ran.fetch_add(1, Relaxed);
            },
            || (),
        );
        ran.into_inner()
    }

    #[test]
    fn every_helper_runs_its_share_once_and_the_caller_joins_them() {
        let pool = pool(3);
        assert_eq!(pool.helpers(), 3);
        for helpers in 0..=4 {
            for _ in 0..200 {
                let on_helpers = AtomicUsize::new(0);
                let result = pool.run(
                    helpers,
                    &|| {
                        on_helpers.fetch_add(1, Relaxed);
                    },
                    || 42,
                );
                assert_eq!(result, 42);
                // Every helper returned before `run` did.
                assert_eq!(on_helpers.into_inner(), helpers.min(3));
            }
        }
    }

    #[test]
    fn a_helper_that_parked_is_woken() {
        let pool = pool(1);
        for _ in 0..3 {
            thread::sleep(SPIN * 5);
            assert_eq!(helpers_that_ran(&pool, 1), 1);
        }
    }

    /// Confined to one CPU with its helper (which inherits the creating thread's
    /// affinity), a caller hands work over and joins it with neither side spinning out its
    /// wait beside the other: the waits park at once, and every job still runs once.
    #[cfg(target_os = "linux")]
    #[test]
    fn on_one_cpu_neither_side_spins_beside_the_other() {
        let parked_beside = thread::spawn(|| {
            let cpu = current_cpu();
            assert_ne!(cpu, UNKNOWN_CPU, "sched_getcpu failed");
            // SAFETY: `set` is a plain bit set that lives across the call; pid 0 is the
            // calling thread.
            let confined = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu as usize, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
            };
            assert_eq!(confined, 0, "sched_setaffinity failed");
            let pool = pool(1);
            for _ in 0..200 {
                assert_eq!(helpers_that_ran(&pool, 1), 1);
            }
            pool.helpers[0].parked_beside.load(Relaxed)
        })
        .join()
        .unwrap();
        // Of some 400 waits (a job's and its end's, 200 times), those the other side ended
        // within a clock read's spins never parked; most waited for a thread that had to
        // get the CPU first.
        assert!(
            parked_beside >= 100,
            "{parked_beside} waits parked beside the other side"
        );
    }

    /// How many waits each helper began afresh on a wake, once `expected` of them did (or
    /// after ten seconds).
    fn woken_ahead(pool: &WorkerPool, expected: u64) -> Vec<u64> {
        let counts = || -> Vec<u64> {
            let counts = pool.helpers.iter();
            counts
                .map(|helper| helper.woken_ahead.load(Relaxed))
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while counts().iter().sum::<u64>() < expected && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        // Long enough for a wake sent to any other helper to show.
        thread::sleep(SPIN * 5);
        counts()
    }

    /// A wake reaches a parked idle helper, which waits again for its job; a claimed helper
    /// is not woken, and the jobs still run once each.
    #[test]
    fn a_wake_reaches_only_idle_helpers_and_jobs_still_run() {
        let pool = pool(2);
        assert_eq!(helpers_that_ran(&pool, 2), 2);
        thread::sleep(SPIN * 5);
        pool.wake(1);
        assert_eq!(woken_ahead(&pool, 1), [1, 0]);
        assert_eq!(helpers_that_ran(&pool, 2), 2);
        // The first helper runs a job while its caller wakes two: only the second wakes.
        thread::sleep(SPIN * 5);
        let (started, woke) = (AtomicBool::new(false), AtomicBool::new(false));
        pool.run(
            1,
            &|| {
                started.store(true, Relaxed);
                while !woke.load(Relaxed) {
                    std::hint::spin_loop();
                }
            },
            || {
                while !started.load(Relaxed) {
                    std::hint::spin_loop();
                }
                pool.wake(2);
                woke.store(true, Relaxed);
            },
        );
        assert_eq!(woken_ahead(&pool, 2), [1, 1]);
        assert_eq!(helpers_that_ran(&pool, 2), 2);
    }

    #[test]
    fn a_nested_call_gets_the_helpers_left() {
        let pool = pool(2);
        let inner = pool.run(1, &|| (), || helpers_that_ran(&pool, 2));
        // The one helper the outer call left.
        assert_eq!(inner, 1);
    }

    #[test]
    fn concurrent_callers_share_the_helpers_and_each_joins_its_own() {
        let pool = pool(2);
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for round in 0..500 {
                        let on_helpers = AtomicUsize::new(0);
                        let result = pool.run(
                            2,
                            &|| {
                                on_helpers.fetch_add(1, Relaxed);
                            },
                            || round,
                        );
                        assert_eq!(result, round);
                        // Whatever it got of the two helpers, each ran its share once
                        // before `run` returned.
                        assert!(on_helpers.into_inner() <= 2);
                    }
                });
            }
        });
    }

    #[test]
    fn a_helpers_panic_reaches_the_caller_after_every_thread_ended() {
        let pool = pool(2);
        let started = AtomicUsize::new(0);
        let ended = AtomicUsize::new(0);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            pool.run(
                2,
                &|| {
                    if started.fetch_add(1, Relaxed) == 0 {
                        panic!("injected");
                    }
                    thread::sleep(Duration::from_millis(5));
                    ended.fetch_add(1, Relaxed);
                },
                || ended.fetch_add(1, Relaxed),
            );
        }));
        assert!(caught.is_err());
        // The other helper and the caller ended before the panic reached the caller.
        assert_eq!(ended.into_inner(), 2);
        assert_eq!(
            helpers_that_ran(&pool, 2),
            2,
            "the pool works after a panic"
        );
    }

    #[test]
    fn a_callers_panic_waits_for_the_helpers() {
        let pool = pool(1);
        let ended = AtomicUsize::new(0);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            pool.run(
                1,
                &|| {
                    thread::sleep(Duration::from_millis(5));
                    ended.fetch_add(1, Relaxed);
                },
                || panic!("injected"),
            )
        }));
        assert!(caught.is_err());
        assert_eq!(ended.into_inner(), 1);
    }
}
