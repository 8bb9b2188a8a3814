//! A stored edit request ([`EditSpec`]) turned into the controller's tables and LocalBlend,
//! with the checks users need (fractions, word counts, words missing from a prompt).

use crate::edit::p2p::align::refine_mapper;
use crate::edit::p2p::blend::LocalBlend;
use crate::edit::p2p::controller::EditTables;
use crate::edit::p2p::replace::replacement_mapper;
use crate::edit::p2p::tables::{cross_alpha, equalizer, self_steps};
use crate::edit::p2p::words::{absent_reason, inside_word_hint, same_text, word_key, word_token_indices, Word};
use crate::sd::StableDiffusion;
use crate::edit::prox::{ProxGuidance, Pull, Shrink};
use crate::session::manifest::{EditSpec, ProxSpec, WordValue};
use anyhow::{bail, ensure, Context, Result};
use crate::sd::tokenizer::ClipTokenizer;
use candle_core::{Device, Tensor};

/// Re-weights beyond this scale attention maps so far that sampling overflows (a black picture).
pub const MAX_REWEIGHT: f64 = 100.0;

/// `v` as people write it: `1e30`, not thirty-one digits.
fn short_number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e6).contains(&v.abs()) { format!("{v:e}") } else { v.to_string() }
}

/// Everything an edit needs, worked out from the tokenizer alone: every check of an [`EditSpec`]
/// happens here, so a CLI can refuse a bad edit before it loads the model's weights.
pub struct EditPlan {
    alpha: Vec<f32>,
    selfs: (usize, usize),
    replace: Option<Vec<f32>>,
    refine: Option<(Vec<i64>, Vec<f32>)>,
    equalizer: Option<Vec<f32>>,
    /// LocalBlend's word rows (source, target) × 77 and threshold.
    blend: Option<(Vec<f32>, f64)>,
    /// Words kept out of the blend's region: their rows and threshold.
    except: Option<(Vec<f32>, f64)>,
    prox: Option<ProxGuidance>,
    steps: usize,
}

/// What an edit samples with, besides its prompts.
pub struct EditParts {
    pub tables: EditTables,
    pub blend: Option<LocalBlend>,
    pub prox: Option<ProxGuidance>,
}

/// What editing `source` into `spec.target` over `steps` sampling steps needs, from an
/// inversion made with `method`.
pub fn edit_parts(sd: &StableDiffusion, spec: &EditSpec, source: &str, steps: usize, method: &str) -> Result<EditParts> {
    let plan = edit_plan(&sd.tokenizer, spec, source, steps)?;
    plan.check_model(sd)?;
    plan.check_method(method)?;
    let (tables, blend) = plan.tables(&sd.device)?;
    Ok(EditParts { tables, blend, prox: plan.prox })
}

/// Refuses proximal guidance on a Direct Inversion (see [`EditPlan::check_method`]).
pub fn check_prox_method(prox: bool, method: &str) -> Result<()> {
    ensure!(
        !(prox && method == "direct"),
        "proximal guidance cannot edit a Direct Inversion: its offsets keep the source on the inverted path only under plain guidance; edit without --prox, or invert with --method npi (the paper's pairing) or null-text"
    );
    Ok(())
}

/// The stored proximal guidance as the edit floor takes it, checked.
pub fn prox_guidance(p: &ProxSpec) -> Result<ProxGuidance> {
    let shrink = Shrink::parse(&p.shrink).with_context(|| format!("unknown proximal operator `{}` ({})", p.shrink, Shrink::NAMES.join(" or ")))?;
    let pull = Pull::parse(&p.pull).with_context(|| format!("unknown proximal pull `{}` ({})", p.pull, Pull::NAMES.join(", ")))?;
    let g = ProxGuidance { shrink, quantile: p.quantile, pull, strength: p.strength, below: p.below };
    g.check()?;
    Ok(g)
}

/// A word given two values (which one would win?) is refused; `what` names the option.
fn once_each(words: &[WordValue], what: &str) -> Result<()> {
    for (i, w) in words.iter().enumerate() {
        let twice = words[..i].iter().find(|o| word_key(&o.word) == word_key(&w.word));
        if let Some(o) = twice {
            let also = if o.word == w.word { String::new() } else { format!(" (as \"{}\")", o.word) };
            bail!("{what}: \"{}\" is given twice{also}; give each word one value", w.word);
        }
    }
    Ok(())
}

