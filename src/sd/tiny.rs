//! The built-in `tiny` model (SD1-shaped, seeded random weights) and random-weight loading
//! for any config (benchmarks build the SD1.5 UNet shape this way).
//!
//! Weights follow the fixtures' initialisation recipe (`../shared/fixtures/README.md`): N(0, 1/√fan_in)
//! for conv/linear weights, N(0, 0.05) biases, 1+N(0, 0.1) norm weights, with the calibrations that
//! make a random UNet behave like a trained one under guidance. Each tensor draws from its own
//! stream (seed + name), so the result does not depend on load order.

use super::config::{ClipTextConfig, UNetConfig, VaeConfig};
use super::rng::Rng;
use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

/// Which model part a random backend serves (the calibrations differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomPart {
    Unet,
    Vae,
    Text,
}

pub struct RandomWeights {
    seed: u64,
    part: RandomPart,
    /// The SD1-only calibrations (conv_in, cross-attention output) that tame a random UNet.
    sd1_calibration: bool,
}

impl RandomWeights {
    pub fn new(seed: u64, part: RandomPart, sd1_calibration: bool) -> Self {
        Self { seed, part, sd1_calibration }
    }

    pub fn var_builder(seed: u64, part: RandomPart, sd1_calibration: bool, dtype: DType, dev: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(Self::new(seed, part, sd1_calibration)), dtype, dev.clone())
    }

    /// (weight scale, bias scale) for a parameter.
    fn calibration(&self, name: &str) -> (f64, f64) {
        let is = |p: &str| name == format!("{p}.weight") || name == format!("{p}.bias");
        let w = |s: f64| if name.ends_with(".weight") { (s, 1.0) } else { (1.0, 1.0) };
        match self.part {
            RandomPart::Unet if self.sd1_calibration && is("conv_in") => (0.03, 20.0),
            RandomPart::Unet if self.sd1_calibration && name.contains("attn2.to_out.0.weight") => (0.02, 1.0),
            RandomPart::Unet if is("conv_out") => w(1.8),
            RandomPart::Vae if is("encoder.conv_out") => w(3.0),
            RandomPart::Vae if is("quant_conv") => w(4.0),
            RandomPart::Vae if is("decoder.conv_out") => w(0.7),
            _ => (1.0, 1.0),
        }
    }
}

impl SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut rng = Rng::for_name(self.seed ^ ((self.part as u64 + 1) * 0x9E37), name);
        let (ws, bs) = self.calibration(name);
        let scale = if name.ends_with(".bias") { bs } else { ws };
        let t = match h {
            Init::Const(v) => Tensor::full(v as f32, s, dev)?,
            Init::Randn { mean, stdev } => rng.randn(s, mean, stdev * scale, dev)?,
            Init::Uniform { lo, up } => {
                let n = s.elem_count();
                let v: Vec<f32> = (0..n).map(|_| (lo + (up - lo) * rng.uniform()) as f32 * scale as f32).collect();
                Tensor::from_vec(v, s, dev)?
            }
            _ => candle_core::bail!("random weights: unsupported init for {name}"),
        };
        t.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights need a shape for {name}")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        false
    }
}

pub const TINY_UNET: &str = r#"{
  "block_out_channels": [32, 32, 64, 64],
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  "layers_per_block": 2, "cross_attention_dim": 32, "attention_head_dim": 8, "norm_num_groups": 8,
  "sample_size": 16, "flip_sin_to_cos": true, "freq_shift": 0, "use_linear_projection": false
}"#;

pub const SD15_UNET: &str = r#"{
  "block_out_channels": [320, 640, 1280, 1280],
  "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
  "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
  "layers_per_block": 2, "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32,
  "sample_size": 64, "flip_sin_to_cos": true, "freq_shift": 0, "use_linear_projection": false
}"#;

pub const TINY_VAE: &str = r#"{
  "block_out_channels": [16, 32, 32, 32], "layers_per_block": 2, "latent_channels": 4,
  "norm_num_groups": 8, "scaling_factor": 0.18215
}"#;

pub const TINY_TEXT: &str = r#"{
  "vocab_size": 49408, "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
  "num_attention_heads": 4, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5
}"#;

pub fn tiny_unet_config() -> UNetConfig {
    serde_json::from_str(TINY_UNET).expect("built-in config parses")
}
pub fn sd15_unet_config() -> UNetConfig {
    serde_json::from_str(SD15_UNET).expect("built-in config parses")
}
pub fn tiny_vae_config() -> VaeConfig {
    serde_json::from_str(TINY_VAE).expect("built-in config parses")
}
pub fn tiny_text_config() -> ClipTextConfig {
    serde_json::from_str(TINY_TEXT).expect("built-in config parses")
}
