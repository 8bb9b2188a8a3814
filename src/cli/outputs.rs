//! Output paths checked before any model work: a typo in `--out` must not cost an hour-long
//! inversion. Missing parent folders are created (as the writes would have done).

use anyhow::{bail, Context, Result};
use pivot::session::atomic::write_atomic;
use std::path::Path;

/// Check that `path` (what the user passed as `flag`) can be written as a file.
pub fn check_writable(path: &Path, flag: &str) -> Result<()> {
    // A quoted `~/x.png` reaches pivot as it is: it would make a folder named `~` here.
    if path.components().next().is_some_and(|c| c.as_os_str() == "~") && !Path::new("~").exists() {
        bail!("{flag} {}: `~` was not made your home folder (it was quoted?); write $HOME/… or leave the quotes off", path.display());
    }
    if path.is_dir() {
        bail!("{flag} {} is a folder; name a file in it", path.display());
    }
    pivot::regular_file::check_output(path, flag)?;
    // A link is written through (its target gets the picture), so the target's folder is checked.
    let target = pivot::session::atomic::through_links(path);
    let dir = match target.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    if dir.exists() && !dir.is_dir() {
        bail!("{flag} {}: {} is not a folder", path.display(), dir.display());
    }
    if let Some(session) = inside_sessions(dir) {
        bail!("{flag} {}: that is inside {session}, whose files pivot keeps (writing there would replace a session's own pictures or checkpoints); name a file elsewhere (`pivot session export` copies a session's pictures out)", path.display());
    }
    if !dir.exists() {
        let top = dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).last().unwrap_or(dir).to_path_buf();
        std::fs::create_dir_all(dir).with_context(|| format!("{flag} {}: cannot create the folder {}", path.display(), dir.display()))?;
        CREATED.lock().unwrap_or_else(|e| e.into_inner()).push(top);
        // Said, so a mistyped folder does not go unnoticed (once the checks pass: a refused run
        // takes the folder away again).
        REPLACED.lock().unwrap_or_else(|e| e.into_inner()).push(format!("created the folder {} for {flag}", dir.display()));
    }
    if path.is_file() {
        REPLACED.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{flag} {} exists; it is replaced when this run writes it", path.display()));
    }
    // A probe file next to it proves the folder takes new files (permissions, read-only mounts).
    let probe = dir.join(format!(".pivot-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).with_context(|| format!("{flag} {}: cannot write in {}", path.display(), dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Outputs that exist already and folders made for them, said by [`say_replaced`]: a note
/// before an error that then stops the command would be noise (or untrue: the folder goes).
static REPLACED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Say which existing files this run will replace, and which folders it made. Called once a
/// command's checks have passed, before its work starts: Ctrl-C from then on keeps the old files.
pub fn say_replaced() {
    for note in std::mem::take(&mut *REPLACED.lock().unwrap_or_else(|e| e.into_inner())) {
        eprintln!("note: {note}");
    }
}

/// `dir` as the file system resolves it (links followed), also when its last parts do not
/// exist yet.
fn resolved(dir: &Path) -> Option<std::path::PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    let existing = dir.ancestors().find(|a| a.exists())?;
    let rest = dir.strip_prefix(existing).ok()?;
    Some(existing.canonicalize().ok()?.join(rest))
}

/// "session `NAME`'s folder" (or "the sessions folder") when `dir` lies in pivot's sessions.
fn inside_sessions(dir: &Path) -> Option<String> {
    let sessions = resolved(&pivot::session::dirs::sessions_dir().ok()?)?;
    let inner = resolved(dir)?.strip_prefix(&sessions).ok()?.to_path_buf();
    Some(match inner.components().next() {
        Some(name) => format!("session `{}`'s folder", name.as_os_str().to_string_lossy()),
        None => format!("the sessions folder {}", sessions.display()),
    })
}

/// Folders [`check_writable`] created (the outermost of each), for [`remove_unused_folders`].
static CREATED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remove the folders made for outputs that a failed command never wrote into (nothing but
/// folders inside), so that a mistyped `--out` leaves nothing behind.
pub fn remove_unused_folders() {
    fn only_folders(dir: &Path) -> bool {
        std::fs::read_dir(dir).is_ok_and(|entries| entries.flatten().all(|e| e.file_type().is_ok_and(|t| t.is_dir()) && only_folders(&e.path())))
    }
    for dir in std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner())) {
        if only_folders(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Whether `path` names a `.safetensors` file (in any letter case).
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// An image output: writable, with an extension pivot can write (the format follows it).
pub fn check_image(path: &Path, flag: &str) -> Result<()> {
    if image::ImageFormat::from_path(path).map_or(true, |f| !f.writing_enabled()) {
        bail!("{flag} {}: name a .png, .jpg, .webp, .bmp, .tiff or .gif file (the format follows the extension)", path.display());
    }
    check_writable(path, flag)
}

/// Write `img` to `path` in the format its extension names, atomically: a full disk or a crash
/// leaves the old file (or none), never a truncated picture.
pub fn save_image(img: &image::RgbImage, path: &Path) -> Result<()> {
    let format = image::ImageFormat::from_path(path).with_context(|| format!("{}: unknown image extension", path.display()))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format).with_context(|| format!("cannot encode {}", path.display()))?;
    write_atomic(path, &bytes.into_inner())
}

/// Copy a finished file (from a session) out to `to`, atomically.
pub fn copy_out(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    write_atomic(to, &bytes)
}

/// Refuse outputs that would write over an input (`inputs`) or over each other.
pub fn check_distinct(outputs: &[(&Path, &str)], inputs: &[(&Path, &str)]) -> Result<()> {
    let key = |p: &Path| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p)).unwrap_or_else(|_| p.to_path_buf());
    for (i, (p, flag)) in outputs.iter().enumerate() {
        for (q, other) in outputs[i + 1..].iter().chain(inputs) {
            if key(p) == key(q) {
                bail!("{flag} {} is also {other}: one file cannot be both", p.display());
            }
        }
    }
    Ok(())
}

