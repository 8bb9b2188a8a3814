//! `pivot invert`: a photo and its caption inverted, alone or as an item of a session.

use super::device;
use super::drive;
use super::outputs;
use super::progress::Progress;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{Device, Tensor};
use clap::{Args, ValueEnum};
use pivot::edit::invert::ddim_invert;
use pivot::session::manifest::MAX_FIXED_POINT;
use pivot::edit::metrics::reconstruction_psnr;
use pivot::edit::direct::{offset_sampler, source_offsets};
use pivot::edit::npi::{negative_prompt_embeddings, plain_embeddings};
use pivot::edit::null_text::{NullTextConfig, NullTextInversion, NullTextOutcome, NullTextProgress};
use pivot::edit::sample::Sampler;
use pivot::sd::image::{self as img, RgbImage};
use pivot::sd::schedule::Schedule;
use pivot::sd::StableDiffusion;
use pivot::session::inversion_file::{InversionFile, InversionMeta};
use pivot::session::dirs::sessions_dir;
use pivot::session::names::check_name;
use pivot::session::manifest::Job;
use pivot::session::store::Session;
use pivot::worker::{Command, NewItem};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Method {
    /// Null-text inversion: optimise one null embedding per step (best reconstruction).
    NullText,
    /// Negative-prompt inversion: the source prompt as null embedding (no optimisation).
    Npi,
    /// Plain DDIM inversion with the "" embedding (fast, reconstructs poorly under guidance).
    Ddim,
    /// Direct Inversion: DDIM plus one guided call a step for offsets that keep the source on its trajectory (exact reconstruction, no optimisation).
    Direct,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::NullText => "null-text",
            Method::Npi => "npi",
            Method::Ddim => "ddim",
            Method::Direct => "direct",
        }
    }
}

#[derive(Args, Debug)]
pub struct InvertArgs {
    /// The photo (any size or aspect: centre-cropped and resized to the model resolution).
    pub image: PathBuf,
    /// A caption of the photo (the source prompt).
    #[arg(long)]
    pub prompt: String,
    /// Model (a diffusers folder, `org/name[@revision]`, `hub:org/name` or `tiny`); default: `model` in config.toml, else tiny; with an existing --session, the session's.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, value_enum, default_value = "null-text")]
    pub method: Method,
    /// DDIM steps (timesteps) of the inversion; edits of it use the same. Null-text takes at
    /// most 100 (the paper's learning rate reaches 0 there).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Inner Adam iterations per step (null-text only) [default: 10].
    #[arg(long)]
    pub inner: Option<usize>,
    /// Classifier-free guidance scale the inversion is made for (and its edits use).
    #[arg(long, default_value_t = 7.5, allow_negative_numbers = true)]
    pub guidance: f64,
    /// Early-stop base threshold (null-text only): stop a step when loss < ε + 2e-5·i [default: 1e-5].
    #[arg(long, allow_negative_numbers = true)]
    pub epsilon: Option<f64>,
    /// Fixed-point iterations per DDIM inversion step (0: the plain step): each one more UNet
    /// call, and a trajectory that sampling retraces more closely (NPI reconstructs far better).
    #[arg(long, default_value_t = 0)]
    pub fixed_point: usize,
    /// Write the inversion here (optional with --session, which keeps it).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the reconstruction (guided sampling with the inversion) here.
    #[arg(long)]
    pub recon: Option<PathBuf>,
    /// Add the photo to this session (created when new) and invert it there, checkpointing every
    /// timestep; a stopped run continues with `pivot resume --session NAME`.
    #[arg(long)]
    pub session: Option<String>,
    /// Item id in the session (default: from the file name).
    #[arg(long, requires = "session")]
    pub item: Option<String>,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

/// The photo as the model sees it, plus its `[1, 3, H, W]` tensor.
fn prepare_image(sd: &StableDiffusion, path: &std::path::Path, (photo, about_file): (RgbImage, Vec<String>)) -> Result<(RgbImage, Tensor)> {
    let side = sd.resolution() as u32;
    let (w, h) = photo.dimensions();
    let fit = img::fit_warnings(w, h, side);
    // The warning, when there is one, says how the photo is fitted already.
    if (w, h) != (side, side) && fit.is_empty() {
        let how = if w == h { "resized" } else { "centre-cropped and resized" };
        eprintln!("note: {} is {w}×{h}; {how} to {side}×{side}", path.display());
    }
    about_file.iter().chain(&fit).for_each(|w| eprintln!("warning: {w}"));
    let square = img::square(&photo, side);
    let t = img::to_tensor(&square, &sd.device)?;
    Ok((square, t))
}

/// The reconstruction image: null-text's last latent (`last`) already is it — its final guided
/// step per timestep is the one sampling takes, bit for bit (tests/inversion.rs) — so it is only
/// decoded; the other methods sample it from x_T.
pub fn reconstruction(sd: &StableDiffusion, sampler: &Sampler, x_t: &Tensor, last: Option<&Tensor>) -> Result<RgbImage> {
    match last {
        Some(latent) => img::from_tensor(&sd.vae.decode(latent)?),
        None => Ok(reconstruct_image(sd, sampler, x_t)?.1),
    }
}

/// `sampler`'s guided sampling from x_T (per-step null embeddings, Direct Inversion's offsets), decoded.
pub fn reconstruct_image(sd: &StableDiffusion, sampler: &Sampler, x_t: &Tensor) -> Result<(Tensor, RgbImage)> {
    let latent = super::sample::run_with_progress(sampler, x_t, None, "reconstruction", "the reconstruction was not written")?;
    let image = img::from_tensor(&sd.vae.decode(&latent)?)?;
    Ok((latent, image))
}

/// A token that a stop signal (SIGTERM, SIGHUP, Ctrl-C) cancels: the run stops at its next check
/// and the CLI says what was lost instead of dying mid-line.
fn nothing_kept() -> anyhow::Error {
    pivot::signals::Interrupted::now("nothing was written; a run without --session cannot be continued (with --session NAME every finished timestep is kept and `pivot resume` continues)").into()
}

impl InvertArgs {
    /// `--inner`, or the paper's 10.
    pub(super) fn inner(&self) -> usize {
        self.inner.unwrap_or(10)
    }

