//! Where a model comes from: a diffusers folder, a Hugging Face hub id, or the built-in `tiny`.

use anyhow::{bail, Context, Result};
use super::weight_files::{self, WeightFiles};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Dir(PathBuf),
    Hub { repo: String, revision: Option<String> },
    Tiny { seed: u64 },
}

/// Seed of the built-in tiny model when none is named (`tiny` = `tiny:0`).
pub const TINY_DEFAULT_SEED: u64 = 0;

impl ModelSource {
    /// `tiny[:SEED]`, an existing folder, or `org/name[@revision]`, as the user typed it: a
    /// hub-shaped name whose first part is a folder here is taken for a mistyped path.
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_as(s, true)
    }

    /// [`Self::parse`] of a name pivot wrote down itself (a session's, an inversion file's): it
    /// was a hub id when written, whatever folders the current one holds.
    pub fn parse_recorded(s: &str) -> Result<Self> {
        Self::parse_as(s, false)
    }

    fn parse_as(s: &str, typed: bool) -> Result<Self> {
        if s == "tiny" {
            return Ok(ModelSource::Tiny { seed: TINY_DEFAULT_SEED });
        }
        if let Some(seed) = s.strip_prefix("tiny:") {
            return Ok(ModelSource::Tiny { seed: seed.parse().with_context(|| format!("`{s}`: the tiny model's seed must be a number"))? });
        }
        // `hub:org/name` names a hub model even where a folder `org/` is at hand.
        let (s, hub_only) = match s.strip_prefix("hub:") {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        let path = Path::new(s);
        if path.is_dir() && !hub_only {
            // Absolute, so sessions and inversion files that record it work from any folder.
            return Ok(ModelSource::Dir(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())));
        }
        let (repo, revision) = match s.split_once('@') {
            Some((_, "")) => bail!("`{s}`: the revision after @ is empty (a branch, tag or commit, e.g. {}@main)", s.trim_end_matches('@')),
            Some((r, rev)) => (r, Some(rev.to_string())),
            None => (s, None),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        let valid = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && p != "." && p != "..";
        let hub_shaped = parts.len() == 2 && parts.iter().all(|p| valid(p)) && !s.starts_with('.');
        if typed && hub_shaped && !hub_only && Path::new(parts[0]).is_dir() && !path.exists() {
            // Most likely a mistyped folder: going to the network for it would surprise.
            bail!("there is no model folder {s} ({}/ is here, without {}); for the hub model of that name write hub:{s}", parts[0], parts[1]);
        }
        if hub_shaped && (hub_only || !path.exists()) {
            return Ok(ModelSource::Hub { repo: repo.to_string(), revision });
        }
        if hub_only {
            bail!("`hub:{s}`: a hub id is `org/name[@revision]`");
        }
        if path.exists() {
            bail!("{s} is a file, not a model folder (expected a diffusers folder with model_index.json, unet/, vae/, text_encoder/, tokenizer/){}", file_hint(path));
        }
        bail!("model `{s}` is neither a folder nor a hub id like `org/name[@revision]` nor `tiny`")
    }

    pub fn describe(&self) -> String {
        match self {
            ModelSource::Dir(p) => p.display().to_string(),
            ModelSource::Hub { repo, revision: Some(r) } => format!("{repo}@{r}"),
            ModelSource::Hub { repo, revision: None } => repo.clone(),
            ModelSource::Tiny { seed } if *seed == TINY_DEFAULT_SEED => "tiny".into(),
            ModelSource::Tiny { seed } => format!("tiny:{seed}"),
        }
    }
}

