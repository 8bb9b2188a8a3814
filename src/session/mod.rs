//! Files pivot writes and reads back: atomic writes and inversion files (sessions build on these).

pub mod atomic;
pub mod inversion_file;
