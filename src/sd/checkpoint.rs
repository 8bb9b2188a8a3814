//! Gradient checkpointing for devices without pivot's CPU kernels: a block runs without a graph
//! in the forward pass, and its backward runs it again on the saved inputs to get their
//! gradients. Only the block's inputs and output stay in memory between the passes.
//!
//! On the GPU the composite attention of one SD1.5 transformer block at a 64×64 latent keeps
//! ~1.5 GiB of score/probability maps for the backward; five such blocks made most of the 28 GiB
//! a null-text iteration needed.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, Var};
use super::input_grad::fresh_output;
use std::sync::Arc;

/// A block of two inputs, `(x, context) → y`, that can be run again in the backward pass.
pub trait Block: Send + Sync {
    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor>;

    /// (∂x, ∂context) for the output gradient `dy`, from the saved inputs (no graph on them). By
    /// default the block runs again and candle differentiates it; blocks may do it by hand.
    fn backward(&self, x: &Tensor, context: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (xv, cv) = (Var::from_tensor(x)?, Var::from_tensor(context)?);
        let y = self.forward(xv.as_tensor(), cv.as_tensor())?;
        // ⟨y, ∂y⟩ has the block's vector-Jacobian product as its gradient.
        let grads = (y * dy)?.sum_all()?.backward()?;
        Ok((grads.get(xv.as_tensor()).cloned(), grads.get(cv.as_tensor()).cloned()))
    }
}

impl<F: Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync> Block for F {
    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        self(x, context)
    }
}

/// `forward` = a copy of the graph-free output; `backward` = the block's backward pass.
struct Recompute(Arc<dyn Block>);

impl CustomOp3 for Recompute {
    fn name(&self) -> &'static str {
        "checkpoint"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout, _: &CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        fresh_output(l, "checkpoint")?;
        Ok((s.try_clone(l)?, l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout, _: &candle_core::CudaStorage, _: &Layout, _: &candle_core::CudaStorage, _: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        fresh_output(l, "checkpoint")?;
        Ok((s.try_clone(l)?, l.shape().clone()))
    }

    #[cfg(feature = "metal")]
    fn metal_fwd(&self, s: &candle_core::MetalStorage, l: &Layout, _: &candle_core::MetalStorage, _: &Layout, _: &candle_core::MetalStorage, _: &Layout) -> Result<(candle_core::MetalStorage, Shape)> {
        fresh_output(l, "checkpoint")?;
        Ok((s.try_clone(l)?, l.shape().clone()))
    }

    fn bwd(&self, _y: &Tensor, x: &Tensor, ctx: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dctx) = super::profile::span("checkpointed block backward", x.device(), || self.0.backward(&x.detach(), &ctx.detach(), &grad.detach()))?;
        Ok((None, dx, dctx))
    }
}

thread_local! {
    static FORCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Checkpoint on every device while `f` runs on this thread (tests exercise the GPU path on the CPU).
pub fn forced<R>(f: impl FnOnce() -> R) -> R {
    FORCED.with(|c| c.set(true));
    let r = f();
    FORCED.with(|c| c.set(false));
    r
}

/// Whether blocks on `x` should be checkpointed: off pivot's CPU attention (which keeps little),
/// or when forced.
pub fn wanted(x: &Tensor) -> bool {
    !crate::sd::cpu::applies(x, x) || FORCED.with(|c| c.get())
}

/// `block(x, context)`, checkpointed when either input is on a gradient graph.
pub fn checkpointed(x: &Tensor, context: &Tensor, block: Arc<dyn Block>) -> Result<Tensor> {
    if !x.track_op() && !context.track_op() {
        return block.forward(x, context);
    }
    let y = block.forward(&x.detach(), &context.detach())?.contiguous()?;
    y.apply_op3(x, context, Recompute(block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::rng::Rng;
    use candle_core::{DType, Device};

    #[test]
    fn checkpointed_gradients_equal_the_direct_ones() {
        let randn = |shape: &[usize], seed| Rng::new(seed).randn(shape, 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
        let w = randn(&[3, 3], 1);
        let block: Arc<dyn Block> = Arc::new(move |x: &Tensor, c: &Tensor| (x.broadcast_matmul(&w)?.tanh()? * c.sum_keepdim(1)?.broadcast_as((2, 4, 3))?)?.exp());
        let (x, c) = (randn(&[2, 4, 3], 2), randn(&[2, 5, 1], 3));
        let weights = randn(&[2, 4, 3], 4);
        let grads = |checkpoint: bool| {
            let (xv, cv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&c).unwrap());
            let y = if checkpoint { checkpointed(xv.as_tensor(), cv.as_tensor(), block.clone()) } else { block.forward(xv.as_tensor(), cv.as_tensor()) };
            let g = (y.unwrap() * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            [g.get(xv.as_tensor()).unwrap().clone(), g.get(cv.as_tensor()).unwrap().clone()]
        };
        for (a, b) in grads(true).iter().zip(grads(false).iter()) {
            let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(d < 1e-12, "{d}");
        }
    }
}
