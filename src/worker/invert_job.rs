//! The inversion job: DDIM inversion, then null-text optimisation checkpointed into the session
//! after every timestep (a stopped, crashed or killed job resumes from its last finished timestep,
//! bit-identically), or NPI / plain DDIM; then the reconstruction.

use super::jobs::{Outcome, Worker};
use super::protocol::{Event, Stage};
use crate::edit::invert::ddim_invert;
use crate::edit::metrics::{psnr, reconstruction_psnr};
use crate::edit::direct::{offset_sampler, source_offsets};
use crate::edit::npi::{negative_prompt_embeddings, plain_embeddings};
use crate::edit::null_text::{NullTextConfig, NullTextInversion, NullTextOutcome, NullTextProgress};
use crate::edit::sample::Sampler;
use crate::edit::{InnerIteration, Observer, StepDone};
use crate::sd::image as img;
use crate::sd::schedule::Schedule;
use crate::sd::unet::NoHook;
use crate::sd::StableDiffusion;
use crate::session::check::FileProblem;
use crate::session::inversion_file::{InversionFile, InversionMeta, NewerFormat};
use crate::session::manifest::{InversionRecord, Item, Job};
use anyhow::{bail, ensure, Context, Result};
use candle_core::{Device, Tensor};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;

/// Forwards the algorithms' progress as events (with the inner losses of each finished step).
struct EventObserver {
    events: Sender<Event>,
    losses: Vec<f32>,
}

impl Observer for EventObserver {
    fn inner(&mut self, it: &InnerIteration) {
        self.losses.push(it.loss);
        let _ = self.events.send(Event::Inner(it.clone()));
    }
    fn step_done(&mut self, done: &StepDone) {
        let losses = std::mem::take(&mut self.losses);
        let _ = self.events.send(Event::Timestep { done: done.clone(), losses });
    }
}

/// Progress of a phase that keeps no checkpoint (the DDIM inversion, Direct Inversion's offsets),
/// with the commands that arrive meanwhile (photos, edits, captions) taken at every step rather
/// than at the phase's end. A pause still waits for the first checkpoint: stopping here would
/// throw the phase away.
struct PhaseObserver<'a> {
    w: &'a mut Worker,
}

impl Observer for PhaseObserver<'_> {
    fn step_done(&mut self, done: &StepDone) {
        self.w.emit(Event::Timestep { done: done.clone(), losses: Vec::new() });
        self.w.between_steps();
    }
}

fn item_and_record(w: &Worker, id: &str) -> Result<(Item, InversionRecord)> {
    let item = w.session.manifest.item(id).cloned().with_context(|| w.no_item(id))?;
    let rec = item.inversion.clone().with_context(|| format!("item `{id}` has no inversion settings"))?;
    Ok((item, rec))
}

/// The item's stored model-size photo as `[1, 3, H, W]`.
fn item_image(w: &Worker, sd: &StableDiffusion, item: &Item) -> Result<(img::RgbImage, Tensor)> {
    let path = w.session.path(&item.image)?;
    let photo = match img::load_rgb(&path) {
        Ok(photo) => {
            // Put back since it was reported: the UI's list of problems is out of date.
            if w.photo_reported.borrow_mut().remove(&item.id) {
                w.emit(Event::FileProblems(w.session.file_problems()));
            }
            photo
        }
        Err(e) => {
            // Gone or damaged since the session opened: the UI marks the item and says what to do.
            w.photo_reported.borrow_mut().insert(item.id.clone());
            w.emit(Event::FileProblems(w.session.file_problems()));
            return Err(e.context(format!("item `{}`: its photo copy {} is missing or unreadable; put it back, or delete the item and add the photo again", item.id, item.image)));
        }
    };
    let side = sd.resolution() as u32;
    ensure!(photo.dimensions() == (side, side), "{} is {}×{}; the model needs {side}×{side}", path.display(), photo.width(), photo.height());
    let t = img::to_tensor(&photo, &sd.device)?;
    Ok((photo, t))
}

fn meta(w: &Worker, sd: &StableDiffusion, item: &Item, rec: &InversionRecord) -> InversionMeta {
    InversionMeta {
        prompt: item.prompt.clone(),
        model: w.session.manifest.model.source.clone(),
        model_hash: sd.fingerprint.clone(),
        method: rec.method.clone(),
        guidance: rec.guidance,
        inner_steps: rec.inner,
        epsilon: rec.epsilon,
        fixed_point: rec.fixed_point,
    }
}

