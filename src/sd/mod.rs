//! Stable Diffusion in candle: model sources, configs, tokenizer, CLIP, VAE, hooked UNet, DDIM.

pub mod checkpoint;
pub mod col2im;
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

/// Like [`open_weights`], also counting the parameters the model takes from the part's files.
fn open_counted(w: &WeightFiles, dev: &Device) -> Result<(VarBuilder<'static>, Arc<AtomicUsize>)> {
    Ok(Counting::wrap(Box::new(mmap_part(w)?), DType::F32, dev))
}

fn tokenizer_of(files: &ModelFiles) -> Result<ClipTokenizer> {
    let pad = files.pad_token()?;
    match &files.tokenizer {
        TokenizerFiles::Json(p) => ClipTokenizer::from_tokenizer_json(p, pad.as_deref()),
        TokenizerFiles::VocabMerges { vocab, merges } => ClipTokenizer::from_vocab_merges(vocab, merges, pad.as_deref()),
    }
}

fn in_file<T>(r: Result<T>, w: &WeightFiles) -> Result<T> {
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
        let (vb, text_n) = open_counted(&files.text_weights, dev)?;
        let text_encoder = in_file(text::TextEncoder::load(&vb, &text_cfg), &files.text_weights)?;
        let (vb, unet_n) = open_counted(&files.unet_weights, dev)?;
        let unet = in_file(unet::UNet::load(&vb, &unet_cfg), &files.unet_weights)?;
        let (vb, vae_n) = open_counted(&files.vae_weights, dev)?;
        let vae = in_file(vae::Vae::load(&vb, &vae_cfg), &files.vae_weights)?;
        let params = ParamCounts { text_encoder: text_n.load(Ordering::Relaxed), unet: unet_n.load(Ordering::Relaxed), vae: vae_n.load(Ordering::Relaxed) };
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
        let params = ParamCounts { text_encoder: tn.load(Ordering::Relaxed), unet: un.load(Ordering::Relaxed), vae: vn.load(Ordering::Relaxed) };
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
        let emb = self.text_encoder.embed_ids(&enc.ids, &self.device)?;
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
