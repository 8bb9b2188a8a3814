//! Word swap: the replacement mapper `[77, 77]` (§4.6) that routes source token columns to target ones.

use super::words::{prompt_words, word_token_indices, Word};
use crate::sd::tokenizer::{ClipTokenizer, Encoded, MAX_TOKENS};
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

/// A warning when swapped words change the token count and words follow them: past the last
/// changed word the reference maps target token j to source token j (§4.6, kept as it is), so
/// each later word takes the attention of a source token as many places off as the counts differ.
pub fn token_shift_warning(tok: &ClipTokenizer, source: &str, target: &str) -> Option<String> {
    let (wx, wy) = (prompt_words(source), prompt_words(target));
    let last = (0..wy.len().min(wx.len())).rfind(|&i| wx[i] != wy[i])?;
    // Each prompt tokenized once; a word's count is its tokens within CLIP's 75.
    let (ex, ey) = (tok.encode(source), tok.encode(target));
    let count = |enc: &Encoded, i: usize| enc.words.get(i).map_or(0, |w| w.positions.len()) as isize;
    let shift: isize = (0..=last).filter(|&i| wx[i] != wy[i]).map(|i| count(&ey, i) - count(&ex, i)).sum();
    let later = (last + 1..wy.len()).any(|i| count(&ey, i) > 0);
    (shift != 0 && later).then(|| {
        // The swaps whose counts differ, as the user typed them.
        let uneven: Vec<String> = (0..=last)
            .filter(|&i| wx[i] != wy[i] && count(&ey, i) != count(&ex, i))
            .map(|i| format!("{} {} → {} {}", wx[i], count(&ex, i), wy[i], count(&ey, i)))
            .collect();
        format!(
            "the swapped words change the token count ({}): as in Prompt-to-Prompt's reference code, every word after the last swap follows the source's attention {} token{} off; --mode refine (the edit form's mode) keeps them in line",
            uneven.join(", "), shift.abs(), if shift.abs() == 1 { "" } else { "s" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_that_changes_the_token_count_before_other_words_is_warned_of() {
        let tok = ClipTokenizer::builtin().unwrap();
        let src = "a cat sitting next to a mirror";
        let warn = |t: &str| token_shift_warning(&tok, src, t);
        assert_eq!(warn("a dog sitting next to a mirror"), None, "one token for one");
        assert!(warn("a tigerish sitting next to a mirror").is_some_and(|w| w.contains("(cat 1 → tigerish 2)") && w.contains("1 token off")));
        assert_eq!(warn("a cat sitting next to a tigerish"), None, "nothing follows the swap");
        let w = warn("a tigerish sitting near to a mirror").unwrap();
        assert!(w.contains("(cat 1 → tigerish 2)") && !w.contains("near"), "the uneven swap is named, not the last one: {w}");
        // Shifts that cancel out leave the later words in line.
        assert_eq!(token_shift_warning(&tok, "a cat and a tigerish on a mat", "a tigerish and a cat on a mat"), None);
    }
}
