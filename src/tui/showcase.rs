//! A populated dashboard model (no worker, no files): for the snapshot tests and `pivot bench tui`.

use super::state::{Model, Run};
use crate::session::manifest::{EditRecord, EditSpec, InversionRecord, Item, Job, Manifest, ModelRef};
use crate::worker::Stage;

pub fn manifest() -> Manifest {
    let inv = |done: usize| InversionRecord { method: "null-text".into(), steps: 50, inner: 10, guidance: 7.5, epsilon: 1e-5, completed_steps: done, file: (done > 0).then(|| "inversions/x-1.safetensors".to_string()), failure: None, fixed_point: 0 };
    let spec = |t: &str| EditSpec { target: t.into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
    let mut m = Manifest::new("kitchen", ModelRef { source: "tiny".into(), hash: "abc".into() }, 0);
    m.items = vec![
        Item {
            id: "cat".into(),
            image: "images/cat.png".into(),
            original_path: "/photos/cat.jpg".into(),
            prompt: "a cat sitting next to a mirror".into(),
            inversion: Some(inv(50)),
            edits: vec![
                EditRecord { output: Some("edits/cat-e1.png".into()), source_prompt: Some("a cat sitting next to a mirror".into()), ..EditRecord::new("e1", spec("a tiger sitting next to a mirror")) },
                EditRecord::new("e2", spec("a lion sitting next to a mirror")),
            ],
            reconstruction: Some("edits/cat-recon.png".into()),
            removed_edits_up_to: 0,
        },
        Item { id: "dog".into(), image: "images/dog.png".into(), original_path: "/photos/dog.png".into(), prompt: "a dog on the grass".into(), inversion: Some(inv(23)), edits: vec![], reconstruction: None, removed_edits_up_to: 0 },
        Item { id: "sky".into(), image: "images/sky.png".into(), original_path: "/photos/sky.jpg".into(), prompt: "clouds over the sea".into(), inversion: Some(inv(0)), edits: vec![], reconstruction: None, removed_edits_up_to: 0 },
    ];
    m.queue = vec![Job::Invert { item: "dog".into() }, Job::Edit { item: "cat".into(), edit: "e2".into() }, Job::Invert { item: "sky".into() }];
    m
}

/// A gradient picture (deterministic).
pub fn picture(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128]))
}

/// The dashboard in the middle of inverting `dog`: 23 of 50 timesteps, inner 7 of 10.
pub fn running_model() -> Model {
    let mut m = Model::new("kitchen", true);
    m.manifest = Some(manifest());
    m.selected = 1;
    m.device = "cpu (2 threads)".into();
    m.model_name = "tiny".into();
    let losses: Vec<Vec<f32>> = (0..23).map(|i| (0..(10 - i % 7)).map(|j| 1e-3 * 0.7f32.powi(j) * (1.0 + i as f32 * 0.05)).collect()).collect();
    let iterations = losses.iter().map(|l| l.len()).collect();
    m.run = Some(Run {
        item: "dog".into(),
        method: "null-text".into(),
        stage: Some(Stage::NullText),
        total: 50,
        done: 23,
        inner: 7,
        inner_max: 10,
        epsilon: 1e-5,
        last_loss: Some(3.2e-5),
        threshold: 4.7e-4,
        losses,
        iterations,
        evaluations: 120,
        stage_started: 0.0,
        first_step_at: Some((2.0, 1)),
        last_step_at: 20.0,
        preview: Some(picture(64, 64)),
        preview_t: 461,
        preview_at: 0.0,
        ..Run::default()
    });
    m.running = Some(Job::Invert { item: "dog".into() });
    m.queue_running = true;
    m.now = 20.0;
    m.images.insert("images/dog.png".into(), picture(32, 32), &[]);
    m
}
