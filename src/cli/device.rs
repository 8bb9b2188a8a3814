//! `--device`: see `pivot::sd::device`.

pub use pivot::sd::device::{describe, pick, DEVICE_HELP};
