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

    fn causal_mask(n: usize, dev: &Device) -> Result<Tensor> {
        let mask: Vec<f32> = (0..n).flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
        Tensor::from_vec(mask, (n, n), dev)
    }

    /// Hidden states: entry 0 = embeddings, entry i = after layer i, last = after the final norm.
    pub fn forward_all(&self, ids: &Tensor) -> Result<Vec<Tensor>> {
        let (b, n) = ids.dims2()?;
        let heads = self.config.num_attention_heads;
        let d = self.config.hidden_size;
        let hd = d / heads;
        let pos = self.position_embedding.narrow(0, 0, n)?;
        let mut h = self.token_embedding.embedding(&ids.flatten_all()?)?.reshape((b, n, d))?.broadcast_add(&pos)?;
        let mask = Self::causal_mask(n, ids.device())?.to_dtype(h.dtype())?;
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

    pub fn embed_ids(&self, ids: &[u32], dev: &Device) -> Result<Tensor> {
        let t = Tensor::from_slice(ids, (1, ids.len()), dev)?;
        self.forward(&t)?.to_dtype(DType::F32)
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }
}

