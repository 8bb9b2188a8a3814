//! serde mirrors of the diffusers / transformers JSON configs pivot reads, a file per part.
//!
//! Only the fields pivot uses are named; unknown fields are ignored so newer configs load.

mod json_key;
mod scheduler;
mod text;
mod unet;
mod vae;

pub use scheduler::SchedulerConfig;
pub use text::ClipTextConfig;
pub use unet::UNetConfig;
pub use vae::VaeConfig;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

/// A JSON value as an error message quotes it: `"32"` (a string), `null`, `1.5`; long ones cut.
fn shown_value(v: &serde_json::Value) -> String {
    let text = v.to_string();
    let kind = match v {
        serde_json::Value::String(_) => " (a string: write the number without quotes)",
        _ => "",
    };
    let cut: String = text.chars().take(40).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{cut}{more}{kind}")
}

/// A value that configs write either once for every block or once per block.
#[derive(Clone, Debug, PartialEq)]
pub enum PerBlock {
    One(usize),
    Each(Vec<usize>),
}

impl<'de> Deserialize<'de> for PerBlock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(usize),
            Each(Vec<usize>),
        }
        // serde's own message ("did not match any variant of untagged enum") says nothing useful:
        // say what was found instead.
        let value = serde_json::Value::deserialize(d)?;
        match serde_json::from_value::<Raw>(value.clone()) {
            Ok(Raw::One(v)) => Ok(PerBlock::One(v)),
            Ok(Raw::Each(v)) => Ok(PerBlock::Each(v)),
            Err(_) if value.as_array().is_some_and(|a| a.iter().any(|v| v.is_array())) => Err(serde::de::Error::custom("expected a whole number or a list of whole numbers, got nested lists (SDXL's per-layer form, which pivot does not read)")),
            Err(_) => Err(serde::de::Error::custom(format!("expected a whole number or a list of whole numbers, got {}", shown_value(&value)))),
        }
    }
}

impl std::fmt::Display for PerBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            PerBlock::One(v) => write!(f, "{v}"),
            PerBlock::Each(v) => write!(f, "{v:?}"),
        }
    }
}

impl PerBlock {
    pub fn expand(&self, n: usize, what: &str) -> Result<Vec<usize>> {
        match self {
            PerBlock::One(v) => Ok(vec![*v; n]),
            PerBlock::Each(v) if v.len() == n => Ok(v.clone()),
            PerBlock::Each(v) => bail!("{what} has {} entries but the model has {n} blocks", v.len()),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_norm_eps() -> f64 {
    1e-5
}
fn default_groups() -> usize {
    32
}
/// Latent channels (UNet in/out, VAE latents).
fn default_in_out() -> usize {
    4
}

/// Refuse a key of `rest` whose value is not the one in `off` (numbers compare as numbers).
fn check_off(part: &str, rest: &serde_json::Map<String, serde_json::Value>, off: &[(&str, &str)]) -> Result<()> {
    for (key, default) in off {
        let Some(v) = rest.get(*key) else { continue };
        let want: serde_json::Value = serde_json::from_str(default).expect("a JSON literal");
        let same = match (v.as_f64(), want.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => *v == want,
        };
        if !same {
            bail!("{part}/config.json sets {key} = {v}; pivot supports only {default} (Stable Diffusion 1.x/2.x)");
        }
    }
    Ok(())
}

/// Read and parse one JSON config, naming the file in every error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        // A missing or repeated field names itself; its position is not inside a value.
        let in_value = e.is_data() && !["missing field", "duplicate field"].iter().any(|m| e.to_string().starts_with(m));
        let key = json_key::key_at(&text, e.line(), e.column()).filter(|_| in_value).map(|k| format!(" (key `{k}`)")).unwrap_or_default();
        anyhow::Error::new(e).context(format!("{} is not a valid config file{key}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_its_key_and_a_missing_field_names_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let mut v = testing::fixture("vae");
        v["norm_num_groups"] = serde_json::json!("8");
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let e = format!("{:#}", read_json::<VaeConfig>(&path).unwrap_err());
        assert!(e.contains("(key `norm_num_groups`)"), "{e}");
        v.as_object_mut().unwrap().remove("block_out_channels");
        v["norm_num_groups"] = serde_json::json!(8);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let e = format!("{:#}", read_json::<VaeConfig>(&path).unwrap_err());
        assert!(e.contains("missing field `block_out_channels`") && !e.contains("(key `"), "{e}");
    }
}

#[cfg(test)]
mod testing {
    use serde_json::Value;
    use std::path::Path;

    /// tiny-sd's `part/config.json` as JSON.
    pub fn fixture(part: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-sd").join(part).join("config.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// `v` with `key` set to `value`.
    pub fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }
}
