//! Multi-head attention `softmax(s·QKᵀ)·V` on the CPU as one op that never keeps its
//! probability maps: the backward recomputes them one head at a time.
//!
//! At a 64×64 latent, SD's first-level self-attention maps are 8×4096×4096 floats (512 MiB per
//! layer, twice over for scores and probabilities); keeping them for the backward pass is what
//! made candle's autograd run out of memory. Heads are read in place from `[B, N, C]` (head `h`
//! is columns `h·d..(h+1)·d`), so no split or merge copies either.

use super::gemm::{matmul, Real, Threads, View};
use super::softmax::{softmax_row, FastExp};
use super::{by_dtype, with_host};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub batch: usize,
    pub heads: usize,
    /// Queries (pixels).
    pub n: usize,
    /// Keys (pixels or text tokens).
    pub m: usize,
    /// Channels of all heads together.
    pub c: usize,
    pub scale: f64,
}

impl AttnShape {
    fn d(&self) -> usize {
        self.c / self.heads
    }

    /// Head `h` of batch row `b` of a `[B, rows, C]` tensor.
    fn head(&self, b: usize, h: usize, rows: usize) -> View {
        View::rows(b * rows * self.c + h * self.d(), rows, self.d(), self.c)
    }

    /// Runs `f` for every (batch, head), in parallel when there are enough of them, and
    /// returns the results in (b, h) order.
    fn per_head<R: Send>(&self, f: impl Fn(usize, usize, Threads) -> R + Sync + Send) -> Vec<R> {
        let tasks = self.batch * self.heads;
        if tasks >= rayon::current_num_threads() && tasks > 1 {
            (0..tasks).into_par_iter().map(|t| f(t / self.heads, t % self.heads, Threads::One)).collect()
        } else {
            (0..tasks).map(|t| f(t / self.heads, t % self.heads, Threads::Pool)).collect()
        }
    }

    /// Writes per-head `[rows, d]` blocks into one `[B, rows, C]` buffer.
    fn gather<T: Real>(&self, blocks: Vec<Vec<T>>, rows: usize) -> Vec<T> {
        let d = self.d();
        let mut out = vec![T::zero(); self.batch * rows * self.c];
        for (t, block) in blocks.into_iter().enumerate() {
            let (b, h) = (t / self.heads, t % self.heads);
            for (r, src) in block.chunks(d).enumerate() {
                let at = (b * rows + r) * self.c + h * d;
                out[at..at + d].copy_from_slice(src);
            }
        }
        out
    }
}

/// Probabilities `[n, m]` of one head.
fn probs<T: FastExp>(s: &AttnShape, q: &[T], k: &[T], b: usize, h: usize, threads: Threads) -> Vec<T> {
    let mut p = vec![T::zero(); s.n * s.m];
    matmul(&mut p, View::dense(s.n, s.m), false, q, s.head(b, h, s.n), k, s.head(b, h, s.m).t(), threads);
    let scale = T::narrow(s.scale);
    p.chunks_mut(s.m).for_each(|row| softmax_row(row, scale));
    p
}

pub fn forward<T: FastExp>(s: &AttnShape, q: &[T], k: &[T], v: &[T]) -> Vec<T> {
    let blocks = s.per_head(|b, h, threads| {
        let p = probs(s, q, k, b, h, threads);
        let mut o = vec![T::zero(); s.n * s.d()];
        matmul(&mut o, View::dense(s.n, s.d()), false, &p, View::dense(s.n, s.m), v, s.head(b, h, s.m), threads);
        o
    });
    s.gather(blocks, s.n)
}

/// (∂q, ∂k, ∂v) from ∂out, recomputing each head's probabilities.
pub fn backward<T: FastExp>(s: &AttnShape, q: &[T], k: &[T], v: &[T], g: &[T]) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (n, m, d) = (s.n, s.m, s.d());
    let blocks = s.per_head(|b, h, threads| {
        let p = probs(s, q, k, b, h, threads);
        let mut dv = vec![T::zero(); m * d];
        matmul(&mut dv, View::dense(m, d), false, &p, View::dense(n, m).t(), g, s.head(b, h, n), threads);
        // ∂P = ∂O·Vᵀ, then ∂S = s·P∘(∂P − rowsum(∂P∘P)), in place.
        let mut ds = vec![T::zero(); n * m];
        matmul(&mut ds, View::dense(n, m), false, g, s.head(b, h, n), v, s.head(b, h, m).t(), threads);
        for (dr, pr) in ds.chunks_mut(m).zip(p.chunks(m)) {
            let dot: f64 = dr.iter().zip(pr).map(|(a, b)| a.wide() * b.wide()).sum();
            for (x, &pv) in dr.iter_mut().zip(pr) {
                *x = T::narrow(s.scale * pv.wide() * (x.wide() - dot));
            }
        }
        let mut dq = vec![T::zero(); n * d];
        matmul(&mut dq, View::dense(n, d), false, &ds, View::dense(n, m), k, s.head(b, h, m), threads);
        let mut dk = vec![T::zero(); m * d];
        matmul(&mut dk, View::dense(m, d), false, &ds, View::dense(n, m).t(), q, s.head(b, h, n), threads);
        (dq, dk, dv)
    });
    let (mut dqs, mut dks, mut dvs) = (Vec::new(), Vec::new(), Vec::new());
    for (dq, dk, dv) in blocks {
        dqs.push(dq);
        dks.push(dk);
        dvs.push(dv);
    }
    (s.gather(dqs, n), s.gather(dks, m), s.gather(dvs, m))
}

