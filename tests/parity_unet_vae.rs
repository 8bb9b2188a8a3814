//! UNet, VAE and DDIM schedule against diffusers' numbers on the tiny fixtures.

mod common;
use candle_core::{Device, Tensor};
use common::*;
use pivot::sd::config::{read_json, SchedulerConfig, VaeConfig};
use pivot::sd::schedule::Schedule;
use pivot::sd::source::ModelSource;
use pivot::sd::unet::NoHook;
use pivot::sd::vae::Vae;
use pivot::sd::{open_weights, StableDiffusion};

fn tiny_sd() -> StableDiffusion {
    StableDiffusion::load(&ModelSource::Dir(model_dir("tiny-sd")), &Device::Cpu).unwrap()
}

#[test]
fn unet_stages_and_outputs_match() {
    let sd = tiny_sd();
    let r = reference("unet");
    let dbg = reference("debug_unet");
    let x = get(&r, "latent");
    let cond = get(&r, "encoder_hidden_states_cond");
    let uncond = get(&r, "encoder_hidden_states_uncond");
    let mut stages = Vec::new();
    let eps = sd.unet.forward_tapped(&x, 501.0, &cond, &mut NoHook, &mut |n, t| stages.push((n.to_string(), t.clone()))).unwrap();
    assert_eq!(stages.len(), dbg.len(), "every debug stage is tapped");
    for (name, t) in &stages {
        let want = get(&dbg, name);
        assert_close(name, t, &want, 1e-4);
    }
    assert_close("eps_cond", &eps, &get(&r, "eps_cond"), 1e-5);
    let x2 = Tensor::cat(&[&x, &x], 0).unwrap();
    let ctx = Tensor::cat(&[&uncond, &cond], 0).unwrap();
    let e2 = sd.unet.forward(&x2, 501.0, &ctx, &mut NoHook).unwrap();
    assert_close("eps_batch2", &e2, &get(&r, "eps_batch2"), 1e-5);
    let (u, c) = (e2.get(0).unwrap(), e2.get(1).unwrap());
    let guided = (&u + ((c - &u).unwrap() * 7.5).unwrap()).unwrap().unsqueeze(0).unwrap();
    assert_close("eps_guided", &guided, &get(&r, "eps_guided"), 1e-4);
}

#[test]
fn sd2_v_prediction_unet_and_step_match() {
    let sd = StableDiffusion::load(&ModelSource::Dir(model_dir("tiny-sd2")), &Device::Cpu).unwrap();
    let r = reference("unet");
    let s2 = reference("sd2");
    let emb = get(&s2, "prompt_embeds");
    let x = get(&r, "latent");
    let v = sd.unet.forward(&x, 501.0, &emb.narrow(0, 0, 1).unwrap(), &mut NoHook).unwrap();
    assert_close("sd2 v_pred", &v, &get(&s2, "v_pred"), 1e-5);
    let x2 = Tensor::cat(&[&x, &x], 0).unwrap();
    let ctx = Tensor::cat(&[emb.get(1).unwrap(), emb.get(0).unwrap()], 0).unwrap().reshape((2, 77, 32)).unwrap();
    let v2 = sd.unet.forward(&x2, 501.0, &ctx, &mut NoHook).unwrap();
    assert_close("sd2 v_pred_batch2", &v2, &get(&s2, "v_pred_batch2"), 1e-5);
    let sched = Schedule::new(&sd.scheduler, 50).unwrap();
    let sample = get(&reference("scheduler"), "sample_t501");
    let v = get(&s2, "v_pred");
    let prev = sched.prev_step(&v, 501, &sample).unwrap();
    assert_close("sd2 prev_sample_t501", &prev, &get(&s2, "prev_sample_t501"), 1e-5);
    let (_, x0) = sched.eps_and_x0(&v, sched.alpha(501), &sample).unwrap();
    assert_close("sd2 pred_original_sample_t501", &x0, &get(&s2, "pred_original_sample_t501"), 1e-5);
}

#[test]
fn vae_encode_decode_match_with_both_naming_schemes() {
    let r = reference("vae");
    let image = get(&r, "image");
    let dir = model_dir("tiny-sd/vae");
    let cfg: VaeConfig = read_json(&dir.join("config.json")).unwrap();
    let modern = Vae::load(&open_weights(&dir.join("diffusion_pytorch_model.safetensors"), &Device::Cpu).unwrap(), &cfg).unwrap();
    let legacy_dir = model_dir("vae-legacy-names");
    let legacy = Vae::load(&open_weights(&legacy_dir.join("diffusion_pytorch_model.safetensors"), &Device::Cpu).unwrap(), &read_json(&legacy_dir.join("config.json")).unwrap()).unwrap();
    for (name, vae) in [("modern", &modern), ("legacy", &legacy)] {
        let (mean, logvar) = vae.encode_posterior(&image).unwrap();
        assert_close(&format!("{name} posterior_mean"), &mean, &get(&r, "posterior_mean"), 1e-4);
        assert_close(&format!("{name} posterior_logvar"), &logvar, &get(&r, "posterior_logvar"), 1e-4);
        let lat = vae.encode(&image).unwrap();
        assert_close(&format!("{name} latents"), &lat, &get(&r, "latents"), 1e-4);
        let dec = vae.decode(&get(&r, "latents")).unwrap();
        assert_close(&format!("{name} decoded"), &dec, &get(&r, "decoded"), 1e-4);
    }
    // The test image through pivot's own loader gives the same input tensor.
    let img = pivot::sd::image::load_rgb(&fixtures().join("reference/test_image.png")).unwrap();
    let t = pivot::sd::image::to_tensor(&pivot::sd::image::square(&img, 128), &Device::Cpu).unwrap();
    assert_close("image tensor", &t, &image, 1e-6);
}

