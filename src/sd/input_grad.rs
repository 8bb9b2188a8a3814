//! Convolutions and dense layers whose backward returns ONLY the input gradient (ALGORITHMS §C).
//!
//! candle's conv2d/matmul backward always computes the weight gradient too, and its CPU
//! `conv_transpose2d` (the input gradient of conv2d) is a direct loop. Null-text inversion only
//! needs ∂loss/∂embedding, so on a graph that needs gradients these layers compute their output
//! on a detached input and attach it to the input through [`Attach`], whose backward maps the
//! output gradient to the input gradient with fast forward-style ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use std::sync::Arc;

/// How an output gradient becomes the input gradient.
pub trait InputGrad: Send + Sync {
    /// What the profile calls this layer kind.
    fn kind(&self) -> &'static str;

    /// `input` is the (detached) forward input, for its shape.
    fn input_grad(&self, grad_out: &Tensor, input: &Tensor) -> Result<Tensor>;
}

/// `attach(y, x)`: forward = a copy of `y` (computed without a graph); backward = `grad(∂y)` → x.
struct Attach(Arc<dyn InputGrad>);

/// Ops that hand back a copy of a freshly computed output (`op` names them in the error).
pub(crate) fn fresh_output(l: &Layout, op: &str) -> Result<()> {
    if !l.is_contiguous() || l.start_offset() != 0 {
        candle_core::bail!("{op} expects a fresh contiguous output");
    }
    Ok(())
}

impl CustomOp2 for Attach {
    fn name(&self) -> &'static str {
        "input-grad-only"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        fresh_output(l1, "attach")?;
        Ok((s1.try_clone(l1)?, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s1: &candle_core::CudaStorage, l1: &Layout, _: &candle_core::CudaStorage, _: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        fresh_output(l1, "attach")?;
        Ok((s1.try_clone(l1)?, l1.shape().clone()))
    }

    #[cfg(feature = "metal")]
    fn metal_fwd(&self, s1: &candle_core::MetalStorage, l1: &Layout, _: &candle_core::MetalStorage, _: &Layout) -> Result<(candle_core::MetalStorage, Shape)> {
        fresh_output(l1, "attach")?;
        Ok((s1.try_clone(l1)?, l1.shape().clone()))
    }

    fn bwd(&self, _y: &Tensor, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((None, Some(super::profile::span(self.0.kind(), x.device(), || self.0.input_grad(grad, x))?)))
    }
}

/// Run `f` on `x`; when `x` is on a gradient graph, run it detached and attach the result so the
/// gradient flows to `x` only, through `grad`.
pub fn with_input_grad(x: &Tensor, grad: &Arc<dyn InputGrad>, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    if !x.track_op() {
        return f(x);
    }
    let y = f(&x.detach())?.contiguous()?;
    y.apply_op2(x, Attach(grad.clone()))
}

/// Input gradient of a conv2d with weight `[c_out, c_in, k, k]`.
pub struct ConvGrad {
    pub weight: Tensor,
    pub stride: usize,
    pub padding: usize,
}

impl InputGrad for ConvGrad {
    fn kind(&self) -> &'static str {
        "conv input gradient"
    }
    fn input_grad(&self, grad: &Tensor, input: &Tensor) -> Result<Tensor> {
        let side = (input.dim(2)?, input.dim(3)?);
        if super::col2im::runs_on(grad) {
            return super::col2im::conv_input_grad(grad, &self.weight, self.stride, self.padding, side);
        }
        self.transposed_conv(grad, side)
    }
}

impl ConvGrad {
    /// candle's transposed conv (a direct loop), for where the col2im op does not run; the
    /// output padding restores the input side that the forward's floor division cut short.
    fn transposed_conv(&self, grad: &Tensor, (h, w): (usize, usize)) -> Result<Tensor> {
        let (k, s, p) = (self.weight.dim(2)?, self.stride, self.padding);
        let natural = |g: usize| (g - 1) * s + k - 2 * p;
        let (ph, pw) = (h - natural(grad.dim(2)?), w - natural(grad.dim(3)?));
        if ph != pw {
            candle_core::bail!("conv gradient needs equal output padding, got {ph}/{pw}");
        }
        grad.conv_transpose2d(&self.weight, p, ph, s, 1)
    }
}

/// Input gradient of a nearest-neighbour upsampling by whole factors: the gradient summed over
/// each pixel's block. candle's own backward is a conv grouped by channel, which it runs as one
/// conv per channel (3 200 tiny convs for SD1.5's upsamplers, ~100 ms a backward pass on a GPU).
pub struct UpsampleGrad;

impl InputGrad for UpsampleGrad {
    fn kind(&self) -> &'static str {
        "upsample input gradient"
    }

    fn input_grad(&self, grad: &Tensor, input: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = input.dims4()?;
        let (_, _, th, tw) = grad.dims4()?;
        grad.reshape((b, c, h, th / h, w, tw / w))?.sum(5)?.sum(3)
    }
}

