//! Proximal guidance (ProxEdit, Han et al. 2023; ALGORITHMS §5.4): classifier-free guidance whose
//! guidance term `Δ = e_c − e_u` is shrunk toward 0 by a threshold (a quantile of |Δ|), so only
//! where the prompts really disagree does the edit push. Where the shrunk Δ stays small, late
//! steps can also be pulled back toward the inversion (its trajectory latent, "inversion
//! guidance") or the photo (the predicted x0 toward the encoded photo, "reconstruction
//! guidance"). Tuning-free and as cheap as plain guidance: one quantile per step.

use crate::sd::schedule::Schedule;
use candle_core::{DType, Result, Tensor};

/// The proximal operator applied to Δ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shrink {
    /// `Δ − clamp(Δ, −thr, thr)`: zero where |Δ| ≤ thr, moved by thr toward 0 elsewhere.
    L0,
    /// As L0, then moved by thr once more, as the reference code does it: positive values down
    /// by thr, then negative values (those just made negative too) up by thr; so a positive
    /// value the first shrink left below thr stays as it left it.
    L1,
}

/// Where the late steps are pulled back to, outside the edit's region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Nothing: proximal guidance alone.
    None,
    /// After each step, the latent toward the inversion's latent of the same step.
    Inversion,
    /// Inside each step, the predicted x0 toward the encoded photo.
    Photo,
    Both,
}

impl Shrink {
    pub const NAMES: [&'static str; 2] = ["l0", "l1"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "l0" => Some(Shrink::L0),
            "l1" => Some(Shrink::L1),
            _ => None,
        }
    }
}

impl Pull {
    pub const NAMES: [&'static str; 4] = ["inversion", "photo", "both", "none"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "inversion" => Some(Pull::Inversion),
            "photo" => Some(Pull::Photo),
            "both" => Some(Pull::Both),
            "none" => Some(Pull::None),
            _ => None,
        }
    }

    fn inversion(self) -> bool {
        matches!(self, Pull::Inversion | Pull::Both)
    }

    fn photo(self) -> bool {
        matches!(self, Pull::Photo | Pull::Both)
    }
}

/// The settings of the ProxEdit authors' example (ProxNPI): the threshold at the 0.7 quantile
/// (their code's default; PIE-Bench runs used 0.75), pulled all the way back to the inversion
/// below timestep 400.
pub const QUANTILE: f64 = 0.7;
pub const STRENGTH: f64 = 1.0;
pub const BELOW: usize = 400;

#[derive(Clone, Debug, PartialEq)]
pub struct ProxGuidance {
    pub shrink: Shrink,
    /// Quantile of |Δ| (over every row and channel of the step) used as the threshold, in [0, 1].
    pub quantile: f64,
    pub pull: Pull,
    /// Share of the way back each pull goes (1 = all the way), in [0, 1].
    pub strength: f64,
    /// The pulls act at timesteps below this one (400 in the paper: the last 40% of the steps).
    pub below: usize,
}

/// One step's guided prediction and the region left to the edit.
pub struct ProxStep {
    /// `e_u + w·shrink(Δ)` `[B, C, h, w]`.
    pub guided: Tensor,
    /// 1 where the step is pulled back (`1 − dilate(|shrink(Δ)| > thr)`), when a pull acts.
    pub keep: Option<Tensor>,
}

/// `values`' q-quantile with linear interpolation between the two nearest ranks (as
/// `torch.quantile` and numpy's default): rank `q·(n − 1)`.
pub fn quantile(values: &mut [f32], q: f64) -> f32 {
    assert!(!values.is_empty(), "a quantile of no values");
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (_, &mut v_lo, rest) = values.select_nth_unstable_by(lo, f32::total_cmp);
    // The next rank up is the smallest of what lies above rank `lo`.
    let v_hi = if hi == lo { v_lo } else { rest.iter().copied().fold(f32::INFINITY, f32::min) };
    v_lo + (v_hi - v_lo) * (pos - lo as f64) as f32
}

/// `delta` after the proximal operator at threshold `thr`.
pub fn shrink(delta: &Tensor, thr: f32, how: Shrink) -> Result<Tensor> {
    let t = thr as f64;
    let l0 = (delta - delta.clamp(-thr, thr)?)?;
    match how {
        Shrink::L0 => Ok(l0),
        Shrink::L1 => {
            // Two passes, in this order, for parity with the reference.
            let down = (&l0 - (l0.gt(0f32)?.to_dtype(l0.dtype())? * t)?)?;
            &down + (down.lt(0f32)?.to_dtype(down.dtype())? * t)?
        }
    }
}

