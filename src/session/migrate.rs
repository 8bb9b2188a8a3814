//! Reading `session.toml` of any format version: newer ones are refused (this build cannot know
//! them), older ones are upgraded step by step in memory (the file changes at the next commit).

use super::manifest::{Manifest, FORMAT_VERSION};
use super::validate::check_manifest;
use anyhow::{anyhow, bail, Context, Error, Result};
use std::path::Path;

/// The message for a manifest pivot cannot use; it promises nothing else was touched.
fn corrupt(path: &Path, details: impl std::fmt::Display) -> Error {
    anyhow!(
        "{} is not a valid session manifest ({details}): fix or restore it; the session's images and tensors are untouched",
        path.display()
    )
}

/// Parse, upgrade and check a manifest read from `path` (named in every message).
pub fn parse_manifest(text: &str, path: &Path) -> Result<Manifest> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| corrupt(path, e.to_string().trim_end()))?;
    let version = match doc.get("format_version") {
        Some(toml::Value::Integer(v)) => *v,
        Some(_) => return Err(corrupt(path, "format_version is not an integer")),
        None => return Err(corrupt(path, "it has no format_version")),
    };
    let current = i64::from(FORMAT_VERSION);
    if version > current {
        bail!(
            "{} has session format_version {version}; this pivot reads up to {current} — update pivot (nothing was changed)",
            path.display()
        );
    }
    if version < 1 {
        return Err(corrupt(path, format!("format_version {version} does not exist")));
    }
    let mut manifest: Manifest = if version == current {
        // Straight from the text, so that errors carry line numbers.
        toml::from_str(text).map_err(|e| corrupt(path, e.to_string().trim_end()))?
    } else {
        let upgraded = upgrade(doc, version).map_err(|e| corrupt(path, format!("{e:#}")))?;
        toml::Value::Table(upgraded).try_into().map_err(|e: toml::de::Error| corrupt(path, e.to_string().trim_end()))?
    };
    manifest.format_version = FORMAT_VERSION;
    check_manifest(&manifest).map_err(|e| corrupt(path, format!("{e:#}")))?;
    Ok(manifest)
}

/// Bring a manifest of format `version` up to `FORMAT_VERSION`, one version at a time.
fn upgrade(mut doc: toml::Table, mut version: i64) -> Result<toml::Table> {
    while version < i64::from(FORMAT_VERSION) {
        doc = upgrade_one(doc, version)?;
        version += 1;
        doc.insert("format_version".into(), toml::Value::Integer(version));
    }
    Ok(doc)
}

/// One step: format `from` → `from + 1`. Each format's fixture (`tests/fixtures/sessions/vN`)
/// must keep loading through these steps.
fn upgrade_one(doc: toml::Table, from: i64) -> Result<toml::Table> {
    match (from, doc) {
        (1, doc) => v1_to_v2(doc),
        // v3 adds what v2 could not say (an inversion's failure, removed edits' ids), both
        // optional: a v2 manifest is a valid v3 one.
        (2, doc) => Ok(doc),
        // v4 adds an edit's blend mask (optional too) and Direct Inversion items (`method =
        // "direct"`), which a v3 pivot would call invalid: it is told to update instead.
        (3, doc) => Ok(doc),
        // v5 adds an edit's proximal guidance and blend-except words and an inversion's
        // fixed-point iterations (all optional), which a v4 pivot would not read.
        (4, doc) => Ok(doc),
        (from, _) => bail!("pivot has no upgrade from session format_version {from} (a bug in pivot)"),
    }
}

