//! DDIM schedule with the Prompt-to-Prompt conventions (ALGORITHMS §1.2, §2, §P.2, §P.7).

use super::config::SchedulerConfig;
use super::rng::Rng;
use anyhow::{bail, Result};
use candle_core::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prediction {
    Epsilon,
    VPrediction,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    /// ᾱ for every training timestep, built in f32 as torch builds it.
    pub alphas_cumprod: Vec<f32>,
    /// ᾱ used "before" timestep 0 (ᾱ_0 unless `set_alpha_to_one`).
    pub final_alpha_cumprod: f32,
    /// Sampling timesteps, descending (981, 961, …, 1 for SD with 50 steps).
    pub timesteps: Vec<usize>,
    /// Distance between consecutive timesteps (`num_train_timesteps / steps`).
    pub step_ratio: usize,
    pub prediction: Prediction,
    pub train_steps: usize,
}

/// torch.linspace in f32: the two-sided formula of its CPU kernel, each value one fused
/// multiply-add (a single rounding, as the compiled kernel does; two roundings leave ᾱ a bit
/// off torch's in 121 of SD's 1000 entries).
fn linspace_f32(start: f32, end: f32, n: usize) -> Vec<f32> {
    if n < 2 {
        return vec![start; n];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n).map(|i| if i < half { step.mul_add(i as f32, start) } else { (-step).mul_add((n - i - 1) as f32, end) }).collect()
}

/// The values of the scheduler config's options that pivot computes (consistency checks them
/// at load; the schedule below implements them).
pub const BETA_SCHEDULES: [&str; 3] = ["linear", "scaled_linear", "squaredcos_cap_v2"];
pub const TIMESTEP_SPACINGS: [&str; 3] = ["leading", "trailing", "linspace"];
pub const PREDICTION_TYPES: [&str; 2] = ["epsilon", "v_prediction"];

