//! `vae/config.json` (diffusers' `AutoencoderKL`).

use super::{check_off, default_groups, default_in_out, default_true};
use anyhow::{ensure, Result};
use serde::Deserialize;

fn default_scaling() -> f64 {
    0.18215
}
fn default_rgb() -> usize {
    3
}

/// VAE options pivot does not implement, with the value that turns each off (as the UNet's).
const VAE_OFF: &[(&str, &str)] = &[("act_fn", "\"silu\""), ("norm_type", "\"group\""), ("latents_mean", "null"), ("latents_std", "null")];

#[derive(Deserialize, Clone, Debug)]
pub struct VaeConfig {
    #[serde(default = "default_rgb")]
    pub in_channels: usize,
    #[serde(default = "default_rgb")]
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    #[serde(default = "default_in_out")]
    pub latent_channels: usize,
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    #[serde(default = "default_scaling")]
    pub scaling_factor: f64,
    #[serde(default)]
    pub shift_factor: Option<f64>,
    #[serde(default = "default_true")]
    pub use_quant_conv: bool,
    #[serde(default = "default_true")]
    pub use_post_quant_conv: bool,
    #[serde(default = "default_true")]
    pub mid_block_add_attention: bool,
    #[serde(default)]
    pub sample_size: Option<usize>,
    /// Every other key, checked against [`VAE_OFF`].
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl VaeConfig {
    /// Refuse VAEs pivot would compute something else for (block kinds, activations, norms).
    pub fn check_supported(&self) -> Result<()> {
        for (key, kind) in [("down_block_types", "DownEncoderBlock2D"), ("up_block_types", "UpDecoderBlock2D")] {
            let Some(types) = self.rest.get(key) else { continue };
            let list = types.as_array().map(|v| v.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>()).unwrap_or_default();
            ensure!(list.len() == self.block_out_channels.len() && list.iter().all(|t| *t == kind), "vae/config.json: {key} = {types}; pivot supports {} × {kind}", self.block_out_channels.len());
        }
        check_off("vae", &self.rest, VAE_OFF)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{fixture, with};
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn vae_options_pivot_does_not_implement_are_refused() {
        let base = fixture("vae");
        let vae = |v: Value| serde_json::from_value::<VaeConfig>(v).unwrap().check_supported();
        vae(base.clone()).unwrap();
        let n = base["block_out_channels"].as_array().unwrap().len();
        for (key, on) in [("down_block_types", json!(vec!["DownBlock2D"; n])), ("up_block_types", json!(["UpDecoderBlock2D"])), ("act_fn", json!("gelu")), ("norm_type", json!("spatial"))] {
            let e = vae(with(base.clone(), key, on)).expect_err(key).to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
