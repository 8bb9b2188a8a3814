//! LocalBlend (§4.9, §P.4): keep the target equal to the source outside the region the blend
//! words attend to, from the level-2 cross-attention running sums.

use super::controller::StoredMap;
use crate::sd::unet::AttnKind;
use candle_core::{DType, Result, Tensor, D};

/// The UNet level whose cross-attention maps LocalBlend reads (16×16 for 64×64 latents, as in
/// the paper's code).
pub const MAP_LEVEL: usize = 2;

#[derive(Clone, Debug)]
pub struct LocalBlend {
    /// `[2, 77]`: 1 on the blend words' tokens of each row (source, target).
    pub alpha_layers: Tensor,
    pub threshold: f64,
    /// First step index at which the blend acts (`int(0.2·T)`).
    pub start: usize,
    /// Words whose region is kept out of the edit (the reference's `substruct_words`): `[2, 77]`
    /// rows like `alpha_layers`, and their own threshold (their maps are not pooled).
    pub exclude: Option<(Tensor, f64)>,
}

/// Refuses a mask threshold LocalBlend cannot use: below 0, or 1 and above, where no place
/// passes and the edit would be the reconstruction (compared in f32, as the mask is:
/// 0.99999999999 is 1 there).
pub fn check_threshold(threshold: f64) -> anyhow::Result<()> {
    anyhow::ensure!(threshold >= 0.0, "--blend-threshold must be at least 0 and below 1: it compares a map scaled to [0, 1] (got {threshold})");
    anyhow::ensure!(threshold < 1.0 && (threshold as f32) < 1.0, "--blend-threshold must be at least 0 and below 1: at 1 no place would change (got {threshold})");
    Ok(())
}

/// Why LocalBlend cannot run on a UNet of this `config`, if it cannot: it reads the
/// cross-attention maps of level [`MAP_LEVEL`], which a shallow UNet lacks. Callers add what to do.
pub fn missing_maps(config: &crate::sd::config::UNetConfig) -> Option<String> {
    let level = MAP_LEVEL;
    (!config.cross_attention_at_level(level)).then(|| format!("LocalBlend reads the UNet's cross-attention maps at level {level} (a quarter of the latent's side), and this model has none there"))
}

impl LocalBlend {
    pub fn new(alpha_layers: Tensor, threshold: f64, steps: usize) -> Self {
        Self { alpha_layers, threshold, start: (0.2 * steps as f64) as usize, exclude: None }
    }

    /// The blend with the region of `words` (`[2, 77]` rows) kept out of the edit at `threshold`.
    pub fn excluding(self, words: Tensor, threshold: f64) -> Self {
        Self { exclude: Some((words, threshold)), ..self }
    }

    /// The `[2, 1, h, w]` 0/1 mask for latents of size h×w (None before `start`): where the
    /// blend words attend, less where the excluded words do.
    pub fn mask(&self, step: usize, store: &[StoredMap], h: usize, w: usize) -> Result<Option<Tensor>> {
        if step < self.start {
            return Ok(None);
        }
        let mask = words_mask(store, &self.alpha_layers, self.threshold, true, (h, w))?;
        match &self.exclude {
            None => Ok(Some(mask)),
            Some((words, threshold)) => {
                let out = words_mask(store, words, *threshold, false, (h, w))?;
                Ok(Some((mask * (1.0 - out)?)?))
            }
        }
    }

    /// The mask of the last of `steps` steps (the one the finished edit was blended with) from
    /// the store it left: row 0 the source's words, row 1 what the target row keeps of the
    /// edit (both sides' words).
    pub fn last_mask(&self, store: &[StoredMap], steps: usize, h: usize, w: usize) -> Result<Tensor> {
        // From a fifth of the steps on, so always at the last.
        self.mask(steps.saturating_sub(1), store, h, w)?.ok_or_else(|| candle_core::Error::Msg("LocalBlend gave no mask at the last step".into()))
    }

    /// Row `row` of [`Self::last_mask`] for an h×w latent (0 the source's words, 1 what the
    /// edit's target kept) as a picture `factor` times that size, with the share that is white.
    pub fn last_mask_picture(&self, store: &[StoredMap], steps: usize, (h, w): (usize, usize), row: usize, factor: usize) -> anyhow::Result<(image::RgbImage, f64)> {
        mask_picture(&self.last_mask(store, steps, h, w)?.get(row)?, factor)
    }

    /// `x_src + mask·(x − x_src)` for both rows.
    pub fn apply(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let src = x.narrow(0, 0, 1)?;
        src.broadcast_add(&x.broadcast_sub(&src)?.broadcast_mul(&mask.to_dtype(x.dtype())?)?)
    }
}

