//! Word swap: the replacement mapper `[77, 77]` (§4.6) that routes source token columns to target ones.

use super::words::{prompt_words, word_token_indices, Word};
use crate::sd::tokenizer::{ClipTokenizer, MAX_TOKENS};
use anyhow::{bail, Result};

/// Row-major `[77 × 77]` matrix M with `target_maps = source_maps · M` per attention row.
pub fn replacement_mapper(tok: &ClipTokenizer, source: &str, target: &str) -> Result<Vec<f32>> {
    let (wx, wy) = (prompt_words(source), prompt_words(target));
    if wx.len() != wy.len() {
        bail!(
            "word swap (replace) needs prompts with the same number of words: \"{source}\" has {}, \"{target}\" has {} — a refine edit (`--mode refine`; the edit form's mode) can add or remove words",
            wx.len(),
            wy.len()
        );
    }
    let changed: Vec<usize> = (0..wy.len()).filter(|&i| wx[i] != wy[i]).collect();
    let src: Vec<Vec<usize>> = changed.iter().map(|&i| word_token_indices(tok, source, Word::Index(i))).collect();
    let tgt: Vec<Vec<usize>> = changed.iter().map(|&i| word_token_indices(tok, target, Word::Index(i))).collect();
    if !changed.is_empty() && tgt.iter().all(Vec::is_empty) {
        let words: Vec<&str> = changed.iter().map(|&i| wy[i]).collect();
        bail!("the changed words ({}) come after CLIP's 75 tokens in \"{target}\": the edit would change nothing — shorten the prompts", words.join(", "));
    }
    let n = MAX_TOKENS;
    let mut m = vec![0f32; n * n];
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    while i < n && j < n {
        if k < src.len() && src[k].first() == Some(&i) {
            let (s, t) = (&src[k], &tgt[k]);
            if s.len() == t.len() {
                for (a, b) in s.iter().zip(t) {
                    m[a * n + b] = 1.0;
                }
            } else {
                let ratio = 1.0 / t.len().max(1) as f32;
                for a in s {
                    for b in t {
                        m[a * n + b] = ratio;
                    }
                }
            }
            i += s.len();
            j += t.len();
            k += 1;
        } else if k < src.len() {
            m[i * n + j] = 1.0;
            i += 1;
            j += 1;
        } else {
            // (sic, as the reference) the diagonal on j once every changed word is consumed
            m[j * n + j] = 1.0;
            i += 1;
            j += 1;
        }
    }
    Ok(m)
}
