//! `pivot sample`: text-to-image with DDIM + classifier-free guidance.

use super::device;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Tensor};
use clap::Args;
use pivot::edit::sample::{NullEmbeddings, Sampler};
use super::progress::Progress;
use pivot::sd::rng::Rng;
use pivot::sd::schedule::Schedule;
use pivot::sd::unet::NoHook;
use pivot::sd::{image, StableDiffusion};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct SampleArgs {
    #[arg(long, help = super::device::MODEL_HELP)]
    pub model: Option<String>,
    /// What to draw.
    #[arg(long)]
    pub prompt: String,
    /// Negative prompt (the unconditional text; default "").
    #[arg(long, default_value = "")]
    pub negative: String,
    /// DDIM steps.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Classifier-free guidance scale.
    #[arg(long, default_value_t = 7.5, allow_negative_numbers = true)]
    pub guidance: f64,
    /// 0 = deterministic DDIM, 1 = DDPM-like noise at every step.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub eta: f64,
    /// Seed of the initial noise and of the η-noise (with --latents, of the η-noise only); drawn and printed when not given.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start from these latents (a safetensors file with a `latents` tensor [1, C, h, w], or with that one tensor only).
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Also write the starting latents here (to reproduce the run with --latents).
    #[arg(long)]
    pub save_latents: Option<PathBuf>,
    /// Where to write the image (PNG, JPEG, WebP, BMP, TIFF or GIF, by its extension).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

/// How many times the model's own latent side `--latents` may have: beyond it a picture needs
/// more memory than any machine has (self-attention grows with the fourth power of the side).
const MAX_LATENT_SCALE: usize = 4;

/// Read `latents` (or the file's only tensor) and check it fits the model, whose latents are
/// `side` a side.
pub fn read_latents(path: &Path, channels: usize, side: usize, dev: &candle_core::Device) -> Result<Tensor> {
    pivot::regular_file::check(path, "the latents")?;
    let map = candle_core::safetensors::load(path, dev).with_context(|| format!("{} is not a readable safetensors file", path.display()))?;
    // An inversion file has `latents` too (its whole trajectory): it is replayed, not sampled from.
    ensure!(!map.contains_key("null_embeddings"), "{} is an inversion file, not starting latents: `pivot reconstruct {} --out recon.png` replays it (and `pivot edit` edits it)", path.display(), path.display());
    let t = match (map.get("latents"), map.len()) {
        (Some(t), _) => t.clone(),
        (None, 1) => map.into_values().next().expect("one tensor"),
        _ => bail!("{} has no `latents` tensor (found: {})", path.display(), map.keys().cloned().collect::<Vec<_>>().join(", ")),
    };
    let t = if t.rank() == 3 { t.unsqueeze(0)? } else { t };
    let t = match t.dims() {
        [1, c, h, w] if *c == channels && *h > 0 && *w > 0 => t.to_dtype(DType::F32)?,
        d => bail!("{}: latents have shape {d:?}; this model needs [1, {channels}, h, w]", path.display()),
    };
    let (h, w, most) = (t.dim(2)?, t.dim(3)?, MAX_LATENT_SCALE * side);
    ensure!(h <= most && w <= most, "{}: latents of {w}×{h} are too large: this model's are {side}×{side}, and pivot samples up to {most}×{most} ({MAX_LATENT_SCALE}× a side)", path.display());
    let finite = t.flatten_all()?.to_vec1::<f32>()?.iter().all(|v| v.is_finite());
    ensure!(finite, "{}: the latents hold NaN or infinite values (a damaged file?)", path.display());
    Ok(t)
}

/// Settings of one text-to-image run.
pub struct Generate<'a> {
    pub prompt: &'a str,
    pub negative: &'a str,
    pub steps: usize,
    pub guidance: f64,
    pub eta: f64,
    pub seed: u64,
}

/// Sample from `x_t`; returns the decoded image. Progress goes to stderr.
pub fn generate(sd: &StableDiffusion, g: &Generate, x_t: &Tensor) -> Result<::image::RgbImage> {
    let (cond, enc) = sd.encode_prompt(g.prompt)?;
    if let Some(w) = enc.truncation_warning("prompt") {
        eprintln!("warning: {w}");
    }
    let (null, enc) = sd.encode_prompt(g.negative)?;
    if let Some(w) = enc.truncation_warning("negative prompt") {
        eprintln!("warning: {w}");
    }
    let schedule = Schedule::new(&sd.scheduler, g.steps)?;
    let sampler = Sampler { unet: &sd.unet, schedule: &schedule, cond: &cond, null: NullEmbeddings::Fixed(&null), guidance: g.guidance, eta: g.eta, offsets: None };
    let mut rng = Rng::new(g.seed ^ 0x5EED);
    let latents = run_with_progress(&sampler, x_t, Some(&mut rng), "sampling", "nothing was written")?;
    let decoded = sd.vae.decode(&latents)?;
    image::from_tensor(&decoded)
}