/// 1 where the shrunk Δ is at most `thr` in every cell of its 3×3 neighbourhood (per row and
/// channel): the region the edit leaves alone.
pub fn keep_mask(shrunk: &Tensor, thr: f32) -> Result<Tensor> {
    let edit = shrunk.abs()?.gt(thr)?.to_dtype(DType::F32)?;
    let grown = edit.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?.max_pool2d_with_stride(3, 1)?;
    (1.0 - grown)?.to_dtype(shrunk.dtype())
}

impl ProxGuidance {
    /// Checks what the flags or the form gave.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!((0.0..=1.0).contains(&self.quantile), "the proximal quantile must be in [0, 1] (got {}): 0.7 keeps the 30% largest guidance values", self.quantile);
        anyhow::ensure!((0.0..=1.0).contains(&self.strength), "the proximal pull strength must be in [0, 1] (got {}): 1 goes all the way back", self.strength);
        Ok(())
    }

    /// Whether the pulls act at timestep `t`.
    fn pulls_at(&self, t: usize) -> bool {
        self.pull != Pull::None && t < self.below && self.strength > 0.0
    }

    /// Guided prediction from the unconditional and conditional halves `[B, C, h, w]` at `t`.
    pub fn guide(&self, eps_u: &Tensor, eps_c: &Tensor, w: f64, t: usize) -> Result<ProxStep> {
        let delta = (eps_c - eps_u)?;
        let mut abs = delta.abs()?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let thr = quantile(&mut abs, self.quantile);
        let shrunk = shrink(&delta, thr, self.shrink)?;
        let guided = (eps_u + (&shrunk * w)?)?;
        let keep = if self.pulls_at(t) { Some(keep_mask(&shrunk, thr)?) } else { None };
        Ok(ProxStep { guided, keep })
    }

    /// The predicted x0 pulled toward `photo` `[1, C, h, w]` where `keep` is 1 (reconstruction
    /// guidance); unchanged without it.
    pub fn pull_x0(&self, x0: Tensor, photo: &Tensor, keep: Option<&Tensor>) -> Result<Tensor> {
        match keep.filter(|_| self.pull.photo()) {
            Some(keep) => pull_toward(&x0, photo, keep, self.strength),
            None => Ok(x0),
        }
    }

    /// The stepped latent pulled toward `inverted` `[1, C, h, w]` (the inversion's latent at the
    /// same noise level) where `keep` is 1 (inversion guidance); unchanged without it.
    pub fn pull_latent(&self, x: Tensor, inverted: &Tensor, keep: Option<&Tensor>) -> Result<Tensor> {
        match keep.filter(|_| self.pull.inversion()) {
            Some(keep) => pull_toward(&x, inverted, keep, self.strength),
            None => Ok(x),
        }
    }
}

/// Proximal guidance for an edit, with what its pulls go back to.
pub struct ProxRun<'a> {
    pub guidance: ProxGuidance,
    /// The inversion's latents `[T+1, C, h, w]`: `[0]` the photo's, `[T]` x_T.
    trajectory: &'a Tensor,
}

impl<'a> ProxRun<'a> {
    /// Refuses a trajectory that is not `steps + 1` latents long.
    pub fn new(guidance: ProxGuidance, trajectory: &'a Tensor, steps: usize) -> Result<Self> {
        let have = trajectory.dim(0)?;
        if have != steps + 1 {
            candle_core::bail!("proximal guidance needs the {} latents of a {steps}-step inversion, got {have}", steps + 1);
        }
        Ok(Self { guidance, trajectory })
    }

    /// Sampling step `i` of `schedule` from `x` with the halves of its prediction: shrunk
    /// guidance, then the pulls where they act.
    pub fn step(&self, schedule: &Schedule, (eps_u, eps_c): (&Tensor, &Tensor), w: f64, i: usize, x: &Tensor) -> Result<Tensor> {
        let t = schedule.timesteps[i];
        let ProxStep { guided, keep } = self.guidance.guide(eps_u, eps_c, w, t)?;
        let photo = self.trajectory.narrow(0, 0, 1)?;
        let stepped = schedule.prev_step_adjusting_x0(&guided, t, x, &mut |x0| self.guidance.pull_x0(x0, &photo, keep.as_ref()))?;
        let inverted = self.trajectory.narrow(0, schedule.timesteps.len() - 1 - i, 1)?;
        self.guidance.pull_latent(stepped, &inverted, keep.as_ref())
    }
}