/// Load the item's checkpoint and check it belongs to these settings. A damaged file, or one
/// made for other settings, is reported to the UI as a file problem (the dashboard then offers
/// to invert the item again) and fails the job with the way out.
fn load_checkpoint(w: &Worker, item: &Item, rel: &str, sd: &StableDiffusion, schedule: &Schedule, rec: &InversionRecord) -> Result<InversionFile> {
    let id = item.id.as_str();
    let path = w.session.path(rel)?;
    let restart = w.session.invert_again_hint(id);
    let f = match InversionFile::load(&path, &sd.device) {
        Ok(f) => f,
        Err(e) if e.chain().any(|c| c.is::<NewerFormat>()) => return Err(e.context(format!("the inversion checkpoint of item `{id}` was written by a newer pivot (update pivot to continue it)"))),
        Err(e) if !path.exists() => return Err(e.context(format!("the inversion checkpoint of item `{id}` ({rel}) is missing; {restart}"))),
        Err(e) if std::fs::File::open(&path).is_err() => return Err(e.context(format!("the inversion checkpoint of item `{id}` ({rel}) cannot be opened (permissions?)"))),
        Err(e) => {
            // Said as the session's check says it, so the UI shows one line for the file, not two.
            report_problem(w, id, rel, crate::session::check::unloadable_inversion(&e));
            return Err(e.context(format!("the inversion checkpoint of item `{id}` is damaged; {restart}")));
        }
    };
    if let Some(why) = settings_mismatch(&f, item, rec, sd, schedule) {
        report_problem(w, id, rel, format!("was made {why}"));
        bail!("the inversion checkpoint of item `{id}` ({}) was made {why}, so it cannot be used for this item; {restart}", path.display());
    }
    Ok(f)
}

/// How a checkpoint differs from what the item asks for (a file of another item or model put
/// in its place), if it does.
fn settings_mismatch(f: &InversionFile, item: &Item, rec: &InversionRecord, sd: &StableDiffusion, schedule: &Schedule) -> Option<String> {
    let m = &f.meta;
    let ts: Vec<i64> = schedule.timesteps.iter().map(|&t| t as i64).collect();
    if !sd.made_with(&m.model_hash) {
        Some(format!("with another model ({}, the session's is {})", m.model_hash, sd.fingerprint))
    } else if m.prompt != item.prompt {
        Some(format!("for the caption {:?}, not the item's {:?}", m.prompt, item.prompt))
    } else if m.method != rec.method || m.guidance != rec.guidance || m.inner_steps != rec.inner || m.epsilon != rec.epsilon || m.fixed_point != rec.fixed_point || f.timesteps != ts {
        // Fixed-point iterations are named only where either side has them.
        let fp = m.fixed_point.max(rec.fixed_point) > 0;
        let settings = |method: &str, guidance: f64, steps: usize, inner: usize, epsilon: f64, fixed: usize| {
            let fixed = if fp { format!(", fixed-point ×{fixed}") } else { String::new() };
            format!("{method}, guidance {guidance}, {steps} steps × {inner} inner, ε {epsilon}{fixed}")
        };
        let file = settings(&m.method, m.guidance, f.timesteps.len(), m.inner_steps, m.epsilon, m.fixed_point);
        let want = settings(&rec.method, rec.guidance, rec.steps, rec.inner, rec.epsilon, rec.fixed_point);
        Some(format!("with other settings ({file}; the item asks for {want})"))
    } else {
        None
    }
}

/// Tell the UI about a checkpoint that cannot be used, beside the problems found at open.
fn report_problem(w: &Worker, item: &str, rel: &str, why: String) {
    let mut problems = w.session.file_problems();
    problems.retain(|p| !(p.item == item && p.file == rel));
    problems.push(FileProblem { item: item.into(), file: rel.into(), why });
    w.emit(Event::FileProblems(problems));
}

