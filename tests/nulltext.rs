//! Null-text optimisation against the reference, step by step (immune to chaotic drift):
//! the gradient at every inner iteration, torch-exact Adam updates, and whole steps.

mod common;
use candle_core::{DType, Device, Tensor, Var};
use common::*;
use pivot::edit::adam::Adam;
use pivot::edit::guidance::NullTextStep;
use pivot::edit::null_text::{NullTextConfig, NullTextInversion};
use pivot::edit::{CancelToken, Quiet};
use pivot::sd::config::read_json;
use pivot::sd::schedule::Schedule;
use pivot::sd::unet::{NoHook, UNet};
use pivot::sd::open_weights;

fn unet() -> UNet {
    let dir = model_dir("tiny-sd/unet");
    UNet::load(&open_weights(&dir.join("diffusion_pytorch_model.safetensors"), &Device::Cpu).unwrap(), &read_json(&dir.join("config.json")).unwrap()).unwrap()
}

fn schedule() -> Schedule {
    Schedule::new(&read_json(&model_dir("tiny-sd/scheduler/scheduler_config.json")).unwrap(), 50).unwrap()
}

fn rows(t: &Tensor) -> Vec<Tensor> {
    (0..t.dim(0).unwrap()).map(|j| t.narrow(0, j, 1).unwrap()).collect()
}

#[test]
fn inner_iterations_match_reference_step_by_step() {
    let unet = unet();
    let sched = schedule();
    let detail = reference("nulltext_detail");
    let inv = reference("inversion");
    let cond = get(&inv, "cond_embeds");
    let trajectory = rows(&get(&inv, "latents"));
    let nti = NullTextInversion { unet: &unet, schedule: &sched, trajectory: &trajectory, cond: &cond, config: NullTextConfig::default() };
    for i in [0usize, 1, 24, 49] {
        let k = |s: &str| get(&detail, &format!("step{i}_{s}"));
        let (latent, pivot, init) = (k("latent_cur"), k("pivot"), k("uncond_init"));
        assert_close(&format!("step {i} pivot = trajectory"), &trajectory[49 - i], &pivot, 1e-5);
        let grads = rows(&k("grads"));
        let after = rows(&k("uncond_after"));
        let t = sched.timesteps[i];
        let eps_cond = unet.forward(&latent, t as f64, &cond, &mut NoHook).unwrap();
        let obj = NullTextStep { unet: &unet, schedule: &sched, latent: &latent, t, eps_cond: &eps_cond, target: &pivot, guidance: 7.5, head: None };
        // The gradient at each reference iterate.
        for (j, want) in grads.iter().enumerate() {
            let at = if j == 0 { init.clone() } else { after[j - 1].clone() };
            let u = Var::from_tensor(&at).unwrap();
            let g = obj.loss(u.as_tensor(), &mut NoHook).unwrap().backward().unwrap();
            let err = rel_l2(g.get(u.as_tensor()).unwrap(), want);
            assert!(err < 1e-3, "step {i} iteration {j}: gradient relative error {err:e}");
        }
        // Adam fed the reference gradients reproduces the reference iterates.
        let mut param: Vec<f32> = init.flatten_all().unwrap().to_vec1().unwrap();
        let mut adam = Adam::new(NullTextConfig::lr(i), param.len());
        for (g, want) in grads.iter().zip(&after) {
            adam.step(&mut param, &g.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            let got = Tensor::from_slice(&param, want.shape(), &Device::Cpu).unwrap();
            assert_close(&format!("step {i} Adam iterate"), &got, want, 1e-6);
        }
        // The whole step: same number of iterations, same final embedding up to sign flips of
        // near-zero gradients (first Adam steps are ±lr), same next latent.
        let r = nti.step(i, &latent, &init, &mut Quiet, &CancelToken::new()).unwrap().unwrap();
        assert_eq!(r.iterations, grads.len(), "step {i}: inner iterations");
        let last = after.last().unwrap();
        let mean_abs = (&r.embedding - last).unwrap().abs().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(mean_abs < 1e-3, "step {i}: embedding mean |diff| {mean_abs}");
        let _ = DType::F32;
    }
}
