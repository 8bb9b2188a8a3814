//! What is wrong with a session's files, as lines for the user (`pivot session show`, export):
//! referenced files that are missing, empty or truncated (safetensors headers, PNG ends), and
//! queue entries that point nowhere.
//! Looking never changes anything.

use super::manifest::Job;
use super::store::Session;
use std::io::Read;
use std::path::Path;

/// safetensors refuses headers larger than this; a bigger length prefix means a damaged file.
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Why a safetensors file cannot be complete, judged from its header alone (the tensors can be
/// large; this reads only the first bytes).
fn safetensors_damage(path: &Path, len: u64) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut prefix = [0u8; 8];
    if f.read_exact(&mut prefix).is_err() {
        return Some(format!("is truncated ({len} bytes, not even a header)"));
    }
    let header_len = u64::from_le_bytes(prefix);
    if header_len > MAX_SAFETENSORS_HEADER || 8 + header_len > len {
        return Some(format!("is truncated or corrupt (its header does not fit in its {len} bytes)"));
    }
    let mut header = vec![0u8; header_len as usize];
    if f.read_exact(&mut header).is_err() {
        return Some("is unreadable (its header cannot be read)".into());
    }
    let Ok(entries) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&header) else {
        return Some("is corrupt (its header is not valid JSON)".into());
    };
    let data_end = entries
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let expected = 8 + header_len + data_end;
    match len.cmp(&expected) {
        std::cmp::Ordering::Less => Some(format!("is truncated ({len} of {expected} bytes)")),
        std::cmp::Ordering::Greater => Some(format!("is corrupt ({len} bytes where its header says {expected})")),
        std::cmp::Ordering::Equal => None,
    }
}

/// Why a PNG cannot be whole, from its first and last bytes: pivot writes every picture of a
/// session as PNG, whose last chunk is IEND (a copy cut short loses it).
fn png_damage(path: &Path, len: u64) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82];
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 8];
    if f.read_exact(&mut head).is_err() || head != SIGNATURE {
        return Some("is not a PNG (damaged, or replaced by another file)".into());
    }
    let mut tail = [0u8; 12];
    let read = f.seek(SeekFrom::Start(len.saturating_sub(12))).and_then(|_| f.read_exact(&mut tail));
    (read.is_err() || tail != IEND).then(|| format!("is truncated ({len} bytes: the PNG's end is missing)"))
}

/// A file an item refers to that cannot be used as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    pub item: String,
    /// Session-relative path, as the manifest has it.
    pub file: String,
    /// What is wrong ("is missing", "is truncated (…)").
    pub why: String,
}

/// [`FileProblem::why`] of a file that is not there at all.
const MISSING: &str = "is missing";

impl FileProblem {
    /// `file` of `item` is not there at all.
    pub fn missing(item: &str, file: &str) -> Self {
        Self { item: item.into(), file: file.into(), why: MISSING.into() }
    }

    /// Whether the file is not there at all (rather than there and damaged).
    pub fn is_missing(&self) -> bool {
        self.why == MISSING
    }

    /// Whether a newer pivot wrote the file: it is whole, this one cannot read it.
    pub fn is_newer_format(&self) -> bool {
        self.why.ends_with(super::inversion_file::UPDATE_PIVOT)
    }
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {}: {} {}", self.item, self.file, self.why)
    }
}

/// A file problem's words for an inversion file that [`InversionFile::load`] refused with `e`
/// (the worker's load and the session's check say it alike).
///
/// [`InversionFile::load`]: super::inversion_file::InversionFile::load
pub(crate) fn unloadable_inversion(e: &anyhow::Error) -> String {
    // The outermost context names the file again, by its whole path: the problem names it.
    let why: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    format!("cannot be used: {}", if why.is_empty() { e.to_string() } else { why.join(": ") })
}

impl Session {
    /// Why a referenced file is not usable, if it is not.
    pub(crate) fn file_problem(&self, rel: &str) -> Option<String> {
        let Ok(path) = self.path(rel) else {
            return Some("is not a safe session path".into());
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(MISSING.into()),
            Err(e) => Some(format!("cannot be read ({e})")),
            Ok(m) if !m.is_file() => Some("is not a file".into()),
            Ok(m) if m.len() == 0 => Some("is empty".into()),
            Ok(m) if rel.ends_with(".safetensors") => safetensors_damage(&path, m.len()),
            Ok(m) if rel.ends_with(".png") => png_damage(&path, m.len()),
            Ok(_) => None,
        }
    }

    /// The items' referenced files that are missing, empty or truncated. Deletes nothing.
    pub fn file_problems(&self) -> Vec<FileProblem> {
        let mut out = Vec::new();
        for item in &self.manifest.items {
            let inversion = item.inversion.as_ref().and_then(|r| r.file.as_deref());
            let recon = item.reconstruction.as_deref();
            let edits = item.edits.iter().flat_map(|e| e.pictures());
            for rel in std::iter::once(item.image.as_str()).chain(inversion).chain(recon).chain(edits) {
                if let Some(why) = self.file_problem(rel) {
                    out.push(FileProblem { item: item.id.clone(), file: rel.to_string(), why });
                }
            }
        }
        out
    }

