//! The edit form read as an edit request: what each field accepts, and what is wrong with it,
//! checked before queueing (the worker checks the words against the tokenizer too).

use super::state::EditForm;
use crate::edit::p2p::blend_words::BlendWords;
use crate::edit::p2p::words::{has_word, same_text, word_key};
use crate::session::manifest::{BlendExcept, EditRecord, EditSpec, WordValue};
use crate::worker::edit_spec::MAX_REWEIGHT;

/// LocalBlend's mask threshold when the blend field names none (the CLI's default too).
const BLEND_THRESHOLD: f64 = 0.3;

/// What the field at `index` of the form takes, in a line under the fields.
pub fn field_hint(index: usize) -> &'static str {
    match index {
        0 => "the caption with words changed (replace: as many words; refine: more)",
        1 => "replace swaps words one for one · refine adds words to the caption",
        2 => "share of steps on the source's word maps: 0.8 · per word: 0.8 tiger=0.4",
        3 => "share of steps on the source's self-attention (keeps the layout): 0.4",
        4 => "edit where words are: cat,tiger · cat,sports car · ,hat · cat,tiger 0.5",
        5 => "but not where these are (with blend words): collar,collar · ,collar 0.5",
        6 => "strengthen or weaken target words: tiger=2 sofa=0.5",
        _ => "guide where prompts differ: l0 · l1 0.6 both · strength=0.5 below=300",
    }
}

fn fraction(name: &str, s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{name} must be a number in [0, 1] (got `{}`)", s.trim())),
    }
}

/// Pieces of a field, with spaces or commas between them (`dog=2 mirror=3`, `dog=2,mirror=3`).
fn pieces(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || c == ',').filter(|p| !p.is_empty())
}

/// One `word=value` piece of field `name`: the word is one of `target`'s, named once, and `value`
/// says whether the number is right (its error names what it expects).
fn word_value(name: &str, piece: &str, target: &str, seen: &[WordValue], value: impl Fn(&str) -> Option<f64>, expected: &str) -> Result<WordValue, String> {
    let (w, v) = piece.split_once('=').filter(|(w, _)| !w.is_empty()).ok_or(format!("{name} `{piece}`: expected word={expected}"))?;
    // `-0` is 0 (and is stored as such).
    let value = value(v).ok_or(format!("{name} `{piece}`: `{v}` is not {expected}"))? + 0.0;
    if !has_word(target, w) {
        return Err(format!("{name}: \"{w}\" is not a word of \"{target}\""));
    }
    if seen.iter().any(|s| word_key(&s.word) == word_key(w)) {
        return Err(format!("{name}: \"{w}\" is named twice"));
    }
    Ok(WordValue { word: w.to_string(), value })
}

/// The cross replace field: one fraction for every word, then target words with their own
/// (`0.8 tiger=0.4`).
fn cross_replace(s: &str, target: &str) -> Result<(f64, Vec<WordValue>), String> {
    const NAME: &str = "cross replace";
    let (mut all, mut words) = (None, Vec::new());
    for p in pieces(s) {
        if p.contains('=') {
            let v = word_value(NAME, p, target, &words, |v| fraction(NAME, v).ok(), "a number in [0, 1]")?;
            words.push(v);
        } else if p.parse::<f64>().is_err() {
            return Err(format!("{NAME} `{p}`: expected a number in [0, 1] or word=fraction"));
        } else if all.is_some() {
            return Err(format!("{NAME}: one fraction for all words, then word=fraction; `{p}` is a second one (decimals take a point: 0.5)"));
        } else {
            all = Some(fraction(NAME, p)?);
        }
    }
    let all = all.ok_or(format!("{NAME} must start with a number in [0, 1] for all words (e.g. 0.8 tiger=0.4)"))?;
    Ok((all, words))
}

