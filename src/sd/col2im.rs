//! A convolution's input gradient as one gemm and a col2im (the inverse of im2col, summing
//! overlaps): candle's transposed conv is a direct loop, and a flipped-kernel conv needs a
//! flipped weight copy (host-built indices) and ~8 launches a call on a GPU. The UNet on the CPU
//! has its own conv kernels (`cpu::conv`); this serves the GPU (the CPU copy is for the tests).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};

/// `cols [B, c·k·k, ho·wo]` → `x [B, c, h, w]`; row `c·k·k + ky·k + kx` of `cols` holds what tap
/// (ky, kx) of channel c contributes at each output pixel.
#[derive(Clone, Copy, Debug)]
pub struct Col2Im {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Col2Im {
    fn batch(&self, l: &Layout) -> Result<usize> {
        let per = self.c * self.k * self.k * self.ho * self.wo;
        let n = l.shape().elem_count();
        if per == 0 || !n.is_multiple_of(per) {
            candle_core::bail!("col2im: {n} elements are not whole [{}·{}², {}·{}] column blocks", self.c, self.k, self.ho, self.wo);
        }
        Ok(n / per)
    }

    fn out_shape(&self, b: usize) -> Shape {
        Shape::from((b, self.c, self.h, self.w))
    }

    /// The output pixel a tap reads for input coordinate `p` (None where the tap misses it).
    fn source(&self, p: usize, kk: usize, out_len: usize) -> Option<usize> {
        let t = (p + self.pad).checked_sub(kk)?;
        (t % self.stride == 0 && t / self.stride < out_len).then_some(t / self.stride)
    }

    fn host<T: WithDType>(&self, cols: &[T], b: usize) -> Vec<T> {
        let (hw_out, k) = (self.ho * self.wo, self.k);
        let mut x = vec![T::zero(); b * self.c * self.h * self.w];
        for (i, v) in x.iter_mut().enumerate() {
            let (px, py, bc) = (i % self.w, (i / self.w) % self.h, i / (self.w * self.h));
            let base = &cols[bc * k * k * hw_out..];
            let mut acc = T::zero();
            for ky in 0..k {
                let Some(oy) = self.source(py, ky, self.ho) else { continue };
                for kx in 0..k {
                    let Some(ox) = self.source(px, kx, self.wo) else { continue };
                    acc += base[(ky * k + kx) * hw_out + oy * self.wo + ox];
                }
            }
            *v = acc;
        }
        x
    }
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let b = self.batch(l)?;
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.host(super::cpu::host_slice::<f32>(s, l, "col2im")?, b)),
            CpuStorage::F64(_) => CpuStorage::F64(self.host(super::cpu::host_slice::<f64>(s, l, "col2im")?, b)),
            _ => candle_core::bail!("col2im supports f32 and f64"),
        };
        Ok((out, self.out_shape(b)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, s: &candle_core::CudaStorage, l: &Layout) -> Result<(candle_core::CudaStorage, Shape)> {
        let b = self.batch(l)?;
        Ok((super::cuda::col2im(s, l, self, b)?, self.out_shape(b)))
    }
}

/// Whether [`Col2Im`] runs on `t`'s device and dtype (CPU: f32/f64, CUDA: f32).
pub fn runs_on(t: &Tensor) -> bool {
    use candle_core::DType::{F32, F64};
    match t.device() {
        candle_core::Device::Cpu => matches!(t.dtype(), F32 | F64),
        d if d.is_cuda() => cfg!(feature = "cuda") && t.dtype() == F32,
        _ => false,
    }
}

/// ∂x of a conv (weight `[c_out, c_in, k, k]`, no dilation or groups) for the output gradient
/// `grad [B, c_out, ho, wo]`, x being `[B, c_in, h, w]`: `Wᵀ·∂y` per image, then col2im.
pub fn conv_input_grad(grad: &Tensor, weight: &Tensor, stride: usize, pad: usize, (h, w): (usize, usize)) -> Result<Tensor> {
    let (c_out, c_in, k, _) = weight.dims4()?;
    let (b, _, ho, wo) = grad.dims4()?;
    let wt = weight.reshape((c_out, c_in * k * k))?.t()?;
    let g = grad.contiguous()?.reshape((b, c_out, ho * wo))?;
    let cols = Tensor::stack(&(0..b).map(|i| wt.matmul(&g.get(i)?)).collect::<Result<Vec<_>>>()?, 0)?;
    cols.apply_op1_no_bwd(&Col2Im { c: c_in, h, w, ho, wo, k, stride, pad })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd::rng::Rng;
    use candle_core::{DType, Device};

    /// Against candle's own conv gradient (autograd through conv2d), strided, padded and odd sizes.
    #[test]
    fn equals_the_conv_gradient() {
        let randn = |shape: &[usize], seed| Rng::new(seed).randn(shape, 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
        for (stride, pad, k, side) in [(1, 1, 3, 6), (1, 0, 1, 5), (2, 1, 3, 6), (2, 1, 3, 7), (3, 0, 3, 8)] {
            let (w, x) = (randn(&[3, 2, k, k], 1), randn(&[2, 2, side, side], 2));
            let var = candle_core::Var::from_tensor(&x).unwrap();
            let y = var.as_tensor().conv2d(&w, pad, stride, 1, 1).unwrap();
            let dy = randn(y.dims(), 3);
            let want = (y * &dy).unwrap().sum_all().unwrap().backward().unwrap().get(var.as_tensor()).unwrap().clone();
            let got = conv_input_grad(&dy, &w, stride, pad, (side, side)).unwrap();
            let err = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(err < 1e-12, "stride {stride} pad {pad} k {k} side {side}: {err}");
        }
    }
}
