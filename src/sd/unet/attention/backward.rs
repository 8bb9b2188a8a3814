//! The backward pass of an attention layer by hand (for checkpointed blocks): the forward pass
//! keeps queries, keys, values and probability maps, and the backward pass turns the output
//! gradient into those of the query input and of the key/value input with a few matmuls.

use super::Attention;
use crate::sd::ops::scaled_softmax_last_backward;
use crate::sd::profile;
use candle_core::{Result, Tensor};

/// What [`Attention::backward`] needs from the forward pass (heads split: `[B·heads, ·, d]`).
pub struct Saved {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    probs: Tensor,
}

impl Attention {
    /// The layer's output without a hook, and what its backward pass needs.
    pub fn forward_saving(&self, xs: &Tensor, context: Option<&Tensor>) -> Result<(Tensor, Saved)> {
        let (q, k, v) = self.heads_qkv(xs, context.unwrap_or(xs))?;
        let probs = self.probs(&q, &k)?;
        let out = self.attend(&probs, &v)?;
        Ok((out, Saved { q, k, v, probs }))
    }

    /// (∂ of the query input, ∂ of the key/value input) for the output gradient `dy`; for
    /// self-attention the two add up to the input's.
    pub fn backward(&self, saved: Saved, dy: &Tensor) -> Result<(Tensor, Tensor)> {
        let Saved { q, k, v, probs } = saved;
        let d_heads = self.split_heads(&self.to_out.backward(dy)?)?;
        let matmuls = |f: &dyn Fn() -> Result<Tensor>| profile::span("attention backward matmuls", dy.device(), f);
        let dv = matmuls(&|| probs.t()?.matmul(&d_heads))?;
        let d_probs = matmuls(&|| d_heads.matmul(&v.t()?))?;
        let d_scores = scaled_softmax_last_backward(&probs, &d_probs, self.scale)?;
        drop((probs, d_probs));
        let dq = matmuls(&|| d_scores.matmul(&k))?;
        let dk = matmuls(&|| d_scores.t()?.matmul(&q))?;
        let d_query = self.to_q.backward(&self.merge_heads(&dq)?)?;
        let d_kv = (self.to_k.backward(&self.merge_heads(&dk)?)? + self.to_v.backward(&self.merge_heads(&dv)?)?)?;
        Ok((d_query, d_kv))
    }
}
