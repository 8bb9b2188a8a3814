//! Word → token positions with Prompt-to-Prompt's rule (§4.5): the prompt is split into words,
//! token pieces are walked with a character counter, positions are 1-based (after BOS).
//!
//! The reference splits on single spaces; for a single-spaced prompt that is the same as
//! splitting on whitespace, and for any other (double or edge spaces, which CLIP ignores) the
//! reference counted empty words, so words are whitespace-separated here. Like CLIP, which
//! lower-cases the prompt, a word matches whatever its case, and with or without the
//! punctuation glued to it (typed without it, it leaves the punctuation's tokens out).

use crate::sd::tokenizer::ClipTokenizer;

/// A word of the prompt, by text (every occurrence) or by its index in the space-split words.
#[derive(Clone, Copy, Debug)]
pub enum Word<'a> {
    Text(&'a str),
    Index(usize),
}

/// The prompt's words.
pub fn prompt_words(prompt: &str) -> Vec<&str> {
    prompt.split_whitespace().collect()
}

/// `prompt` on one line with single spaces (newlines and tabs too): what CLIP reads anyway, and
/// safe in summaries and panes.
pub fn single_spaced(prompt: &str) -> String {
    prompt_words(prompt).join(" ")
}

/// Case-blind, and punctuation around a word does not have to be typed: `mirror` names the
/// prompt's `mirror.` (its word tokens; `mirror.` names the full stop's too). Compared in NFC,
/// as CLIP's tokenizer reads text: `café` typed with a combining accent is the prompt's `café`.
fn same_word(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let (a, b): (String, String) = (a.nfc().collect(), b.nfc().collect());
    let bare = |w: &str| {
        let t = w.trim_matches(|c: char| c.is_ascii_punctuation());
        (if t.is_empty() { w } else { t }).to_lowercase()
    };
    a.to_lowercase() == b.to_lowercase() || bare(&a) == bare(&b)
}

/// Whether `word` is one of the prompt's words (whatever its case).
pub fn has_word(prompt: &str, word: &str) -> bool {
    prompt_words(prompt).iter().any(|x| same_word(x, word))
}

/// Why `word` has no token positions in `prompt`, for messages: `is not a word of` or, for a
/// word the prompt has after CLIP's 75 tokens, that it falls past them.
pub fn absent_reason(prompt: &str, word: &str) -> &'static str {
    if has_word(prompt, word) {
        "comes after CLIP's 75 tokens in"
    } else {
        "is not a word of"
    }
}

/// Token positions of `word` in `prompt` (empty when the word does not occur or falls past
/// CLIP's 75 tokens), 1-based (after BOS).
///
/// The reference walks decoded token pieces with a character counter; that agrees with the
/// tokens each word became for plain prompts, but a piece that is only `#` counts no characters
/// and NFC/lower-casing can change a word's length, after which every later word gets its
/// neighbour's tokens. The tokenizer knows which word each token came from: use that.
pub fn word_token_indices(tok: &ClipTokenizer, prompt: &str, word: Word) -> Vec<usize> {
    let (targets, typed): (Vec<usize>, Option<&str>) = match word {
        Word::Text(w) => (prompt_words(prompt).iter().enumerate().filter(|(_, x)| same_word(x, w)).map(|(i, _)| i).collect(), Some(w)),
        Word::Index(i) => (vec![i], None),
    };
    let enc = tok.encode(prompt);
    // `cat` for the prompt's `cat,` names the cat, not the comma: punctuation tokens glued to the
    // word are its own only when the user typed punctuation too.
    let bare = typed.is_some_and(|w| !w.starts_with(is_punct) && !w.ends_with(is_punct));
    let punct_only = |pos: &usize| enc.ids.get(*pos).is_some_and(|&id| tok.decode_token(id).chars().all(is_punct));
    let words = &enc.words;
    targets.into_iter().filter_map(|k| words.get(k)).flat_map(|w| {
        let keep: Vec<usize> = w.positions.iter().copied().filter(|p| !(bare && punct_only(p))).collect();
        if keep.is_empty() { w.positions.clone() } else { keep }
    }).collect()
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_get_their_own_tokens_whatever_hashes_or_accents_they_carry() {
        let tok = ClipTokenizer::builtin().unwrap();
        let at = |p: &str, w: &str| word_token_indices(&tok, p, Word::Text(w));
        // The reference's example: one token per word.
        assert_eq!((1..=7).map(|k| word_token_indices(&tok, "a cat sitting next to a mirror", Word::Index(k - 1))).collect::<Vec<_>>(), (1..=7).map(|k| vec![k]).collect::<Vec<_>>());
        assert_eq!(at("a cat sitting next to a mirror", "a"), vec![1, 6]);
        // Punctuation glued to a word belongs to it.
        let comma = at("a cat, a mirror", "cat,");
        assert_eq!(comma.len(), 2);
        assert_eq!(at("a cat, a mirror", "a"), vec![1, comma[1] + 1]);
        assert_eq!(at("a cat, a mirror", "cat"), comma[..1], "the comma need not be typed, and is not named then");
        assert_eq!(at("a cat!! a mirror", "cat"), vec![2]);
        assert_eq!(at("a mirror... a cat", "mirror.").len(), 2, "typed punctuation keeps it");
        assert_eq!(at("a cat ... a mirror", "..."), vec![3], "a word that is only punctuation keeps its tokens");
        assert!(has_word("a cat next to a mirror.", "Mirror") && !has_word("a cat next to a mirror.", "mirr"));
        // A `#` piece and a decomposed accent do not shift the later words.
        for p in ["a #cute cat next to a mirror", "a cafe\u{301} cat next to a mirror"] {
            let n = tok.encode(p).prompt_tokens;
            assert_eq!(at(p, "mirror"), vec![n], "{p}: the last word is the last token");
            assert_eq!(at(p, "cat"), vec![n - 4], "{p}: five one-token words end it");
        }
        // The same word typed in another Unicode form (a combining accent for a precomposed one).
        assert!(has_word("a caf\u{e9} cat", "cafe\u{301}") && has_word("a cafe\u{301} cat", "caf\u{e9}"));
        assert_eq!(at("a caf\u{e9} cat", "cafe\u{301}"), at("a caf\u{e9} cat", "caf\u{e9}"));
    }
}
