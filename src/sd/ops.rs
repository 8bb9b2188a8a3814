//! Differentiable building blocks (ALGORITHMS §C): every op here has a correct backward in candle.
//!
//! candle's fused `softmax_last_dim` and `layer_norm` silently cut the autograd graph, so they are
//! never used on a path that needs a gradient; these composites are used instead.

use candle_core::{DType, Module, Result, Tensor, D};
use super::fused::{self, Affine, NormSpec};
use super::profile;
use super::cpu::{self, conv::Conv, dense::Dense};
use super::input_grad::{with_input_grad, ConvGrad, InputGrad, LinearGrad};
use candle_nn::{Init, VarBuilder};
use std::sync::Arc;

/// Softmax over the last dimension. The max is detached: softmax is shift-invariant, so its
/// gradient through the max is exactly zero and need not be built.
pub fn softmax_last(xs: &Tensor) -> Result<Tensor> {
    scaled_softmax_last(xs, 1.0)
}

/// `softmax(scale·x)` over the last dimension (attention scores), fused on CPU.
pub fn scaled_softmax_last(xs: &Tensor, scale: f64) -> Result<Tensor> {
    if fused::applies(xs) {
        return fused::softmax_last(xs, scale);
    }
    softmax_last_composite(&(xs * scale)?)
}

/// ∂x of [`scaled_softmax_last`] from its output `y` and output gradient `dy`, without a graph:
/// `scale·y·(dy − Σ dy·y)`.
pub fn scaled_softmax_last_backward(y: &Tensor, dy: &Tensor, scale: f64) -> Result<Tensor> {
    if fused::applies(y) {
        return fused::softmax_backward(y, dy, scale);
    }
    softmax_backward_composite(y, dy, scale)
}

fn softmax_backward_composite(y: &Tensor, dy: &Tensor, scale: f64) -> Result<Tensor> {
    let dot = (dy * y)?.sum_keepdim(D::Minus1)?;
    (dy.broadcast_sub(&dot)? * y)? * scale
}

/// ∂x of `f` at `x` for the output gradient `dy`, by candle's autograd (the composites' backward).
fn autograd_backward(x: &Tensor, dy: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let var = candle_core::Var::from_tensor(&x.detach())?;
    let grads = (f(var.as_tensor())? * dy.detach())?.sum_all()?.backward()?;
    match grads.get(var.as_tensor()) {
        Some(g) => Ok(g.clone()),
        None => x.zeros_like(),
    }
}

/// `a·gelu(gate)` for `[a, gate]` on the last dimension (diffusers' GEGLU), fused on CPU.
pub fn geglu(xs: &Tensor) -> Result<Tensor> {
    if fused::applies(xs) {
        return fused::geglu(xs);
    }
    let half = xs.dim(D::Minus1)? / 2;
    xs.narrow(D::Minus1, 0, half)? * xs.narrow(D::Minus1, half, half)?.gelu_erf()?
}

/// ∂x of [`geglu`] at `x` for the output gradient `dy`, without a graph.
pub fn geglu_backward(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    if fused::applies(x) {
        return fused::geglu_backward(x, dy);
    }
    autograd_backward(x, dy, geglu)
}

/// The device-independent softmax (devices without fused kernels; reference for their tests).
pub fn softmax_last_composite(xs: &Tensor) -> Result<Tensor> {
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let num = xs.broadcast_sub(&max)?.exp()?;
    let den = num.sum_keepdim(D::Minus1)?;
    num.broadcast_div(&den)
}

/// `x·sigmoid(1.702x)`, CLIP's activation.
pub fn quick_gelu(xs: &Tensor) -> Result<Tensor> {
    xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?
}

/// Dense layer `x·Wᵀ + b` with diffusers/transformers weight names (`weight`, `bias`).
#[derive(Clone)]
pub struct Linear {
    weight_t: Tensor,
    bias: Option<Tensor>,
    grad: Arc<dyn InputGrad>,
}

impl Linear {
    pub fn load(vb: &VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let std = 1.0 / (in_dim as f64).sqrt();
        let w = vb.get_with_hints((out_dim, in_dim), "weight", Init::Randn { mean: 0.0, stdev: std })?;
        Self::from_weight(w, bias.then(|| vb.get_with_hints(out_dim, "bias", BIAS_INIT)).transpose()?)
    }

