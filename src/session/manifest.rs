//! `session.toml`: what a session holds (items, their inversions and edits, the job queue).
//! Plain data; the store reads and writes it, the worker fills it in.

use serde::{Deserialize, Serialize};

/// Version of the session format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// pivot version that last wrote the manifest.
    pub app_version: String,
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub model: ModelRef,
    #[serde(default)]
    pub items: Vec<Item>,
    /// Jobs not finished yet, oldest first (`pivot resume` runs them).
    #[serde(default)]
    pub queue: Vec<Job>,
}

/// The model a session's inversions were made with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// As the user named it (`tiny`, a folder, `org/name@rev`).
    pub source: String,
    /// `StableDiffusion::fingerprint`: refuses to mix models.
    pub hash: String,
}

/// One photo + caption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    /// Session-relative path of the preprocessed model-size PNG (`images/<id>.png`).
    pub image: String,
    /// Where the photo came from (informative only).
    pub original_path: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inversion: Option<InversionRecord>,
    #[serde(default)]
    pub edits: Vec<EditRecord>,
    /// Session-relative path of the reconstruction from the finished inversion (`edits/<id>-recon.png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconstruction: Option<String>,
    /// The highest `e<N>` of the item's removed edits: their ids are not given out again (a
    /// note or an exported picture may still name them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub removed_edits_up_to: u64,
}

fn is_zero<N: Default + PartialEq>(n: &N) -> bool {
    *n == N::default()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InversionRecord {
    /// `null-text`, `npi` or `ddim`.
    pub method: String,
    pub steps: usize,
    pub inner: usize,
    pub guidance: f64,
    pub epsilon: f64,
    /// Timesteps whose null embedding is final (== steps when done).
    pub completed_steps: usize,
    /// Session-relative path of the latest checkpoint (`inversions/<id>-<gen>.safetensors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why its last run failed (cleared when it runs again), so that a relaunch still says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Fixed-point iterations per DDIM inversion step (format 5; 0 = the plain step; at most
    /// [`MAX_FIXED_POINT`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fixed_point: usize,
}

/// Fixed-point iterations beyond this cost time for nothing (a few converge): refused.
pub const MAX_FIXED_POINT: usize = 20;

impl InversionRecord {
    pub fn is_done(&self) -> bool {
        self.completed_steps >= self.steps && self.file.is_some()
    }

    /// The settings that shaped this inversion, in words (inner iterations and ε only mean
    /// something to null-text, the one method that optimises).
    pub fn settings(&self) -> String {
        let fixed = match self.fixed_point {
            0 => String::new(),
            k => format!(", fixed-point ×{k}"),
        };
        if self.method == "null-text" {
            format!("{} steps × {} inner, guidance {}, ε {}{fixed}", self.steps, self.inner, self.guidance, self.epsilon)
        } else {
            format!("{} steps, guidance {}{fixed}", self.steps, self.guidance)
        }
    }
}

/// [`EditSpec::mode`]'s values: word swap and refinement.
pub const EDIT_MODES: [&str; 2] = ["replace", "refine"];

/// How an edit was asked for (the CLI's `pivot edit` flags, stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditSpec {
    pub target: String,
    /// `replace` or `refine`.
    pub mode: String,
    /// Fraction of steps whose cross-attention is replaced.
    pub cross: f64,
    /// Fraction of steps whose self-attention is replaced.
    pub self_replace: f64,
    #[serde(default)]
    pub cross_words: Vec<WordValue>,
    /// LocalBlend words `[source words, target words]`, each side's words apart by single spaces
    /// (one side may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend: Option<[String; 2]>,
    pub blend_threshold: f64,
    #[serde(default)]
    pub reweight: Vec<WordValue>,
    /// Proximal guidance instead of plain guidance (format 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prox: Option<ProxSpec>,
    /// Words whose region LocalBlend keeps out of the edit (with `blend`; format 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend_except: Option<BlendExcept>,
}

/// LocalBlend's excluded words (the reference's `substruct_words`): the source's and the
/// target's, as `blend` holds them, and their mask threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendExcept {
    pub words: [String; 2],
    pub threshold: f64,
}

