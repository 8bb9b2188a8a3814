//! What earlier `pivot invert --session` runs left in a session for the same photo: the item a
//! rerun continues, and items of other captions or settings worth a word.

use super::invert::InvertArgs;
use pivot::session::store::Session;
use std::path::Path;

/// The item an earlier run of the same command made (same photo file, caption and settings;
/// `--item`, when given, names it), and whether its inversion is done. A photo file whose
/// picture changed since is not that item's: it is said, and a new item is made.
pub fn earlier_item(root: &Path, name: &str, a: &InvertArgs) -> Option<(String, bool)> {
    let s = Session::open_read_only(root, name).ok()?;
    let photo = std::fs::canonicalize(&a.image).ok()?.display().to_string();
    let prompt = pivot::edit::p2p::words::single_spaced(&a.prompt);
    let same = |r: &pivot::session::manifest::InversionRecord| r.method == a.method.name() && r.steps == a.steps && r.inner == a.inner() && r.guidance == a.guidance && r.epsilon == a.epsilon() && r.fixed_point == a.fixed_point;
    let (it, r) = s.manifest.items.iter().find_map(|it| {
        let r = it.inversion.as_ref().filter(|r| same(r))?;
        let named = a.item.as_ref().is_none_or(|id| *id == it.id);
        (it.original_path == photo && it.prompt == prompt && named).then_some((it, r))
    })?;
    if !same_picture(&s, it, &a.image) {
        eprintln!("note: {} is not the picture item {} was made from (the file changed since): it is inverted as a new item", a.image.display(), it.id);
        return None;
    }
    Some((it.id.clone(), r.is_done() && it.reconstruction.is_some()))
}

/// Whether `photo`, prepared as pivot stores photos (squared to the side of the item's copy), is
/// that copy. When the copy cannot be read the path alone decides (the session says what is
/// wrong with it elsewhere).
fn same_picture(s: &Session, it: &pivot::session::manifest::Item, photo: &Path) -> bool {
    let Some(stored) = s.path(&it.image).ok().and_then(|p| image::open(p).ok()).map(|i| i.to_rgb8()) else { return true };
    match pivot::sd::image::load_photo(photo) {
        Ok((new, _)) => pivot::sd::image::square(&new, stored.width()) == stored,
        Err(_) => true,
    }
}

/// Other items of the same photo (another caption, settings or `--item`), which the new item
/// `new` does not continue: one note each, saying where that item stands.
pub fn twin_notes(root: &Path, name: &str, a: &InvertArgs, new: &str) -> Vec<String> {
    let (Ok(s), Ok(photo)) = (Session::open_read_only(root, name), std::fs::canonicalize(&a.image)) else { return Vec::new() };
    let photo = photo.display().to_string();
    let note = |it: &pivot::session::manifest::Item| {
        let r = it.inversion.as_ref()?;
        let stands = match r.is_done() {
            true => format!("its inversion is done (`pivot edit --session {name} --item {} --target TEXT` edits that one)", it.id),
            false => format!("its inversion stopped at {} of {} steps (`pivot resume --session {name}` finishes it)", r.completed_steps, r.steps),
        };
        // A long caption is cut: the note is about the item, `session show` has the caption whole.
        let caption: String = match it.prompt.chars().count() > 60 {
            true => it.prompt.chars().take(57).chain("…".chars()).collect(),
            false => it.prompt.clone(),
        };
        Some(format!("item {} has this photo too, as {caption:?} (another caption, settings or --item); {stands}", it.id))
    };
    s.manifest.items.iter().filter(|it| it.id != new && it.original_path == photo).filter_map(note).collect()
}