/// The op on (q `[B, N, C]`, k `[B, M, C]`, v `[B, M, C]`), all contiguous.
pub struct Attention {
    pub heads: usize,
    pub scale: f64,
}

impl Attention {
    fn shape(&self, q: &[usize], k: &[usize], v: &[usize]) -> Result<AttnShape> {
        let (&[batch, n, c], &[bk, m, ck]) = (q, k) else { candle_core::bail!("attention expects [B, N, C] inputs, got {q:?}, {k:?}") };
        if bk != batch || ck != c || k != v || self.heads == 0 || !c.is_multiple_of(self.heads) {
            candle_core::bail!("attention inputs do not fit: q {q:?}, k {k:?}, v {v:?}, {} heads", self.heads);
        }
        Ok(AttnShape { batch, heads: self.heads, n, m, c, scale: self.scale })
    }
}

fn slice<'a, T: Real>(st: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    let Some((lo, hi)) = l.contiguous_offsets() else { candle_core::bail!("attention inputs must be contiguous") };
    Ok(&st.as_slice::<T>()?[lo..hi])
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "pivot-attention"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let s = self.shape(l1.dims(), l2.dims(), l3.dims())?;
        let out = by_dtype!(s1.dtype(), T => {
            <T as candle_core::WithDType>::to_cpu_storage_owned(forward::<T>(&s, slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?))
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(&self, q: &Tensor, k: &Tensor, v: &Tensor, _out: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let s = self.shape(q.dims(), k.dims(), v.dims())?;
        let g = grad.contiguous()?;
        by_dtype!(q.dtype(), T => {
            let (dq, dk, dv) = with_host(q, |q| with_host(k, |k| with_host(v, |v| with_host(&g, |g| backward::<T>(&s, q, k, v, g)))))????;
            let dev = q.device();
            Ok((Some(Tensor::from_vec(dq, q.shape(), dev)?), Some(Tensor::from_vec(dk, k.shape(), dev)?), Some(Tensor::from_vec(dv, v.shape(), dev)?)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::ops::softmax_last_composite;
    use crate::sd::rng::Rng;
    use candle_core::{DType, Device, Var};

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        Rng::new(seed).randn(shape, 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap()
    }

    /// The composite definition, heads split explicitly.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, scale: f64) -> Tensor {
        let split = |x: &Tensor| {
            let (b, n, c) = x.dims3().unwrap();
            x.reshape((b, n, heads, c / heads)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap()
        };
        let p = softmax_last_composite(&(split(q).matmul(&split(k).t().unwrap()).unwrap() * scale).unwrap()).unwrap();
        let o = p.matmul(&split(v)).unwrap().transpose(1, 2).unwrap();
        let (b, n, _, _) = o.dims4().unwrap();
        o.reshape((b, n, ())).unwrap()
    }

    #[test]
    fn matches_the_composite_and_its_gradients_are_true() {
        let (q, k, v) = (randn(&[2, 6, 8], 1), randn(&[2, 5, 8], 2), randn(&[2, 5, 8], 3));
        let op = || Attention { heads: 2, scale: 0.4 };
        let ours = q.apply_op3(&k, &v, op()).unwrap();
        let diff = (ours - reference(&q, &k, &v, 2, 0.4)).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
        assert!(diff < 1e-12, "{diff}");
        let w = randn(&[2, 6, 8], 4);
        let loss = |q: &Tensor, k: &Tensor, v: &Tensor| (q.apply_op3(k, v, op()).unwrap() * &w).unwrap().sum_all().unwrap();
        let vars = [&q, &k, &v].map(|t| Var::from_tensor(t).unwrap());
        let grads = loss(vars[0].as_tensor(), vars[1].as_tensor(), vars[2].as_tensor()).backward().unwrap();
        let dirs = [randn(q.dims(), 5), randn(k.dims(), 6), randn(k.dims(), 7)];
        let at = |e: f64| {
            let moved: Vec<Tensor> = [&q, &k, &v].iter().zip(&dirs).map(|(t, d)| (*t + (d * e).unwrap()).unwrap()).collect();
            loss(&moved[0], &moved[1], &moved[2]).to_scalar::<f64>().unwrap()
        };
        let fd = (at(1e-5) - at(-1e-5)) / 2e-5;
        let an: f64 = vars.iter().zip(&dirs).map(|(var, d)| (grads.get(var.as_tensor()).unwrap() * d).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()).sum();
        assert!((fd - an).abs() < 1e-7 * (1.0 + fd.abs()), "fd {fd} vs {an}");
    }
}
