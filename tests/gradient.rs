//! The gradient of the null-text loss w.r.t. the null embedding: against PyTorch's autograd
//! (`gradcheck_grad`) and against central finite differences in f64.

mod common;
use candle_core::{DType, Device, Tensor, Var};
use common::*;
use pivot::edit::guidance::NullTextStep;
use pivot::sd::config::{read_json, SchedulerConfig};
use pivot::sd::schedule::Schedule;
use pivot::sd::unet::{NoHook, TextFreeHead, UNet};
use pivot::sd::open_weights_as;

fn unet(dtype: DType) -> UNet {
    let dir = model_dir("tiny-sd/unet");
    UNet::load(&open_weights_as(&dir.join("diffusion_pytorch_model.safetensors"), dtype, &Device::Cpu).unwrap(), &read_json(&dir.join("config.json")).unwrap()).unwrap()
}

struct Case {
    latent: Tensor,
    target: Tensor,
    cond: Tensor,
    uncond: Tensor,
}

fn step0(dtype: DType) -> Case {
    let inv = reference("inversion");
    let text = reference("text");
    let lat = get(&inv, "latents");
    let c = |t: Tensor| t.to_dtype(dtype).unwrap();
    Case {
        latent: c(lat.narrow(0, 50, 1).unwrap()),
        target: c(lat.narrow(0, 49, 1).unwrap()),
        cond: c(get(&inv, "cond_embeds")),
        uncond: c(get(&text, "prompt_embeds").narrow(0, 5, 1).unwrap()),
    }
}

fn schedule() -> Schedule {
    let cfg: SchedulerConfig = read_json(&model_dir("tiny-sd/scheduler/scheduler_config.json")).unwrap();
    Schedule::new(&cfg, 50).unwrap()
}

/// The tiny UNet at the first reference timestep (t = 981), its conditional prediction made once.
struct Setup {
    unet: UNet,
    sched: Schedule,
    case: Case,
    eps_cond: Tensor,
}

impl Setup {
    fn new(dtype: DType) -> Self {
        let unet = unet(dtype);
        let case = step0(dtype);
        let eps_cond = unet.forward(&case.latent, 981.0, &case.cond, &mut NoHook).unwrap();
        Self { unet, sched: schedule(), case, eps_cond }
    }

    /// The null-text loss at this timestep, from the text-free `head` when given.
    fn step<'a>(&'a self, head: Option<&'a TextFreeHead>) -> NullTextStep<'a> {
        let c = &self.case;
        NullTextStep { unet: &self.unet, schedule: &self.sched, latent: &c.latent, t: 981, eps_cond: &self.eps_cond, target: &c.target, guidance: 7.5, head }
    }
}

/// The loss at the reference null embedding and its gradient w.r.t. that embedding.
fn loss_and_grad(step: &NullTextStep, uncond: &Tensor) -> (Tensor, Tensor) {
    let u = Var::from_tensor(uncond).unwrap();
    let loss = step.loss(u.as_tensor(), &mut NoHook).unwrap();
    let grad = loss.backward().unwrap().get(u.as_tensor()).expect("gradient reaches the null embedding").clone();
    (loss, grad)
}

#[test]
fn null_text_gradient_matches_pytorch() {
    let s = Setup::new(DType::F32);
    let (loss, g) = loss_and_grad(&s.step(None), &s.case.uncond);
    let nt = reference("nulltext");
    let want_loss: Vec<f32> = get(&nt, "gradcheck_loss").to_vec1().unwrap();
    let got_loss = loss.to_scalar::<f32>().unwrap();
    assert!((got_loss - want_loss[0]).abs() <= 1e-3 * want_loss[0], "loss {got_loss} vs {}", want_loss[0]);
    let err = rel_l2(&g, &get(&nt, "gradcheck_grad"));
    eprintln!("relative L2 error of the gradient: {err:.3e}");
    assert!(err < 1e-3, "relative L2 error {err}");
}

#[test]
fn null_text_gradient_matches_finite_differences_in_f64() {
    let s = Setup::new(DType::F64);
    let case = &s.case;
    // The product path: the text-free head computed once.
    let head = s.unet.text_free_head(&case.latent, 981.0).unwrap();
    let step = s.step(Some(&head));
    let (_, g) = loss_and_grad(&step, &case.uncond);
    let loss_at = |x: &Tensor| step.loss(x, &mut NoHook).unwrap().to_scalar::<f64>().unwrap();
    let mut rng = pivot::sd::rng::Rng::new(11);
    // Along the gradient itself and two random directions.
    let mut dirs = vec![(&g / g.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f64>().unwrap()).unwrap()];
    for _ in 0..2 {
        dirs.push(rng.randn(g.shape(), 0.0, 1.0, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap());
    }
    for d in dirs {
        let h = 1e-3;
        let fd = (loss_at(&(&case.uncond + (&d * h).unwrap()).unwrap()) - loss_at(&(&case.uncond - (&d * h).unwrap()).unwrap())) / (2.0 * h);
        let an = (&g * &d).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
        eprintln!("directional derivative: finite differences {fd:.6e}, autograd {an:.6e}");
        assert!((fd - an).abs() <= 1e-4 * an.abs().max(fd.abs()) + 1e-15, "fd {fd} vs autograd {an}");
    }
}

/// The GPU path checkpoints transformer blocks (recomputing their attention in the backward
/// pass); forced on the CPU it must give the same gradient, which matches PyTorch's.
#[test]
fn checkpointed_transformer_blocks_give_the_same_gradient() {
    let s = Setup::new(DType::F32);
    let step = s.step(None);
    let grad = || loss_and_grad(&step, &s.case.uncond).1;
    let plain = grad();
    let checkpointed = pivot::sd::checkpoint::forced(grad);
    let err = rel_l2(&checkpointed, &plain);
    assert!(err < 1e-6, "checkpointed vs plain: relative L2 error {err}");
    let err = rel_l2(&checkpointed, &get(&reference("nulltext"), "gradcheck_grad"));
    assert!(err < 1e-3, "checkpointed vs PyTorch: relative L2 error {err}");
}

/// Null-text inversion computes the UNet's text-free head once per timestep: the loss and the
/// gradient are those of the whole forward pass, on the CPU and on the checkpointed (GPU) path.
#[test]
fn the_text_free_head_changes_no_number() {
    let s = Setup::new(DType::F32);
    let head = s.unet.text_free_head(&s.case.latent, 981.0).unwrap();
    let with_head = s.unet.forward_with_head(&head, &s.case.cond, &mut NoHook).unwrap();
    assert_eq!(rel_l2(&with_head, &s.eps_cond), 0.0, "the forward pass from the head");
    let run = |h| {
        let (loss, g) = loss_and_grad(&s.step(h), &s.case.uncond);
        (loss.to_scalar::<f32>().unwrap(), g)
    };
    let (plain_loss, plain) = run(None);
    for checkpointed in [false, true] {
        let (loss, g) = if checkpointed { pivot::sd::checkpoint::forced(|| run(Some(&head))) } else { run(Some(&head)) };
        assert_eq!(loss, plain_loss, "checkpointed: {checkpointed}");
        let err = rel_l2(&g, &plain);
        assert!(err < 1e-6, "checkpointed: {checkpointed}: relative L2 error {err}");
    }
}
