//! `text_encoder/config.json` (transformers' `CLIPTextConfig`).

use super::default_norm_eps;
use serde::Deserialize;

#[derive(Deserialize, Clone, Debug)]
pub struct ClipTextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_clip_act")]
    pub hidden_act: String,
    #[serde(default = "default_norm_eps")]
    pub layer_norm_eps: f64,
    /// diffusers' pipeline then hides the padding from attention (a few SD 2.x conversions).
    #[serde(default)]
    pub use_attention_mask: bool,
}

fn default_positions() -> usize {
    77
}
fn default_clip_act() -> String {
    "quick_gelu".into()
}
