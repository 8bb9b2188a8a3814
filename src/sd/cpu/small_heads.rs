//! Attention products for heads of a few channels, without gemm calls.
//!
//! With d = 4 (SD-shaped tiny models: 8 heads over 32 channels) a gemm call is mostly packing
//! and set-up around a 4-long inner product. Here the keys and values of a head are transposed
//! once to `[d, m]`, so a score row is d axpys along the keys, an output row d dot products,
//! and every inner loop runs over contiguous memory in the widest vectors the CPU has.

use super::gemm::{Real, View};
use super::simd::{row_dot, vectorised, Kernel};
use super::softmax::softmax_back_row;

/// Heads up to this many channels take this path (SD1.5's smallest heads have 40).
pub const SMALL_D: usize = 16;

/// One head's keys and values, each transposed to `[d, m]`.
pub struct SmallHead<T> {
    kt: Vec<T>,
    vt: Vec<T>,
    m: usize,
    d: usize,
}

/// The `rows × cols` view of `x`, transposed into a dense `[cols, rows]` buffer.
fn transposed<T: Real>(x: &[T], v: View) -> Vec<T> {
    let mut t = Vec::with_capacity(v.rows * v.cols);
    for k in 0..v.cols {
        t.extend((0..v.rows).map(|j| x[v.offset + j * v.rs + k * v.cs]));
    }
    t
}

#[inline(always)]
fn axpy<T: Real>(y: &mut [T], a: T, x: &[T]) {
    y.iter_mut().zip(x).for_each(|(y, &x)| *y = *y + a * x);
}

/// Element (i, k) of a view.
#[inline(always)]
fn at<T: Real>(x: &[T], v: View, i: usize, k: usize) -> T {
    x[v.offset + i * v.rs + k * v.cs]
}

impl<T: Real> SmallHead<T> {
    /// `kv` views one head's `[m, d]` keys inside `k` and values inside `v`.
    pub fn new(k: &[T], v: &[T], kv: View) -> Self {
        Self { kt: transposed(k, kv), vt: transposed(v, kv), m: kv.rows, d: kv.cols }
    }

    fn key(&self, k: usize) -> &[T] {
        &self.kt[k * self.m..(k + 1) * self.m]
    }

    fn value(&self, k: usize) -> &[T] {
        &self.vt[k * self.m..(k + 1) * self.m]
    }

    /// `Q·Kᵀ` for the query rows `qv` of `q`: `[rows, m]`.
    pub fn scores(&self, q: &[T], qv: View) -> Vec<T> {
        vectorised(Scores { head: self, q, qv })
    }

    /// `P·V` for probability rows `p` (`[rows, m]`): `[rows, d]`.
    pub fn times_values(&self, p: &[T]) -> Vec<T> {
        vectorised(TimesValues { head: self, p })
    }

    /// The backward pass of one block of query rows: `p` their probabilities, `q` and `g` their
    /// queries and output gradients (same layout, both read through `rows`). Writes ∂Q of the
    /// rows into `dq` (`[rows, d]`) and adds their share of ∂K and ∂V into `dkt` and `dvt`
    /// (`[d, m]`, transposed).
    #[allow(clippy::too_many_arguments)] // the block's inputs and the three gradients it feeds
    pub fn backward(&self, p: &[T], q: &[T], g: &[T], rows: View, scale: T, dq: &mut [T], dkt: &mut [T], dvt: &mut [T]) {
        vectorised(Backward { head: self, p, q, g, rows, scale, dq, dkt, dvt })
    }

    /// A `[d, m]` gradient back in the head's `[m, d]` layout.
    pub fn untransposed(&self, xt: &[T]) -> Vec<T> {
        transposed(xt, View::dense(self.d, self.m))
    }
}

struct Scores<'a, T> {
    head: &'a SmallHead<T>,
    q: &'a [T],
    qv: View,
}

impl<T: Real> Kernel for Scores<'_, T> {
    type Out = Vec<T>;
    #[inline(always)]
    fn run(self) -> Vec<T> {
        let Scores { head, q, qv } = self;
        let mut out = vec![T::zero(); qv.rows * head.m];
        for (i, row) in out.chunks_mut(head.m).enumerate() {
            for k in 0..head.d {
                axpy(row, at(q, qv, i, k), head.key(k));
            }
        }
        out
    }
}

struct TimesValues<'a, T> {
    head: &'a SmallHead<T>,
    p: &'a [T],
}

impl<T: Real> Kernel for TimesValues<'_, T> {
    type Out = Vec<T>;
    #[inline(always)]
    fn run(self) -> Vec<T> {
        let TimesValues { head, p } = self;
        // Plain loops: an iterator adaptor's `fold` (as in `extend(map(..))`) is compiled
        // outside the AVX2 copy, taking `row_dot` with it.
        let mut out = vec![T::zero(); p.len() / head.m * head.d];
        for (row, o) in p.chunks(head.m).zip(out.chunks_mut(head.d)) {
            for (k, o) in o.iter_mut().enumerate() {
                *o = T::narrow(row_dot(row, head.value(k)));
            }
        }
        out
    }
}

struct Backward<'a, T> {
    head: &'a SmallHead<T>,
    p: &'a [T],
    q: &'a [T],
    g: &'a [T],
    rows: View,
    scale: T,
    dq: &'a mut [T],
    dkt: &'a mut [T],
    dvt: &'a mut [T],
}

impl<T: Real> Kernel for Backward<'_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let Backward { head, p, q, g, rows, scale, dq, dkt, dvt } = self;
        let (m, d) = (head.m, head.d);
        let mut ds = vec![T::zero(); m];
        for (i, pr) in p.chunks(m).enumerate() {
            // ∂V += pᵢᵀ·gᵢ and ∂P = gᵢ·Vᵀ, one channel at a time.
            ds.iter_mut().for_each(|v| *v = T::zero());
            for k in 0..d {
                let gk = at(g, rows, i, k);
                axpy(&mut dvt[k * m..(k + 1) * m], gk, pr);
                axpy(&mut ds, gk, head.value(k));
            }
            softmax_back_row(&mut ds, pr, scale);
            // ∂Qᵢ = ∂Sᵢ·K and ∂K += ∂Sᵢᵀ·qᵢ.
            for k in 0..d {
                dq[i * d + k] = T::narrow(row_dot(&ds, head.key(k)));
                axpy(&mut dkt[k * m..(k + 1) * m], at(q, rows, i, k), &ds);
            }
        }
    }
}
