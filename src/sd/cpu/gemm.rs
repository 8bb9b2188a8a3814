//! A checked, safe face of the `gemm` crate over strided views of host slices.

use gemm::Parallelism;

/// Element types the kernels run in (gemm panics on anything else, so nothing else gets here).
pub trait Real: candle_core::WithDType + num_traits::Float + Send + Sync + 'static {
    fn wide(self) -> f64 {
        <Self as candle_core::WithDType>::to_f64(self)
    }
    fn narrow(v: f64) -> Self {
        <Self as candle_core::WithDType>::from_f64(v)
    }
}
impl Real for f32 {}
impl Real for f64 {}

/// A matrix inside a slice: element (i, j) lives at `offset + i·rs + j·cs`.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl View {
    /// Row-major `rows × cols` starting at `offset`, consecutive rows `rs` apart.
    pub fn rows(offset: usize, rows: usize, cols: usize, rs: usize) -> Self {
        Self { offset, rows, cols, rs, cs: 1 }
    }

    /// A dense row-major matrix at the start of its slice.
    pub fn dense(rows: usize, cols: usize) -> Self {
        Self::rows(0, rows, cols, cols)
    }

    /// The same elements read as the transpose.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }

    fn fits(&self, len: usize) -> bool {
        self.rows == 0 || self.cols == 0 || self.offset + (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < len
    }
}

/// Whether one product is worth splitting across threads (a hand-off costs ~10 µs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Split big products across rayon's pool.
    Pool,
    /// Stay on this thread (the caller already runs products in parallel).
    One,
}

const PAR_MIN_MACS: usize = 1 << 23;

/// Products from this size up to `PAR_MIN_MACS` are split over the pool along their longer
/// side, one single-threaded gemm call per part: small models' convs and projections (a few
/// million multiply-adds each) were otherwise all single-threaded, a third of a tiny-UNet call.
/// Each element is summed over the inner dimension as in the whole product, so the values are
/// the same bits (tested).
const SPLIT_MIN_MACS: usize = 1 << 18;

/// Parts are a multiple of this many rows (gemm's register tile height).
const SPLIT_ROWS: usize = 16;

/// `dst = a·b` (or `dst += a·b` when `accumulate`), checked against the slices' lengths.
#[allow(clippy::too_many_arguments)] // a product is a destination and two operands, each with its view
pub fn matmul<T: Real>(dst: &mut [T], d: View, accumulate: bool, a: &[T], av: View, b: &[T], bv: View, threads: Threads) {
    assert!(d.fits(dst.len()), "matmul view out of bounds");
    // SAFETY: `d` lies inside `dst`, which is borrowed mutably (so it aliases neither input).
    unsafe { raw(dst.as_mut_ptr(), d, accumulate, a, av, b, bv, threads) }
}

/// `a·b` in a fresh dense `rows × cols` buffer, not zero-filled first: gemm writes every element.
pub fn product<T: Real>(a: &[T], av: View, b: &[T], bv: View, threads: Threads) -> Vec<T> {
    let d = View::dense(av.rows, bv.cols);
    let len = d.rows * d.cols;
    if av.cols == 0 || len == 0 {
        return vec![T::zero(); len];
    }
    let mut out = Vec::with_capacity(len);
    // SAFETY: the capacity holds `len` elements; gemm (read_dst = false) writes all of them
    // through the pointer before the length is set, and never reads them.
    unsafe {
        raw(out.as_mut_ptr(), d, false, a, av, b, bv, threads);
        out.set_len(len);
    }
    out
}

/// A destination pointer handed to the pool's threads, each writing its own rows.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: only used to write disjoint parts of one destination from scoped tasks.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// A method (not a field read) so closures capture the whole `Send` wrapper.
    fn get(self) -> *mut T {
        self.0
    }
}