/// Proximal guidance (ProxEdit) as asked for: the CLI's `--prox*` flags, stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxSpec {
    /// The proximal operator: `l0` or `l1`.
    pub shrink: String,
    /// Quantile of the guidance values taken as the threshold, in [0, 1].
    pub quantile: f64,
    /// What late steps are pulled back to outside the edit: `inversion`, `photo`, `both` or `none`.
    pub pull: String,
    /// Share of the way back, in [0, 1].
    pub strength: f64,
    /// The pulls act at timesteps below this one.
    pub below: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordValue {
    pub word: String,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRecord {
    pub id: String,
    pub spec: EditSpec,
    /// Session-relative path of the edited image once done (`edits/<item>-<id>.png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The item's caption when the output was made (a later caption makes it an old picture);
    /// before that, the caption the edit was written for (a later one stops it from running:
    /// its words were chosen against the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_prompt: Option<String>,
    /// Why its last run failed (cleared when it runs again), so that a relaunch still says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// For an edit with blend words, once made: LocalBlend's mask of its last step
    /// (`edits/<item>-<id>-mask.png`), white where the edit could change the photo (format 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend_mask: Option<String>,
}

impl Item {
    /// Whether the item's inversion job still has work: timesteps to invert, or the
    /// reconstruction of a finished inversion (a run stopped while sampling it).
    pub fn inversion_pending(&self) -> bool {
        self.inversion.as_ref().is_some_and(|r| !r.is_done() || self.reconstruction.is_none())
    }

    /// Whether the item's inversion job is over: the inversion whole and its reconstruction made.
    pub fn is_inverted(&self) -> bool {
        self.inversion.as_ref().is_some_and(|r| r.is_done() && self.reconstruction.is_some())
    }

    /// Whether edit `e` of this item is still work: not made, and written for the caption the
    /// item has now (or before edits knew their caption).
    pub fn edit_pending(&self, e: &EditRecord) -> bool {
        e.output.is_none() && e.written_for_old(&self.prompt).is_none()
    }

    /// The edit with `spec`'s very settings made (or to be made) for the caption the item has
    /// now: another would make the same picture.
    pub fn edit_like(&self, spec: &EditSpec) -> Option<&EditRecord> {
        self.edits.iter().find(|e| e.spec == *spec && e.other_caption(&self.prompt).is_none())
    }

    /// The edit ids for a "no such edit" message ("its edits: e1, e2").
    pub fn edit_ids(&self) -> String {
        match self.edits.iter().map(|e| e.id.as_str()).collect::<Vec<_>>() {
            ids if ids.is_empty() => "it has no edits".to_string(),
            ids => format!("its edits: {}", ids.join(", ")),
        }
    }
}

impl EditRecord {
    pub fn new(id: &str, spec: EditSpec) -> Self {
        Self { id: id.into(), spec, output: None, source_prompt: None, failure: None, blend_mask: None }
    }

    /// The session files the made edit consists of: its picture and its blend mask.
    pub fn pictures(&self) -> impl Iterator<Item = &str> {
        self.output.as_deref().into_iter().chain(self.blend_mask.as_deref())
    }

    /// The caption this finished edit was made from, when it is not the item's `caption` now.
    pub fn old_caption(&self, caption: &str) -> Option<&str> {
        self.source_prompt.as_deref().filter(|p| self.output.is_some() && *p != caption)
    }

    /// The caption this unfinished edit was written for, when it is not the item's `caption` now.
    pub fn written_for_old(&self, caption: &str) -> Option<&str> {
        self.source_prompt.as_deref().filter(|p| self.output.is_none() && *p != caption)
    }

    /// [`Self::old_caption`] or [`Self::written_for_old`]: the edit belongs to another caption.
    pub fn other_caption(&self, caption: &str) -> Option<&str> {
        self.source_prompt.as_deref().filter(|p| *p != caption)
    }
}

/// A queued job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Job {
    Invert { item: String },
    Edit { item: String, edit: String },
}

impl Job {
    /// The item the job works on.
    pub fn item(&self) -> &str {
        match self {
            Job::Invert { item } | Job::Edit { item, .. } => item,
        }
    }
}

impl Manifest {
    pub fn new(name: &str, model: ModelRef, created: u64) -> Self {
        Self { format_version: FORMAT_VERSION, app_version: env!("CARGO_PKG_VERSION").into(), name: name.into(), created, model, items: Vec::new(), queue: Vec::new() }
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// The item ids for a "no such item" message ("its items: cat, dog"): ids are slugs of the
    /// photos' file names, so the user may not know them.
    pub fn item_ids(&self) -> String {
        match self.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>() {
            ids if ids.is_empty() => "it has no items yet".to_string(),
            ids => format!("its items: {}", ids.join(", ")),
        }
    }

    /// [`Self::item_ids`] for a `typed` id that is not there, pointing to the id it became
    /// when it was a photo's name (`IMG_2041.jpg` is `img-2041`).
    pub fn item_ids_for(&self, typed: &str) -> String {
        let stem = std::path::Path::new(typed).file_stem().and_then(|s| s.to_str()).unwrap_or(typed);
        let meant = [typed, stem].into_iter().map(super::names::slug).find(|id| id != typed && self.item(id).is_some());
        match meant {
            Some(id) => format!("{}; ids are photo names in lower case with - for other characters: `{id}`", self.item_ids()),
            None => self.item_ids(),
        }
    }

    pub fn item_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.items.iter_mut().find(|i| i.id == id)
    }

    /// Session-relative paths of every file the manifest refers to.
    pub fn referenced_files(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for it in &self.items {
            out.push(it.image.as_str());
            if let Some(f) = it.inversion.as_ref().and_then(|r| r.file.as_deref()) {
                out.push(f);
            }
            out.extend(it.reconstruction.as_deref());
            out.extend(it.edits.iter().flat_map(|e| e.pictures()));
        }
        out
    }

    /// Queue a job once (a job already queued is not added again).
    pub fn enqueue(&mut self, job: Job) {
        if !self.queue.contains(&job) {
            self.queue.push(job);
        }
    }

