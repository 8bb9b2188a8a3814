//! `pivot model info`.

use super::device;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[arg(long, help = super::device::MODEL_HELP)]
    pub model: Option<String>,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

fn millions(n: usize) -> String {
    format!("{:.2} M", n as f64 / 1e6)
}

pub fn info(a: &InfoArgs) -> Result<()> {
    let source = device::chosen_model(a.model.as_deref())?;
    let dev = device::pick(a.device.as_deref())?;
    let sd = super::device::load_model(&source, &dev)?;
    println!("model       {}", source.describe());
    match &sd.files {
        Some(f) => {
            println!("layout      diffusers folder {}", f.root.display());
            for p in f.all() {
                let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                println!("  {:<58} {:>10.1} MiB", p.strip_prefix(&f.root).unwrap_or(p).display(), size as f64 / 1048576.0);
            }
        }
        None => println!("layout      built-in (random weights drawn from seed; real CLIP tokenizer) — not a trained model"),
    }
    let u = &sd.unet.config;
    let heads = u.heads_per_block()?;
    println!("unet        blocks {:?}, resnets/block {}, transformer layers/block {}, heads {:?}, cross-attention dim {}, {} projection, sample size {}",
        u.block_out_channels, u.layers_per_block, u.transformer_layers_per_block, heads, u.cross_attention_dim, if u.use_linear_projection { "linear" } else { "conv" }, u.sample_size);
    println!("            {} attention layers hooked", sd.unet.attention_layers());
    let v = &sd.vae.config;
    let shift = v.shift_factor.map(|f| format!(", shift factor {f} (not used: diffusers' Stable Diffusion pipelines leave it out)")).unwrap_or_default();
    println!("vae         blocks {:?}, latent channels {}, scaling factor {}{shift}, factor {}×", v.block_out_channels, v.latent_channels, v.scaling_factor, sd.vae.factor());
    let t = &sd.text_encoder.config;
    println!("text        CLIP hidden {}, {} layers, {} heads, {}, vocabulary {}, pad token id {}", t.hidden_size, t.num_hidden_layers, t.num_attention_heads, t.hidden_act, sd.tokenizer.vocab_size(), sd.tokenizer.pad);
    let s = &sd.scheduler;
    let betas = match &s.trained_betas {
        Some(b) => format!("trained betas ({} values)", b.len()),
        None if s.beta_schedule == "squaredcos_cap_v2" => s.beta_schedule.clone(),
        None => format!("{} {}–{}", s.beta_schedule, s.beta_start, s.beta_end),
    };
    // Null-text inversion needs DDIM's deterministic steps, whatever scheduler the model ships.
    let class = match s.class_name.as_deref() {
        Some(c) if c != "DDIMScheduler" => format!(" (the model ships {c}; pivot steps with DDIM on its schedule)"),
        _ => String::new(),
    };
    println!("scheduler   DDIM, {betas}, {} train steps, steps_offset {}, {}, {} spacing, final ᾱ {}{class}",
        s.num_train_timesteps, s.steps_offset, s.prediction_type, s.timestep_spacing,
        if s.set_alpha_to_one { "1" } else { "ᾱ_0" });
    let p = sd.params;
    println!("parameters  unet {}, vae {}, text encoder {}, total {}", millions(p.unet), millions(p.vae), millions(p.text_encoder), millions(p.unet + p.vae + p.text_encoder));
    let r = sd.resolution();
    println!("resolution  {r}×{r} (latent {}×{})", u.sample_size, u.sample_size);
    println!("dtype       f32");
    println!("device      {}", device::describe(&dev));
    Ok(())
}
