//! The commands that change the session's contents (photos, captions, edits), checked before
//! anything is written.

use super::Worker;
use crate::edit::null_text::NULL_TEXT_AT_GUIDANCE_1;
use crate::edit::p2p::words::single_spaced;
use crate::sd::image as img;
use crate::session::inversion_file::METHODS;
use crate::session::manifest::{EditRecord, EditSpec, InversionRecord, Item, Job};
use crate::session::names::{check_name, slug};
use crate::worker::edit_spec;
use crate::worker::protocol::{Event, NewItem};
use anyhow::{ensure, Context, Result};

impl Worker {
    /// The new item's id, and what the user should know about the photo or the caption.
    pub(super) fn add_item(&mut self, mut n: NewItem) -> Result<(String, Vec<String>)> {
        // One line, single spaces: what CLIP reads anyway, and safe in summaries and the panes.
        n.prompt = single_spaced(&n.prompt);
        ensure!(!n.prompt.is_empty(), "a caption cannot be empty: it is the source prompt");
        ensure!(METHODS.contains(&n.method.as_str()), "unknown inversion method `{}` ({})", n.method, METHODS.join(", "));
        ensure!(n.steps >= 1, "the steps (--steps) must be at least 1 (got {})", n.steps);
        ensure!(n.inner >= 1, "the inner iterations (--inner) must be at least 1 (got {})", n.inner);
        ensure!(n.method != "null-text" || n.guidance != 1.0, "{NULL_TEXT_AT_GUIDANCE_1}");
        if n.method == "null-text" {
            crate::edit::null_text::check_steps(n.steps)?;
        }
        let (photo, about_file) = img::load_photo(&n.image)?;
        let sd = self.model()?;
        // Steps the scheduler cannot give are refused now, not by a job that could never run.
        crate::sd::schedule::Schedule::new(&sd.scheduler, n.steps)?;
        let side = sd.resolution() as u32;
        let mut warnings = about_file;
        let enc = sd.tokenizer.encode(&n.prompt);
        warnings.extend(enc.truncation_warning("prompt"));
        let (w, h) = photo.dimensions();
        warnings.extend(crate::sd::image::fit_warnings(w, h, side));
        let id = match &n.id {
            Some(id) => {
                check_name("item id", id)?;
                ensure!(self.session.manifest.item(id).is_none(), "session `{0}` already has an item `{id}`: choose another item id (`pivot resume --session {0}` finishes the inversions it has)", self.session.name());
                self.session.check_id_case(id)?;
                id.clone()
            }
            None => self.session.new_item_id(&slug(&n.image.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default())),
        };
        let rel = format!("images/{id}.png");
        self.session.write_file(&rel, &img::png_bytes(&img::square(&photo, side))?)?;
        let original = std::fs::canonicalize(&n.image).unwrap_or(n.image.clone());
        let inversion = InversionRecord { method: n.method, steps: n.steps, inner: n.inner, guidance: n.guidance, epsilon: n.epsilon, completed_steps: 0, file: None, failure: None, fixed_point: n.fixed_point };
        let item = Item { id: id.clone(), image: rel, original_path: original.display().to_string(), prompt: n.prompt, inversion: Some(inversion), edits: Vec::new(), reconstruction: None, removed_edits_up_to: 0 };
        self.session.manifest.items.push(item);
        self.session.manifest.enqueue(Job::Invert { item: id.clone() });
        self.commit()?;
        Ok((id, warnings))
    }

    pub(super) fn add_edits(&mut self, item: &str, mut specs: Vec<EditSpec>) -> Result<Vec<String>> {
        specs.iter_mut().for_each(|s| s.target = single_spaced(&s.target));
        let it = self.session.manifest.item(item).with_context(|| self.no_item(item))?;
        // Only a hand-edited session.toml loses the table: pivot writes it with every item.
        let rec = it.inversion.as_ref().with_context(|| format!("item `{item}` has no [items.inversion] table in session.toml (edited by hand?), so it cannot be edited; delete the item and add its photo again (`pivot session rm {} --item {item}`)", self.session.name()))?;
        let (prompt, steps, method) = (it.prompt.clone(), rec.steps, rec.method.clone());
        let sd = self.model().context("no edit was added")?;
        // Refuse a bad edit now, not after the inversion it waits for; one bad edit queues none.
        for spec in &specs {
            if let Err(e) = edit_spec::edit_plan(&sd.tokenizer, spec, &prompt, steps).and_then(|p| p.check_method(&method)) {
                return Err(if specs.len() > 1 { e.context(format!("target \"{}\" (no edit was queued)", spec.target)) } else { e });
            }
        }
        let mut ids = Vec::new();
        for spec in specs {
            let id = self.session.new_edit_id(item);
            let it = self.session.manifest.item_mut(item).expect("checked above");
            // The caption its words were chosen against: a new caption stops it from running.
            it.edits.push(EditRecord { source_prompt: Some(prompt.clone()), ..EditRecord::new(&id, spec) });
            self.session.manifest.enqueue(Job::Edit { item: item.into(), edit: id.clone() });
            ids.push(id);
        }
        self.commit()?;
        Ok(ids)
    }

    /// Why edit `job` must not run: it was written for a caption the item no longer has (its
    /// word swaps and re-weights were chosen against that one).
    pub(super) fn stale_edit(&self, job: &Job) -> Option<String> {
        let Job::Edit { item, edit } = job else { return None };
        let it = self.session.manifest.item(item)?;
        let old = it.edits.iter().find(|e| &e.id == edit)?.written_for_old(&it.prompt)?;
        Some(format!("edit {item}/{edit} was written for the caption \"{old}\", and the caption is now \"{}\": make a new edit from its settings (e in the dashboard) or delete it", it.prompt))
    }