/// What a file given as `--model` probably is, and the way to a folder pivot reads.
fn file_hint(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(root) = abs.ancestors().skip(1).find(|d| d.join("model_index.json").is_file()) {
        return format!(": it lies inside the model folder {}, which is what --model takes", root.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if ["safetensors", "ckpt", "pt", "pth", "bin"].contains(&ext.as_str()) {
        return ": a single-file checkpoint (as A1111 and ComfyUI use) has to be converted first, e.g. with diffusers: \
                `StableDiffusionPipeline.from_single_file(FILE).save_pretrained(DIR)`, then --model DIR; \
                or give the model's hub id (org/name)"
            .into();
    }
    String::new()
}

/// The tokenizer files a model ships.
#[derive(Clone, Debug)]
pub enum TokenizerFiles {
    Json(PathBuf),
    VocabMerges { vocab: PathBuf, merges: PathBuf },
}

/// Every file a diffusers Stable Diffusion folder provides to pivot.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    pub root: PathBuf,
    pub unet_config: PathBuf,
    pub unet_weights: WeightFiles,
    pub vae_config: PathBuf,
    pub vae_weights: WeightFiles,
    pub text_config: PathBuf,
    pub text_weights: WeightFiles,
    pub tokenizer: TokenizerFiles,
    /// `special_tokens_map.json` or `tokenizer_config.json` (names the pad token).
    pub tokenizer_meta: Vec<PathBuf>,
    pub scheduler_config: Option<PathBuf>,
}

pub const LAYOUT_HINT: &str = "expected a diffusers layout: unet/{config.json, diffusion_pytorch_model.safetensors}, \
vae/{config.json, diffusion_pytorch_model.safetensors}, text_encoder/{config.json, model.safetensors}, \
tokenizer/{tokenizer.json | vocab.json + merges.txt}, scheduler/scheduler_config.json";

fn need(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = root.join(rel);
    if p.is_file() {
        Ok(p)
    } else {
        bail!("{}: missing {rel} ({LAYOUT_HINT})", root.display())
    }
}

fn weights(root: &Path, part: &str) -> Result<WeightFiles> {
    weight_files::find(root, part, LAYOUT_HINT)
}

/// The pipeline class model_index.json names, when it is not one of Stable Diffusion 1.x/2.x's.
fn other_pipeline(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join("model_index.json")).ok()?;
    let class = serde_json::from_str::<serde_json::Value>(&text).ok()?.get("_class_name")?.as_str()?.to_string();
    let ours = class.starts_with("StableDiffusion") && !class.contains("XL") && !class.starts_with("StableDiffusion3");
    (!ours).then_some(class)
}

impl ModelFiles {
    /// Find every file in a local diffusers folder; an error names the first missing file.
    pub fn discover(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            bail!("{} is not a folder ({LAYOUT_HINT})", root.display());
        }
        // A folder of another pipeline (SDXL, SD3, Flux…) lacks parts or has others: say so.
        Self::find_parts(root).map_err(|e| match other_pipeline(root) {
            Some(class) => e.context(format!("{} holds a {class} (model_index.json), not a Stable Diffusion 1.x/2.x pipeline, which is what pivot runs", root.display())),
            None => e,
        })
    }

    fn find_parts(root: &Path) -> Result<Self> {
        let tok = root.join("tokenizer");
        let tokenizer = if tok.join("vocab.json").is_file() && tok.join("merges.txt").is_file() {
            TokenizerFiles::VocabMerges { vocab: tok.join("vocab.json"), merges: tok.join("merges.txt") }
        } else if tok.join("tokenizer.json").is_file() {
            TokenizerFiles::Json(tok.join("tokenizer.json"))
        } else {
            // Name what is missing, not a file that is there.
            let missing: Vec<&str> = ["vocab.json", "merges.txt"].into_iter().filter(|f| !tok.join(f).is_file()).collect();
            let have = ["vocab.json", "merges.txt"].into_iter().find(|f| tok.join(f).is_file()).map(|f| format!(", beside tokenizer/{f}")).unwrap_or_default();
            bail!("{}: missing tokenizer/{}{have} (or a tokenizer/tokenizer.json) ({LAYOUT_HINT})", root.display(), missing.join(" + tokenizer/"));
        };
        let tokenizer_meta = ["special_tokens_map.json", "tokenizer_config.json"].iter().map(|n| tok.join(n)).filter(|p| p.is_file()).collect();
        let sched = root.join("scheduler/scheduler_config.json");
        Ok(Self {
            root: root.to_path_buf(),
            unet_config: need(root, "unet/config.json")?,
            unet_weights: weights(root, "unet")?,
            vae_config: need(root, "vae/config.json")?,
            vae_weights: weights(root, "vae")?,
            text_config: need(root, "text_encoder/config.json")?,
            text_weights: weights(root, "text_encoder")?,
            tokenizer,
            tokenizer_meta,
            scheduler_config: sched.is_file().then_some(sched),
        })
    }

    /// Every file, for hashing and reports.
    pub fn all(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = vec![&self.unet_config];
        v.extend(self.unet_weights.paths());
        v.push(&self.vae_config);
        v.extend(self.vae_weights.paths());
        v.push(&self.text_config);
        v.extend(self.text_weights.paths());
        match &self.tokenizer {
            TokenizerFiles::Json(p) => v.push(p),
            TokenizerFiles::VocabMerges { vocab, merges } => {
                v.push(vocab);
                v.push(merges);
            }
        }
        v.extend(self.tokenizer_meta.iter().map(|p| p.as_path()));
        v.extend(self.scheduler_config.as_deref());
        v
    }

    /// Pad token named by the tokenizer metadata (`!` for SD2), if any.
    pub fn pad_token(&self) -> Result<Option<String>> {
        for meta in &self.tokenizer_meta {
            let v: serde_json::Value = super::config::read_json(meta)?;
            match v.get("pad_token") {
                Some(serde_json::Value::String(s)) => return Ok(Some(s.clone())),
                Some(obj) => {
                    if let Some(s) = obj.get("content").and_then(|c| c.as_str()) {
                        return Ok(Some(s.to_string()));
                    }
                }
                None => {}
            }
        }
        Ok(None)
    }
}

