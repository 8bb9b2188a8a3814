//! The inversion engine against the reference: DDIM trajectory, a full null-text run,
//! resume and cancel, NaN handling.

mod common;
use candle_core::{Device, Tensor};
use common::*;
use pivot::edit::invert::ddim_invert;
use pivot::edit::metrics::psnr;
use pivot::edit::npi::{negative_prompt_embeddings, plain_embeddings};
use pivot::edit::null_text::{NullTextConfig, NullTextInversion, NullTextOutcome, NullTextProgress};
use pivot::edit::sample::{NullEmbeddings, Sampler};
use pivot::edit::{CancelToken, InnerIteration, Observer, Quiet, StepDone};
use pivot::sd::image::from_tensor;
use pivot::sd::schedule::Schedule;
use pivot::sd::source::ModelSource;
use pivot::sd::unet::NoHook;
use pivot::sd::StableDiffusion;

fn tiny_sd() -> StableDiffusion {
    StableDiffusion::load(&ModelSource::Dir(model_dir("tiny-sd")), &Device::Cpu).unwrap()
}

fn sample(sd: &StableDiffusion, s: &Schedule, x_t: &Tensor, cond: &Tensor, nulls: &[Tensor]) -> Tensor {
    let sampler = Sampler { unet: &sd.unet, schedule: s, cond, null: NullEmbeddings::PerStep(nulls), guidance: 7.5, eta: 0.0, offsets: None };
    sampler.run(x_t, &mut NoHook, None, &mut |_, _| Ok(None)).unwrap()
}

fn finish(o: NullTextOutcome) -> NullTextProgress {
    match o {
        NullTextOutcome::Finished(p) => p,
        NullTextOutcome::Cancelled(_) => panic!("not cancelled"),
    }
}

#[test]
fn full_null_text_run_reproduces_the_reference() {
    let sd = tiny_sd();
    let s = Schedule::new(&sd.scheduler, 50).unwrap();
    let inv = reference("inversion");
    let nt = reference("nulltext");
    let x0 = get(&reference("vae"), "latents");
    let cond = get(&inv, "cond_embeds");
    let trajectory = ddim_invert(&sd.unet, &s, &x0, &cond, 0, &mut Quiet, &CancelToken::new()).unwrap();
    assert_close("inversion trajectory", &Tensor::cat(&trajectory, 0).unwrap(), &get(&inv, "latents"), 1e-4);

    let (empty, _) = sd.encode_prompt("").unwrap();
    let nti = NullTextInversion { unet: &sd.unet, schedule: &s, trajectory: &trajectory, cond: &cond, config: NullTextConfig::default() };
    let done = finish(nti.run(NullTextProgress::start(&trajectory[50], &empty), &mut Quiet, &mut |_: &NullTextProgress| Ok(()), &CancelToken::new()).unwrap());
    let want: Vec<i64> = get(&nt, "iterations").to_vec1().unwrap();
    let off: Vec<usize> = (0..50).filter(|&i| done.iterations[i] as i64 != want[i]).collect();
    assert!(off.len() <= 3 && off.iter().all(|&i| (done.iterations[i] as i64 - want[i]).abs() <= 1), "iterations {:?} vs {want:?}", done.iterations);

    let recon = sample(&sd, &s, &trajectory[50], &cond, &done.embeddings);
    assert_close("recon_latent", &recon, &get(&nt, "recon_latent"), 1e-3);
    // Each timestep ends with the guided step sampling takes, so the run's last latent is the
    // reconstruction itself, bit for bit (`pivot invert` decodes it instead of re-sampling).
    assert_eq!(max_abs_diff(&recon, &done.latent), 0.0);
    let vae_rt = from_tensor(&sd.vae.decode(&x0).unwrap()).unwrap();
    let p_nt = psnr(&from_tensor(&sd.vae.decode(&recon).unwrap()).unwrap(), &vae_rt).unwrap();
    let plain = sample(&sd, &s, &trajectory[50], &cond, &plain_embeddings(&empty, 50));
    let p_plain = psnr(&from_tensor(&sd.vae.decode(&plain).unwrap()).unwrap(), &vae_rt).unwrap();
    let npi = sample(&sd, &s, &trajectory[50], &cond, &negative_prompt_embeddings(&cond, 50));
    let p_npi = psnr(&from_tensor(&sd.vae.decode(&npi).unwrap()).unwrap(), &vae_rt).unwrap();
    eprintln!("PSNR vs VAE round trip: null-text {p_nt:.2} dB (ref 43.78), plain DDIM {p_plain:.2} dB (ref 28.54), NPI {p_npi:.2} dB");
    assert!((p_nt - 43.78).abs() < 0.5, "null-text PSNR {p_nt}");
    assert!((p_plain - 28.54).abs() < 0.5, "plain DDIM PSNR {p_plain}");
    assert!(p_npi > p_plain, "NPI should beat plain DDIM under guidance ({p_npi} vs {p_plain})");
}

