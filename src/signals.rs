//! SIGTERM / SIGHUP / SIGINT turned into a flag the headless commands poll, so a running job
//! stops at its next check with its checkpoints in place instead of dying mid-write.
//! A second SIGINT (Ctrl-C twice) exits at once: every write is atomic, so that is safe too.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGINT && RECEIVED.load(Ordering::SeqCst) != 0 {
        // Only async-signal-safe calls here.
        unsafe { libc::_exit(130) };
    }
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Catch the stop signals from now on.
pub fn install() {
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        // SAFETY: the handler only touches an atomic (and _exit), both async-signal-safe.
        unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
}

/// The name of the first stop signal received, if any.
pub fn received() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGHUP => Some("SIGHUP"),
        libc::SIGINT => Some("SIGINT"),
        _ => Some("a signal"),
    }
}
