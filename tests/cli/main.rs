//! The `pivot` binary end to end: model info, bad model folders, deterministic sampling.

#[path = "../common/mod.rs"]
mod common;
use common::*;
use std::path::Path;
use std::process::Output;
mod models;
mod runs_and_refusals;

fn pivot(args: &[&str]) -> Output {
    pivot_command().args(args).output().expect("pivot runs")
}

#[test]
fn model_info_on_fixtures_and_builtin() {
    for (m, heads, pad) in [("tiny-sd", "[8, 8, 8, 8]", "49407"), ("tiny-sd2", "[4, 4, 8, 8]", "id 0")] {
        let o = pivot(&["model", "info", "--model", model_dir(m).to_str().unwrap()]);
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(out.contains(heads) && out.contains(pad) && out.contains("128×128"), "{out}");
    }
    let o = pivot(&["model", "info", "--model", "tiny"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("random weights") && out.contains("unet 2.45 M"), "{out}");
}

#[test]
fn missing_and_corrupt_model_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("model");
    copy_dir(&model_dir("tiny-sd"), &m);
    std::fs::remove_file(m.join("unet/config.json")).unwrap();
    let o = pivot(&["model", "info", "--model", m.to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success() && out.contains("unet/config.json") && out.contains("diffusers layout") && !out.contains("panicked"), "{out}");

    copy_dir(&model_dir("tiny-sd/unet"), &m.join("unet"));
    let w = m.join("vae/diffusion_pytorch_model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let o = pivot(&["model", "info", "--model", m.to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success() && out.contains("vae/diffusion_pytorch_model.safetensors") && !out.contains("panicked"), "{out}");

    std::fs::write(m.join("text_encoder/config.json"), "{ not json").unwrap();
    std::fs::write(&w, &bytes).unwrap();
    let o = pivot(&["model", "info", "--model", m.to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success() && out.contains("text_encoder/config.json") && !out.contains("panicked"), "{out}");

    // Merges cut in half would read prompts as other tokens without an error.
    copy_dir(&model_dir("tiny-sd/text_encoder"), &m.join("text_encoder"));
    std::fs::remove_file(m.join("tokenizer/tokenizer.json")).unwrap();
    let merges = std::fs::read_to_string(m.join("tokenizer/merges.txt")).unwrap();
    std::fs::write(m.join("tokenizer/merges.txt"), &merges[..merges.len() / 2]).unwrap();
    let o = pivot(&["model", "info", "--model", m.to_str().unwrap()]);
    let out = text(&o);
    assert!(!o.status.success() && out.contains("merges.txt") && out.contains("the merges are cut short"), "{out}");

    let o = pivot(&["model", "info", "--model", "./no-such-model"]);
    assert!(!o.status.success() && text(&o).contains("no-such-model"));
}

/// Configs whose numbers cannot be right, or whose parts come from different models, are refused
/// before any work, naming the file and field (they used to panic or end in a NaN loss).
#[test]
fn config_numbers_and_mismatched_parts_are_named() {
    let cases: [(&str, &str, serde_json::Value, &[&str]); 4] = [
        ("scheduler/scheduler_config.json", "trained_betas", serde_json::json!(vec![0.001; 10]), &["trained_betas", "10 entries"]),
        ("scheduler/scheduler_config.json", "beta_end", serde_json::json!(2.0), &["beta_end"]),
        ("text_encoder/config.json", "num_attention_heads", serde_json::json!(5), &["num_attention_heads"]),
        ("vae/config.json", "scaling_factor", serde_json::json!(0.0), &["scaling_factor"]),
    ];
    for (file, key, value, words) in cases {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("model");
        copy_dir(&model_dir("tiny-sd"), &m);
        let path = m.join(file);
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        v[key] = value;
        std::fs::write(&path, v.to_string()).unwrap();
        let o = pivot(&["model", "info", "--model", m.to_str().unwrap()]);
        let out = text(&o);
        assert!(!o.status.success() && !out.contains("panicked"), "{key}: {out}");
        assert!(words.iter().all(|w| out.contains(w)), "{key}: {out}");
    }
}

#[test]
fn sample_refuses_a_nan_guidance_and_latents_saved_as_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.png");
    for g in ["NaN", "1e39"] {
        let o = pivot(&["sample", "--model", "tiny", "--prompt", "a cat", "--steps", "2", "--guidance", g, "--out", out.to_str().unwrap()]);
        assert!(!o.status.success() && text(&o).contains("--guidance must be a number from -1000 to 1000"), "{}", text(&o));
    }
    let o = pivot(&["sample", "--model", "tiny", "--prompt", "a cat", "--steps", "2", "--save-latents", out.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains(".safetensors"), "{}", text(&o));
    assert!(!out.exists(), "nothing is written when the flags are refused");
}

#[test]
fn sampling_is_deterministic_and_eta_adds_noise() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let model = model_dir("tiny-sd");
    let m = model.to_str().unwrap();
    let base = ["sample", "--model", m, "--prompt", "a colourful test pattern", "--steps", "10", "--device", "cpu"];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let o = pivot(&args);
        assert!(o.status.success(), "{}", text(&o));
        o
    };
    run(&["--seed", "5", "--save-latents", &p("lat.SafeTensors"), "--out", &p("a.png")]);
    run(&["--latents", &p("lat.SafeTensors"), "--out", &p("b.png")]);
    run(&["--latents", &p("lat.SafeTensors"), "--out", &p("c.png")]);
    let o = run(&["--seed", "5", "--eta", "1", "--save-latents", &p("d.safetensors"), "--out", &p("d.png")]);
    assert!(text(&o).contains(&format!("--latents {} --seed 5 repeats this run", p("d.safetensors"))), "η-noise needs the seed too: {}", text(&o));
    // Seed 5's latents with seed 5's η-noise: the same picture; a seed drawn for the η-noise is printed.
    run(&["--latents", &p("lat.SafeTensors"), "--seed", "5", "--eta", "1", "--out", &p("g.png")]);
    let o = run(&["--latents", &p("lat.SafeTensors"), "--eta", "1", "--out", &p("h.png")]);
    assert!(text(&o).contains("--seed") && String::from_utf8_lossy(&o.stdout).starts_with("seed "), "{}", text(&o));
    assert!(text(&run(&["--latents", &p("lat.SafeTensors"), "--seed", "5", "--out", &p("i.png")])).contains("--seed changes nothing"));
    // A folder that is not there yet is made, and said (a mistyped one would go unnoticed).
    let mut args = base.to_vec();
    let nested = p("new/folder/e.png");
    args.extend_from_slice(&["--out", &nested]);
    let o = pivot(&args);
    assert!(o.status.success() && text(&o).contains("created the folder") && text(&o).contains("new/folder"), "{}", text(&o));
    // The drawn seed is the run's result, on stdout for scripts.
    let seed = String::from_utf8_lossy(&o.stdout).trim().strip_prefix("seed ").map(|s| s.parse::<u64>().is_ok());
    assert_eq!(seed, Some(true), "{}", text(&o));
    let read = |n: &str| image::open(p(n)).unwrap().to_rgb8().into_raw();
    assert_eq!(read("a.png"), read("b.png"));
    assert_eq!(read("b.png"), read("c.png"));
    assert_ne!(read("a.png"), read("d.png"), "η = 1 must differ from η = 0");
    assert_eq!(read("d.png"), read("g.png"), "--latents with --seed repeats an η run");

    std::fs::write(p("bad.safetensors"), b"junk").unwrap();
    let mut args = base.to_vec();
    let (bad, out) = (p("bad.safetensors"), p("e.png"));
    args.extend_from_slice(&["--latents", &bad, "--out", &out]);
    let o = pivot(&args);
    assert!(!o.status.success() && text(&o).contains("bad.safetensors"), "{}", text(&o));
    // NaN latents, and latents far larger than the model's, are refused before any work.
    let dev = candle_core::Device::Cpu;
    let nan = candle_core::Tensor::full(f32::NAN, (1, 4, 16, 16), &dev).unwrap();
    let huge = candle_core::Tensor::zeros((1, 4, 100, 100), candle_core::DType::F32, &dev).unwrap();
    for (name, t, why) in [("nan.safetensors", nan, "NaN or infinite"), ("huge.safetensors", huge, "latents of 100×100 are too large")] {
        candle_core::safetensors::save(&std::collections::HashMap::from([("latents".to_string(), t)]), p(name)).unwrap();
        let mut args = base.to_vec();
        let (lat, out) = (p(name), p("f.png"));
        args.extend_from_slice(&["--latents", &lat, "--out", &out]);
        let o = pivot(&args);
        assert!(!o.status.success() && text(&o).contains(why) && !text(&o).contains("sampling"), "{name}: {}", text(&o));
    }
    // An inversion file (it has `latents` too) is sent to `pivot reconstruct`.
    let zeros = |shape: &[usize]| candle_core::Tensor::zeros(shape, candle_core::DType::F32, &dev).unwrap();
    let inversion = std::collections::HashMap::from([("latents".to_string(), zeros(&[3, 4, 16, 16])), ("null_embeddings".to_string(), zeros(&[2, 77, 32]))]);
    candle_core::safetensors::save(&inversion, p("inv.safetensors")).unwrap();
    let mut args = base.to_vec();
    let (inv, out) = (p("inv.safetensors"), p("g.png"));
    args.extend_from_slice(&["--latents", &inv, "--out", &out]);
    let o = pivot(&args);
    assert!(!o.status.success() && text(&o).contains("is an inversion file") && text(&o).contains("pivot reconstruct"), "{}", text(&o));
    // A named pipe, read or written, is refused at once (a read would block for ever; a write
    // would replace it with a file).
    let pipe = p("pipe.safetensors");
    let c = std::ffi::CString::new(pipe.clone()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut args = base.to_vec();
    let out = p("h.png");
    args.extend_from_slice(&["--latents", &pipe, "--out", &out]);
    let o = pivot(&args);
    assert!(!o.status.success() && text(&o).contains("is not a regular file"), "{}", text(&o));
    let pipe_png = p("pipe.png");
    let c = std::ffi::CString::new(pipe_png.clone()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut args = base.to_vec();
    args.extend_from_slice(&["--out", &pipe_png]);
    let o = pivot(&args);
    assert!(!o.status.success() && text(&o).contains("is a pipe, socket or device"), "{}", text(&o));
}
