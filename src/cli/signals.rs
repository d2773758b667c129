//! Signals, in one place. Ctrl-C (SIGINT) or SIGTERM during a run stops the probes, prints what
//! finished, runs the registered cleanup actions and exits 130 (SIGINT) or 143 (SIGTERM), as a
//! shell expects of a process that a signal ended.
//!
//! Anything a run leaves in the world that a signal must not leave behind (a challenge file in a
//! webroot, say) registers its removal with [`on_interrupt`] and keeps the returned
//! [`Registration`] for as long as the thing exists; dropping the registration (the normal
//! path, after the thing was removed) unregisters it. [`run_cleanups`] runs what is still
//! registered, once.
//!
//! The handlers are tokio's (signal-hook-registry underneath). [`install`] puts them in place
//! before the run writes anything into the world (a token file): a signal that arrives before
//! the probes start waiting is kept and stops them as soon as they do, so no window is left in
//! which the default action (terminate) would skip the cleanup. Once installed they replace that
//! default for the rest of the process. Where [`install`] could not run (no thread to spare),
//! the first [`interrupted`] call installs them instead.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which signal stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

type Action = Box<dyn FnOnce() + Send>;

static CLEANUPS: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A cleanup action that stays registered while this lives.
#[derive(Debug)]
#[must_use = "dropping the registration unregisters the cleanup at once"]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        cleanups().retain(|(id, _)| *id != self.0);
    }
}

fn cleanups() -> std::sync::MutexGuard<'static, Vec<(u64, Action)>> {
    // A poisoned lock only means a cleanup panicked; the list is still usable.
    CLEANUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers `action` to run if a signal stops the run while the registration lives.
pub fn on_interrupt(action: impl FnOnce() + Send + 'static) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    cleanups().push((id, Box::new(action)));
    Registration(id)
}

/// Runs every registered cleanup, newest first, each once.
pub fn run_cleanups() {
    let actions: Vec<(u64, Action)> = std::mem::take(&mut *cleanups());
    for (_, action) in actions.into_iter().rev() {
        action();
    }
}

/// The first signal seen by the handlers [`install`] put in place: 0 none yet, else a
/// [`Stop`] as `1 + index`.
static SEEN: std::sync::OnceLock<tokio::sync::watch::Sender<u8>> = std::sync::OnceLock::new();

/// Installs the SIGINT and SIGTERM handlers now, on a thread of their own with its own small
/// runtime, and returns once they are in place (`true`), or `false` if they could not be
/// (then [`interrupted`] installs them when first polled, as before). Call it before anything
/// that a signal must not leave behind is made. Installing twice is harmless.
pub fn install() -> bool {
    use tokio::signal::unix::{SignalKind, signal};
    if SEEN.get().is_some() {
        return true;
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<bool>();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = quietly(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
            });
            let Some(Ok(runtime)) = runtime else {
                let _ = ready_tx.send(false);
                return;
            };
            runtime.block_on(async move {
                let handlers = quietly(|| {
                    (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    )
                });
                let Some((Ok(mut int), Ok(mut term))) = handlers else {
                    let _ = ready_tx.send(false);
                    return;
                };
                let (seen, _) = tokio::sync::watch::channel(0u8);
                let seen = SEEN.get_or_init(|| seen);
                let _ = ready_tx.send(true);
                // Later signals are taken too (and ignored): a second Ctrl-C must not kill
                // the process in the middle of its cleanup.
                loop {
                    let stop = tokio::select! {
                        _ = int.recv() => Stop::Interrupt,
                        _ = term.recv() => Stop::Terminate,
                    };
                    seen.send_if_modified(|v| {
                        let first = *v == 0;
                        if first {
                            *v = stop.code();
                        }
                        first
                    });
                }
            });
        });
    spawned.is_ok()
        && ready_rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap_or(false)
}

impl Stop {
    fn code(self) -> u8 {
        match self {
            Stop::Interrupt => 1,
            Stop::Terminate => 2,
        }
    }
}

/// Resolves when SIGINT or SIGTERM arrives, at once if one arrived since [`install`]. Where
/// the handlers cannot be installed it never resolves (the signals then keep their default
/// action).
pub async fn interrupted() -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    if let Some(seen) = SEEN.get() {
        let mut watch = seen.subscribe();
        return match watch.wait_for(|v| *v != 0).await.map(|v| *v) {
            Ok(1) => Stop::Interrupt,
            Ok(_) => Stop::Terminate,
            // The sender lives in a static: it is never dropped.
            Err(_) => std::future::pending().await,
        };
    }
    let handlers = quietly(|| {
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    });
    let Some((Ok(mut int), Ok(mut term))) = handlers else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => Stop::Interrupt,
        _ = term.recv() => Stop::Terminate,
    }
}

/// Runs `f`, turning a panic into `None` without printing it. tokio panics, rather than
/// return an error, when its signal pipe cannot be made (no file descriptor left, at runtime
/// start or at the first handler): that must end in a clear error or a run without signal
/// handling, never in a panic message.
pub fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result.ok()
}

/// The single-threaded runtime a run's I/O goes through (the probes, `--ca-check`). tokio
/// panics when it cannot make its signal pipe (no descriptor left): a clear error here.
pub fn runtime() -> Result<tokio::runtime::Runtime, super::error::ToolError> {
    quietly(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    })
    .unwrap_or_else(|| Err(std::io::Error::other("out of file descriptors")))
    .map_err(|e| super::error::ToolError::internal(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn registered_cleanups_run_once_and_dropped_ones_never() {
        let ran = Arc::new(AtomicUsize::new(0));
        let kept = {
            let ran = Arc::clone(&ran);
            on_interrupt(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        };
        let dropped = {
            let ran = Arc::clone(&ran);
            on_interrupt(move || {
                ran.fetch_add(100, Ordering::SeqCst);
            })
        };
        drop(dropped);
        run_cleanups();
        run_cleanups();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        drop(kept);
    }
}
