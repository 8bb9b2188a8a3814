//! Group/layer norm (optionally followed by SiLU) and its input gradient, one row at a time,
//! written so that the compiler vectorises them (statistics accumulate in f64).

use super::gemm::Real;
use super::for_rows;
use super::simd::{vectorised, FastExp, Kernel};
use std::sync::Arc;

/// Rows are normalised independently; element `pos` of row `r` uses affine channel
/// `(r % groups)·channels_per_group + pos / chunk`.
#[derive(Clone, Debug)]
pub struct NormSpec {
    pub groups: usize,
    pub channels_per_group: usize,
    pub chunk: usize,
    pub eps: f64,
    pub affine: Arc<Affine>,
    pub silu: bool,
}

/// The per-channel scale and shift in both host precisions, and as the model's tensors (on its
/// device, where the GPU kernels read them).
#[derive(Debug)]
pub struct Affine {
    pub weight: (Vec<f32>, Vec<f64>),
    pub bias: (Vec<f32>, Vec<f64>),
    pub tensors: (candle_core::Tensor, candle_core::Tensor),
}

impl Affine {
    pub fn new(weight: &candle_core::Tensor, bias: &candle_core::Tensor) -> candle_core::Result<Self> {
        let host = |t: &candle_core::Tensor| -> candle_core::Result<(Vec<f32>, Vec<f64>)> {
            let wide = t.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
            Ok((wide.iter().map(|&x| x as f32).collect(), wide))
        };
        Ok(Self { weight: host(weight)?, bias: host(bias)?, tensors: (weight.clone(), bias.clone()) })
    }
}

/// Element types the norm runs in: picks its own copy of the affine parameters.
pub trait NormReal: FastExp {
    fn pick(pair: &(Vec<f32>, Vec<f64>)) -> &[Self];
}

impl NormReal for f32 {
    fn pick(pair: &(Vec<f32>, Vec<f64>)) -> &[f32] {
        &pair.0
    }
}

impl NormReal for f64 {
    fn pick(pair: &(Vec<f32>, Vec<f64>)) -> &[f64] {
        &pair.1
    }
}

/// (mean, 1/√(var + eps)) of one row, in f64.
#[inline(always)]
fn stats<T: Real>(x: &[T], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mut lanes = [0f64; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for (s, v) in lanes.iter_mut().zip(c) {
            *s += v.wide();
        }
    }
    let mean = (lanes.iter().sum::<f64>() + chunks.remainder().iter().map(|v| v.wide()).sum::<f64>()) / n;
    let mut lanes = [0f64; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for (s, v) in lanes.iter_mut().zip(c) {
            *s += (v.wide() - mean) * (v.wide() - mean);
        }
    }
    let var = (lanes.iter().sum::<f64>() + chunks.remainder().iter().map(|v| (v.wide() - mean).powi(2)).sum::<f64>()) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

#[inline(always)]
fn sigmoid<T: FastExp>(n: T) -> T {
    T::one() / (T::one() + (-n).exp_fast())
}

/// The affine weight and bias of row `r`'s channels.
#[inline(always)]
fn affine<T: NormReal>(spec: &NormSpec, r: usize) -> (&[T], &[T]) {
    let base = (r % spec.groups) * spec.channels_per_group;
    let range = base..base + spec.channels_per_group;
    (&T::pick(&spec.affine.weight)[range.clone()], &T::pick(&spec.affine.bias)[range])
}

struct ForwardRow<'a, T> {
    spec: &'a NormSpec,
    r: usize,
    x: &'a [T],
    out: &'a mut [T],
}

impl<T: NormReal> Kernel for ForwardRow<'_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let (mean, rstd) = stats(self.x, self.spec.eps);
        let (mean, rstd, silu) = (T::narrow(mean), T::narrow(rstd), self.spec.silu);
        let (w, b) = affine::<T>(self.spec, self.r);
        if self.spec.chunk == 1 {
            // Layer norm: one channel per element.
            for (((o, &v), &w), &b) in self.out.iter_mut().zip(self.x).zip(w).zip(b) {
                let n = (v - mean) * rstd * w + b;
                *o = if silu { n * sigmoid(n) } else { n };
            }
            return;
        }
        for (((or, xr), &w), &b) in self.out.chunks_mut(self.spec.chunk).zip(self.x.chunks(self.spec.chunk)).zip(w).zip(b) {
            let (a, shift) = (w * rstd, b - mean * w * rstd);
            for (o, &v) in or.iter_mut().zip(xr) {
                let n = v * a + shift;
                *o = if silu { n * sigmoid(n) } else { n };
            }
        }
    }
}