/// v2 records the caption each finished edit was made from (`source_prompt`). v1 did not; its
/// item's caption now is the best guess, and lets a later caption change mark the edit old.
fn v1_to_v2(mut doc: toml::Table) -> Result<toml::Table> {
    let Some(items) = doc.get_mut("items") else { return Ok(doc) };
    let items = items.as_array_mut().context("`items` is not a list")?;
    for item in items {
        let item = item.as_table_mut().context("an item is not a table")?;
        let Some(prompt) = item.get("prompt").cloned() else { continue };
        let Some(edits) = item.get_mut("edits").and_then(|e| e.as_array_mut()) else { continue };
        for edit in edits.iter_mut().filter_map(|e| e.as_table_mut()) {
            if edit.contains_key("output") {
                edit.insert("source_prompt".into(), prompt.clone());
            }
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::manifest::Job;

    fn fixture_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v1/session.toml")
    }

    /// The v1 fixture must keep loading (through the upgrade steps) in every later format.
    #[test]
    fn the_v1_fixture_loads() {
        let path = fixture_path();
        let m = parse_manifest(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(m.format_version, FORMAT_VERSION);
        assert_eq!(m.name, "holiday");
        assert_eq!(m.model.source, "runwayml/stable-diffusion-v1-5");
        assert_eq!(m.items.len(), 2);
        let cat = m.item("cat").unwrap();
        let inv = cat.inversion.as_ref().unwrap();
        assert!(inv.is_done());
        assert_eq!((inv.method.as_str(), inv.steps, inv.inner, inv.guidance, inv.epsilon), ("null-text", 50, 10, 7.5, 1e-5));
        assert_eq!(inv.file.as_deref(), Some("inversions/cat-3.safetensors"));
        let edit = &cat.edits[0].spec;
        assert_eq!(edit.target, "a photo of a tiger sitting on a sofa");
        assert_eq!(edit.blend, Some(["cat".to_string(), "tiger".to_string()]));
        assert_eq!(edit.cross_words[0].word, "tiger");
        assert_eq!(edit.reweight[0].value, 2.0);
        assert_eq!(cat.edits[0].output.as_deref(), Some("edits/cat-e1.png"));
        // v2: the finished edit was made from the caption it has now (the upgrade's guess).
        assert_eq!(cat.edits[0].source_prompt.as_deref(), Some("a photo of a cat sitting on a sofa"));
        let dog = m.item("dog").unwrap();
        assert!(!dog.inversion.as_ref().unwrap().is_done());
        assert_eq!(m.queue, vec![Job::Invert { item: "dog".into() }]);
    }

    #[test]
    fn the_v2_fixture_loads_and_knows_an_edit_of_an_old_caption() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v2/session.toml");
        let m = parse_manifest(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(m.format_version, FORMAT_VERSION);
        let cat = m.item("cat").unwrap();
        assert_eq!(cat.edits[0].old_caption(&cat.prompt), Some("a photo of a cat sitting on a sofa"));
        assert_eq!(cat.edits[0].old_caption("a photo of a cat sitting on a sofa"), None);
        assert_eq!(m.queue.len(), 2);
    }

    #[test]
    fn the_v3_fixture_loads_with_a_failed_inversion_and_retired_edit_ids() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v3/session.toml");
        let m = parse_manifest(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(m.format_version, FORMAT_VERSION);
        let dog = m.item("dog").unwrap();
        assert_eq!(dog.inversion.as_ref().unwrap().failure.as_deref(), Some("loss is not finite at t=461 (NaN): lower the guidance or check the model"));
        let cat = m.item("cat").unwrap();
        assert_eq!(cat.removed_edits_up_to, 2);
        assert_eq!(cat.edits.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e1", "e3"]);
    }

    #[test]
    fn the_v4_fixture_loads_with_a_blend_mask() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v4/session.toml");
        let m = parse_manifest(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(m.format_version, FORMAT_VERSION);
        let e1 = &m.item("cat").unwrap().edits[0];
        assert_eq!(e1.blend_mask.as_deref(), Some("edits/cat-e1-mask.png"));
        assert_eq!(e1.pictures().collect::<Vec<_>>(), ["edits/cat-e1.png", "edits/cat-e1-mask.png"]);
        assert!(m.referenced_files().contains(&"edits/cat-e1-mask.png"), "an open must not collect it");
        assert_eq!(m.item("bird").unwrap().inversion.as_ref().unwrap().method, "direct");
        // An unsafe mask path is refused like any other.
        let bad = std::fs::read_to_string(&path).unwrap().replace("edits/cat-e1-mask.png", "../mask.png");
        assert!(parse_manifest(&bad, &path).unwrap_err().to_string().contains("blend mask of edit `e1`"));
    }

    #[test]
    fn the_v5_fixture_loads_with_proximal_guidance_blend_except_words_and_fixed_point_iterations() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v5/session.toml");
        let m = parse_manifest(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        assert_eq!(m.format_version, FORMAT_VERSION);
        let cat = m.item("cat").unwrap();
        let prox: Vec<_> = cat.edits.iter().map(|e| e.spec.prox.clone().unwrap()).collect();
        assert_eq!((prox[0].shrink.as_str(), prox[0].pull.as_str(), prox[0].below), ("l0", "inversion", 400));
        assert_eq!((prox[1].shrink.as_str(), prox[1].quantile, prox[1].pull.as_str()), ("l1", 0.6, "none"));
        assert_eq!(cat.inversion.as_ref().unwrap().fixed_point, 2);
        let except = cat.edits[0].spec.blend_except.clone().unwrap();
        assert_eq!((except.words, except.threshold), (["garden".to_string(), "garden".to_string()], 0.4));
    }

    #[test]
    fn a_newer_version_is_refused_naming_both() {
        let path = Path::new("/s/session.toml");
        let e = parse_manifest("format_version = 7\nwhatever = true\n", path).unwrap_err().to_string();
        assert_eq!(e, format!("/s/session.toml has session format_version 7; this pivot reads up to {FORMAT_VERSION} — update pivot (nothing was changed)"));
    }

    #[test]
    fn garbage_and_missing_fields_are_corrupt() {
        let path = Path::new("/s/session.toml");
        let good = std::fs::read_to_string(fixture_path()).unwrap();
        for bad in ["\u{1}\u{2}garbage[[", "", "format_version = \"1\"", "format_version = 0", &good[..good.len() / 2], "format_version = 1\n"] {
            let e = parse_manifest(bad, path).unwrap_err().to_string();
            assert!(e.starts_with("/s/session.toml is not a valid session manifest (") && e.ends_with("images and tensors are untouched"), "{e}");
        }
        let escaping = good.replace("images/cat.png", "../../etc/passwd");
        let e = parse_manifest(&escaping, path).unwrap_err().to_string();
        assert!(e.contains("not a safe session path"), "{e}");
    }
}
