//! `pivot edit`: Prompt-to-Prompt edits of an inverted photo, and `pivot attention`: a word's
//! averaged cross-attention map over the source reconstruction.

use super::device;
use super::invert::open_inversion as open;
use anyhow::{ensure, Context, Result};
use candle_core::Tensor;
use clap::{Args, ValueEnum};
use pivot::edit::p2p::align::refine_mapper;
use pivot::edit::p2p::blend::LocalBlend;
use pivot::edit::p2p::controller::EditTables;
use pivot::edit::p2p::replace::replacement_mapper;
use pivot::edit::p2p::run::{run_edit, P2pEdit};
use pivot::edit::p2p::tables::{cross_alpha, equalizer, self_steps};
use pivot::edit::p2p::words::{word_token_indices, Word};
use pivot::edit::sample::NullEmbeddings;
use pivot::sd::image as img;
use pivot::sd::StableDiffusion;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Mode {
    /// Word swap: same number of words, some of them changed.
    Replace,
    /// Refinement: words added or removed (aligned token by token).
    Refine,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// An inversion file from `pivot invert` (its prompt is the source prompt).
    pub inversion: PathBuf,
    /// Target prompt; repeat for several edits (one image each).
    #[arg(long, required = true)]
    pub target: Vec<String>,
    #[arg(long, value_enum, default_value = "replace")]
    pub mode: Mode,
    /// Fraction of steps whose cross-attention is replaced.
    #[arg(long, default_value_t = 0.8)]
    pub cross: f64,
    /// Fraction of steps whose self-attention is replaced.
    #[arg(long = "self", default_value_t = 0.4)]
    pub self_frac: f64,
    /// Per-word cross-replacement fraction, `word=0.2` (repeatable).
    #[arg(long = "cross-word", value_parser = parse_pair)]
    pub cross_word: Vec<(String, f64)>,
    /// LocalBlend words `source_word,target_word`: edit only where they attend.
    #[arg(long)]
    pub blend: Option<String>,
    #[arg(long, default_value_t = 0.3)]
    pub blend_threshold: f64,
    /// Re-weight a target word's attention, `word=2.0` (repeatable).
    #[arg(long, value_parser = parse_pair)]
    pub reweight: Vec<(String, f64)>,
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the source row (the reconstruction) here.
    #[arg(long)]
    pub source_out: Option<PathBuf>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value = "auto", help = device::DEVICE_HELP)]
    pub device: String,
}

#[derive(Args, Debug)]
pub struct AttentionArgs {
    pub inversion: PathBuf,
    /// A word of the source prompt.
    #[arg(long)]
    pub word: String,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, default_value = "auto", help = device::DEVICE_HELP)]
    pub device: String,
}

fn parse_pair(s: &str) -> Result<(String, f64), String> {
    let (w, v) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected word=value"))?;
    let v: f64 = v.parse().map_err(|_| format!("`{s}`: `{v}` is not a number"))?;
    if w.is_empty() || !v.is_finite() {
        return Err(format!("`{s}`: expected word=value"));
    }
    Ok((w.to_string(), v))
}

fn numbered(out: &Path, k: usize, n: usize) -> PathBuf {
    if n == 1 {
        return out.to_path_buf();
    }
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = out.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "png".into());
    out.with_file_name(format!("{stem}-{}.{ext}", k + 1))
}

fn tables(sd: &StableDiffusion, a: &EditArgs, source: &str, target: &str, steps: usize) -> Result<(EditTables, Option<LocalBlend>)> {
    let tok = &sd.tokenizer;
    ensure!((0.0..=1.0).contains(&a.self_frac), "--self must be in [0, 1] (got {})", a.self_frac);
    let alpha = cross_alpha(tok, target, steps, (0.0, a.cross), &a.cross_word.iter().map(|(w, f)| (w.clone(), (0.0, *f))).collect::<Vec<_>>())?;
    let selfs = self_steps(steps, (0.0, a.self_frac))?;
    let (replace, refine) = match a.mode {
        Mode::Replace => (Some(replacement_mapper(tok, source, target)?), None),
        Mode::Refine => (None, Some(refine_mapper(tok, source, target))),
    };
    let eq = (!a.reweight.is_empty()).then(|| equalizer(tok, target, &a.reweight)).transpose()?;
    let t = EditTables::new(&alpha, selfs, replace.as_deref(), refine.as_ref().map(|(m, al)| (m.as_slice(), al.as_slice())), eq.as_deref(), &sd.device)?;
    let blend = match &a.blend {
        None => None,
        Some(spec) => {
            let (sw, tw) = spec.split_once(',').with_context(|| format!("--blend `{spec}`: expected source_word,target_word"))?;
            ensure!((0.0..=1.0).contains(&a.blend_threshold), "--blend-threshold must be in [0, 1]");
            let mut rows = vec![0f32; 2 * 77];
            for (r, (prompt, w)) in [(source, sw), (target, tw)].into_iter().enumerate() {
                let idx = word_token_indices(tok, prompt, Word::Text(w));
                ensure!(!idx.is_empty(), "--blend: \"{w}\" is not a word of \"{prompt}\"");
                for i in idx {
                    rows[r * 77 + i] = 1.0;
                }
            }
            Some(LocalBlend::new(Tensor::from_vec(rows, (2, 77), &sd.device)?, a.blend_threshold, steps))
        }
    };
    Ok((t, blend))
}

