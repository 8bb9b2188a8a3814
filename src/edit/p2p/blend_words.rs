//! LocalBlend's words as people type them: the source prompt's words, a comma, the target's
//! (`cat,tiger`, `cat,sports car`). Either side may be empty, not both: `,hat` blends where the
//! added hat appears, `cat,` where the removed cat was (the reference takes a list of words per
//! prompt, and a prompt without any gives an empty mask).

use super::words::has_word;

/// The words of a blend field, split into its two sides.
#[derive(Clone, Debug, PartialEq)]
pub struct BlendWords<'a> {
    pub source: Vec<&'a str>,
    pub target: Vec<&'a str>,
    /// A number typed after the target's words that is not a word of the target prompt: the
    /// dashboard reads it as the mask threshold, the CLI points to `--blend-threshold`.
    pub trailing_number: Option<&'a str>,
}

/// What the blend words look like, for messages.
pub const BLEND_SHAPE: &str = "source words,target words (cat,tiger or cat,sports car; one side may be empty: ,hat)";

impl<'a> BlendWords<'a> {
    /// Splits `typed` at its one comma; `target_prompt` tells a trailing number that is a word
    /// of the target (`3` in "a cat with 3 kittens") from a threshold.
    pub fn parse(typed: &'a str, target_prompt: &str) -> Result<Self, String> {
        let (source, target) = typed.split_once(',').ok_or_else(|| format!("expected {BLEND_SHAPE}: a comma between the sides (got `{}`)", typed.trim()))?;
        if target.contains(',') {
            return Err(format!("expected {BLEND_SHAPE}: one comma, between the sides; words of a side are apart by spaces (got `{}`)", typed.trim()));
        }
        let source: Vec<&str> = source.split_whitespace().collect();
        let mut target: Vec<&str> = target.split_whitespace().collect();
        let trailing_number = target.last().copied().filter(|w| w.parse::<f64>().is_ok() && !has_word(target_prompt, w));
        if trailing_number.is_some() {
            target.pop();
        }
        if source.is_empty() && target.is_empty() {
            return Err(format!("expected {BLEND_SHAPE}: no word named (got `{}`)", typed.trim()));
        }
        Ok(Self { source, target, trailing_number })
    }

    /// The stored form: each side's words joined by single spaces.
    pub fn sides(&self) -> [String; 2] {
        [self.source.join(" "), self.target.join(" ")]
    }

    /// The first word of a side that is not a word of its prompt, with that prompt.
    pub fn missing<'p>(&self, source_prompt: &'p str, target_prompt: &'p str) -> Option<(&'a str, &'p str)> {
        let side = |words: &[&'a str], prompt: &'p str| words.iter().find(|w| !has_word(prompt, w)).map(|w| (*w, prompt));
        side(&self.source, source_prompt).or_else(|| side(&self.target, target_prompt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_takes_any_number_of_words() {
        let t = "a red sports car with 3 wheels";
        let p = |s: &'static str| BlendWords::parse(s, t);
        assert_eq!(p("cat,tiger").unwrap(), BlendWords { source: vec!["cat"], target: vec!["tiger"], trailing_number: None });
        assert_eq!(p(" cat ,  sports car ").unwrap().sides(), ["cat".to_string(), "sports car".to_string()]);
        assert_eq!(p(",car").unwrap().sides(), [String::new(), "car".to_string()], "an added object");
        assert_eq!(p("cat dog,").unwrap().sides(), ["cat dog".to_string(), String::new()], "a removed one");
        // A number after the target's words is a threshold, unless the target has it as a word.
        assert_eq!(p("cat,car 0.5").unwrap().trailing_number, Some("0.5"));
        assert_eq!(p("cat,car 0.5").unwrap().target, ["car"]);
        assert_eq!(p("cat,car 3").unwrap().trailing_number, None);
        assert_eq!(p("cat, 0.5").unwrap().sides(), ["cat".to_string(), String::new()]);
        for (bad, why) in [("cat", "a comma between"), ("cat,dog,rug", "one comma"), (",", "no word"), (" , 0.4", "no word"), ("", "a comma")] {
            let e = p(bad).unwrap_err();
            assert!(e.starts_with("expected source words,target words") && e.contains(why), "{bad}: {e}");
        }
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