    /// Accepts `[out, in]` or 1×1-conv-shaped `[out, in, 1, 1]` weights (old VAE checkpoints).
    pub fn from_weight(w: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let w = if w.rank() == 4 { w.flatten_from(1)? } else { w };
        let weight_t = w.t()?.contiguous()?;
        Ok(Self { grad: Arc::new(LinearGrad { weight_t: weight_t.clone() }), weight_t, bias })
    }

    pub fn out_dim(&self) -> usize {
        self.weight_t.dim(1).unwrap_or(0)
    }

    /// ∂x of `forward` for the output gradient `dy` (the weights are constants).
    pub fn backward(&self, dy: &Tensor) -> Result<Tensor> {
        self.grad.input_grad(dy, dy)
    }
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Linear{:?}", self.weight_t.dims())
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        profile::span("linear forward", xs.device(), || {
            if cpu::applies(xs, &self.weight_t) {
                return xs.contiguous()?.apply_op1(Dense { weight_t: self.weight_t.clone(), bias: self.bias.clone() });
            }
            with_input_grad(xs, &self.grad, |x| {
                let y = x.broadcast_matmul(&self.weight_t)?;
                match &self.bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            })
        })
    }
}

/// Random-init hint for biases (used only by the built-in random model).
pub const BIAS_INIT: Init = Init::Randn { mean: 0.0, stdev: 0.05 };

/// 2-D convolution with diffusers weight names.
#[derive(Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
    grad: Arc<dyn InputGrad>,
}

impl Conv2d {
    pub fn load(vb: &VarBuilder, c_in: usize, c_out: usize, k: usize, stride: usize, padding: usize) -> Result<Self> {
        let std = 1.0 / ((c_in * k * k) as f64).sqrt();
        let weight = vb.get_with_hints((c_out, c_in, k, k), "weight", Init::Randn { mean: 0.0, stdev: std })?;
        let bias = vb.get_with_hints(c_out, "bias", BIAS_INIT)?.reshape((1, c_out, 1, 1))?;
        let grad = Arc::new(ConvGrad { weight: weight.clone(), stride, padding });
        Ok(Self { weight, bias, stride, padding, grad })
    }

    pub fn out_channels(&self) -> usize {
        self.weight.dim(0).unwrap_or(0)
    }
}

impl std::fmt::Debug for Conv2d {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conv2d{:?}/{}", self.weight.dims(), self.stride)
    }
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let name = if self.weight.dim(3)? == 1 { "conv 1x1 forward" } else { "conv forward" };
        profile::span(name, xs.device(), || {
            if cpu::applies(xs, &self.weight) {
                return xs.contiguous()?.apply_op1(Conv { weight: self.weight.clone(), bias: self.bias.clone(), stride: self.stride, padding: self.padding });
            }
            with_input_grad(xs, &self.grad, |x| x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?.broadcast_add(&self.bias))
        })
    }
}

fn norm_params(vb: &VarBuilder, n: usize) -> Result<(Tensor, Tensor)> {
    let w = vb.get_with_hints(n, "weight", Init::Randn { mean: 1.0, stdev: 0.1 })?;
    let b = vb.get_with_hints(n, "bias", Init::Randn { mean: 0.0, stdev: 0.1 })?;
    Ok((w, b))
}

/// The affine parameters for the fused kernels (host vectors for the CPU, tensors for the GPU).
fn norm_spec(weight: &Tensor, bias: &Tensor, groups: usize, channels_per_group: usize, eps: f64) -> Result<NormSpec> {
    let affine = Arc::new(Affine::new(weight, bias)?);
    Ok(NormSpec { groups, channels_per_group, chunk: 1, eps, affine, silu: false })
}

/// Layer norm over the last dimension, built from differentiable primitives.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    spec: NormSpec,
}

impl LayerNorm {
    pub fn load(vb: &VarBuilder, n: usize, eps: f64) -> Result<Self> {
        let (weight, bias) = norm_params(vb, n)?;
        Self::new(weight, bias, eps)
    }

    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> Result<Self> {
        let spec = norm_spec(&weight, &bias, 1, weight.dim(0)?, eps)?;
        Ok(Self { weight, bias, eps, spec })
    }

    /// ∂x of `forward` at `xs` for the output gradient `dy`, without a graph.
    pub fn backward(&self, xs: &Tensor, dy: &Tensor) -> Result<Tensor> {
        if fused::applies(xs) {
            return fused::norm_backward(xs, dy, &self.spec);
        }
        autograd_backward(xs, dy, |x| self.forward_composite(x))
    }

