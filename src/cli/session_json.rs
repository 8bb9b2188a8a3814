//! `--json` for `session list` and `session show`: the same facts for scripts, as one JSON
//! document on stdout. A session is shown as its manifest (the fields session.toml holds, versioned
//! by its `format_version`) with what pivot finds on disk beside it.

use anyhow::Result;
use pivot::session::catalog::SessionSummary;
use pivot::session::store::Session;
use serde_json::{json, Value};
use std::path::Path;

/// Every session in `root`: name, item count, model, bytes in its trash, and why it cannot be
/// opened (null when it can).
pub fn list(root: &Path, all: &[SessionSummary]) -> Result<()> {
    let rows: Vec<Value> = all
        .iter()
        .map(|s| {
            let (_, trash) = pivot::session::gc::trash_size_in(&root.join(&s.name));
            let modified = s.modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs());
            let open = pivot::session::lock::held_elsewhere(&root.join(&s.name)).is_some();
            json!({ "name": s.name, "items": s.items, "model": s.model, "modified_unix": modified, "trash_bytes": trash, "open_elsewhere": open, "error": s.error })
        })
        .collect();
    print(&Value::Array(rows))
}

/// One session: its folder, its manifest, its trash, and the problems `session show` lists.
pub fn show(s: &Session) -> Result<()> {
    let (files, bytes) = s.trash_size();
    let mut problems: Vec<Value> = s.file_problems().iter().chain(&s.damaged_inversions()).map(|p| json!({ "item": p.item, "file": p.file, "problem": p.why })).collect();
    problems.extend(s.queue_problems().into_iter().map(|q| json!({ "item": null, "file": null, "problem": q })));
    // Item → PSNR of its reconstruction against its photo, in dB (items with one that reads).
    let psnr: serde_json::Map<String, Value> = s.manifest.items.iter().filter_map(|it| Some((it.id.clone(), json!(s.reconstruction_psnr(it)?)))).collect();
    // Item → edit → share of its blend mask that is white (edits with a mask that reads).
    let masks: serde_json::Map<String, Value> = s
        .manifest
        .items
        .iter()
        .map(|it| (it.id.clone(), it.edits.iter().filter_map(|e| Some((e.id.clone(), json!(s.blend_mask_share(e.blend_mask.as_deref()?)?)))).collect::<serde_json::Map<_, _>>()))
        .filter(|(_, edits)| !edits.is_empty())
        .map(|(id, edits)| (id, Value::Object(edits)))
        .collect();
    print(&json!({
        "dir": s.dir,
        // Another pivot holds it: what follows is its last commit, its running job may be further on.
        "open_elsewhere": pivot::session::lock::held_elsewhere(&s.dir).is_some(),
        "manifest": serde_json::to_value(&s.manifest)?,
        "trash": { "files": files, "bytes": bytes },
        "problems": problems,
        "reconstruction_psnr_db": psnr,
        "blend_mask_share": masks,
    }))
}

/// A session that cannot be opened: its name and why, as `list` gives them.
pub fn unreadable(name: &str, e: &anyhow::Error) -> Result<()> {
    print(&json!({ "name": name, "error": format!("{e:#}") }))
}

fn print(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