pub(crate) fn betas(cfg: &SchedulerConfig) -> Result<Vec<f32>> {
    let n = cfg.num_train_timesteps;
    Ok(match (&cfg.trained_betas, cfg.beta_schedule.as_str()) {
        (Some(b), _) => b.iter().map(|&x| x as f32).collect(),
        (None, "linear") => linspace_f32(cfg.beta_start as f32, cfg.beta_end as f32, n),
        (None, "scaled_linear") => linspace_f32((cfg.beta_start.sqrt()) as f32, (cfg.beta_end.sqrt()) as f32, n).into_iter().map(|b| b * b).collect(),
        (None, "squaredcos_cap_v2") => {
            let f = |t: f64| ((t + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2).cos().powi(2);
            (0..n).map(|i| (1.0 - f((i + 1) as f64 / n as f64) / f(i as f64 / n as f64)).min(0.999) as f32).collect()
        }
        (None, other) => bail!("unsupported beta_schedule `{other}` ({})", BETA_SCHEDULES.join(", ")),
    })
}

/// The most steps `cfg` can give: "leading" spacing adds `steps_offset`, which must keep the first
/// timestep below the training steps (SD: 999 of 1000).
pub fn max_steps(cfg: &SchedulerConfig) -> usize {
    let n = cfg.num_train_timesteps;
    if cfg.timestep_spacing != "leading" {
        return n;
    }
    (1..=n).rev().find(|&s| (s - 1) * (n / s) + cfg.steps_offset < n).unwrap_or(0)
}

impl Schedule {
    pub fn new(cfg: &SchedulerConfig, steps: usize) -> Result<Self> {
        let n = cfg.num_train_timesteps;
        let most = max_steps(cfg);
        if steps == 0 || steps > most {
            bail!("--steps must be between 1 and {most} for this scheduler (got {steps})");
        }
        if cfg.rescale_betas_zero_snr {
            bail!("rescale_betas_zero_snr schedulers are not supported");
        }
        if cfg.thresholding {
            bail!("schedulers with thresholding are not supported (Stable Diffusion does not use it)");
        }
        let betas = betas(cfg)?;
        // cumprod accumulates in f64 and stores f32, like torch's CPU kernel.
        let mut acc = 1f64;
        let alphas_cumprod: Vec<f32> = betas
            .iter()
            .map(|&b| {
                acc *= (1f32 - b) as f64;
                acc as f32
            })
            .collect();
        let final_alpha_cumprod = if cfg.set_alpha_to_one { 1.0 } else { alphas_cumprod[0] };
        let step_ratio = n / steps;
        let timesteps: Vec<usize> = match cfg.timestep_spacing.as_str() {
            "leading" => (0..steps).rev().map(|i| i * step_ratio + cfg.steps_offset).collect(),
            "trailing" => {
                let r = n as f64 / steps as f64;
                // np.round: halves go to the even neighbour (16 steps: 811, not 812).
                (1..=steps).rev().map(|i| ((n as f64 - (steps - i) as f64 * r).round_ties_even() as usize).saturating_sub(1)).collect()
            }
            "linspace" => (0..steps).rev().map(|i| ((i as f64) * (n - 1) as f64 / (steps - 1).max(1) as f64).round_ties_even() as usize).collect(),
            other => bail!("unsupported timestep_spacing `{other}` ({})", TIMESTEP_SPACINGS.join(", ")),
        };
        if timesteps.iter().any(|&t| t >= n) {
            bail!("steps_offset {} pushes the first timestep past {n}", cfg.steps_offset);
        }
        let prediction = match cfg.prediction_type.as_str() {
            "epsilon" => Prediction::Epsilon,
            "v_prediction" => Prediction::VPrediction,
            other => bail!("unsupported prediction_type `{other}` ({})", PREDICTION_TYPES.join(", ")),
        };
        Ok(Self { alphas_cumprod, final_alpha_cumprod, timesteps, step_ratio, prediction, train_steps: n })
    }

    /// ᾱ(t), with `final_alpha_cumprod` for t < 0.
    pub fn alpha(&self, t: i64) -> f32 {
        if t < 0 {
            self.final_alpha_cumprod
        } else {
            self.alphas_cumprod[(t as usize).min(self.train_steps - 1)]
        }
    }

    /// Model output → (ε, x0) at ᾱ = `a` (v-prediction converted, §P.7).
    pub fn eps_and_x0(&self, out: &Tensor, a: f32, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let (sa, sb) = (a.sqrt() as f64, (1f32 - a).sqrt() as f64);
        match self.prediction {
            Prediction::Epsilon => {
                // A true division by √ᾱ, as torch does (candle's `/ f64` multiplies by 1/√ᾱ).
                let x0 = (x - (out * sb)?)?.broadcast_div(&Tensor::new(sa as f32, x.device())?.to_dtype(x.dtype())?)?;
                Ok((out.clone(), x0))
            }
            Prediction::VPrediction => {
                let x0 = ((x * sa)? - (out * sb)?)?;
                let eps = ((out * sa)? + (x * sb)?)?;
                Ok((eps, x0))
            }
        }
    }

    /// Denoising step t → t − Δ with η = 0 (DDIMScheduler.step).
    pub fn prev_step(&self, out: &Tensor, t: usize, x: &Tensor) -> candle_core::Result<Tensor> {
        self.prev_step_eta(out, t, x, 0.0, None)
    }

    /// Denoising step with η-noise: η = 0 is DDIM, η = 1 the DDPM posterior variance.
    pub fn prev_step_eta(&self, out: &Tensor, t: usize, x: &Tensor, eta: f64, rng: Option<&mut Rng>) -> candle_core::Result<Tensor> {
        let (a_t, a_p) = self.step_alphas(t);
        let var = ((1f32 - a_p) / (1f32 - a_t)) * (1f32 - a_t / a_p);
        let sigma = eta as f32 * var.sqrt();
        let mean = self.step_mean(out, t, x, sigma, &mut Ok)?;
        match rng {
            Some(rng) if sigma > 0.0 => {
                let z = rng.randn(x.shape(), 0.0, 1.0, x.device())?.to_dtype(x.dtype())?;
                mean + (z * sigma as f64)?
            }
            _ => Ok(mean),
        }
    }

    /// [`Self::prev_step`] with the predicted x0 replaced by `adjust(x0)`; the direction term
    /// keeps the model's ε (ProxEdit's reconstruction guidance). The same numbers as
    /// `prev_step` when `adjust` returns x0.
    pub fn prev_step_adjusting_x0(&self, out: &Tensor, t: usize, x: &Tensor, adjust: &mut dyn FnMut(Tensor) -> candle_core::Result<Tensor>) -> candle_core::Result<Tensor> {
        self.step_mean(out, t, x, 0.0, adjust)
    }

    /// ᾱ at `t` and at the step's destination t − Δ.
    fn step_alphas(&self, t: usize) -> (f32, f32) {
        (self.alpha(t as i64), self.alpha(t as i64 - self.step_ratio as i64))
    }

    /// DDIM's step mean √ᾱp·adjust(x0) + √(1 − ᾱp − σ²)·ε, both read from the model output at `t`.
    fn step_mean(&self, out: &Tensor, t: usize, x: &Tensor, sigma: f32, adjust: &mut dyn FnMut(Tensor) -> candle_core::Result<Tensor>) -> candle_core::Result<Tensor> {
        let (a_t, a_p) = self.step_alphas(t);
        let (eps, x0) = self.eps_and_x0(out, a_t, x)?;
        let dir = (eps * ((1f32 - a_p - sigma * sigma).max(0.0).sqrt() as f64))?;
        (adjust(x0)? * a_p.sqrt() as f64)? + dir
    }

    /// The latent at timestep `t` from which [`Self::prev_step`] with model output `out` lands on
    /// `z` (at t − Δ): the implicit inversion step that fixed-point iterations solve. For ε the
    /// same as [`Self::next_step`]; for v the output's x0 and ε depend on the latent sought, so
    /// the linear step is solved for it.
    pub fn invert_prev_step(&self, out: &Tensor, t: usize, z: &Tensor) -> candle_core::Result<Tensor> {
        match self.prediction {
            Prediction::Epsilon => self.next_step(out, t, z),
            Prediction::VPrediction => {
                // prev_step: z = z_t·(√ᾱp√ᾱt + √(1−ᾱp)√(1−ᾱt)) + v·(√(1−ᾱp)√ᾱt − √ᾱp√(1−ᾱt)).
                let (a_t, a_p) = self.step_alphas(t);
                let (st, sp, ct, cp) = (a_t.sqrt(), a_p.sqrt(), (1f32 - a_t).sqrt(), (1f32 - a_p).sqrt());
                let (keep, mix) = ((sp * st + cp * ct) as f64, (cp * st - sp * ct) as f64);
                (z - (out * mix)?)? / keep
            }
        }
    }

    /// Inversion step to timestep `t` (the DESTINATION) from `min(t − Δ, max)` (P2P `next_step`).
    pub fn next_step(&self, out: &Tensor, t: usize, x: &Tensor) -> candle_core::Result<Tensor> {
        let cur = (t as i64 - self.step_ratio as i64).min(self.train_steps as i64 - 1);
        let a_c = self.alpha(cur);
        let a_n = self.alpha(t as i64);
        let (eps, x0) = self.eps_and_x0(out, a_c, x)?;
        (x0 * a_n.sqrt() as f64)? + (eps * (1f32 - a_n).sqrt() as f64)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn coeffs(s: &Schedule, next: bool, t: usize) -> (f64, f64) {
        let dev = Device::Cpu;
        let one = Tensor::new(&[1f32], &dev).unwrap();
        let zero = Tensor::new(&[0f32], &dev).unwrap();
        let f = |e: &Tensor, x: &Tensor| if next { s.next_step(e, t, x) } else { s.prev_step(e, t, x) };
        let a = f(&zero, &one).unwrap().to_vec1::<f32>().unwrap()[0] as f64;
        let b = f(&one, &zero).unwrap().to_vec1::<f32>().unwrap()[0] as f64;
        (a, b)
    }

    #[test]
    fn sd_schedule_matches_algorithms_tables() {
        let s = Schedule::new(&SchedulerConfig::default(), 50).unwrap();
        assert_eq!(s.timesteps.len(), 50);
        assert_eq!((s.timesteps[0], s.timesteps[1], s.timesteps[49]), (981, 961, 1));
        assert!((s.alpha(981) as f64 - 0.005775500).abs() < 1e-6);
        assert!((s.alpha(-19) as f64 - 0.99915).abs() < 1e-6);
        // ALGORITHMS §2.1 linear-coefficient vectors.
        for (next, t, a, b) in [
            (false, 981, 1.122851701, -0.123252006),
            (false, 21, 1.009095535, -0.100063542),
            (false, 1, 1.000427623, -0.012142090),
            (true, 1, 0.999572559, 0.012136900),
            (true, 501, 0.953783167, 0.054787205),
            (true, 981, 0.890589558, 0.109766950),
        ] {
            let (ga, gb) = coeffs(&s, next, t);
            assert!((ga - a).abs() < 2e-6 && (gb - b).abs() < 2e-6, "t={t} next={next}: {ga} {gb}");
        }
    }

    #[test]
    fn eta_one_adds_noise_eta_zero_does_not() {
        let s = Schedule::new(&SchedulerConfig::default(), 50).unwrap();
        let dev = Device::Cpu;
        let x = Rng::new(1).randn((1, 4, 2, 2), 0.0, 1.0, &dev).unwrap();
        let e = Rng::new(2).randn((1, 4, 2, 2), 0.0, 1.0, &dev).unwrap();
        let d0 = s.prev_step_eta(&e, 981, &x, 0.0, Some(&mut Rng::new(3))).unwrap();
        let plain = s.prev_step(&e, 981, &x).unwrap();
        let d1 = s.prev_step_eta(&e, 981, &x, 1.0, Some(&mut Rng::new(3))).unwrap();
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff(&d0, &plain), 0.0);
        assert!(diff(&d1, &plain) > 0.05);
    }

    /// Unadjusted, the x0-adjusting step is the plain one bit for bit (ε and v schedules); an
    /// adjustment moves the result by √ᾱ_prev times it.
    #[test]
    fn adjusting_x0_changes_only_the_x0_term() {
        let dev = Device::Cpu;
        let x = Rng::new(1).randn((1, 4, 2, 2), 0.0, 1.0, &dev).unwrap();
        let e = Rng::new(2).randn((1, 4, 2, 2), 0.0, 1.0, &dev).unwrap();
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        for prediction in ["epsilon", "v_prediction"] {
            let s = Schedule::new(&SchedulerConfig { prediction_type: prediction.into(), ..SchedulerConfig::default() }, 50).unwrap();
            for t in [981, 501, 1] {
                let plain = s.prev_step(&e, t, &x).unwrap();
                assert_eq!(diff(&s.prev_step_adjusting_x0(&e, t, &x, &mut |x0| Ok(x0)).unwrap(), &plain), 0.0, "{prediction} t={t}");
                let moved = s.prev_step_adjusting_x0(&e, t, &x, &mut |x0| x0 + 1.0).unwrap();
                let want = s.alpha(t as i64 - 20).sqrt();
                assert!(((&moved - &plain).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap() - want).abs() < 1e-5, "{prediction} t={t}");
            }
        }
    }

    /// The inverse of the sampling step: sampling from it lands back on the latent, for ε and
    /// for v (where the plain `next_step` would not).
    #[test]
    fn invert_prev_step_undoes_prev_step_for_both_predictions() {
        let dev = Device::Cpu;
        let z = Rng::new(5).randn((1, 4, 2, 2), 0.0, 1.0, &dev).unwrap();
        let out = Rng::new(6).randn((1, 4, 2, 2), 0.0, 1.0, &dev).unwrap();
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        for prediction in ["epsilon", "v_prediction"] {
            let s = Schedule::new(&SchedulerConfig { prediction_type: prediction.into(), ..SchedulerConfig::default() }, 50).unwrap();
            for t in [981, 501, 1] {
                let up = s.invert_prev_step(&out, t, &z).unwrap();
                assert!(diff(&s.prev_step(&out, t, &up).unwrap(), &z) < 1e-5, "{prediction} t={t}");
            }
            let plain = s.next_step(&out, 501, &z).unwrap();
            let missed = diff(&s.prev_step(&out, 501, &plain).unwrap(), &z);
            assert_eq!(missed > 1e-3, prediction == "v_prediction", "{prediction}: {missed}");
        }
    }

    #[test]
    fn trailing_and_linspace_spacing_round_halves_to_even_like_numpy() {
        let with = |spacing: &str, steps| Schedule::new(&SchedulerConfig { timestep_spacing: spacing.into(), ..SchedulerConfig::default() }, steps).unwrap().timesteps;
        // diffusers: np.round(np.arange(1000, 0, -62.5)) - 1 and np.linspace(0, 999, 7).round().
        assert_eq!(with("trailing", 16), [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
        assert_eq!(with("linspace", 7), [999, 832, 666, 500, 333, 166, 0]);
        assert_eq!(with("trailing", 50)[..3], [999, 979, 959]);
    }

    #[test]
    fn x0_divides_by_the_square_root_of_alpha_bar() {
        let s = Schedule::new(&SchedulerConfig::default(), 50).unwrap();
        let a = s.alpha(981);
        let xs: Vec<f32> = (0..64).map(|i| 0.37 + i as f32 * 0.113).collect();
        let x = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
        let zero = x.zeros_like().unwrap();
        let (_, x0) = s.eps_and_x0(&zero, a, &x).unwrap();
        let want: Vec<f32> = xs.iter().map(|v| (v - 0.0 * (1f32 - a).sqrt()) / a.sqrt()).collect();
        assert_eq!(x0.to_vec1::<f32>().unwrap(), want, "bit for bit");
    }

    #[test]
    fn bad_step_counts_are_refused() {
        assert!(Schedule::new(&SchedulerConfig::default(), 0).is_err());
        assert!(Schedule::new(&SchedulerConfig::default(), 1001).is_err());
        let e = Schedule::new(&SchedulerConfig::default(), 1000).unwrap_err().to_string();
        assert!(e.contains("between 1 and 999"), "{e}");
        let e = Schedule::new(&SchedulerConfig::default(), 0).unwrap_err().to_string();
        assert!(e.contains("between 1 and 999"), "{e}");
        assert_eq!(Schedule::new(&SchedulerConfig::default(), 999).unwrap().timesteps[0], 999);
    }
}