    /// The device-independent path (reference for the fused kernels' tests).
    pub fn forward_composite(&self, xs: &Tensor) -> Result<Tensor> {
        let mean = xs.mean_keepdim(D::Minus1)?;
        let centred = xs.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if fused::applies(xs) {
            return fused::norm(xs, &self.spec);
        }
        self.forward_composite(xs)
    }
}

/// Group norm over `[B, C, …]`, composite (differentiable), statistics in f32.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
    spec: NormSpec,
}

impl GroupNorm {
    pub fn load(vb: &VarBuilder, groups: usize, channels: usize, eps: f64) -> Result<Self> {
        let (weight, bias) = norm_params(vb, channels)?;
        Self::new(weight, bias, groups, eps)
    }

    pub fn new(weight: Tensor, bias: Tensor, groups: usize, eps: f64) -> Result<Self> {
        let spec = norm_spec(&weight, &bias, groups, weight.dim(0)? / groups, eps)?;
        Ok(Self { weight, bias, groups, eps, spec })
    }

    fn fused(&self, xs: &Tensor, silu: bool) -> Result<Tensor> {
        let chunk = xs.dims()[2..].iter().product();
        fused::norm(xs, &NormSpec { chunk, silu, ..self.spec.clone() })
    }

    /// `silu(groupnorm(x))`, fused on CPU (every resnet and output head uses this pair).
    pub fn forward_silu(&self, xs: &Tensor) -> Result<Tensor> {
        if fused::applies(xs) {
            return self.fused(xs, true);
        }
        self.forward_composite(xs)?.silu()
    }

    /// The device-independent path (devices without fused kernels; reference for their tests).
    pub fn forward_composite(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims().to_vec();
        let (b, c) = (dims[0], dims[1]);
        let dtype = xs.dtype();
        // Half precision is normalised in f32; f32 and f64 keep their own precision.
        let work = if matches!(dtype, DType::F16 | DType::BF16) { DType::F32 } else { dtype };
        let g = xs.reshape((b, self.groups, ()))?.to_dtype(work)?;
        let mean = g.mean_keepdim(D::Minus1)?;
        let centred = g.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?.to_dtype(dtype)?.reshape(dims.as_slice())?;
        let mut shape = vec![1; dims.len()];
        shape[1] = c;
        normed.broadcast_mul(&self.weight.reshape(shape.as_slice())?)?.broadcast_add(&self.bias.reshape(shape.as_slice())?)
    }
}

