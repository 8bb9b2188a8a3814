//! Models, photos and prompts unlike the main fixture's, against diffusers
//! (`scripts/fixtures/foreign_reference.py`, 10 DDIM steps):
//! - `tiny-other`: a three-level SD1-style pipeline of another seed and shape (deepest level without
//!   attention, two transformer layers at level 1, sin/cos time embedding unflipped with freq_shift 1, a
//!   gelu text encoder 40 wide, a factor-4 VAE, trailing timesteps with set_alpha_to_one, and
//!   a 10×10 latent whose levels are 10, 5 and 3);
//! - `tiny-sd2`: v-prediction through a whole inversion.
//!
//! Each also gets a word swap with LocalBlend (and a re-weight on tiny-other) from the reference's
//! inversion. Null-text is checked step by step from the reference's own iterates (its runs drift apart
//! chaotically otherwise); the reconstruction uses the reference's embeddings.

mod common;
use candle_core::{Device, Tensor, Var};
use common::*;
use pivot::edit::guidance::NullTextStep;
use pivot::edit::invert::ddim_invert;
use pivot::edit::null_text::{NullTextConfig, NullTextInversion};
use pivot::edit::p2p::run::{run_edit, P2pEdit};
use pivot::edit::sample::{NullEmbeddings, Sampler};
use pivot::edit::{CancelToken, Quiet};
use pivot::sd::image::{load_rgb, square, to_tensor};
use pivot::sd::schedule::Schedule;
use pivot::sd::source::ModelSource;
use pivot::sd::unet::NoHook;
use pivot::sd::StableDiffusion;
use pivot::session::manifest::{EditSpec, WordValue};
use pivot::worker::edit_spec::{edit_parts, EditParts};
use std::collections::HashMap;

const STEPS: usize = 10;

struct Case {
    /// `foreign/<name>.safetensors`.
    name: &'static str,
    model: &'static str,
    photo: &'static str,
    prompt: &'static str,
    /// The word swap: target prompt, LocalBlend words and threshold, re-weights.
    target: &'static str,
    blend: [&'static str; 2],
    threshold: f64,
    reweight: &'static [(&'static str, f64)],
}

const OTHER: Case = Case {
    name: "other",
    model: "tiny-other",
    photo: "foreign/photo40.png",
    prompt: "a small red-brick house, by a lake",
    target: "a small red-brick barn, by a lake",
    blend: ["red-brick", "red-brick"],
    threshold: 0.3,
    reweight: &[("small", 2.0)],
};
const SD2: Case = Case {
    name: "sd2",
    model: "tiny-sd2",
    photo: "reference/test_image.png",
    prompt: "an abstract painting with bright colours",
    target: "an abstract drawing with bright colours",
    blend: ["painting", "drawing"],
    threshold: 0.97,
    reweight: &[],
};

fn load(case: &Case) -> (StableDiffusion, HashMap<String, Tensor>) {
    let sd = StableDiffusion::load(&ModelSource::Dir(model_dir(case.model)), &Device::Cpu).unwrap();
    let p = fixtures().join("foreign").join(format!("{}.safetensors", case.name));
    (sd, candle_core::safetensors::load(&p, &Device::Cpu).unwrap())
}

fn rows(t: &Tensor) -> Vec<Tensor> {
    (0..t.dim(0).unwrap()).map(|j| t.narrow(0, j, 1).unwrap()).collect()
}

/// Relative closeness, for tensors whose scale differs from case to case.
fn assert_rel(name: &str, got: &Tensor, want: &Tensor, tol: f64) {
    let err = rel_l2(got, want);
    eprintln!("{name}: relative error {err:.2e}");
    assert!(err <= tol, "{name}: relative error {err:e} > {tol:e}");
}