/// The cached snapshot folder of a hub model, without touching the network.
pub fn cached_hub(repo: &str, revision: Option<&str>) -> Option<PathBuf> {
    cached_snapshot(repo, revision.unwrap_or("main")).and_then(|r| r.ok())
}

/// The snapshot folder of a hub model in the HF cache: `None` when it is not there at all, an
/// error naming the first missing file when only part of it is.
fn cached_snapshot(repo: &str, revision: &str) -> Option<Result<PathBuf>> {
    let cache = hf_hub::Cache::from_env();
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let root = if is_commit {
        // A commit needs no ref: its snapshot folder is named after it (as huggingface_hub reads it).
        let root = cache.path().join(format!("models--{}", repo.replace('/', "--"))).join("snapshots").join(revision);
        root.join("model_index.json").is_file().then_some(root)?
    } else {
        let cached = cache.repo(hf_hub::Repo::with_revision(repo.to_string(), hf_hub::RepoType::Model, revision.to_string())).get("model_index.json")?;
        cached.parent()?.to_path_buf()
    };
    Some(ModelFiles::discover(&root).map(|_| root))
}

/// How long the hub may take to list a model's files before pivot gives up, unless
/// `PIVOT_HUB_TIMEOUT` (seconds) says otherwise.
const HUB_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(45);

fn hub_answer_timeout() -> Result<std::time::Duration> {
    match std::env::var("PIVOT_HUB_TIMEOUT") {
        Err(_) => Ok(HUB_ANSWER_TIMEOUT),
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Ok(std::time::Duration::from_secs_f64(s)),
            _ => bail!("PIVOT_HUB_TIMEOUT=`{v}`: expected a number of seconds above 0"),
        },
    }
}

