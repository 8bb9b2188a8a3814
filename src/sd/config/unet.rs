//! `unet/config.json` (diffusers' `UNet2DConditionModel`).

use super::{check_off, default_groups, default_in_out, default_norm_eps, default_true, PerBlock};
use anyhow::{bail, ensure, Result};
use serde::Deserialize;

fn one_layer() -> PerBlock {
    PerBlock::One(1)
}
/// `sample_size` as a number or, as diffusers also writes it, a `[height, width]` pair; pivot
/// works on square images, so the pair's sides must agree.
fn square_side<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    match PerBlock::deserialize(d)? {
        PerBlock::One(n) => Ok(n),
        PerBlock::Each(v) if v.len() == 2 && v[0] == v[1] => Ok(v[0]),
        PerBlock::Each(v) => Err(serde::de::Error::custom(format!("sample_size {v:?}: pivot works on square images, so it takes one side or an equal pair"))),
    }
}

/// `cross_attention_dim` as a number; diffusers also takes one per block, which pivot does not
/// (no Stable Diffusion model uses it), unless all agree.
fn one_context_dim<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    match PerBlock::deserialize(d)? {
        PerBlock::One(n) => Ok(n),
        PerBlock::Each(v) if !v.is_empty() && v.iter().all(|d| *d == v[0]) => Ok(v[0]),
        PerBlock::Each(v) => Err(serde::de::Error::custom(format!("cross_attention_dim {v:?}: a text width per block is not supported by pivot (Stable Diffusion models give one number)"))),
    }
}

/// A key's value when the file has the key, even as null (`Some(None)`); absent keys take the
/// field's default, `None`.
fn given<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn default_sample_size() -> usize {
    64
}
fn default_mid_block() -> Option<String> {
    Some("UNetMidBlock2DCrossAttn".into())
}
fn default_act() -> String {
    "silu".into()
}

#[derive(Deserialize, Clone, Debug)]
pub struct UNetConfig {
    #[serde(default = "default_in_out")]
    pub in_channels: usize,
    #[serde(default = "default_in_out")]
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub down_block_types: Vec<String>,
    pub up_block_types: Vec<String>,
    #[serde(default = "default_mid_block")]
    pub mid_block_type: Option<String>,
    /// Resnet (and attention) layers of each down block; up blocks have one more.
    pub layers_per_block: PerBlock,
    #[serde(deserialize_with = "one_context_dim")]
    pub cross_attention_dim: usize,
    /// diffusers' legacy meaning: the HEAD COUNT. `Some(None)`: the file says null.
    #[serde(default, deserialize_with = "given")]
    pub attention_head_dim: Option<Option<PerBlock>>,
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock>,
    #[serde(default = "default_groups")]
    pub norm_num_groups: usize,
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    #[serde(default = "default_true")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    #[serde(default = "default_sample_size", deserialize_with = "square_side")]
    pub sample_size: usize,
    /// The diffusers version that wrote the file (conversions before 0.9 wrote LDM's latent size).
    #[serde(default, rename = "_diffusers_version")]
    pub diffusers_version: Option<String>,
    #[serde(default)]
    pub use_linear_projection: bool,
    #[serde(default = "one_layer")]
    pub transformer_layers_per_block: PerBlock,
    #[serde(default)]
    pub upcast_attention: bool,
    #[serde(default = "default_act")]
    pub act_fn: String,
    #[serde(default)]
    pub only_cross_attention: serde_json::Value,
    #[serde(default)]
    pub class_embed_type: Option<String>,
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    #[serde(default)]
    pub time_cond_proj_dim: Option<usize>,
    #[serde(default)]
    pub resnet_time_scale_shift: Option<String>,
    #[serde(default)]
    pub dual_cross_attention: bool,
    /// Every other key, checked against [`UNET_OFF`].
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// UNet options pivot does not implement, with the value (diffusers' default) that turns each off;
/// any other value is refused rather than silently computed without.
const UNET_OFF: &[(&str, &str)] = &[
    ("center_input_sample", "false"),
    ("downsample_padding", "1"),
    ("resnet_skip_time_act", "false"),
    ("resnet_out_scale_factor", "1"),
    ("time_embedding_type", "\"positional\""),
    ("time_embedding_act_fn", "null"),
    ("timestep_post_act", "null"),
    ("cross_attention_norm", "null"),
    ("attention_type", "\"default\""),
    ("encoder_hid_dim", "null"),
    ("encoder_hid_dim_type", "null"),
    ("num_class_embeds", "null"),
    ("projection_class_embeddings_input_dim", "null"),
    ("class_embeddings_concat", "false"),
    ("conv_in_kernel", "3"),
    ("conv_out_kernel", "3"),
    ("mid_block_only_cross_attention", "null"),
    ("reverse_transformer_layers_per_block", "null"),
    ("mid_block_scale_factor", "1"),
];

impl UNetConfig {
    /// diffusers' Stable Diffusion pipeline fix for conversions made before diffusers 0.9, which
    /// wrote LDM's `image_size` (32 for SD 1.x) as `sample_size`: below 64 it becomes 64. Returns
    /// the warning when it applies.
    pub fn mend_legacy_sample_size(&mut self) -> Option<String> {
        let version = self.diffusers_version.as_deref()?;
        let mut parts: Vec<u64> = version.split('.').take(3).map(|p| p.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)).collect();
        parts.resize(3, 0); // "0.9" is 0.9.0
        let old = parts.as_slice() < [0, 9, 0].as_slice();
        if !old || self.sample_size >= 64 {
            return None;
        }
        let was = std::mem::replace(&mut self.sample_size, 64);
        Some(format!("unet/config.json was written by diffusers {version} with sample_size {was}, the old conversions' mistake; using 64, as diffusers' Stable Diffusion pipeline does (mend the file to silence this)"))
    }

