//! `pivot edit`: Prompt-to-Prompt edits of an inverted photo.

use super::device;
use super::drive;
use super::outputs;
use super::progress::Progress;
use super::inversion_model::{model_for, model_source, read_inversion};
pub use super::edit_args::{spec_of, EditArgs, Mode};
use anyhow::{bail, Result};
use pivot::edit::p2p::replace::token_shift_warning;
use pivot::edit::p2p::run::{run_edit_until, P2pEdit};
use pivot::session::dirs::sessions_dir;
use pivot::session::manifest::{EditSpec, Job};
use pivot::session::store::Session;
use pivot::worker::Command;
use pivot::worker::edit_spec::{check_prox_method, edit_plan, EditPlan};
use pivot::sd::source::ModelSource;
use pivot::sd::tokenizer::ClipTokenizer;
use pivot::edit::prox::ProxRun;
use pivot::edit::sample::NullEmbeddings;
use pivot::sd::image as img;
use pivot::sd::StableDiffusion;
use std::path::Path;

/// Every target's edit worked out with `tok` and checked against the source prompt; when one of
/// several is bad it is named, with what that cost (`nothing_done`).
fn plan_targets(a: &EditArgs, tok: &ClipTokenizer, source: &str, steps: usize, nothing_done: &str) -> Result<Vec<EditPlan>> {
    // The same target twice would make the same picture twice (and, in a session, two edits).
    let read: Vec<Vec<u32>> = a.target.iter().map(|t| tok.encode(t).ids).collect();
    if let Some(k) = (1..read.len()).find(|&k| read[..k].contains(&read[k])) {
        bail!("--target \"{}\" is given twice (as the model reads it: case and spacing do not count); each target makes one edit", pivot::edit::p2p::words::single_spaced(&a.target[k]));
    }
    a.target
        .iter()
        .map(|t| {
            let spec = spec_of(a, t)?;
            edit_plan(tok, &spec, source, steps).map_err(|e| if a.target.len() > 1 { e.context(format!("target \"{}\" ({nothing_done})", pivot::edit::p2p::words::single_spaced(t))) } else { e })
        })
        .collect()
}

/// Targets and words checked with the model's tokenizer alone, before its weights load (seconds,
/// or minutes on a slow disk); `None` for a hub model not in the cache (checked after its download).
fn plan_before_loading(a: &EditArgs, model: &ModelSource, source: &str, steps: usize, nothing_done: &str) -> Result<Option<Vec<EditPlan>>> {
    match StableDiffusion::load_tokenizer(model)? {
        Some(tok) => plan_targets(a, &tok, source, steps, nothing_done).map(Some),
        None => Ok(None),
    }
}

/// [`plan_before_loading`] for a session item; what is missing is left to the worker to name.
fn check_session_targets(a: &EditArgs, name: &str, item: &str) -> Result<()> {
    let Ok(s) = Session::open_read_only(&sessions_dir()?, name) else { return Ok(()) };
    let Some((it, rec)) = s.manifest.item(item).and_then(|it| Some((it, it.inversion.as_ref()?))) else { return Ok(()) };
    let model = match a.model.as_deref() {
        Some(given) => ModelSource::parse(given),
        None => ModelSource::parse_recorded(&s.manifest.model.source),
    };
    check_prox_method(a.prox.is_some(), &rec.method)?;
    // A damaged inversion is said before the model loads, and no edit is queued on it.
    if let Some(p) = s.inversion_file_problem(item) {
        bail!("{p}: no edit was queued{}", s.inversion_way_out(&p));
    }
    let Ok(model) = model else { return Ok(()) };
    plan_before_loading(a, &model, &it.prompt, rec.steps, "no edit was queued").map(drop)
}