    pub fn dequeue(&mut self, job: &Job) {
        self.queue.retain(|j| j != job);
    }

    /// Whether the session still has work for `job`: an inversion not done, an edit not written.
    pub fn unfinished(&self, job: &Job) -> bool {
        match job {
            Job::Invert { item } => self.item(item).is_some_and(Item::inversion_pending),
            Job::Edit { item, edit } => self.item(item).is_some_and(|i| i.edits.iter().any(|e| &e.id == edit && i.edit_pending(e))),
        }
    }

    /// Whether `job` is an edit not made yet that was written for a caption its item no longer
    /// has: it never runs (its word swaps and re-weights were chosen against that caption).
    pub fn is_stale(&self, job: &Job) -> bool {
        let Job::Edit { item, edit } = job else { return false };
        self.item(item).is_some_and(|i| i.edits.iter().any(|e| &e.id == edit && e.written_for_old(&i.prompt).is_some()))
    }

    /// Every unfinished job of the session that is not queued (cancelled ones), inversions first.
    pub fn unqueued_work(&self) -> Vec<Job> {
        // Drawn on every frame: one pass over items and queue, not a search per job.
        let queued: std::collections::HashSet<&Job> = self.queue.iter().collect();
        let inversions = self.items.iter().filter(|i| i.inversion_pending()).map(|i| Job::Invert { item: i.id.clone() });
        let edits = self.items.iter().flat_map(|i| i.edits.iter().filter(|e| i.edit_pending(e)).map(|e| Job::Edit { item: i.id.clone(), edit: e.id.clone() }));
        inversions.chain(edits).filter(|j| !queued.contains(j)).collect()
    }

    /// Throw away an item's inversion progress and queue its inversion at `place` (0: first,
    /// before edits that wait for it; past the end: last; `None`: off the queue). Returns the
    /// checkpoint file the manifest no longer names.
    pub fn restart_inversion(&mut self, item: &str, place: Option<usize>) -> Option<String> {
        let old = self.item_mut(item).and_then(|i| i.inversion.as_mut()).and_then(|r| {
            r.completed_steps = 0;
            r.failure = None;
            r.file.take()
        });
        let job = Job::Invert { item: item.into() };
        self.dequeue(&job);
        if let Some(p) = place {
            self.queue.insert(p.min(self.queue.len()), job);
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarting_an_inversion_queues_it_first_and_releases_its_checkpoint() {
        let mut m = Manifest::new("s", ModelRef { source: "tiny".into(), hash: String::new() }, 0);
        let rec = InversionRecord { method: "null-text".into(), steps: 5, inner: 2, guidance: 7.5, epsilon: 1e-5, completed_steps: 3, file: Some("inversions/a-2.safetensors".into()), failure: None, fixed_point: 0 };
        m.items.push(Item { id: "a".into(), image: "images/a.png".into(), original_path: String::new(), prompt: "p".into(), inversion: Some(rec), edits: vec![], reconstruction: None, removed_edits_up_to: 0 });
        m.queue = vec![Job::Edit { item: "a".into(), edit: "e1".into() }, Job::Invert { item: "a".into() }];
        assert_eq!(m.restart_inversion("a", Some(0)).as_deref(), Some("inversions/a-2.safetensors"));
        let r = m.item("a").unwrap().inversion.as_ref().unwrap();
        assert_eq!((r.completed_steps, r.file.as_deref()), (0, None));
        assert_eq!(m.queue, vec![Job::Invert { item: "a".into() }, Job::Edit { item: "a".into(), edit: "e1".into() }]);
    }

    #[test]
    fn a_photo_s_name_given_as_an_item_id_points_to_its_slug() {
        let mut m = Manifest::new("s", ModelRef { source: "tiny".into(), hash: String::new() }, 0);
        m.items.push(Item { id: "img-2041".into(), image: "images/img-2041.png".into(), original_path: String::new(), prompt: "p".into(), inversion: None, edits: vec![], reconstruction: None, removed_edits_up_to: 0 });
        for typed in ["IMG_2041", "img_2041.jpg"] {
            assert_eq!(m.item_ids_for(typed), "its items: img-2041; ids are photo names in lower case with - for other characters: `img-2041`");
        }
        assert_eq!(m.item_ids_for("dog"), "its items: img-2041");
    }

    #[test]
    fn settings_name_fixed_point_iterations_only_when_used() {
        let rec = InversionRecord { method: "npi".into(), steps: 50, inner: 10, guidance: 7.5, epsilon: 1e-5, completed_steps: 0, file: None, failure: None, fixed_point: 0 };
        assert_eq!(rec.settings(), "50 steps, guidance 7.5");
        let rec = InversionRecord { fixed_point: 2, ..rec };
        assert_eq!(rec.settings(), "50 steps, guidance 7.5, fixed-point ×2");
        let stored = toml::to_string(&rec).unwrap();
        assert!(stored.contains("fixed_point = 2") && !toml::to_string(&InversionRecord { fixed_point: 0, ..rec }).unwrap().contains("fixed_point"), "{stored}");
    }
}
