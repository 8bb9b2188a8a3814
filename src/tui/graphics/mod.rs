//! Pictures drawn with plain terminal cells.
pub mod halfblock;
pub mod zoom;
