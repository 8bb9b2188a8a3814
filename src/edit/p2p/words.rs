//! Word → token positions with Prompt-to-Prompt's rule (§4.5): the prompt is split into words,
//! token pieces are walked with a character counter, positions are 1-based (after BOS).
//!
//! The reference splits on single spaces; for a single-spaced prompt that is the same as
//! splitting on whitespace, and for any other (double or edge spaces, which CLIP ignores) the
//! reference counted empty words, so words are whitespace-separated here. Like CLIP, which
//! lower-cases the prompt, a word matches whatever its case.

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

fn same_word(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
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

/// Token positions of `word` in `prompt` (empty when the word does not occur).
pub fn word_token_indices(tok: &ClipTokenizer, prompt: &str, word: Word) -> Vec<usize> {
    let words = prompt_words(prompt);
    let targets: Vec<usize> = match word {
        Word::Text(w) => words.iter().enumerate().filter(|(_, x)| same_word(x, w)).map(|(i, _)| i).collect(),
        Word::Index(i) => vec![i],
    };
    let ids = tok.encode_unpadded(prompt);
    let pieces: Vec<String> = ids[1..ids.len() - 1].iter().map(|&id| tok.decode_token(id).trim().trim_matches('#').to_string()).collect();
    let mut out = Vec::new();
    let (mut p, mut counter) = (0usize, 0usize);
    for (q, piece) in pieces.iter().enumerate() {
        if p >= words.len() {
            break;
        }
        counter += piece.chars().count();
        if targets.contains(&p) {
            out.push(q + 1);
        }
        if counter >= words[p].chars().count() {
            p += 1;
            counter = 0;
        }
    }
    out
}
