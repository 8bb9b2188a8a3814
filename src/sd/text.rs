//! CLIP text encoder (`CLIPTextModel`, transformers weight names); output = last hidden state
//! after the final layer norm, what Stable Diffusion conditions on.

use super::config::ClipTextConfig;
use super::ops::{quick_gelu, softmax_last, LayerNorm, Linear};
use anyhow::Context;
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

#[derive(Clone, Debug)]
struct Layer {
    ln1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

#[derive(Clone, Debug)]
pub struct TextEncoder {
    pub config: ClipTextConfig,
    token_embedding: Tensor,
    position_embedding: Tensor,
    layers: Vec<Layer>,
    final_ln: LayerNorm,
}

impl TextEncoder {
    pub fn load(vb: &VarBuilder, config: &ClipTextConfig) -> anyhow::Result<Self> {
        // transformers ≥ 5 may save without the `text_model.` prefix.
        let vb = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") { vb.pp("text_model") } else { vb.clone() };
        Self::build(&vb, config).context("text encoder weights do not match text_encoder/config.json")
    }

    fn build(vb: &VarBuilder, c: &ClipTextConfig) -> Result<Self> {
        let (d, eps) = (c.hidden_size, c.layer_norm_eps);
        let emb = vb.pp("embeddings");
        let token_embedding = emb.get_with_hints((c.vocab_size, d), "token_embedding.weight", Init::Randn { mean: 0.0, stdev: 0.2 })?;
        let position_embedding = emb.get_with_hints((c.max_position_embeddings, d), "position_embedding.weight", Init::Randn { mean: 0.0, stdev: 0.1 })?;
        let mut layers = Vec::new();
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layers.{i}"));
            let a = l.pp("self_attn");
            layers.push(Layer {
                ln1: LayerNorm::load(&l.pp("layer_norm1"), d, eps)?,
                q: Linear::load(&a.pp("q_proj"), d, d, true)?,
                k: Linear::load(&a.pp("k_proj"), d, d, true)?,
                v: Linear::load(&a.pp("v_proj"), d, d, true)?,
                out: Linear::load(&a.pp("out_proj"), d, d, true)?,
                ln2: LayerNorm::load(&l.pp("layer_norm2"), d, eps)?,
                fc1: Linear::load(&l.pp("mlp.fc1"), d, c.intermediate_size, true)?,
                fc2: Linear::load(&l.pp("mlp.fc2"), c.intermediate_size, d, true)?,
            });
        }
        if !matches!(c.hidden_act.as_str(), "quick_gelu" | "gelu") {
            candle_core::bail!("unsupported text encoder activation `{}` (quick_gelu or gelu)", c.hidden_act);
        }
        Ok(Self { config: c.clone(), token_embedding, position_embedding, layers, final_ln: LayerNorm::load(&vb.pp("final_layer_norm"), d, eps)? })
    }

    fn act(&self, x: &Tensor) -> Result<Tensor> {
        if self.config.hidden_act == "gelu" {
            x.gelu_erf()
        } else {
            quick_gelu(x)
        }
    }

    /// Query i sees keys j ≤ i, and only the first `keys` of them (the prompt, without padding).
    fn causal_mask(n: usize, keys: usize, dev: &Device) -> Result<Tensor> {
        let mask: Vec<f32> = (0..n).flat_map(|i| (0..n).map(move |j| if j > i || j >= keys { f32::NEG_INFINITY } else { 0.0 })).collect();
        Tensor::from_vec(mask, (n, n), dev)
    }

    /// Hidden states: entry 0 = embeddings, entry i = after layer i, last = after the final norm.
    pub fn forward_all(&self, ids: &Tensor) -> Result<Vec<Tensor>> {
        self.forward_all_seeing(ids, ids.dim(1)?)
    }

