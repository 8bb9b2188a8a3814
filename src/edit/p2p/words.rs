//! Word → token positions with Prompt-to-Prompt's rule (§4.5): the prompt is split on single
//! spaces, token pieces are walked with a character counter, positions are 1-based (after BOS).

use crate::sd::tokenizer::ClipTokenizer;

/// A word of the prompt, by text (every occurrence) or by its index in the space-split words.
#[derive(Clone, Copy, Debug)]
pub enum Word<'a> {
    Text(&'a str),
    Index(usize),
}

/// Token positions of `word` in `prompt` (empty when the word does not occur).
pub fn word_token_indices(tok: &ClipTokenizer, prompt: &str, word: Word) -> Vec<usize> {
    let words: Vec<&str> = prompt.split(' ').collect();
    let targets: Vec<usize> = match word {
        Word::Text(w) => words.iter().enumerate().filter(|(_, x)| **x == w).map(|(i, _)| i).collect(),
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
