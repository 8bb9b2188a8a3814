//! An opt-in wall-clock profile of UNet stages (`PIVOT_PROFILE=1`). Each span waits for the
//! device before and after, so on a GPU it times the stage's own work, and the run slows down.
//! Spans nest: an outer span includes the inner ones.

use candle_core::{Device, Result};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static TOTALS: Mutex<BTreeMap<&'static str, (f64, usize)>> = Mutex::new(BTreeMap::new());

pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("PIVOT_PROFILE").is_ok_and(|v| v == "1"))
}

/// Runs `f`, adding its time to `name`'s total when profiling.
pub fn span<R>(name: &'static str, dev: &Device, f: impl FnOnce() -> Result<R>) -> Result<R> {
    if !enabled() {
        return f();
    }
    dev.synchronize()?;
    let start = Instant::now();
    let r = f()?;
    dev.synchronize()?;
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let e = totals.entry(name).or_default();
    e.0 += start.elapsed().as_secs_f64();
    e.1 += 1;
    Ok(r)
}

/// (name, total seconds, calls) of every span since the last call, by name.
pub fn take() -> Vec<(&'static str, f64, usize)> {
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *totals).into_iter().map(|(k, (s, n))| (k, s, n)).collect()
}