pub fn edit(a: &EditArgs) -> Result<()> {
    let dev = device::pick(&a.device)?;
    let (file, sd, schedule) = open(&a.inversion, a.model.as_deref(), &dev)?;
    let source = file.meta.prompt.clone();
    let (src_emb, _) = sd.encode_prompt(&source)?;
    let nulls = file.embeddings()?;
    let x_t = file.x_t()?;
    // Validate every target before the first (slow) edit.
    let all: Vec<_> = a.target.iter().map(|t| tables(&sd, a, &source, t, file.steps())).collect::<Result<_>>()?;
    for (k, (target, (tab, blend))) in a.target.iter().zip(all).enumerate() {
        let (tgt_emb, enc) = if *target == source { (src_emb.clone(), sd.tokenizer.encode(target)) } else { sd.encode_prompt(target)? };
        if enc.truncated {
            eprintln!("warning: target prompt truncated to 75 tokens");
        }
        let e = P2pEdit { unet: &sd.unet, schedule: &schedule, source: &src_emb, target: &tgt_emb, nulls: NullEmbeddings::PerStep(&nulls), guidance: file.meta.guidance, tables: tab, blend };
        let start = std::time::Instant::now();
        let (latents, _) = run_edit(&e, &x_t, &mut |_, _| {})?;
        let decoded = sd.vae.decode(&latents)?;
        let out = numbered(&a.out, k, a.target.len());
        img::save(&img::from_tensor(&decoded.get(1)?)?, &out)?;
        eprintln!("\"{source}\" → \"{target}\": wrote {} ({:.1} s)", out.display(), start.elapsed().as_secs_f64());
        if let (Some(p), 0) = (&a.source_out, k) {
            img::save(&img::from_tensor(&decoded.get(0)?)?, p)?;
            eprintln!("wrote {}", p.display());
        }
    }
    Ok(())
}

pub fn attention(a: &AttentionArgs) -> Result<()> {
    let dev = device::pick(&a.device)?;
    let (file, sd, schedule) = open(&a.inversion, a.model.as_deref(), &dev)?;
    let source = file.meta.prompt.clone();
    let idx = word_token_indices(&sd.tokenizer, &source, Word::Text(&a.word));
    ensure!(!idx.is_empty(), "\"{}\" is not a word of the source prompt \"{source}\"", a.word);
    let (emb, _) = sd.encode_prompt(&source)?;
    let alpha = vec![0f32; (file.steps() + 1) * 77];
    let tab = EditTables::new(&alpha, (0, 0), None, None, None, &dev)?;
    let nulls = file.embeddings()?;
    let e = P2pEdit { unet: &sd.unet, schedule: &schedule, source: &emb, target: &emb, nulls: NullEmbeddings::PerStep(&nulls), guidance: file.meta.guidance, tables: tab, blend: None };
    let (_, controller) = run_edit(&e, &file.x_t()?, &mut |_, _| {})?;
    // Average the word's columns over the source rows of every stored layer at the most common size.
    let side = |n: usize| (n as f64).sqrt() as usize;
    let cross = || controller.store.iter().filter(|s| s.place.kind == pivot::sd::unet::AttnKind::Cross);
    let target_n = cross().map(|s| s.place.queries).max().unwrap_or(0);
    let mut acc: Option<Tensor> = None;
    for s in cross().filter(|s| s.place.queries == target_n) {
        let heads = s.place.heads;
        let cols = Tensor::new(idx.iter().map(|&i| i as u32).collect::<Vec<_>>().as_slice(), &dev)?;
        let m = s.sum.narrow(0, 0, heads)?.index_select(&cols, 2)?.sum(2)?.mean(0)?;
        acc = Some(match acc {
            Some(a) => (a + m)?,
            None => m,
        });
    }
    let m = acc.context("no cross-attention maps were stored")?;
    let n = side(target_n);
    let m = m.reshape((1, 1, n, n))?;
    let (lo, hi) = (m.min_all()?.to_scalar::<f32>()?, m.max_all()?.to_scalar::<f32>()?);
    let norm = ((m - lo as f64)? / ((hi - lo).max(1e-12) as f64))?;
    let r = sd.resolution();
    let up = norm.upsample_nearest2d(r, r)?.squeeze(0)?;
    let rgb = ((Tensor::cat(&[&up, &up, &up], 0)? * 2.0)? - 1.0)?;
    img::save(&img::from_tensor(&rgb)?, &a.out)?;
    eprintln!("wrote {} (cross-attention of \"{}\", {}×{} maps, averaged over steps, layers and heads)", a.out.display(), a.word, n, n);
    Ok(())
}