/// Run `sampler` from `x_t` with progress on stderr (`label`); a stop signal ends it between
/// steps, saying `lost`.
pub fn run_with_progress(sampler: &Sampler, x_t: &Tensor, rng: Option<&mut Rng>, label: &str, lost: &str) -> Result<Tensor> {
    let mut progress = Progress::new(label, sampler.schedule.timesteps.len());
    pivot::signals::install();
    let ran = sampler.run(x_t, &mut NoHook, rng, &mut |i, _| {
        progress.step(i + 1);
        if pivot::signals::received().is_some() {
            candle_core::bail!("stopped by a signal");
        }
        Ok(None)
    });
    progress.finish();
    super::drive::stop_if_signalled(lost)?;
    Ok(ran?)
}

/// The flags that repeat a run from saved latents `p`: with η > 0 its noise needs the seed too.
fn repeat_with(p: &Path, eta: f64, seed: u64) -> String {
    match eta > 0.0 {
        true => format!("--latents {} --seed {seed}", p.display()),
        false => format!("--latents {}", p.display()),
    }
}

pub fn initial_latents(sd: &StableDiffusion, seed: u64) -> Result<Tensor> {
    let side = sd.unet.config.sample_size;
    Ok(Rng::new(seed).randn((1, sd.latent_channels(), side, side), 0.0, 1.0, &sd.device)?)
}

pub fn run(a: &SampleArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.eta) {
        bail!("--eta must be between 0 and 1 (got {})", a.eta);
    }
    let max = pivot::edit::sample::MAX_GUIDANCE;
    ensure!(a.guidance.is_finite() && a.guidance.abs() <= max, "--guidance must be a number from -{max} to {max} (got {}); 7.5 is Stable Diffusion's default", a.guidance);
    super::outputs::check_image(&a.out, "--out")?;
    if let Some(p) = &a.save_latents {
        // An image extension here could also be --out's file, and the picture would overwrite it.
        if !super::outputs::is_safetensors(p) {
            bail!("--save-latents {}: name a .safetensors file (--latents reads it back)", p.display());
        }
        super::outputs::check_writable(p, "--save-latents")?;
    }
    let dev = device::pick(a.device.as_deref())?;
    let sd = super::device::load_model(&super::device::chosen_model(a.model.as_deref())?, &dev)?;
    // Before any note that the picture will be replaced: bad settings change nothing.
    Schedule::new(&sd.scheduler, a.steps)?;
    // With --latents and η = 0 nothing is drawn: a seed given there would be taken to matter.
    if a.latents.is_some() && a.eta == 0.0 && a.seed.is_some() {
        eprintln!("note: --seed changes nothing here: the starting latents come from --latents and --eta 0 adds no noise");
    }
    let seed = a.seed.unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0));
    let x_t = match &a.latents {
        Some(p) => {
            let t = read_latents(p, sd.latent_channels(), sd.unet.config.sample_size, &dev)?;
            let (h, w, side) = (t.dim(2)?, t.dim(3)?, sd.unet.config.sample_size);
            if (h, w) != (side, side) {
                let f = sd.vae.factor();
                eprintln!("note: {} holds {w}×{h} latents where this model's are {side}×{side}: the picture will be {}×{} pixels", p.display(), w * f, h * f);
            }
            t
        }
        None => initial_latents(&sd, seed)?,
    };
    super::outputs::say_replaced();
    if let Some(p) = &a.save_latents {
        let latents = x_t.to_device(&candle_core::Device::Cpu)?;
        let bytes = safetensors::serialize([("latents", &latents)], None).with_context(|| format!("cannot encode {}", p.display()))?;
        pivot::session::atomic::write_atomic(p, &bytes)?;
        eprintln!("wrote {} (the starting latents: {} repeats this run)", p.display(), repeat_with(p, a.eta, seed));
    }
    let g = Generate { prompt: &a.prompt, negative: &a.negative, steps: a.steps, guidance: a.guidance, eta: a.eta, seed };
    let img = generate(&sd, &g, &x_t).map_err(|e| match (e.downcast_ref::<pivot::signals::Interrupted>(), &a.save_latents) {
        (Some(_), Some(p)) => pivot::signals::Interrupted::now(format!("the image was not written ({} repeats the run)", repeat_with(p, a.eta, seed))).into(),
        _ => e,
    })?;
    super::outputs::save_image(&img, &a.out)?;
    // A seed drawn here made the picture when it drew the latents or the η-noise.
    let drawn = a.seed.is_none() && (a.latents.is_none() || a.eta > 0.0);
    match (&a.latents, drawn) {
        (_, false) => eprintln!("wrote {}", a.out.display()),
        (None, true) => eprintln!("wrote {} (seed {seed}; pass --seed {seed} to reproduce)", a.out.display()),
        (Some(p), true) => eprintln!("wrote {} (η-noise seed {seed}; pass --latents {} --seed {seed} to reproduce)", a.out.display(), p.display()),
    }
    if drawn {
        // The one result a script cannot know beforehand.
        println!("seed {seed}");
    }
    Ok(())
}
