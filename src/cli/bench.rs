//! `pivot bench …`: programs that print timing and peak-memory rows (never timed tests).

use super::device;
use anyhow::{bail, ensure, Result};
use candle_core::{DType, Tensor, Var};
use clap::{Args, Subcommand};
use pivot::sd::profile;
use pivot::sd::rng::Rng;
use pivot::sd::tiny::{sd15_unet_config, tiny_unet_config, RandomPart, RandomWeights};
use pivot::sd::unet::{NoHook, UNet};
use std::time::Instant;

/// Benchmarks run where they are told, never where config.toml's `device` points: rows from
/// different machines or settings compare like with like.
pub(super) const BENCH_DEVICE_HELP: &str = "auto, cpu, cuda[:N] or metal; auto is the GPU when pivot was built with one (config.toml's `device` is not used)";

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// UNet forward (and forward+backward w.r.t. the text embedding) with random weights.
    Unet(UnetArgs),
    /// One Prompt-to-Prompt edit (word swap, [source, target] with guidance) with random weights.
    Edit(EditBenchArgs),
    /// A whole inversion, stage by stage: load, encode, DDIM inversion, null-text / NPI, reconstruction.
    Invert(super::bench_invert::InvertBenchArgs),
    /// The dashboard: render time per frame and key-to-screen latency during a run.
    Tui,
}

/// A latent side of at least 1 (checked before the table starts).
pub(super) fn latent_side(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a latent side: a whole number of at least 1 (32 = 256² images, 64 = 512²)")),
    }
}

#[derive(Args, Debug)]
pub struct EditBenchArgs {
    /// Shape of the UNet: `sd15` or `tiny`.
    #[arg(long, default_value = "tiny")]
    pub config: String,
    /// Latent side (default: the shape's sample size).
    #[arg(long, value_parser = latent_side)]
    pub latent: Option<usize>,
    /// Sampling steps of the edit.
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// With proximal guidance (default settings, pulled back to a random trajectory).
    #[arg(long, value_parser = pivot::edit::prox::Shrink::NAMES)]
    pub prox: Option<String>,
    #[arg(long, default_value = "cpu", help = BENCH_DEVICE_HELP)]
    pub device: String,
}

#[derive(Args, Debug)]
pub struct UnetArgs {
    /// Shape of the UNet: `sd15` (860 M parameters) or `tiny`.
    #[arg(long, default_value = "sd15")]
    pub config: String,
    /// Latent side (32 = 256² images, 64 = 512²); several, comma-separated, share one model.
    #[arg(long, default_value = "32", value_delimiter = ',', value_parser = latent_side)]
    pub latent: Vec<usize>,
    /// Also measure forward+backward w.r.t. the 1×77×D embedding.
    #[arg(long)]
    pub backward: bool,
    /// Weights and activations: f32 (what inversion uses), f16, or bf16 (bf16 on CUDA only).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Timed runs per measurement (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    #[arg(long, default_value = "cpu", help = BENCH_DEVICE_HELP)]
    pub device: String,
    /// On a GPU: also run forward+backward once on the CPU and print how far the GPU's output
    /// and embedding gradient are from it.
    #[arg(long)]
    pub check: bool,
}

pub fn run(cmd: &BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Unet(a) => unet(a),
        BenchCommand::Invert(a) => super::bench_invert::invert(a),
        BenchCommand::Edit(a) => edit(a),
        BenchCommand::Tui => super::bench_tui::run(),
    }
}

/// Peak resident set size of this process since the last reset, in GiB (Linux; 0 elsewhere).
pub fn peak_rss_gib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1048576.0
}