    /// `--epsilon`, or the paper's 1e-5.
    pub(super) fn epsilon(&self) -> f64 {
        self.epsilon.unwrap_or(1e-5)
    }
}

fn check_args(a: &InvertArgs) -> Result<()> {
    ensure!(a.inner() >= 1, "--inner must be at least 1");
    ensure!(a.fixed_point <= MAX_FIXED_POINT, "--fixed-point {} is more than needed: a few iterations (1–3) converge; at most {MAX_FIXED_POINT}", a.fixed_point);
    ensure!(a.inner.is_none() || a.method == Method::NullText, "--inner is for --method null-text ({} optimises nothing)", a.method.name());
    ensure!(!pivot::edit::p2p::words::single_spaced(&a.prompt).is_empty(), "--prompt is empty: describe the photo (the caption is the source prompt)");
    let max = pivot::edit::sample::MAX_GUIDANCE;
    ensure!(a.guidance.is_finite() && (1.0..=max).contains(&a.guidance), "--guidance must be a number from 1 to {max} (got {}); 7.5 is Stable Diffusion's default", a.guidance);
    ensure!(a.method != Method::NullText || a.guidance != 1.0, "{}", pivot::edit::null_text::NULL_TEXT_AT_GUIDANCE_1);
    if a.method == Method::NullText {
        pivot::edit::null_text::check_steps(a.steps)?;
    }
    if a.guidance > 30.0 {
        // Allowed (it is a choice), but likely a typo: edits come out burnt at such scales.
        eprintln!("warning: --guidance {} is far above the usual 5–15 (7.5 is Stable Diffusion's default): reconstructions and edits will be poor", a.guidance);
    }
    ensure!(a.epsilon().is_finite() && a.epsilon() >= 0.0, "--epsilon must be a finite number ≥ 0 (got {})", a.epsilon());
    ensure!(a.epsilon.is_none() || a.method == Method::NullText, "--epsilon is for --method null-text ({} has no early stop)", a.method.name());
    if a.epsilon() >= 0.1 {
        // Allowed, but the step's loss is nearly always below it: each step stops after one iteration.
        eprintln!("warning: --epsilon {} is far above the paper's 1e-5: per-step losses are usually well below it, so most steps stop after their first inner iteration", a.epsilon());
    }
    match &a.out {
        None if a.session.is_none() => bail!("--out FILE.safetensors is needed (or --session NAME to keep the inversion in a session)"),
        Some(out) if !outputs::is_safetensors(out) => bail!("--out should name a .safetensors file (got {})", out.display()),
        _ => {
            if let Some(o) = &a.out {
                outputs::check_writable(o, "--out")?;
            }
            if let Some(r) = &a.recon {
                outputs::check_image(r, "--recon")?;
            }
            let outs: Vec<(&Path, &str)> = [(a.out.as_deref(), "--out"), (a.recon.as_deref(), "--recon")].into_iter().filter_map(|(p, f)| p.map(|p| (p, f))).collect();
            outputs::check_distinct(&outs, &[(&a.image, "the photo")])
        }
    }
}

pub fn invert(a: &InvertArgs) -> Result<()> {
    check_args(a)?;
    if let Some(name) = &a.session {
        return invert_in_session(a, name);
    }
    let out = a.out.as_ref().expect("checked: --out without --session");
    let dev = device::pick(a.device.as_deref())?;
    let source = device::chosen_model(a.model.as_deref())?;
    // The photo first: a typo in a loop over photos must not cost a model load (or download).
    let loaded = img::load_photo(&a.image)?;
    let sd = super::device::load_model(&source, &dev)?;
    let schedule = Schedule::new(&sd.scheduler, a.steps)?;
    let (photo, image) = prepare_image(&sd, &a.image, loaded)?;
    // One line, single spaces, as sessions keep captions.
    let prompt = pivot::edit::p2p::words::single_spaced(&a.prompt);
    let (cond, enc) = sd.encode_prompt(&prompt)?;
    if let Some(w) = enc.truncation_warning("prompt") {
        eprintln!("warning: {w}");
    }
    let (empty, _) = sd.encode_prompt("")?;
    let x0 = sd.vae.encode(&image)?;
    outputs::say_replaced();
    let cancel = super::drive::cancel_on_signal();
    let mut progress = Progress::new("ddim inversion", a.steps);
    let trajectory = ddim_invert(&sd.unet, &schedule, &x0, &cond, a.fixed_point, &mut progress, &cancel);
    progress.finish();
    let trajectory = trajectory.map_err(|e| if cancel.is_cancelled() { nothing_kept() } else { e })?;
    let n = a.steps;
    let mut offsets = None;
    let (nulls, losses, iterations, recon_latent) = match a.method {
        Method::NullText => {
            let cfg = NullTextConfig { inner_steps: a.inner(), epsilon: a.epsilon(), guidance: a.guidance };
            let nti = NullTextInversion { unet: &sd.unet, schedule: &schedule, trajectory: &trajectory, cond: &cond, config: cfg };
            let mut progress = Progress::new("null-text", n);
            let start = NullTextProgress::start(&trajectory[n], &empty);
            let done = match nti.run(start, &mut progress, &mut |_: &NullTextProgress| Ok(()), &cancel)? {
                NullTextOutcome::Finished(p) => p,
                NullTextOutcome::Cancelled(_) => {
                    progress.finish();
                    return Err(nothing_kept());
                }
            };
            progress.finish();
            let losses: Vec<f32> = done.losses.concat();
            (done.embeddings, Tensor::from_vec(losses, (n, a.inner()), &Device::Cpu)?, done.iterations.iter().map(|&i| i as i64).collect(), Some(done.latent))
        }
        Method::Npi => (negative_prompt_embeddings(&cond, n), Tensor::full(f32::NAN, (n, a.inner()), &Device::Cpu)?, vec![0; n], None),
        Method::Ddim => (plain_embeddings(&empty, n), Tensor::full(f32::NAN, (n, a.inner()), &Device::Cpu)?, vec![0; n], None),
        Method::Direct => {
            let mut progress = Progress::new("direct offsets", n);
            let found = source_offsets(&offset_sampler(&sd.unet, &schedule, &cond, &empty, a.guidance), &trajectory, &mut progress, &cancel);
            progress.finish();
            offsets = Some(found.map_err(|e| if cancel.is_cancelled() { nothing_kept() } else { e })?);
            (plain_embeddings(&empty, n), Tensor::full(f32::NAN, (n, a.inner()), &Device::Cpu)?, vec![0; n], None)
        }
    };
    let file = InversionFile {
        meta: InversionMeta { prompt, model: source.describe(), model_hash: sd.fingerprint.clone(), method: a.method.name().into(), guidance: a.guidance, inner_steps: a.inner(), epsilon: a.epsilon(), fixed_point: a.fixed_point },
        latents: Tensor::cat(&trajectory, 0)?,
        null_embeddings: Tensor::cat(&nulls, 0)?,
        losses,
        iterations,
        timesteps: schedule.timesteps.iter().map(|&t| t as i64).collect(),
        completed: n,
        current_latent: None,
        offsets: offsets.as_deref().map(|o| Tensor::cat(o, 0)).transpose()?,
    };
    file.save(out)?;
    eprintln!("wrote {}", out.display());
    let sampler = Sampler::replaying(&sd.unet, &schedule, &cond, &nulls, a.guidance, offsets.as_deref());
    let recon = reconstruction(&sd, &sampler, &trajectory[n], recon_latent.as_ref())?;
    let vae_round_trip = img::from_tensor(&sd.vae.decode(&x0)?)?;
    if let Some(p) = &a.recon {
        outputs::save_image(&recon, p)?;
        eprintln!("wrote {}", p.display());
    }
    let steps = if n == 1 { "step" } else { "steps" };
    // Only null-text optimises: the other methods' count would always be 0.
    let inner = match a.method {
        Method::NullText => match file.iterations.iter().sum::<i64>() {
            1 => ", 1 inner iteration in all".to_string(),
            k => format!(", {k} inner iterations in all"),
        },
        Method::Npi | Method::Ddim | Method::Direct => String::new(),
    };
    println!("method {}: {n} {steps}{inner}", a.method.name());
    println!("{}", reconstruction_psnr(&recon, &photo, &vae_round_trip)?);
    Ok(())
}

/// `pivot invert … --session NAME`: the same job the dashboard runs, checkpointed in the session.
/// The same command again (a run that was stopped) continues the item it made.
fn invert_in_session(a: &InvertArgs, name: &str) -> Result<()> {
    check_name("session name", name)?;
    if let Some(id) = &a.item {
        check_name("item id", id)?;
    }
    pivot::signals::install();
    // A new session gets the chosen model; an existing one keeps its own.
    let root = sessions_dir()?;
    let exists = Session::exists(&root, name);
    let earlier = exists.then(|| super::earlier_items::earlier_item(&root, name, a)).flatten();
    // A taken --item is refused before the model loads for it (the worker would refuse it too).
    if let (None, Some(id), true) = (&earlier, &a.item, exists) {
        if let Ok(s) = Session::open_read_only(&root, name) {
            if let Some(it) = s.manifest.item(id) {
                // What the id is taken by, so that a changed caption or other settings are seen.
                let caption = if it.prompt == a.prompt.trim() { String::new() } else { format!(" with the caption {:?} (this command's is {:?})", it.prompt, a.prompt.trim()) };
                let settings = it.inversion.as_ref().map(|r| format!(", inverted with {}", r.settings())).unwrap_or_default();
                bail!("session `{name}` already has an item `{id}` (of {}{caption}{settings}), not made by this command (another photo, caption or settings): give this photo another id (`--item {}`), or `pivot session show {name}` to see what it has", it.original_path, s.new_item_id(id));
            }
            s.check_id_case(id)?;
        }
    }
    // A photo that cannot be read is refused before a session is made for it (and taken away again).
    if !exists {
        img::load_photo(&a.image)?;
    }
    let create_with = if exists { None } else { Some(device::chosen_model(a.model.as_deref())?.describe()) };
    let handle = drive::start(name, create_with.as_deref(), a.model.as_deref(), a.device.as_deref())?;
    let (item, done_before) = match earlier {
        Some((item, done)) => {
            // A --model given is checked before the item is said to be done or to continue
            // (with nothing to run it would go unchecked; a run would refuse it after that line).
            if a.model.is_some() {
                if let Err(e) = drive::load_model(&handle) {
                    handle.shutdown();
                    return Err(e);
                }
            }
            let what = if done { "has its inversion" } else { "continues" };
            // Said whether or not --item was given: it was this item's id.
            let again = if a.item.is_some() { "another --item" } else { "--item NEW" };
            eprintln!("session `{name}`: item {item} (the same photo, caption and settings) {what}; {again} inverts the photo again as a new item");
            (item, done)
        }
        None => {
            let new = NewItem { image: a.image.clone(), prompt: a.prompt.clone(), id: a.item.clone(), method: a.method.name().into(), steps: a.steps, inner: a.inner(), guidance: a.guidance, epsilon: a.epsilon(), fixed_point: a.fixed_point };
            handle.send(Command::AddItem(new));
            match drive::item_added(&handle) {
                Ok(item) => {
                    eprintln!("session `{name}`: item {item}");
                    for note in super::earlier_items::twin_notes(&root, name, a, &item) {
                        eprintln!("note: {note}");
                    }
                    (item, false)
                }
                Err(e) => {
                    handle.shutdown();
                    // A session made for this photo alone is not left behind empty.
                    if !exists {
                        let _ = pivot::session::catalog::remove(&root, name);
                    }
                    return Err(e);
                }
            }
        }
    };
    outputs::say_replaced();
    let report = (!done_before).then(|| drive::run(&handle, name, Command::Run(vec![Job::Invert { item: item.clone() }])));
    handle.shutdown();
    if let Some(report) = report {
        if !report.as_ref().is_ok_and(|r| !r.done.is_empty()) {
            drive::note_unwritten(&[a.out.as_deref(), a.recon.as_deref()], name, report.as_ref().err());
        }
        if report?.done.is_empty() {
            return Ok(());
        }
    }
    let s = Session::open_read_only(&root, name)?;
    let it = s.manifest.item(&item).context("the item vanished from the session")?;
    if let (Some(out), Some(f)) = (&a.out, it.inversion.as_ref().and_then(|r| r.file.as_deref())) {
        outputs::copy_out(&s.path(f)?, out)?;
        eprintln!("wrote {}", out.display());
    }
    if let (Some(p), Some(r)) = (&a.recon, it.reconstruction.as_deref()) {
        outputs::copy_out(&s.path(r)?, p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
