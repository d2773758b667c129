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
//! The handlers are tokio's (signal-hook-registry underneath): installed by the first
//! [`interrupted`] call, they replace the default action (terminate) for the rest of the
//! process, so the cleanup always gets its turn.

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

/// Resolves when SIGINT or SIGTERM arrives. Where the handlers cannot be installed it never
/// resolves (the signals then keep their default action).
pub async fn interrupted() -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
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
