//! Row softmax with an exp the compiler can vectorise.
//!
//! libm's `expf` is a scalar call per element; SD's attention maps hold up to 8·4096² scores per
//! layer, so softmax dominated the CPU attention. `exp_f32` is range reduction by ln 2 plus a
//! degree-7 polynomial (≤ 2 ulp on the softmax range), written without branches or calls.

use super::gemm::Real;

const LANES: usize = 8;

/// e^x for f32, NaN-preserving; inputs below −87.3 give ~1e-38 instead of a denormal.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Rounds to the nearest integer in plain SSE2 (no `roundps` call needed).
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -87.3 { -87.3 } else { x };
    let x = if x > 88.3 { 88.3 } else { x };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Taylor coefficients of e^r on |r| ≤ ln2/2: the truncation error is below 2e-8.
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // t's low mantissa bits hold n (|n| ≤ 127): shifting n + 127 into the exponent field gives
    // 2^n with integer ops only (a float → int cast would not vectorise).
    p * f32::from_bits(t.to_bits().wrapping_add(127) << 23)
}

/// Element types with a fast in-place exp.
pub trait FastExp: Real {
    fn exp_in_place(xs: &mut [Self]);
}

impl FastExp for f32 {
    #[inline(always)]
    fn exp_in_place(xs: &mut [f32]) {
        xs.iter_mut().for_each(|v| *v = exp_f32(*v));
    }
}

impl FastExp for f64 {
    #[inline(always)]
    fn exp_in_place(xs: &mut [f64]) {
        xs.iter_mut().for_each(|v| *v = v.exp());
    }
}

/// The largest element, in lanes so that it vectorises (NaN-free input assumed; a NaN row
/// stays NaN through the exp anyway).
#[inline(always)]
fn row_max<T: Real>(row: &[T]) -> T {
    let mut lanes = [T::neg_infinity(); LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let tail = chunks.remainder().iter().fold(T::neg_infinity(), |m, &v| if v > m { v } else { m });
    lanes.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

#[inline(always)]
fn row_sum<T: Real>(row: &[T]) -> f64 {
    let mut lanes = [T::zero(); LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (s, &v) in lanes.iter_mut().zip(c) {
            *s = *s + v;
        }
    }
    lanes.iter().chain(chunks.remainder()).map(|v| v.wide()).sum()
}

/// `row ← softmax(scale·row)` (scale > 0).
#[inline(always)]
fn softmax_body<T: FastExp>(row: &mut [T], scale: T) {
    let shift = row_max(row) * scale;
    row.iter_mut().for_each(|v| *v = *v * scale - shift);
    T::exp_in_place(row);
    let inv = T::narrow(1.0 / row_sum(row));
    row.iter_mut().for_each(|v| *v = *v * inv);
}

/// The same code compiled for AVX2 + FMA (8 lanes instead of SSE2's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_avx2<T: FastExp>(row: &mut [T], scale: T) {
    softmax_body(row, scale)
}

/// `row ← softmax(scale·row)` (scale > 0), on the widest vectors the CPU has.
pub fn softmax_row<T: FastExp>(row: &mut [T], scale: T) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU was just checked to have the features the function is compiled for.
        return unsafe { softmax_avx2(row, scale) };
    }
    softmax_body(row, scale)
}

#[inline(always)]
fn row_dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    let mut lanes = [T::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x.wide() * y.wide()).sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &u), &v) in lanes.iter_mut().zip(x).zip(y) {
            *s = *s + u * v;
        }
    }
    tail + lanes.iter().map(|v| v.wide()).sum::<f64>()
}

#[inline(always)]
fn softmax_back_body<T: Real>(g: &mut [T], p: &[T], scale: T) {
    let dot = T::narrow(row_dot(g, p));
    g.iter_mut().zip(p).for_each(|(x, &pv)| *x = scale * pv * (*x - dot));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_back_avx2<T: Real>(g: &mut [T], p: &[T], scale: T) {
    softmax_back_body(g, p, scale)
}

/// `g ← scale·p∘(g − Σ g·p)`: the gradient of the scores from that of the probabilities `p`.
pub fn softmax_back_row<T: Real>(g: &mut [T], p: &[T], scale: T) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU was just checked to have the features the function is compiled for.
        return unsafe { softmax_back_avx2(g, p, scale) };
    }
    softmax_back_body(g, p, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_where_softmax_uses_it() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 87.0 * i as f32 / 200_000.0 + if i % 2 == 0 { 0.0 } else { 1e-4 };
            let want = (x as f64).exp();
            worst = worst.max(((exp_f32(x) as f64) - want).abs() / want);
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
    }

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
