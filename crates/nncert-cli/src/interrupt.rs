//! SIGINT and SIGTERM: remove this run's staging directories and temporary files, then
//! exit, so an interrupted run leaves the previous output intact and nothing else.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts a thread that waits for SIGINT, SIGTERM or SIGHUP. On the first one it removes
/// every pending temporary path (the library's [`nncert::report::remove_pending`] never
/// interleaves with a swap or a file being written) and exits with 128 + the signal number.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        // Without the handler the default action (terminate) applies; the staging
        // directory then stays behind under its hidden name, as after SIGKILL.
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            nncert::report::remove_pending();
            eprintln!("nncert: interrupted");
            std::process::exit(128 + signal);
        }
    });
}
