//! Files pivot writes and reads back: atomic writes and inversion files, and sessions built on
//! them (ARCHITECTURE "Sessions on disk"). Entry point: `store::Session`.

pub mod atomic;
pub mod inversion_file;
pub mod loss_read;
pub mod manifest;
pub mod dirs;
pub mod names;
pub mod lock;
pub mod validate;
pub mod migrate;
pub mod store;
pub mod fresh_ids;
pub mod check;
pub mod gc;
pub mod catalog;
pub mod summary;
pub mod export;
pub mod import;
pub mod leftovers;
pub mod restart;
pub mod remove;
pub mod lost_outputs;
pub mod figures;
#[cfg(test)]
mod testing;
