//! `pivot bench invert`: a whole inversion timed stage by stage, with a model or with a random
//! UNet alone.

use super::bench::{latent_side, peak_rss_gib, reset_peak_rss, unet_shape, BENCH_DEVICE_HELP};
use super::device;
use anyhow::{bail, ensure, Result};
use candle_core::DType;
use clap::Args;
use pivot::sd::rng::Rng;
use pivot::sd::tiny::{RandomPart, RandomWeights};
use pivot::sd::unet::{NoHook, UNet};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct InvertBenchArgs {
    /// The model (a diffusers folder, a hub id, or `tiny`, built-in with random weights).
    #[arg(long, default_value = "tiny")]
    pub model: String,
    #[arg(long, value_enum, default_value = "null-text")]
    pub method: super::invert::Method,
    /// Input photo (default: a generated test pattern at the model resolution).
    #[arg(long)]
    pub image: Option<std::path::PathBuf>,
    /// The photo's caption (the source prompt).
    #[arg(long, default_value = "a colourful test pattern")]
    pub prompt: String,
    /// Instead of --model: a random-weight UNet of this shape (`sd15`, `tiny`) with random prompt
    /// embeddings and photo latent — the UNet work of an inversion without text encoder or VAE.
    #[arg(long, conflicts_with_all = ["model", "image", "prompt"])]
    pub unet: Option<String>,
    /// Latent side with --unet (64 = a 512² photo).
    #[arg(long, value_parser = latent_side, requires = "unet")]
    pub latent: Option<usize>,
    /// DDIM steps (timesteps) of the inversion.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Most inner iterations per timestep (null-text only) [default: 10].
    #[arg(long)]
    pub inner: Option<usize>,
    /// Fixed-point iterations per DDIM inversion step (as `pivot invert --fixed-point`).
    #[arg(long, default_value_t = 0)]
    pub fixed_point: usize,
    #[arg(long, default_value = "cpu", help = BENCH_DEVICE_HELP)]
    pub device: String,
}

impl InvertBenchArgs {
    /// `--inner`, or the paper's 10.
    fn inner(&self) -> usize {
        self.inner.unwrap_or(10)
    }
}

/// Prints one stage row and resets the peak-RSS mark.
struct Stages {
    start: Instant,
    total: f64,
}

impl Stages {
    fn new() -> Self {
        println!("{:<22} {:>10} {:>13}", "stage", "seconds", "peak_rss_gib");
        reset_peak_rss();
        Self { start: Instant::now(), total: 0.0 }
    }

    fn row(&mut self, stage: &str) {
        self.row_on(stage, &candle_core::Device::Cpu);
    }

    /// A row after waiting for the device's queued work (GPU work is asynchronous).
    fn row_on(&mut self, stage: &str, dev: &candle_core::Device) {
        let _ = dev.synchronize();
        let s = self.start.elapsed().as_secs_f64();
        self.total += s;
        println!("{stage:<22} {s:>10.3} {:>13.2}", peak_rss_gib());
        reset_peak_rss();
        self.start = Instant::now();
    }
}

/// `bench invert --unet sd15 --latent 64`: DDIM inversion, null-text and reconstruction with a
/// random UNet (the stages that dominate an inversion), timed on any device.
fn invert_unet_only(a: &InvertBenchArgs, shape: &str) -> Result<()> {
    use pivot::edit::invert::ddim_invert;
    use pivot::edit::null_text::{NullTextConfig, NullTextInversion, NullTextOutcome, NullTextProgress};
    use pivot::edit::sample::Sampler;
    use pivot::edit::{CancelToken, Quiet};
    use pivot::sd::schedule::Schedule;
    let (cfg, calibrate) = unet_shape(shape)?;
    let dev = pivot::sd::device::pick(&a.device)?;
    let side = a.latent.unwrap_or(cfg.sample_size);
    println!("# pivot bench invert: unet={shape} (random weights, random prompt embedding and photo latent; no text encoder or VAE) latent={side}x{side} method=null-text steps={} inner={} fixed_point={} device={}", a.steps, a.inner(), a.fixed_point, device::describe(&dev));
    let mut st = Stages::new();
    let unet = UNet::load(&RandomWeights::var_builder(1, RandomPart::Unet, calibrate, DType::F32, &dev), &cfg)?;
    let schedule = Schedule::new(&pivot::sd::config::SchedulerConfig::default(), a.steps)?;
    let mut rng = Rng::new(5);
    let d = cfg.cross_attention_dim;
    let (cond, empty) = (rng.randn((1, 77, d), 0.0, 1.0, &dev)?, rng.randn((1, 77, d), 0.0, 1.0, &dev)?);
    let x0 = (rng.randn((1, cfg.in_channels, side, side), 0.0, 1.0, &dev)? * 0.8)?;
    st.row_on("load model", &dev);
    let cancel = CancelToken::new();
    let traj = ddim_invert(&unet, &schedule, &x0, &cond, a.fixed_point, &mut Quiet, &cancel)?;
    st.row_on("ddim inversion", &dev);
    let n = a.steps;
    let config = NullTextConfig { inner_steps: a.inner(), ..NullTextConfig::default() };
    let nti = NullTextInversion { unet: &unet, schedule: &schedule, trajectory: &traj, cond: &cond, config };
    let nulls = match nti.run(NullTextProgress::start(&traj[n], &empty), &mut Quiet, &mut |_: &NullTextProgress| Ok(()), &cancel)? {
        NullTextOutcome::Finished(p) => {
            println!("# inner iterations: {}", p.iterations.iter().sum::<usize>());
            p.embeddings
        }
        NullTextOutcome::Cancelled(_) => bail!("cancelled"),
    };
    st.row_on("null-text", &dev);
    let sampler = Sampler::replaying(&unet, &schedule, &cond, &nulls, 7.5, None);
    sampler.run(&traj[n], &mut NoHook, None, &mut |_, _| Ok(None))?;
    st.row_on("reconstruction", &dev);
    println!("{:<22} {:>10.3}", "total", st.total);
    Ok(())
}

