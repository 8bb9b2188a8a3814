//! Row softmax and its backward, vectorised (softmax dominated the CPU attention with libm's exp).

use super::gemm::Real;
use super::simd::{lanes_of_mut, reduce_wide, row_dot, row_max, vectorised, Kernel, LANES};
pub use super::simd::FastExp;

struct Forward<'a, T>(&'a mut [T], T);

impl<T: FastExp> Kernel for Forward<'_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let Forward(row, scale) = self;
        let max = row_max(row);
        softmax_with_max(row, scale, max);
    }
}

/// `row ← softmax(scale·row)` given the row's largest element, for kernels that found it
/// while writing the row. Inlined into the caller's vectorised kernel.
#[inline(always)]
pub fn softmax_with_max<T: FastExp>(row: &mut [T], scale: T, max: T) {
    let shift = max * scale;
    // Shift, exp and sum in one pass; the sum runs in LANES lanes, then in f64.
    let mut lanes = [T::zero(); LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        let c = lanes_of_mut(c);
        for l in 0..LANES {
            c[l] = (c[l] * scale - shift).exp_fast();
            lanes[l] += c[l];
        }
    }
    // The tail goes through the same vector code, padded (a row of 77 text tokens has 5).
    let tail = chunks.into_remainder();
    let mut pad = [T::zero(); LANES];
    pad[..tail.len()].copy_from_slice(tail);
    for v in &mut pad {
        *v = (*v * scale - shift).exp_fast();
    }
    tail.copy_from_slice(&pad[..tail.len()]);
    let mut sum = reduce_wide(lanes);
    for v in tail.iter() {
        sum += v.wide();
    }
    let inv = T::narrow(1.0 / sum);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `row ← softmax(scale·row)` (scale > 0), on the widest vectors the CPU has.
pub fn softmax_row<T: FastExp>(row: &mut [T], scale: T) {
    vectorised(Forward(row, scale))
}

struct Backward<'a, T>(&'a mut [T], &'a [T], T);

impl<T: Real> Kernel for Backward<'_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let Backward(g, p, scale) = self;
        let dot = T::narrow(row_dot(g, p));
        for (x, &pv) in g.iter_mut().zip(p) {
            *x = scale * pv * (*x - dot);
        }
    }
}

/// `g ← scale·p∘(g − Σ g·p)`: the gradient of the scores from that of the probabilities `p`.
pub fn softmax_back_row<T: Real>(g: &mut [T], p: &[T], scale: T) {
    vectorised(Backward(g, p, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
        let orig = row.clone();
        softmax_row(&mut row, 0.7);
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        let max = orig.iter().cloned().fold(f32::MIN, f32::max);
        let den: f64 = orig.iter().map(|&v| ((v - max) as f64 * 0.7).exp()).sum();
        for (p, &v) in row.iter().zip(&orig) {
            let want = ((v - max) as f64 * 0.7).exp() / den;
            assert!(((*p as f64) - want).abs() < 1e-6 * want.max(1e-3));
        }
    }
}
