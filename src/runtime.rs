//! Process-wide settings that must be made before any tensor work starts.

/// candle asks for its thread count on every matmul and, unless `RAYON_NUM_THREADS` is set,
/// re-parses /proc/cpuinfo each time (measured: ~20% of a tiny-UNet backward). Fix the count
/// once at start-up from the CPUs this process may use. Call before spawning any thread.
pub fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        // Single-threaded at this point: nothing reads the environment concurrently.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

/// candle splits its element-wise ops over a pool of its own whose threads spin after every op;
/// beside rayon's pool (every pivot kernel and gemm) that is more threads than cores, and on a
/// 2-core machine the spinning took the core a kernel was waiting for (tiny UNet fwd+bwd: 44 ms
/// → 36 ms with candle's ops inline). Element-wise ops are memory-bound: run them on the caller.
/// Call before spawning any thread; `CANDLE_NUM_THREADS` set by the user wins.
pub fn inline_elementwise_ops() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Single-threaded at this point: nothing reads the environment concurrently.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Runs `f` on one of rayon's worker threads (directly when already on one). The kernels
/// fork and join many times per UNet call; from inside the pool a fork is a push that an idle
/// worker steals, from outside each one wakes pool threads and puts the caller to sleep
/// (tiny UNet fwd+bwd: 36 ms → 29 ms).
pub fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// [`on_workers`] for work on `device`'s tensors: GPU work is only queued from the caller.
pub fn on_workers_for<R: Send>(device: &candle_core::Device, f: impl FnOnce() -> R + Send) -> R {
    if device.is_cpu() {
        on_workers(f)
    } else {
        f()
    }
}

/// Keep freed tensor buffers inside the process. glibc returns every large block to the kernel
/// on free and takes fresh zeroed pages on the next allocation; candle allocates a new buffer per
/// op, so page faults were ~10% of a small UNet's backward. Reuse instead (peak RSS is unchanged:
/// it is set by the largest live set).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator thresholds; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_pool_thread_and_nested_calls_stay_there() {
        assert_eq!(rayon::current_thread_index(), None, "tests run outside rayon's pool");
        let (outer, inner) = on_workers(|| {
            let outer = (rayon::current_thread_index(), std::thread::current().id());
            (outer, on_workers(|| (rayon::current_thread_index(), std::thread::current().id())))
        });
        assert!(outer.0.is_some(), "the work ran on a rayon worker");
        assert_eq!(inner, outer, "a nested call runs in place");
        let on_cpu = on_workers_for(&candle_core::Device::Cpu, rayon::current_thread_index);
        assert!(on_cpu.is_some(), "CPU tensors' work goes to the pool too");
    }
}
