//! Stable Diffusion in candle: model sources, configs, tokenizer, CLIP, VAE, hooked UNet, DDIM.

pub mod checkpoint;
pub mod col2im;
pub mod compare;
pub mod config;
pub mod consistency;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod counting;
pub mod fingerprint;
pub mod fused;
pub mod image;
pub mod input_grad;
pub mod ops;
pub mod profile;
pub mod rng;
pub mod schedule;
pub mod source;
pub mod text;
pub mod tiny;
pub mod tokenizer;
pub mod unet;
pub mod vae;
pub mod weight_files;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use config::{read_json, SchedulerConfig};
use source::{ModelFiles, ModelSource, TokenizerFiles};
use counting::Counting;
use weight_files::WeightFiles;
use std::path::Path;
use tiny::{RandomPart, RandomWeights};
use tokenizer::{ClipTokenizer, Encoded};

/// A loaded pipeline: everything pivot needs to encode, denoise and decode.
pub struct StableDiffusion {
    pub source: ModelSource,
    pub files: Option<ModelFiles>,
    pub tokenizer: ClipTokenizer,
    pub text_encoder: text::TextEncoder,
    pub unet: unet::UNet,
    pub vae: vae::Vae,
    pub scheduler: SchedulerConfig,
    pub device: Device,
    pub params: ParamCounts,
    /// Identifies the model (every byte of its files), so files made with one model are not
    /// used with another; see [`Self::made_with`].
    pub fingerprint: String,
    /// What pivot recorded for this model before fingerprints covered whole files.
    pub legacy_fingerprint: Option<String>,
    /// What the user should know about how the model was read (a missing optional file, say).
    pub warnings: Vec<String>,
}

/// Parameters loaded per part.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParamCounts {
    pub text_encoder: usize,
    pub unet: usize,
    pub vae: usize,
}

/// Open one safetensors file as f32 weights; errors name the file.
pub fn open_weights(path: &Path, dev: &Device) -> Result<VarBuilder<'static>> {
    open_weights_as(path, DType::F32, dev)
}

/// Open one safetensors file, casting every tensor to `dtype` (f64 for gradient checks).
pub fn open_weights_as(path: &Path, dtype: DType, dev: &Device) -> Result<VarBuilder<'static>> {
    Ok(VarBuilder::from_backend(Box::new(mmap(path)?), dtype, dev.clone()))
}

/// Memory-map one safetensors file; the error names the file and the expected layout.
fn mmap(path: &Path) -> Result<candle_core::safetensors::MmapedSafetensors> {
    // SAFETY: the file is memory-mapped read-only; pivot never writes to model files.
    unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }.with_context(|| unreadable(path))
}

fn unreadable(path: &Path) -> String {
    format!("{} is not a readable safetensors file (truncated or corrupt? re-download it; {})", path.display(), source::LAYOUT_HINT)
}

/// Memory-map a part's weights, one file or all its shards as one store.
fn mmap_part(w: &WeightFiles) -> Result<candle_core::safetensors::MmapedSafetensors> {
    if let [one] = w.files.as_slice() {
        return mmap(one);
    }
    // SAFETY: as in `mmap`. candle's error names the shard it could not read.
    unsafe { candle_core::safetensors::MmapedSafetensors::multi(&w.files) }
        .with_context(|| format!("a shard of {} is not a readable safetensors file (truncated or corrupt? re-download it)", w.describe()))
}

/// Build one part from its weight files with `build`: the part, the parameters it took, and a
/// warning when the files hold weights it did not take (diffusers warns too: the config and
/// the weights may come from different models).
fn load_part<T>(w: &WeightFiles, config: &str, dev: &Device, build: impl FnOnce(&VarBuilder) -> Result<T>) -> Result<(T, usize, Option<String>)> {
    let store = mmap_part(w)?;
    let in_file: Vec<String> = store.tensors().into_iter().map(|(name, _)| name).collect();
    let (vb, taken) = Counting::wrap(Box::new(store), DType::F32, dev);
    let part = in_file_context(build(&vb), w)?;
    let taken = taken.lock().unwrap_or_else(|e| e.into_inner());
    let warning = counting::unused(in_file, &taken).map(|(n, groups)| {
        let shown = groups.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
        let more = if groups.len() > 4 { ", …" } else { "" };
        format!("{}: {n} tensors that {config} does not use ({shown}{more}); the config and the weights may come from different models", w.describe())
    });
    Ok((part, taken.params, warning))
}

fn tokenizer_of(files: &ModelFiles) -> Result<ClipTokenizer> {
    let pad = files.pad_token()?;
    match &files.tokenizer {
        TokenizerFiles::Json(p) => ClipTokenizer::from_tokenizer_json(p, pad.as_deref()),
        TokenizerFiles::VocabMerges { vocab, merges } => ClipTokenizer::from_vocab_merges(vocab, merges, pad.as_deref()),
    }
}

fn in_file_context<T>(r: Result<T>, w: &WeightFiles) -> Result<T> {
    r.with_context(|| format!("while loading {}", w.describe()))
}

impl StableDiffusion {
    pub fn load(source: &ModelSource, device: &Device) -> Result<Self> {
        match source {
            ModelSource::Tiny { seed } => Self::tiny(*seed, device),
            ModelSource::Dir(p) => Self::from_dir(source.clone(), p, device),
            ModelSource::Hub { repo, revision } => {
                let root = source::fetch_hub(repo, revision.as_deref())?;
                Self::from_dir(source.clone(), &root, device)
            }
        }
    }