/// Download (once) the files pivot needs from the hub into the standard HF cache; the only network
/// use in pivot. A model already in the cache is used without touching the network;
/// `HF_HUB_OFFLINE=1` forbids the network entirely.
pub fn fetch_hub(repo: &str, revision: Option<&str>) -> Result<PathBuf> {
    use hf_hub::{api::sync::ApiBuilder, Repo, RepoType};
    let rev = revision.unwrap_or("main").to_string();
    let cached = cached_snapshot(repo, &rev);
    if let Some(Ok(root)) = cached {
        return Ok(root);
    }
    if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0") {
        match cached {
            Some(Err(e)) => return Err(e.context(format!("hub model {repo}@{rev} is only partly in the Hugging Face cache and HF_HUB_OFFLINE is set"))),
            _ => bail!("hub model {repo} is not in the Hugging Face cache and HF_HUB_OFFLINE is set"),
        }
    }
    let hub_repo = Repo::with_revision(repo.to_string(), RepoType::Model, rev);
    let timeout = hub_answer_timeout()?;
    let api = ApiBuilder::from_env().with_progress(true).build().context("cannot set up the Hugging Face hub client")?;
    let r = api.repo(hub_repo.clone());
    // The hub client has no overall timeout: a proxy or firewall that accepts the connection and
    // never answers would hang pivot silently. Ask on a helper thread and give up after a while.
    let (tx, rx) = std::sync::mpsc::channel();
    let asking = api.clone();
    std::thread::spawn(move || {
        let _ = tx.send(asking.repo(hub_repo).info());
    });
    let answer = rx.recv_timeout(timeout).map_err(|_| {
        anyhow::anyhow!("the Hugging Face hub did not answer within {} s about {repo} (a proxy or firewall holding the connection?); download the model folder another way and pass its path, or allow more time with PIVOT_HUB_TIMEOUT=seconds", timeout.as_secs_f64())
    })?;
    let info = answer.with_context(|| format!("cannot reach the hub model {repo} (check the name, your network, and HF_TOKEN for gated models)"))?;
    let have: std::collections::HashSet<String> = info.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let mut wanted: Vec<String> = vec!["model_index.json".into(), "unet/config.json".into(), "vae/config.json".into(), "text_encoder/config.json".into()];
    for part in ["unet", "vae", "text_encoder"] {
        // An index is fetched first: it names the shards to fetch.
        let read_index = |f: &str| -> Result<String> {
            let local = r.get(f).with_context(|| format!("cannot download {f} from {repo}"))?;
            std::fs::read_to_string(&local).with_context(|| format!("cannot read {}", local.display()))
        };
        wanted.extend(weight_files::hub_files(part, &have, read_index).with_context(|| format!("hub model {repo} cannot be used"))?);
    }
    for opt in ["tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer.json", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json"] {
        if have.contains(opt) {
            wanted.push(opt.into());
        }
    }
    let mut root = None;
    for f in &wanted {
        if !have.contains(f) {
            bail!("hub model {repo} has no {f} ({LAYOUT_HINT})");
        }
        let local = r.get(f).with_context(|| format!("cannot download {f} from {repo}"))?;
        if f == "model_index.json" {
            root = local.parent().map(Path::to_path_buf);
        }
    }
    root.context("model_index.json has no parent folder")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_source() {
        assert_eq!(ModelSource::parse("tiny").unwrap(), ModelSource::Tiny { seed: 0 });
        assert_eq!(ModelSource::parse("tiny:7").unwrap(), ModelSource::Tiny { seed: 7 });
        assert!(ModelSource::parse("tiny:x").is_err());
        assert_eq!(
            ModelSource::parse("org/name@fp16").unwrap(),
            ModelSource::Hub { repo: "org/name".into(), revision: Some("fp16".into()) }
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ModelSource::parse(dir.path().to_str().unwrap()).unwrap(), ModelSource::Dir(std::fs::canonicalize(dir.path()).unwrap()));
        // A relative folder is recorded absolute (sessions are used from other folders).
        assert_eq!(ModelSource::parse("src").unwrap(), ModelSource::Dir(std::env::current_dir().unwrap().join("src")));
        assert!(ModelSource::parse("no/such/folder/here").is_err());
        assert!(ModelSource::parse("../x").is_err());
        // `src/` is here: `src/nothing` is a mistyped folder, not a hub id, unless written hub:.
        let e = ModelSource::parse("src/nothing").unwrap_err().to_string();
        assert!(e.contains("no model folder src/nothing") && e.contains("hub:src/nothing"), "{e}");
        assert_eq!(ModelSource::parse("hub:src/nothing").unwrap(), ModelSource::Hub { repo: "src/nothing".into(), revision: None });
        assert!(ModelSource::parse("hub:src").is_err());
        assert_eq!(ModelSource::parse_recorded("src/nothing").unwrap(), ModelSource::Hub { repo: "src/nothing".into(), revision: None }, "a session's hub model stays one");
    }

    #[test]
    fn a_folder_of_another_pipeline_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("transformer")).unwrap();
        std::fs::write(dir.path().join("model_index.json"), r#"{"_class_name": "FluxPipeline"}"#).unwrap();
        let e = format!("{:#}", ModelFiles::discover(dir.path()).unwrap_err());
        assert!(e.contains("holds a FluxPipeline") && e.contains("not a Stable Diffusion 1.x/2.x pipeline") && e.contains("missing tokenizer"), "{e}");
        std::fs::write(dir.path().join("model_index.json"), r#"{"_class_name": "StableDiffusionPipeline"}"#).unwrap();
        let e = format!("{:#}", ModelFiles::discover(dir.path()).unwrap_err());
        assert!(!e.contains("holds a"), "{e}");
    }

    #[test]
    fn a_file_given_as_the_model_says_what_to_give_instead() {
        let dir = tempfile::tempdir().unwrap();
        let single = dir.path().join("v1-5-pruned-emaonly.safetensors");
        std::fs::write(&single, b"x").unwrap();
        let e = ModelSource::parse(single.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("single-file checkpoint") && e.contains("from_single_file"), "{e}");
        let model = dir.path().join("sd");
        std::fs::create_dir_all(model.join("unet")).unwrap();
        std::fs::write(model.join("model_index.json"), b"{}").unwrap();
        let inside = model.join("unet/diffusion_pytorch_model.safetensors");
        std::fs::write(&inside, b"x").unwrap();
        let e = ModelSource::parse(inside.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains(&format!("inside the model folder {}", std::fs::canonicalize(&model).unwrap().display())), "{e}");
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, b"x").unwrap();
        let e = ModelSource::parse(other.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.ends_with("tokenizer/)"), "{e}");
    }

    #[test]
    fn missing_files_are_named_with_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tokenizer")).unwrap();
        std::fs::write(dir.path().join("tokenizer/tokenizer.json"), "{}").unwrap();
        let e = format!("{:#}", ModelFiles::discover(dir.path()).unwrap_err());
        assert!(e.contains("unet/config.json") && e.contains("diffusers layout"), "{e}");
    }
}