/// Write `file` under a fresh name, point the manifest at it (the commit), then drop the old one.
fn save_checkpoint(w: &mut Worker, item: &str, file: &InversionFile) -> Result<()> {
    // A session that cannot be written (its folder moved away) says so, not "make room".
    w.session.writable()?;
    let rel = w.session.new_inversion_path(item);
    w.session.write_file(&rel, &file.to_bytes()?).with_context(|| {
        let kept = w.session.manifest.item(item).and_then(|i| i.inversion.as_ref()).map_or(0, |r| r.completed_steps);
        format!(
            "item `{item}`: timestep {} of {} could not be saved ({kept} stay saved); make room or allow writing in {}, then `pivot resume --session {}` continues",
            file.completed,
            file.steps(),
            w.session.dir.display(),
            w.session.name()
        )
    })?;
    let rec = w.session.manifest.item_mut(item).and_then(|i| i.inversion.as_mut()).context("the item vanished from the session")?;
    let kept_steps = rec.completed_steps;
    rec.completed_steps = file.completed;
    let old = rec.file.replace(rel.clone());
    if let Err(e) = w.commit() {
        // The manifest on disk still names the previous checkpoint: so does memory again, and
        // the new file goes, so that it neither fills a full disk nor turns up as a stray file.
        if let Some(rec) = w.session.manifest.item_mut(item).and_then(|i| i.inversion.as_mut()) {
            rec.completed_steps = kept_steps;
            rec.file = old;
        }
        let _ = w.session.remove_file(&rel);
        return Err(e);
    }
    if let Some(old) = old {
        w.session.remove_file(&old)?;
    }
    w.emit(Event::Checkpoint { item: item.into(), completed: file.completed, steps: file.steps() });
    Ok(())
}

fn progress_file(meta: &InversionMeta, latents: &Tensor, timesteps: &[i64], p: &NullTextProgress, inner: usize) -> Result<InversionFile> {
    let n = timesteps.len();
    let k = p.completed();
    let mut losses = p.losses.concat();
    losses.resize(n * inner, f32::NAN);
    let mut iterations: Vec<i64> = p.iterations.iter().map(|&i| i as i64).collect();
    iterations.resize(n, 0);
    Ok(InversionFile {
        meta: meta.clone(),
        latents: latents.clone(),
        null_embeddings: Tensor::cat(&p.embeddings, 0)?,
        losses: Tensor::from_vec(losses, (n, inner), &Device::Cpu)?,
        iterations,
        timesteps: timesteps.to_vec(),
        completed: k,
        current_latent: (k < n).then(|| p.latent.clone()),
        offsets: None,
    })
}

fn resume_progress(f: &InversionFile, empty: &Tensor) -> Result<NullTextProgress> {
    let (losses, iterations) = f.finished_losses()?;
    Ok(NullTextProgress {
        latent: f.current_latent.clone().context("the checkpoint has no current latent")?,
        initial: empty.clone(),
        embeddings: f.embeddings()?,
        losses,
        iterations,
    })
}

/// A finished inversion ready for sampling (reconstructions and edits).
pub(super) struct Finished {
    pub item: Item,
    pub rec: InversionRecord,
    pub sd: Arc<StableDiffusion>,
    pub schedule: Schedule,
    pub file: InversionFile,
}

/// The item's finished inversion, loaded and checked against the model and its settings.
pub(super) fn finished_inversion(w: &mut Worker, id: &str) -> Result<Finished> {
    let (item, rec) = item_and_record(w, id)?;
    ensure!(rec.is_done(), "item `{id}` is not inverted yet ({} of {} steps): `pivot resume --session {}` finishes it first", rec.completed_steps, rec.steps, w.session.name());
    let sd = w.model()?;
    let schedule = Schedule::new(&sd.scheduler, rec.steps)?;
    let file = load_checkpoint(w, &item, rec.file.as_deref().unwrap_or_default(), &sd, &schedule, &rec)?;
    Ok(Finished { item, rec, sd, schedule, file })
}

/// What [`write_reconstruction`] made.
pub(super) struct Reconstruction {
    pub path: PathBuf,
    pub image: img::RgbImage,
    /// Inner iterations the inversion used in all.
    pub iterations: i64,
    /// The photo's latent the inversion started from (the VAE's encoding of it).
    pub x0: Tensor,
}

