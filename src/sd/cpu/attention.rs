//! Multi-head attention `softmax(s·QKᵀ)·V` on the CPU as one op that never keeps its
//! probability maps: the backward recomputes them one head at a time.
//!
//! At a 64×64 latent, SD's first-level self-attention maps are 8×4096×4096 floats (512 MiB per
//! layer, twice over for scores and probabilities); keeping them for the backward pass is what
//! made candle's autograd run out of memory. Heads are read in place from `[B, N, C]` (head `h`
//! is columns `h·d..(h+1)·d`), so no split or merge copies either.

use super::gemm::{matmul, product, Real, Threads, View};
use super::small_heads::{SmallHead, SMALL_D};
use super::softmax::{softmax_back_row, softmax_row, FastExp};
use super::{by_dtype, host_slice, with_host};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::any::Any;
use std::sync::Mutex;

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

    /// Head `h`'s keys and values transposed, when its heads are small enough to skip gemm.
    fn small_head<T: Real>(&self, k: &[T], v: &[T], b: usize, h: usize) -> Option<SmallHead<T>> {
        (self.d() <= SMALL_D).then(|| SmallHead::new(k, v, self.head(b, h, self.m)))
    }

    /// Query rows per block: a block of scores (≤ 128 Ki floats) stays in cache between
    /// QKᵀ, softmax and ·V instead of streaming a whole N×M map through memory three times.
    fn block_rows(&self) -> usize {
        ((1 << 17) / self.m.max(1)).clamp(8, 256).min(self.n.max(1))
    }

    /// Runs `f` for every task in parallel when there are enough of them; results in order.
    fn run<R: Send>(&self, tasks: usize, f: impl Fn(usize, Threads) -> R + Sync + Send) -> Vec<R> {
        if tasks >= rayon::current_num_threads() && tasks > 1 {
            (0..tasks).into_par_iter().map(|t| f(t, Threads::One)).collect()
        } else {
            (0..tasks).map(|t| f(t, Threads::Pool)).collect()
        }
    }

    /// Copies a `[len, d]` block into rows `r0..` of head `h` of batch row `b` of `[B, rows, C]`.
    fn place<T: Real>(&self, out: &mut [T], b: usize, h: usize, r0: usize, rows: usize, block: &[T]) {
        let d = self.d();
        for (r, src) in block.chunks(d).enumerate() {
            let at = (b * rows + r0 + r) * self.c + h * d;
            out[at..at + d].copy_from_slice(src);
        }
    }
}

/// Probabilities of query rows `r0..r0+len` of one head: `[len, m]`.
#[allow(clippy::too_many_arguments)] // a product is a destination and two operands, each with its view
fn probs<T: FastExp>(s: &AttnShape, q: &[T], k: &[T], (b, h): (usize, usize), r0: usize, len: usize, small: Option<&SmallHead<T>>, threads: Threads) -> Vec<T> {
    let qv = rows_of(s, b, h, r0, len);
    let mut p = match small {
        Some(head) => head.scores(q, qv),
        None => product(q, qv, k, s.head(b, h, s.m).t(), threads),
    };
    let scale = T::narrow(s.scale);
    p.chunks_mut(s.m).for_each(|row| softmax_row(row, scale));
    p
}

/// The rows `r0..r0+len` of head `h` of `[B, n, C]` as a view.
fn rows_of(s: &AttnShape, b: usize, h: usize, r0: usize, len: usize) -> View {
    View { offset: s.head(b, h, s.n).offset + r0 * s.c, rows: len, ..s.head(b, h, s.n) }
}

/// Probability blocks kept from the forward pass, in task order (head-major, then row block).
pub type Kept<T> = Vec<Vec<T>>;

