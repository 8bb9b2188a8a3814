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
pub mod softmax;

use candle_core::{DType, Result, Storage, Tensor};
use gemm::Real;

/// Whether the CPU kernels can run on `x` with parameters `w` (same host float type).
pub fn applies(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && w.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && x.dtype() == w.dtype()
}

/// Runs `f` on the contiguous host elements of `t` without copying them.
pub fn with_host<T: Real, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("CPU kernel given a tensor on {:?}", t.device());
    };
    let Some((a, b)) = layout.contiguous_offsets() else {
        candle_core::bail!("CPU kernel given a non-contiguous tensor");
    };
    Ok(f(&cpu.as_slice::<T>()?[a..b]))
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