    /// [`Self::forward_all`] with attention to the first `keys` positions only (transformers'
    /// attention mask for a prompt of `keys` tokens, BOS and EOS included).
    fn forward_all_seeing(&self, ids: &Tensor, keys: usize) -> Result<Vec<Tensor>> {
        let (b, n) = ids.dims2()?;
        let heads = self.config.num_attention_heads;
        let d = self.config.hidden_size;
        let hd = d / heads;
        let pos = self.position_embedding.narrow(0, 0, n)?;
        let mut h = self.token_embedding.embedding(&ids.flatten_all()?)?.reshape((b, n, d))?.broadcast_add(&pos)?;
        let mask = Self::causal_mask(n, keys.max(1), ids.device())?.to_dtype(h.dtype())?;
        let mut states = vec![h.clone()];
        for l in &self.layers {
            let x = l.ln1.forward(&h)?;
            let split = |t: Tensor| t.reshape((b, n, heads, hd))?.transpose(1, 2)?.contiguous();
            let q = split((l.q.forward(&x)? * (hd as f64).powf(-0.5))?)?;
            let k = split(l.k.forward(&x)?)?;
            let v = split(l.v.forward(&x)?)?;
            let scores = q.matmul(&k.t()?)?.broadcast_add(&mask)?;
            let att = softmax_last(&scores)?.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
            h = (l.out.forward(&att)? + h)?;
            let x = l.ln2.forward(&h)?;
            h = (l.fc2.forward(&self.act(&l.fc1.forward(&x)?)?)? + h)?;
            states.push(h.clone());
        }
        states.push(self.final_ln.forward(&h)?);
        Ok(states)
    }

    /// `[B, 77, D]` embeddings for `[B, 77]` token ids.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.forward_all(ids)?.pop().expect("final state"))
    }

    /// `[1, 77, D]` for one prompt's ids, of which the first `real` are the prompt (BOS and EOS
    /// included) and the rest padding, which a config with `use_attention_mask` hides.
    pub fn embed_ids(&self, ids: &[u32], real: usize, dev: &Device) -> Result<Tensor> {
        let t = Tensor::from_slice(ids, (1, ids.len()), dev)?;
        let keys = if self.config.use_attention_mask { real } else { ids.len() };
        self.forward_all_seeing(&t, keys)?.pop().expect("final state").to_dtype(DType::F32)
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::tiny::{tiny_text_config, RandomPart, RandomWeights};

    fn encoder(use_attention_mask: bool) -> TextEncoder {
        let vb = VarBuilder::from_backend(Box::new(RandomWeights::new(4, RandomPart::Text, true)), DType::F32, Device::Cpu);
        TextEncoder::load(&vb, &ClipTextConfig { use_attention_mask, ..tiny_text_config() }).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap()
    }

    /// With the attention mask, padding positions see the prompt only: what stands in the other
    /// padding positions no longer reaches them, and the prompt's positions are unchanged.
    #[test]
    fn the_attention_mask_hides_the_padding() {
        let real = 4;
        let a: Vec<u32> = [49406, 320, 2368, 49407].into_iter().chain(std::iter::repeat_n(49407, 73)).collect();
        let (masked, plain) = (encoder(true), encoder(false));
        let emb = |e: &TextEncoder, ids: &[u32]| e.embed_ids(ids, real, &Device::Cpu).unwrap();
        let prompt = |t: Tensor| t.narrow(1, 0, real).unwrap();
        // The prompt's positions are the same with and without the mask.
        assert!(max_diff(&prompt(emb(&masked, &a)), &prompt(emb(&plain, &a))) < 1e-5);
        // Position 75, with another token at padding position 74: only the unmasked encoder notices.
        let mut c = a.clone();
        c[74] = 0;
        let at75 = |t: Tensor| t.narrow(1, 75, 1).unwrap();
        assert!(max_diff(&at75(emb(&masked, &a)), &at75(emb(&masked, &c))) < 1e-6);
        assert!(max_diff(&at75(emb(&plain, &a)), &at75(emb(&plain, &c))) > 1e-4);
    }
}