impl Module for GroupNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if fused::applies(xs) {
            return self.fused(xs, false);
        }
        self.forward_composite(xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Central finite differences of `f` at `x` along random directions vs candle's gradient.
    fn check_grad(f: impl Fn(&Tensor) -> Result<Tensor>, x: &Tensor) {
        let var = Var::from_tensor(x).unwrap();
        let grads = f(var.as_tensor()).unwrap().backward().unwrap();
        let g = grads.get(var.as_tensor()).expect("gradient reaches the input");
        let mut rng = crate::sd::rng::Rng::new(3);
        for _ in 0..3 {
            let dir = rng.randn(x.shape(), 0.0, 1.0, x.device()).unwrap().to_dtype(x.dtype()).unwrap();
            let h = 1e-4;
            let plus = f(&(x + (&dir * h).unwrap()).unwrap()).unwrap().to_scalar::<f64>().unwrap();
            let minus = f(&(x - (&dir * h).unwrap()).unwrap()).unwrap().to_scalar::<f64>().unwrap();
            let fd = (plus - minus) / (2.0 * h);
            let an = (g * &dir).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
            assert!((fd - an).abs() <= 1e-6 * (1.0 + fd.abs()), "fd {fd} vs autograd {an}");
        }
    }

    fn weighted_sum(y: &Tensor) -> Result<Tensor> {
        // A non-symmetric functional so that errors in the gradient cannot cancel.
        let w = Tensor::arange(0f64, y.elem_count() as f64, y.device())?.reshape(y.shape())?.sin()?;
        (y * w)?.sum_all()
    }

    #[test]
    fn composites_have_true_gradients() {
        let dev = Device::Cpu;
        let x = crate::sd::rng::Rng::new(1).randn((2, 4, 3, 5), 0.0, 1.0, &dev).unwrap().to_dtype(DType::F64).unwrap();
        check_grad(|x| weighted_sum(&softmax_last(x)?), &x);
        check_grad(|x| weighted_sum(&softmax_last_composite(x)?), &x);
        check_grad(|x| weighted_sum(&scaled_softmax_last(x, 0.3)?), &x);
        check_grad(|x| weighted_sum(&geglu(x)?), &x.narrow(3, 0, 4).unwrap().contiguous().unwrap());
        check_grad(|x| weighted_sum(&quick_gelu(x)?), &x);
        let w = Tensor::new(&[1.5f64, 0.5, -1.0, 2.0, 0.3], &dev).unwrap();
        let b = Tensor::new(&[0.1f64, 0.2, 0.3, 0.4, 0.5], &dev).unwrap();
        let ln = LayerNorm::new(w, b, 1e-5).unwrap();
        check_grad(|x| weighted_sum(&ln.forward(x)?), &x);
        check_grad(|x| weighted_sum(&ln.forward_composite(x)?), &x);
        let gw = Tensor::new(&[1.5f64, 0.5, -1.0, 2.0], &dev).unwrap();
        let gb = Tensor::new(&[0.1f64, 0.2, 0.3, 0.4], &dev).unwrap();
        let gn = GroupNorm::new(gw, gb, 2, 1e-6).unwrap();
        check_grad(|x| weighted_sum(&gn.forward(x)?), &x);
        check_grad(|x| weighted_sum(&gn.forward_silu(x)?), &x);
        check_grad(|x| weighted_sum(&gn.forward_composite(x)?), &x);
        // The fused kernels compute what the composites compute.
        let close = |a: Tensor, b: Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap() < 1e-12;
        assert!(close(gn.forward(&x).unwrap(), gn.forward_composite(&x).unwrap()));
        assert!(close(gn.forward_silu(&x).unwrap(), gn.forward_composite(&x).unwrap().silu().unwrap()));
        assert!(close(ln.forward(&x).unwrap(), ln.forward_composite(&x).unwrap()));
        assert!(close(softmax_last(&x).unwrap(), softmax_last_composite(&x).unwrap()));
        assert!(close(scaled_softmax_last(&x, 0.3).unwrap(), softmax_last_composite(&(&x * 0.3).unwrap()).unwrap()));
        let x4 = x.narrow(3, 0, 4).unwrap().contiguous().unwrap();
        let composite = (x4.narrow(3, 0, 2).unwrap() * x4.narrow(3, 2, 2).unwrap().gelu_erf().unwrap()).unwrap();
        assert!(close(geglu(&x4).unwrap(), composite));
    }

    /// The graph-free backward passes (used by hand-written block backward passes) equal autograd.
    #[test]
    fn graph_free_backwards_equal_autograd() {
        let dev = Device::Cpu;
        let randn = |shape: &[usize], seed| crate::sd::rng::Rng::new(seed).randn(shape, 0.0, 1.0, &dev).unwrap().to_dtype(DType::F64).unwrap();
        let (x, dy) = (randn(&[2, 3, 6], 1), randn(&[2, 3, 6], 2));
        let auto = |f: &dyn Fn(&Tensor) -> Result<Tensor>, dy: &Tensor| autograd_backward(&x, dy, f).unwrap();
        let close = |a: Tensor, b: Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap() < 1e-12;
        let y = scaled_softmax_last(&x, 0.7).unwrap();
        let want = auto(&|x| softmax_last_composite(&(x * 0.7)?), &dy);
        assert!(close(scaled_softmax_last_backward(&y, &dy, 0.7).unwrap(), want.clone()));
        assert!(close(softmax_backward_composite(&y, &dy, 0.7).unwrap(), want));
        let ln = LayerNorm::new(randn(&[6], 3), randn(&[6], 4), 1e-5).unwrap();
        assert!(close(ln.backward(&x, &dy).unwrap(), auto(&|x| ln.forward_composite(x), &dy)));
        let half = dy.narrow(2, 0, 3).unwrap();
        let composite_geglu = |x: &Tensor| x.narrow(2, 0, 3)? * x.narrow(2, 3, 3)?.gelu_erf()?;
        let d = (geglu_backward(&x, &half).unwrap() - auto(&composite_geglu, &half)).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        // candle's gelu_erf derivative is good to ~1e-7 (the fused one is checked against finite
        // differences in `composites_have_true_gradients`).
        assert!(d < 1e-6, "geglu {d}");
    }

    #[test]
    fn softmax_matches_candle() {
        let x = crate::sd::rng::Rng::new(2).randn((3, 7), 0.0, 3.0, &Device::Cpu).unwrap();
        let a = softmax_last(&x).unwrap();
        let b = candle_nn::ops::softmax_last_dim(&x).unwrap();
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-6);
    }
}