/// Cancels once `after` timesteps are finished, or at inner iteration `inner` of that step.
struct CancelAt {
    token: CancelToken,
    after: usize,
    mid_step: bool,
}

impl Observer for CancelAt {
    fn inner(&mut self, it: &InnerIteration) {
        if self.mid_step && it.step == self.after {
            self.token.cancel();
        }
    }
    fn step_done(&mut self, d: &StepDone) {
        if !self.mid_step && d.step + 1 == self.after {
            self.token.cancel();
        }
    }
}

#[test]
fn resumed_and_cancelled_runs_match_an_uninterrupted_one() {
    let sd = tiny_sd();
    let s = Schedule::new(&sd.scheduler, 8).unwrap();
    let x0 = get(&reference("vae"), "latents");
    let (cond, _) = sd.encode_prompt("a colourful test pattern").unwrap();
    let (empty, _) = sd.encode_prompt("").unwrap();
    let trajectory = ddim_invert(&sd.unet, &s, &x0, &cond, 0, &mut Quiet, &CancelToken::new()).unwrap();
    let nti = NullTextInversion { unet: &sd.unet, schedule: &s, trajectory: &trajectory, cond: &cond, config: NullTextConfig::default() };
    let start = NullTextProgress::start(&trajectory[8], &empty);
    let mut saved = 0;
    let full = finish(nti.run(start.clone(), &mut Quiet, &mut |p: &NullTextProgress| { saved = p.completed(); Ok(()) }, &CancelToken::new()).unwrap());
    assert_eq!(saved, 8, "a checkpoint after every timestep");

    for mid_step in [false, true] {
        let token = CancelToken::new();
        let mut obs = CancelAt { token: token.clone(), after: 3, mid_step };
        let t0 = std::time::Instant::now();
        let partial = match nti.run(start.clone(), &mut obs, &mut |_: &NullTextProgress| Ok(()), &token).unwrap() {
            NullTextOutcome::Cancelled(p) => p,
            NullTextOutcome::Finished(_) => panic!("cancel was ignored"),
        };
        assert_eq!(partial.completed(), 3, "keeps exactly the finished timesteps");
        assert!(t0.elapsed().as_secs_f64() < 60.0);
        let resumed = finish(nti.run(partial, &mut Quiet, &mut |_: &NullTextProgress| Ok(()), &CancelToken::new()).unwrap());
        for (a, b) in resumed.embeddings.iter().zip(&full.embeddings) {
            assert_eq!(max_abs_diff(a, b), 0.0, "resumed embeddings are bit-identical");
        }
        assert_eq!(max_abs_diff(&resumed.latent, &full.latent), 0.0);
        assert_eq!(resumed.iterations, full.iterations);
    }
}

#[test]
fn nan_loss_stops_with_the_timestep_named() {
    let sd = tiny_sd();
    let s = Schedule::new(&sd.scheduler, 4).unwrap();
    let (cond, _) = sd.encode_prompt("a cat").unwrap();
    let (empty, _) = sd.encode_prompt("").unwrap();
    let good = pivot::sd::rng::Rng::new(1).randn((1, 4, 16, 16), 0.0, 1.0, &Device::Cpu).unwrap();
    let bad = (good.ones_like().unwrap() * f64::NAN).unwrap();
    let trajectory = vec![good.clone(), good.clone(), bad, good.clone(), good.clone()];
    let nti = NullTextInversion { unet: &sd.unet, schedule: &s, trajectory: &trajectory, cond: &cond, config: NullTextConfig::default() };
    let mut kept = 0;
    let err = nti.run(NullTextProgress::start(&good, &empty), &mut Quiet, &mut |p: &NullTextProgress| { kept = p.completed(); Ok(()) }, &CancelToken::new());
    let msg = format!("{:#}", err.err().expect("NaN must stop the run"));
    assert!(msg.contains("step 1") && msg.contains("NaN"), "{msg}");
    assert_eq!(kept, 1, "the finished step was checkpointed, the NaN step was not");
}

