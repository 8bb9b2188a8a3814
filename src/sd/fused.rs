//! Fused kernels with hand-written backward passes: group/layer norm (optionally followed by
//! SiLU), softmax and GEGLU, on the CPU (`sd::cpu`) and on CUDA (`sd::cuda`). Composites of candle
//! ops cost ~10 ops forward and ~20 backward each; at SD's op counts that overhead dominated small
//! models on the CPU and every model on the GPU. Other devices use the composites in `ops`.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, WithDType};
use super::cpu::gelu::{self, Gelu};
use super::cpu::softmax::{softmax_row, FastExp};
use super::cpu::{for_rows, host_slice};
use super::profile::span;

pub use super::cpu::norm::{Affine, NormSpec};

/// Forward op (on x) of a fused norm.
struct Norm(NormSpec);
/// Its backward: (x, ∂y) → ∂x.
struct NormBackward(NormSpec);

impl CustomOp1 for Norm {
    fn name(&self) -> &'static str {
        "fused-norm"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.0.rows(l.shape().elem_count())?;
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.0.forward(host_slice::<f32>(s, l, "fused kernel")?)),
            CpuStorage::F64(_) => CpuStorage::F64(self.0.forward(host_slice::<f64>(s, l, "fused kernel")?)),
            _ => candle_core::bail!("fused norm supports f32 and f64"),
        };
        Ok((out, l.shape().clone()))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((super::cuda::norm(s, l, None, &self.0)?, l.shape().clone()))
    }
    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(norm_backward(x, grad, &self.0)?))
    }
}

impl CustomOp2 for NormBackward {
    fn name(&self) -> &'static str {
        "fused-norm-backward"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(self.0.backward(host_slice::<f32>(s1, l1, "fused kernel")?, host_slice::<f32>(s2, l2, "fused kernel")?)),
            (CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(self.0.backward(host_slice::<f64>(s1, l1, "fused kernel")?, host_slice::<f64>(s2, l2, "fused kernel")?)),
            _ => candle_core::bail!("fused norm backward supports f32 and f64"),
        };
        Ok((out, l1.shape().clone()))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s1: &candle_core::CudaStorage, l1: &Layout, s2: &candle_core::CudaStorage, l2: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((super::cuda::norm(s1, l1, Some((s2, l2)), &self.0)?, l1.shape().clone()))
    }
}

/// Whether the fused kernels can run on `x`: on the CPU in f32 or f64, on CUDA in f32.
pub fn applies(x: &Tensor) -> bool {
    match x.dtype() {
        candle_core::DType::F32 if x.device().is_cuda() => cuda_kernels(),
        candle_core::DType::F32 | candle_core::DType::F64 => x.device().is_cpu(),
        _ => false,
    }
}

#[cfg(feature = "cuda")]
fn cuda_kernels() -> bool {
    super::cuda::enabled()
}

#[cfg(not(feature = "cuda"))]
fn cuda_kernels() -> bool {
    false
}

pub fn norm(x: &Tensor, spec: &NormSpec) -> Result<Tensor> {
    span("norm forward", x.device(), || x.contiguous()?.apply_op1(Norm(spec.clone())))
}

/// ∂x of [`norm`] at `x` for the output gradient `dy` (no graph).
pub fn norm_backward(x: &Tensor, dy: &Tensor, spec: &NormSpec) -> Result<Tensor> {
    span("norm backward", x.device(), || x.contiguous()?.apply_op2_no_bwd(&dy.contiguous()?, &NormBackward(spec.clone())))
}

/// `softmax(scale·x)` over the last dimension; backward `scale·y·(g − Σ g·y)`.
struct Softmax(f64);
struct SoftmaxBackward(f64);

/// Row softmax in the input's own precision (f32 exp is several times faster than f64's).
fn softmax_rows<T: FastExp>(x: &[T], d: usize, scale: f64) -> Vec<T> {
    let mut out = x.to_vec();
    let scale = T::from_f64(scale);
    for_rows(&mut out, d, |_, row| softmax_row(row, scale));
    out
}

fn softmax_back_rows<T: WithDType>(y: &[T], g: &[T], d: usize, scale: f64) -> Vec<T> {
    let mut out = vec![T::zero(); y.len()];
    for_rows(&mut out, d, |r, o| {
        let (yr, gr) = (&y[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
        let dot: f64 = yr.iter().zip(gr).map(|(a, b)| a.to_f64() * b.to_f64()).sum();
        for ((o, a), b) in o.iter_mut().zip(yr).zip(gr) {
            *o = T::from_f64(scale * a.to_f64() * (b.to_f64() - dot));
        }
    });
    out
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = *l.dims().last().unwrap_or(&1);
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(softmax_rows(host_slice::<f32>(s, l, "fused kernel")?, d, self.0)),
            CpuStorage::F64(_) => CpuStorage::F64(softmax_rows(host_slice::<f64>(s, l, "fused kernel")?, d, self.0)),
            _ => candle_core::bail!("fused softmax supports f32 and f64"),
        };
        Ok((out, l.shape().clone()))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((super::cuda::softmax(s, l, None, self.0)?, l.shape().clone()))
    }
    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(softmax_backward(y, grad, self.0)?))
    }
}

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "fused-softmax-backward"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = *l1.dims().last().unwrap_or(&1);
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(softmax_back_rows(host_slice::<f32>(s1, l1, "fused kernel")?, host_slice::<f32>(s2, l2, "fused kernel")?, d, self.0)),
            (CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(softmax_back_rows(host_slice::<f64>(s1, l1, "fused kernel")?, host_slice::<f64>(s2, l2, "fused kernel")?, d, self.0)),
            _ => candle_core::bail!("fused softmax backward supports f32 and f64"),
        };
        Ok((out, l1.shape().clone()))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s1: &candle_core::CudaStorage, l1: &Layout, s2: &candle_core::CudaStorage, l2: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((super::cuda::softmax(s1, l1, Some((s2, l2)), self.0)?, l1.shape().clone()))
    }
}

