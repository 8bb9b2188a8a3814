//! The built-in demo (`pivot` with no arguments): the random-weight `tiny` model end to end,
//! so a newcomer sees pivot work on any machine, offline, in seconds.

use super::drive;
use super::sample::{generate, initial_latents, Generate};
use anyhow::{Context, Result};
use pivot::session::manifest::{Job, ModelRef};
use pivot::session::store::Session;
use pivot::tui::launch::{demo_edit, demo_item_in, DEMO_PROMPT};
use pivot::worker::{Command, WorkerHandle, WorkerOptions};
use std::path::PathBuf;
use candle_core::Device;
use image::{imageops::FilterType, DynamicImage, RgbImage};
use pivot::sd::StableDiffusion;
use std::io::IsTerminal;

/// A folder under the system's temporary folder, removed when dropped (also on an error or a
/// stop signal's early return).
struct TempRoot(PathBuf);

impl TempRoot {
    fn new() -> Result<Self> {
        Self::remove_stale();
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("pivot-demo-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    /// Demo folders of processes that are gone (killed before they could clean up).
    fn remove_stale() {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix("pivot-demo-").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !pivot::session::leftovers::alive(p)) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The product path on the tiny model: a worker inverts the demo photo and edits it; in a
/// terminal, the photo, its reconstruction and the edit are shown side by side.
fn invert_and_edit() -> Result<()> {
    let root = TempRoot::new()?;
    let session = Session::create(&root.0, "demo", ModelRef { source: "tiny".into(), hash: String::new() })?;
    pivot::signals::install();
    let handle = WorkerHandle::spawn(session, WorkerOptions { device: Device::Cpu, model: None });
    let photo = demo_item_in(&root.0)?;
    let mut shown = vec![photo.image.clone()];
    handle.send(Command::AddItem(photo));
    let item = drive::item_added(&handle)?;
    handle.send(Command::AddEdit { item: item.clone(), specs: vec![demo_edit()] });
    let edit = drive::edit_added(&handle)?;
    let jobs = vec![Job::Invert { item: item.clone() }, Job::Edit { item, edit }];
    let ran = drive::run_temporary(&handle, "demo", Command::Run(jobs));
    handle.shutdown();
    let report = ran.map_err(|e| match e.downcast_ref::<pivot::signals::Interrupted>() {
        Some(_) => pivot::signals::Interrupted::now("the demo was stopped; its temporary session is removed").into(),
        None => e,
    })?;
    if std::io::stdout().is_terminal() {
        shown.extend(report.done.into_iter().flat_map(|(_, outputs)| outputs));
        let pictures = shown.iter().map(|p| Ok(image::open(p).with_context(|| format!("cannot read {}", p.display()))?.to_rgb8())).collect::<Result<Vec<_>>>()?;
        println!("photo → reconstruction → edit:");
        print!("{}", half_blocks(&pictures, 24));
    }
    Ok(())
}

/// Half-block art of pictures side by side, each `width` cells square: two image rows per text
/// row (foreground = top, background = bottom).
fn half_blocks(pictures: &[RgbImage], width: u32) -> String {
    let small: Vec<RgbImage> = pictures.iter().map(|p| DynamicImage::ImageRgb8(p.clone()).resize_exact(width, width, FilterType::Triangle).to_rgb8()).collect();
    let mut out = String::new();
    for y in (0..width).step_by(2) {
        for pic in &small {
            for x in 0..width {
                let t = pic.get_pixel(x, y).0;
                let b = pic.get_pixel(x, (y + 1).min(width - 1)).0;
                out.push_str(&format!("\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m▀", t[0], t[1], t[2], b[0], b[1], b[2]));
            }
            out.push_str("\x1b[0m ");
        }
        out.push('\n');
    }
    out
}

pub fn run() -> Result<()> {
    println!("pivot — edit real photographs with Stable Diffusion (null-text inversion + Prompt-to-Prompt)\n");
    println!("This demo runs the built-in `tiny` model: Stable-Diffusion-shaped, RANDOM weights, 128×128.");
    println!("Its pictures are noise-like by design; it exists so every part of pivot runs anywhere, offline.\n");
    let sd = StableDiffusion::tiny(0, &Device::Cpu)?;
    let prompt = "a photo of a red fox in the snow";
    println!("text-to-image: \"{prompt}\", 25 DDIM steps, guidance 7.5, seed 0");
    let x_t = initial_latents(&sd, 0)?;
    let g = Generate { prompt, negative: "", steps: 25, guidance: 7.5, eta: 0.0, seed: 0 };
    let img = generate(&sd, &g, &x_t)?;
    if std::io::stdout().is_terminal() {
        print!("{}", half_blocks(std::slice::from_ref(&img), 32));
    }
    println!("\nnull-text inversion of a photo (a generated test pattern, \"{DEMO_PROMPT}\"), then a Prompt-to-Prompt edit of it —");
    println!("the dashboard's demo, run headless through the same worker in a temporary session:");
    invert_and_edit()?;
    println!("(the demo's session was temporary: its files are removed; `pivot` in a terminal shows all this live)");
    println!("\nWith real weights (downloaded once into the Hugging Face cache):");
    println!("  pivot sample --model stable-diffusion-v1-5/stable-diffusion-v1-5 --prompt \"{prompt}\" --out fox.png");
    println!("or a local diffusers folder:  pivot sample --model /path/to/sd15 --prompt … --out fox.png");
    println!("Inspect a model:              pivot model info --model tiny");
    println!("All commands:                 pivot --help");
    Ok(())
}