/// Text, photo, VAE, schedule and the DDIM inversion trajectory; returns it.
fn inversion_matches(case: &Case, sd: &StableDiffusion, r: &HashMap<String, Tensor>, s: &Schedule) -> Vec<Tensor> {
    let (cond, enc) = sd.encode_prompt(case.prompt).unwrap();
    let ids: Vec<i64> = get(r, "prompt_token_ids").to_vec1().unwrap();
    assert_eq!(enc.ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), ids, "token ids");
    assert_close("prompt embeddings", &cond, &get(r, "cond_embeds"), 1e-5);
    let (null, _) = sd.encode_prompt("").unwrap();
    assert_close("\"\" embeddings", &null, &get(r, "null_embeds"), 1e-5);

    let photo = load_rgb(&fixtures().join(case.photo)).unwrap();
    assert_eq!(photo.width() as usize, sd.resolution(), "the photo has the model's size, so no resampling");
    let image = to_tensor(&square(&photo, sd.resolution() as u32), &Device::Cpu).unwrap();
    assert_close("photo tensor", &image, &get(r, "image"), 1e-6);
    let x0 = sd.vae.encode(&image).unwrap();
    assert_rel("x0", &x0, &get(r, "x0"), 1e-5);

    let ts: Vec<i64> = get(r, "timesteps").to_vec1().unwrap();
    assert_eq!(s.timesteps.iter().map(|&t| t as i64).collect::<Vec<_>>(), ts, "timesteps");
    let trajectory = ddim_invert(&sd.unet, s, &get(r, "x0"), &cond, 0, &mut Quiet, &CancelToken::new()).unwrap();
    let want = rows(&get(r, "latents"));
    for (i, (got, want)) in trajectory.iter().zip(&want).enumerate() {
        assert_rel(&format!("inversion latent {i}"), got, want, 1e-5);
    }
    trajectory
}

/// Every null-text step from the reference's start: the gradient at each of its iterates, the
/// iteration count, and the next latent from its final embedding.
fn null_text_matches(sd: &StableDiffusion, r: &HashMap<String, Tensor>, s: &Schedule) {
    let cond = get(r, "cond_embeds");
    let trajectory = rows(&get(r, "latents"));
    let nti = NullTextInversion { unet: &sd.unet, schedule: s, trajectory: &trajectory, cond: &cond, config: NullTextConfig::default() };
    let iterations: Vec<i64> = get(r, "iterations").to_vec1().unwrap();
    for (i, &t) in s.timesteps.iter().enumerate() {
        let k = |key: &str| get(r, &format!("step{i}_{key}"));
        let (latent, init) = (k("latent_cur"), k("uncond_init"));
        let eps_cond = sd.unet.forward(&latent, t as f64, &cond, &mut NoHook).unwrap();
        let obj = NullTextStep { unet: &sd.unet, schedule: s, latent: &latent, t, eps_cond: &eps_cond, target: &trajectory[STEPS - 1 - i], guidance: 7.5, head: None };
        let (grads, after) = (rows(&k("grads")), rows(&k("uncond_after")));
        for (j, want) in grads.iter().enumerate() {
            let u = Var::from_tensor(if j == 0 { &init } else { &after[j - 1] }).unwrap();
            let g = obj.loss(u.as_tensor(), &mut NoHook).unwrap().backward().unwrap();
            let err = rel_l2(g.get(u.as_tensor()).unwrap(), want);
            assert!(err < 1e-3, "step {i} iteration {j}: gradient relative error {err:e}");
        }
        let step = nti.step(i, &latent, &init, &mut Quiet, &CancelToken::new()).unwrap().unwrap();
        assert_eq!(step.iterations as i64, iterations[i], "step {i}: inner iterations");
    }
}

