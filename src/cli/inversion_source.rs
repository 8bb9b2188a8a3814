//! Where `edit`, `attention` and `reconstruct` take an inversion from: a file, or a finished
//! item of a session (with the way out when that item's file cannot be used).

use anyhow::{bail, Context, Result};
use clap::Args;
use pivot::session::dirs::sessions_dir;
use pivot::session::inversion_file::NewerFormat;
use pivot::session::store::Session;
use std::path::PathBuf;

/// Where the inversion comes from: a file, or an item of a session (one of the two: a missing
/// one is asked for as "<INVERSION|--session <SESSION>>").
#[derive(Args, Debug)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("source").args(["inversion", "session"]).required(true)))]
pub struct InversionSource {
    /// An inversion file from `pivot invert` (its prompt is the source prompt); or use --session/--item.
    pub inversion: Option<PathBuf>,
    /// An item of this session instead (with --item; not needed when the session has one item).
    #[arg(long, conflicts_with = "inversion")]
    pub session: Option<String>,
    /// The session item.
    // `requires` alone is waived: clap excuses --session, which conflicts with a file given.
    #[arg(long, requires = "session", conflicts_with = "inversion")]
    pub item: Option<String>,
}

impl InversionSource {
    /// The session and item asked for, if a session was named: `--item`, or the session's only item.
    pub fn session_item(&self) -> Result<Option<(String, String)>> {
        let Some(name) = &self.session else { return Ok(None) };
        if let Some(item) = &self.item {
            return Ok(Some((name.clone(), item.clone())));
        }
        let s = Session::open_read_only(&sessions_dir()?, name)?;
        match s.manifest.items.as_slice() {
            [only] => Ok(Some((name.clone(), only.id.clone()))),
            [] => bail!("session `{name}` has no photos yet: `pivot invert PHOTO --prompt \"…\" --session {name}` adds one"),
            _ => bail!("name the item with --item: session `{name}` has {} items ({})", s.manifest.items.len(), s.manifest.item_ids()),
        }
    }
}

/// The finished inversion file of a session item and the session's model (which may have moved
/// since the file was made); read only: the session may be in use.
fn session_inversion(name: &str, item: &str) -> Result<(PathBuf, String)> {
    let s = Session::open_read_only(&sessions_dir()?, name)?;
    let it = s.manifest.item(item).with_context(|| format!("session `{name}` has no item `{item}` ({})", s.manifest.item_ids_for(item)))?;
    let rec = it.inversion.as_ref().filter(|r| r.is_done()).with_context(|| format!("item `{item}` is not inverted yet: `pivot resume --session {name}` finishes it"))?;
    // Checked as `session show` and `edit` check it: a file made for another caption loads fine.
    if let Some(p) = s.inversion_file_problem(item) {
        bail!("{p}{}", s.inversion_way_out(&p));
    }
    Ok((s.path(rec.file.as_deref().context("the item's inversion has no file")?)?, s.manifest.model.source.clone()))
}

/// The inversion file to read, the model to read it with (`None`: the file's own) and, for a
/// session item, its session and id.
pub struct Found {
    pub path: PathBuf,
    pub model: Option<String>,
    pub item_of: Option<(String, String)>,
}

impl InversionSource {
    /// The file asked for; `model` is `--model` (a session item's default is the session's).
    pub fn find(&self, model: Option<&str>) -> Result<Found> {
        match (&self.inversion, self.session_item()?) {
            (Some(p), _) => Ok(Found { path: p.clone(), model: model.map(str::to_string), item_of: None }),
            (None, Some((name, item))) => {
                let (path, session_model) = session_inversion(&name, &item)?;
                Ok(Found { path, model: Some(model.map_or(session_model, str::to_string)), item_of: Some((name, item)) })
            }
            (None, None) => bail!("name an inversion file, or --session (and --item)"),
        }
    }
}

impl Found {
    /// `e` (reading the file failed), with the way out a session knows for its item's file; a
    /// newer format has none.
    pub fn restart_hint(&self, e: anyhow::Error) -> anyhow::Error {
        match &self.item_of {
            Some((name, item)) if !e.chain().any(|c| c.is::<NewerFormat>()) => {
                let s = sessions_dir().and_then(|root| Session::open_read_only(&root, name));
                let way = s.map(|s| s.invert_again_hint(item)).unwrap_or_else(|_| format!("`pivot resume --session {name} --restart {item}` inverts it again from the start"));
                e.context(format!("the inversion file of item `{item}` in session `{name}` cannot be used; {way}"))
            }
            _ => e,
        }
    }
}
