//! Shared fixtures for the session tests.

use super::manifest::{InversionRecord, Item, ModelRef};
use super::store::Session;
use std::path::Path;

pub fn model() -> ModelRef {
    ModelRef { source: "tiny".into(), hash: "tiny-0123".into() }
}

/// Session `trip` with item `cat` (image written, inversion not started), committed.
pub fn session_with_cat(root: &Path) -> Session {
    let mut s = Session::create(root, "trip", model()).unwrap();
    s.write_file("images/cat.png", b"png bytes").unwrap();
    let inversion = InversionRecord { method: "null-text".into(), steps: 4, inner: 3, guidance: 7.5, epsilon: 1e-5, completed_steps: 0, file: None, failure: None };
    s.manifest.items.push(Item {
        id: "cat".into(),
        image: "images/cat.png".into(),
        original_path: "/photos/Cat.JPG".into(),
        prompt: "a cat on a sofa".into(),
        inversion: Some(inversion),
        edits: vec![],
        reconstruction: None,
        removed_edits_up_to: 0,
    });
    s.commit().unwrap();
    s
}