/// `x` upsampled to `th × tw` by repeating pixels (whole factors get [`UpsampleGrad`]).
pub fn upsample_nearest(x: &Tensor, th: usize, tw: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if h == 0 || w == 0 {
        return x.upsample_nearest2d(th, tw);
    }
    if !th.is_multiple_of(h) || !tw.is_multiple_of(w) {
        // Odd latent sides (a skip of 3 after a 2): pixels picked by index, whose backward
        // candle has (a scatter-add); its own upsampling has none for such factors.
        let rows = nearest_sources(h, th, x.device())?;
        let cols = nearest_sources(w, tw, x.device())?;
        return x.index_select(&rows, 2)?.index_select(&cols, 3);
    }
    let grad: Arc<dyn InputGrad> = Arc::new(UpsampleGrad);
    with_input_grad(x, &grad, |x| x.upsample_nearest2d(th, tw))
}

/// For each of `to` output pixels, the input pixel nearest-neighbour resizing from `from` takes,
/// as PyTorch computes it (`floor(i · from/to)` in f32, what diffusers' `interpolate` runs).
fn nearest_sources(from: usize, to: usize, dev: &candle_core::Device) -> Result<Tensor> {
    let scale = from as f32 / to as f32;
    let idx: Vec<u32> = (0..to).map(|i| ((i as f32 * scale).floor() as usize).min(from - 1) as u32).collect();
    Tensor::new(idx.as_slice(), dev)
}

/// Input gradient of `x·Wᵀ` with `weight_t` = Wᵀ `[in, out]`: `grad·W`.
pub struct LinearGrad {
    pub weight_t: Tensor,
}

impl InputGrad for LinearGrad {
    fn kind(&self) -> &'static str {
        "linear input gradient"
    }
    fn input_grad(&self, grad: &Tensor, _input: &Tensor) -> Result<Tensor> {
        grad.broadcast_matmul(&self.weight_t.t()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::rng::Rng;
    use candle_core::{DType, Device, Var};

    /// Autograd through `f` vs central differences along random directions (f64).
    fn check(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &Tensor) {
        let var = Var::from_tensor(x).unwrap();
        let weights = Rng::new(9).randn(f(x).unwrap().shape(), 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
        let loss = |y: Tensor| (y * &weights).unwrap().sum_all().unwrap();
        let g = loss(f(var.as_tensor()).unwrap()).backward().unwrap().get(var.as_tensor()).unwrap().clone();
        let mut rng = Rng::new(4);
        for _ in 0..3 {
            let d = rng.randn(x.shape(), 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
            let h = 1e-5;
            let at = |s: f64| loss(f(&(x + (&d * s).unwrap()).unwrap()).unwrap()).to_scalar::<f64>().unwrap();
            let fd = (at(h) - at(-h)) / (2.0 * h);
            let an = (&g * &d).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
            assert!((fd - an).abs() < 1e-7 * (1.0 + fd.abs()), "fd {fd} vs autograd {an}");
        }
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        Rng::new(seed).randn(shape, 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap()
    }

    #[test]
    fn conv_and_linear_input_gradients_are_true() {
        for (stride, padding, k, side) in [(1, 1, 3, 6), (1, 0, 1, 5), (2, 1, 3, 6), (2, 1, 3, 7), (3, 0, 3, 8), (2, 3, 3, 5)] {
            let (w, x) = (randn(&[3, 2, k, k], 1), randn(&[2, 2, side, side], 2));
            let conv = ConvGrad { weight: w.clone(), stride, padding };
            // The fallback (devices without col2im) gives the same gradient.
            let dy = randn(x.conv2d(&w, padding, stride, 1, 1).unwrap().dims(), 7);
            let (ours, fallback) = (conv.input_grad(&dy, &x).unwrap(), conv.transposed_conv(&dy, (side, side)).unwrap());
            let d = (ours - fallback).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(d < 1e-12, "stride {stride} padding {padding}: col2im vs transposed conv {d}");
            let grad: Arc<dyn InputGrad> = Arc::new(conv);
            // `x·1` puts x on a graph so the attached path is the one checked.
            check(&|x| with_input_grad(&(x * 1.0)?, &grad, |x| x.conv2d(&w, padding, stride, 1, 1)), &x);
        }
        for (side, factor) in [(3, 2), (4, 3)] {
            check(&|x| upsample_nearest(&(x * 1.0)?, side * factor, side * factor), &randn(&[2, 3, side, side], 6));
        }
        // Sides that are not whole multiples (odd latent sides): same pixels as candle's resize, true gradient.
        for (side, to) in [(2, 3), (3, 5), (3, 7)] {
            let x = randn(&[2, 3, side, side], 8);
            let d = (upsample_nearest(&x, to, to).unwrap() - x.upsample_nearest2d(to, to).unwrap()).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert_eq!(d, 0.0, "{side} → {to}");
            check(&|x| upsample_nearest(&(x * 1.0)?, to, to), &x);
        }
        let wt = randn(&[4, 3], 3);
        let grad: Arc<dyn InputGrad> = Arc::new(LinearGrad { weight_t: wt.clone() });
        check(&|x| with_input_grad(&(x * 1.0)?, &grad, |x| x.broadcast_matmul(&wt)), &randn(&[2, 5, 4], 5));
    }
}