/// A blend field (`name`: the words the edit is blended on, or those kept out of it): the
/// source's words, a comma, the target's (see [`BlendWords`]), then the mask threshold if not
/// the default.
fn blend_field(name: &str, s: &str, source: &str, target: &str) -> Result<Option<([String; 2], f64)>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let words = BlendWords::parse(s, target).map_err(|e| format!("{name}: {e}"))?;
    let threshold = match words.trailing_number.as_deref() {
        None => BLEND_THRESHOLD,
        // At 1 no place passes: the blend's edit would be the reconstruction.
        Some(t) if t.parse::<f64>().is_ok_and(|v| v as f32 >= 1.0) => {
            let effect = if name == "blend" { "change" } else { "be kept out" };
            return Err(format!("{name} threshold must be below 1: at 1 no place would {effect} (got `{t}`)"));
        }
        Some(t) => fraction(&format!("{name} threshold"), t)?,
    };
    if let Some((w, prompt)) = words.missing(source, target) {
        return Err(format!("{name}: \"{w}\" is not a word of \"{prompt}\""));
    }
    Ok(Some((words.sides(), threshold)))
}

/// `threshold` as the blend field writes it: a value the target has as a word (`0.5` in "a 0.5
/// litre bottle") would be read back as a word, so it gets trailing zeros until it is none.
fn threshold_not_a_word(threshold: f64, target: &str) -> String {
    let mut t = threshold.to_string();
    if has_word(target, &t) && !t.contains('.') {
        t.push('.');
    }
    while has_word(target, &t) {
        t.push('0');
    }
    t
}

/// A form filled in with `edit`'s settings, to make a variation of it: what [`edit_spec`] reads
/// back as the same spec.
pub fn form_from_edit(item: &str, edit: &EditRecord) -> EditForm {
    let s = &edit.spec;
    let words = |list: &[WordValue]| list.iter().map(|w| format!(" {}={}", w.word, w.value)).collect::<String>();
    let field = |words: Option<&[String; 2]>, threshold: f64| match words {
        None => String::new(),
        Some([a, b]) if threshold == BLEND_THRESHOLD => format!("{a},{b}"),
        Some([a, b]) => format!("{a},{b} {}", threshold_not_a_word(threshold, &s.target)),
    };
    let blend = field(s.blend.as_ref(), s.blend_threshold);
    let blend_except = s.blend_except.as_ref().map(|e| field(Some(&e.words), e.threshold)).unwrap_or_default();
    EditForm {
        target: s.target.clone(),
        refine: s.mode == "refine",
        cross: format!("{}{}", s.cross, words(&s.cross_words)),
        self_replace: s.self_replace.to_string(),
        blend,
        blend_except,
        reweight: words(&s.reweight).trim_start().to_string(),
        prox: s.prox.as_ref().map(super::prox_field::write).unwrap_or_default(),
        from: Some(edit.id.clone()),
        ..EditForm::new(item, "")
    }
}

/// The form as an edit of `source`, or what is wrong with it: fields are checked in the order the
/// form shows them, so the first wrong one is named first.
pub fn edit_spec(f: &EditForm, source: &str) -> Result<EditSpec, String> {
    edit_spec_at(f, source).map_err(|(_, e)| e)
}