pub(super) fn run(w: &mut Worker, id: &str) -> Result<Outcome> {
    let job = Job::Invert { item: id.into() };
    let (item, rec) = item_and_record(w, id)?;
    if rec.method == "null-text" && !rec.is_done() {
        // Before the DDIM inversion, which would be wasted (a hand-edited session); a finished
        // one (an older pivot's) still gets its reconstruction.
        crate::edit::null_text::check_steps(rec.steps)?;
    }
    let sd = w.model()?;
    let n = rec.steps;
    let schedule = Schedule::new(&sd.scheduler, n)?;
    let timesteps: Vec<i64> = schedule.timesteps.iter().map(|&t| t as i64).collect();
    let stop = w.interrupt.token.clone();
    w.emit(Event::Stage { job: job.clone(), stage: Stage::Encoding, total_steps: 0 });
    let (cond, _) = sd.encode_prompt(&item.prompt)?;
    let (empty, _) = sd.encode_prompt("")?;
    let saved = match &rec.file {
        Some(rel) => Some(load_checkpoint(w, &item, rel, &sd, &schedule, &rec)?),
        None => None,
    };
    let meta = meta(w, &sd, &item, &rec);
    // Whole already: only its reconstruction is made (again).
    let inverted_before = saved.as_ref().is_some_and(|f| f.is_complete());
    if !inverted_before {
        let trajectory = match &saved {
            Some(f) => (0..=n).map(|i| f.latents.narrow(0, i, 1)).collect::<candle_core::Result<Vec<_>>>()?,
            None => {
                let (_, image) = item_image(w, &sd, &item)?;
                let x0 = sd.vae.encode(&image)?;
                w.emit(Event::Stage { job: job.clone(), stage: Stage::DdimInversion, total_steps: n });
                match ddim_invert(&sd.unet, &schedule, &x0, &cond, rec.fixed_point, &mut PhaseObserver { w }, &stop) {
                    Ok(t) => t,
                    Err(_) if stop.is_cancelled() => return Ok(Outcome::Stopped),
                    Err(e) => return Err(e),
                }
            }
        };
        let latents = Tensor::cat(&trajectory, 0)?;
        let finished = match rec.method.as_str() {
            "null-text" => {
                let config = NullTextConfig { inner_steps: rec.inner, epsilon: rec.epsilon, guidance: rec.guidance };
                let nti = NullTextInversion { unet: &sd.unet, schedule: &schedule, trajectory: &trajectory, cond: &cond, config };
                let start = match &saved {
                    Some(f) => resume_progress(f, &empty)?,
                    None => NullTextProgress::start(&trajectory[n], &empty),
                };
                w.emit(Event::Stage { job: job.clone(), stage: Stage::NullText, total_steps: n });
                let mut obs = EventObserver { events: w.events(), losses: Vec::new() };
                let mut checkpoint = |p: &NullTextProgress| {
                    save_checkpoint(w, id, &progress_file(&meta, &latents, &timesteps, p, rec.inner)?)?;
                    // Commands first: a `RunQueue` read here still withdraws a pending pause.
                    w.between_steps();
                    w.interrupt.at_boundary();
                    Ok(())
                };
                match nti.run(start, &mut obs, &mut checkpoint, &stop)? {
                    NullTextOutcome::Finished(_) => None,
                    NullTextOutcome::Cancelled(_) => return Ok(Outcome::Stopped),
                }
            }
            "npi" | "ddim" => {
                let nulls = if rec.method == "npi" { negative_prompt_embeddings(&cond, n) } else { plain_embeddings(&empty, n) };
                let p = NullTextProgress { latent: trajectory[n].clone(), initial: empty.clone(), embeddings: nulls, losses: vec![vec![f32::NAN; rec.inner]; n], iterations: vec![0; n] };
                Some(progress_file(&meta, &latents, &timesteps, &p, rec.inner)?)
            }
            "direct" => {
                w.emit(Event::Stage { job: job.clone(), stage: Stage::Offsets, total_steps: n });
                let offsets = match source_offsets(&offset_sampler(&sd.unet, &schedule, &cond, &empty, rec.guidance), &trajectory, &mut PhaseObserver { w }, &stop) {
                    Ok(o) => o,
                    Err(_) if stop.is_cancelled() => return Ok(Outcome::Stopped),
                    Err(e) => return Err(e),
                };
                let p = NullTextProgress { latent: trajectory[n].clone(), initial: empty.clone(), embeddings: plain_embeddings(&empty, n), losses: vec![vec![f32::NAN; rec.inner]; n], iterations: vec![0; n] };
                let mut file = progress_file(&meta, &latents, &timesteps, &p, rec.inner)?;
                file.offsets = Some(Tensor::cat(&offsets, 0)?);
                Some(file)
            }
            other => bail!("unknown inversion method `{other}`"),
        };
        if let Some(file) = finished {
            save_checkpoint(w, id, &file)?;
        }
    }
    if stop.is_cancelled() {
        return Ok(Outcome::Stopped);
    }
    let Some(recon) = write_reconstruction(w, id)? else {
        return Ok(Outcome::Stopped);
    };
    // The reconstruction is saved: a photo that cannot be read now only costs the PSNR (failing
    // here would sample it again on every run).
    let quality = match item_image(w, &sd, &item).and_then(|(photo, _)| Ok((psnr(&recon.image, &photo)?, photo))) {
        // Beside the VAE's own round trip of the photo (its latent decoded), unless a stop came.
        Ok((q, photo)) => {
            let round_trip = (!stop.is_cancelled()).then(|| anyhow::Ok(img::from_tensor(&sd.vae.decode(&recon.x0)?)?));
            match round_trip.map(|rt| reconstruction_psnr(&recon.image, &photo, &rt?)) {
                Some(Ok(line)) => line,
                _ => format!("reconstruction PSNR {} vs the photo", crate::edit::metrics::decibels(q, 2)),
            }
        }
        Err(e) => format!("no PSNR: {e:#}"),
    };
    // Only null-text optimises: the other methods' count would always be 0.
    let plural = |k: i64, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    let inner = if rec.method == "null-text" { format!(", {}", plural(recon.iterations, "inner iteration", "inner iterations")) } else { String::new() };
    let summary = match inverted_before {
        true => format!("item {id}: reconstruction made from its {} inversion ({}); {quality}", rec.method, plural(n as i64, "step", "steps")),
        false => format!("item {id}: {} over {}{inner}; {quality}", rec.method, plural(n as i64, "step", "steps")),
    };
    Ok(Outcome::Done { summary, outputs: vec![recon.path] })
}

