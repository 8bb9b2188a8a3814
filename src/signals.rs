//! SIGTERM / SIGHUP / SIGINT turned into a flag the headless commands poll, so a running job
//! stops at its next check with its checkpoints in place instead of dying mid-write.
//! A second SIGINT (Ctrl-C twice, half a second or more apart) exits at once, saying so: every
//! write is atomic, so that is safe too.

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// When the first stop signal came (monotonic milliseconds).
static FIRST_AT: AtomicI64 = AtomicI64::new(0);

/// A second SIGINT sooner than this after the first is the same stop delivered twice (`timeout`
/// signals the process and then its group), not a user pressing Ctrl-C again.
const SAME_STOP_MS: i64 = 500;

/// Monotonic milliseconds; clock_gettime is async-signal-safe.
#[allow(clippy::unnecessary_cast)] // time_t and c_long are narrower on 32-bit targets
fn now_ms() -> i64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as i64 * 1000 + t.tv_nsec as i64 / 1_000_000
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe calls here.
    if sig == libc::SIGINT && RECEIVED.load(Ordering::SeqCst) != 0 {
        if now_ms() - FIRST_AT.load(Ordering::SeqCst) < SAME_STOP_MS {
            return;
        }
        let said = b"\nstopped at once by a second Ctrl-C: the work is kept up to its last checkpoint (`pivot resume` continues it)\n";
        unsafe {
            libc::write(2, said.as_ptr().cast(), said.len());
            libc::_exit(130)
        };
    }
    if RECEIVED.load(Ordering::SeqCst) == 0 {
        FIRST_AT.store(now_ms(), Ordering::SeqCst);
    }
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Catch the stop signals from now on.
pub fn install() {
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        // SAFETY: the handler only touches atomics, the clock, write and _exit: all async-signal-safe.
        unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
}

/// The name of the first stop signal received, if any.
pub fn received() -> Option<&'static str> {
    match received_number() {
        0 => None,
        s => Some(name_of(s)),
    }
}

fn name_of(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        _ => "a signal",
    }
}

/// The number of the first stop signal received (0 = none).
pub fn received_number() -> i32 {
    RECEIVED.load(Ordering::SeqCst)
}

/// A headless run that a stop signal ended: the CLI exits with 128 + the signal's number, as a
/// shell does for a killed command, so scripts can tell an unfinished run from a finished one.
#[derive(Debug)]
pub struct Interrupted {
    pub signal: i32,
    /// What became of the work, for the message.
    pub what: String,
}

impl Interrupted {
    /// For the signal received so far (SIGTERM when none was: a stop asked for some other way).
    pub fn now(what: impl Into<String>) -> Self {
        let signal = match received_number() {
            0 => libc::SIGTERM,
            s => s,
        };
        Self { signal, what: what.into() }
    }

    pub fn exit_code(&self) -> u8 {
        (128 + self.signal).clamp(0, 255) as u8
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped by {}: {}", name_of(self.signal), self.what)
    }
}

impl std::error::Error for Interrupted {}

/// Headless commands end quietly when their reader goes away (`pivot demo | head`), as Unix
/// tools do, instead of panicking on the failed print. (Sockets are unaffected: std sends
/// with MSG_NOSIGNAL.)
pub fn quiet_broken_pipe() {
    // SAFETY: restores the default disposition of one signal before any output.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}