/// `pivot edit --session S --item ID …`: queue one edit per target in the session and run them.
fn edit_in_session(a: &EditArgs, name: &str, item: &str) -> Result<()> {
    check_session_targets(a, name, item)?;
    let specs = a.target.iter().map(|t| spec_of(a, t)).collect::<Result<Vec<_>>>()?;
    // A rerun of the same command (after an interruption, say) takes up its edits again
    // instead of adding copies: an edit of this caption with the same settings is reused.
    // Read before the worker opens the session: it queues lost pictures again as it does.
    let earlier = earlier_edits(name, item, &specs);
    pivot::signals::install();
    let handle = drive::start(name, None, a.model.as_deref(), a.device.as_deref())?;
    // A --model given is checked (and a moved one remembered) even when every edit is made already.
    if a.model.is_some() {
        drive::load_model(&handle)?;
    }
    // The item's inversion first: the worker skips it when done and continues it when not.
    let mut jobs = vec![Job::Invert { item: item.to_string() }];
    let new: Vec<EditSpec> = specs.iter().zip(&earlier).filter(|(_, e)| e.is_none()).map(|(s, _)| s.clone()).collect();
    if !new.is_empty() {
        handle.send(Command::AddEdit { item: item.to_string(), specs: new });
    }
    let mut ids = Vec::new();
    for e in earlier {
        let id = match e {
            Some((id, state)) => {
                // A made one is this command's result (stdout, as a run's results are); a note otherwise.
                match state {
                    Earlier::Made => println!("edit {id} of {item} has this target and these settings: it is made already, its picture is used"),
                    Earlier::Lost(file) => eprintln!("edit {id} of {item} has this target and these settings: its {file} is lost or damaged, so the edit is made again"),
                    Earlier::Unmade => eprintln!("edit {id} of {item} has this target and these settings: it is taken up again, not added twice"),
                }
                id
            }
            None => drive::edit_added(&handle)?,
        };
        jobs.push(Job::Edit { item: item.to_string(), edit: id.clone() });
        ids.push(id);
    }
    outputs::say_replaced();
    let report = drive::run(&handle, name, Command::Run(jobs));
    handle.shutdown();
    // What was made is copied out even when the run stopped part-way; the rest is named.
    let s = Session::open_read_only(&sessions_dir()?, name)?;
    let made = |id: &String| s.manifest.item(item).and_then(|it| it.edits.iter().find(|e| &e.id == id)).and_then(|e| e.output.clone());
    let mask = |id: &String| s.manifest.item(item).and_then(|it| it.edits.iter().find(|e| &e.id == id)).and_then(|e| e.blend_mask.clone());
    let mut unwritten = Vec::new();
    let mut premask = Vec::new();
    for (out, kind) in [(&a.out, Picture::Edit), (&a.blend_mask, Picture::Mask)] {
        let Some(out) = out else { continue };
        for (k, id) in ids.iter().enumerate() {
            let dest = outputs::numbered(out, k, ids.len());
            match if kind == Picture::Edit { made(id) } else { mask(id) } {
                Some(rel) => {
                    outputs::copy_out(&s.path(&rel)?, &dest)?;
                    match kind {
                        Picture::Edit => eprintln!("wrote {}", dest.display()),
                        Picture::Mask => eprintln!("wrote {} (edit {id}'s blend mask{})", dest.display(), s.blend_mask_share(&rel).map(mask_share).unwrap_or_default()),
                    }
                }
                // Made by a pivot that kept no masks: running the queue would not make one.
                None if kind == Picture::Mask && made(id).is_some() => {
                    premask.push(format!("{} was not written: edit {id} was made before pivot kept blend masks; `pivot session rm {name} --item {item} --edit {id}` and this command again make it with one", dest.display()))
                }
                None => unwritten.push(dest),
            }
        }
    }
    let recon = s.manifest.item(item).and_then(|i| i.reconstruction.clone());
    match (a.source_out.as_ref(), recon) {
        // An edit's source branch is the item's reconstruction (same embeddings, no control),
        // except under proximal guidance, which shrinks and pulls the source row too: said so.
        (Some(dest), Some(recon)) => {
            outputs::copy_out(&s.path(&recon)?, dest)?;
            let prox = if a.prox.is_some() { "; with --prox the edit's own source row differs: edit the item's inversion file for that one" } else { "" };
            eprintln!("wrote {} (the item's reconstruction{prox})", dest.display());
        }
        (Some(dest), None) => unwritten.push(dest.clone()),
        (None, _) => {}
    }
    drive::note_unwritten(&unwritten.iter().map(|p| Some(p.as_path())).collect::<Vec<_>>(), name, report.as_ref().err());
    report?;
    // A file asked for and not written fails the command, for scripts.
    if !premask.is_empty() {
        bail!("{}", premask.join("; "));
    }
    Ok(())
}

