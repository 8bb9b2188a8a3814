//! LocalBlend (§4.9, §P.4): keep the target equal to the source outside the region the blend
//! words attend to, from the level-2 cross-attention running sums.

use super::controller::StoredMap;
use crate::sd::unet::AttnKind;
use candle_core::{DType, Result, Tensor, D};

#[derive(Clone, Debug)]
pub struct LocalBlend {
    /// `[2, 77]`: 1 on the blend words' tokens of each row (source, target).
    pub alpha_layers: Tensor,
    pub threshold: f64,
    /// First step index at which the blend acts (`int(0.2·T)`).
    pub start: usize,
}

impl LocalBlend {
    pub fn new(alpha_layers: Tensor, threshold: f64, steps: usize) -> Self {
        Self { alpha_layers, threshold, start: (0.2 * steps as f64) as usize }
    }

    /// The `[2, 1, h, w]` 0/1 mask for latents of size h×w (None before `start`).
    pub fn mask(&self, step: usize, store: &[StoredMap], h: usize, w: usize) -> Result<Option<Tensor>> {
        if step < self.start {
            return Ok(None);
        }
        let mut per_layer = Vec::new();
        for s in store.iter().filter(|s| s.place.level == 2 && s.place.kind == AttnKind::Cross) {
            let (rows, n, m) = s.sum.dims3()?;
            let heads = rows / 2;
            let maps = s.sum.reshape((2, heads, n, m))?;
            let words = self.alpha_layers.to_dtype(DType::F32)?.reshape((2, 1, 1, m))?;
            per_layer.push(maps.broadcast_mul(&words)?.sum(D::Minus1)?);
        }
        if per_layer.is_empty() {
            candle_core::bail!("LocalBlend needs level-2 cross-attention maps; this UNet has none");
        }
        let m = Tensor::cat(&per_layer, 1)?.mean(1)?;
        let n = m.dim(1)?;
        let side = (n as f64).sqrt() as usize;
        let m = m.reshape((2, 1, side, n / side))?;
        // 3×3 max-pool, stride 1, padding 1 (maps are ≥ 0, so zero padding is neutral).
        let m = m.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?.max_pool2d_with_stride(3, 1)?;
        let m = m.upsample_nearest2d(h, w)?;
        let max = m.flatten_from(1)?.max_keepdim(1)?.reshape((2, 1, 1, 1))?;
        let mask = m.broadcast_div(&max)?.gt(self.threshold)?.to_dtype(DType::F32)?;
        // union with the source's mask
        Ok(Some(mask.broadcast_maximum(&mask.narrow(0, 0, 1)?)?))
    }

    /// `x_src + mask·(x − x_src)` for both rows.
    pub fn apply(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let src = x.narrow(0, 0, 1)?;
        src.broadcast_add(&x.broadcast_sub(&src)?.broadcast_mul(&mask.to_dtype(x.dtype())?)?)
    }
}
