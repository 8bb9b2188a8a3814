//! 2-D convolution on the CPU: im2col + one gemm against the weight as it is stored, and an
//! input gradient of one gemm against the transposed view of that weight + col2im.
//!
//! candle's CPU conv repacks the whole weight on every call and gathers its patch matrix one
//! element at a time; its input gradient needed a flipped copy of the weight per call (and a
//! direct loop for strided convs). Patch rows here are `(c_in, kh, kw)`, the weight's own order.

use super::gemm::{matmul, product, Real, Threads, View};
use super::{by_dtype, host_slice, with_host};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::ops::Range;

/// Patch matrices below this many elements are built (and summed back) on one thread.
const PAR_MIN: usize = 1 << 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub c_in: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvShape {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.padding - self.k) / self.stride + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.padding - self.k) / self.stride + 1
    }

    /// Length of one patch (rows of the patch matrix).
    fn patch(&self) -> usize {
        self.c_in * self.k * self.k
    }

    /// A 1×1 stride-1 unpadded conv: the input already is its patch matrix.
    fn pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.padding == 0
    }
}

/// Output positions `o` whose input position `o·stride + kk − padding` lies in `0..size`.
fn valid(out: usize, size: usize, stride: usize, kk: usize, padding: usize) -> Range<usize> {
    let lo = if padding > kk { (padding - kk).div_ceil(stride) } else { 0 };
    let hi = if size + padding > kk { ((size + padding - kk - 1) / stride + 1).min(out) } else { 0 };
    lo..hi.max(lo)
}

/// Visits every (patch row of channel `c`, output row, input row) once: `f(row_index_in_channel,
/// oy, iy, ox_range, ix_of_first)`. Positions that fall in the padding are never visited.
fn for_taps(s: &ConvShape, mut f: impl FnMut(usize, usize, usize, Range<usize>, usize)) {
    let (oh, ow) = (s.out_h(), s.out_w());
    for kh in 0..s.k {
        for kw in 0..s.k {
            let xs = valid(ow, s.w, s.stride, kw, s.padding);
            if xs.is_empty() {
                continue;
            }
            let ix0 = xs.start * s.stride + kw - s.padding;
            for oy in valid(oh, s.h, s.stride, kh, s.padding) {
                f(kh * s.k + kw, oy, oy * s.stride + kh - s.padding, xs.clone(), ix0);
            }
        }
    }
}

/// Splits `out` into per-channel chunks and runs `f(channel, chunk)`, in parallel when the
/// patch matrix read or written (`cols` elements) is big.
fn per_channel<T: Real>(out: &mut [T], chunk: usize, cols: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if cols >= PAR_MIN {
        out.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| f(c, o));
    } else {
        out.chunks_mut(chunk).enumerate().for_each(|(c, o)| f(c, o));
    }
}

/// `x` `[c_in, h, w]` → patch matrix `[c_in·k·k, oh·ow]`. Padding entries are left untouched
/// (zero in a fresh buffer, and the same entries are skipped on every call).
fn im2col<T: Real>(x: &[T], s: &ConvShape, cols: &mut [T]) {
    let n = s.out_h() * s.out_w();
    let ow = s.out_w();
    per_channel(cols, s.k * s.k * n, cols.len(), |c, block| {
        let plane = &x[c * s.h * s.w..(c + 1) * s.h * s.w];
        for_taps(s, |r, oy, iy, xs, ix0| {
            let src = &plane[iy * s.w..(iy + 1) * s.w];
            let dst = &mut block[r * n + oy * ow..r * n + (oy + 1) * ow];
            if s.stride == 1 {
                dst[xs.clone()].copy_from_slice(&src[ix0..ix0 + xs.len()]);
            } else {
                for (j, ox) in xs.enumerate() {
                    dst[ox] = src[ix0 + j * s.stride];
                }
            }
        });
    });
}

/// Adds patch-matrix gradients back onto the input positions they were read from.
fn col2im<T: Real>(cols: &[T], s: &ConvShape, dx: &mut [T]) {
    let n = s.out_h() * s.out_w();
    let ow = s.out_w();
    per_channel(dx, s.h * s.w, cols.len(), |c, plane| {
        let block = &cols[c * s.k * s.k * n..(c + 1) * s.k * s.k * n];
        for_taps(s, |r, oy, iy, xs, ix0| {
            let src = &block[r * n + oy * ow..r * n + (oy + 1) * ow];
            let dst = &mut plane[iy * s.w..(iy + 1) * s.w];
            for (j, ox) in xs.enumerate() {
                dst[ix0 + j * s.stride] += src[ox];
            }
        });
    });
}

/// `x` `[batch, c_in, h, w]`, weight `[c_out, c_in, k, k]`, bias `[c_out]` → `[batch, c_out, oh, ow]`.
pub fn forward<T: Real>(x: &[T], batch: usize, weight: &[T], bias: &[T], s: &ConvShape) -> Vec<T> {
    let n = s.out_h() * s.out_w();
    let (plane_in, plane_out) = (s.c_in * s.h * s.w, s.c_out * n);
    let mut out = vec![T::zero(); batch * plane_out];
    let mut cols = if s.pointwise() { Vec::new() } else { vec![T::zero(); s.patch() * n] };
    for b in 0..batch {
        let xb = &x[b * plane_in..(b + 1) * plane_in];
        let ob = &mut out[b * plane_out..(b + 1) * plane_out];
        for (row, &v) in ob.chunks_mut(n).zip(bias) {
            row.fill(v);
        }
        let src = if s.pointwise() {
            xb
        } else {
            im2col(xb, s, &mut cols);
            &cols
        };
        matmul(ob, View::dense(s.c_out, n), true, weight, View::dense(s.c_out, s.patch()), src, View::dense(s.patch(), n), Threads::Pool);
    }
    out
}

