//! PyTorch's Adam (single-tensor path), element for element in f32, on one parameter.
//!
//! Null-text inversion's gradients are ~1e-7, so the ε term and the exact order of operations
//! matter; this follows torch's `lerp` / `addcmul` / `addcdiv` sequence.

pub struct Adam {
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    /// A fresh optimiser (β = 0.9, 0.999, ε = 1e-8, no weight decay).
    pub fn new(lr: f64, len: usize) -> Self {
        Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, m: vec![0.0; len], v: vec![0.0; len] }
    }

    /// One update of `param` in place with gradient `grad`.
    pub fn step(&mut self, param: &mut [f32], grad: &[f32]) {
        assert_eq!(param.len(), self.m.len(), "Adam parameter size changed");
        assert_eq!(grad.len(), self.m.len(), "gradient size differs from the parameter");
        self.step += 1;
        let w1 = (1.0 - self.beta1) as f32;
        let b2 = self.beta2 as f32;
        let w2 = (1.0 - self.beta2) as f32;
        let bc1 = 1.0 - self.beta1.powi(self.step);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.step)).sqrt() as f32;
        let step_size = (self.lr / bc1) as f32;
        let eps = self.eps as f32;
        for i in 0..param.len() {
            let g = grad[i];
            // torch.lerp with weight < 0.5: m + w·(g − m)
            self.m[i] += w1 * (g - self.m[i]);
            self.v[i] = self.v[i] * b2 + w2 * g * g;
            let denom = self.v[i].sqrt() / bc2_sqrt + eps;
            // addcdiv's CPU kernel: param + (value·m)/denom, in that order.
            param[i] += (-step_size * self.m[i]) / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_is_about_lr_times_sign() {
        let mut p = vec![1.0f32, 1.0, 1.0];
        let mut a = Adam::new(0.01, 3);
        a.step(&mut p, &[2e-6, -3e-7, 0.0]);
        // First step: θ − lr·g/(|g| + ε) — about lr·sign(g), shrunk where |g| is near ε = 1e-8.
        let want = |g: f64| 1.0 - 0.01 * g / (g.abs() + 1e-8);
        assert!((p[0] as f64 - want(2e-6)).abs() < 1e-6 && (p[1] as f64 - want(-3e-7)).abs() < 1e-6 && p[2] == 1.0, "{p:?}");
    }

    #[test]
    fn minimises_a_quadratic() {
        let mut p = vec![3.0f32, -2.0];
        let mut a = Adam::new(0.1, 2);
        for _ in 0..500 {
            let g: Vec<f32> = p.iter().map(|x| 2.0 * x).collect();
            a.step(&mut p, &g);
        }
        assert!(p.iter().all(|x| x.abs() < 0.05), "{p:?}");
    }

    #[test]
    fn the_update_is_addcdivs_value_times_m_over_denom() {
        // torch's CPU addcdiv computes param + (value·m)/denom; the other order differs in the last
        // bit for some gradients. Search a few for one where it does, and check Adam takes torch's.
        let (lr, g) = (0.01f64, (1..200).map(|k| k as f32 * 1.37e-7).collect::<Vec<f32>>());
        let mut p = vec![0f32; g.len()];
        Adam::new(lr, g.len()).step(&mut p, &g);
        let (w1, w2) = (0.1f32, (1.0 - 0.999f64) as f32);
        let step_size = (lr / (1.0 - 0.9f64)) as f32;
        let bc2 = (1.0 - 0.999f64).sqrt() as f32;
        let mut differing = 0;
        for (k, &gk) in g.iter().enumerate() {
            let (m, v) = (w1 * gk, w2 * gk * gk);
            let denom = v.sqrt() / bc2 + 1e-8f32;
            let torch = 0f32 + (-step_size * m) / denom;
            let other = 0f32 + -step_size * (m / denom);
            differing += usize::from(torch != other);
            assert_eq!(p[k], torch, "gradient {gk:e}");
        }
        assert!(differing > 0, "no gradient tells the two orders apart");
    }
}
