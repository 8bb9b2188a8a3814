//! Attention products for heads of a few channels, without gemm calls.
//!
//! With d = 4 (SD-shaped tiny models: 8 heads over 32 channels) a gemm call is mostly packing
//! and set-up around a 4-long inner product. Here the keys and values of a head are transposed
//! once to `[d, m]`, so a score row is one pass over the keys, an output row d dot products,
//! and every inner loop runs over contiguous memory in the widest vectors the CPU has.

use super::gemm::{Real, View};
use super::simd::{lanes_of, lanes_of_mut, row_dot, vectorised, FastExp, Kernel, LANES};
use super::softmax::{softmax_back_row, softmax_with_max};

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
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
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

    /// `softmax(scale·Q·Kᵀ)·V` for the query rows `qv` of `q`: `[rows, d]`, with the probability
    /// rows (`[rows, m]`) when `keep`. Row by row, so a row's scores stay in L1 from QKᵀ to ·V.
    pub fn attend(&self, q: &[T], qv: View, scale: T, keep: bool) -> (Vec<T>, Option<Vec<T>>)
    where
        T: FastExp,
    {
        vectorised(Attend { head: self, q, qv, scale, keep })
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
            head.score_row(&head.query(q, qv, i), row);
        }
        out
    }
}

struct Attend<'a, T> {
    head: &'a SmallHead<T>,
    q: &'a [T],
    qv: View,
    scale: T,
    keep: bool,
}

impl<T: FastExp> Kernel for Attend<'_, T> {
    type Out = (Vec<T>, Option<Vec<T>>);
    #[inline(always)]
    fn run(self) -> Self::Out {
        let Attend { head, q, qv, scale, keep } = self;
        let (m, d) = (head.m, head.d);
        let mut out = vec![T::zero(); qv.rows * d];
        // Kept rows are appended once final, so the buffer is never zero-filled first.
        let mut kept = Vec::with_capacity(if keep { qv.rows * m } else { 0 });
        let mut row = vec![T::zero(); m];
        for (i, o) in out.chunks_mut(d).enumerate() {
            let max = head.score_row(&head.query(q, qv, i), &mut row);
            softmax_with_max(&mut row, scale, max);
            for (k, o) in o.iter_mut().enumerate() {
                *o = T::narrow(row_dot(&row, head.value(k)));
            }
            if keep {
                kept.extend_from_slice(&row);
            }
        }
        (out, keep.then_some(kept))
    }
}

impl<T: Real> SmallHead<T> {
    /// Query row `i` of the view `qv` of `q`, gathered (zero-padded past `d`).
    #[inline(always)]
    fn query(&self, q: &[T], qv: View, i: usize) -> [T; SMALL_D] {
        let mut qi = [T::zero(); SMALL_D];
        (0..self.d).for_each(|k| qi[k] = at(q, qv, i, k));
        qi
    }

    /// `row ← qi·Kᵀ` (the first `d` of `qi`) in one pass over the keys (the d products of an
    /// element summed in order, as `d` axpys would), returning the row's largest score.
    #[inline(always)]
    fn score_row(&self, qi: &[T; SMALL_D], row: &mut [T]) -> T {
        let (m, qi) = (self.m, &qi[..self.d]);
        let mut lanes = [T::neg_infinity(); LANES];
        let full = m - m % LANES;
        // Four chunks at a time: four independent add chains hide the adds' latency.
        let mut j0 = 0;
        while j0 + 4 * LANES <= full {
            self.score_chunks::<4>(qi, j0, row, &mut lanes);
            j0 += 4 * LANES;
        }
        while j0 < full {
            self.score_chunks::<1>(qi, j0, row, &mut lanes);
            j0 += LANES;
        }
        let mut max = T::neg_infinity();
        for (j, v) in row.iter_mut().enumerate().skip(full) {
            *v = qi.iter().enumerate().fold(T::zero(), |s, (k, &a)| s + a * self.kt[k * m + j]);
            max = if *v > max { *v } else { max };
        }
        lanes.iter().fold(max, |m, &v| if v > m { v } else { m })
    }

    /// Scores `j0..j0 + B·LANES` of a row into `row`, their lane-wise maximum into `max`.
    #[inline(always)]
    fn score_chunks<const B: usize>(&self, qi: &[T], j0: usize, row: &mut [T], max: &mut [T; LANES]) {
        let mut s = [[T::zero(); LANES]; B];
        for (k, &a) in qi.iter().enumerate() {
            let keys = &self.kt[k * self.m + j0..k * self.m + j0 + B * LANES];
            for (s, key) in s.iter_mut().zip(keys.chunks_exact(LANES)) {
                let key = lanes_of(key);
                for l in 0..LANES {
                    s[l] += a * key[l];
                }
            }
        }
        for (s, out) in s.iter().zip(row[j0..j0 + B * LANES].chunks_exact_mut(LANES)) {
            *lanes_of_mut(out) = *s;
            for l in 0..LANES {
                max[l] = if s[l] > max[l] { s[l] } else { max[l] };
            }
        }
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