/// Reset the peak-RSS mark to the current RSS (Linux `clear_refs` 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A named random-weight UNet shape and whether it gets the SD1 calibrations of `tiny`.
pub(super) fn unet_shape(name: &str) -> Result<(pivot::sd::config::UNetConfig, bool)> {
    match name {
        "sd15" => Ok((sd15_unet_config(), false)),
        "tiny" => Ok((tiny_unet_config(), true)),
        other => bail!("unknown UNet shape `{other}` (sd15 or tiny)"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Time `f` `repeat` times after a warm-up; returns (median s, min s, peak RSS GiB).
pub fn measure(repeat: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64, f64)> {
    f()?;
    reset_peak_rss();
    let mut times = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
    Ok((median(times), min, peak_rss_gib()))
}

fn unet(a: &UnetArgs) -> Result<()> {
    let dtype = match a.dtype.as_str() {
        "f32" => DType::F32,
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        other => bail!("unknown dtype `{other}` (f32, f16, bf16)"),
    };
    let (cfg, calibrate) = unet_shape(&a.config)?;
    let dev = pivot::sd::device::pick(&a.device)?;
    ensure!(a.repeat >= 1, "--repeat must be at least 1");
    if dtype == DType::BF16 && dev.is_cpu() {
        bail!("--dtype bf16 needs --device cuda (candle's CPU matrix products have no bf16)");
    }
    let t0 = Instant::now();
    let vb = RandomWeights::var_builder(1, RandomPart::Unet, calibrate, dtype, &dev);
    let unet = UNet::load(&vb, &cfg)?;
    let build_s = t0.elapsed().as_secs_f64();
    let threads = candle_core::utils::get_num_threads();
    println!("# pivot bench unet: config={} dtype={} device={} threads={threads} build_weights_s={build_s:.1} rss_after_build_gib={:.2}",
        a.config, a.dtype, device::describe(&dev), peak_rss_gib());
    println!("{:<10} {:<8} {:<18} {:>10} {:>10} {:>13}", "stage", "latent", "mode", "median_s", "min_s", "peak_rss_gib");
    if a.check && dev.is_cpu() {
        println!("# --check compares a GPU run with the CPU: on the CPU there is nothing to compare");
    }
    let on_cpu = match a.check && !dev.is_cpu() {
        true => Some(UNet::load(&RandomWeights::var_builder(1, RandomPart::Unet, calibrate, dtype, &candle_core::Device::Cpu), &cfg)?),
        false => None,
    };
    for &side in &a.latent {
        let mut rng = Rng::new(2);
        let x = rng.randn((1, cfg.in_channels, side, side), 0.0, 1.0, &dev)?.to_dtype(dtype)?;
        let ctx = rng.randn((1, 77, cfg.cross_attention_dim), 0.0, 1.0, &dev)?.to_dtype(dtype)?;
        let shape = format!("{side}x{side}");
        let (med, min, rss) = measure(a.repeat, || {
            let out = unet.forward(&x, 501.0, &ctx, &mut NoHook)?;
            out.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            Ok(())
        })?;
        println!("{:<10} {:<8} {:<18} {med:>10.3} {min:>10.3} {rss:>13.2}", "unet", shape, "forward");
        if a.backward {
            profile::take(); // only this measurement's spans (not an earlier side's --check)
            let (med, min, rss) = measure(a.repeat, || {
                let [_, g] = output_and_gradient(&unet, &x, &ctx)?;
                g.sum_all()?.to_scalar::<f32>()?;
                Ok(())
            })?;
            println!("{:<10} {:<8} {:<18} {med:>10.3} {min:>10.3} {rss:>13.2}", "unet", shape, "forward+backward");
            let spans = profile::take();
            let calls = spans.iter().find(|s| s.0 == "unet backward").map_or(1, |s| s.2).max(1);
            let per_pass = |secs: f64| 1e3 * secs / calls as f64;
            let whole: f64 = spans.iter().filter(|s| WHOLE_PASSES.contains(&s.0)).map(|s| s.1).sum();
            let in_layers: f64 = spans.iter().filter(|s| !WHOLE_PASSES.contains(&s.0) && !BLOCK_SPANS.contains(&s.0)).map(|s| s.1).sum();
            for (name, secs, n) in &spans {
                println!("# profile {shape}: {name:<32} {:>9.2} ms per forward+backward ({:.1} calls)", per_pass(*secs), *n as f64 / calls as f64);
            }
            if !spans.is_empty() {
                println!("# profile {shape}: {:<32} {:>9.2} ms per forward+backward (element-wise ops, copies, autograd's own work)", "outside the layer spans", per_pass(whole - in_layers));
            }
        }
        if let Some(cpu_unet) = &on_cpu {
            let cpu = candle_core::Device::Cpu;
            let want = output_and_gradient(cpu_unet, &x.to_device(&cpu)?, &ctx.to_device(&cpu)?)?;
            let got = output_and_gradient(&unet, &x, &ctx)?;
            for ((name, w), g) in ["output", "embedding gradient"].iter().zip(&want).zip(&got) {
                let scale = w.abs()?.max_all()?.to_scalar::<f32>()?;
                let diff = (w - g.to_device(&cpu)?)?.abs()?.max_all()?.to_scalar::<f32>()?;
                println!("# check {shape} {name}: max |gpu − cpu| = {diff:.3e}, relative to max |cpu| = {:.3e}", diff / scale.max(f32::MIN_POSITIVE));
            }
        }
    }
    Ok(())
}

/// Profile spans that hold a whole pass, and spans that hold a block's layer spans: neither is a
/// layer of its own, so what they hold beyond the layer spans is the rest of the work.
const WHOLE_PASSES: [&str; 2] = ["unet forward with graph", "unet backward"];
const BLOCK_SPANS: [&str; 2] = ["checkpointed block backward", "transformer block recompute"];

/// The UNet's output and the gradient of its mean square w.r.t. the embedding, in f32.
fn output_and_gradient(unet: &UNet, x: &Tensor, ctx: &Tensor) -> Result<[Tensor; 2]> {
    let emb = Var::from_tensor(ctx)?;
    let dev = x.device();
    let out = profile::span("unet forward with graph", dev, || unet.forward(x, 501.0, emb.as_tensor(), &mut NoHook))?;
    let loss = out.sqr()?.mean_all()?;
    let grads = profile::span("unet backward", dev, || pivot::runtime::on_workers_for(dev, || loss.backward()))?;
    let g = grads.get(emb.as_tensor()).ok_or_else(|| anyhow::anyhow!("no gradient reached the embedding"))?;
    Ok([out.to_dtype(DType::F32)?, g.to_dtype(DType::F32)?])
}

fn edit(a: &EditBenchArgs) -> Result<()> {
    use pivot::edit::p2p::controller::EditTables;
    use pivot::edit::p2p::run::{run_edit, P2pEdit};
    use pivot::edit::sample::NullEmbeddings;
    use pivot::sd::schedule::Schedule;
    let (cfg, calibrate) = unet_shape(&a.config)?;
    let dev = pivot::sd::device::pick(&a.device)?;
    let unet = UNet::load(&RandomWeights::var_builder(1, RandomPart::Unet, calibrate, DType::F32, &dev), &cfg)?;
    let side = a.latent.unwrap_or(cfg.sample_size);
    let schedule = Schedule::new(&pivot::sd::config::SchedulerConfig::default(), a.steps)?;
    let mut rng = Rng::new(3);
    let d = cfg.cross_attention_dim;
    let (src, tgt, null) = (rng.randn((1, 77, d), 0.0, 1.0, &dev)?, rng.randn((1, 77, d), 0.0, 1.0, &dev)?, rng.randn((1, 77, d), 0.0, 1.0, &dev)?);
    let x_t = rng.randn((1, cfg.in_channels, side, side), 0.0, 1.0, &dev)?;
    let identity: Vec<f32> = (0..77 * 77).map(|i| if i / 77 == i % 77 { 1.0 } else { 0.0 }).collect();
    let rows = (0..(a.steps + 1) * 77).map(|i| if i / 77 < (0.8 * (a.steps + 1) as f64) as usize { 1.0 } else { 0.0 }).collect::<Vec<f32>>();
    let tables = EditTables::new(&rows, (0, (0.4 * a.steps as f64) as usize), Some(&identity), None, None, &dev)?;
    // A random trajectory to pull back to, made only when timed.
    let trajectory = a.prox.as_ref().map(|_| rng.randn((a.steps + 1, cfg.in_channels, side, side), 0.0, 1.0, &dev)).transpose()?;
    let prox = match (a.prox.as_deref(), &trajectory) {
        (Some(shrink), Some(trajectory)) => {
            use pivot::edit::prox::{ProxGuidance, ProxRun, Pull, Shrink, BELOW, QUANTILE, STRENGTH};
            let g = ProxGuidance { shrink: Shrink::parse(shrink).expect("clap checked it"), quantile: QUANTILE, pull: Pull::Inversion, strength: STRENGTH, below: BELOW };
            Some(ProxRun::new(g, trajectory, a.steps)?)
        }
        _ => None,
    };
    let e = P2pEdit { unet: &unet, schedule: &schedule, source: &src, target: &tgt, nulls: NullEmbeddings::Fixed(&null), guidance: 7.5, tables, blend: None, offsets: None, prox };
    let with = a.prox.as_deref().map(|p| format!(" prox={p}")).unwrap_or_default();
    println!("# pivot bench edit: config={} latent={side}x{side} steps={} batch=2 (4 UNet rows with guidance){with} device={}", a.config, a.steps, device::describe(&dev));
    reset_peak_rss();
    let t = Instant::now();
    run_edit(&e, &x_t, &mut |_, _| {})?;
    dev.synchronize()?;
    let s = t.elapsed().as_secs_f64();
    println!("{:<10} {:>10} {:>12} {:>13}", "stage", "seconds", "s_per_step", "peak_rss_gib");
    println!("{:<10} {s:>10.3} {:>12.3} {:>13.2}", "edit", s / a.steps as f64, peak_rss_gib());
    Ok(())
}