/// The pictures `pivot edit --session` copies out of the session.
#[derive(Clone, Copy, PartialEq)]
enum Picture {
    Edit,
    Mask,
}

/// `: white where the edit could change the photo, 23.4% of it` for a mask's white share.
fn mask_share(share: f64) -> String {
    format!(": white where the edit could change the photo, {:.1}% of it", share * 100.0)
}

/// For each spec, an edit of `item` that has it and was made for the item's caption, if any,
/// and whether its picture is there.
fn earlier_edits(name: &str, item: &str, specs: &[EditSpec]) -> Vec<Option<(String, Earlier)>> {
    let s = sessions_dir().and_then(|root| Session::open_read_only(&root, name)).ok();
    let it = s.as_ref().and_then(|s| s.manifest.item(item));
    let problems = s.as_ref().map(|s| s.file_problems()).unwrap_or_default();
    let state = |e: &pivot::session::manifest::EditRecord| match e.output.is_some() {
        false => Earlier::Unmade,
        // A lost or damaged picture is made again by the worker (it queues those as it opens).
        true => match problems.iter().find(|p| p.item == item && e.pictures().any(|f| f == p.file)) {
            Some(p) => Earlier::Lost(p.file.clone()),
            None => Earlier::Made,
        },
    };
    specs.iter().map(|spec| it.and_then(|it| it.edit_like(spec)).map(|e| (e.id.clone(), state(e)))).collect()
}

/// Where an edit with a target's very settings stands.
enum Earlier {
    Made,
    /// Made, but a picture of it (the edit, or its blend mask) is lost or damaged: that file.
    Lost(String),
    Unmade,
}

