//! The algorithms (pure: tensors in, tensors out): guidance, null-text loss, and — as they land —
//! inversion, null-text optimisation, sampling and Prompt-to-Prompt.

pub mod guidance;
