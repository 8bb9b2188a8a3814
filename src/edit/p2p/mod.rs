//! Prompt-to-Prompt (Hertz et al. 2022; ALGORITHMS §4, §P.4–5): the pure pieces that turn a
//! source/target prompt pair into attention-edit tables. Controllers build on these.

pub mod align;
pub mod blend;
pub mod blend_words;
pub mod controller;
pub mod replace;
pub mod run;
pub mod tables;
pub mod unchanged;
pub mod words;
