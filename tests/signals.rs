//! Signals that arrive before the run waits for them. A run installs its SIGINT/SIGTERM
//! handlers before it writes a token file; a signal that lands between that write and the
//! moment the probes start waiting must still stop the run through the cleanup, never through
//! the default action (which would end the process and leave the token behind). This binary
//! raises the signal at itself, so it has a process of its own.

// Tests panic on purpose: a broken step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acme_doctor::cli::signals::{self, Stop};
use nix::sys::signal::{Signal, raise};

#[test]
fn a_signal_before_anyone_waits_is_kept_for_the_first_wait() {
    assert!(signals::install(), "the handlers could not be installed");
    // Without the early handlers this ends the test process: the test then fails loudly.
    raise(Signal::SIGINT).unwrap();
    // The signal thread records it; give it a moment, then a run that starts waiting only
    // now must be told at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stop = runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(5), signals::interrupted()).await
    });
    assert_eq!(stop.expect("the early signal was lost"), Stop::Interrupt);
    // A second signal (a second Ctrl-C during the cleanup) is taken too, not the default
    // action, and the first one still names the stop.
    raise(Signal::SIGTERM).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let again = runtime.block_on(signals::interrupted());
    assert_eq!(again, Stop::Interrupt);
}