/// The output, and the probability blocks when `keep` (for a backward pass to reuse).
pub fn forward<T: FastExp>(s: &AttnShape, q: &[T], k: &[T], v: &[T], keep: bool) -> (Vec<T>, Option<Kept<T>>) {
    let blk = s.block_rows();
    let per_head = s.n.div_ceil(blk);
    let blocks = s.run(s.batch * s.heads * per_head, |t, threads| {
        let (bh, r0) = (t / per_head, (t % per_head) * blk);
        let (b, h, len) = (bh / s.heads, bh % s.heads, blk.min(s.n - r0));
        if let Some(head) = s.small_head(k, v, b, h) {
            return head.attend(q, rows_of(s, b, h, r0, len), T::narrow(s.scale), keep);
        }
        let p = probs(s, q, k, (b, h), r0, len, None, threads);
        let o = product(&p, View::dense(len, s.m), v, s.head(b, h, s.m), threads);
        (o, keep.then_some(p))
    });
    let mut out = vec![T::zero(); s.batch * s.n * s.c];
    let mut kept = Vec::with_capacity(if keep { blocks.len() } else { 0 });
    for (t, (block, p)) in blocks.into_iter().enumerate() {
        let bh = t / per_head;
        s.place(&mut out, bh / s.heads, bh % s.heads, (t % per_head) * blk, s.n, &block);
        kept.extend(p);
    }
    (out, keep.then_some(kept))
}

/// (∂q, ∂k, ∂v) from ∂out, with the forward's probability blocks or recomputing them.
pub fn backward<T: FastExp>(s: &AttnShape, q: &[T], k: &[T], v: &[T], g: &[T], kept: Option<&Kept<T>>) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (n, m, d, blk) = (s.n, s.m, s.d(), s.block_rows());
    let per_head = n.div_ceil(blk);
    let heads = s.run(s.batch * s.heads, |t, threads| {
        let (b, h) = (t / s.heads, t % s.heads);
        let (mut dq, mut dk, mut dv) = (vec![T::zero(); n * d], vec![T::zero(); m * d], vec![T::zero(); m * d]);
        let small = s.small_head(k, v, b, h);
        let scale = T::narrow(s.scale);
        for r0 in (0..n).step_by(blk) {
            let len = blk.min(n - r0);
            let fresh;
            let p = match kept {
                Some(kept) => &kept[t * per_head + r0 / blk],
                None => {
                    fresh = probs(s, q, k, (b, h), r0, len, small.as_ref(), threads);
                    &fresh
                }
            };
            let gv = rows_of(s, b, h, r0, len);
            if let Some(head) = &small {
                // dk and dv hold the transposed [d, m] sums until the head is done.
                head.backward(p, q, g, gv, scale, &mut dq[r0 * d..(r0 + len) * d], &mut dk, &mut dv);
                continue;
            }
            matmul(&mut dv, View::dense(m, d), true, p, View::dense(len, m).t(), g, gv, threads);
            // ∂P = ∂O·Vᵀ, then ∂S = s·P∘(∂P − rowsum(∂P∘P)), in place.
            let mut ds = product(g, gv, v, s.head(b, h, m).t(), threads);
            ds.chunks_mut(m).zip(p.chunks(m)).for_each(|(dr, pr)| softmax_back_row(dr, pr, scale));
            let dqv = View::rows(r0 * d, len, d, d);
            matmul(&mut dq, dqv, false, &ds, View::dense(len, m), k, s.head(b, h, m), threads);
            matmul(&mut dk, View::dense(m, d), true, &ds, View::dense(len, m).t(), q, rows_of(s, b, h, r0, len), threads);
        }
        match &small {
            Some(head) => (dq, head.untransposed(&dk), head.untransposed(&dv)),
            None => (dq, dk, dv),
        }
    });
    let (mut dq, mut dk, mut dv) = (vec![T::zero(); q.len()], vec![T::zero(); k.len()], vec![T::zero(); v.len()]);
    for (t, (q_, k_, v_)) in heads.iter().enumerate() {
        let (b, h) = (t / s.heads, t % s.heads);
        s.place(&mut dq, b, h, 0, n, q_);
        s.place(&mut dk, b, h, 0, m, k_);
        s.place(&mut dv, b, h, 0, m, v_);
    }
    (dq, dk, dv)
}

/// Probability maps up to this many floats per op are kept for the backward pass instead of
/// recomputed (small models: saves a third of the attention work; big maps would not fit).
const KEEP_MAX: usize = 1 << 22;

