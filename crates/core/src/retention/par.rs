//! Scoped-thread helpers of the planner: a function over contiguous ranges
//! of a list, and two closures at once. Results come back in range order,
//! so what is computed does not depend on the number of threads. A panic
//! on a helper thread is re-raised on the caller. No I/O.

use std::ops::Range;

/// `f` over `0..n` split into `threads` contiguous ranges, the last one on
/// the calling thread; the results in range order.
pub(crate) fn par_ranges<R: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(Range<usize>) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, n.max(1));
    let chunk = n.div_ceil(threads);
    let range = |t: usize| (t * chunk).min(n)..((t + 1) * chunk).min(n);
    if threads == 1 {
        return vec![f(0..n)];
    }
    std::thread::scope(|scope| {
        let f = &f;
        let spawned: Vec<_> = (0..threads - 1)
            .map(|t| {
                let r = range(t);
                scope.spawn(move || f(r))
            })
            .collect();
        let last = f(range(threads - 1));
        let mut out: Vec<R> = spawned
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        out.push(last);
        out
    })
}

/// `a` and `b` at once (`b` on the calling thread) when `parallel`.
pub(crate) fn join<A: Send, B>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B,
) -> (A, B) {
    if !parallel {
        let a = a();
        return (a, b());
    }
    std::thread::scope(|scope| {
        let handle = scope.spawn(a);
        let b = b();
        let a = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}
