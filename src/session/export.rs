//! `pivot session export`: a plain folder a person can browse — the input images, the finished
//! edits and `summary.md` — independent of pivot's own session format.

use super::store::Session;
use super::summary::summary_markdown;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Refuse a destination that exists and is not an empty folder (before anything is written).
fn check_destination(dest: &Path) -> Result<()> {
    if !dest.exists() {
        return Ok(());
    }
    if !dest.is_dir() {
        bail!("{} exists and is not a folder: export into a new or empty folder (nothing was written)", dest.display());
    }
    let mut entries = std::fs::read_dir(dest).with_context(|| format!("cannot read {}", dest.display()))?;
    if entries.next().is_some() {
        bail!("{} is not empty: export into a new or empty folder (nothing was written)", dest.display());
    }
    Ok(())
}

fn copy_into(src: &Path, dest: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::copy(src, dest).with_context(|| format!("cannot copy {} to {}", src.display(), dest.display()))?;
    written.push(dest.to_path_buf());
    Ok(())
}

/// Where an export puts each kind of file (summary.md names them so).
pub(super) mod exported {
    pub fn image(item: &str) -> String {
        format!("images/{item}.png")
    }
    pub fn reconstruction(item: &str) -> String {
        format!("reconstructions/{item}.png")
    }
    pub fn edit(item: &str, edit: &str) -> String {
        format!("edits/{item}-{edit}.png")
    }
    pub fn blend_mask(item: &str, edit: &str) -> String {
        format!("edits/{item}-{edit}-mask.png")
    }
    pub fn inversion(item: &str) -> String {
        format!("inversions/{item}.safetensors")
    }
}

/// Every (session file, exported name) pair of the session.
fn files_to_export(session: &Session) -> Vec<(&str, String)> {
    let mut out = Vec::new();
    for item in &session.manifest.items {
        out.push((item.image.as_str(), exported::image(&item.id)));
        if let Some(recon) = &item.reconstruction {
            out.push((recon.as_str(), exported::reconstruction(&item.id)));
        }
        if let Some(file) = item.inversion.as_ref().and_then(|r| r.file.as_deref()) {
            out.push((file, exported::inversion(&item.id)));
        }
        for edit in &item.edits {
            if let Some(output) = &edit.output {
                out.push((output.as_str(), exported::edit(&item.id, &edit.id)));
            }
            if let Some(mask) = &edit.blend_mask {
                out.push((mask.as_str(), exported::blend_mask(&item.id, &edit.id)));
            }
        }
    }
    out
}