/// `x − s·(x − to)·keep`, `to` broadcast over the rows of `x`.
fn pull_toward(x: &Tensor, to: &Tensor, keep: &Tensor, s: f64) -> Result<Tensor> {
    x - ((x.broadcast_sub(to)? * s)? * keep)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn fixture() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference/prox/prox.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn tensor(v: &serde_json::Value, shape: &[usize]) -> Tensor {
        let data: Vec<f32> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
    }

    /// Every piece against numpy's statement of the reference code (scripts/fixtures/prox_reference.py).
    #[test]
    fn proximal_guidance_matches_the_reference_numbers() {
        let f = fixture();
        let shape: Vec<usize> = f["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let one: Vec<usize> = std::iter::once(1).chain(shape[1..].iter().copied()).collect();
        let (eps_u, eps_c) = (tensor(&f["eps_u"], &shape), tensor(&f["eps_c"], &shape));
        let (x0, x, photo, inverted) = (tensor(&f["x0"], &shape), tensor(&f["x"], &shape), tensor(&f["photo"], &one), tensor(&f["inverted"], &one));
        for (name, shrink) in [("l0", Shrink::L0), ("l1", Shrink::L1)] {
            let r = &f[name];
            let p = ProxGuidance { shrink, quantile: f["quantile"].as_f64().unwrap(), pull: Pull::Both, strength: f["strength"].as_f64().unwrap(), below: 400 };
            let step = p.guide(&eps_u, &eps_c, f["guidance"].as_f64().unwrap(), 399).unwrap();
            assert!(max_diff(&step.guided, &tensor(&r["guided"], &shape)) < 2e-6, "{name} guided");
            let keep = step.keep.expect("a pull acts below 400");
            assert_eq!(keep.flatten_all().unwrap().to_vec1::<f32>().unwrap(), tensor(&r["keep"], &shape).flatten_all().unwrap().to_vec1::<f32>().unwrap(), "{name} mask");
            assert!(max_diff(&p.pull_x0(x0.clone(), &photo, Some(&keep)).unwrap(), &tensor(&r["pulled_x0"], &shape)) < 1e-6, "{name} x0");
            assert!(max_diff(&p.pull_latent(x.clone(), &inverted, Some(&keep)).unwrap(), &tensor(&r["pulled_latent"], &shape)) < 1e-6, "{name} latent");
            let mut abs = (&eps_c - &eps_u).unwrap().abs().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!((quantile(&mut abs, p.quantile) - r["threshold"].as_f64().unwrap() as f32).abs() < 1e-7, "{name} threshold");
        }
    }

    #[test]
    fn quantile_interpolates_between_ranks_like_torch() {
        let q = |v: &[f32], q: f64| quantile(&mut v.to_vec(), q);
        assert_eq!(q(&[3.0, 1.0, 2.0, 4.0], 0.0), 1.0);
        assert_eq!(q(&[3.0, 1.0, 2.0, 4.0], 1.0), 4.0);
        // Rank 0.5·3 = 1.5: halfway between 2 and 3.
        assert_eq!(q(&[3.0, 1.0, 2.0, 4.0], 0.5), 2.5);
        // Rank 0.7·4 = 2.8 of [0, 10, 20, 30, 40].
        assert!((q(&[40.0, 0.0, 30.0, 10.0, 20.0], 0.7) - 28.0).abs() < 1e-5);
        assert_eq!(q(&[5.0], 0.3), 5.0);
        assert_eq!(q(&[2.0, 2.0, 2.0], 0.9), 2.0);
    }

    /// Above `below`, or with no pull, the step is plain shrunk guidance; at quantile 0 with
    /// distinct values the threshold is the smallest |Δ| (0 in a row where the halves agree), so
    /// l0 is plain guidance there.
    #[test]
    fn pulls_act_only_below_their_timestep_and_a_zero_threshold_is_plain_guidance() {
        let dev = Device::Cpu;
        let u = Tensor::new(&[[[[0.1f32, -0.4], [0.9, 0.3]]], [[[0.2, 0.2], [0.2, 0.2]]]], &dev).unwrap();
        let c = Tensor::new(&[[[[0.1f32, -0.4], [0.9, 0.3]]], [[[0.5, -0.1], [0.25, 1.2]]]], &dev).unwrap();
        let mut p = ProxGuidance { shrink: Shrink::L0, quantile: 0.0, pull: Pull::Inversion, strength: 1.0, below: 400 };
        assert!(p.guide(&u, &c, 7.5, 400).unwrap().keep.is_none());
        assert!(p.guide(&u, &c, 7.5, 399).unwrap().keep.is_some());
        let plain = crate::edit::guidance::guide(&u, &c, 7.5).unwrap();
        assert_eq!(max_diff(&p.guide(&u, &c, 7.5, 900).unwrap().guided, &plain), 0.0);
        p.pull = Pull::None;
        assert!(p.guide(&u, &c, 7.5, 10).unwrap().keep.is_none());
        // The source row (Δ = 0) is the unconditional prediction whatever the quantile.
        p.quantile = 0.9;
        let g = p.guide(&u, &c, 7.5, 900).unwrap().guided;
        assert_eq!(max_diff(&g.narrow(0, 0, 1).unwrap(), &u.narrow(0, 0, 1).unwrap()), 0.0);
    }

    /// A whole step of [`ProxRun`] with both pulls at half strength, against the step written out
    /// with the schedule's ᾱ: the photo pull on x0 inside the DDIM step (ε kept), then the
    /// inversion pull toward the trajectory latent of the step's destination.
    #[test]
    fn a_step_pulls_x0_to_the_photo_then_the_latent_to_the_inversion() {
        let dev = Device::Cpu;
        let schedule = Schedule::new(&crate::sd::config::SchedulerConfig::default(), 10).unwrap();
        let rng = |seed: u64, shape: (usize, usize, usize, usize)| crate::sd::rng::Rng::new(seed).randn(shape, 0.0, 1.0, &dev).unwrap();
        let (u, x, trajectory) = (rng(1, (2, 4, 8, 8)), rng(2, (2, 4, 8, 8)), rng(3, (11, 4, 8, 8)));
        let c = (&u + (rng(4, (2, 4, 8, 8)) * 0.3).unwrap()).unwrap();
        let g = ProxGuidance { shrink: Shrink::L0, quantile: 0.5, pull: Pull::Both, strength: 0.5, below: 400 };
        let run = ProxRun::new(g.clone(), &trajectory, 10).unwrap();
        let i = 8;
        let t = schedule.timesteps[i];
        assert!(t < 400);
        let got = run.step(&schedule, (&u, &c), 7.5, i, &x).unwrap();
        let ProxStep { guided, keep } = g.guide(&u, &c, 7.5, t).unwrap();
        let keep = keep.unwrap();
        let kept = keep.sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(kept > 0.0 && kept < keep.elem_count() as f32, "some of each: {kept}");
        let (a_t, a_p) = (schedule.alpha(t as i64), schedule.alpha(t as i64 - 100));
        let x0 = ((&x - (&guided * (1.0 - a_t as f64).sqrt()).unwrap()).unwrap() / (a_t as f64).sqrt()).unwrap();
        let photo = trajectory.narrow(0, 0, 1).unwrap();
        let x0 = (&x0 - ((x0.broadcast_sub(&photo).unwrap() * 0.5).unwrap() * &keep).unwrap()).unwrap();
        let stepped = ((x0 * (a_p as f64).sqrt()).unwrap() + (&guided * (1.0 - a_p as f64).sqrt()).unwrap()).unwrap();
        let inverted = trajectory.narrow(0, 10 - 1 - i, 1).unwrap();
        let want = (&stepped - ((stepped.broadcast_sub(&inverted).unwrap() * 0.5).unwrap() * &keep).unwrap()).unwrap();
        assert!(max_diff(&got, &want) < 1e-5, "{}", max_diff(&got, &want));
        // A trajectory of another length is refused.
        assert!(ProxRun::new(g, &trajectory, 9).is_err());
    }

    #[test]
    fn checks_refuse_values_out_of_range() {
        let p = ProxGuidance { shrink: Shrink::L1, quantile: 0.7, pull: Pull::Photo, strength: 1.0, below: 400 };
        assert!(p.check().is_ok());
        let e = ProxGuidance { quantile: 1.5, ..p.clone() }.check().unwrap_err().to_string();
        assert!(e.contains("quantile must be in [0, 1] (got 1.5)"), "{e}");
        let e = ProxGuidance { strength: -0.1, ..p }.check().unwrap_err().to_string();
        assert!(e.contains("strength must be in [0, 1] (got -0.1)"), "{e}");
    }
}
