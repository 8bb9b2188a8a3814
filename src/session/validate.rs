//! What a manifest must satisfy before pivot trusts it (on load) or writes it (on commit):
//! ids are valid names and unique, and every file it points to stays inside the session folder.

use super::inversion_file::METHODS;
use super::manifest::{Manifest, EDIT_MODES, MAX_FIXED_POINT};
use super::names::{check_name, check_rel_path};
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashSet;

/// Refuse a manifest whose ids or paths could misbehave on disk.
pub fn check_manifest(m: &Manifest) -> Result<()> {
    let mut item_ids = HashSet::new();
    for item in &m.items {
        check_name("item id", &item.id)?;
        if !item_ids.insert(item.id.as_str()) {
            bail!("item id `{}` appears twice", item.id);
        }
        check_rel_path(&item.image).with_context(|| format!("image of item `{}`", item.id))?;
        // Every run needs the caption: an empty one would fail later, under another name.
        ensure!(!item.prompt.trim().is_empty(), "item `{}` has an empty caption (prompt = \"\")", item.id);
        if let Some(r) = &item.inversion {
            if let Some(file) = r.file.as_deref() {
                check_rel_path(file).with_context(|| format!("inversion file of item `{}`", item.id))?;
            }
            // Values pivot never writes (a hand edit): refused rather than run or shown as done.
            let what = |f: &str| format!("the inversion of item `{}` has {f}", item.id);
            ensure!(METHODS.contains(&r.method.as_str()), "{}", what(&format!("method = {:?} (pivot's methods: {})", r.method, METHODS.join(", "))));
            ensure!(r.steps >= 1 && r.inner >= 1, "{}", what(&format!("steps = {}, inner = {} (each at least 1)", r.steps, r.inner)));
            ensure!(r.completed_steps <= r.steps, "{}", what(&format!("completed_steps = {} of steps = {}", r.completed_steps, r.steps)));
            let max = crate::edit::sample::MAX_GUIDANCE;
            ensure!(r.guidance.is_finite() && (1.0..=max).contains(&r.guidance), "{}", what(&format!("guidance = {} (from 1 to {max})", r.guidance)));
            ensure!(r.epsilon.is_finite() && r.epsilon >= 0.0, "{}", what(&format!("epsilon = {} (a small number ≥ 0)", r.epsilon)));
            ensure!(r.fixed_point <= MAX_FIXED_POINT, "{}", what(&format!("fixed_point = {} (at most {MAX_FIXED_POINT})", r.fixed_point)));
        }
        if let Some(file) = &item.reconstruction {
            check_rel_path(file).with_context(|| format!("reconstruction of item `{}`", item.id))?;
        }
        let mut edit_ids = HashSet::new();
        for edit in &item.edits {
            check_name("edit id", &edit.id).with_context(|| format!("item `{}`", item.id))?;
            if !edit_ids.insert(edit.id.as_str()) {
                bail!("edit id `{}` appears twice in item `{}`", edit.id, item.id);
            }
            let what = |f: &str| format!("edit `{}` of item `{}` has {f}", edit.id, item.id);
            ensure!(EDIT_MODES.contains(&edit.spec.mode.as_str()), "{}", what(&format!("mode = {:?} (pivot's modes: {})", edit.spec.mode, EDIT_MODES.join(", "))));
            ensure!(!edit.spec.target.trim().is_empty(), "{}", what("an empty target prompt"));
            if let Some(out) = &edit.output {
                check_rel_path(out).with_context(|| format!("output of edit `{}` of item `{}`", edit.id, item.id))?;
            }
            if let Some(mask) = &edit.blend_mask {
                check_rel_path(mask).with_context(|| format!("blend mask of edit `{}` of item `{}`", edit.id, item.id))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::manifest::{Item, ModelRef};

    fn with_item(id: &str, image: &str) -> Manifest {
        let mut m = Manifest::new("s", ModelRef { source: "tiny".into(), hash: "h".into() }, 0);
        m.items.push(Item { id: id.into(), image: image.into(), original_path: String::new(), prompt: "p".into(), inversion: None, edits: vec![], reconstruction: None, removed_edits_up_to: 0 });
        m
    }

    #[test]
    fn escaping_ids_and_paths_and_duplicates_are_refused() {
        check_manifest(&with_item("cat", "images/cat.png")).unwrap();
        let e = format!("{:#}", check_manifest(&with_item("../cat", "images/cat.png")).unwrap_err());
        assert!(e.contains("not a valid item id"), "{e}");
        let e = format!("{:#}", check_manifest(&with_item("cat", "../../etc/passwd")).unwrap_err());
        assert!(e.contains("image of item `cat`") && e.contains("not a safe session path"), "{e}");
        let mut twice = with_item("cat", "images/cat.png");
        twice.items.push(twice.items[0].clone());
        assert!(check_manifest(&twice).unwrap_err().to_string().contains("appears twice"));
    }

    #[test]
    fn inversion_values_pivot_never_writes_are_refused() {
        use crate::session::manifest::InversionRecord;
        let good = InversionRecord { method: "null-text".into(), steps: 50, inner: 10, guidance: 7.5, epsilon: 1e-5, completed_steps: 50, file: Some("inversions/cat-50.safetensors".into()), failure: None, fixed_point: 0 };
        let with = |r: InversionRecord| {
            let mut m = with_item("cat", "images/cat.png");
            m.items[0].inversion = Some(r);
            check_manifest(&m).map_err(|e| e.to_string())
        };
        with(good.clone()).unwrap();
        assert!(with(InversionRecord { guidance: -5.0, ..good.clone() }).unwrap_err().contains("guidance = -5"));
        assert!(with(InversionRecord { completed_steps: 80, ..good.clone() }).unwrap_err().contains("completed_steps = 80 of steps = 50"));
        assert!(with(InversionRecord { inner: 0, ..good.clone() }).unwrap_err().contains("inner = 0"));
        assert!(with(InversionRecord { epsilon: f64::NAN, ..good.clone() }).unwrap_err().contains("epsilon"));
        assert!(with(InversionRecord { fixed_point: 100_000, ..good.clone() }).unwrap_err().contains("fixed_point = 100000 (at most 20)"));
        with(InversionRecord { fixed_point: 20, ..good.clone() }).unwrap();
        let mut blank = with_item("cat", "images/cat.png");
        blank.items[0].prompt = " ".into();
        assert!(check_manifest(&blank).unwrap_err().to_string().contains("item `cat` has an empty caption"));
        use crate::session::manifest::{EditRecord, EditSpec};
        let spec = EditSpec { target: "a dog".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let with_edit = |spec: EditSpec| {
            let mut m = with_item("cat", "images/cat.png");
            m.items[0].edits.push(EditRecord::new("e1", spec));
            check_manifest(&m).map_err(|e| e.to_string())
        };
        with_edit(spec.clone()).unwrap();
        assert!(with_edit(EditSpec { mode: "bogus".into(), ..spec.clone() }).unwrap_err().contains("edit `e1` of item `cat` has mode = \"bogus\" (pivot's modes: replace, refine)"));
        assert!(with_edit(EditSpec { target: String::new(), ..spec }).unwrap_err().contains("an empty target prompt"));
        let e = with(InversionRecord { method: "magic".into(), ..good }).unwrap_err();
        assert!(e.contains("method = \"magic\" (pivot's methods: null-text, npi, ddim, direct)"), "{e}");
    }
}