/// The reference's `get_mask`: the level-2 cross-attention of the `words` (`[2, 77]` rows),
/// averaged over layers and heads, 3×3 max-pooled if `pool`, brought to h×w, scaled to its
/// maximum per row and cut at `threshold`, each row joined with the source's: `[2, 1, h, w]` 0/1.
fn words_mask(store: &[StoredMap], words: &Tensor, threshold: f64, pool: bool, (h, w): (usize, usize)) -> Result<Tensor> {
    let words = words.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?;
    let mut per_layer = Vec::new();
    for s in store.iter().filter(|s| s.place.level == MAP_LEVEL && s.place.kind == AttnKind::Cross) {
        let (rows, n, m) = s.sum.dims3()?;
        let maps = s.sum.reshape((2, rows / 2, n, m))?;
        per_layer.push(maps.broadcast_mul(&words)?.sum(D::Minus1)?);
    }
    if per_layer.is_empty() {
        candle_core::bail!("LocalBlend needs level-2 cross-attention maps; this UNet has none");
    }
    let m = Tensor::cat(&per_layer, 1)?.mean(1)?;
    let (mh, mw) = map_grid(m.dim(1)?, h, w)?;
    let m = m.reshape((2, 1, mh, mw))?;
    let m = if pool { max_pool_3x3(&m)? } else { m };
    let m = m.upsample_nearest2d(h, w)?;
    let max = m.flatten_from(1)?.max_keepdim(1)?.reshape((2, 1, 1, 1))?;
    let mask = m.broadcast_div(&max)?.gt(threshold)?.to_dtype(DType::F32)?;
    // union with the source's mask
    mask.broadcast_maximum(&mask.narrow(0, 0, 1)?)
}

/// A 0/1 mask `[1, h, w]` as a picture `factor` times its size (the photo's, for a latent mask):
/// white where the edit may change the photo; and the share of the picture that is white.
fn mask_picture(mask: &Tensor, factor: usize) -> anyhow::Result<(image::RgbImage, f64)> {
    let (_, h, w) = mask.dims3()?;
    let up = mask.unsqueeze(0)?.upsample_nearest2d(h * factor, w * factor)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
    let white = up.iter().filter(|&&v| v > 0.5).count();
    let grey: Vec<u8> = up.iter().flat_map(|&v| [if v > 0.5 { 255 } else { 0 }; 3]).collect();
    let pic = image::RgbImage::from_raw((w * factor) as u32, (h * factor) as u32, grey).ok_or_else(|| anyhow::anyhow!("mask picture size"))?;
    Ok((pic, white as f64 / up.len().max(1) as f64))
}

/// The h'×w' grid of `n` attention positions for an h×w latent (same aspect, h'·w' = n).
fn map_grid(n: usize, h: usize, w: usize) -> Result<(usize, usize)> {
    let mh = ((n * h) as f64 / w as f64).sqrt().round() as usize;
    if mh == 0 || !n.is_multiple_of(mh) || mh * w != (n / mh) * h {
        candle_core::bail!("LocalBlend: {n} attention positions do not tile a {h}×{w} latent");
    }
    Ok((mh, n / mh))
}

