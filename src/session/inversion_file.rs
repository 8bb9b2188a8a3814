//! The inversion file (`pivot invert --out FILE.safetensors`, ARCHITECTURE "Output file"):
//! `latents` [T+1,C,h,w], `null_embeddings` [T,77,D], `losses` [T,N] (NaN = not run),
//! `iterations` [T], `timesteps` [T] (int64), and the run's settings in `__metadata__`; a Direct
//! Inversion adds `offsets` [T,C,h,w] (format 2; the other methods' files stay format 1).
//! A session checkpoint is the same file with only the first k null embeddings (`completed_steps`
//! = k < T in the metadata) plus `current_latent`, the z̄ the next timestep starts from.

use super::atomic::write_atomic;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

pub const FORMAT_VERSION: u32 = 2;

/// The inversion methods a file can come from.
pub const METHODS: [&str; 4] = ["null-text", "npi", "ddim", "direct"];

/// The metadata key of the file's checksum.
const CHECKSUM: &str = "checksum";

/// FNV-1a of the tensor bytes and of every metadata entry but the checksum itself, so that a
/// flipped bit or a hand edit shows as damage instead of a quietly wrong reconstruction or edit.
fn checksum(bytes: &[u8], meta: &HashMap<String, String>) -> Result<String> {
    let (_, data) = header_and_data(bytes)?;
    let mut entries: Vec<_> = meta.iter().filter(|(k, _)| k.as_str() != CHECKSUM).collect();
    entries.sort();
    let mut h = crate::fnv::Fnv::new();
    for (k, v) in entries {
        for part in [k.as_bytes(), &[0], v.as_bytes(), &[0]] {
            h.eat(part);
        }
    }
    h.eat(data);
    Ok(format!("{:016x}", h.finish()))
}

/// The JSON header and the tensor bytes of safetensors `bytes` (after the 8-byte header length).
fn header_and_data(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8).context("truncated file")?.try_into()?) as usize;
    let end = 8usize.saturating_add(n);
    Ok((bytes.get(8..end).context("truncated file")?, bytes.get(end..).context("truncated file")?))
}

/// Where `entry` starts in the JSON header of safetensors `bytes` (a quote inside a metadata
/// value is escaped there, so a prompt cannot imitate an entry).
fn header_entry(bytes: &[u8], entry: &str) -> Result<usize> {
    let (header, _) = header_and_data(bytes)?;
    let at = header.windows(entry.len()).position(|w| w == entry.as_bytes()).with_context(|| format!("the safetensors header has no {entry}"))?;
    Ok(8 + at)
}

/// Settings and provenance stored beside the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct InversionMeta {
    pub prompt: String,
    pub model: String,
    /// `StableDiffusion::fingerprint` of the model used.
    pub model_hash: String,
    pub method: String,
    pub guidance: f64,
    pub inner_steps: usize,
    pub epsilon: f64,
    /// Fixed-point iterations per DDIM inversion step (0: the plain step; absent in older files).
    pub fixed_point: usize,
}

#[derive(Clone, Debug)]
pub struct InversionFile {
    pub meta: InversionMeta,
    pub latents: Tensor,
    pub null_embeddings: Tensor,
    pub losses: Tensor,
    pub iterations: Vec<i64>,
    pub timesteps: Vec<i64>,
    /// Rows of `null_embeddings` that are final (== T for a finished inversion).
    pub completed: usize,
    /// z̄ at the start of timestep `completed` `[1, C, h, w]`; `None` once finished.
    pub current_latent: Option<Tensor>,
    /// Direct Inversion's source offsets `[T, C, h, w]` (row i added after sampling step i).
    pub offsets: Option<Tensor>,
}

/// How a [`NewerFormat`] error ends: what to do instead of inverting again.
pub const UPDATE_PIVOT: &str = "update pivot to read it";

/// A file from a newer pivot: not damaged, only unreadable by this one.
#[derive(Debug)]
pub struct NewerFormat {
    pub version: u32,
}

impl std::fmt::Display for NewerFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the file has format_version {}, this pivot reads up to {FORMAT_VERSION}: {UPDATE_PIVOT}", self.version)
    }
}

impl std::error::Error for NewerFormat {}

impl InversionFile {
    pub fn steps(&self) -> usize {
        self.timesteps.len()
    }

    pub fn is_complete(&self) -> bool {
        self.completed == self.steps()
    }

    /// Row i of the null embeddings `[1, 77, D]` (used at sampling step i).
    pub fn embeddings(&self) -> Result<Vec<Tensor>> {
        (0..self.completed).map(|i| Ok(self.null_embeddings.narrow(0, i, 1)?)).collect()
    }

    /// Direct Inversion's offsets as one `[1, C, h, w]` a step, if the file has them.
    pub fn source_offsets(&self) -> Result<Option<Vec<Tensor>>> {
        let Some(o) = &self.offsets else { return Ok(None) };
        Ok(Some((0..o.dim(0)?).map(|i| o.narrow(0, i, 1)).collect::<candle_core::Result<_>>()?))
    }

