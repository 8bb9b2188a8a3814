//! The backward pass of a transformer block by hand, for checkpointed blocks on devices without
//! pivot's CPU attention: the forward pass again without a graph, keeping what each layer's
//! backward needs, then the layers' backward passes in reverse. candle's autograd of the same
//! block also computes gradients nobody needs and zero-fills every gradient before adding it;
//! on a GPU such launches, more than the arithmetic, set the pace.

use super::BasicTransformerBlock;
use crate::sd::checkpoint::Block;
use crate::sd::ops::geglu_backward;
use crate::sd::profile;
use crate::sd::unet::attention::{AttnPlace, NoHook, Saved};
use candle_core::{Module, Result, Tensor};

/// A transformer block as a checkpointed [`Block`] (no hook: nobody observes its maps).
pub struct Checkpointed(pub BasicTransformerBlock, pub AttnPlace);

impl Block for Checkpointed {
    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        self.0.run(x, context, self.1, &mut NoHook)
    }

    fn backward(&self, x: &Tensor, context: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dctx) = self.0.backward(x, context, dy)?;
        Ok((Some(dx), Some(dctx)))
    }
}

/// The block after its self-attention, `(x1, context) → y`, checkpointed: its input is a cached
/// text-free head, so no gradient flows back through the self-attention.
pub struct CheckpointedTail(pub BasicTransformerBlock, pub AttnPlace);

impl Block for CheckpointedTail {
    fn forward(&self, x1: &Tensor, context: &Tensor) -> Result<Tensor> {
        self.0.run_after_self_attention(x1, context, self.1, &mut NoHook)
    }

    fn backward(&self, x1: &Tensor, context: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (saved2, x2, u) = self.0.recompute_tail(x1, context)?;
        let (dx1, dctx) = self.0.tail_backward(x1, saved2, &x2, u, dy)?;
        Ok((Some(dx1), Some(dctx)))
    }
}

impl BasicTransformerBlock {
    /// (∂x, ∂context) of `run(x, context)` with no hook, for the output gradient `dy`.
    pub fn backward(&self, x: &Tensor, context: &Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
        let (x1, saved1, saved2, x2, u) = profile::span("transformer block recompute", x.device(), || {
            let (a1, saved1) = self.attn1.forward_saving(&self.norm1.forward(x)?, None)?;
            let x1 = (a1 + x)?;
            let (saved2, x2, u) = self.recompute_tail(&x1, context)?;
            Ok((x1, saved1, saved2, x2, u))
        })?;
        let (dx1, dctx) = self.tail_backward(&x1, saved2, &x2, u, dy)?;
        // x1 = x + attn1(norm1(x)).
        let (d_query1, d_kv1) = self.attn1.backward(saved1, &dx1)?;
        let dx = (&dx1 + self.norm1.backward(x, &(d_query1 + d_kv1)?)?)?;
        Ok((dx, dctx))
    }

    /// The forward pass after the self-attention again, keeping what its backward needs.
    fn recompute_tail(&self, x1: &Tensor, context: &Tensor) -> Result<(Saved, Tensor, Tensor)> {
        let (a2, saved2) = self.attn2.forward_saving(&self.norm2.forward(x1)?, Some(context))?;
        let x2 = (a2 + x1)?;
        let u = self.ff.proj.forward(&self.norm3.forward(&x2)?)?;
        Ok((saved2, x2, u))
    }

    /// (∂x1, ∂context) of the block after its self-attention.
    fn tail_backward(&self, x1: &Tensor, saved2: Saved, x2: &Tensor, u: Tensor, dy: &Tensor) -> Result<(Tensor, Tensor)> {
        // y = x2 + out(geglu(u)).
        let du = geglu_backward(&u, &self.ff.out.backward(dy)?)?;
        drop(u);
        let dx2 = (dy + self.norm3.backward(x2, &self.ff.proj.backward(&du)?)?)?;
        // x2 = x1 + attn2(norm2(x1), context).
        let (d_query2, dctx) = self.attn2.backward(saved2, &dx2)?;
        let dx1 = (&dx2 + self.norm2.backward(x1, &d_query2)?)?;
        Ok((dx1, dctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::unet::attention::{AttnKind, Part};
    use crate::sd::rng::Rng;
    use crate::sd::tiny::{RandomPart, RandomWeights};
    use candle_core::{DType, Device, Var};

    /// The hand-written backward pass equals candle's autograd of the block (f64).
    #[test]
    fn hand_backward_equals_autograd() {
        let dev = Device::Cpu;
        let vb = RandomWeights::var_builder(3, RandomPart::Unet, false, DType::F64, &dev);
        let (dim, ctx_dim, heads) = (16, 12, 2);
        let block = BasicTransformerBlock::load(&vb, dim, ctx_dim, heads).unwrap();
        let mut rng = Rng::new(8);
        let mut randn = |shape: &[usize]| rng.randn(shape, 0.0, 1.0, &dev).unwrap().to_dtype(DType::F64).unwrap();
        let (x, ctx, dy) = (randn(&[2, 9, dim]), randn(&[2, 5, ctx_dim]), randn(&[2, 9, dim]));
        let place = AttnPlace { part: Part::Down, block: 0, layer: 0, depth: 0, level: 0, kind: AttnKind::SelfAttn, heads, queries: 0, keys: 0 };
        let (xv, cv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&ctx).unwrap());
        let y = block.run(xv.as_tensor(), cv.as_tensor(), place, &mut NoHook).unwrap();
        let grads = (y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
        let (dx, dctx) = block.backward(&x, &ctx, &dy).unwrap();
        for (name, hand, auto) in [("x", dx, grads.get(xv.as_tensor())), ("context", dctx, grads.get(cv.as_tensor()))] {
            let auto = auto.unwrap();
            let err = (&hand - auto).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            let scale = auto.abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(err < 1e-10 * scale, "∂{name}: max difference {err} (max |∂| {scale})");
        }
    }
}