/// ∂loss/∂x from ∂loss/∂y `[batch, c_out, oh, ow]`.
pub fn input_grad<T: Real>(g: &[T], batch: usize, weight: &[T], s: &ConvShape) -> Vec<T> {
    let n = s.out_h() * s.out_w();
    let (plane_in, plane_out) = (s.c_in * s.h * s.w, s.c_out * n);
    let mut dx = vec![T::zero(); batch * plane_in];
    let wt = View::dense(s.c_out, s.patch()).t();
    for b in 0..batch {
        let gb = &g[b * plane_out..(b + 1) * plane_out];
        let dxb = &mut dx[b * plane_in..(b + 1) * plane_in];
        if s.pointwise() {
            matmul(dxb, View::dense(s.c_in, n), false, weight, wt, gb, View::dense(s.c_out, n), Threads::Pool);
        } else {
            let dcols = product(weight, wt, gb, View::dense(s.c_out, n), Threads::Pool);
            col2im(&dcols, s, dxb);
        }
    }
    dx
}

/// The convolution as one candle op on the CPU; its backward gives the input gradient only.
pub struct Conv {
    pub weight: Tensor,
    /// `[c_out]`, contiguous.
    pub bias: Tensor,
    pub stride: usize,
    pub padding: usize,
}

impl Conv {
    fn shape(&self, dims: &[usize]) -> Result<(usize, ConvShape)> {
        let (c_out, c_in, k, k2) = self.weight.dims4()?;
        let &[b, c, h, w] = dims else { candle_core::bail!("conv input must be [B, C, H, W], got {dims:?}") };
        if c != c_in || k != k2 || h + 2 * self.padding < k || w + 2 * self.padding < k {
            candle_core::bail!("conv input {dims:?} does not fit weight {:?} (padding {})", self.weight.dims(), self.padding);
        }
        Ok((b, ConvShape { c_in, c_out, k, stride: self.stride, padding: self.padding, h, w }))
    }
}

impl CustomOp1 for Conv {
    fn name(&self) -> &'static str {
        "pivot-conv2d"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, s) = self.shape(l.dims())?;
        let out = by_dtype!(st.dtype(), T => {
            let x = host_slice::<T>(st, l, "conv")?;
            let y = with_host(&self.weight, |w| with_host(&self.bias, |bias| forward::<T>(x, b, w, bias, &s)))??;
            <T as candle_core::WithDType>::to_cpu_storage_owned(y)
        });
        Ok((out, Shape::from((b, s.c_out, s.out_h(), s.out_w()))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (b, s) = self.shape(x.dims())?;
        let g = grad.contiguous()?;
        let dx = crate::sd::profile::span("conv input gradient", x.device(), || Ok(by_dtype!(x.dtype(), T => {
            Tensor::from_vec(with_host(&g, |g| with_host(&self.weight, |w| input_grad::<T>(g, b, w, &s)))??, x.shape(), x.device())?
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

    fn op(w: &Tensor, bias: &Tensor, stride: usize, padding: usize) -> Conv {
        Conv { weight: w.clone(), bias: bias.clone(), stride, padding }
    }

    const CASES: [(usize, usize, usize, usize, usize); 6] = [(1, 1, 3, 6, 5), (1, 0, 1, 5, 5), (2, 1, 3, 6, 6), (2, 1, 3, 7, 5), (1, 0, 3, 4, 6), (3, 2, 3, 8, 7)];

    #[test]
    fn forward_is_candles_convolution() {
        for (stride, padding, k, h, w) in CASES {
            let x = randn(&[2, 3, h, w], 1);
            let wt = randn(&[4, 3, k, k], 2);
            let bias = randn(&[4], 3);
            let ours = x.apply_op1(op(&wt, &bias, stride, padding)).unwrap();
            let want = x.conv2d(&wt, padding, stride, 1, 1).unwrap().broadcast_add(&bias.reshape((1, 4, 1, 1)).unwrap()).unwrap();
            let diff = (ours - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(diff < 1e-12, "stride {stride} padding {padding} k {k}: {diff}");
        }
    }

    #[test]
    fn input_gradient_matches_finite_differences() {
        for (stride, padding, k, h, w) in CASES {
            let wt = randn(&[4, 3, k, k], 2);
            let bias = randn(&[4], 3);
            let x = randn(&[2, 3, h, w], 4);
            let var = Var::from_tensor(&x).unwrap();
            let out_shape = x.apply_op1(op(&wt, &bias, stride, padding)).unwrap().shape().clone();
            let weights = randn(out_shape.dims(), 5);
            let loss = |x: &Tensor| (x.apply_op1(op(&wt, &bias, stride, padding)).unwrap() * &weights).unwrap().sum_all().unwrap();
            let g = loss(var.as_tensor()).backward().unwrap().get(var.as_tensor()).unwrap().clone();
            let d = randn(x.dims(), 6);
            let h_ = 1e-5;
            let at = |e: f64| loss(&(&x + (&d * e).unwrap()).unwrap()).to_scalar::<f64>().unwrap();
            let fd = (at(h_) - at(-h_)) / (2.0 * h_);
            let an = (&g * &d).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
            assert!((fd - an).abs() < 1e-7 * (1.0 + fd.abs()), "stride {stride} padding {padding} k {k}: fd {fd} vs {an}");
        }
    }
}