/// Write `dest/images/<item>.png`, `dest/reconstructions/<item>.png` where made,
/// `dest/inversions/<item>.safetensors` (usable with `pivot edit`), `dest/edits/<item>-<edit>.png`
/// for finished edits (and `…-mask.png`, the blend mask of one with blend words), and `dest/summary.md`. Files that are missing or damaged in the session are
/// left out and listed under "Problems" in the summary. Returns the written paths.
pub fn export(session: &Session, dest: &Path) -> Result<Vec<PathBuf>> {
    check_destination(dest)?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut written = Vec::new();
    // Looked at once: the copies and the summary agree on what was left out.
    let problems = session.file_problems();
    for (rel, name) in files_to_export(session) {
        // A missing or damaged file is left out (`file_problems` names it to the user).
        if !problems.iter().any(|p| p.file == rel) {
            copy_into(&session.path(rel)?, &dest.join(name), &mut written)?;
        }
    }
    let summary = dest.join("summary.md");
    std::fs::write(&summary, summary_markdown(session, &problems)).with_context(|| format!("cannot write {}", summary.display()))?;
    written.push(summary);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::manifest::{EditRecord, EditSpec, Job, WordValue};
    use crate::session::testing::{inversion_with_iterations, png, session_with_cat};

    #[test]
    fn export_writes_images_inversions_edits_and_a_summary_naming_them() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = EditSpec {
            target: "a tiger on a sofa".into(),
            mode: "replace".into(),
            cross: 0.8,
            self_replace: 0.4,
            cross_words: vec![WordValue { word: "tiger".into(), value: 0.6 }],
            blend: Some(["cat".into(), "tiger".into()]),
            blend_threshold: 0.3,
            reweight: vec![WordValue { word: "sofa".into(), value: 2.0 }],
            prox: None,
            blend_except: None,
        };
        s.write_file("edits/cat-e1.png", &png(200)).unwrap();
        s.write_file("edits/cat-e1-mask.png", &png(255)).unwrap();
        let edits = &mut s.manifest.items[0].edits;
        // Made before the caption was "a cat on a sofa".
        let source_prompt = Some("a cat on a couch".into());
        let blend_mask = Some("edits/cat-e1-mask.png".into());
        edits.push(EditRecord { output: Some("edits/cat-e1.png".into()), source_prompt, blend_mask, ..EditRecord::new("e1", spec.clone()) });
        edits.push(EditRecord::new("e2", EditSpec { target: "a dog on a sofa".into(), ..spec }));
        s.manifest.enqueue(Job::Edit { item: "cat".into(), edit: "e2".into() });
        s.write_file("inversions/cat-1.safetensors", &inversion_with_iterations(&[2, 5]).to_bytes().unwrap()).unwrap();
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-1.safetensors".into());
        s.commit().unwrap();

        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("export");
        let written = export(&s, &dest).unwrap();
        assert_eq!(written, vec![dest.join("images/cat.png"), dest.join("inversions/cat.safetensors"), dest.join("edits/cat-e1.png"), dest.join("edits/cat-e1-mask.png"), dest.join("summary.md")]);
        assert_eq!(std::fs::read(dest.join("edits/cat-e1.png")).unwrap(), png(200));
        let md = std::fs::read_to_string(dest.join("summary.md")).unwrap();
        for needle in ["`trip`", "a cat on a sofa", "/photos/Cat.JPG", "null-text", "7 inner iterations in all", "a tiger on a sofa", "blend cat → tiger", "reweight sofa 2", "edits/cat-e1.png", "blend mask `edits/cat-e1-mask.png`", "made from the old caption \"a cat on a couch\"", "a dog on a sofa", "not rendered yet", "edit `e2` of item `cat`"] {
            assert!(md.contains(needle), "summary lacks {needle}:\n{md}");
        }
        // Every file the summary names is in the export, under the name it gives.
        for named in md.split('`').filter(|p| p.contains('/') && p.contains('.')) {
            if !named.starts_with("/photos") {
                assert!(dest.join(named).is_file(), "summary names {named}, which the export lacks");
            }
        }
        let e = export(&s, &dest).unwrap_err().to_string();
        assert!(e.contains("is not empty") && e.contains("nothing was written"), "{e}");
        // Only null-text has inner iterations to count.
        s.manifest.items[0].inversion.as_mut().unwrap().method = "ddim".into();
        let again = out.path().join("ddim");
        export(&s, &again).unwrap();
        let md = std::fs::read_to_string(again.join("summary.md")).unwrap();
        assert!(md.contains("ddim (") && md.contains("(`inversions/cat.safetensors`)") && !md.contains("inner iterations"), "{md}");
    }

    #[test]
    fn a_damaged_picture_is_left_out_and_the_summary_says_so() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let pic = png(5);
        s.write_file("edits/cat-recon.png", &pic[..pic.len() - 3]).unwrap();
        s.manifest.items[0].reconstruction = Some("edits/cat-recon.png".into());
        s.commit().unwrap();
        let dest = root.path().join("out");
        let written = export(&s, &dest).unwrap();
        assert_eq!(written, vec![dest.join("images/cat.png"), dest.join("summary.md")]);
        let md = std::fs::read_to_string(dest.join("summary.md")).unwrap();
        assert!(md.contains("`reconstructions/cat.png` (not exported: see Problems)") && md.contains("edits/cat-recon.png is truncated"), "{md}");
        assert!(md.contains("- Image: `images/cat.png`\n"), "{md}");
    }
}
