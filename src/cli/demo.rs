//! The built-in demo (`pivot` with no arguments): the random-weight `tiny` model end to end,
//! so a newcomer sees pivot work on any machine, offline, in seconds.

use super::sample::{generate, initial_latents, Generate};
use anyhow::Result;
use candle_core::Device;
use image::{imageops::FilterType, DynamicImage, RgbImage};
use pivot::sd::StableDiffusion;
use std::io::IsTerminal;

/// Half-block art: two image rows per text row (foreground = top, background = bottom).
fn half_blocks(img: &RgbImage, width: u32) -> String {
    let small = DynamicImage::ImageRgb8(img.clone()).resize_exact(width, width, FilterType::Triangle).to_rgb8();
    let mut out = String::new();
    for y in (0..width).step_by(2) {
        for x in 0..width {
            let t = small.get_pixel(x, y).0;
            let b = small.get_pixel(x, (y + 1).min(width - 1)).0;
            out.push_str(&format!("\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m▀", t[0], t[1], t[2], b[0], b[1], b[2]));
        }
        out.push_str("\x1b[0m\n");
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
        print!("{}", half_blocks(&img, 32));
    }
    println!("\nWith real weights (downloaded once into the Hugging Face cache):");
    println!("  pivot sample --model stable-diffusion-v1-5/stable-diffusion-v1-5 --prompt \"{prompt}\" --out fox.png");
    println!("or a local diffusers folder:  pivot sample --model /path/to/sd15 --prompt … --out fox.png");
    println!("Inspect a model:              pivot model info --model tiny");
    println!("All commands:                 pivot --help");
    Ok(())
}
