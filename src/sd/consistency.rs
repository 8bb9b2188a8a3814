//! Checks a model folder's configs before any work: numbers that cannot be right, and parts that
//! do not fit together (a text encoder from another model, a tokenizer with ids past the
//! embedding table). Each message names the file and field, so the user knows what to mend;
//! without them the first sign was a shape error or a NaN loss deep in an inversion.

use super::config::{ClipTextConfig, SchedulerConfig, UNetConfig, VaeConfig};
use super::schedule::{BETA_SCHEDULES, PREDICTION_TYPES, TIMESTEP_SPACINGS};
use anyhow::{bail, ensure, Result};

const SCHEDULER: &str = "scheduler/scheduler_config.json";

/// Numbers in the scheduler config that would give a NaN or out-of-range schedule, and options
/// pivot does not implement.
pub fn check_scheduler(cfg: &SchedulerConfig) -> Result<()> {
    let n = cfg.num_train_timesteps;
    for (key, value, known) in [
        ("prediction_type", &cfg.prediction_type, &PREDICTION_TYPES[..]),
        ("timestep_spacing", &cfg.timestep_spacing, &TIMESTEP_SPACINGS[..]),
        ("beta_schedule", &cfg.beta_schedule, &BETA_SCHEDULES[..]),
    ] {
        let read = key != "beta_schedule" || cfg.trained_betas.is_none();
        ensure!(!read || known.contains(&value.as_str()), "{SCHEDULER}: {key} = \"{value}\"; pivot supports {}", known.join(", "));
    }
    ensure!(!cfg.rescale_betas_zero_snr, "{SCHEDULER}: rescale_betas_zero_snr = true; pivot supports only false (zero-terminal-SNR schedules are not supported)");
    ensure!(!cfg.thresholding, "{SCHEDULER}: thresholding = true; pivot supports only false (Stable Diffusion does not use dynamic thresholding)");
    ensure!(n >= 2, "{SCHEDULER}: num_train_timesteps = {n}; a DDIM schedule needs at least 2 (Stable Diffusion: 1000)");
    let is_beta = |b: f64| b.is_finite() && b > 0.0 && b < 1.0;
    if let Some(betas) = &cfg.trained_betas {
        ensure!(betas.len() == n, "{SCHEDULER}: trained_betas has {} entries but num_train_timesteps is {n}; they must agree", betas.len());
        if let Some((i, b)) = betas.iter().enumerate().find(|(_, b)| !is_beta(**b)) {
            bail!("{SCHEDULER}: trained_betas[{i}] = {b}; every beta must lie strictly between 0 and 1");
        }
    } else if matches!(cfg.beta_schedule.as_str(), "linear" | "scaled_linear") {
        for (name, b) in [("beta_start", cfg.beta_start), ("beta_end", cfg.beta_end)] {
            ensure!(is_beta(b), "{SCHEDULER}: {name} = {b}; it must lie strictly between 0 and 1 (Stable Diffusion: 0.00085 and 0.012)");
        }
    }
    // The x0 estimate divides by √ᾱ: below 1e-20 at the last timestep (SD: 4.7e-3, a cosine
    // schedule: ~2e-9) a unit of noise becomes 1e10 and the VAE overflows.
    let signal: f64 = super::schedule::betas(cfg)?.iter().map(|&b| 1.0 - f64::from(b)).product();
    ensure!(signal >= 1e-20, "{SCHEDULER}: with these betas (beta_start = {}, beta_end = {}) almost no signal is left by the last timestep (ᾱ = {signal:.1e}), and sampling would overflow; Stable Diffusion's are 0.00085 and 0.012", cfg.beta_start, cfg.beta_end);
    Ok(())
}