    /// Only the tokenizer of a model, read without its weights, so prompts and words can be checked
    /// before a slow load; `None` for a hub model that is not in the cache yet.
    pub fn load_tokenizer(source: &ModelSource) -> Result<Option<ClipTokenizer>> {
        let root = match source {
            ModelSource::Tiny { .. } => return ClipTokenizer::builtin().map(Some),
            ModelSource::Dir(p) => p.clone(),
            ModelSource::Hub { repo, revision } => match source::cached_hub(repo, revision.as_deref()) {
                Some(root) => root,
                None => return Ok(None),
            },
        };
        tokenizer_of(&ModelFiles::discover(&root)?).map(Some)
    }

    fn from_dir(source: ModelSource, root: &Path, dev: &Device) -> Result<Self> {
        let files = ModelFiles::discover(root)?;
        let tokenizer = tokenizer_of(&files)?;
        let (text_cfg, mut unet_cfg, vae_cfg): (_, config::UNetConfig, _) = (read_json(&files.text_config)?, read_json(&files.unet_config)?, read_json(&files.vae_config)?);
        let mut warnings: Vec<String> = unet_cfg.mend_legacy_sample_size().into_iter().collect();
        consistency::check_parts(&text_cfg, &unet_cfg, &vae_cfg, tokenizer.max_id()).with_context(|| format!("the model in {} does not fit together", root.display()))?;
        // Before the weights: a config mistake should not cost a slow load first.
        let mut scheduler: SchedulerConfig = match &files.scheduler_config {
            Some(p) => read_json(p)?,
            None => {
                warnings.push(format!("{} has no scheduler/scheduler_config.json: using SD 1.x's DDIM schedule (ε-prediction); a v-prediction model (SD 2.x 768) gives wrong results without its scheduler config", root.display()));
                SchedulerConfig::default()
            }
        };
        consistency::check_scheduler(&scheduler).with_context(|| format!("the scheduler in {} cannot be used", root.display()))?;
        if scheduler.steps_offset != 1 {
            // diffusers' StableDiffusionPipeline rewrites it to 1 (ALGORITHMS §1.2): the official
            // trajectories use 1 whatever the file says.
            warnings.push(format!("scheduler_config.json says steps_offset {}; using 1, as diffusers' Stable Diffusion pipeline does", scheduler.steps_offset));
            scheduler.steps_offset = 1;
        }
        if scheduler.clip_sample {
            // Also what diffusers' Stable Diffusion pipeline does.
            warnings.push("scheduler_config.json says clip_sample true; using false, as diffusers' Stable Diffusion pipeline does".to_string());
            scheduler.clip_sample = false;
        }
        let (text_encoder, text_n, text_unused) = load_part(&files.text_weights, "text_encoder/config.json", dev, |vb| text::TextEncoder::load(vb, &text_cfg))?;
        let (unet, unet_n, unet_unused) = load_part(&files.unet_weights, "unet/config.json", dev, |vb| unet::UNet::load(vb, &unet_cfg))?;
        let (vae, vae_n, vae_unused) = load_part(&files.vae_weights, "vae/config.json", dev, |vb| vae::Vae::load(vb, &vae_cfg))?;
        warnings.extend([text_unused, unet_unused, vae_unused].into_iter().flatten());
        let params = ParamCounts { text_encoder: text_n, unet: unet_n, vae: vae_n };
        let prints = fingerprint::Fingerprints::of(&files)?;
        Ok(Self { source, files: Some(files), tokenizer, text_encoder, unet, vae, scheduler, device: dev.clone(), params, fingerprint: prints.full, legacy_fingerprint: prints.legacy, warnings })
    }

    /// The built-in SD1-shaped model with seeded random weights and the real CLIP tokenizer.
    pub fn tiny(seed: u64, dev: &Device) -> Result<Self> {
        let vb = |part| Counting::wrap(Box::new(RandomWeights::new(seed, part, true)), DType::F32, dev);
        let (tvb, tn) = vb(RandomPart::Text);
        let (uvb, un) = vb(RandomPart::Unet);
        let (vvb, vn) = vb(RandomPart::Vae);
        let text_encoder = text::TextEncoder::load(&tvb, &tiny::tiny_text_config())?;
        let unet = unet::UNet::load(&uvb, &tiny::tiny_unet_config())?;
        let vae = vae::Vae::load(&vvb, &tiny::tiny_vae_config())?;
        let count = |t: &std::sync::Mutex<counting::Taken>| t.lock().map_or(0, |t| t.params);
        let params = ParamCounts { text_encoder: count(&tn), unet: count(&un), vae: count(&vn) };
        Ok(Self {
            source: ModelSource::Tiny { seed },
            files: None,
            tokenizer: ClipTokenizer::builtin()?,
            text_encoder,
            unet,
            vae,
            scheduler: SchedulerConfig::default(),
            device: dev.clone(),
            params,
            fingerprint: format!("tiny-{seed}"),
            legacy_fingerprint: None,
            warnings: Vec::new(),
        })
    }

    /// Whether a fingerprint recorded in a file or a session names this model (recorded now,
    /// or by a pivot from before whole-file fingerprints).
    pub fn made_with(&self, recorded: &str) -> bool {
        recorded == self.fingerprint || self.legacy_fingerprint.as_deref() == Some(recorded)
    }

    /// Tokenize and encode one prompt → (`[1, 77, D]`, tokens).
    pub fn encode_prompt(&self, prompt: &str) -> Result<(Tensor, Encoded)> {
        let enc = self.tokenizer.encode(prompt);
        let emb = self.text_encoder.embed_ids(&enc.ids, enc.real_len(), &self.device)?;
        Ok((emb, enc))
    }

    /// Default image side: `unet.sample_size × 2^(len(vae.block_out_channels) − 1)` (§P.3).
    pub fn resolution(&self) -> usize {
        self.unet.config.sample_size * self.vae.factor()
    }

    pub fn latent_channels(&self) -> usize {
        self.unet.config.in_channels
    }
}
