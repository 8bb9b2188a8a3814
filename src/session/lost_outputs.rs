//! Pictures a session names but cannot show (deleted, cut short, replaced by another file): they
//! are made again from what made them, a reconstruction from the finished inversion and an edit
//! from its settings. A damaged file is moved under `trash/` first, never deleted.

use super::check::FileProblem;
use super::manifest::Job;
use super::store::Session;
use anyhow::Result;

/// One picture to make again, and the job that makes it.
struct Lost {
    problem: FileProblem,
    job: Job,
}

impl Session {
    /// Whether the file of `problem` is a picture [`Self::requeue_lost_outputs`] makes again: a
    /// reconstruction, or an edit's picture when the edit was made for the item's present caption.
    pub fn can_remake(&self, problem: &FileProblem) -> bool {
        let Some(it) = self.manifest.item(&problem.item) else { return false };
        // Both are made from the inversion: a missing or cut one must be inverted again first.
        let inversion = it.inversion.as_ref().and_then(|r| r.file.as_deref());
        if inversion.is_some_and(|f| self.file_problem(f).is_some()) {
            return false;
        }
        let file = Some(problem.file.as_str());
        it.reconstruction.as_deref() == file || it.edits.iter().any(|e| e.output.as_deref() == file && e.other_caption(&it.prompt).is_none())
    }

    /// The edit whose blend mask `problem` is about, if that is all that is wrong with the edit
    /// (its picture is sound): the mask is let go rather than the picture made again.
    fn lone_mask(&self, problem: &FileProblem) -> Option<String> {
        let it = self.manifest.item(&problem.item)?;
        let e = it.edits.iter().find(|e| e.blend_mask.as_deref() == Some(problem.file.as_str()))?;
        e.output.as_deref().is_some_and(|o| self.file_problem(o).is_none()).then(|| e.id.clone())
    }

    /// The job that makes the picture of `p` again.
    fn lost(&self, problem: FileProblem) -> Option<Lost> {
        let it = self.manifest.item(&problem.item)?;
        let job = match it.edits.iter().find(|e| e.output.as_deref() == Some(problem.file.as_str())) {
            Some(e) => Job::Edit { item: it.id.clone(), edit: e.id.clone() },
            None => Job::Invert { item: it.id.clone() },
        };
        Some(Lost { problem, job })
    }

    /// Release the reconstructions and edit pictures that are missing or damaged, queue the jobs
    /// that make them again (an edit's blend mask with it), and say so, one line each. An edit
    /// made for an old caption cannot be made again; it stays as it is (`session show` names the
    /// problem). A lost blend mask beside a sound picture is let go: making the edit again for it
    /// would put the picture at stake.
    pub fn requeue_lost_outputs(&mut self) -> Result<Vec<String>> {
        let problems = self.file_problems();
        let masks: Vec<(FileProblem, String)> = problems.iter().filter_map(|p| Some((p.clone(), self.lone_mask(p)?))).collect();
        // An edit whose picture is lost takes its mask along: it is named once, by its picture.
        let lost: Vec<Lost> = problems.into_iter().filter(|p| self.can_remake(p)).filter_map(|p| self.lost(p)).collect();
        if lost.is_empty() && masks.is_empty() {
            return Ok(Vec::new());
        }
        self.writable()?;
        for l in &lost {
            let Some(item) = self.manifest.item_mut(&l.problem.item) else { continue };
            match &l.job {
                Job::Invert { .. } => item.reconstruction = None,
                Job::Edit { edit, .. } => item.edits.iter_mut().filter(|e| &e.id == edit).for_each(|e| (e.output, e.blend_mask) = (None, None)),
            }
            self.manifest.enqueue(l.job.clone());
        }
        for (p, edit) in &masks {
            if let Some(item) = self.manifest.item_mut(&p.item) {
                item.edits.iter_mut().filter(|e| &e.id == edit).for_each(|e| e.blend_mask = None);
            }
        }
        self.commit()?;
        let mut lines = Vec::new();
        for l in lost {
            let what = match &l.job {
                Job::Invert { .. } => "its reconstruction is queued to be made again from the inversion".to_string(),
                Job::Edit { edit, .. } => format!("edit {edit} is queued to be made again"),
            };
            lines.push(format!("{}: {what}{}", l.problem, self.set_aside(&l.problem.file)?));
        }
        for (p, edit) in masks {
            let what = format!("edit {edit} keeps its picture without a blend mask (the same edit made anew has one)");
            lines.push(format!("{p}: {what}{}", self.set_aside(&p.file)?));
        }
        Ok(lines)
    }