/// `out` itself for one target; `name-K.ext` for target K of several.
pub fn numbered(out: &Path, k: usize, n: usize) -> std::path::PathBuf {
    if n == 1 {
        return out.to_path_buf();
    }
    // Named whole: set_extension would take `v1.2-1` for a stem `v1` and an extension `2-1`.
    let mut name = out.file_stem().unwrap_or_default().to_os_string();
    name.push(format!("-{}", k + 1));
    if let Some(ext) = out.extension() {
        name.push(".");
        name.push(ext);
    }
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_folders_and_files_used_as_folders_and_creates_missing_parents() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("photo.png");
        std::fs::write(&file, b"x").unwrap();
        let err = check_writable(&file.join("out.safetensors"), "--out").unwrap_err().to_string();
        assert!(err.contains("--out") && err.contains("out.safetensors") && err.contains("not a folder"), "{err}");
        let err = check_writable(dir.path(), "--recon").unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
        let err = check_writable(Path::new("~/pivot-never-made/x.png"), "--out").unwrap_err().to_string();
        assert!(err.contains("`~` was not made your home folder"), "{err}");
        let nested = dir.path().join("a/b/out.png");
        check_writable(&nested, "--out").unwrap();
        assert!(nested.parent().unwrap().is_dir() && !nested.exists());
        assert_eq!(std::fs::read_dir(nested.parent().unwrap()).unwrap().count(), 0, "the probe file is removed");
        assert!(check_image(&dir.path().join("e.xyz"), "--out").unwrap_err().to_string().contains(".png"));
        check_image(&dir.path().join("e.png"), "--out").unwrap();
        check_distinct(&[(&dir.path().join("r.png"), "--recon")], &[(&file, "the photo")]).unwrap();
        let e = check_distinct(&[(&file, "--recon")], &[(&dir.path().join("./photo.png"), "the photo")]).unwrap_err().to_string();
        assert!(e.contains("--recon") && e.contains("the photo"), "{e}");
        check_distinct(&[(&dir.path().join("a.png"), "--out"), (&dir.path().join("b.png"), "--source-out")], &[(&file, "the photo")]).unwrap();
    }

    #[test]
    fn several_outputs_are_numbered_before_the_extension_whatever_dots_the_name_has() {
        let n = |p: &str, k| numbered(Path::new(p), k, 2).to_string_lossy().into_owned();
        assert_eq!(n("out/v1.2.png", 0), "out/v1.2-1.png");
        assert_eq!(n("my.photo.edit.jpg", 1), "my.photo.edit-2.jpg");
        assert_eq!(n("noext", 0), "noext-1");
        assert_eq!(numbered(Path::new("one.v2.png"), 0, 1), Path::new("one.v2.png"));
    }
}
