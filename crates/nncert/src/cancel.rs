//! Stopping a running computation early (Ctrl-C in Python), cleanly.
//!
//! A front end that wants its computations to be cancellable runs each of them inside a
//! [`CancelScope`]; [`CancelScope::cancel_running`] then asks every computation running in
//! a scope to stop. The long loops of the library poll the request at block boundaries (a
//! tile of training rows in the neighbour search, one `e` or one window of the certificate
//! sweeps, a setting of an experiment, a chunk of HOG images, a shard) and the entry points
//! return [`Error::Interrupted`]; nothing is written, and nothing half computed is returned.
//! `docs/GUARANTEES.md` §7 lists where the request is polled and why it is process-wide.
//!
//! Why one flag for the whole process rather than a token in the settings: the long loops
//! run as rayon tasks on the global pool, several calls deep, and a token would have to be
//! threaded through every signature and settings struct on the way; a Ctrl-C is meant for
//! the whole program anyway. The cost is one relaxed atomic load per block: a few
//! nanoseconds per millisecond of work, and no effect on any result.
//!
//! The flag can only be raised while a scope is open and is lowered when the last open
//! scope ends. So a request never outlives the computations it was meant for (the next
//! call runs normally), and it is never withdrawn while a computation that saw it may
//! still be running. That second property lets functions that return plain values (the
//! per-`e` certificate loops) simply skip their remaining steps once a request is seen:
//! the entry point that called them checks the flag afterwards (`check`) and returns the
//! error instead of their partial result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Error;

/// Whether a cancellation was requested (read by every poll, hence an atomic of its own).
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The number of open scopes; raising and lowering [`REQUESTED`] happen under this lock,
/// so that a scope ending cannot lower a flag raised for a scope that is still open.
static OPEN_SCOPES: Mutex<usize> = Mutex::new(0);

fn open_scopes() -> MutexGuard<'static, usize> {
    // The counter stays consistent even if a holder panicked: every update is one statement.
    OPEN_SCOPES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A computation that may be cancelled: open while it runs (see the module documentation).
///
/// ```
/// use nncert::{CancelScope, CurveOptions, Error, Method, Votes, certify_votes};
///
/// let votes = Votes::new(vec![1, 7, 2, 4, 0, 3], 3, vec![1, 0]).unwrap();
/// let options = CurveOptions::new(Method::Rnn, "4");
/// {
///     let _scope = CancelScope::enter();
///     CancelScope::cancel_running(); // e.g. from a thread watching for Ctrl-C
///     assert!(matches!(certify_votes(&votes, &options), Err(Error::Interrupted)));
/// }
/// // The scope has ended: the request is gone and the next call runs normally.
/// assert_eq!(certify_votes(&votes, &options).unwrap().points[0].e_star, 2);
/// ```
#[derive(Debug)]
#[must_use = "the scope ends (and a pending cancellation is withdrawn) when it is dropped"]
pub struct CancelScope {
    _private: (),
}

impl CancelScope {
    /// Opens a scope for a computation about to start on this or any other thread.
    pub fn enter() -> CancelScope {
        *open_scopes() += 1;
        CancelScope { _private: () }
    }

    /// Asks every computation running in an open scope to stop at its next poll (within
    /// a few milliseconds of work per thread). Without an open scope it does nothing.
    pub fn cancel_running() {
        if *open_scopes() > 0 {
            REQUESTED.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for CancelScope {
    fn drop(&mut self) {
        let mut open = open_scopes();
        *open = open.saturating_sub(1);
        if *open == 0 {
            REQUESTED.store(false, Ordering::Relaxed);
        }
    }
}

/// Whether a cancellation was requested: loops that return plain values poll this and skip
/// their remaining steps (their caller then returns the error, see [`check`]).
#[inline]
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// `Err(Error::Interrupted)` once a cancellation was requested: polled between blocks of
/// work by everything that returns a `Result`.
#[inline]
pub(crate) fn check() -> Result<(), Error> {
    if requested() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
