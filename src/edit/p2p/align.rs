//! Refinement: Needleman–Wunsch alignment of token ids (§4.7) → for every target token the source
//! token it copies attention from (−1 = new word), and the blending weights.

use crate::sd::tokenizer::{ClipTokenizer, MAX_TOKENS};

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Left,
    Up,
    Diag,
    Start,
}

/// (mapper `[77]`, alphas `[77]`): target column j reads source column `mapper[j]` with weight `alphas[j]`.
pub fn refine_mapper(tok: &ClipTokenizer, source: &str, target: &str) -> (Vec<i64>, Vec<f32>) {
    let x = tok.encode_unpadded(source);
    let y = tok.encode_unpadded(target);
    let (nx, ny) = (x.len(), y.len());
    // gap 0, match +1, mismatch −1; ties prefer left, then up, then diagonal.
    let mut score = vec![vec![0i64; ny + 1]; nx + 1];
    let mut trace = vec![vec![Step::Diag; ny + 1]; nx + 1];
    for (j, t) in trace[0].iter_mut().enumerate().skip(1) {
        let _ = j;
        *t = Step::Left;
    }
    for row in trace.iter_mut().skip(1) {
        row[0] = Step::Up;
    }
    trace[0][0] = Step::Start;
    for i in 1..=nx {
        for j in 1..=ny {
            let left = score[i][j - 1];
            let up = score[i - 1][j];
            let diag = score[i - 1][j - 1] + if x[i - 1] == y[j - 1] { 1 } else { -1 };
            let best = left.max(up).max(diag);
            score[i][j] = best;
            trace[i][j] = if best == left {
                Step::Left
            } else if best == up {
                Step::Up
            } else {
                Step::Diag
            };
        }
    }
    let (mut i, mut j) = (nx, ny);
    let mut pairs = Vec::new();
    while i > 0 || j > 0 {
        match trace[i][j] {
            Step::Diag => {
                i -= 1;
                j -= 1;
                pairs.push(i as i64);
            }
            Step::Left => {
                j -= 1;
                pairs.push(-1);
            }
            Step::Up => i -= 1,
            Step::Start => break,
        }
    }
    pairs.reverse();
    let mut mapper: Vec<i64> = (0..MAX_TOKENS as i64).collect();
    let mut alphas = vec![1f32; MAX_TOKENS];
    for (k, &src) in pairs.iter().enumerate().take(MAX_TOKENS) {
        mapper[k] = src;
        alphas[k] = if src == -1 { 0.0 } else { 1.0 };
    }
    (mapper, alphas)
}