    /// "session `s` has no item `x` (its items: a, b)".
    pub fn no_item(&self, item: &str) -> String {
        format!("session `{}` has no item `{item}` ({})", self.session.name(), self.session.manifest.item_ids_for(item))
    }

    pub(super) fn item_index(&self, item: &str) -> Result<usize> {
        self.session.manifest.items.iter().position(|i| i.id == item).with_context(|| self.no_item(item))
    }

    pub(super) fn remove_item(&mut self, item: &str) -> Result<()> {
        let removed = self.session.remove_item(item);
        // The manifest may have changed before a file could not be deleted.
        self.emit_manifest();
        removed?;
        self.emit(Event::Warning(format!("removed {item}")));
        Ok(())
    }

    /// Keep why an edit's run failed in the session (`None`: it runs again), so that a relaunch
    /// and `session show` still say it. Best effort: the run goes on either way.
    pub(super) fn note_failure(&mut self, job: &Job, why: Option<String>) {
        let item = self.session.manifest.item_mut(job.item());
        let noted = match job {
            Job::Edit { edit, .. } => item.and_then(|i| i.edits.iter_mut().find(|e| &e.id == edit)).map(|e| &mut e.failure),
            Job::Invert { .. } => item.and_then(|i| i.inversion.as_mut()).map(|r| &mut r.failure),
        };
        let Some(noted) = noted.filter(|n| **n != why) else { return };
        *noted = why;
        if let Err(e) = self.commit() {
            let what = match job {
                Job::Edit { item, edit } => format!("edit {item}/{edit}"),
                Job::Invert { item } => format!("the inversion of {item}"),
            };
            self.emit(Event::Warning(format!("could not note the state of {what} in the session: {e:#}")));
        }
    }

    pub(super) fn remove_edit(&mut self, item: &str, edit: &str) -> Result<()> {
        let removed = self.session.remove_edit(item, edit);
        self.emit_manifest();
        removed?;
        self.emit(Event::Warning(format!("removed edit {item}/{edit}")));
        Ok(())
    }

    pub(super) fn set_prompt(&mut self, item: &str, prompt: String) -> Result<()> {
        let prompt = single_spaced(&prompt);
        ensure!(!prompt.is_empty(), "a caption cannot be empty");
        if let Some(sd) = &self.sd {
            let enc = sd.tokenizer.encode(&prompt);
            if let Some(w) = enc.truncation_warning("new caption") {
                self.emit(Event::Warning(w));
            }
        }
        let at = self.item_index(item)?;
        let it = &mut self.session.manifest.items[at];
        if it.prompt == prompt {
            // The same caption: its inversion is still the right one.
            return Ok(());
        }
        let finished = it.inversion.as_ref().is_some_and(|r| r.is_done());
        it.prompt = prompt;
        // Edits written for the old caption will not run: off the queue now, not failed later.
        let man = &mut self.session.manifest;
        let stale: Vec<Job> = man.queue.iter().filter(|j| man.is_stale(j)).cloned().collect();
        man.queue.retain(|j| !stale.contains(j));
        // Starts over: a queued inversion keeps its place, a finished one (thrown away when the
        // user said yes) joins the end of the queue; a cancelled one waits to be asked for.
        let queue = &self.session.manifest.queue;
        let place = queue.iter().position(|j| *j == Job::Invert { item: item.into() }).or(finished.then_some(queue.len()));
        self.restart_inversion_at(item, place).map(|_| ())
    }

    /// A new caption for the item of the job in hand: that job stops at its next check (what it
    /// computes is for the old caption) and [`Self::recaption`] sets the caption after it.
    pub(super) fn recaption_after_stop(&mut self, item: String, prompt: String) {
        let Some(plan) = self.run.as_mut() else { return };
        let Some(job) = plan.current.clone().filter(|j| j.item() == item) else { return };
        plan.recaptions.push((job, prompt));
        self.interrupt.request(crate::worker::StopReason::Stop);
    }

    /// Set the captions asked for while their items' jobs ran (those jobs have stopped). Returns
    /// whether any was set: the run then goes on.
    pub(super) fn recaption(&mut self, recaptions: Vec<(Job, String)>) -> bool {
        let mut any = false;
        for (job, prompt) in recaptions {
            let item = job.item().to_string();
            match self.set_prompt(&item, prompt) {
                Ok(()) => {
                    self.emit(Event::Recaptioned { item });
                    any = true;
                }
                Err(e) => {
                    // The job stopped for nothing: it waits on the queue, as after a pause.
                    self.emit(Event::Failed { job: None, message: crate::error_text::said(&e) });
                    self.emit(Event::Paused { job });
                }
            }
        }
        any
    }

    /// The item's inversion from the first timestep, first in the queue: its checkpoint and
    /// reconstruction go.
    pub(super) fn restart_inversion(&mut self, item: &str) -> Result<()> {
        // A photo that cannot be read again would cost the item its inversion for nothing.
        self.session.check_restart(item)?;
        let said = self.restart_inversion_at(item, Some(0))?;
        // Said only here: after a new caption the dashboard's own message says what happened.
        self.emit(Event::Note(said));
        Ok(())
    }

    /// [`Self::restart_inversion`] with the inversion queued at `place` (`None`: not queued);
    /// returns what was thrown away, in words.
    fn restart_inversion_at(&mut self, item: &str, place: Option<usize>) -> Result<String> {
        // (On an error the worker reads the saved manifest again and shows that.)
        let said = self.session.restart_at(item, place)?;
        self.emit_manifest();
        Ok(said)
    }
}