pub(super) fn invert(a: &InvertBenchArgs) -> Result<()> {
    // As `pivot invert` refuses them: an option that would change nothing is a mistake to name.
    ensure!(a.inner.is_none() || a.method == super::invert::Method::NullText, "--inner is for --method null-text ({} optimises nothing)", a.method.name());
    ensure!(a.steps >= 1 && a.inner() >= 1, "--steps and --inner must be at least 1");
    ensure!(a.unet.is_none() || a.method == super::invert::Method::NullText, "--unet times a null-text inversion only; leave out --method {} (or use --model)", a.method.name());
    if a.method == super::invert::Method::NullText {
        pivot::edit::null_text::check_steps(a.steps)?;
    }
    if let Some(shape) = &a.unet {
        return invert_unet_only(a, shape);
    }
    use super::invert::Method;
    use pivot::edit::invert::ddim_invert;
    use pivot::edit::npi::{negative_prompt_embeddings, plain_embeddings};
    use pivot::edit::null_text::{NullTextConfig, NullTextInversion, NullTextOutcome, NullTextProgress};
    use pivot::edit::{CancelToken, Quiet};
    use pivot::sd::image as img;
    use pivot::sd::schedule::Schedule;
    let dev = pivot::sd::device::pick(&a.device)?;
    let inner = if a.method == super::invert::Method::NullText { format!(" inner={}", a.inner()) } else { String::new() };
    println!("# pivot bench invert: model={} method={} steps={}{inner} fixed_point={} device={}", a.model, a.method.name(), a.steps, a.fixed_point, device::describe(&dev));
    let mut st = Stages::new();
    let sd = super::device::load_model(&pivot::sd::source::ModelSource::parse(&a.model)?, &dev)?;
    let schedule = Schedule::new(&sd.scheduler, a.steps)?;
    st.row("load model");
    let side = sd.resolution() as u32;
    let photo = match &a.image {
        Some(p) => img::square(&img::load_rgb(p)?, side),
        None => img::test_pattern(side),
    };
    let x0 = sd.vae.encode(&img::to_tensor(&photo, &dev)?)?;
    st.row("vae encode");
    let (cond, _) = sd.encode_prompt(&a.prompt)?;
    let (empty, _) = sd.encode_prompt("")?;
    st.row("text encode");
    let cancel = CancelToken::new();
    let traj = ddim_invert(&sd.unet, &schedule, &x0, &cond, a.fixed_point, &mut Quiet, &cancel)?;
    st.row("ddim inversion");
    let n = a.steps;
    let mut offsets = None;
    let (nulls, recon_latent) = match a.method {
        Method::NullText => {
            let cfg = NullTextConfig { inner_steps: a.inner(), ..NullTextConfig::default() };
            let nti = NullTextInversion { unet: &sd.unet, schedule: &schedule, trajectory: &traj, cond: &cond, config: cfg };
            match nti.run(NullTextProgress::start(&traj[n], &empty), &mut Quiet, &mut |_: &NullTextProgress| Ok(()), &cancel)? {
                NullTextOutcome::Finished(p) => {
                    println!("# inner iterations: {}", p.iterations.iter().sum::<usize>());
                    (p.embeddings, Some(p.latent))
                }
                NullTextOutcome::Cancelled(_) => bail!("cancelled"),
            }
        }
        Method::Npi => (negative_prompt_embeddings(&cond, n), None),
        Method::Ddim => (plain_embeddings(&empty, n), None),
        Method::Direct => {
            offsets = Some(pivot::edit::direct::source_offsets(&pivot::edit::direct::offset_sampler(&sd.unet, &schedule, &cond, &empty, 7.5), &traj, &mut Quiet, &cancel)?);
            (plain_embeddings(&empty, n), None)
        }
    };
    st.row(a.method.name());
    let sampler = pivot::edit::sample::Sampler::replaying(&sd.unet, &schedule, &cond, &nulls, 7.5, offsets.as_deref());
    super::invert::reconstruction(&sd, &sampler, &traj[n], recon_latent.as_ref())?;
    st.row("reconstruction");
    let total = st.total;
    println!("{:<22} {total:>10.3}", "total");
    Ok(())
}
