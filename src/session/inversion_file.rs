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
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> InversionFile {
        let dev = Device::Cpu;
        InversionFile {
            meta: InversionMeta { prompt: "a cat".into(), model: "tiny".into(), model_hash: "tiny-0".into(), method: "null-text".into(), guidance: 7.5, inner_steps: 10, epsilon: 1e-5, fixed_point: 0 },
            latents: Tensor::arange(0f32, 3.0 * 4.0 * 4.0, &dev).unwrap().reshape((3, 4, 2, 2)).unwrap(),
            null_embeddings: Tensor::ones((2, 77, 8), DType::F32, &dev).unwrap(),
            losses: Tensor::new(&[[1e-5f32, f32::NAN], [2e-5, 3e-5]], &dev).unwrap(),
            iterations: vec![1, 2],
            timesteps: vec![501, 1],
            completed: 2,
            current_latent: None,
            offsets: None,
        }
    }

    #[test]
    fn an_empty_file_and_model_weights_are_named_as_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.safetensors");
        std::fs::write(&empty, b"").unwrap();
        let e = format!("{:#}", InversionFile::load(&empty, &Device::Cpu).unwrap_err());
        assert!(e.contains("is empty (0 bytes)"), "{e}");
        let weights = dir.path().join("vae.safetensors");
        let w = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
        candle_core::safetensors::save(&HashMap::from([("decoder.conv_in.weight".to_string(), w)]), &weights).unwrap();
        let e = format!("{:#}", InversionFile::load(&weights, &Device::Cpu).unwrap_err());
        assert!(e.contains("a safetensors file of 1 tensor without pivot's metadata: not an inversion (model weights?)"), "{e}");
    }

    #[test]
    fn an_inversion_with_nan_latents_is_neither_saved_nor_read() {
        let mut f = sample();
        f.latents = (f.latents.clone() * f64::NAN).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nan.safetensors");
        let e = f.save(&p).unwrap_err().to_string();
        assert!(e.contains("latents are not finite") && e.contains("was not written") && !p.exists(), "{e}");
        let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
        assert!(e.contains("latents contain NaN"), "{e}");
    }

    #[test]
    fn a_direct_inversion_keeps_its_offsets_and_is_format_2() {
        let mut f = sample();
        f.meta.method = "direct".into();
        let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
        assert!(e.contains("a Direct Inversion without its `offsets`"), "{e}");
        f.offsets = Some(Tensor::arange(0f32, 2.0 * 4.0 * 4.0, &Device::Cpu).unwrap().reshape((2, 4, 2, 2)).unwrap());
        let bytes = f.to_bytes().unwrap();
        assert!(bytes.windows(20).any(|w| w == b"\"format_version\":\"2\""), "a file older pivots cannot use says so");
        let g = InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap();
        let rows = g.source_offsets().unwrap().unwrap();
        assert_eq!((rows.len(), rows[1].dims()), (2, &[1usize, 4, 2, 2][..]));
        assert_eq!(rows[1].flatten_all().unwrap().to_vec1::<f32>().unwrap(), (16..32).map(|v| v as f32).collect::<Vec<_>>());
        f.offsets = Some(Tensor::zeros((3, 4, 2, 2), DType::F32, &Device::Cpu).unwrap());
        let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
        assert!(e.contains("do not hold 2 latents"), "{e}");
        f.meta.method = "ddim".into();
        let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap_err());
        assert!(e.contains("not a Direct Inversion"), "{e}");
    }

    /// The fixed-point count is kept, and written only when used (a plain inversion's file stays
    /// what older pivots wrote and read).
    #[test]
    fn fixed_point_iterations_are_kept_and_absent_when_none() {
        let mut f = sample();
        let plain = f.to_bytes().unwrap();
        assert!(!plain.windows(11).any(|w| w == b"fixed_point"));
        assert_eq!(InversionFile::from_bytes(&plain, &Device::Cpu).unwrap().meta.fixed_point, 0);
        f.meta.fixed_point = 3;
        assert_eq!(InversionFile::from_bytes(&f.to_bytes().unwrap(), &Device::Cpu).unwrap().meta.fixed_point, 3);
    }

    #[test]
    fn a_photo_given_as_an_inversion_is_named_as_a_picture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat.safetensors");
        std::fs::write(&path, crate::session::testing::png(9)).unwrap();
        let e = format!("{:#}", InversionFile::load(&path, &Device::Cpu).unwrap_err());
        assert!(e.contains("is a picture (Png), not an inversion file: `pivot invert") && !e.contains("corrupt"), "{e}");
    }

    #[test]
    fn a_damaged_header_names_its_fault_once() {
        let json = br#"{"x":{"shape":[1],"data_offsets":[0,4]}}"#;
        let bytes = [&(json.len() as u64).to_le_bytes()[..], json, &[0u8; 4]].concat();
        let e = format!("{:#}", InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap_err());
        assert_eq!(e.matches("missing field").count(), 1, "{e}");
        assert!(e.starts_with("unreadable safetensors header"), "{e}");
    }

    #[test]
    fn round_trip_is_exact_and_newer_versions_are_refused() {
        let f = sample();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inv.safetensors");
        f.save(&p).unwrap();
        let g = InversionFile::load(&p, &Device::Cpu).unwrap();
        assert_eq!(g.meta, f.meta);
        assert_eq!(g.iterations, f.iterations);
        assert_eq!(g.timesteps, f.timesteps);
        assert_eq!(g.latents.flatten_all().unwrap().to_vec1::<f32>().unwrap(), f.latents.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        let bytes = f.to_bytes().unwrap();
        let key = b"\"format_version\":\"1\"";
        let at = bytes.windows(key.len()).position(|w| w == key).expect("version in header");
        let mut newer = bytes.clone();
        newer[at + key.len() - 2] = b'9';
        let e = format!("{:#}", InversionFile::from_bytes(&newer, &Device::Cpu).unwrap_err());
        assert!(e.contains("format_version 9"), "{e}");
        let e = format!("{:#}", InversionFile::from_bytes(&bytes[..bytes.len() / 2], &Device::Cpu).unwrap_err());
        assert!(e.contains("truncated") || e.contains("unreadable"), "{e}");
    }

    #[test]
    fn flipped_bytes_and_edited_metadata_are_damage() {
        let bytes = sample().to_bytes().unwrap();
        InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap();
        let mut flipped = bytes.clone();
        let at = bytes.len() - 20;
        flipped[at] ^= 0x10;
        let e = format!("{:#}", InversionFile::from_bytes(&flipped, &Device::Cpu).unwrap_err());
        assert!(e.contains("damaged"), "{e}");
        let mut edited = bytes.clone();
        let at = bytes.windows(5).position(|w| w == b"a cat").expect("prompt in header");
        edited[at..at + 5].copy_from_slice(b"a dog");
        let e = format!("{:#}", InversionFile::from_bytes(&edited, &Device::Cpu).unwrap_err());
        assert!(e.contains("damaged"), "{e}");
    }

    #[test]
    fn a_prompt_that_spells_the_checksum_entry_is_kept_and_checked() {
        let mut f = sample();
        f.meta.prompt = r#"a cat "checksum":"0000000000000000" x"#.into();
        let bytes = f.to_bytes().unwrap();
        assert_eq!(InversionFile::from_bytes(&bytes, &Device::Cpu).unwrap().meta, f.meta);
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_ne!(header.metadata().as_ref().unwrap()[CHECKSUM], "0".repeat(16), "the placeholder was written over");
    }

    #[test]
    fn files_without_a_checksum_are_still_read_but_not_an_unknown_method() {
        let f = sample();
        let strip = |f: &InversionFile, method: &str| {
            let map = candle_core::safetensors::load_buffer(&f.to_bytes().unwrap(), &Device::Cpu).unwrap();
            let (_, header) = safetensors::SafeTensors::read_metadata(&f.to_bytes().unwrap()).unwrap();
            let mut meta = header.metadata().clone().unwrap();
            meta.remove(CHECKSUM);
            meta.insert("method".into(), method.into());
            let mut names: Vec<_> = map.keys().cloned().collect();
            names.sort();
            safetensors::serialize(names.iter().map(|k| (k.as_str(), &map[k])), Some(meta)).unwrap()
        };
        let g = InversionFile::from_bytes(&strip(&f, "null-text"), &Device::Cpu).unwrap();
        assert_eq!(g.meta, f.meta);
        let e = format!("{:#}", InversionFile::from_bytes(&strip(&f, "magic"), &Device::Cpu).unwrap_err());
        assert!(e.contains("magic"), "{e}");
    }

    #[test]
    fn a_checkpoint_keeps_its_first_rows_and_the_current_latent() {
        let dev = Device::Cpu;
        let mut f = sample();
        f.null_embeddings = f.null_embeddings.narrow(0, 0, 1).unwrap();
        f.completed = 1;
        let z = Tensor::full(0.5f32, (1, 4, 2, 2), &dev).unwrap();
        f.current_latent = Some(z.clone());
        let g = InversionFile::from_bytes(&f.to_bytes().unwrap(), &dev).unwrap();
        assert_eq!((g.completed, g.is_complete(), g.embeddings().unwrap().len()), (1, false, 1));
        let back = g.current_latent.expect("current latent stored").flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(back, z.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        f.current_latent = None;
        let e = format!("{:#}", InversionFile::from_bytes(&f.to_bytes().unwrap(), &dev).unwrap_err());
        assert!(e.contains("current_latent"), "{e}");
    }
}
