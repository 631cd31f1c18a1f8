//! Ctrl-C during a long call: `KeyboardInterrupt` within about a second, not after the call.
//!
//! CPython runs a signal's handler (for SIGINT: raise `KeyboardInterrupt`) only when the
//! main thread executes Python code again, so a call that runs for minutes in Rust would
//! see its Ctrl-C only at the end. [`interruptible`] therefore runs the work on a thread of
//! its own, without the GIL, while the calling thread waits for it in short slices and
//! calls `check_signals` between them. When a handler raises, it asks the library to stop
//! ([`CancelScope::cancel_running`]: every long loop polls that at block boundaries and
//! returns `Error::Interrupted`), waits for the work to end, and returns the handler's
//! exception. The work's rayon tasks (global pool or the call's own `n_jobs` pool) all see
//! the process-wide request; nothing is written by these calls, so nothing is left behind.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use nncert::CancelScope;
use pyo3::prelude::*;

/// How long the calling thread waits between two looks at pending signals: short enough
/// for Ctrl-C to feel immediate, long enough to cost nothing.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Whether the work has ended (returned or panicked), with a condition variable to wake the
/// waiting thread at once rather than at its next slice.
#[derive(Default)]
struct Finished {
    done: Mutex<bool>,
    wake: Condvar,
}

impl Finished {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    /// Waits at most `timeout`; whether the work has ended.
    fn wait(&self, timeout: Duration) -> bool {
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        let (done, _) = self
            .wake
            .wait_timeout_while(done, timeout, |done| !*done)
            .unwrap_or_else(PoisonError::into_inner);
        *done
    }
}

/// Marks the work finished when dropped, also when it unwinds from a panic.
struct SetOnDrop<'a>(&'a Finished);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Runs `work` without the GIL on a thread of its own while this thread watches for
/// signals (see the module documentation). A panic of the work is resumed here.
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> PyResult<T> + Send,
) -> PyResult<T> {
    let _scope = CancelScope::enter();
    let finished = Finished::default();
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let _finished = SetOnDrop(&finished);
            work()
        });
        let mut signal = Ok(());
        while !py.detach(|| finished.wait(SIGNAL_POLL)) {
            signal = py.check_signals();
            if signal.is_err() {
                CancelScope::cancel_running();
                break;
            }
        }
        // Without a signal the work has ended; after one it stops at its next poll.
        let outcome = py.detach(|| worker.join());
        signal?;
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