struct BackwardRow<'a, T> {
    spec: &'a NormSpec,
    r: usize,
    x: &'a [T],
    dy: &'a [T],
    out: &'a mut [T],
}

impl<T: NormReal> Kernel for BackwardRow<'_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let (mean, rstd) = stats(self.x, self.spec.eps);
        let (mean_t, rstd_t, silu) = (T::narrow(mean), T::narrow(rstd), self.spec.silu);
        let (w, b) = affine::<T>(self.spec, self.r);
        let chunk = self.spec.chunk;
        // Pass 1: out ← ∂/∂x̂ (through the affine map and the optional SiLU); the two means.
        let d_of = |v: T, g: T, w: T, b: T| {
            let xhat = (v - mean_t) * rstd_t;
            let mut d = g;
            if silu {
                let n = xhat * w + b;
                let s = sigmoid(n);
                d = d * s * (T::one() + n * (T::one() - s));
            }
            (d * w, xhat)
        };
        let (mut m1, mut m2) = (0f64, 0f64);
        if chunk == 1 {
            let (mut s1, mut s2) = ([T::zero(); 8], [T::zero(); 8]);
            for (i, (((o, &v), &g), (&w, &b))) in self.out.iter_mut().zip(self.x).zip(self.dy).zip(w.iter().zip(b)).enumerate() {
                let (d, xhat) = d_of(v, g, w, b);
                *o = d;
                s1[i % 8] += d;
                s2[i % 8] += d * xhat;
            }
            m1 = s1.iter().map(|v| v.wide()).sum();
            m2 = s2.iter().map(|v| v.wide()).sum();
        } else {
            let groups = self.out.chunks_mut(chunk).zip(self.x.chunks(chunk)).zip(self.dy.chunks(chunk));
            for (((or, xr), gr), (&w, &b)) in groups.zip(w.iter().zip(b)) {
                let (mut s1, mut s2) = ([T::zero(); 8], [T::zero(); 8]);
                for (i, ((o, &v), &g)) in or.iter_mut().zip(xr).zip(gr).enumerate() {
                    let (d, xhat) = d_of(v, g, w, b);
                    *o = d;
                    s1[i % 8] += d;
                    s2[i % 8] += d * xhat;
                }
                m1 += s1.iter().map(|v| v.wide()).sum::<f64>();
                m2 += s2.iter().map(|v| v.wide()).sum::<f64>();
            }
        }
        let len = self.x.len() as f64;
        let (m1, m2) = (T::narrow(m1 / len), T::narrow(m2 / len));
        // Pass 2: ∂x = rstd·(d − m1 − x̂·m2).
        for (o, &v) in self.out.iter_mut().zip(self.x) {
            let xhat = (v - mean_t) * rstd_t;
            *o = rstd_t * (*o - m1 - xhat * m2);
        }
    }
}

impl NormSpec {
    pub fn row_len(&self) -> usize {
        self.channels_per_group * self.chunk
    }

    /// How many rows `n` elements make (an error unless whole rows).
    pub fn rows(&self, n: usize) -> candle_core::Result<usize> {
        let len = self.row_len();
        if len == 0 || !n.is_multiple_of(len) {
            candle_core::bail!("fused norm: {n} elements are not whole rows of {len}");
        }
        Ok(n / len)
    }

    pub fn forward<T: NormReal>(&self, x: &[T]) -> Vec<T> {
        let rl = self.row_len();
        let mut out = vec![T::zero(); x.len()];
        for_rows(&mut out, rl, |r, o| vectorised(ForwardRow { spec: self, r, x: &x[r * rl..(r + 1) * rl], out: o }));
        out
    }

    pub fn backward<T: NormReal>(&self, x: &[T], dy: &[T]) -> Vec<T> {
        let rl = self.row_len();
        let mut out = vec![T::zero(); x.len()];
        for_rows(&mut out, rl, |r, o| vectorised(BackwardRow { spec: self, r, x: &x[r * rl..(r + 1) * rl], dy: &dy[r * rl..(r + 1) * rl], out: o }));
        out
    }
}