pub fn softmax_last(x: &Tensor, scale: f64) -> Result<Tensor> {
    span("softmax forward", x.device(), || x.contiguous()?.apply_op1(Softmax(scale)))
}

/// ∂x of [`softmax_last`] from its output `y` and output gradient `dy` (no graph).
pub fn softmax_backward(y: &Tensor, dy: &Tensor, scale: f64) -> Result<Tensor> {
    span("softmax backward", y.device(), || y.contiguous()?.apply_op2_no_bwd(&dy.contiguous()?, &SoftmaxBackward(scale)))
}

/// GEGLU: the last dimension holds `[a, gate]`; output `a·gelu(gate)` (exact, erf-based gelu).
struct Geglu;
struct GegluBackward;

fn geglu_rows<T: Gelu>(x: &[T], d2: usize) -> Vec<T> {
    let d = d2 / 2;
    let mut out = vec![T::zero(); x.len() / 2];
    for_rows(&mut out, d, |r, o| gelu::forward_row(&x[r * d2..(r + 1) * d2], o));
    out
}

fn geglu_back_rows<T: Gelu>(x: &[T], g: &[T], d2: usize) -> Vec<T> {
    let d = d2 / 2;
    let mut out = vec![T::zero(); x.len()];
    for_rows(&mut out, d2, |r, o| gelu::backward_row(&x[r * d2..(r + 1) * d2], &g[r * d..(r + 1) * d], o));
    out
}

/// The input's last dimension `2d` and the output shape (last dimension `d`).
fn geglu_shapes(l: &Layout) -> Result<(usize, Shape)> {
    let dims = l.dims();
    let d2 = *dims.last().unwrap_or(&0);
    if !d2.is_multiple_of(2) {
        candle_core::bail!("GEGLU needs an even last dimension, got {d2}");
    }
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("rank ≥ 1") = d2 / 2;
    Ok((d2, Shape::from(out_dims)))
}

impl CustomOp1 for Geglu {
    fn name(&self) -> &'static str {
        "fused-geglu"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (d2, out_shape) = geglu_shapes(l)?;
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(geglu_rows(host_slice::<f32>(s, l, "fused kernel")?, d2)),
            CpuStorage::F64(_) => CpuStorage::F64(geglu_rows(host_slice::<f64>(s, l, "fused kernel")?, d2)),
            _ => candle_core::bail!("fused GEGLU supports f32 and f64"),
        };
        Ok((out, out_shape))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        let (_, out_shape) = geglu_shapes(l)?;
        Ok((super::cuda::geglu(s, l, None)?, out_shape))
    }
    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(geglu_backward(x, grad)?))
    }
}

impl CustomOp2 for GegluBackward {
    fn name(&self) -> &'static str {
        "fused-geglu-backward"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let d2 = *l1.dims().last().unwrap_or(&0);
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => CpuStorage::F32(geglu_back_rows(host_slice::<f32>(s1, l1, "fused kernel")?, host_slice::<f32>(s2, l2, "fused kernel")?, d2)),
            (CpuStorage::F64(_), CpuStorage::F64(_)) => CpuStorage::F64(geglu_back_rows(host_slice::<f64>(s1, l1, "fused kernel")?, host_slice::<f64>(s2, l2, "fused kernel")?, d2)),
            _ => candle_core::bail!("fused GEGLU backward supports f32 and f64"),
        };
        Ok((out, l1.shape().clone()))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s1: &candle_core::CudaStorage, l1: &Layout, s2: &candle_core::CudaStorage, l2: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        Ok((super::cuda::geglu(s1, l1, Some((s2, l2)))?, l1.shape().clone()))
    }
}

pub fn geglu(x: &Tensor) -> Result<Tensor> {
    span("geglu forward", x.device(), || x.contiguous()?.apply_op1(Geglu))
}

/// ∂x of [`geglu`] at `x` for the output gradient `dy` (no graph).
pub fn geglu_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    span("geglu backward", x.device(), || x.contiguous()?.apply_op2_no_bwd(&dy.contiguous()?, &GegluBackward))
}
