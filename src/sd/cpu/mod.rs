//! CPU kernels that replace chains of candle ops on the UNet's hot paths: convolution
//! (im2col + one gemm), dense layers and attention, each with a backward that returns only the
//! input gradients (ALGORITHMS §C: no weight gradients are ever needed).

pub mod attention;
pub mod conv;
pub mod dense;
pub mod gelu;
pub mod gemm;
pub mod norm;
pub mod simd;
pub mod small_heads;
pub mod softmax;

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor, WithDType};
use rayon::prelude::*;

/// Whether the CPU kernels can run on `x` with parameters `w` (same host float type).
pub fn applies(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && w.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && x.dtype() == w.dtype()
}

/// The elements of a contiguous CPU storage as `T`; `op` names the kernel in the error.
pub fn host_slice<'a, T: WithDType>(st: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op} needs a contiguous input");
    };
    Ok(&st.as_slice::<T>()?[a..b])
}

/// Runs `f` on the contiguous host elements of `t` without copying them.
pub fn with_host<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("CPU kernel given a tensor on {:?}", t.device());
    };
    Ok(f(host_slice(cpu, layout, "a CPU kernel")?))
}

/// Row work below this many elements runs on one thread (thread hand-off costs more).
const PAR_MIN: usize = 1 << 15;

/// Runs `f(row index, row)` over the `row_len`-long rows of `out`, in parallel when big.
pub fn for_rows<T: Send>(out: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(row_len).enumerate().for_each(|(r, o)| f(r, o));
    } else {
        out.chunks_mut(row_len).enumerate().for_each(|(r, o)| f(r, o));
    }
}

/// Dispatches `$body` with `$t` bound to the Rust type of `$dtype` (f32 or f64).
macro_rules! by_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            candle_core::DType::F32 => {
                type $t = f32;
                $body
            }
            candle_core::DType::F64 => {
                type $t = f64;
                $body
            }
            other => candle_core::bail!("CPU kernels run in f32 or f64, not {other:?}"),
        }
    };
}
pub(crate) use by_dtype;
