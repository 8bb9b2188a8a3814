//! `pivot session rm NAME --item ITEM [--edit EDIT]`: one item or one edit out of a session;
//! `pivot session rm NAME --trash`: what the session set aside under trash/.

use anyhow::{bail, Context, Result};
use pivot::session::store::Session;
use std::io::IsTerminal;
use std::path::Path;

/// Remove item `item` of session `name`, or only its edit `edit`, after asking (unless `yes`).
pub fn remove_part(root: &Path, name: &str, item: &str, edit: Option<&str>, yes: bool) -> Result<()> {
    let mut s = Session::open(root, name)?;
    let what = describe(&s, item, edit)?;
    if !yes {
        let again = match edit {
            Some(e) => format!("pivot session rm {name} --item {item} --edit {e} --yes"),
            None => format!("pivot session rm {name} --item {item} --yes"),
        };
        if !confirmed(&what, &again)? {
            println!("kept {}", edit.map_or(format!("item `{item}`"), |e| format!("edit `{e}` of item `{item}`")));
            return Ok(());
        }
    }
    match edit {
        Some(e) => s.remove_edit(item, e)?,
        None => s.remove_item(item)?,
    }
    println!("removed {}", edit.map_or(format!("item `{item}`"), |e| format!("edit `{e}` of item `{item}`")));
    Ok(())
}

/// The id of session `name`'s only item (an edit named without --item is one of its).
pub fn only_item(root: &Path, name: &str) -> Result<String> {
    let s = Session::open_read_only(root, name)?;
    match s.manifest.items.as_slice() {
        [only] => Ok(only.id.clone()),
        [] => bail!("session `{name}` has no items, so no edits"),
        items => bail!("name the edit's item with --item: session `{name}` has {} items ({})", items.len(), s.manifest.item_ids()),
    }
}

/// Delete what session `name` set aside under trash/, after asking (unless `yes`). The session
/// is opened (locked), so no running pivot is moving a file there meanwhile.
pub fn empty_trash(root: &Path, name: &str, yes: bool) -> Result<()> {
    let s = Session::open(root, name)?;
    let trash = s.dir.join(pivot::session::gc::TRASH_FOLDER);
    // Opening tidies the session: files it moved aside just now were never shown to anyone.
    if let Some(n) = s.collected.notice(&s) {
        bail!("{n}; nothing was deleted: look at what was just set aside, then run this again");
    }
    if std::fs::symlink_metadata(&trash).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!("{} is a link to another place; pivot deletes only a trash folder of its own: remove the link yourself", trash.display());
    }
    let (files, bytes) = s.trash_size();
    if files == 0 {
        println!("session `{name}` has nothing in trash/");
        return Ok(());
    }
    let what = format!("the {files} file(s) in {} ({})", trash.display(), pivot::human_size::human_size(bytes));
    if !yes && !confirmed(&what, &format!("pivot session rm {name} --trash --yes"))? {
        println!("kept {what}");
        return Ok(());
    }
    std::fs::remove_dir_all(&trash).with_context(|| format!("cannot delete {}", trash.display()))?;
    println!("deleted {what}");
    Ok(())
}

/// Whether the user says yes to deleting `what`; with no terminal to ask on, an error naming
/// the command (`again`) that deletes without asking.
fn confirmed(what: &str, again: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("nothing was removed ({what}): there is no terminal to ask on, so pass --yes to delete it (`{again}`)");
    }
    eprint!("delete {what} for good? [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer)? == 0 {
        eprintln!(); // end of input (Ctrl-D): the answer's line was never ended
    }
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// What would go, in words; refuses an item or edit the session does not have (naming those it has).
fn describe(s: &Session, item: &str, edit: Option<&str>) -> Result<String> {
    let m = &s.manifest;
    let Some(it) = m.item(item) else {
        bail!("session `{}` has no item `{item}` ({}); nothing was removed", m.name, m.item_ids_for(item));
    };
    let Some(edit) = edit else {
        return Ok(format!("item `{item}` of session `{}` (its photo, inversion and {} edit(s))", m.name, it.edits.len()));
    };
    match it.edits.iter().find(|e| e.id == edit) {
        Some(e) => Ok(format!("edit `{edit}` of item `{item}` (→ \"{}\"{})", e.spec.target, match (e.output.is_some(), e.blend_mask.is_some()) {
            (true, true) => ", with its picture and blend mask",
            (true, false) => ", with its picture",
            (false, _) => "",
        })),
        None => bail!("item `{item}` of session `{}` has no edit `{edit}` ({}); nothing was removed", m.name, it.edit_ids()),
    }
}