/// The op on (q `[B, N, C]`, k `[B, M, C]`, v `[B, M, C]`), all contiguous.
pub struct Attention {
    pub heads: usize,
    pub scale: f64,
    /// Whether a backward pass will follow (the inputs are on a gradient graph).
    pub for_backward: bool,
    kept: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Attention {
    pub fn new(heads: usize, scale: f64, for_backward: bool) -> Self {
        Self { heads, scale, for_backward, kept: Mutex::new(None) }
    }

    fn shape(&self, q: &[usize], k: &[usize], v: &[usize]) -> Result<AttnShape> {
        let (&[batch, n, c], &[bk, m, ck]) = (q, k) else { candle_core::bail!("attention expects [B, N, C] inputs, got {q:?}, {k:?}") };
        if bk != batch || ck != c || k != v || self.heads == 0 || !c.is_multiple_of(self.heads) {
            candle_core::bail!("attention inputs do not fit: q {q:?}, k {k:?}, v {v:?}, {} heads", self.heads);
        }
        Ok(AttnShape { batch, heads: self.heads, n, m, c, scale: self.scale })
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "pivot-attention"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let s = self.shape(l1.dims(), l2.dims(), l3.dims())?;
        let keep = self.for_backward && s.batch * s.heads * s.n * s.m <= KEEP_MAX;
        let out = by_dtype!(s1.dtype(), T => {
            let (out, kept) = forward::<T>(&s, host_slice(s1, l1, "attention")?, host_slice(s2, l2, "attention")?, host_slice(s3, l3, "attention")?, keep);
            if let Some(kept) = kept {
                *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(kept));
            }
            <T as candle_core::WithDType>::to_cpu_storage_owned(out)
        });
        Ok((out, l1.shape().clone()))
    }

    fn bwd(&self, q: &Tensor, k: &Tensor, v: &Tensor, _out: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let s = self.shape(q.dims(), k.dims(), v.dims())?;
        let g = grad.contiguous()?;
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).take();
        crate::sd::profile::span("attention backward (fused)", q.device(), || by_dtype!(q.dtype(), T => {
            let kept = kept.and_then(|k| k.downcast::<Kept<T>>().ok());
            let run = |q: &[T], k: &[T], v: &[T], g: &[T]| backward::<T>(&s, q, k, v, g, kept.as_deref());
            let (dq, dk, dv) = with_host(q, |q| with_host(k, |k| with_host(v, |v| with_host(&g, |g| run(q, k, v, g)))))????;
            let dev = q.device();
            Ok((Some(Tensor::from_vec(dq, q.shape(), dev)?), Some(Tensor::from_vec(dk, k.shape(), dev)?), Some(Tensor::from_vec(dv, v.shape(), dev)?)))
        }))
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
        // 300 queries make two row blocks (256 + 44), so block seams are covered too.
        // 2 heads of 24 channels go through gemm; heads of 4, 16 and 1 through the small-head path.
        // 45 keys = four 8-lane chunks scored together, one alone and a tail of 5.
        let cases = [(6, true, 48, 2, 5), (6, false, 48, 2, 5), (300, true, 48, 2, 5), (300, false, 48, 2, 5), (6, true, 24, 6, 5), (300, false, 24, 6, 5)];
        for (n, keep, c, heads, m) in cases.into_iter().chain([(300, true, 24, 6, 5), (300, true, 32, 2, 5), (6, false, 3, 3, 5), (40, true, 24, 6, 45), (40, false, 32, 2, 45)]) {
            let (q, k, v) = (randn(&[2, n, c], 1), randn(&[2, m, c], 2), randn(&[2, m, c], 3));
            let op = || Attention::new(heads, 0.4, keep);
            let ours = q.apply_op3(&k, &v, op()).unwrap();
            let diff = (ours - reference(&q, &k, &v, heads, 0.4)).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(diff < 1e-12, "{diff}");
            let w = randn(&[2, n, c], 4);
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
            assert!((fd - an).abs() < 1e-7 * (1.0 + fd.abs()), "n {n} keep {keep} {heads} heads: fd {fd} vs {an}");
        }
    }
}