    /// x_T `[1, C, h, w]`.
    pub fn x_t(&self) -> Result<Tensor> {
        Ok(self.latents.narrow(0, self.steps(), 1)?)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let m = &self.meta;
        let t = self.steps();
        let mut meta: HashMap<String, String> = [
            // Readable by a pivot without Direct Inversion unless it is one.
            ("format_version", if self.offsets.is_some() { FORMAT_VERSION } else { 1 }.to_string()),
            ("app_version", env!("CARGO_PKG_VERSION").to_string()),
            ("prompt", m.prompt.clone()),
            ("model", m.model.clone()),
            ("model_hash", m.model_hash.clone()),
            ("method", m.method.clone()),
            ("guidance", m.guidance.to_string()),
            ("inner_steps", m.inner_steps.to_string()),
            ("epsilon", m.epsilon.to_string()),
            ("steps", t.to_string()),
            ("completed_steps", self.completed.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // Only when used, so that a plain inversion's file is what older pivots wrote.
        if m.fixed_point > 0 {
            meta.insert("fixed_point".into(), m.fixed_point.to_string());
        }
        let dev = Device::Cpu;
        let mut tensors: Vec<(&str, Tensor)> = vec![
            ("latents", self.latents.to_device(&dev)?.to_dtype(DType::F32)?),
            ("null_embeddings", self.null_embeddings.to_device(&dev)?.to_dtype(DType::F32)?),
            ("losses", self.losses.to_device(&dev)?.to_dtype(DType::F32)?),
            ("iterations", Tensor::new(self.iterations.as_slice(), &dev)?),
            ("timesteps", Tensor::new(self.timesteps.as_slice(), &dev)?),
        ];
        if let Some(z) = &self.current_latent {
            tensors.push(("current_latent", z.to_device(&dev)?.to_dtype(DType::F32)?));
        }
        if let Some(o) = &self.offsets {
            tensors.push(("offsets", o.to_device(&dev)?.to_dtype(DType::F32)?));
        }
        // Serialized once with a placeholder of the checksum's width, which is then written over:
        // the checksum covers the tensor bytes and the other entries, not the header's layout.
        let placeholder = "0".repeat(16);
        meta.insert(CHECKSUM.into(), placeholder.clone());
        let mut bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (*k, v)), Some(meta.clone()))?;
        let sum = checksum(&bytes, &meta)?;
        let at = header_entry(&bytes, &format!("\"{CHECKSUM}\":\"{placeholder}\""))?;
        let value = at + CHECKSUM.len() + 4;
        bytes[value..value + sum.len()].copy_from_slice(sum.as_bytes());
        Ok(bytes)
    }