/// 3×3 max-pool, stride 1, padding 1, as torch's `max_pool2d` (whose padding never wins): a
/// sample with negative values (a negative re-weight) is shifted to ≥ 0 first, so that zero
/// padding is neutral; others are pooled as they are, bit for bit.
fn max_pool_3x3(m: &Tensor) -> Result<Tensor> {
    let b = m.dim(0)?;
    let low = m.flatten_from(1)?.min_keepdim(1)?.minimum(0f32)?.reshape((b, 1, 1, 1))?;
    let shifted = m.broadcast_sub(&low)?;
    shifted.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?.max_pool2d_with_stride(3, 1)?.broadcast_add(&low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The pool written out: each cell's largest neighbour inside the map.
    fn naive_pool(v: &[f32], h: usize, w: usize) -> Vec<f32> {
        let at = |y: usize, x: usize| v[y * w + x];
        (0..h * w)
            .map(|i| {
                let (y, x) = (i / w, i % w);
                let ys = y.saturating_sub(1)..(y + 2).min(h);
                ys.flat_map(|yy| (x.saturating_sub(1)..(x + 2).min(w)).map(move |xx| (yy, xx))).map(|(yy, xx)| at(yy, xx)).fold(f32::NEG_INFINITY, f32::max)
            })
            .collect()
    }

    #[test]
    fn the_pool_ignores_its_padding_for_negative_maps_too() {
        let (h, w) = (3, 4);
        let pos: Vec<f32> = (0..h * w).map(|i| ((i * 7) % 5) as f32 * 0.1).collect();
        let neg: Vec<f32> = pos.iter().map(|v| -1.0 - v).collect();
        let m = Tensor::from_vec([pos.clone(), neg.clone()].concat(), (2, 1, h, w), &Device::Cpu).unwrap();
        let got: Vec<f32> = max_pool_3x3(&m).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let want = [naive_pool(&pos, h, w), naive_pool(&neg, h, w)].concat();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "{got:?}\n{want:?}");
        }
    }

    #[test]
    fn a_unet_without_level_2_cross_attention_is_named() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-sd/unet/config.json");
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let deep: crate::sd::config::UNetConfig = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(super::missing_maps(&deep), None);
        v["down_block_types"] = serde_json::json!(["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"]);
        v["up_block_types"] = serde_json::json!(["UpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]);
        let shallow: crate::sd::config::UNetConfig = serde_json::from_value(v).unwrap();
        let why = super::missing_maps(&shallow).expect("no maps at level 2");
        assert!(why.contains("cross-attention maps at level 2") && why.contains("this model has none there"), "{why}");
    }

    /// One level-2 cross-attention map over a 2×2 grid (one head): token 1 attends everywhere,
    /// token 2 mostly to the top-left cell in the source row and to the bottom-right one in the
    /// target row.
    fn store() -> Vec<StoredMap> {
        use crate::sd::unet::attention::{AttnPlace, Part};
        let place = AttnPlace { part: Part::Down, block: 2, layer: 0, depth: 0, level: MAP_LEVEL, kind: AttnKind::Cross, heads: 1, queries: 4, keys: 77 };
        let mut sum = vec![0f32; 2 * 4 * 77];
        for (row, strong) in [(0, 0), (1, 3)] {
            for q in 0..4 {
                sum[(row * 4 + q) * 77 + 1] = 0.5 + 0.1 * q as f32;
                sum[(row * 4 + q) * 77 + 2] = if q == strong { 0.9 } else { 0.1 };
            }
        }
        vec![StoredMap { place, sum: Tensor::from_vec(sum, (2, 4, 77), &Device::Cpu).unwrap() }]
    }

    fn token_rows(token: usize) -> Tensor {
        let mut rows = vec![0f32; 2 * 77];
        (rows[token], rows[77 + token]) = (1.0, 1.0);
        Tensor::from_vec(rows, (2, 77), &Device::Cpu).unwrap()
    }

    /// The reference's `substruct_words`: the blend's mask less the (unpooled) region of the
    /// excluded words, that region joined with the source's, at the exclusion's own threshold.
    #[test]
    fn excluded_words_take_their_region_out_of_the_mask() {
        let blend = LocalBlend::new(token_rows(1), 0.3, 10);
        let rows = |m: Tensor| -> Vec<Vec<f32>> { (0..2).map(|r| m.get(r).unwrap().flatten_all().unwrap().to_vec1().unwrap()).collect() };
        let all = rows(blend.mask(9, &store(), 4, 4).unwrap().unwrap());
        assert!(all.iter().flatten().all(|&v| v == 1.0), "token 1 is everywhere: {all:?}");
        let out = blend.clone().excluding(token_rows(2), 0.5);
        let got = rows(out.mask(9, &store(), 4, 4).unwrap().unwrap());
        // Token 2 passes 0.5 (of its maximum) at the source's top-left cell and the target's
        // bottom-right one; each 2×2 cell is 2×2 latent pixels.
        let cell = |c: usize| -> Vec<usize> { let (cy, cx) = (c / 2, c % 2); (0..4).map(|k| (2 * cy + k / 2) * 4 + 2 * cx + k % 2).collect() };
        let kept = |out_cells: &[usize]| -> Vec<f32> { (0..16).map(|i| if out_cells.iter().any(|&c| cell(c).contains(&i)) { 0.0 } else { 1.0 }).collect() };
        assert_eq!(got[0], kept(&[0]), "the source row loses its own region");
        assert_eq!(got[1], kept(&[0, 3]), "the target row loses its region and the source's");
        // Before `start` there is no mask, excluded words or not.
        assert!(out.mask(1, &store(), 4, 4).unwrap().is_none());
    }

    #[test]
    fn the_map_grid_follows_the_latent_aspect() {
        assert_eq!(map_grid(256, 64, 64).unwrap(), (16, 16));
        assert_eq!(map_grid(8 * 12, 64, 96).unwrap(), (8, 12));
        assert!(map_grid(10, 64, 64).unwrap_err().to_string().contains("do not tile"));
    }
}
