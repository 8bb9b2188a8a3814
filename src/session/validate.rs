//! What a manifest must satisfy before pivot trusts it (on load) or writes it (on commit):
//! ids are valid names and unique, and every file it points to stays inside the session folder.

use super::manifest::Manifest;
use super::names::{check_name, check_rel_path};
use anyhow::{bail, Context, Result};
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
        if let Some(file) = item.inversion.as_ref().and_then(|r| r.file.as_deref()) {
            check_rel_path(file).with_context(|| format!("inversion file of item `{}`", item.id))?;
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
            if let Some(out) = &edit.output {
                check_rel_path(out).with_context(|| format!("output of edit `{}` of item `{}`", edit.id, item.id))?;
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
        m.items.push(Item { id: id.into(), image: image.into(), original_path: String::new(), prompt: "p".into(), inversion: None, edits: vec![], reconstruction: None });
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
}
