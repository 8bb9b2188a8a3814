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
/// safe in summaries, panes and terminals. Control characters (a pasted escape sequence) part
/// words as spaces do, and a byte-order mark (from a file read with `$(cat …)`) is dropped:
/// neither is text anyone meant the model to read.
pub fn single_spaced(prompt: &str) -> String {
    let words = prompt.split(|c: char| c.is_whitespace() || c.is_control()).map(|w| w.replace('\u{feff}', ""));
    words.filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// What names a word: case-blind, and punctuation around it does not have to be typed (`mirror`
/// names the prompt's `mirror.` or `“mirror”`). In NFC, as CLIP's tokenizer reads text: `café`
/// typed with a combining accent is the prompt's `café`.
pub fn word_key(w: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let w: String = w.nfc().collect::<String>().to_lowercase();
    let bare = w.trim_matches(is_punct);
    if bare.is_empty() { w } else { bare.to_string() }
}

/// Whether prompts `a` and `b` have the same text as CLIP reads it: case, spacing and Unicode
/// form aside.
pub fn same_text(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let read = |p: &str| single_spaced(p).nfc().collect::<String>().to_lowercase();
    read(a) == read(b)
}

/// `a` and `b` name the same word (see [`word_key`]): `mirror` is the prompt's `mirror.` (its
/// word tokens; `mirror.` names the full stop's too).
fn same_word(a: &str, b: &str) -> bool {
    word_key(a) == word_key(b)
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

/// For a word that is not one of the prompt's words but is inside one (`cat` in `Cat-like`), the
/// way to name it, said after the prompt in messages; empty otherwise. Words are matched whole,
/// as split at spaces, which is how the reference finds a word's tokens.
pub fn inside_word_hint(prompt: &str, word: &str) -> String {
    let key = word_key(word);
    if key.is_empty() || has_word(prompt, word) {
        return String::new();
    }
    match prompt_words(prompt).into_iter().find(|x| word_key(x).contains(&key)) {
        Some(whole) => format!(" (words are matched whole, as spaces part them: name \"{whole}\")"),
        None => String::new(),
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
    // `cat` for the prompt's `“cat,”` names the cat, not the quotes and comma: punctuation tokens
    // at a word's ends are its own only when the user typed punctuation too (`re-do`'s hyphen,
    // inside the word, always is).
    let bare = typed.is_some_and(|w| !w.starts_with(is_punct) && !w.ends_with(is_punct));
    targets.into_iter().filter_map(|k| enc.words.get(k)).flat_map(|w| {
        let symbol = |p: &&usize| w.symbols.contains(p);
        let lead = w.positions.iter().take_while(symbol).count();
        let trail = w.positions.iter().rev().take_while(symbol).count();
        match bare && lead + trail < w.positions.len() {
            true => w.positions[lead..w.positions.len() - trail].to_vec(),
            false => w.positions.clone(),
        }
    }).collect()
}

/// Unicode punctuation (`\p{P}`): ASCII's, typographic quotes, `…`, `«»`, CJK full stops.
fn is_punct(c: char) -> bool {
    static PUNCT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| regex::Regex::new(r"^\p{P}$").expect("a valid pattern"));
    c.is_ascii_punctuation() || (!c.is_ascii() && PUNCT.is_match(c.encode_utf8(&mut [0; 4])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_inside_another_is_named_whole() {
        assert_eq!(inside_word_hint("A Cat-like creature", "cat"), " (words are matched whole, as spaces part them: name \"Cat-like\")");
        assert_eq!(inside_word_hint("A Cat-like creature", "creature"), "", "a word of the prompt needs no hint");
        assert_eq!(inside_word_hint("A Cat-like creature", "dog"), "");
        assert_eq!(inside_word_hint("a cat", ","), "", "punctuation alone is no part of a word");
    }

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
        assert_eq!(at("to re-do it", "re-do").len(), 3, "a hyphen inside a word is the word's");
        assert_eq!(at("the cat's toy", "cat's").len(), 2, "a contraction is the word's");
        assert_eq!(at("the cat\u{1f431} toy", "cat\u{1f431}").len(), at("the cat\u{1f431} toy", "cat\u{1f431}!").len(), "an emoji typed is kept");
        let quoted = at("to \u{201c}re-do\u{201d} it", "re-do");
        assert_eq!(quoted.len(), 3, "quotes around it are not: {quoted:?}");
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
        // Typographic punctuation is punctuation too.
        for p in ["a \u{201c}tiger\u{201d} next to a mirror", "a tiger\u{2026} next to a mirror", "a \u{ab}tiger\u{bb} next to a mirror"] {
            assert!(has_word(p, "tiger"), "{p}");
            let tiger = tok.encode("tiger").ids[1] as usize;
            let ids = tok.encode(p).ids;
            assert_eq!(at(p, "tiger").iter().map(|&k| ids[k] as usize).collect::<Vec<_>>(), [tiger], "{p}: the word's tokens, not its quotes'");
        }
    }

    #[test]
    fn prompts_lose_control_characters_and_byte_order_marks() {
        assert_eq!(single_spaced("\u{feff}a  cat\tsitting\nnext"), "a cat sitting next");
        assert_eq!(single_spaced("a \u{1b}[31mtiger\u{1b}[0m"), "a [31mtiger [0m");
        assert_eq!(single_spaced("\u{feff}"), "");
        assert_eq!(word_key("\u{201c}Tiger,\u{201d}"), "tiger");
        assert_eq!(word_key("..."), "...", "a word of punctuation only is itself");
    }
}