/// Check `spec` against `source` and work out its tables' contents.
pub fn edit_plan(tok: &ClipTokenizer, spec: &EditSpec, source: &str, steps: usize) -> Result<EditPlan> {
    let target = spec.target.as_str();
    ensure!(!crate::edit::p2p::words::single_spaced(target).is_empty(), "the target prompt is empty");
    ensure!((0.0..=1.0).contains(&spec.cross), "--cross must be in [0, 1] (got {})", spec.cross);
    ensure!((0.0..=1.0).contains(&spec.self_replace), "--self must be in [0, 1] (got {})", spec.self_replace);
    once_each(&spec.cross_words, "cross-word")?;
    for w in &spec.cross_words {
        ensure!((0.0..=1.0).contains(&w.value), "--cross-word {}={}: the fraction must be in [0, 1]", w.word, w.value);
    }
    once_each(&spec.reweight, "re-weight")?;
    let words: Vec<(String, (f64, f64))> = spec.cross_words.iter().map(|w| (w.word.clone(), (0.0, w.value))).collect();
    let alpha = cross_alpha(tok, target, steps, (0.0, spec.cross), &words)?;
    let selfs = self_steps(steps, (0.0, spec.self_replace))?;
    let (replace, refine) = match spec.mode.as_str() {
        "replace" => (Some(replacement_mapper(tok, source, target)?), None),
        "refine" => (None, Some(refine_mapper(tok, source, target))),
        other => bail!("unknown edit mode `{other}` (replace or refine)"),
    };
    // Compared as the text encoder reads them: CLIP lower-cases and ignores spacing, so a change
    // of case alone would edit nothing.
    let (t_enc, s_enc) = (tok.encode(target), tok.encode(source));
    if t_enc.ids == s_enc.ids && spec.reweight.iter().all(|w| w.value == 1.0) {
        let cut = t_enc.truncated || s_enc.truncated;
        ensure!(!cut || same_text(target, source), "the target differs from the source prompt only after CLIP's 75 tokens, which the model never reads: change an earlier word, or shorten the prompts");
        let by_one = if spec.reweight.is_empty() { "" } else { " (a re-weight by 1 changes nothing)" };
        bail!("the target is the source prompt as the model reads it (case and spacing do not count): change a word, or re-weight one (word=2){by_one}");
    }
    for w in &spec.reweight {
        ensure!(w.value.abs() <= MAX_REWEIGHT, "re-weight {}={}: values must be between -{MAX_REWEIGHT} and {MAX_REWEIGHT} (2 to 5 strengthens a word, 0 to 1 weakens it)", w.word, short_number(w.value));
    }
    let pairs: Vec<(String, f64)> = spec.reweight.iter().map(|w| (w.word.clone(), w.value)).collect();
    let eq = (!pairs.is_empty()).then(|| equalizer(tok, target, &pairs)).transpose()?;
    let blend = match &spec.blend {
        None => None,
        Some(sides) => {
            crate::edit::p2p::blend::check_threshold(spec.blend_threshold)?;
            let rows = blend_rows(tok, [source, target], sides, "--blend")?;
            Some((rows, spec.blend_threshold))
        }
    };
    let except = match (&spec.blend_except, &blend) {
        (None, _) => None,
        (Some(_), None) => bail!("--blend-except takes words out of LocalBlend's region: it needs --blend too"),
        (Some(e), Some(_)) if Some(&e.words) == spec.blend.as_ref() => bail!("--blend-except names the blend words themselves: it would take out their whole region (at most a rim, where the blend's mask is pooled, could change); name the words of the part to leave alone"),
        (Some(e), Some(_)) => {
            ensure!((0.0..1.0).contains(&e.threshold) && (e.threshold as f32) < 1.0, "--blend-except-threshold must be at least 0 and below 1: it compares a map scaled to [0, 1], and at 1 nothing would be kept out (got {})", e.threshold);
            Some((blend_rows(tok, [source, target], &e.words, "--blend-except")?, e.threshold))
        }
    };
    let prox = spec.prox.as_ref().map(prox_guidance).transpose()?;
    Ok(EditPlan { alpha, selfs, replace, refine, equalizer: eq, blend, except, prox, steps })
}

/// LocalBlend's `[2, 77]` word rows (flattened) for `sides` (the source's words, the target's)
/// of `prompts`; `flag` names the option in messages.
fn blend_rows(tok: &ClipTokenizer, prompts: [&str; 2], sides: &[String; 2], flag: &str) -> Result<Vec<f32>> {
    ensure!(sides.iter().any(|s| !s.trim().is_empty()), "{flag} names no word: give the source's words, a comma, the target's (cat,tiger)");
    let mut rows = vec![0f32; 2 * 77];
    // Each side's words, as many as it has (an empty side adds nothing to the mask).
    for (r, (prompt, side)) in prompts.into_iter().zip(sides).enumerate() {
        for w in side.split_whitespace() {
            let idx = word_token_indices(tok, prompt, Word::Text(w));
            ensure!(!idx.is_empty(), "{flag}: \"{w}\" {} \"{prompt}\"{}", absent_reason(prompt, w), inside_word_hint(prompt, w));
            for i in idx {
                rows[r * 77 + i] = 1.0;
            }
        }
    }
    Ok(rows)
}

