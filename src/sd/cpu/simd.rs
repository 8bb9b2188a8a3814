//! Vectorisable building blocks for the CPU kernels: a branch-free exp, lane-wise reductions,
//! and a switch that runs a kernel compiled for AVX2 + FMA when the CPU has them.
//!
//! libm's `expf`/`erf` are scalar calls per element; SD's attention maps hold up to 8·4096²
//! scores per layer. `exp_f32` is range reduction by ln 2 plus a degree-7 polynomial (≤ 2 ulp on
//! the softmax range), written without branches or calls so the compiler vectorises it.

use super::gemm::Real;

pub const LANES: usize = 8;

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

/// Element types with a fast exp.
pub trait FastExp: Real {
    fn exp_fast(self) -> Self;
}

impl FastExp for f32 {
    #[inline(always)]
    fn exp_fast(self) -> f32 {
        exp_f32(self)
    }
}

impl FastExp for f64 {
    #[inline(always)]
    fn exp_fast(self) -> f64 {
        self.exp()
    }
}

/// The largest element, in lanes so that it vectorises (NaN-free input assumed; a NaN row
/// stays NaN through the exp anyway).
#[inline(always)]
pub fn row_max<T: Real>(row: &[T]) -> T {
    let mut lanes = [T::neg_infinity(); LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        let c = lanes_of(c);
        for l in 0..LANES {
            lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
        }
    }
    let tail = chunks.remainder().iter().fold(T::neg_infinity(), |m, &v| if v > m { v } else { m });
    lanes.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

/// A `chunks_exact(LANES)` chunk as a fixed-length array. Kernels index lanes through these
/// (`for l in 0..LANES`): zipped slice iterators over chunks left lanes in memory and half the
/// adds scalar, where indexed arrays compile to one vector op per chunk.
#[inline(always)]
pub fn lanes_of<T>(c: &[T]) -> &[T; LANES] {
    c.try_into().expect("a chunk of LANES elements")
}

/// [`lanes_of`] for a mutable chunk.
#[inline(always)]
pub fn lanes_of_mut<T>(c: &mut [T]) -> &mut [T; LANES] {
    c.try_into().expect("a chunk of LANES elements")
}

#[inline(always)]
pub fn row_dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    let mut lanes = [T::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x.wide() * y.wide()).sum();
    for (x, y) in ca.zip(cb) {
        let (x, y) = (lanes_of(x), lanes_of(y));
        for l in 0..LANES {
            lanes[l] += x[l] * y[l];
        }
    }
    tail + reduce_wide(lanes)
}

/// Σ lanes in f64, in lane order: the end of every lane-wise sum. Through `black_box` so that
/// LLVM's SLP pass cannot split the lane array by this scalar reduction: it had made `row_dot`'s
/// loop 2 + 4 + 1 + 1 lanes wide.
#[inline(always)]
pub fn reduce_wide<T: Real>(lanes: [T; LANES]) -> f64 {
    std::hint::black_box(lanes).iter().map(|v| v.wide()).sum::<f64>()
}

/// A kernel body for [`vectorised`]. `run` and what it calls must be `#[inline(always)]` so
/// that they are compiled into the AVX2 copy (a closure is not reliably inlined there).
pub trait Kernel {
    type Out;
    fn run(self) -> Self::Out;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn on_avx2<K: Kernel>(k: K) -> K::Out {
    k.run()
}

/// Runs `k` compiled for AVX2 + FMA when the CPU has them (8 lanes instead of SSE2's 4).
#[inline(always)]
pub fn vectorised<K: Kernel>(k: K) -> K::Out {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU was just checked to have the features `on_avx2` is compiled for.
        return unsafe { on_avx2(k) };
    }
    k.run()
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

}
