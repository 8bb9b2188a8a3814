//! pivot — edit real photographs with Stable Diffusion from a terminal.
//!
//! Floors (imports only point down): `sd` (the model) ← `edit` (algorithms) ← `worker` (jobs)
//! ← `cli` / `tui`. See `../shared/docs/ARCHITECTURE.md` in the project's workspace.

pub mod error_text;
pub mod fnv;
pub mod human_size;
pub mod regular_file;
pub mod runtime;
pub mod sd;
pub mod session;
pub mod edit;
pub mod signals;
pub mod worker;
pub mod tui;