/// Guided sampling from x_T with the reference's optimised embeddings.
fn reconstruction_matches(sd: &StableDiffusion, r: &HashMap<String, Tensor>, s: &Schedule) {
    let cond = get(r, "cond_embeds");
    let nulls = rows(&get(r, "uncond_embeds_opt"));
    let sampler = Sampler { unet: &sd.unet, schedule: s, cond: &cond, null: NullEmbeddings::PerStep(&nulls), guidance: 7.5, eta: 0.0, offsets: None };
    let want = rows(&get(r, "recon_latents_traj"));
    let recon = sampler.run(&want[0], &mut NoHook, None, &mut |_, _| Ok(None)).unwrap();
    assert_rel("reconstruction", &recon, &get(r, "recon_latent"), 1e-3);
}

/// The word swap from the reference's x_T and embeddings: the tables come from the words, as
/// `pivot edit` makes them; LocalBlend works on the level-2 cross maps whatever the model's depth.
fn edit_matches(case: &Case, sd: &StableDiffusion, r: &HashMap<String, Tensor>, s: &Schedule) {
    let (target, enc) = sd.encode_prompt(case.target).unwrap();
    let ids: Vec<i64> = get(r, "edit_target_token_ids").to_vec1().unwrap();
    assert_eq!(enc.ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), ids, "target token ids");
    assert_close("target embeddings", &target, &get(r, "edit_target_embeds"), 1e-5);
    let word = |(w, v): &(&str, f64)| WordValue { word: w.to_string(), value: *v };
    let spec = EditSpec {
        target: case.target.into(),
        mode: "replace".into(),
        cross: 0.8,
        self_replace: 0.4,
        cross_words: vec![],
        blend: Some(case.blend.map(String::from)),
        blend_threshold: case.threshold,
        reweight: case.reweight.iter().map(word).collect(),
        prox: None,
        blend_except: None,
    };
    let EditParts { tables, blend, .. } = edit_parts(sd, &spec, case.prompt, STEPS, "null-text").unwrap();
    let (cond, nulls) = (get(r, "cond_embeds"), rows(&get(r, "uncond_embeds_opt")));
    let edit = P2pEdit { unet: &sd.unet, schedule: s, source: &cond, target: &target, nulls: NullEmbeddings::PerStep(&nulls), guidance: 7.5, tables, blend, offsets: None, prox: None };
    let x_t = rows(&get(r, "latents")).pop().unwrap();
    let want = get(r, "edit_latents_traj");
    let mut step = 0;
    let (latents, _) = run_edit(&edit, &x_t, &mut |i, x| {
        assert_rel(&format!("edit latents after step {i}"), x, &want.get(i).unwrap(), 1e-3);
        step += 1;
    })
    .unwrap();
    assert_eq!(step, STEPS);
    assert_rel("edited latents", &latents, &get(r, "edit_final_latents"), 1e-3);
}

fn run(case: &Case) {
    let (sd, r) = load(case);
    assert!(sd.warnings.is_empty(), "{}: {:?}", case.model, sd.warnings);
    let s = Schedule::new(&sd.scheduler, STEPS).unwrap();
    inversion_matches(case, &sd, &r, &s);
    null_text_matches(&sd, &r, &s);
    reconstruction_matches(&sd, &r, &s);
    edit_matches(case, &sd, &r, &s);
}

/// A config that leaves weights of its files unused (here: no mid block) is loaded, as
/// diffusers does, with a warning that names them.
#[test]
fn weights_a_config_leaves_unused_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    copy_dir(&model_dir("tiny-sd"), &model);
    let path = model.join("unet/config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["mid_block_type"] = serde_json::Value::Null;
    std::fs::write(&path, cfg.to_string()).unwrap();
    let sd = StableDiffusion::load(&ModelSource::Dir(model), &Device::Cpu).unwrap();
    assert!(sd.warnings.iter().any(|w| w.contains("tensors that unet/config.json does not use") && w.contains("mid_block.")), "{:?}", sd.warnings);
}

#[test]
fn another_shape_and_seed_matches_diffusers() {
    run(&OTHER);
}

#[test]
fn v_prediction_inversion_matches_diffusers() {
    run(&SD2);
}
