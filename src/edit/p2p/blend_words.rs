//! LocalBlend's words as people type them: the source prompt's words, a comma, the target's
//! (`cat,tiger`, `cat,sports car`). Either side may be empty, not both: `,hat` blends where the
//! added hat appears, `cat,` where the removed cat was (the reference takes a list of words per
//! prompt, and a prompt without any gives an empty mask).

use super::words::{has_word, single_spaced};

/// The words of a blend field, split into its two sides.
#[derive(Clone, Debug, PartialEq)]
pub struct BlendWords {
    pub source: Vec<String>,
    pub target: Vec<String>,
    /// A number typed after the target's words that is not a word of the target prompt: the
    /// dashboard reads it as the mask threshold, the CLI points to `--blend-threshold`.
    pub trailing_number: Option<String>,
}

/// What the blend words look like, for messages.
pub const BLEND_SHAPE: &str = "source words,target words (cat,tiger or cat,sports car; one side may be empty: ,hat or cat,)";

/// A side's words, parted as prompts are (control characters and a byte-order mark too).
fn words_of(side: &str) -> Vec<String> {
    single_spaced(side).split(' ').filter(|w| !w.is_empty()).map(String::from).collect()
}

impl BlendWords {
    /// Splits `typed` at its one comma; `target_prompt` tells a trailing number that is a word
    /// of the target (`3` in "a cat with 3 kittens") from a threshold.
    pub fn parse(typed: &str, target_prompt: &str) -> Result<Self, String> {
        let shown = single_spaced(typed);
        let (source, target) = typed.split_once(',').ok_or_else(|| format!("expected {BLEND_SHAPE}: a comma between the sides (got `{shown}`)"))?;
        if target.contains(',') {
            return Err(format!("expected {BLEND_SHAPE}: one comma, between the sides; words of a side are apart by spaces (got `{shown}`)"));
        }
        let (source, mut target) = (words_of(source), words_of(target));
        // `inf` and `nan` parse as numbers but are words here.
        let number = |w: &String| w.parse::<f64>().is_ok_and(f64::is_finite) && !has_word(target_prompt, w);
        let trailing_number = target.pop_if(|w| number(w));
        if let (Some(t), Some(before)) = (&trailing_number, target.last().filter(|w| number(w))) {
            return Err(format!("one threshold, after the words (got `{before}` and `{t}`)"));
        }
        if source.is_empty() && target.is_empty() {
            return Err(format!("expected {BLEND_SHAPE}: no word named (got `{shown}`)"));
        }
        Ok(Self { source, target, trailing_number })
    }

    /// The stored form: each side's words joined by single spaces.
    pub fn sides(&self) -> [String; 2] {
        [self.source.join(" "), self.target.join(" ")]
    }

    /// The first word of a side that is not a word of its prompt, with that prompt.
    pub fn missing<'p>(&self, source_prompt: &'p str, target_prompt: &'p str) -> Option<(&str, &'p str)> {
        let sides = [(&self.source, source_prompt), (&self.target, target_prompt)];
        sides.into_iter().find_map(|(words, prompt)| words.iter().find(|w| !has_word(prompt, w)).map(|w| (w.as_str(), prompt)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_takes_any_number_of_words() {
        let t = "a red sports car with 3 wheels";
        let p = |s: &'static str| BlendWords::parse(s, t);
        assert_eq!(p("cat,tiger").unwrap(), BlendWords { source: vec!["cat".into()], target: vec!["tiger".into()], trailing_number: None });
        assert_eq!(p(" cat ,  sports car ").unwrap().sides(), ["cat".to_string(), "sports car".to_string()]);
        assert_eq!(p(",car").unwrap().sides(), [String::new(), "car".to_string()], "an added object");
        assert_eq!(p("cat dog,").unwrap().sides(), ["cat dog".to_string(), String::new()], "a removed one");
        // A number after the target's words is a threshold, unless the target has it as a word.
        assert_eq!(p("cat,car 0.5").unwrap().trailing_number.as_deref(), Some("0.5"));
        assert_eq!(p("cat,car 0.5").unwrap().target, ["car"]);
        assert_eq!(p("cat,car 3").unwrap().trailing_number, None);
        assert_eq!(p("cat, 0.5").unwrap().sides(), ["cat".to_string(), String::new()]);
        assert_eq!(p("cat,inf").unwrap().target, ["inf"], "a word, not an endless threshold");
        // Parted as prompts are: a byte-order mark from a file, a control character.
        assert_eq!(p("\u{feff}cat,big\u{1b}car").unwrap().sides(), ["cat".to_string(), "big car".to_string()]);
        for (bad, why) in [("cat", "a comma between"), ("cat,dog,rug", "one comma"), (",", "no word"), (" , 0.4", "no word"), ("", "a comma")] {
            let e = p(bad).unwrap_err();
            assert!(e.starts_with("expected source words,target words") && e.contains(why), "{bad}: {e}");
        }
        assert_eq!(p("cat,car 0.5 0.6").unwrap_err(), "one threshold, after the words (got `0.5` and `0.6`)");
    }

    #[test]
    fn missing_names_the_first_word_a_prompt_lacks() {
        let b = BlendWords::parse("cat,red car", "").unwrap();
        assert_eq!(b.missing("a cat", "a red car"), None);
        assert_eq!(b.missing("a Cat.", "a RED car!"), None, "as words are named everywhere: case and punctuation aside");
        assert_eq!(b.missing("a dog", "a red car"), Some(("cat", "a dog")));
        assert_eq!(b.missing("a cat", "a blue car"), Some(("red", "a blue car")));
    }
}
