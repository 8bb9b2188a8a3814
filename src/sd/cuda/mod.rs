//! Launchers for pivot's fused CUDA kernels (`kernels.cu`, compiled to PTX by build.rs). The
//! fused ops in `sd::fused` call these from their `cuda_fwd`, so on a GPU a norm, softmax or GEGLU
//! is one kernel forward and one backward, as on the CPU.

use super::col2im::Col2Im;
use super::cpu::norm::NormSpec;
use candle_core::cuda_backend::cudarc::driver::{CudaFunction, CudaSlice, CudaStream, CudaView, LaunchArgs, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use std::sync::Arc;
use candle_core::{CudaDevice, CudaStorage, Layout, Result, Storage, Tensor};

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/pivot_kernels.ptx"));
const MODULE: &str = "pivot_kernels";

/// Whether the fused kernels are used (`PIVOT_CUDA_FUSED=0` falls back to candle composites, for
/// comparisons).
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("PIVOT_CUDA_FUSED").map_or(true, |v| v != "0"))
}

fn view<'a>(s: &'a CudaStorage, l: &Layout, op: &str) -> Result<CudaView<'a, f32>> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op} needs a contiguous input");
    };
    Ok(s.as_cuda_slice::<f32>()?.slice(a..b))
}

/// One block per row; wide rows get more threads.
fn per_row(rows: usize, len: usize) -> Result<LaunchConfig> {
    let threads: u32 = match len {
        l if l >= 8192 => 1024,
        l if l >= 1024 => 256,
        l => l.div_ceil(32).clamp(1, 8) as u32 * 32,
    };
    let rows = u32::try_from(rows).map_err(|_| candle_core::Error::Msg(format!("{rows} rows are too many for one launch")))?;
    Ok(LaunchConfig { grid_dim: (rows, 1, 1), block_dim: (threads, 1, 1), shared_mem_bytes: 0 })
}

/// Grid-stride loops over `n` elements.
fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, 65_535) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

fn int(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| candle_core::Error::Msg(format!("{n} is too large for a CUDA kernel argument")))
}

/// Runs `f` on the storage of a parameter tensor that lives on the GPU.
fn with_param<R>(t: &Tensor, f: impl FnOnce(CudaView<'_, f32>) -> Result<R>) -> Result<R> {
    let (st, l) = t.storage_and_layout();
    let Storage::Cuda(c) = &*st else {
        candle_core::bail!("a fused CUDA kernel was given parameters on {:?}", t.device());
    };
    f(view(c, l, "norm parameters")?)
}

/// A kernel of this module and the device's stream it runs on.
struct Kernel(Arc<CudaStream>, CudaFunction);

fn kernel(dev: &CudaDevice, name: &str) -> Result<Kernel> {
    Ok(Kernel(dev.cuda_stream(), dev.get_or_load_custom_func(name, MODULE, PTX)?.into_cuda_function()))
}

/// Launches `func` on `(x, [∂y], out, tail…)`, the argument order of every kernel here.
fn launch<'a>(func: &'a Kernel, io: (&'a CudaView<'a, f32>, Option<&'a CudaView<'a, f32>>, &'a CudaSlice<f32>), cfg: LaunchConfig, tail: impl FnOnce(&mut LaunchArgs<'a>)) -> Result<()> {
    let mut a = func.0.launch_builder(&func.1);
    a.arg(io.0);
    if let Some(g) = io.1 {
        a.arg(g);
    }
    a.arg(io.2);
    tail(&mut a);
    unsafe { a.launch(cfg) }.w()?;
    Ok(())
}