    /// Inner losses of the finished timesteps (NaN = not run) and their iteration counts, as plain
    /// numbers (for displays that hold no tensors).
    pub fn finished_losses(&self) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        let rows: Vec<Vec<f32>> = self.losses.to_dtype(DType::F32)?.to_vec2()?;
        let k = self.completed;
        Ok((rows.into_iter().take(k).collect(), self.iterations[..k].iter().map(|&i| i.max(0) as usize).collect()))
    }

    /// Writes the file, unless a tensor holds NaN or infinite values: such a file could only
    /// fail every reconstruction and edit made from it.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(name) = self.not_finite()? {
            bail!("the inversion's {name} are not finite (NaN or infinite), so {} was not written: a guidance scale far above 7.5 is the usual cause", path.display());
        }
        write_atomic(path, &self.to_bytes()?)
    }

    /// The first tensor holding NaN or infinite values (the losses' NaN marks steps not run).
    fn not_finite(&self) -> Result<Option<&'static str>> {
        let finite = |t: &Tensor| -> Result<bool> { Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?.iter().all(|v| v.is_finite())) };
        for (name, t) in [("null_embeddings", Some(&self.null_embeddings)), ("latents", Some(&self.latents)), ("current_latent", self.current_latent.as_ref()), ("offsets", self.offsets.as_ref())] {
            if t.map(finite).transpose()? == Some(false) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    pub fn load(path: &Path, dev: &Device) -> Result<Self> {
        crate::regular_file::check(path, "the inversion")?;
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        // A photo given where its inversion belongs is not a damaged file. (Only the formats
        // pivot reads photos in: their signatures cannot open a safetensors file, whose header
        // length is a multiple of 8 under 100 MB; ICO's could.)
        use image::ImageFormat::{Bmp, Gif, Jpeg, Png, Tiff, WebP};
        if let Ok(format @ (Png | Jpeg | WebP | Bmp | Gif | Tiff)) = image::guess_format(&bytes) {
            bail!("{} is a picture ({format:?}), not an inversion file: `pivot invert {} --prompt \"…\" --out NAME.safetensors` makes one from it", path.display(), path.display());
        }
        ensure!(!bytes.is_empty(), "{} is empty (0 bytes): not an inversion file; a copy cut short? `pivot invert` makes one", path.display());
        Self::from_bytes(&bytes, dev).with_context(|| format!("{} is not a valid pivot inversion file", path.display()))
    }

    pub fn from_bytes(bytes: &[u8], dev: &Device) -> Result<Self> {
        // safetensors' errors repeat their cause in their own message: it is said once here.
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| anyhow::anyhow!("unreadable safetensors header (truncated or corrupt?): {e}"))?;
        let meta = header.metadata().clone().unwrap_or_default();
        // Safetensors of another kind (model weights, say) carry no pivot metadata at all.
        let tensors = header.tensors();
        if !meta.contains_key("format_version") && !tensors.contains_key("null_embeddings") {
            let tensors = if tensors.len() == 1 { "1 tensor".to_string() } else { format!("{} tensors", tensors.len()) };
            bail!("a safetensors file of {tensors} without pivot's metadata: not an inversion (model weights?); `pivot invert` makes one");
        }
        let get = |k: &str| meta.get(k).cloned().with_context(|| format!("metadata has no `{k}`"));
        let version: u32 = get("format_version")?.parse().context("format_version is not a number")?;
        if version > FORMAT_VERSION {
            return Err(NewerFormat { version }.into());
        }
        // Files from before the checksum have none; they are read as before.
        if let Some(want) = meta.get(CHECKSUM) {
            ensure!(checksum(bytes, &meta)? == *want, "its contents do not match the checksum pivot wrote: the file is damaged (a flipped bit, a partial copy or a hand edit)");
        }
        let num = |k: &str| -> Result<f64> { get(k)?.parse().with_context(|| format!("metadata `{k}` is not a number")) };
        let m = InversionMeta {
            prompt: get("prompt")?,
            model: get("model")?,
            model_hash: get("model_hash")?,
            method: get("method")?,
            guidance: num("guidance")?,
            inner_steps: num("inner_steps")? as usize,
            epsilon: num("epsilon")?,
            fixed_point: match meta.get("fixed_point") {
                Some(k) => k.parse().context("metadata `fixed_point` is not a whole number")?,
                None => 0,
            },
        };
        let map = candle_core::safetensors::load_buffer(bytes, dev).context("unreadable tensors")?;
        let take = |k: &str| map.get(k).cloned().with_context(|| format!("no `{k}` tensor"));
        let steps: usize = num("steps")? as usize;
        let completed = match meta.get("completed_steps") {
            Some(k) => k.parse().context("metadata `completed_steps` is not a number")?,
            None => steps,
        };
        let f = Self {
            meta: m,
            latents: take("latents")?,
            null_embeddings: take("null_embeddings")?,
            losses: take("losses")?,
            iterations: take("iterations")?.to_dtype(DType::I64)?.to_vec1()?,
            timesteps: take("timesteps")?.to_dtype(DType::I64)?.to_vec1()?,
            completed,
            current_latent: map.get("current_latent").cloned(),
            offsets: map.get("offsets").cloned(),
        };
        let t = f.steps();
        ensure!(t == steps, "metadata says {steps} steps but there are {t} timesteps");
        ensure!(completed <= t, "completed_steps {completed} is more than the {t} steps");
        ensure!(f.latents.rank() == 4 && f.latents.dim(0)? == t + 1, "latents {:?} do not hold T + 1 = {} latents", f.latents.dims(), t + 1);
        ensure!(f.null_embeddings.rank() == 3 && f.null_embeddings.dim(0)? == completed, "null_embeddings {:?} do not hold {completed} rows", f.null_embeddings.dims());
        ensure!(completed == t || f.current_latent.is_some(), "an unfinished inversion ({completed} of {t} steps) has no `current_latent`");
        ensure!(f.iterations.len() == t, "iterations has {} entries, expected {t}", f.iterations.len());
        let direct = f.meta.method == "direct";
        ensure!(direct == f.offsets.is_some(), "{}", if direct { "a Direct Inversion without its `offsets`" } else { "`offsets` in an inversion that is not a Direct Inversion" });
        if let Some(o) = &f.offsets {
            ensure!(o.rank() == 4 && o.dim(0)? == t && o.dims()[1..] == f.latents.dims()[1..], "offsets {:?} do not hold {t} latents of {:?}", o.dims(), &f.latents.dims()[1..]);
        }
        if let Some(name) = f.not_finite()? {
            bail!("{name} contain NaN or infinite values");
        }
        ensure!(f.meta.guidance.is_finite() && f.meta.guidance >= 1.0, "its guidance scale {} is not a number ≥ 1", f.meta.guidance);
        ensure!(METHODS.contains(&f.meta.method.as_str()), "its method `{}` is none of {}", f.meta.method, METHODS.join(", "));
        Ok(f)
    }
}

#[cfg(test)]
#[path = "inversion_file_tests.rs"]
pub(crate) mod tests;
