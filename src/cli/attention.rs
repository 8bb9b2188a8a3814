//! `pivot attention`: the cross-attention map of a source word (or several, summed) over the
//! source reconstruction, or LocalBlend's mask of them at a threshold, to choose blend words.

use super::device;
use super::inversion_source::InversionSource;
use super::inversion_model::{model_for, model_source, read_inversion};
use super::outputs;
use super::progress::Progress;
use anyhow::{ensure, Context, Result};
use candle_core::Tensor;
use clap::Args;
use pivot::edit::p2p::blend::{check_threshold, missing_maps, LocalBlend};
use pivot::edit::p2p::controller::{EditTables, StoredMap};
use pivot::edit::p2p::run::{run_edit_until, P2pEdit};
use pivot::edit::p2p::words::{absent_reason, inside_word_hint, word_token_indices, Word};
use pivot::edit::sample::NullEmbeddings;
use pivot::sd::image as img;
use pivot::sd::tokenizer::ClipTokenizer;
use pivot::sd::unet::{AttnKind, Part};
use pivot::sd::StableDiffusion;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct AttentionArgs {
    #[command(flatten)]
    pub from: InversionSource,
    /// A word of the source prompt; several, apart by spaces ("sports car"), give their maps summed, as --blend does.
    #[arg(long)]
    pub word: String,
    /// Where to write the map, or the mask (PNG, JPEG, WebP, BMP, TIFF or GIF, by its extension).
    #[arg(long)]
    pub out: PathBuf,
    /// Write LocalBlend's mask of the words at this threshold instead of their map: white where an edit with `--blend WORDS,…` and `--blend-threshold` this may change the photo (the source's side of the mask).
    #[arg(long, allow_negative_numbers = true)]
    pub blend_threshold: Option<f64>,
    /// Model to use (a diffusers folder, `org/name[@revision]`, `hub:org/name` or `tiny`); default: the one named in the file.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

pub fn attention(a: &AttentionArgs) -> Result<()> {
    outputs::check_image(&a.out, "--out")?;
    let dev = device::pick(a.device.as_deref())?;
    let found = a.from.find(a.model.as_deref())?;
    a.blend_threshold.map(check_threshold).transpose()?;
    let (path, model) = (found.path.clone(), found.model.clone());
    let file = read_inversion(&path, &dev).map_err(|e| found.restart_hint(e))?;
    let source = file.meta.prompt.clone();
    let word = pivot::edit::p2p::words::single_spaced(&a.word);
    ensure!(!word.is_empty(), "--word is empty: name a word of the source prompt \"{source}\"");
    // Several words give their maps summed, as LocalBlend sums a side's words.
    let word_in = |tok: &ClipTokenizer| {
        let mut idx = Vec::new();
        let mut missing = Vec::new();
        let mut hints = String::new();
        for w in word.split(' ') {
            let of_w = word_token_indices(tok, &source, Word::Text(w));
            if of_w.is_empty() {
                missing.push(format!("\"{w}\" {} the source prompt", absent_reason(&source, w)));
                hints.push_str(&inside_word_hint(&source, w));
            }
            idx.extend(of_w);
        }
        // Every word that is not there, so that one retry does.
        ensure!(missing.is_empty(), "{} \"{source}\"{hints}", missing.join("; "));
        idx.sort_unstable();
        idx.dedup();
        Ok(idx)
    };
    // Checked before the weights load when the tokenizer can be read alone.
    if let Some(tok) = StableDiffusion::load_tokenizer(&model_source(&file, model.as_deref())?)? {
        word_in(&tok)?;
    }
    let (sd, schedule) = model_for(&file, &path, model.as_deref(), &dev)?;
    let idx = word_in(&sd.tokenizer)?;
    if let Some(why) = missing_maps(&sd.unet.config).filter(|_| a.blend_threshold.is_some()) {
        anyhow::bail!("--blend-threshold cannot be used: {why}; drop it for the words' map");
    }
    let (emb, _) = sd.encode_prompt(&source)?;
    let alpha = vec![0f32; (file.steps() + 1) * 77];
    let tab = EditTables::new(&alpha, (0, 0), None, None, None, &dev)?;
    let nulls = file.embeddings()?;
    let offsets = file.source_offsets()?;
    let e = P2pEdit { unet: &sd.unet, schedule: &schedule, source: &emb, target: &emb, nulls: NullEmbeddings::PerStep(&nulls), guidance: file.meta.guidance, tables: tab, blend: None, offsets: offsets.as_deref(), prox: None };
    outputs::say_replaced();
    let cancel = super::drive::cancel_on_signal();
    let mut progress = Progress::new("attention", file.steps());
    let ran = run_edit_until(&e, &file.x_t()?, &mut |i, _| progress.step(i + 1), &cancel);
    progress.finish();
    let Some((_, controller)) = ran? else {
        return Err(pivot::signals::Interrupted::now("no map was written").into());
    };
    if let Some(th) = a.blend_threshold {
        return write_blend_mask(a, &sd, &controller.store, &idx, th, (file.steps(), file.x_t()?.dims4()?), &word);
    }
    // The word's columns over the source rows of the down and up blocks' cross-attention at level
    // 2 (16×16 at SD 512, as the reference's show_cross_attention), averaged over steps, layers
    // and heads; a UNet too shallow for level 2 gives its deepest level.
    let cross = || controller.store.iter().filter(|s| s.place.kind == AttnKind::Cross && s.place.part != Part::Mid);
    let level = cross().map(|s| s.place.level).filter(|&l| l <= 2).max().context("no cross-attention maps were stored")?;
    let mut acc: Option<Tensor> = None;
    let mut queries = 0;
    for s in cross().filter(|s| s.place.level == level) {
        queries = s.place.queries;
        let heads = s.place.heads;
        let cols = Tensor::new(idx.iter().map(|&i| i as u32).collect::<Vec<_>>().as_slice(), &dev)?;
        let m = s.sum.narrow(0, 0, heads)?.index_select(&cols, 2)?.sum(2)?.mean(0)?;
        acc = Some(match acc {
            Some(a) => (a + m)?,
            None => m,
        });
    }
    let m = acc.context("no cross-attention maps were stored")?;
    let n = (queries as f64).sqrt() as usize;
    let m = m.reshape((1, 1, n, n))?;
    // Scaled by its maximum, as the reference shows it.
    let hi = m.max_all()?.to_scalar::<f32>()?;
    let norm = (m / (hi.max(1e-12) as f64))?;
    let r = sd.resolution();
    let up = norm.upsample_nearest2d(r, r)?.squeeze(0)?;
    let rgb = ((Tensor::cat(&[&up, &up, &up], 0)? * 2.0)? - 1.0)?;
    outputs::save_image(&img::from_tensor(&rgb)?, &a.out)?;
    eprintln!("wrote {} (cross-attention of \"{}\", {}×{} maps, averaged over steps, layers and heads)", a.out.display(), word, n, n);
    Ok(())
}

/// LocalBlend's mask of the words at token positions `idx` as an edit's last step sees it (the
/// source's row; the target's words add their own region in an edit), white where the edit may
/// change the photo.
fn write_blend_mask(a: &AttentionArgs, sd: &StableDiffusion, store: &[StoredMap], idx: &[usize], threshold: f64, (steps, (_, _, h, w)): (usize, (usize, usize, usize, usize)), word: &str) -> Result<()> {
    let dev = &sd.device;
    let mut rows = vec![0f32; 2 * 77];
    idx.iter().for_each(|&i| rows[i] = 1.0);
    let blend = LocalBlend::new(Tensor::from_vec(rows, (2, 77), dev)?, threshold, steps);
    let (pic, share) = blend.last_mask_picture(store, steps, (h, w), 0, sd.vae.factor())?;
    let share = share * 100.0;
    outputs::save_image(&pic, &a.out)?;
    eprintln!("wrote {} (LocalBlend's mask of \"{word}\" at threshold {threshold}: white where an edit blending these words may change the photo, {share:.1}% of it)", a.out.display());
    Ok(())
}