    /// A damaged file goes under `trash/`: ` (the damaged file is kept as …)`, or nothing when
    /// there was no file.
    fn set_aside(&self, rel: &str) -> Result<String> {
        Ok(match self.move_to_trash(rel)? {
            Some(to) => format!(" (the damaged file is kept as {to})"),
            None => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::session::manifest::{EditRecord, EditSpec, Job};
    use crate::session::testing::{png, session_with_cat};

    #[test]
    fn missing_and_damaged_pictures_are_queued_again_and_old_caption_edits_left() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = |target: &str| EditSpec { target: target.into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![] };
        let made = |id: &str, target: &str, source: &str| EditRecord { output: Some(format!("edits/cat-{id}.png")), source_prompt: Some(source.into()), ..EditRecord::new(id, spec(target)) };
        let it = &mut s.manifest.items[0];
        it.reconstruction = Some("edits/cat-recon.png".into());
        it.edits = vec![made("e1", "a dog on a sofa", "a cat on a sofa"), made("e2", "a fox on a sofa", "a cat on a sofa"), made("e3", "a dog on a couch", "a cat on a couch")];
        let pic = png(3);
        s.write_file("edits/cat-e1.png", &pic[..pic.len() - 4]).unwrap();
        s.write_file("edits/cat-e2.png", &pic).unwrap();
        s.commit().unwrap();
        // The reconstruction and e3 (made for the old caption) are missing, e1 is cut short.
        let lines = s.requeue_lost_outputs().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("item cat: edits/cat-recon.png is missing: its reconstruction is queued to be made again"), "{lines:?}");
        assert!(lines[1].contains("edits/cat-e1.png is truncated") && lines[1].contains("edit e1 is queued") && lines[1].contains("kept as trash/edits/cat-e1.png"), "{lines:?}");
        assert_eq!(s.manifest.queue, [Job::Invert { item: "cat".into() }, Job::Edit { item: "cat".into(), edit: "e1".into() }]);
        let it = &s.manifest.items[0];
        assert_eq!((it.reconstruction.as_deref(), it.edits[0].output.as_deref()), (None, None));
        assert_eq!((it.edits[1].output.as_deref(), it.edits[2].output.as_deref()), (Some("edits/cat-e2.png"), Some("edits/cat-e3.png")));
        assert!(s.dir.join("trash/edits/cat-e1.png").exists() && !s.dir.join("edits/cat-e1.png").exists());
        // Committed: a reopened session has the same queue, and nothing more to do.
        let dir = s.dir.clone();
        drop(s);
        let mut s = crate::session::store::Session::open(root.path(), "trip").unwrap();
        assert_eq!(s.manifest.queue.len(), 2);
        assert!(s.requeue_lost_outputs().unwrap().is_empty());
        assert!(dir.join("edits/cat-e2.png").exists());
    }

    #[test]
    fn a_lost_blend_mask_is_let_go_and_a_lost_picture_takes_its_mask_along() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = EditSpec { target: "a dog on a sofa".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some(["cat".into(), "dog".into()]), blend_threshold: 0.3, reweight: vec![] };
        let caption = s.manifest.items[0].prompt.clone();
        let made = |id: &str| EditRecord { output: Some(format!("edits/cat-{id}.png")), blend_mask: Some(format!("edits/cat-{id}-mask.png")), source_prompt: Some(caption.clone()), ..EditRecord::new(id, spec.clone()) };
        s.manifest.items[0].edits = vec![made("e1"), made("e2")];
        // e1 lost its mask only; e2 both its picture and its mask.
        s.write_file("edits/cat-e1.png", &png(3)).unwrap();
        s.commit().unwrap();
        let lines = s.requeue_lost_outputs().unwrap();
        assert_eq!(lines.len(), 2, "one line an edit: {lines:?}");
        assert!(lines[0].contains("edits/cat-e2.png is missing: edit e2 is queued to be made again"), "{lines:?}");
        assert!(lines[1].contains("edits/cat-e1-mask.png is missing: edit e1 keeps its picture without a blend mask"), "{lines:?}");
        assert_eq!(s.manifest.queue, [Job::Edit { item: "cat".into(), edit: "e2".into() }], "the picture of e1 is not put at stake");
        let (e1, e2) = (&s.manifest.items[0].edits[0], &s.manifest.items[0].edits[1]);
        assert_eq!((e1.output.as_deref(), e1.blend_mask.as_deref()), (Some("edits/cat-e1.png"), None));
        assert_eq!((e2.output.as_deref(), e2.blend_mask.as_deref()), (None, None), "the job makes both again");
        assert!(s.requeue_lost_outputs().unwrap().is_empty(), "said once");
    }
}