/// The text encoder, tokenizer, UNet and VAE fit together, and their numbers make sense.
pub fn check_parts(text: &ClipTextConfig, unet: &UNetConfig, vae: &VaeConfig, tokenizer_max_id: u32) -> Result<()> {
    ensure!(
        text.hidden_size == unet.cross_attention_dim,
        "text_encoder/config.json hidden_size is {} but unet/config.json cross_attention_dim is {}: the text encoder and the UNet come from different models",
        text.hidden_size,
        unet.cross_attention_dim
    );
    let heads = text.num_attention_heads;
    ensure!(heads > 0 && text.hidden_size.is_multiple_of(heads), "text_encoder/config.json: hidden_size {} cannot be split into num_attention_heads = {heads} heads", text.hidden_size);
    let tokens = super::tokenizer::MAX_TOKENS;
    ensure!(
        text.max_position_embeddings >= tokens,
        "text_encoder/config.json max_position_embeddings is {}: pivot's prompts are {tokens} tokens, as every Stable Diffusion model's are",
        text.max_position_embeddings
    );
    ensure!(
        (tokenizer_max_id as usize) < text.vocab_size,
        "the tokenizer has token ids up to {tokenizer_max_id} but text_encoder/config.json vocab_size is {}: the tokenizer and the text encoder come from different models",
        text.vocab_size
    );
    ensure!(
        unet.in_channels == vae.latent_channels && unet.out_channels == vae.latent_channels,
        "unet/config.json in_channels/out_channels are {}/{} but vae/config.json latent_channels is {}: the UNet and the VAE come from different models (or the UNet is an inpainting one, which pivot does not use)",
        unet.in_channels,
        unet.out_channels,
        vae.latent_channels
    );
    ensure!(unet.sample_size > 0, "unet/config.json: sample_size is 0; it sets the latent side (Stable Diffusion 1.x: 64)");
    let s = vae.scaling_factor;
    ensure!(s.is_finite() && s > 0.0, "vae/config.json: scaling_factor = {s}; it must be a positive number (Stable Diffusion: 0.18215)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_parts() -> (ClipTextConfig, UNetConfig, VaeConfig) {
        (crate::sd::tiny::tiny_text_config(), crate::sd::tiny::tiny_unet_config(), crate::sd::tiny::tiny_vae_config())
    }

    #[test]
    fn the_builtin_model_and_sd15s_schedule_pass() {
        let (t, u, v) = tiny_parts();
        check_parts(&t, &u, &v, 49407).unwrap();
        check_scheduler(&SchedulerConfig::default()).unwrap();
    }

    #[test]
    fn parts_that_do_not_fit_are_named() {
        let (t, u, v) = tiny_parts();
        let mut wide = t.clone();
        wide.hidden_size *= 2;
        let e = check_parts(&wide, &u, &v, 49407).unwrap_err().to_string();
        assert!(e.contains("hidden_size") && e.contains("cross_attention_dim"), "{e}");
        let mut odd_heads = t.clone();
        odd_heads.num_attention_heads = 5;
        assert!(check_parts(&odd_heads, &u, &v, 49407).unwrap_err().to_string().contains("num_attention_heads"));
        let e = check_parts(&t, &u, &v, 60000).unwrap_err().to_string();
        assert!(e.contains("60000") && e.contains("vocab_size"), "{e}");
        let mut short = t.clone();
        short.max_position_embeddings = 64;
        assert!(check_parts(&short, &u, &v, 49407).unwrap_err().to_string().contains("max_position_embeddings is 64"));
        let mut inpainting = u.clone();
        inpainting.in_channels = 9;
        let e = check_parts(&t, &inpainting, &v, 49407).unwrap_err().to_string();
        assert!(e.contains("in_channels/out_channels are 9/4") && e.contains("latent_channels is 4"), "{e}");
        let mut zero = u.clone();
        zero.sample_size = 0;
        assert!(check_parts(&t, &zero, &v, 49407).unwrap_err().to_string().contains("sample_size"));
        for s in [0.0, -1.0, f64::NAN] {
            let mut vae = v.clone();
            vae.scaling_factor = s;
            assert!(check_parts(&t, &u, &vae, 49407).unwrap_err().to_string().contains("scaling_factor"));
        }
    }

    #[test]
    fn schedules_that_cannot_be_right_are_named() {
        let bad = |f: &dyn Fn(&mut SchedulerConfig)| {
            let mut c = SchedulerConfig::default();
            f(&mut c);
            check_scheduler(&c).unwrap_err().to_string()
        };
        assert!(bad(&|c| c.trained_betas = Some(vec![0.001; 10])).contains("10 entries"));
        assert!(bad(&|c| c.trained_betas = Some(vec![1.5; 1000])).contains("trained_betas[0] = 1.5"));
        assert!(bad(&|c| c.beta_end = 2.0).contains("beta_end = 2"));
        assert!(bad(&|c| c.beta_start = -0.1).contains("beta_start"));
        assert!(bad(&|c| c.num_train_timesteps = 0).contains("num_train_timesteps = 0"));
        assert!(bad(&|c| (c.beta_start, c.beta_end) = (0.5, 0.1)).contains("almost no signal is left by the last timestep"));
        let mut cosine = SchedulerConfig { beta_schedule: "squaredcos_cap_v2".into(), ..Default::default() };
        cosine.beta_end = 5.0; // not read by this schedule
        check_scheduler(&cosine).unwrap();
        assert!(bad(&|c| c.prediction_type = "sample".into()).contains("prediction_type = \"sample\""));
        assert!(bad(&|c| c.timestep_spacing = "bogus".into()).contains("timestep_spacing"));
        assert!(bad(&|c| c.beta_schedule = "sigmoid".into()).contains("beta_schedule = \"sigmoid\""));
        assert!(bad(&|c| c.rescale_betas_zero_snr = true).contains("rescale_betas_zero_snr"));
        assert!(bad(&|c| c.thresholding = true).contains("thresholding"));
        let given = SchedulerConfig { beta_schedule: "sigmoid".into(), trained_betas: Some(vec![0.01; 1000]), ..Default::default() };
        check_scheduler(&given).unwrap();
    }
}