impl EditPlan {
    /// What the plan asks of the model beyond its tokenizer: LocalBlend reads the
    /// cross-attention maps of level 2 (16×16 for SD's 64×64 latents).
    pub fn check_model(&self, sd: &StableDiffusion) -> Result<()> {
        if let Some(why) = crate::edit::p2p::blend::missing_maps(&sd.unet.config).filter(|_| self.blend.is_some()) {
            bail!("blend words cannot be used: {why}; edit without blend words");
        }
        // A timestep past the schedule's end most likely meant a step count.
        let n = sd.scheduler.num_train_timesteps;
        match self.prox.as_ref().map(|p| p.below).filter(|&b| b > n) {
            Some(b) => bail!("--prox-below {b} is past this model's timesteps (0 to {}): it is a timestep, not a step; {n} pulls at every step, {} at the last 40% of them", n - 1, n * 2 / 5),
            None => Ok(()),
        }
    }

    /// What the plan asks of the inversion it edits: Direct Inversion's offsets were found for
    /// plain guidance, which proximal guidance changes on the source row too.
    pub fn check_method(&self, method: &str) -> Result<()> {
        check_prox_method(self.prox.is_some(), method)
    }

    /// Proximal guidance, if asked for.
    pub fn prox(&self) -> Option<&ProxGuidance> {
        self.prox.as_ref()
    }

    /// The controller's tables and the LocalBlend on `dev`.
    pub fn tables(&self, dev: &Device) -> Result<(EditTables, Option<LocalBlend>)> {
        let refine = self.refine.as_ref().map(|(m, al)| (m.as_slice(), al.as_slice()));
        let tables = EditTables::new(&self.alpha, self.selfs, self.replace.as_deref(), refine, self.equalizer.as_deref(), dev)?;
        let blend = match &self.blend {
            Some((rows, threshold)) => {
                let blend = LocalBlend::new(Tensor::from_vec(rows.clone(), (2, 77), dev)?, *threshold, self.steps);
                match &self.except {
                    Some((rows, threshold)) => Some(blend.excluding(Tensor::from_vec(rows.clone(), (2, 77), dev)?, *threshold)),
                    None => Some(blend),
                }
            }
            None => None,
        };
        Ok((tables, blend))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_that_differs_only_past_clips_tokens_is_named_so() {
        let tok = ClipTokenizer::builtin().unwrap();
        let caption = format!("a cat {}", "very ".repeat(80));
        let spec = |target: String| EditSpec { target, mode: "refine".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let e = edit_plan(&tok, &spec(format!("{caption} and a dog")), &caption, 10).err().unwrap().to_string();
        assert!(e.contains("only after CLIP's 75 tokens"), "{e}");
        let e = edit_plan(&tok, &spec(caption.to_uppercase()), &caption, 10).err().unwrap().to_string();
        assert!(e.contains("case and spacing do not count"), "{e}");
        assert!(edit_plan(&tok, &spec(caption.replacen("cat", "dog", 1)), &caption, 10).is_ok());
    }

    #[test]
    fn blend_rows_mark_every_word_of_each_side() {
        let tok = ClipTokenizer::builtin().unwrap();
        let source = "a cat on a mat";
        let spec = |target: &str, blend: [&str; 2]| EditSpec { target: target.into(), mode: "refine".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some(blend.map(String::from)), blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let marked = |target: &str, blend: [&str; 2]| {
            let (rows, _) = edit_plan(&tok, &spec(target, blend), source, 10).unwrap().blend.unwrap();
            [0, 1].map(|r| (0..77).filter(|&i| rows[r * 77 + i] == 1.0).collect::<Vec<_>>())
        };
        // One token per word here: positions count from 1 (after BOS).
        assert_eq!(marked("a red car on a mat", ["cat mat", "red car"]), [vec![2, 5], vec![2, 3]]);
        assert_eq!(marked("a cat on a mat with a hat", ["", "hat"]), [vec![], vec![8]], "an added object: only the target's row");
        assert_eq!(marked("a mat", ["cat", ""]), [vec![2], vec![]], "a removed one: only the source's");
        let e = edit_plan(&tok, &spec("a red car on a mat", ["cat", "red bus"]), source, 10).err().unwrap().to_string();
        assert!(e.contains("\"bus\" is not a word of \"a red car on a mat\""), "{e}");
        let e = edit_plan(&tok, &spec("a red car on a mat", [" ", ""]), source, 10).err().unwrap().to_string();
        assert!(e.contains("names no word"), "{e}");
        let e = edit_plan(&tok, &spec("a Car-like thing on a mat", ["cat", "car"]), source, 10).err().unwrap().to_string();
        assert!(e.contains("name \"Car-like\""), "a word inside another is named whole: {e}");
    }

    #[test]
    fn numbers_in_messages_are_short() {
        assert_eq!(short_number(1e30), "1e30");
        assert_eq!(short_number(-2.5e-7), "-2.5e-7");
        assert_eq!(short_number(150.0), "150");
        assert_eq!(short_number(0.0), "0");
    }
}