    /// Heads per down block: `attention_head_dim`, which diffusers reads as the head count
    /// (it refuses `num_attention_heads`, and so does pivot; see [`Self::check_supported`]).
    pub fn heads_per_block(&self) -> Result<Vec<usize>> {
        let n = self.block_out_channels.len();
        match &self.attention_head_dim {
            Some(Some(h)) => h.expand(n, "attention_head_dim"),
            Some(None) => bail!("unet/config.json sets attention_head_dim = null; it must give the number of attention heads (Stable Diffusion 1.x: 8), as diffusers needs too"),
            None => Ok(vec![8; n]),
        }
    }

    /// Whether a cross-attention layer works at `level` (0 = the latent's own size, each level
    /// half the last): down block `level`, the up block of that size, or the mid block.
    pub fn cross_attention_at_level(&self, level: usize) -> bool {
        let n = self.block_out_channels.len();
        let cross = |types: &[String], i: usize| types.get(i).is_some_and(|t| t.starts_with("CrossAttn"));
        let up = n.checked_sub(level + 1).is_some_and(|i| cross(&self.up_block_types, i));
        cross(&self.down_block_types, level) || up || (level + 1 == n && self.mid_block_type.is_some())
    }

    /// Refuse options pivot does not implement instead of computing something else silently.
    pub fn check_supported(&self) -> Result<()> {
        let n = self.block_out_channels.len();
        if self.down_block_types.len() != n || self.up_block_types.len() != n {
            bail!("down_block_types/up_block_types must have one entry per block_out_channels entry ({n})");
        }
        for t in self.down_block_types.iter().chain(&self.up_block_types) {
            if !matches!(t.as_str(), "CrossAttnDownBlock2D" | "DownBlock2D" | "CrossAttnUpBlock2D" | "UpBlock2D") {
                bail!("unsupported UNet block type `{t}` (pivot supports Stable Diffusion 1.x/2.x UNets)");
            }
        }
        match self.mid_block_type.as_deref() {
            // No mid block at all: the distilled BK-SDM Small/Tiny models.
            Some("UNetMidBlock2DCrossAttn") | None => {}
            Some(other) => bail!("unsupported mid_block_type `{other}` (expected UNetMidBlock2DCrossAttn, or null for none)"),
        }
        if let Some(h) = &self.num_attention_heads {
            bail!("unet/config.json sets num_attention_heads = {h}; diffusers refuses this key too (its UNet reads the head count from attention_head_dim): move the value to attention_head_dim");
        }
        for (key, set) in [("class_embed_type", self.class_embed_type.is_some()), ("addition_embed_type", self.addition_embed_type.is_some()), ("time_cond_proj_dim", self.time_cond_proj_dim.is_some())] {
            ensure!(!set, "unet/config.json sets {key}: class, addition or guidance embeddings (SDXL, upscalers, LCM) are not supported; pivot runs Stable Diffusion 1.x/2.x UNets");
        }
        let cross_only = match &self.only_cross_attention {
            serde_json::Value::Array(v) => v.iter().any(|b| b.as_bool() == Some(true)),
            v => v.as_bool() == Some(true),
        };
        check_off("unet", &self.rest, UNET_OFF)?;
        if let Some(d) = self.rest.get("time_embedding_dim").filter(|d| !d.is_null()) {
            ensure!(d.as_u64() == Some(4 * self.block_out_channels[0] as u64), "unet/config.json sets time_embedding_dim = {d}; pivot supports only 4 × block_out_channels[0]");
        }
        if self.dual_cross_attention || cross_only {
            bail!("unet/config.json sets {}: dual or cross-only attention UNets are not supported", if cross_only { "only_cross_attention" } else { "dual_cross_attention" });
        }
        if self.act_fn != "silu" {
            bail!("unsupported act_fn `{}` (expected silu)", self.act_fn);
        }
        if self.resnet_time_scale_shift.as_deref().is_some_and(|s| s != "default") {
            bail!("resnet_time_scale_shift other than `default` is not supported");
        }
        self.transformer_layers_per_block.expand(n, "transformer_layers_per_block")?;
        self.layers_per_block.expand(n, "layers_per_block")?;
        for (c, h) in self.block_out_channels.iter().zip(self.heads_per_block()?) {
            if h == 0 || c % h != 0 {
                bail!("block with {c} channels cannot be split into {h} attention heads");
            }
            if c % self.norm_num_groups != 0 {
                bail!("block with {c} channels is not divisible into {} norm groups", self.norm_num_groups);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{fixture, with};
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn unet_options_pivot_does_not_implement_are_refused_and_their_defaults_accepted() {
        let base = fixture("unet");
        let unet = |v: Value| serde_json::from_value::<UNetConfig>(v).unwrap().check_supported();
        unet(base.clone()).unwrap();
        for (key, off) in [("center_input_sample", json!(false)), ("downsample_padding", json!(1)), ("resnet_out_scale_factor", json!(1.0)), ("attention_type", json!("default")), ("encoder_hid_dim", Value::Null), ("only_cross_attention", json!([false, false])), ("mid_block_scale_factor", json!(1))] {
            unet(with(base.clone(), key, off)).unwrap_or_else(|e| panic!("{key}'s default refused: {e}"));
        }
        for (key, on) in [("center_input_sample", json!(true)), ("downsample_padding", json!(0)), ("resnet_skip_time_act", json!(true)), ("time_embedding_type", json!("fourier")), ("cross_attention_norm", json!("group_norm")), ("attention_type", json!("gated")), ("encoder_hid_dim", json!(1024)), ("conv_in_kernel", json!(7)), ("only_cross_attention", json!([true, false])), ("mid_block_scale_factor", json!(1.414)), ("time_embedding_dim", json!(77))] {
            let e = unet(with(base.clone(), key, on)).expect_err(key).to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn cross_attention_dim_is_one_number_or_an_agreeing_list() {
        let dim = |v: Value| serde_json::from_value::<UNetConfig>(with(fixture("unet"), "cross_attention_dim", v)).map(|c| c.cross_attention_dim).map_err(|e| e.to_string());
        assert_eq!(dim(json!(32)), Ok(32));
        assert_eq!(dim(json!([32, 32, 32, 32])), Ok(32));
        let e = dim(json!([32, 64, 64, 64])).unwrap_err();
        assert!(e.contains("cross_attention_dim [32, 64, 64, 64]") && e.contains("not supported"), "{e}");
    }

    #[test]
    fn old_conversions_get_diffusers_sample_size_fix() {
        let cfg = |version: &str, side: usize| {
            let mut v = with(fixture("unet"), "sample_size", json!(side));
            v["_diffusers_version"] = json!(version);
            let mut c: UNetConfig = serde_json::from_value(v).unwrap();
            let said = c.mend_legacy_sample_size();
            (c.sample_size, said.is_some())
        };
        assert_eq!(cfg("0.6.0", 32), (64, true));
        assert_eq!(cfg("0.8.1", 8), (64, true));
        assert_eq!(cfg("0.9.0.dev0", 32), (32, false));
        assert_eq!(cfg("0.9", 32), (32, false));
        assert_eq!(cfg("0.21.0", 32), (32, false));
        assert_eq!(cfg("0.6.0", 96), (96, false));
        let mut unversioned: UNetConfig = serde_json::from_value(with(fixture("unet"), "sample_size", json!(32))).unwrap();
        unversioned.diffusers_version = None;
        assert_eq!((unversioned.mend_legacy_sample_size(), unversioned.sample_size), (None, 32));
    }

    #[test]
    fn heads_come_from_attention_head_dim_as_in_diffusers() {
        let heads = |key: &str, v: Value| serde_json::from_value::<UNetConfig>(with(fixture("unet"), key, v)).map_err(|e| e.to_string()).and_then(|c| c.check_supported().and_then(|_| c.heads_per_block()).map_err(|e| e.to_string()));
        assert_eq!(heads("attention_head_dim", json!(4)), Ok(vec![4; 4]));
        assert_eq!(heads("num_attention_heads", Value::Null), Ok(vec![8; 4]));
        let e = heads("num_attention_heads", json!(4)).unwrap_err();
        assert!(e.contains("num_attention_heads = 4") && e.contains("attention_head_dim"), "{e}");
        let e = heads("attention_head_dim", Value::Null).unwrap_err();
        assert!(e.contains("attention_head_dim = null"), "{e}");
        let mut absent = fixture("unet");
        absent.as_object_mut().unwrap().remove("attention_head_dim");
        assert_eq!(serde_json::from_value::<UNetConfig>(absent).unwrap().heads_per_block().unwrap(), vec![8; 4]);
    }

    #[test]
    fn lists_pivot_cannot_read_are_explained() {
        let e = serde_json::from_value::<UNetConfig>(with(fixture("unet"), "transformer_layers_per_block", json!([[1, 1], [1, 1], [1, 1], [1, 1]]))).unwrap_err().to_string();
        assert!(e.contains("nested lists"), "{e}");
        let e = serde_json::from_value::<UNetConfig>(with(fixture("unet"), "sample_size", Value::Null)).unwrap_err().to_string();
        assert!(e.contains("expected a whole number or a list of whole numbers, got null") && !e.contains("SDXL"), "{e}");
        let e = serde_json::from_value::<UNetConfig>(with(fixture("unet"), "cross_attention_dim", json!("32"))).unwrap_err().to_string();
        assert!(e.contains("got \"32\" (a string: write the number without quotes)"), "{e}");
        let e = serde_json::from_value::<UNetConfig>(with(fixture("unet"), "addition_embed_type", json!("text_time"))).unwrap().check_supported().unwrap_err().to_string();
        assert!(e.contains("unet/config.json sets addition_embed_type") && e.contains("SDXL"), "{e}");
    }

    #[test]
    fn cross_attention_levels_follow_the_block_types() {
        let sd1: UNetConfig = serde_json::from_value(fixture("unet")).unwrap();
        assert_eq!((0..5).map(|l| sd1.cross_attention_at_level(l)).collect::<Vec<_>>(), [true, true, true, true, false]);
        let plain = |v: Value| with(v, "up_block_types", json!(["UpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]));
        let mut two = with(plain(fixture("unet")), "down_block_types", json!(["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"]));
        two["mid_block_type"] = Value::Null;
        let two: UNetConfig = serde_json::from_value(two).unwrap();
        assert_eq!((0..4).map(|l| two.cross_attention_at_level(l)).collect::<Vec<_>>(), [true, true, false, false]);
    }

    #[test]
    fn sample_size_may_be_an_equal_pair() {
        let side = |v: Value| serde_json::from_value::<UNetConfig>(with(fixture("unet"), "sample_size", v)).map(|c| c.sample_size);
        assert_eq!(side(json!(16)).unwrap(), 16);
        assert_eq!(side(json!([16, 16])).unwrap(), 16);
        let e = side(json!([16, 8])).unwrap_err().to_string();
        assert!(e.contains("sample_size") && e.contains("square"), "{e}");
    }

    #[test]
    fn layers_per_block_may_be_a_list_of_one_count_per_block() {
        let check = |v: Value| serde_json::from_value::<UNetConfig>(with(fixture("unet"), "layers_per_block", v)).unwrap().check_supported();
        check(json!([2, 2, 1, 1])).unwrap();
        let e = check(json!([2, 2])).unwrap_err().to_string();
        assert!(e.contains("layers_per_block has 2 entries") && e.contains("4 blocks"), "{e}");
    }

}