/// Re-sample the item from its finished inversion and store the image as its reconstruction.
/// `None` when a stop request came first (a later run re-samples: the inversion is kept).
pub(super) fn write_reconstruction(w: &mut Worker, id: &str) -> Result<Option<Reconstruction>> {
    let Finished { item, rec, sd, schedule, file } = finished_inversion(w, id)?;
    let job = Job::Invert { item: id.into() };
    w.emit(Event::Stage { job: job.clone(), stage: Stage::Sampling, total_steps: rec.steps });
    let (cond, _) = sd.encode_prompt(&item.prompt)?;
    let nulls = file.embeddings()?;
    let offsets = file.source_offsets()?;
    let sampler = Sampler::replaying(&sd.unet, &schedule, &cond, &nulls, rec.guidance, offsets.as_deref());
    let stop = w.interrupt.token.clone();
    let sampled = sampler.run(&file.x_t()?, &mut NoHook, None, &mut |i, _| {
        w.emit(Event::SampleStep { job: job.clone(), step: i + 1, total: rec.steps });
        // A step of SD1.5 on a CPU takes seconds: a stop or pause must not wait for all of them.
        w.between_steps();
        w.interrupt.at_boundary();
        if stop.is_cancelled() {
            candle_core::bail!("stopped");
        }
        Ok(None)
    });
    let latent = match sampled {
        Err(_) if stop.is_cancelled() => return Ok(None),
        other => other?,
    };
    w.emit(Event::Stage { job, stage: Stage::Decoding, total_steps: 0 });
    let image = img::from_tensor(&sd.vae.decode(&latent)?)?;
    let rel = format!("edits/{id}-recon.png");
    w.session.write_file(&rel, &img::png_bytes(&image)?)?;
    w.session.manifest.item_mut(id).context("the item vanished from the session")?.reconstruction = Some(rel.clone());
    w.commit()?;
    Ok(Some(Reconstruction { path: w.session.path(&rel)?, image, iterations: file.iterations.iter().sum(), x0: file.latents.narrow(0, 0, 1)? }))
}