/// Direct Inversion (ALGORITHMS §5.3): the offsets put the guided source branch back on the DDIM
/// trajectory at every step, so its reconstruction is the trajectory's x0, and an edit's source
/// row is too (the target row is left free: a word swap gives another picture).
#[test]
fn direct_inversion_reconstructs_its_trajectory_and_edits_keep_the_source_row_on_it() {
    use pivot::edit::direct::{add_source_offset, offset_sampler, source_offsets};
    use pivot::edit::p2p::controller::EditTables;
    use pivot::edit::p2p::run::{run_edit, P2pEdit};
    let sd = tiny_sd();
    let steps = 10;
    let s = Schedule::new(&sd.scheduler, steps).unwrap();
    let x0 = get(&reference("vae"), "latents");
    let cond = get(&reference("inversion"), "cond_embeds");
    let (empty, _) = sd.encode_prompt("").unwrap();
    let traj = ddim_invert(&sd.unet, &s, &x0, &cond, 0, &mut Quiet, &CancelToken::new()).unwrap();
    let offsets = source_offsets(&offset_sampler(&sd.unet, &s, &cond, &empty, 7.5), &traj, &mut Quiet, &CancelToken::new()).unwrap();
    assert_eq!(offsets.len(), steps);
    let nulls = plain_embeddings(&empty, steps);
    // Without the offsets, plain DDIM under guidance 7.5 drifts off; with them it lands on x0.
    let plain = sample(&sd, &s, &traj[steps], &cond, &nulls);
    let sampler = Sampler { unet: &sd.unet, schedule: &s, cond: &cond, null: NullEmbeddings::PerStep(&nulls), guidance: 7.5, eta: 0.0, offsets: Some(&offsets) };
    let mut seen = Vec::new();
    let direct = sampler.run(&traj[steps], &mut NoHook, None, &mut |i, x| {
        seen.push(max_abs_diff(x, &traj[steps - 1 - i]));
        Ok(None)
    }).unwrap();
    assert!(seen.iter().all(|&d| d < 1e-4), "every step on the trajectory: {seen:?}");
    assert!(max_abs_diff(&direct, &x0) < 1e-4, "{}", max_abs_diff(&direct, &x0));
    assert!(max_abs_diff(&plain, &x0) > 100.0 * max_abs_diff(&direct, &x0), "the offsets matter: {} vs {}", max_abs_diff(&plain, &x0), max_abs_diff(&direct, &x0));
    // Only row 0 is moved.
    let two = Tensor::cat(&[&x0, &x0], 0).unwrap();
    let moved = add_source_offset(&two, &offsets[0]).unwrap();
    assert_eq!(max_abs_diff(&moved.get(1).unwrap(), &x0.get(0).unwrap()), 0.0);
    assert!(max_abs_diff(&moved.get(0).unwrap(), &(&x0 + &offsets[0]).unwrap().get(0).unwrap()) < 1e-7);
    // An edit: the source row stays on the trajectory, the target does not.
    let (target, _) = sd.encode_prompt("a colourful test picture").unwrap();
    let alpha = vec![0f32; (steps + 1) * 77];
    let tables = EditTables::new(&alpha, (0, 0), None, None, None, &Device::Cpu).unwrap();
    let e = P2pEdit { unet: &sd.unet, schedule: &s, source: &cond, target: &target, nulls: NullEmbeddings::PerStep(&nulls), guidance: 7.5, tables, blend: None, offsets: Some(&offsets), prox: None };
    let (latents, _) = run_edit(&e, &traj[steps], &mut |_, _| {}).unwrap();
    assert!(max_abs_diff(&latents.get(0).unwrap(), &x0.get(0).unwrap()) < 1e-3, "source row: {}", max_abs_diff(&latents.get(0).unwrap(), &x0.get(0).unwrap()));
    assert!(max_abs_diff(&latents.get(1).unwrap(), &x0.get(0).unwrap()) > 1e-2, "the target is edited");
    // The offset comes before LocalBlend: outside the mask the target is the corrected source,
    // exactly (after the blend it would miss by the last offset).
    let mut rows = vec![0f32; 2 * 77];
    (1..4).for_each(|i| (rows[i], rows[77 + i]) = (1.0, 1.0));
    let blend = pivot::edit::p2p::blend::LocalBlend::new(Tensor::from_vec(rows, (2, 77), &Device::Cpu).unwrap(), 0.99, steps);
    let tables = EditTables::new(&alpha, (0, 0), None, None, None, &Device::Cpu).unwrap();
    let e = P2pEdit { unet: &sd.unet, schedule: &s, source: &cond, target: &target, nulls: NullEmbeddings::PerStep(&nulls), guidance: 7.5, tables, blend: Some(blend.clone()), offsets: Some(&offsets), prox: None };
    let (latents, controller) = run_edit(&e, &traj[steps], &mut |_, _| {}).unwrap();
    let (h, w) = (latents.dim(2).unwrap(), latents.dim(3).unwrap());
    let mask: Vec<f32> = blend.last_mask(&controller.store, steps, h, w).unwrap().get(1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let diff: Vec<f32> = (latents.get(1).unwrap() - latents.get(0).unwrap()).unwrap().abs().unwrap().max(0).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let outside: Vec<f32> = diff.iter().zip(&mask).filter(|(_, m)| **m == 0.0).map(|(d, _)| *d).collect();
    assert!(!outside.is_empty(), "a mask with an outside: {} of {}", outside.len(), mask.len());
    assert!(outside.iter().all(|&d| d == 0.0), "outside the mask the target is the source: {:?}", outside.iter().cloned().fold(0f32, f32::max));
}

/// Proximal guidance (ProxEdit, ALGORITHMS §5.4) on a negative-prompt inversion: the source row's
/// two halves agree, so its guidance shrinks to nothing and, pulled all the way back to the
/// inversion at every step, it follows the trajectory down to x0, while the target row is still
/// edited. Without pulls the shrunk guidance leaves the source row as plain guidance has it and
/// changes the target's.
#[test]
fn proximal_guidance_on_npi_pulls_the_source_row_onto_the_trajectory_and_still_edits() {
    use pivot::edit::p2p::controller::EditTables;
    use pivot::edit::p2p::run::{run_edit, P2pEdit};
    use pivot::edit::prox::{ProxGuidance, ProxRun, Pull, Shrink};
    let sd = tiny_sd();
    let steps = 10;
    let s = Schedule::new(&sd.scheduler, steps).unwrap();
    let x0 = get(&reference("vae"), "latents");
    let cond = get(&reference("inversion"), "cond_embeds");
    let traj = ddim_invert(&sd.unet, &s, &x0, &cond, 0, &mut Quiet, &CancelToken::new()).unwrap();
    let trajectory = Tensor::cat(&traj, 0).unwrap();
    let nulls = negative_prompt_embeddings(&cond, steps);
    let (target, _) = sd.encode_prompt("a colourful test picture").unwrap();
    let edit = |prox: Option<ProxGuidance>| {
        let alpha = vec![1f32; (steps + 1) * 77];
        let tables = EditTables::new(&alpha, (0, 0), None, None, None, &Device::Cpu).unwrap();
        let prox = prox.map(|g| ProxRun::new(g, &trajectory, steps).unwrap());
        let e = P2pEdit { unet: &sd.unet, schedule: &s, source: &cond, target: &target, nulls: NullEmbeddings::PerStep(&nulls), guidance: 7.5, tables, blend: None, offsets: None, prox };
        // How far the source row is from the trajectory after each step.
        let mut off = Vec::new();
        let (latents, _) = run_edit(&e, &traj[steps], &mut |i, x| off.push(max_abs_diff(&x.get(0).unwrap(), &traj[steps - 1 - i].get(0).unwrap()))).unwrap();
        (latents.get(0).unwrap(), latents.get(1).unwrap(), off)
    };
    let x0 = x0.get(0).unwrap();
    let (plain_src, plain_tgt, plain_off) = edit(None);
    let paper = ProxGuidance { shrink: Shrink::L0, quantile: 0.7, pull: Pull::Inversion, strength: 1.0, below: 1000 };
    let (src, tgt, off) = edit(Some(paper.clone()));
    assert!(off.iter().all(|&d| d < 1e-5), "on the trajectory at every step: {off:?}");
    assert!(plain_off.iter().any(|&d| d > 1e-3), "plain NPI drifts: {plain_off:?}");
    assert!(max_abs_diff(&src, &x0) < 1e-5, "pulled onto the trajectory: {}", max_abs_diff(&src, &x0));
    assert!(max_abs_diff(&plain_src, &x0) > 1e-3, "plain NPI is not exact: {}", max_abs_diff(&plain_src, &x0));
    assert!(max_abs_diff(&tgt, &src) > 1e-2, "the target is edited: {}", max_abs_diff(&tgt, &src));
    let (alone_src, alone_tgt, _) = edit(Some(ProxGuidance { pull: Pull::None, ..paper.clone() }));
    assert!(max_abs_diff(&alone_src, &plain_src) < 1e-6, "{}", max_abs_diff(&alone_src, &plain_src));
    assert!(max_abs_diff(&alone_tgt, &plain_tgt) > 1e-3, "the shrunk guidance edits less: {}", max_abs_diff(&alone_tgt, &plain_tgt));
    // Below timestep 0 no pull ever acts: the same numbers as no pull at all.
    let (never_src, never_tgt, _) = edit(Some(ProxGuidance { below: 0, ..paper }));
    assert_eq!((max_abs_diff(&never_src, &alone_src), max_abs_diff(&never_tgt, &alone_tgt)), (0.0, 0.0));
}

/// Fixed-point DDIM inversion (ALGORITHMS §5.7): each step solves the implicit step that sampling
/// undoes, so negative-prompt inversion (whose guided step is the conditional prediction) samples
/// back much closer to the photo's latent than with the plain step; each iteration shrinks the
/// residual `z_t − next_step(ε(z_t), t, z_{t−Δ})`.
#[test]
fn fixed_point_inversion_makes_npi_reconstruct_closer() {
    let sd = tiny_sd();
    let steps = 10;
    let s = Schedule::new(&sd.scheduler, steps).unwrap();
    let x0 = get(&reference("vae"), "latents");
    let cond = get(&reference("inversion"), "cond_embeds");
    let nulls = negative_prompt_embeddings(&cond, steps);
    let error = |k: usize| {
        let traj = ddim_invert(&sd.unet, &s, &x0, &cond, k, &mut Quiet, &CancelToken::new()).unwrap();
        // The residual of the implicit step at the last (noisiest) step.
        let (t, cur, next) = (s.timesteps[0], &traj[steps - 1], &traj[steps]);
        let eps = sd.unet.forward(next, t as f64, &cond, &mut NoHook).unwrap();
        let residual = max_abs_diff(next, &s.next_step(&eps, t, cur).unwrap());
        (max_abs_diff(&sample(&sd, &s, &traj[steps], &cond, &nulls), &x0), residual)
    };
    let (plain, plain_res) = error(0);
    let (one, one_res) = error(1);
    let (three, three_res) = error(3);
    assert!(plain_res > one_res && one_res > three_res, "residuals {plain_res} {one_res} {three_res}");
    assert!(three < plain / 100.0 && one < plain, "reconstruction errors {plain} {one} {three}");
    // A v-prediction model (tiny-sd2) too: its iteration solves the v step, not the ε one.
    let sd2 = StableDiffusion::load(&ModelSource::Dir(model_dir("tiny-sd2")), &Device::Cpu).unwrap();
    let s2 = Schedule::new(&sd2.scheduler, steps).unwrap();
    let side = sd2.unet.config.sample_size;
    let x0 = pivot::sd::rng::Rng::new(7).randn((1, sd2.unet.config.in_channels, side, side), 0.0, 1.0, &Device::Cpu).unwrap();
    let (cond, _) = sd2.encode_prompt("a colourful test pattern").unwrap();
    let nulls = negative_prompt_embeddings(&cond, steps);
    let miss = |k: usize| {
        let traj = ddim_invert(&sd2.unet, &s2, &x0, &cond, k, &mut Quiet, &CancelToken::new()).unwrap();
        max_abs_diff(&sample(&sd2, &s2, &traj[steps], &cond, &nulls), &x0)
    };
    let (plain, three) = (miss(0), miss(3));
    assert!(three < plain / 100.0, "v-prediction reconstruction errors {plain} → {three}");
}
