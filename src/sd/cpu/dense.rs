//! Dense layer `x·Wᵀ + b` on the CPU as one gemm with the bias preloaded; its backward gives
//! the input gradient only (`∂y·W`, read through a transposed view: no copy of W).

use super::gemm::{matmul, product, Real, Threads, View};
use super::{by_dtype, host_slice, with_host};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `x` `[rows, in]`, `weight_t` `[in, out]`, optional bias `[out]` → `[rows, out]`.
pub fn forward<T: Real>(x: &[T], weight_t: &[T], bias: Option<&[T]>, inp: usize, out: usize) -> Vec<T> {
    let rows = x.len() / inp;
    let Some(bias) = bias else {
        return product(x, View::dense(rows, inp), weight_t, View::dense(inp, out), Threads::Pool);
    };
    let mut y: Vec<T> = bias.iter().copied().cycle().take(rows * out).collect();
    matmul(&mut y, View::dense(rows, out), true, x, View::dense(rows, inp), weight_t, View::dense(inp, out), Threads::Pool);
    y
}

/// ∂loss/∂x `[rows, in]` from ∂loss/∂y `[rows, out]`.
pub fn input_grad<T: Real>(g: &[T], weight_t: &[T], inp: usize, out: usize) -> Vec<T> {
    let rows = g.len() / out;
    product(g, View::dense(rows, out), weight_t, View::dense(inp, out).t(), Threads::Pool)
}

/// The layer as one candle op on the CPU.
pub struct Dense {
    /// `[in, out]`, contiguous.
    pub weight_t: Tensor,
    pub bias: Option<Tensor>,
}

impl Dense {
    fn dims(&self, x: &[usize]) -> Result<(usize, usize)> {
        let (inp, out) = self.weight_t.dims2()?;
        if x.last() != Some(&inp) {
            candle_core::bail!("dense layer expects a last dimension of {inp}, got {x:?}");
        }
        Ok((inp, out))
    }
}

impl CustomOp1 for Dense {
    fn name(&self) -> &'static str {
        "pivot-dense"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (inp, out) = self.dims(l.dims())?;
        let storage = by_dtype!(st.dtype(), T => {
            let x = host_slice::<T>(st, l, "dense")?;
            let y = with_host(&self.weight_t, |w| match &self.bias {
                Some(b) => with_host(b, |b| forward::<T>(x, w, Some(b), inp, out)),
                None => Ok(forward::<T>(x, w, None, inp, out)),
            })??;
            <T as candle_core::WithDType>::to_cpu_storage_owned(y)
        });
        let mut dims = l.dims().to_vec();
        *dims.last_mut().expect("checked above") = out;
        Ok((storage, Shape::from(dims)))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (inp, out) = self.dims(x.dims())?;
        let g = grad.contiguous()?;
        let dx = crate::sd::profile::span("linear input gradient", x.device(), || Ok(by_dtype!(x.dtype(), T => {
            Tensor::from_vec(with_host(&g, |g| with_host(&self.weight_t, |w| input_grad::<T>(g, w, inp, out)))??, x.shape(), x.device())?
        })))?;
        Ok(Some(dx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::rng::Rng;
    use candle_core::{DType, Device, Var};

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        Rng::new(seed).randn(shape, 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap()
    }

    #[test]
    fn forward_and_input_gradient_are_true() {
        let wt = randn(&[4, 3], 1);
        for bias in [Some(randn(&[3], 2)), None] {
            let layer = || Dense { weight_t: wt.clone(), bias: bias.clone() };
            let x = randn(&[2, 5, 4], 3);
            let want = match &bias {
                Some(b) => x.broadcast_matmul(&wt).unwrap().broadcast_add(b).unwrap(),
                None => x.broadcast_matmul(&wt).unwrap(),
            };
            let diff = (x.apply_op1(layer()).unwrap() - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(diff < 1e-12);
            let weights = randn(&[2, 5, 3], 4);
            let loss = |x: &Tensor| (x.apply_op1(layer()).unwrap() * &weights).unwrap().sum_all().unwrap();
            let var = Var::from_tensor(&x).unwrap();
            let g = loss(var.as_tensor()).backward().unwrap().get(var.as_tensor()).unwrap().clone();
            let d = randn(x.dims(), 5);
            let at = |e: f64| loss(&(&x + (&d * e).unwrap()).unwrap()).to_scalar::<f64>().unwrap();
            let fd = (at(1e-5) - at(-1e-5)) / 2e-5;
            let an = (&g * &d).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
            assert!((fd - an).abs() < 1e-7 * (1.0 + fd.abs()), "fd {fd} vs {an}");
        }
    }
}