/// # Safety
/// `dst` must be valid for writes (and reads when `accumulate`) at every element of `d`, and
/// must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)] // a product is a destination and two operands, each with its view
unsafe fn raw<T: Real>(dst: *mut T, d: View, accumulate: bool, a: &[T], av: View, b: &[T], bv: View, threads: Threads) {
    assert!(av.cols == bv.rows && d.rows == av.rows && d.cols == bv.cols, "matmul shapes {av:?} · {bv:?} → {d:?}");
    assert!(av.fits(a.len()) && bv.fits(b.len()), "matmul view out of bounds");
    if d.rows == 0 || d.cols == 0 {
        return;
    }
    if av.cols == 0 {
        if !accumulate {
            for i in 0..d.rows {
                for j in 0..d.cols {
                    *dst.add(d.offset + i * d.rs + j * d.cs) = T::zero();
                }
            }
        }
        return;
    }
    let macs = d.rows * d.cols * av.cols;
    let n = rayon::current_num_threads();
    let pool = threads == Threads::Pool && n > 1;
    let split = pool && (SPLIT_MIN_MACS..PAR_MIN_MACS).contains(&macs);
    if split && d.cols > d.rows && d.cols >= 2 * SPLIT_ROWS {
        // Split the longer side: as rows of Cᵀ = Bᵀ·Aᵀ, so each part packs only its share of
        // the big operand (a conv's patch matrix) rather than all of it.
        return raw(dst, d.t(), accumulate, b, bv.t(), a, av.t(), threads);
    }
    if split && d.rows >= 2 * SPLIT_ROWS {
        let part = d.rows.div_ceil(n).next_multiple_of(SPLIT_ROWS);
        let dst = SendPtr(dst);
        rayon::scope(|scope| {
            for r0 in (0..d.rows).step_by(part) {
                let len = part.min(d.rows - r0);
                let (dv, sub) = (View { offset: d.offset + r0 * d.rs, rows: len, ..d }, View { offset: av.offset + r0 * av.rs, rows: len, ..av });
                // SAFETY: the parts are disjoint row ranges of `d`, which the caller vouches for.
                scope.spawn(move |_| unsafe { raw(dst.get(), dv, accumulate, a, sub, b, bv, Threads::One) });
            }
        });
        return;
    }
    let par = if pool && macs >= PAR_MIN_MACS { Parallelism::Rayon(n) } else { Parallelism::None };
    let s = |v: usize| v as isize;
    gemm::gemm(
        d.rows,
        d.cols,
        av.cols,
        dst.add(d.offset),
        s(d.cs),
        s(d.rs),
        accumulate,
        a.as_ptr().add(av.offset),
        s(av.cs),
        s(av.rs),
        b.as_ptr().add(bv.offset),
        s(bv.cs),
        s(bv.rs),
        T::one(),
        T::one(),
        false,
        false,
        false,
        par,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_views_multiply_like_the_definition() {
        // a: 2×3 inside a row stride of 4; b read as the transpose of a 2×3 block.
        let a: Vec<f64> = (0..8).map(|v| v as f64 * 0.5 - 1.0).collect();
        let b: Vec<f64> = (0..6).map(|v| (v as f64).sin()).collect();
        let av = View::rows(0, 2, 3, 4);
        let bv = View::dense(2, 3).t();
        let mut out = vec![1.0; 4];
        matmul(&mut out, View::dense(2, 2), true, &a, av, &b, bv, Threads::Pool);
        for i in 0..2 {
            for j in 0..2 {
                let want: f64 = 1.0 + (0..3).map(|k| a[i * 4 + k] * b[j * 3 + k]).sum::<f64>();
                assert!((out[i * 2 + j] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn a_fresh_product_equals_the_zeroed_one() {
        let a: Vec<f32> = (0..12).map(|v| v as f32 * 0.25 - 1.0).collect();
        let b: Vec<f32> = (0..15).map(|v| (v as f32).cos()).collect();
        let mut want = vec![7f32; 4 * 5];
        matmul(&mut want, View::dense(4, 5), false, &a, View::dense(4, 3), &b, View::dense(3, 5), Threads::One);
        assert_eq!(product(&a, View::dense(4, 3), &b, View::dense(3, 5), Threads::One), want);
        assert_eq!(product(&a, View::dense(4, 0), &b, View::dense(0, 5), Threads::One), vec![0f32; 20]);
    }

    #[test]
    fn a_product_split_over_the_pool_equals_the_whole_one() {
        // 300×40·40×70 (840 k multiply-adds) is split by rows; strided operands as convs use.
        let a: Vec<f32> = (0..300 * 41).map(|v| ((v * 7919) % 1000) as f32 * 1e-3 - 0.5).collect();
        let b: Vec<f32> = (0..40 * 70).map(|v| ((v * 104729) % 997) as f32 * 1e-3 - 0.5).collect();
        let (av, bv) = (View::rows(1, 300, 40, 41), View::dense(70, 40).t());
        let whole = product(&a, av, &b, bv, Threads::One);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let split = pool.install(|| product(&a, av, &b, bv, Threads::Pool));
        assert!(whole == split, "a split product differs from the whole one");
        // 70×40·40×300 is wider than tall: split by columns (as rows of the transpose).
        let wide = |threads| product(&b, View::dense(70, 40), &a, av.t(), threads);
        assert!(wide(Threads::One) == pool.install(|| wide(Threads::Pool)), "a product split by columns differs");
        let mut acc = vec![0.25f32; 300 * 70];
        pool.install(|| matmul(&mut acc, View::dense(300, 70), true, &a, av, &b, bv, Threads::Pool));
        let want: Vec<f32> = whole.iter().map(|v| 0.25 + v).collect();
        assert!(acc.iter().zip(&want).all(|(x, y)| (x - y).abs() <= 1e-6), "accumulating split product");
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_view_past_its_slice_is_refused() {
        let a = vec![0f32; 5];
        let mut out = vec![0f32; 4];
        matmul(&mut out, View::dense(2, 2), false, &a, View::dense(2, 3), &a, View::dense(3, 2), Threads::One);
    }
}
