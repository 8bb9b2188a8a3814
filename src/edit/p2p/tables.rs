//! Step schedules and per-token weights: the cross-attention α table (§4.4, 51-row rule),
//! self-attention step range, and the re-weighting equalizer (§4.8).

use super::words::{absent_reason, inside_word_hint, word_token_indices, Word};
use crate::sd::tokenizer::{ClipTokenizer, MAX_TOKENS};
use anyhow::{ensure, Result};

/// A fraction of the steps, `(start, end)` in [0, 1].
pub type Span = (f64, f64);

/// The step a fraction of `rows` starts or ends at, rounded down as the reference rounds it.
fn step_at(fraction: f64, rows: usize) -> usize {
    (fraction * rows as f64) as usize
}

fn check(span: Span, what: &str) -> Result<()> {
    ensure!((0.0..=1.0).contains(&span.0) && (0.0..=1.0).contains(&span.1) && span.0 <= span.1, "{what} must be fractions in [0, 1] with start ≤ end (got {span:?})");
    Ok(())
}

/// `[(steps + 1) × 77]` α for the target prompt: 1 where its cross-attention is replaced.
/// `per_word` overrides the default span on that word's target tokens.
pub fn cross_alpha(tok: &ClipTokenizer, target: &str, steps: usize, default: Span, per_word: &[(String, Span)]) -> Result<Vec<f32>> {
    check(default, "--cross")?;
    let rows = steps + 1;
    let mut a = vec![0f32; rows * MAX_TOKENS];
    let mut set = |span: Span, cols: &[usize]| {
        let (s, e) = (step_at(span.0, rows), step_at(span.1, rows));
        for r in 0..rows {
            for &c in cols {
                a[r * MAX_TOKENS + c] = if r >= s && r < e { 1.0 } else { 0.0 };
            }
        }
    };
    set(default, &(0..MAX_TOKENS).collect::<Vec<_>>());
    for (word, span) in per_word {
        check(*span, "--cross-word")?;
        let cols = word_token_indices(tok, target, Word::Text(word));
        ensure!(!cols.is_empty(), "--cross-word: \"{word}\" {} the target prompt \"{target}\"{}", absent_reason(target, word), inside_word_hint(target, word));
        set(*span, &cols);
    }
    Ok(a)
}

/// Steps `[s0, s1)` in which target self-attention is replaced by the source's.
pub fn self_steps(steps: usize, span: Span) -> Result<(usize, usize)> {
    check(span, "--self")?;
    Ok((step_at(span.0, steps), step_at(span.1, steps)))
}

/// `[77]` weights: `value` on the target tokens of each word, 1 elsewhere.
pub fn equalizer(tok: &ClipTokenizer, target: &str, weights: &[(String, f64)]) -> Result<Vec<f32>> {
    let mut e = vec![1f32; MAX_TOKENS];
    for (word, value) in weights {
        let cols = word_token_indices(tok, target, Word::Text(word));
        ensure!(!cols.is_empty(), "--reweight: \"{word}\" {} the target prompt \"{target}\"{}", absent_reason(target, word), inside_word_hint(target, word));
        for c in cols {
            e[c] = *value as f32;
        }
    }
    Ok(e)
}

/// Fractions too small to act at any of `steps` (they round down to no step, as the reference
/// rounds them), said: the edit would otherwise run without that replacement, unannounced.
pub fn fractions_acting_nowhere(steps: usize, cross: f64, self_replace: f64) -> Option<String> {
    // The α table has steps + 1 rows; self-attention counts steps.
    let nowhere = |f: f64, rows: usize| f > 0.0 && step_at(f, rows) == 0;
    let least = |rows: usize| (100.0 / rows as f64).ceil() / 100.0;
    let mut said = Vec::new();
    if nowhere(cross, steps + 1) {
        said.push(format!("the cross-attention fraction {cross} ({} or more acts)", least(steps + 1)));
    }
    if nowhere(self_replace, steps) {
        said.push(format!("the self-attention fraction {self_replace} ({} or more acts)", least(steps)));
    }
    (!said.is_empty()).then(|| format!("{} replaces at no step of these {steps}: it rounds down to none", said.join(" and ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_below_one_step_are_named_with_the_least_that_acts() {
        let w = fractions_acting_nowhere(10, 0.05, 0.4).unwrap();
        assert_eq!(w, "the cross-attention fraction 0.05 (0.1 or more acts) replaces at no step of these 10: it rounds down to none");
        assert!(fractions_acting_nowhere(10, 0.8, 0.05).unwrap().contains("self-attention fraction 0.05"));
        assert_eq!(fractions_acting_nowhere(50, 0.05, 0.4), None);
        assert_eq!(fractions_acting_nowhere(10, 0.0, 0.0), None, "0 means none, as asked");
    }
}
