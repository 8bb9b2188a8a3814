//! Where a model part's weights lie: one safetensors file, or the shards an index names
//! (`<file>.index.json`, which `save_pretrained` writes when a part is bigger than its
//! `max_shard_size`).

use anyhow::{bail, Context, Result};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// A part's weight files: one file, or the shards an index lists (sorted, each once).
#[derive(Clone, Debug)]
pub struct WeightFiles {
    pub files: Vec<PathBuf>,
    /// The index that names the shards, when the part is split.
    pub index: Option<PathBuf>,
}

impl WeightFiles {
    /// The file, or the index and its shard count, for messages.
    pub fn describe(&self) -> String {
        match &self.index {
            Some(index) => format!("{} ({} shards)", index.display(), self.files.len()),
            None => self.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        }
    }

    /// The index first (when there is one), then every weight file.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.index.iter().chain(self.files.iter()).map(PathBuf::as_path)
    }
}

/// Weight file names in order of preference (f32 first, then fp16 variants, cast on load); each
/// may instead be split into shards named by `<name>.index.json`.
pub fn candidates(part: &str) -> &'static [&'static str] {
    if part == "text_encoder" {
        &["model.safetensors", "model.fp16.safetensors"]
    } else {
        &["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"]
    }
}

fn index_name(file: &str) -> String {
    format!("{file}.index.json")
}

/// The shard file names an index lists in its `weight_map`, sorted, each once. A name that is
/// not a plain `.safetensors` file in the index's own folder is refused.
pub fn shard_names(index_json: &str, index: &Path) -> Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(index_json).with_context(|| format!("{} is not valid JSON (re-download it)", index.display()))?;
    let map = v.get("weight_map").and_then(|m| m.as_object()).with_context(|| format!("{} has no `weight_map` object naming the shards (re-download it)", index.display()))?;
    let mut names = BTreeSet::new();
    for (tensor, file) in map {
        let Some(file) = file.as_str() else { bail!("{}: weight_map[{tensor:?}] is not a file name", index.display()) };
        let plain = !file.is_empty() && !file.contains(['/', '\\']) && !file.starts_with('.') && file.ends_with(".safetensors");
        if !plain {
            bail!("{}: weight_map[{tensor:?}] = {file:?} is not a .safetensors file beside the index", index.display());
        }
        names.insert(file.to_string());
    }
    if names.is_empty() {
        bail!("{}: weight_map names no shard (re-download it)", index.display());
    }
    Ok(names.into_iter().collect())
}

/// The weight files of `part` as paths relative to the model's root, in a listing where `has`
/// tells which files exist and `read` gives a file's text: one weight file, or an index and then
/// its shards; `None` when there is neither. `shown` is where the listing lies, for messages, and
/// `missing` how a shard the index names but the listing lacks is described.
fn choose(part: &str, shown: &Path, has: impl Fn(&str) -> bool, read: impl Fn(&str) -> Result<String>, missing: &str) -> Result<Option<Vec<String>>> {
    for name in candidates(part) {
        let single = format!("{part}/{name}");
        if has(&single) {
            return Ok(Some(vec![single]));
        }
        let index = format!("{part}/{}", index_name(name));
        if has(&index) {
            let mut files = vec![index.clone()];
            for shard in shard_names(&read(&index)?, &shown.join(&index))? {
                let f = format!("{part}/{shard}");
                if !has(&f) {
                    bail!("{} names the shard {shard}, {missing}", shown.join(&index).display());
                }
                files.push(f);
            }
            return Ok(Some(files));
        }
    }
    Ok(None)
}

/// The weights of `part` (`unet`, `vae`, `text_encoder`) in a diffusers folder; `hint` describes
/// the expected layout for the message when there are none.
pub fn find(root: &Path, part: &str, hint: &str) -> Result<WeightFiles> {
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).with_context(|| format!("cannot read {}", root.join(rel).display()));
    if let Some(mut rels) = choose(part, root, |rel| root.join(rel).is_file(), read, "which is missing (download it again)")? {
        let index = (rels.len() > 1).then(|| root.join(rels.remove(0)));
        return Ok(WeightFiles { files: rels.iter().map(|r| root.join(r)).collect(), index });
    }
    let tried = candidates(part).iter().map(|n| format!("{part}/{n}")).collect::<Vec<_>>().join(" or ");
    let bin = if part == "text_encoder" { "pytorch_model.bin" } else { "diffusion_pytorch_model.bin" };
    if root.join(part).join(bin).is_file() {
        bail!("{}: only a PyTorch .bin checkpoint for {part}; pivot needs {tried} (convert with safetensors)", root.display());
    }
    bail!("{}: missing {tried} ({hint})", root.display())
}