pub fn edit(a: &EditArgs) -> Result<()> {
    let n = a.target.len();
    // The extension names the format, with one target or several (numbered) alike.
    let outs: Vec<_> = a.out.iter().flat_map(|o| (0..n).map(|k| outputs::numbered(o, k, n))).collect();
    outs.iter().try_for_each(|o| outputs::check_image(o, "--out"))?;
    if let Some(s) = &a.source_out {
        outputs::check_image(s, "--source-out")?;
    }
    let masks: Vec<_> = a.blend_mask.iter().flat_map(|o| (0..n).map(|k| outputs::numbered(o, k, n))).collect();
    masks.iter().try_for_each(|o| outputs::check_image(o, "--blend-mask"))?;
    let mut all: Vec<(&Path, &str)> = outs.iter().map(|o| (o.as_path(), "--out")).collect();
    all.extend(a.source_out.as_deref().map(|s| (s, "--source-out")));
    all.extend(masks.iter().map(|m| (m.as_path(), "--blend-mask")));
    outputs::check_distinct(&all, &[])?;
    if let Some((name, item)) = a.from.session_item()? {
        return edit_in_session(a, &name, &item);
    }
    let (inversion, out_path) = (a.from.inversion.as_ref().expect("clap: inversion or --session"), a.out.as_ref().expect("clap: --out or --session"));
    let dev = device::pick(a.device.as_deref())?;
    let file = read_inversion(inversion, &dev)?;
    check_prox_method(a.prox.is_some(), &file.meta.method)?;
    let source = file.meta.prompt.clone();
    let early = plan_before_loading(a, &model_source(&file, a.model.as_deref())?, &source, file.steps(), "nothing was edited")?;
    let (sd, schedule) = model_for(&file, inversion, a.model.as_deref(), &dev)?;
    // Every target is checked before the first (slow) edit.
    let plans = match early {
        Some(plans) => plans,
        None => plan_targets(a, &sd.tokenizer, &source, file.steps(), "nothing was edited")?,
    };
    plans.iter().try_for_each(|p| p.check_model(&sd))?;
    let all: Vec<_> = plans.iter().map(|p| Ok((p.tables(&dev)?, p.prox().cloned()))).collect::<Result<_>>()?;
    let (src_emb, _) = sd.encode_prompt(&source)?;
    let nulls = file.embeddings()?;
    let offsets = file.source_offsets()?;
    let x_t = file.x_t()?;
    outputs::say_replaced();
    if let Some(w) = pivot::edit::p2p::tables::fractions_acting_nowhere(file.steps(), a.cross, a.self_frac) {
        eprintln!("warning: {w}");
    }
    // Without a pull, what sets the pulls does nothing.
    let pull_settings = a.prox_strength != pivot::edit::prox::STRENGTH || a.prox_below != pivot::edit::prox::BELOW;
    if a.prox.is_some() && a.prox_pull == "none" && pull_settings {
        eprintln!("warning: --prox-pull none pulls nothing back: --prox-strength and --prox-below change nothing");
    }
    let cancel = super::drive::cancel_on_signal();
    for (k, (target, ((tab, blend), prox))) in a.target.iter().map(|t| pivot::edit::p2p::words::single_spaced(t)).zip(all).enumerate() {
        let target = target.as_str();
        let (tgt_emb, enc) = if target == source { (src_emb.clone(), sd.tokenizer.encode(target)) } else { sd.encode_prompt(target)? };
        if let Some(w) = enc.truncation_warning(&format!("target prompt \"{target}\"")) {
            eprintln!("warning: {w}");
        }
        if let Some(w) = (a.mode == Mode::Replace).then(|| token_shift_warning(&sd.tokenizer, &source, target)).flatten() {
            eprintln!("warning: {w}");
        }
        let e = P2pEdit { unet: &sd.unet, schedule: &schedule, source: &src_emb, target: &tgt_emb, nulls: NullEmbeddings::PerStep(&nulls), guidance: file.meta.guidance, tables: tab, blend, offsets: offsets.as_deref(), prox: prox.map(|g| ProxRun::new(g, &file.latents, file.steps())).transpose()? };
        let start = std::time::Instant::now();
        let label = if a.target.len() > 1 { format!("edit {}/{}", k + 1, a.target.len()) } else { "edit".to_string() };
        let mut progress = Progress::new(label, file.steps());
        let edited = run_edit_until(&e, &x_t, &mut |i, _| progress.step(i + 1), &cancel);
        progress.finish();
        let Some((latents, controller)) = edited? else {
            // Every target not written is named, not only the one in hand.
            let left: Vec<String> = a.target[k..].iter().map(|t| format!("\"{}\"", pivot::edit::p2p::words::single_spaced(t))).collect();
            let what = match k {
                0 => "no edit was written".to_string(),
                1 => format!("the first edit was written; not {}", left.join(", ")),
                k => format!("the first {k} edits were written; not {}", left.join(", ")),
            };
            return Err(pivot::signals::Interrupted::now(what).into());
        };
        let decoded = sd.vae.decode(&latents)?;
        let out = outputs::numbered(out_path, k, a.target.len());
        outputs::save_image(&img::from_tensor(&decoded.get(1)?)?, &out)?;
        eprintln!("{source:?} → {target:?}: wrote {} ({:.1} s)", out.display(), start.elapsed().as_secs_f64());
        if let Some(warning) = pivot::edit::p2p::unchanged::unchanged_warning(&decoded, e.blend.is_some(), e.prox.is_some())? {
            eprintln!("warning: {warning}");
        }
        if let (Some(dest), Some(b)) = (&a.blend_mask, &e.blend) {
            let (pic, share) = b.last_mask_picture(&controller.store, file.steps(), (latents.dim(2)?, latents.dim(3)?), 1, sd.vae.factor())?;
            let dest = outputs::numbered(dest, k, a.target.len());
            outputs::save_image(&pic, &dest)?;
            eprintln!("wrote {} (the blend mask{})", dest.display(), mask_share(share));
        }
        if let (Some(p), 0) = (&a.source_out, k) {
            outputs::save_image(&img::from_tensor(&decoded.get(0)?)?, p)?;
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}