/// [`edit_spec`], with the index (in [`EditForm::FIELDS`]) of the field at fault.
pub fn edit_spec_at(f: &EditForm, source: &str) -> Result<EditSpec, (usize, String)> {
    let at = |field: usize| move |e: String| (field, e);
    let target = f.target.trim();
    if target.is_empty() {
        return Err((0, "type the target prompt".into()));
    }
    let words = |p: &str| p.split_whitespace().count();
    if !f.refine && words(target) != words(source) {
        return Err((0, format!("replace needs the same number of words as \"{source}\" ({} vs {}); switch the mode to refine", words(source), words(target))));
    }
    let (cross, cross_words) = cross_replace(&f.cross, target).map_err(at(2))?;
    let self_replace = fraction("self replace", &f.self_replace).map_err(at(3))?;
    let blend = blend_field("blend", &f.blend, source, target).map_err(at(4))?;
    let except = blend_field("blend except", &f.blend_except, source, target).map_err(at(5))?;
    match (&except, &blend) {
        (Some(_), None) => return Err((5, "blend except takes words out of the blend's region: name blend words too, or clear this field".into())),
        (Some((out, _)), Some((words, _))) if out == words => return Err((5, "blend except names the blend words themselves: at most a rim could change; name the part to leave alone".into())),
        _ => {}
    }
    let mut reweight = Vec::new();
    for p in pieces(&f.reweight) {
        let within = |v: &str| v.parse::<f64>().ok().filter(|x| x.abs() <= MAX_REWEIGHT);
        let v = word_value("re-weight", p, target, &reweight, within, &format!("a number between -{MAX_REWEIGHT} and {MAX_REWEIGHT}")).map_err(at(6))?;
        reweight.push(v);
    }
    let prox = super::prox_field::parse(&f.prox).map_err(at(7))?;
    // Refused here, not by the worker, so the form stays open with what was typed.
    // CLIP reads prompts lower-cased: a change of case alone would edit nothing.
    if reweight.iter().all(|w| w.value == 1.0) && same_text(target, source) {
        let by_one = if reweight.is_empty() { "" } else { " (a re-weight by 1 changes nothing)" };
        return Err((0, format!("the target is the source prompt as the model reads it (case and spacing do not count): change a word, or re-weight one (word=2){by_one}")));
    }
    Ok(EditSpec {
        target: target.to_string(),
        mode: if f.refine { "refine" } else { "replace" }.into(),
        cross,
        self_replace,
        cross_words,
        blend_threshold: blend.as_ref().map_or(BLEND_THRESHOLD, |b| b.1),
        blend: blend.map(|b| b.0),
        reweight,
        prox,
        blend_except: except.map(|(words, threshold)| BlendExcept { words, threshold }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::manifest::ProxSpec;

    fn pairs(list: &[WordValue]) -> Vec<(&str, f64)> {
        list.iter().map(|w| (w.word.as_str(), w.value)).collect()
    }

    #[test]
    fn the_edit_form_refuses_what_the_edit_would_refuse() {
        let src = "a cat on a mat";
        let mut f = EditForm::new("cat", src);
        f.target = "a dog on a mat".into();
        let s = edit_spec(&f, src).unwrap();
        assert_eq!((s.mode.as_str(), s.cross, s.self_replace, s.blend_threshold), ("replace", 0.8, 0.4, 0.3));
        f.target = "a big dog on a mat".into();
        assert!(edit_spec(&f, src).unwrap_err().contains("refine"));
        f.refine = true;
        assert!(edit_spec(&f, src).is_ok());
        f.cross = "1.5".into();
        assert!(edit_spec(&f, src).unwrap_err().contains("cross replace"));
        f.cross = "0.8".into();
        f.blend = "cat,dog".into();
        f.reweight = "big=2".into();
        let s = edit_spec(&f, src).unwrap();
        assert_eq!(s.blend, Some(["cat".to_string(), "dog".to_string()]));
        assert_eq!(s.reweight[0].value, 2.0);
        f.blend = "tiger,dog".into();
        assert!(edit_spec(&f, src).unwrap_err().contains("tiger"));
        // Several re-weights, with spaces or commas between.
        f.blend = String::new();
        f.reweight = "big=2,dog=3 mat=0.5".into();
        assert_eq!(pairs(&edit_spec(&f, src).unwrap().reweight), [("big", 2.0), ("dog", 3.0), ("mat", 0.5)]);
        f.reweight = "big=2 BIG=3".into();
        assert!(edit_spec(&f, src).unwrap_err().contains("\"BIG\" is named twice"));
        // The source prompt again is no edit, unless a word is re-weighted.
        f.target = src.to_uppercase();
        f.reweight = String::new();
        assert!(edit_spec(&f, src).unwrap_err().contains("the target is the source prompt"));
        f.reweight = "cat=2".into();
        assert!(edit_spec(&f, src).is_ok());
    }

    #[test]
    fn cross_replace_takes_fractions_per_target_word_after_the_one_for_all() {
        let src = "a cat on a mat";
        let mut f = EditForm::new("cat", src);
        f.target = "a dog on a rug".into();
        f.cross = " 0.7  dog=0.2,rug=1 ".into();
        let s = edit_spec(&f, src).unwrap();
        assert_eq!((s.cross, pairs(&s.cross_words)), (0.7, vec![("dog", 0.2), ("rug", 1.0)]));
        f.cross = "dog=0.2 0.7".into();
        assert_eq!(edit_spec(&f, src).unwrap().cross, 0.7, "in any order");
        f.cross = "0.7 dog=-0".into();
        assert!(edit_spec(&f, src).unwrap().cross_words[0].value.is_sign_positive(), "-0 is 0");
        for (bad, why) in [("dog=0.2", "must start with a number"), ("0.7 0.5", "`0.5` is a second one"), ("0.7 dog=0,5", "`5` is a second one (decimals take a point"), ("-0.2", "must be a number in [0, 1] (got `-0.2`)"), ("0.7 =0.4", "`=0.4`: expected word="), ("0.7 cat=0.2", "\"cat\" is not a word of \"a dog on a rug\""), ("0.7 dog=2", "`2` is not a number in [0, 1]"), ("0.7 dog", "`dog`: expected a number in [0, 1] or word=fraction"), ("0.7 dog=0.1 dog=0.3", "named twice")] {
            f.cross = bad.into();
            let e = edit_spec(&f, src).unwrap_err();
            assert!(e.starts_with("cross replace") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_blend_field_takes_a_threshold_after_its_words() {
        let src = "a cat on a mat";
        let mut f = EditForm::new("cat", src);
        f.target = "a dog on a mat".into();
        let sides = |a: &str, b: &str| [a.to_string(), b.to_string()];
        for (typed, words, threshold) in [
            ("cat,dog", sides("cat", "dog"), 0.3),
            ("cat, dog 0.55", sides("cat", "dog"), 0.55),
            (" cat,dog\t0.9 ", sides("cat", "dog"), 0.9),
            ("cat mat,dog  mat", sides("cat mat", "dog mat"), 0.3),
            (",dog 0.4", sides("", "dog"), 0.4),
            ("cat,", sides("cat", ""), 0.3),
        ] {
            f.blend = typed.into();
            let s = edit_spec(&f, src).unwrap();
            assert_eq!((s.blend.unwrap(), s.blend_threshold), (words, threshold), "{typed}");
        }
        // A number the target has as a word is a word, not the threshold.
        f.target = "a dog on 2 mats".into();
        f.blend = "cat,dog 2".into();
        assert_eq!(edit_spec(&f, src).unwrap().blend, Some(sides("cat", "dog 2")));
        f.target = "a dog on a mat".into();
        for (bad, why) in [
            ("cat,dog 1.5", "blend threshold must be below 1: at 1 no place would change (got `1.5`)"),
            ("cat,dog 1", "below 1"),
            ("cat,dog -0.1", "blend threshold must be a number in [0, 1] (got `-0.1`)"),
            ("cat,dog abc", "blend: \"abc\" is not a word of \"a dog on a mat\""),
            ("cat,dog 0.5 0.6", "blend: one threshold, after the words (got `0.5` and `0.6`)"),
            ("cat 0.5", "a comma between the sides (got `cat 0.5`)"),
            ("cat,dog,rug", "one comma"),
            (", 0.5", "no word named"),
            ("cat rug,dog", "blend: \"rug\" is not a word of \"a cat on a mat\""),
        ] {
            f.blend = bad.into();
            let e = edit_spec(&f, src).unwrap_err();
            assert!(e.starts_with("blend") && e.contains(why), "{bad}: {e}");
        }
        // The except field reads the same way, under its own name.
        f.blend = "cat,dog".into();
        f.blend_except = "mat,mat 0.6".into();
        let s = edit_spec(&f, src).unwrap().blend_except.unwrap();
        assert_eq!((s.words, s.threshold), (sides("mat", "mat"), 0.6));
        f.blend_except = "mat,mat 1".into();
        assert_eq!(edit_spec(&f, src).unwrap_err(), "blend except threshold must be below 1: at 1 no place would be kept out (got `1`)");
        f.blend_except = "mat,sofa".into();
        assert_eq!(edit_spec(&f, src).unwrap_err(), "blend except: \"sofa\" is not a word of \"a dog on a mat\"");
        f.blend_except = "cat, dog 0.5".into();
        assert!(edit_spec(&f, src).unwrap_err().starts_with("blend except names the blend words themselves: at most a rim"));
    }

    #[test]
    fn the_edit_form_names_the_first_wrong_field_in_the_order_it_shows_them() {
        let src = "a cat on a mat";
        let mut f = EditForm::new("cat", src);
        f.target = "a dog on a mat".into();
        f.cross = "2".into();
        f.reweight = "dog=banana".into();
        let e = edit_spec(&f, src).unwrap_err();
        assert!(e.starts_with("cross replace"), "cross replace comes before re-weight on the form: {e}");
        f.cross = "0.8".into();
        f.blend = "cat".into();
        assert!(edit_spec(&f, src).unwrap_err().starts_with("blend"), "then blend words");
        f.blend.clear();
        f.blend_except = "mat,".into();
        assert_eq!(edit_spec_at(&f, src).unwrap_err(), (5, "blend except takes words out of the blend's region: name blend words too, or clear this field".into()));
        f.blend_except = "mat,sofa".into();
        assert_eq!(edit_spec_at(&f, src).unwrap_err().0, 5, "its words are checked");
        f.blend_except.clear();
        assert!(edit_spec(&f, src).unwrap_err().starts_with("re-weight"));
        f.reweight.clear();
        f.prox = "l0 2".into();
        assert_eq!(edit_spec_at(&f, src).unwrap_err(), (7, "proximal: the quantile must be a number in [0, 1] (got `2`)".into()), "then the proximal field");
        f.prox = "l0 both".into();
        assert_eq!(edit_spec(&f, src).unwrap().prox.map(|p| (p.shrink, p.pull)), Some(("l0".into(), "both".into())));
    }

    #[test]
    fn a_form_from_an_edit_reads_back_as_that_edit() {
        let src = "a cat on a mat";
        let wv = |w: &str, value: f64| WordValue { word: w.into(), value };
        let base = EditSpec { target: "a dog on a rug".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let specs = [
            base.clone(),
            EditSpec { cross: 0.65, cross_words: vec![wv("dog", 0.2), wv("rug", 1.0)], blend: Some(["cat".into(), "dog".into()]), ..base.clone() },
            EditSpec { blend: Some(["mat".into(), "rug".into()]), blend_threshold: 0.55, reweight: vec![wv("dog", 2.5), wv("rug", -0.125)], self_replace: 0.0, ..base.clone() },
            EditSpec { blend: Some(["cat mat".into(), String::new()]), blend_threshold: 0.25, ..base.clone() },
            EditSpec { target: "a dog on 2 rugs".into(), blend: Some([String::new(), "dog 2".into()]), ..base.clone() },
            // A threshold the target has as a word.
            EditSpec { target: "a 0.5 litre dog on a rug.".into(), mode: "refine".into(), blend: Some(["cat".into(), "dog".into()]), blend_threshold: 0.5, ..base.clone() },
            EditSpec { target: "a dog on 0 rugs".into(), blend: Some(["cat".into(), "dog".into()]), blend_threshold: 0.0, ..base.clone() },
            EditSpec { target: "a big dog on a rug".into(), mode: "refine".into(), cross: 1.0, ..base.clone() },
            EditSpec { blend: Some(["cat".into(), "dog".into()]), blend_except: Some(BlendExcept { words: ["mat".into(), "rug".into()], threshold: 0.45 }), ..base.clone() },
            EditSpec { blend: Some(["cat".into(), "dog".into()]), blend_except: Some(BlendExcept { words: [String::new(), "rug".into()], threshold: 0.3 }), ..base.clone() },
            EditSpec { prox: Some(ProxSpec { shrink: "l1".into(), quantile: 0.6, pull: "photo".into(), strength: 0.5, below: 300 }), ..base },
        ];
        for spec in specs {
            let f = form_from_edit("cat", &EditRecord::new("e3", spec.clone()));
            assert_eq!((f.item.as_str(), f.from.as_deref(), f.field), ("cat", Some("e3"), 0));
            assert_eq!(edit_spec(&f, src).unwrap(), spec, "{f:?}");
        }
    }

    #[test]
    fn every_field_has_its_own_hint_and_it_fits_the_form() {
        let hints: std::collections::HashSet<_> = (0..EditForm::FIELDS.len()).map(field_hint).collect();
        assert_eq!(hints.len(), EditForm::FIELDS.len());
        // The form is 76 columns wide: 74 inside the frame, 2 of them the hint's indent.
        assert!(hints.iter().all(|h| h.chars().count() <= 72), "{hints:?}");
    }
}