/// Group/layer norm (with optional SiLU) forward; `dy` = Some(∂y) gives ∂x instead.
pub fn norm(x: &CudaStorage, xl: &Layout, dy: Option<(&CudaStorage, &Layout)>, spec: &NormSpec) -> Result<CudaStorage> {
    let (n, len) = (xl.shape().elem_count(), spec.row_len());
    let rows = spec.rows(n)?;
    let dev = x.device.clone();
    let xv = view(x, xl, "fused norm")?;
    let gv = dy.map(|(g, gl)| view(g, gl, "fused norm backward")).transpose()?;
    let out = unsafe { dev.alloc::<f32>(n)? };
    let sizes = [int(len)?, int(spec.groups)?, int(spec.channels_per_group)?, int(spec.chunk)?];
    let (eps, silu) = (spec.eps as f32, spec.silu as i32);
    let name = if gv.is_some() { "pivot_norm_bwd" } else { "pivot_norm_fwd" };
    with_param(&spec.affine.tensors.0, |w| {
        with_param(&spec.affine.tensors.1, |b| {
            let func = kernel(&dev, name)?;
            launch(&func, (&xv, gv.as_ref(), &out), per_row(rows, len)?, |a| {
                sizes.iter().for_each(|s| {
                    a.arg(s);
                });
                a.arg(&eps).arg(&silu).arg(&w).arg(&b);
            })
        })
    })?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}

/// Scaled softmax over the last dimension; `dy` = Some(∂y) (with `x` = the output y) gives ∂x.
pub fn softmax(x: &CudaStorage, xl: &Layout, dy: Option<(&CudaStorage, &Layout)>, scale: f64) -> Result<CudaStorage> {
    let len = *xl.dims().last().unwrap_or(&1);
    let n = xl.shape().elem_count();
    let dev = x.device.clone();
    let xv = view(x, xl, "fused softmax")?;
    let gv = dy.map(|(g, gl)| view(g, gl, "fused softmax backward")).transpose()?;
    let out = unsafe { dev.alloc::<f32>(n)? };
    let (len_i, scale) = (int(len)?, scale as f32);
    let name = if gv.is_some() { "pivot_softmax_bwd" } else { "pivot_softmax_fwd" };
    let func = kernel(&dev, name)?;
    launch(&func, (&xv, gv.as_ref(), &out), per_row(n / len.max(1), len)?, |a| {
        a.arg(&len_i).arg(&scale);
    })?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}

/// GEGLU over rows of `[a, gate]`; `dy` = Some(∂y) gives ∂x (x's shape) instead of y.
pub fn geglu(x: &CudaStorage, xl: &Layout, dy: Option<(&CudaStorage, &Layout)>) -> Result<CudaStorage> {
    let d2 = *xl.dims().last().unwrap_or(&0);
    let n = xl.shape().elem_count() / 2;
    let dev = x.device.clone();
    let xv = view(x, xl, "fused GEGLU")?;
    let gv = dy.map(|(g, gl)| view(g, gl, "fused GEGLU backward")).transpose()?;
    let out = unsafe { dev.alloc::<f32>(if gv.is_some() { 2 * n } else { n })? };
    let (n_i, half) = (n as i64, int(d2 / 2)?);
    let name = if gv.is_some() { "pivot_geglu_bwd" } else { "pivot_geglu_fwd" };
    let func = kernel(&dev, name)?;
    launch(&func, (&xv, gv.as_ref(), &out), elementwise(n), |a| {
        a.arg(&n_i).arg(&half);
    })?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}

/// col2im (see `sd::col2im`) of `b` images.
pub fn col2im(cols: &CudaStorage, l: &Layout, op: &Col2Im, b: usize) -> Result<CudaStorage> {
    let dev = cols.device.clone();
    let cv = view(cols, l, "col2im")?;
    let n = b * op.c * op.h * op.w;
    let out = unsafe { dev.alloc::<f32>(n)? };
    let sizes = [op.c, op.h, op.w, op.ho, op.wo, op.k, op.stride, op.pad].map(int).into_iter().collect::<Result<Vec<_>>>()?;
    let n_i = n as i64;
    let func = kernel(&dev, "pivot_col2im")?;
    launch(&func, (&cv, None, &out), elementwise(n), |a| {
        a.arg(&n_i);
        sizes.iter().for_each(|s| {
            a.arg(s);
        });
    })?;
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}
