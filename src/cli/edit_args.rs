//! `pivot edit`'s flags, and the stored edit they ask for, one per target.

use super::device;
use super::inversion_source::InversionSource;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use pivot::edit::p2p::blend_words::BlendWords;
use pivot::session::manifest::{BlendExcept, EditSpec, ProxSpec, WordValue};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum Mode {
    /// Word swap: same number of words, some of them changed.
    #[value(alias = "swap")]
    Replace,
    /// Refinement: words added or removed (aligned token by token).
    Refine,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    #[command(flatten)]
    pub from: InversionSource,
    /// Target prompt; repeat for several edits (one image each).
    #[arg(long, required = true)]
    pub target: Vec<String>,
    #[arg(long, value_enum, default_value = "replace")]
    pub mode: Mode,
    /// Fraction of steps whose cross-attention is replaced, in [0, 1].
    #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
    pub cross: f64,
    /// Fraction of steps whose self-attention is replaced, in [0, 1].
    #[arg(long = "self", default_value_t = 0.4, allow_negative_numbers = true)]
    pub self_frac: f64,
    /// Per-word cross-replacement fraction, `word=0.2` (repeatable).
    #[arg(long = "cross-word", value_parser = parse_pair)]
    pub cross_word: Vec<(String, f64)>,
    /// LocalBlend words: the source's, a comma, the target's (`cat,tiger`, "cat,sports car"; `,hat` for an object added, `cat,` for one removed): edit only where they attend.
    #[arg(long)]
    pub blend: Option<String>,
    /// LocalBlend's mask threshold (with --blend): at least 0 and below 1 (at 1 nothing would change).
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true, requires = "blend")]
    pub blend_threshold: f64,
    /// Words whose region LocalBlend keeps out of the edit (with --blend), given as --blend's are (`collar,collar`, `,collar`).
    #[arg(long, requires = "blend")]
    pub blend_except: Option<String>,
    /// The excluded words' mask threshold (with --blend-except): at least 0 and below 1.
    #[arg(long, default_value_t = 0.3, allow_negative_numbers = true, requires = "blend_except")]
    pub blend_except_threshold: f64,
    /// Re-weight a target word's attention, `word=2.0` (repeatable).
    #[arg(long, value_parser = parse_pair)]
    pub reweight: Vec<(String, f64)>,
    /// Proximal guidance (ProxEdit): guidance shrunk toward 0 where the prompts barely differ,
    /// by the l0 or l1 operator; pairs best with an npi inversion.
    #[arg(long, value_parser = pivot::edit::prox::Shrink::NAMES)]
    pub prox: Option<String>,
    /// Quantile of the guidance values taken as the proximal threshold, in [0, 1] (with --prox).
    #[arg(long, default_value_t = pivot::edit::prox::QUANTILE, allow_negative_numbers = true, requires = "prox")]
    pub prox_quantile: f64,
    /// What late steps are pulled back to outside the edited region (with --prox): the inversion's latents, the photo's, both, or none.
    #[arg(long, default_value = "inversion", value_parser = pivot::edit::prox::Pull::NAMES, requires = "prox")]
    pub prox_pull: String,
    /// Share of the way back each pull goes, in [0, 1] (with --prox).
    #[arg(long, default_value_t = pivot::edit::prox::STRENGTH, allow_negative_numbers = true, requires = "prox")]
    pub prox_strength: f64,
    /// The pulls act at timesteps below this one (with --prox; 400: the last 40% of the steps). The defaults are the ProxEdit authors' example.
    #[arg(long, default_value_t = pivot::edit::prox::BELOW, requires = "prox")]
    pub prox_below: usize,
    /// Where to write the edited image (numbered when several targets; optional with --session).
    #[arg(long, required_unless_present = "session")]
    pub out: Option<PathBuf>,
    /// Also write the source row (the reconstruction) here.
    #[arg(long)]
    pub source_out: Option<PathBuf>,
    /// Also write LocalBlend's mask of the edit's last step here (with --blend; numbered like --out): white where the edit could change the photo.
    #[arg(long, requires = "blend")]
    pub blend_mask: Option<PathBuf>,
    /// Model to use (a diffusers folder, `org/name[@revision]`, `hub:org/name` or `tiny`); default: the one named in the inversion file or the session.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

fn parse_pair(s: &str) -> Result<(String, f64), String> {
    let (w, v) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected word=value"))?;
    // Spaces around the word or number are what a quoted shell argument may carry; control
    // characters are cleaned as in prompts (they never reach the terminal in a message).
    let (w, v) = (pivot::edit::p2p::words::single_spaced(w), v.trim());
    let w = w.as_str();
    if v.contains([',', '=']) {
        return Err(format!("`{s}`: one word=value each; repeat the flag for more words"));
    }
    let (text, v) = (v, v.parse::<f64>().map_err(|_| format!("`{s}`: `{v}` is not a number"))?);
    if w.is_empty() {
        return Err(format!("`{s}`: expected word=value"));
    }
    if !v.is_finite() {
        // Named as written: 1e400 reads as infinity.
        return Err(format!("`{s}`: `{text}` is not a finite number (too large, or inf or NaN)"));
    }
    Ok((w.to_string(), v))
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Replace => "replace",
            Mode::Refine => "refine",
        }
    }
}

/// The two sides of blend words given to `flag` (`--blend`, `--blend-except`), whose threshold
/// has its own flag (the dashboard's form takes `cat,tiger 0.5`).
fn blend_sides(flag: &str, given: &str, target: &str) -> Result<[String; 2]> {
    let words = BlendWords::parse(given, target).map_err(|e| anyhow::anyhow!("{flag} `{given}`: {e}"))?;
    if let Some(t) = &words.trailing_number {
        bail!("{flag} `{given}`: the threshold goes in its own flag: {flag}-threshold {t}");
    }
    Ok(words.sides())
}

/// The stored form of the flags for one target.
pub fn spec_of(a: &EditArgs, target: &str) -> Result<EditSpec> {
    let blend = a.blend.as_ref().map(|b| blend_sides("--blend", b, target)).transpose()?;
    let blend_except = match &a.blend_except {
        None => None,
        Some(b) => Some(BlendExcept { words: blend_sides("--blend-except", b, target)?, threshold: a.blend_except_threshold }),
    };
    let values = |v: &[(String, f64)]| v.iter().map(|(w, x)| WordValue { word: w.clone(), value: *x }).collect();
    Ok(EditSpec {
        target: pivot::edit::p2p::words::single_spaced(target),
        mode: a.mode.name().into(),
        cross: a.cross,
        self_replace: a.self_frac,
        cross_words: values(&a.cross_word),
        blend,
        blend_threshold: a.blend_threshold,
        reweight: values(&a.reweight),
        blend_except,
        prox: a.prox.as_ref().map(|shrink| ProxSpec { shrink: shrink.clone(), quantile: a.prox_quantile, pull: a.prox_pull.clone(), strength: a.prox_strength, below: a.prox_below }),
    })
}