#[test]
fn schedule_matches_ddim_scheduler() {
    let r = reference("scheduler");
    let cfg: SchedulerConfig = read_json(&model_dir("tiny-sd/scheduler/scheduler_config.json")).unwrap();
    let s = Schedule::new(&cfg, 50).unwrap();
    let table = Tensor::new(s.alphas_cumprod.as_slice(), &Device::Cpu).unwrap();
    // Bit for bit: built as torch builds it (f32 linspace with fused multiply-adds, f64 cumprod).
    assert_eq!(table.to_vec1::<f32>().unwrap(), get(&r, "alphas_cumprod").to_vec1::<f32>().unwrap(), "alphas_cumprod differs from torch's");
    let fin: Vec<f32> = get(&r, "final_alpha_cumprod").to_vec1().unwrap();
    assert_eq!(fin[0], s.final_alpha_cumprod);
    let ts: Vec<i64> = get(&r, "timesteps_50").to_vec1().unwrap();
    assert_eq!(ts, s.timesteps.iter().map(|&t| t as i64).collect::<Vec<_>>());
    for t in [981usize, 501, 21, 1] {
        let x = get(&r, &format!("sample_t{t}"));
        let e = get(&r, &format!("eps_t{t}"));
        assert_close(&format!("prev_sample_t{t}"), &s.prev_step(&e, t, &x).unwrap(), &get(&r, &format!("prev_sample_t{t}")), 1e-5);
        let (_, x0) = s.eps_and_x0(&e, s.alpha(t as i64), &x).unwrap();
        assert_close(&format!("pred_original_sample_t{t}"), &x0, &get(&r, &format!("pred_original_sample_t{t}")), 1e-4);
        assert_close(&format!("inv_next_sample_t{t}"), &s.next_step(&e, t, &x).unwrap(), &get(&r, &format!("inv_next_sample_t{t}")), 1e-5);
    }
}

/// A UNet with `mid_block_type: null` (the distilled BK-SDM Small/Tiny models have none) and a
/// layer count per block gives diffusers' output; the fixture comes from
/// `scripts/fixtures/unet_without_mid.py`.
#[test]
fn a_unet_without_a_mid_block_and_with_layers_per_block_matches_diffusers() {
    let dir = model_dir("unet-no-mid");
    let cfg = read_json(&dir.join("config.json")).unwrap();
    let unet = pivot::sd::unet::UNet::load(&open_weights(&dir.join("diffusion_pytorch_model.safetensors"), &Device::Cpu).unwrap(), &cfg).unwrap();
    let r = candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu).unwrap();
    let eps = unet.forward(&get(&r, "latent"), 501.0, &get(&r, "context"), &mut NoHook).unwrap();
    let want = get(&r, "eps");
    let scale = want.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() as f64;
    assert_close("eps without a mid block", &eps, &want, 1e-5 * scale.max(1.0));
    // Down: 1 layer in the cross-attention block 0; up: block 1 mirrors block 0 with 1 + 1 layers.
    assert_eq!(unet.attention_layers(), 2 * (1 + 2), "the down and up blocks' layers, no mid layer");
}

#[test]
fn a_unet_split_into_shards_loads_and_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    copy_dir(&model_dir("tiny-sd"), &m);
    let single = m.join("unet/diffusion_pytorch_model.safetensors");
    let tensors = candle_core::safetensors::load(&single, &Device::Cpu).unwrap();
    std::fs::remove_file(&single).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (mut shards, mut map) = ([std::collections::HashMap::new(), std::collections::HashMap::new()], serde_json::Map::new());
    for (i, name) in names.iter().enumerate() {
        let shard = i * 2 / names.len();
        shards[shard].insert(name.to_string(), tensors[*name].clone());
        map.insert(name.to_string(), format!("diffusion_pytorch_model-0000{}-of-00002.safetensors", shard + 1).into());
    }
    for (i, s) in shards.iter().enumerate() {
        candle_core::safetensors::save(s, m.join(format!("unet/diffusion_pytorch_model-0000{}-of-00002.safetensors", i + 1))).unwrap();
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(m.join("unet/diffusion_pytorch_model.safetensors.index.json"), index.to_string()).unwrap();
    let sd = StableDiffusion::load(&ModelSource::Dir(m.clone()), &Device::Cpu).unwrap();
    assert_eq!(sd.params.unet, tensors.values().map(|t| t.elem_count()).sum::<usize>(), "every tensor of both shards is used");
    let r = reference("unet");
    let eps = sd.unet.forward(&get(&r, "latent"), 501.0, &get(&r, "encoder_hidden_states_cond"), &mut NoHook).unwrap();
    assert_close("eps_cond from shards", &eps, &get(&r, "eps_cond"), 1e-5);
    // A damaged shard is named.
    let first = m.join("unet/diffusion_pytorch_model-00001-of-00002.safetensors");
    let good = std::fs::read(&first).unwrap();
    std::fs::write(&first, b"not safetensors").unwrap();
    let e = format!("{:#}", StableDiffusion::load(&ModelSource::Dir(m.clone()), &Device::Cpu).err().unwrap());
    assert!(e.contains("diffusion_pytorch_model-00001-of-00002.safetensors") && e.contains("not a readable safetensors file"), "{e}");
    std::fs::write(&first, good).unwrap();
    // A shard gone is named.
    std::fs::remove_file(m.join("unet/diffusion_pytorch_model-00002-of-00002.safetensors")).unwrap();
    let e = format!("{:#}", StableDiffusion::load(&ModelSource::Dir(m), &Device::Cpu).err().unwrap());
    assert!(e.contains("diffusion_pytorch_model-00002-of-00002.safetensors") && e.contains("missing"), "{e}");
}
