//! The two cheap inversions beside null-text: negative-prompt inversion (every null embedding is
//! the source prompt's embedding; Miyake et al. 2023) and plain DDIM (the "" embedding).

use candle_core::Tensor;

/// NPI: `steps` copies of the source prompt embedding — no optimisation, no backward pass.
pub fn negative_prompt_embeddings(cond: &Tensor, steps: usize) -> Vec<Tensor> {
    vec![cond.clone(); steps]
}

/// Plain DDIM inversion + CFG: the empty-prompt embedding at every step.
pub fn plain_embeddings(empty: &Tensor, steps: usize) -> Vec<Tensor> {
    vec![empty.clone(); steps]
}