/// The files of `part` to download from a hub repository whose files are `have`: one weight
/// file, or an index and its shards (`read_index` fetches an index's text).
pub fn hub_files(part: &str, have: &HashSet<String>, read_index: impl Fn(&str) -> Result<String>) -> Result<Vec<String>> {
    let files = choose(part, Path::new(""), |f| have.contains(f), read_index, "which the repository does not have")?;
    files.with_context(|| format!("no safetensors weights for {part} (looked for {})", candidates(part).join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"metadata": {"total_size": 8}, "weight_map": {"a.weight": "m-00002-of-00002.safetensors", "b.weight": "m-00001-of-00002.safetensors", "c.bias": "m-00001-of-00002.safetensors"}}"#;

    #[test]
    fn an_index_names_its_shards_sorted_and_once() {
        assert_eq!(shard_names(INDEX, Path::new("i.json")).unwrap(), ["m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors"]);
    }

    #[test]
    fn shard_names_outside_the_folder_or_not_safetensors_are_refused() {
        for bad in ["../x.safetensors", "sub/x.safetensors", "x.bin", ".hidden.safetensors", ""] {
            let json = format!(r#"{{"weight_map": {{"w": "{bad}"}}}}"#);
            let e = format!("{:#}", shard_names(&json, Path::new("unet/i.json")).unwrap_err());
            assert!(e.contains("unet/i.json") && e.contains("weight_map"), "{bad}: {e}");
        }
        for broken in ["{", r#"{"weight_map": {}}"#, r#"{"metadata": {}}"#, r#"{"weight_map": {"w": 3}}"#] {
            assert!(shard_names(broken, Path::new("i.json")).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_local_split_part_is_found_and_a_missing_shard_named() {
        let dir = tempfile::tempdir().unwrap();
        let unet = dir.path().join("unet");
        std::fs::create_dir_all(&unet).unwrap();
        std::fs::write(unet.join("diffusion_pytorch_model.safetensors.index.json"), INDEX).unwrap();
        std::fs::write(unet.join("m-00001-of-00002.safetensors"), "").unwrap();
        let e = format!("{:#}", find(dir.path(), "unet", "hint").unwrap_err());
        assert!(e.contains("m-00002-of-00002.safetensors") && e.contains("missing"), "{e}");
        std::fs::write(unet.join("m-00002-of-00002.safetensors"), "").unwrap();
        let w = find(dir.path(), "unet", "hint").unwrap();
        assert_eq!(w.files, [unet.join("m-00001-of-00002.safetensors"), unet.join("m-00002-of-00002.safetensors")]);
        assert_eq!(w.paths().count(), 3);
        assert!(w.describe().contains("2 shards"), "{}", w.describe());
        // One f32 file is preferred over shards of the fp16 variant, and shards of f32 over one fp16 file.
        std::fs::write(unet.join("diffusion_pytorch_model.fp16.safetensors"), "").unwrap();
        assert!(find(dir.path(), "unet", "hint").unwrap().index.is_some());
    }

    #[test]
    fn hub_parts_list_the_index_and_its_shards() {
        let have: HashSet<String> = ["vae/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.safetensors.index.json", "unet/m-00001-of-00002.safetensors", "unet/m-00002-of-00002.safetensors"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(hub_files("vae", &have, |_| unreachable!()).unwrap(), ["vae/diffusion_pytorch_model.safetensors"]);
        let unet = hub_files("unet", &have, |i| {
            assert_eq!(i, "unet/diffusion_pytorch_model.safetensors.index.json");
            Ok(INDEX.to_string())
        })
        .unwrap();
        assert_eq!(unet, ["unet/diffusion_pytorch_model.safetensors.index.json", "unet/m-00001-of-00002.safetensors", "unet/m-00002-of-00002.safetensors"]);
        let mut partial = have.clone();
        partial.remove("unet/m-00002-of-00002.safetensors");
        let e = format!("{:#}", hub_files("unet", &partial, |_| Ok(INDEX.to_string())).unwrap_err());
        assert!(e.contains("m-00002-of-00002") && e.contains("does not have"), "{e}");
        assert!(format!("{:#}", hub_files("text_encoder", &have, |_| unreachable!()).unwrap_err()).contains("text_encoder"));
    }
}
