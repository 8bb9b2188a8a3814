//! Fresh ids and file names for new items, edits and inversion checkpoints. A checkpoint always
//! gets a new name so that the committed one stays intact until the manifest points elsewhere.

use super::names::slug;
use super::store::Session;

/// `N` if `file_name` is `<prefix><N><suffix>`.
pub(super) fn number_between(file_name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = file_name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Session {
    /// Session-relative path of an item's input image: `images/<item>.png`.
    pub fn image_path(item: &str) -> String {
        format!("images/{item}.png")
    }

    /// Session-relative path of an edit's output: `edits/<item>-<edit>.png`.
    pub fn edit_output_path(item: &str, edit: &str) -> String {
        format!("edits/{item}-{edit}.png")
    }

    /// A fresh relative path for the next inversion checkpoint of `item`:
    /// `inversions/<item>-<gen>.safetensors`, gen one past the highest on disk or in the manifest.
    pub fn new_inversion_path(&self, item: &str) -> String {
        let prefix = format!("{item}-");
        let suffix = ".safetensors";
        let mut highest = 0;
        let in_manifest = self.manifest.item(item).and_then(|i| i.inversion.as_ref()).and_then(|r| r.file.as_deref());
        if let Some(gen) = in_manifest.and_then(|f| f.strip_prefix("inversions/")).and_then(|f| number_between(f, &prefix, suffix)) {
            highest = gen;
        }
        if let Ok(entries) = std::fs::read_dir(self.dir.join("inversions")) {
            for entry in entries.flatten() {
                if let Some(gen) = entry.file_name().to_str().and_then(|f| number_between(f, &prefix, suffix)) {
                    highest = highest.max(gen);
                }
            }
        }
        format!("inversions/{item}-{}{suffix}", highest + 1)
    }

    /// The item whose id is `id` apart from case, if any: a disk that ignores case (macOS,
    /// Windows) would give the two ids one set of files.
    pub fn item_id_clash(&self, id: &str) -> Option<&super::manifest::Item> {
        self.manifest.items.iter().find(|i| i.id.eq_ignore_ascii_case(id))
    }

    /// Refuse a new item id that an item's id differs from only in case (see
    /// [`Self::item_id_clash`]), naming a free id instead.
    pub fn check_id_case(&self, id: &str) -> anyhow::Result<()> {
        match self.item_id_clash(id) {
            Some(other) => anyhow::bail!("session `{}` has an item `{}`, which `{id}` differs from only in case: on a disk that ignores case (macOS, Windows) their files would be the same; choose another item id (`--item {}`)", self.name(), other.id, self.new_item_id(id)),
            None => Ok(()),
        }
    }

    /// A fresh item id from a suggestion (e.g. the photo's file stem): its slug, with `-2`, `-3`…
    /// appended when taken.
    pub fn new_item_id(&self, suggestion: &str) -> String {
        let base = slug(suggestion);
        let taken = |id: &str| self.item_id_clash(id).is_some();
        if !taken(&base) {
            return base;
        }
        let mut n = 2u64;
        loop {
            let id = format!("{base}-{n}");
            if !taken(&id) {
                return id;
            }
            n += 1;
        }
    }

    /// A fresh edit id for an item: `e1`, `e2`, … one past the highest `e<N>` it has or had.
    pub fn new_edit_id(&self, item: &str) -> String {
        let highest = self
            .manifest
            .item(item)
            .map(|i| i.edits.iter().filter_map(|e| number_between(&e.id, "e", "")).fold(i.removed_edits_up_to, u64::max))
            .unwrap_or(0);
        format!("e{}", highest + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::manifest::{EditRecord, EditSpec, Item};
    use crate::session::testing::session_with_cat;

    #[test]
    fn inversion_paths_move_past_the_manifest_and_the_disk() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        assert_eq!(s.new_inversion_path("cat"), "inversions/cat-1.safetensors");
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-4.safetensors".into());
        assert_eq!(s.new_inversion_path("cat"), "inversions/cat-5.safetensors");
        s.write_file("inversions/cat-9.safetensors", b"x").unwrap();
        s.write_file("inversions/cat-2-30.safetensors", b"x").unwrap(); // item `cat-2`, not `cat`
        assert_eq!(s.new_inversion_path("cat"), "inversions/cat-10.safetensors");
        assert_eq!(s.new_inversion_path("cat-2"), "inversions/cat-2-31.safetensors");
    }

    #[test]
    fn item_and_edit_ids_are_fresh() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        assert_eq!(s.new_item_id("Cat"), "cat-2");
        assert_eq!(s.new_item_id("IMG 2041"), "img-2041");
        let mut twin = s.manifest.items[0].clone();
        twin.id = "cat-2".into();
        s.manifest.items.push(twin);
        assert_eq!(s.new_item_id("cat"), "cat-3");
        // An id apart from one there only in case is refused, and never chosen.
        twin_case(&mut s);
        assert_eq!(s.new_item_id("cat"), "cat-4", "`CAT-3` would share `cat-3`'s files on macOS");
        let e = s.check_id_case("Cat").unwrap_err().to_string();
        assert!(e.contains("has an item `cat`, which `Cat` differs from only in case") && e.contains("--item cat-4"), "{e}");
        s.check_id_case("dog").unwrap();
        s.manifest.items.pop();
        assert_eq!(s.new_edit_id("cat"), "e1");
        let spec = EditSpec { target: "t".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let item: &mut Item = s.manifest.item_mut("cat").unwrap();
        item.edits.push(EditRecord::new("e1", spec.clone()));
        item.edits.push(EditRecord::new("e7", spec));
        assert_eq!(s.new_edit_id("cat"), "e8");
        assert_eq!(s.new_edit_id("nobody"), "e1");
        assert_eq!(Session::edit_output_path("cat", "e8"), "edits/cat-e8.png");
        assert_eq!(Session::image_path("cat"), "images/cat.png");
    }

    /// Adds an item `CAT-3`.
    fn twin_case(s: &mut Session) {
        let mut upper = s.manifest.items[0].clone();
        upper.id = "CAT-3".into();
        s.manifest.items.push(upper);
    }
}
