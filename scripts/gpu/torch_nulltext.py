"""PyTorch's time for the UNet work of a null-text inversion, the reference row beside
`pivot bench invert --unet sd15 --latent 64 --device cuda`.

A random-weight SD1.5-shaped UNet (diffusers), f32, random prompt embeddings and photo latent,
50 timesteps × 10 inner iterations as the reference notebook runs them: the conditional
prediction once per timestep, then per inner iteration a forward pass with the null embedding,
the guided DDIM step, the MSE to the stored trajectory, backward, Adam, and `loss.item()` (the
early-stop test reads the loss every iteration). Random weights never reach the early-stop
threshold, so every timestep runs all its inner iterations, as in pivot's benchmark.

    python3 torch_nulltext.py [--latent 64] [--steps 50] [--inner 10] [--tf32] [--device cuda]
    python3 torch_nulltext.py --profile 10   # where one inner iteration's time goes (torch.profiler)
"""
import argparse
import time

import torch
from diffusers import DDIMScheduler, UNet2DConditionModel


def sd15_unet(latent: int, tiny: bool) -> UNet2DConditionModel:
    if tiny:
        return UNet2DConditionModel(sample_size=latent, block_out_channels=(32, 64), layers_per_block=1,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                    cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    return UNet2DConditionModel(sample_size=latent, cross_attention_dim=768, attention_head_dim=8)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--latent", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--inner", type=int, default=10)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions (off: plain f32)")
    p.add_argument("--tiny", action="store_true", help="a small UNet, to try the script on a CPU")
    p.add_argument("--device", default="cuda")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="instead of the inversion: time N inner iterations of the first timestep, then "
                        "profile N more with torch.profiler and print where their time goes")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    dev = torch.device(a.device)
    gen = torch.Generator().manual_seed(0)

    start = time.perf_counter()
    unet = sd15_unet(a.latent, a.tiny).to(dev).eval().requires_grad_(False)
    params = sum(t.numel() for t in unet.parameters())
    dim = unet.config.cross_attention_dim
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    sched.set_timesteps(a.steps)
    cond = torch.randn(1, 77, dim, generator=gen).to(dev)
    null = torch.randn(1, 77, dim, generator=gen).to(dev)
    latent = torch.randn(1, 4, a.latent, a.latent, generator=gen).to(dev)
    # Stand-ins for the DDIM-inversion trajectory: only their shapes matter for the timing.
    trajectory = [torch.randn(1, 4, a.latent, a.latent, generator=gen).to(dev) for _ in range(a.steps)]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    print(f"UNet: {params / 1e6:.0f} M parameters, built in {time.perf_counter() - start:.1f} s; "
          f"torch {torch.__version__}, {a.device}, TF32 {'on' if a.tf32 else 'off'}, "
          f"attention {type(unet.attn_processors[next(iter(unet.attn_processors))]).__name__}")

    def step(eps: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        prev_t = t - sched.config.num_train_timesteps // a.steps
        ac = sched.alphas_cumprod[t].to(dev)
        ap = sched.alphas_cumprod[prev_t].to(dev) if prev_t >= 0 else sched.final_alpha_cumprod.to(dev)
        x0 = (x - (1 - ac).sqrt() * eps) / ac.sqrt()
        return ap.sqrt() * x0 + (1 - ap).sqrt() * eps

    def inner_iteration(x, t, u, opt, eps_cond, target) -> float:
        eps_null = unet(x, t, encoder_hidden_states=u).sample
        eps = eps_null + a.guidance * (eps_cond - eps_null)
        loss = torch.nn.functional.mse_loss(step(eps, t, x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    if a.profile:
        profile(a.profile, unet, inner_iteration, latent, sched.timesteps[0], cond, null, trajectory[0], dev, sync)
        return

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    start = time.perf_counter()
    iterations = 0
    x = latent
    for i, t in enumerate(sched.timesteps):
        with torch.no_grad():
            eps_cond = unet(x, t, encoder_hidden_states=cond).sample
        u = null.clone().requires_grad_(True)
        opt = torch.optim.Adam([u], lr=1e-2 * (1.0 - i / 100.0))
        target = trajectory[i]
        for j in range(a.inner):
            loss = inner_iteration(x, t, u, opt, eps_cond, target)
            iterations += 1
            if loss < 1e-5 + i * 2e-5:
                break
        with torch.no_grad():
            out = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([u.detach(), cond])).sample
            e_u, e_c = out.chunk(2)
            x = step(e_u + a.guidance * (e_c - e_u), t, x)
        if i % 10 == 9:
            sync()
            print(f"  {i + 1}/{a.steps} timesteps, {time.perf_counter() - start:.1f} s", flush=True)
    sync()
    took = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
    print(f"null-text: {a.steps} steps, {iterations} inner iterations in {took:.1f} s "
          f"({1000 * took / iterations:.0f} ms per iteration), peak allocated {peak:.2f} GiB")


def profile(n, unet, inner_iteration, x, t, cond, null, target, dev, sync) -> None:
    with torch.no_grad():
        eps_cond = unet(x, t, encoder_hidden_states=cond).sample
    u = null.clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=1e-2)
    for _ in range(3):
        inner_iteration(x, t, u, opt, eps_cond, target)
    sync()
    start = time.perf_counter()
    for _ in range(n):
        inner_iteration(x, t, u, opt, eps_cond, target)
    sync()
    print(f"{1000 * (time.perf_counter() - start) / n:.1f} ms per inner iteration (mean of {n}, unprofiled)")
    activities = [torch.profiler.ProfilerActivity.CPU]
    if dev.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(n):
            inner_iteration(x, t, u, opt, eps_cond, target)
        sync()
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=40, max_name_column_width=70))


if __name__ == "__main__":
    main()
