//! The edit job: Prompt-to-Prompt sampling of [source, target] from the item's finished inversion,
//! the target written to the session as `edits/<item>-<edit>.png` (with blend words, their mask
//! beside it as `edits/<item>-<edit>-mask.png`).

use super::edit_spec::{edit_parts, EditParts};
use super::invert_job::{finished_inversion, Finished};
use super::jobs::{Outcome, Worker};
use super::protocol::{Event, Stage};
use crate::edit::p2p::replace::token_shift_warning;
use crate::edit::p2p::run::{run_edit_until, P2pEdit};
use crate::edit::p2p::unchanged::unchanged_warning;
use crate::edit::prox::ProxRun;
use crate::edit::sample::NullEmbeddings;
use crate::sd::image as img;
use crate::session::manifest::Job;
use anyhow::{Context, Result};

/// Where the made edit's picture and blend mask lie.
fn record_pictures(w: &Worker, item: &str, edit: &str) -> Result<Vec<std::path::PathBuf>> {
    let rec = w.session.manifest.item(item).and_then(|i| i.edits.iter().find(|e| e.id == edit)).context("the edit vanished from the session")?;
    rec.pictures().map(|p| w.session.path(p)).collect()
}

pub(super) fn run(w: &mut Worker, item_id: &str, edit_id: &str) -> Result<Outcome> {
    let job = Job::Edit { item: item_id.into(), edit: edit_id.into() };
    let Finished { item, sd, schedule, file, .. } = finished_inversion(w, item_id)?;
    let spec = item.edits.iter().find(|e| e.id == edit_id).map(|e| e.spec.clone()).with_context(|| format!("item `{item_id}` has no edit `{edit_id}`"))?;
    let EditParts { tables, blend, prox } = edit_parts(&sd, &spec, &item.prompt, file.steps(), &file.meta.method)?;
    let (source, _) = sd.encode_prompt(&item.prompt)?;
    let (target, enc) = sd.encode_prompt(&spec.target)?;
    if let Some(warning) = enc.truncation_warning(&format!("target prompt \"{}\"", spec.target)) {
        w.emit(Event::Warning(warning));
    }
    if let Some(warning) = (spec.mode == "replace").then(|| token_shift_warning(&sd.tokenizer, &item.prompt, &spec.target)).flatten() {
        w.emit(Event::Warning(warning));
    }
    if let Some(warning) = crate::edit::p2p::tables::fractions_acting_nowhere(file.steps(), spec.cross, spec.self_replace) {
        w.emit(Event::Warning(format!("edit {item_id}/{edit_id}: {warning}")));
    }
    let nulls = file.embeddings()?;
    let offsets = file.source_offsets()?;
    let e = P2pEdit { unet: &sd.unet, schedule: &schedule, source: &source, target: &target, nulls: NullEmbeddings::PerStep(&nulls), guidance: file.meta.guidance, tables, blend, offsets: offsets.as_deref(), prox: prox.map(|g| ProxRun::new(g, &file.latents, file.steps())).transpose()? };
    let total = file.steps();
    w.emit(Event::Stage { job: job.clone(), stage: Stage::Sampling, total_steps: total });
    let stop = w.interrupt.token.clone();
    let step_job = job.clone();
    let mut per_step = |i: usize, _: &candle_core::Tensor| {
        w.emit(Event::SampleStep { job: step_job.clone(), step: i + 1, total });
        w.between_steps();
    };
    let Some((latents, controller)) = run_edit_until(&e, &file.x_t()?, &mut per_step, &stop)? else {
        return Ok(Outcome::Stopped);
    };
    w.emit(Event::Stage { job, stage: Stage::Decoding, total_steps: 0 });
    let decoded = sd.vae.decode(&latents)?;
    if let Some(warning) = unchanged_warning(&decoded, e.blend.is_some(), e.prox.is_some())? {
        w.emit(Event::Warning(format!("edit {item_id}/{edit_id}: {warning}")));
    }
    let rel = format!("edits/{item_id}-{edit_id}.png");
    w.session.write_file(&rel, &img::png_bytes(&img::from_tensor(&decoded.get(1)?)?)?)?;
    // Where the blend let the edit change the photo: the target row's mask at the last step.
    let mask = match &e.blend {
        Some(b) => {
            let (pic, _) = b.last_mask_picture(&controller.store, total, (latents.dim(2)?, latents.dim(3)?), 1, sd.vae.factor())?;
            let mask_rel = format!("edits/{item_id}-{edit_id}-mask.png");
            w.session.write_file(&mask_rel, &img::png_bytes(&pic)?)?;
            Some(mask_rel)
        }
        None => None,
    };
    let record = w.session.manifest.item_mut(item_id).and_then(|i| i.edits.iter_mut().find(|e| e.id == edit_id)).context("the edit vanished from the session")?;
    record.output = Some(rel.clone());
    record.blend_mask = mask;
    record.source_prompt = Some(item.prompt.clone());
    w.commit()?;
    // Quoted as `session show` quotes them: a caption's own quotes cannot end it early.
    let summary = format!("item {item_id}, edit {edit_id}: {:?} → {:?} ({})", item.prompt, spec.target, crate::session::summary::edit_settings(&spec));
    let outputs = record_pictures(w, item_id, edit_id)?;
    Ok(Outcome::Done { summary, outputs })
}