    /// Why an inversion file that looks whole cannot be used: a flipped byte fails its checksum;
    /// a file made for another caption than the item's (session.toml edited by hand, a file
    /// copied over) would edit the photo as another one. The file is read in full (12 MB for an
    /// SD1.5 item).
    fn unusable_inversion(&self, rel: &str, caption: &str) -> Option<String> {
        match super::inversion_file::InversionFile::load(&self.path(rel).ok()?, &candle_core::Device::Cpu) {
            Err(e) => Some(unloadable_inversion(&e)),
            Ok(f) if !f.meta.prompt.split_whitespace().eq(caption.split_whitespace()) => Some(format!("cannot be used: it was made for the caption \"{}\", not the item's \"{caption}\"", f.meta.prompt)),
            Ok(_) => None,
        }
    }

    /// Inversion files that look whole but cannot be used (see [`Self::unusable_inversion`]);
    /// files [`Self::file_problems`] reports are left to it.
    pub fn damaged_inversions(&self) -> Vec<FileProblem> {
        let damage = |it: &super::manifest::Item| {
            let rel = it.inversion.as_ref()?.file.as_deref()?;
            let why = self.file_problem(rel).is_none().then(|| self.unusable_inversion(rel, &it.prompt))??;
            Some(FileProblem { item: it.id.clone(), file: rel.to_string(), why })
        };
        // Each file is read and hashed in full (about 20 ms for an SD1.5 item): side by side.
        use rayon::prelude::*;
        self.manifest.items.par_iter().filter_map(damage).collect()
    }

    /// Whether item `id`'s inversion file can be used as it is (present, complete, checksum
    /// right); only that file is read.
    pub fn inversion_file_is_whole(&self, id: &str) -> bool {
        let Some(it) = self.manifest.item(id) else { return false };
        it.inversion.as_ref().and_then(|r| r.file.as_deref()).is_some() && self.inversion_file_problem(id).is_none()
    }

    /// What is wrong with item `id`'s inversion file (the file and why), when it has one; only
    /// that file is read.
    pub fn inversion_file_problem(&self, id: &str) -> Option<FileProblem> {
        let it = self.manifest.item(id)?;
        let rel = it.inversion.as_ref()?.file.as_deref()?;
        let why = self.file_problem(rel).or_else(|| self.unusable_inversion(rel, &it.prompt))?;
        Some(FileProblem { item: id.to_string(), file: rel.to_string(), why })
    }

    /// [`Self::file_problems`] and queue entries for unknown items or edits, as readable lines
    /// ("item cat: images/cat.png is missing"). Deletes nothing.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.file_problems().iter().map(FileProblem::to_string).collect();
        out.extend(self.queue_problems());
        out
    }

    /// Queue entries for items or edits the session does not have, as readable lines.
    pub fn queue_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for job in &self.manifest.queue {
            let (item, edit) = match job {
                Job::Invert { item } => (item, None),
                Job::Edit { item, edit } => (item, Some(edit)),
            };
            match (self.manifest.item(item), edit) {
                (None, _) => out.push(format!("queue: a job for item {item}, which the session does not have")),
                (Some(it), Some(edit)) if !it.edits.iter().any(|e| &e.id == edit) => {
                    out.push(format!("queue: edit {edit} of item {item}, which the item does not have"))
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::session::manifest::Job;
    use crate::session::testing::session_with_cat;

    fn tiny_safetensors() -> Vec<u8> {
        let data: Vec<u8> = vec![0; 16];
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
        safetensors::serialize([("x", view)], None).unwrap()
    }

    #[test]
    fn missing_empty_and_truncated_files_are_reported_and_kept() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        let good = tiny_safetensors();
        s.write_file("inversions/cat-1.safetensors", &good[..good.len() - 3]).unwrap();
        s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-1.safetensors".into());
        std::fs::remove_file(s.path("images/cat.png").unwrap()).unwrap();
        s.manifest.enqueue(Job::Edit { item: "cat".into(), edit: "e4".into() });
        s.manifest.enqueue(Job::Invert { item: "ghost".into() });
        let p = s.problems();
        assert_eq!(p[0], "item cat: images/cat.png is missing");
        assert!(p[1].starts_with("item cat: inversions/cat-1.safetensors is truncated ("), "{p:?}");
        assert!(p[2].contains("edit e4 of item cat") && p[3].contains("item ghost"), "{p:?}");
        assert!(s.path("inversions/cat-1.safetensors").unwrap().exists());
        s.write_file("inversions/cat-1.safetensors", &good).unwrap();
        s.write_file("images/cat.png", b"").unwrap();
        assert_eq!(s.problems()[..1], ["item cat: images/cat.png is empty".to_string()]);
        // A picture cut short, and a file that is no PNG at all.
        let png = crate::session::testing::png(9);
        s.write_file("images/cat.png", &png[..png.len() - 5]).unwrap();
        assert_eq!(s.problems()[0], format!("item cat: images/cat.png is truncated ({} bytes: the PNG's end is missing)", png.len() - 5));
        s.write_file("images/cat.png", b"GIF89a and more").unwrap();
        assert!(s.problems()[0].ends_with("is not a PNG (damaged, or replaced by another file)"), "{:?}", s.problems());
        s.write_file("images/cat.png", &png).unwrap();
        assert!(!s.problems()[0].contains("images/cat.png"), "{:?}", s.problems());
    }
}
