//! The `pivot` binary end to end: model info, bad model folders, deterministic sampling.

mod common;
use common::*;
use std::path::Path;
use std::process::Output;

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

#[test]
fn hub_models_are_not_fetched_when_offline() {
    let cache = tempfile::tempdir().unwrap();
    let o = pivot_command()
        .args(["model", "info", "--model", "someone/some-model"])
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", cache.path())
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success() && t.contains("someone/some-model") && t.contains("HF_HUB_OFFLINE"), "{t}");
}

#[test]
fn cached_hub_models_load_without_the_network() {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub/models--someone--tiny-sd");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    copy_dir(&model_dir("tiny-sd"), &repo.join("snapshots/0123abcd"));
    let o = pivot_command()
        .args(["model", "info", "--model", "someone/tiny-sd"])
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", home.path())
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success() && t.contains("unet 2.45 M"), "{t}");

    // A commit hash needs no ref; a snapshot missing a file names it.
    let commit = "0123456789abcdef0123456789abcdef01234567";
    copy_dir(&model_dir("tiny-sd"), &repo.join("snapshots").join(commit));
    let info = |model: &str| {
        let o = pivot_command().args(["model", "info", "--model", model]).env("HF_HUB_OFFLINE", "1").env("HF_HOME", home.path()).output().unwrap();
        (o.status.success(), text(&o))
    };
    let (ok, t) = info(&format!("someone/tiny-sd@{commit}"));
    assert!(ok && t.contains("unet 2.45 M"), "{t}");
    std::fs::remove_file(repo.join("snapshots").join(commit).join("unet/config.json")).unwrap();
    let (ok, t) = info(&format!("someone/tiny-sd@{commit}"));
    assert!(!ok && t.contains("partly") && t.contains("unet/config.json"), "{t}");
}

#[test]
fn a_hub_that_never_answers_gives_up_with_a_message() {
    // A local listener that accepts connections (the kernel's backlog) and never replies: what a
    // proxy holding the connection looks like. Nothing leaves this machine.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let cache = tempfile::tempdir().unwrap();
    let run = |timeout: &str| {
        let start = std::time::Instant::now();
        let o = pivot_command()
            .args(["model", "info", "--model", "someone/some-model"])
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("all_proxy")
            .env("HF_HOME", cache.path())
            .env("HF_ENDPOINT", &endpoint)
            .env("PIVOT_HUB_TIMEOUT", timeout)
            .output()
            .unwrap();
        (o, start.elapsed().as_secs_f64())
    };
    let (o, secs) = run("1.5");
    let t = text(&o);
    assert!(!o.status.success() && t.contains("did not answer within 1.5 s") && t.contains("someone/some-model"), "{t}");
    assert!(secs < 30.0, "gave up after {secs:.1} s");
    let (o, _) = run("soon");
    assert!(!o.status.success() && text(&o).contains("PIVOT_HUB_TIMEOUT=`soon`"), "{}", text(&o));
    drop(silent);
}

#[test]
fn a_scheduler_config_with_steps_offset_0_runs_with_1_as_diffusers_pipelines_do() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("model");
    copy_dir(&model_dir("tiny-sd"), &m);
    let sched = m.join("scheduler/scheduler_config.json");
    let offset0 = std::fs::read_to_string(&sched).unwrap().replace("\"steps_offset\": 1", "\"steps_offset\": 0");
    std::fs::write(&sched, offset0).unwrap();
    let o = pivot(&["model", "info", "--model", m.to_str().unwrap()]);
    let said = text(&o);
    assert!(o.status.success() && said.contains("steps_offset 0; using 1") && said.contains("steps_offset 1,"), "{said}");
    let thresholded = std::fs::read_to_string(&sched).unwrap().replace("\"thresholding\": false", "\"thresholding\": true");
    std::fs::write(&sched, thresholded).unwrap();
    let out = dir.path().join("s.png");
    let o = pivot(&["sample", "--model", m.to_str().unwrap(), "--prompt", "a cat", "--steps", "2", "--device", "cpu", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("thresholding"), "{}", text(&o));
}

#[test]
fn commands_without_model_use_config_toml_s_model_or_say_they_use_tiny() {
    let cfg = tempfile::tempdir().unwrap();
    let out = cfg.path().join("s.png");
    let sample = |cfg_dir: &Path| pivot_command().args(["sample", "--prompt", "a cat", "--steps", "1", "--device", "cpu", "--out", out.to_str().unwrap()]).env("PIVOT_CONFIG_DIR", cfg_dir).output().unwrap();
    let o = sample(cfg.path());
    assert!(o.status.success() && text(&o).contains("using the built-in tiny model (random weights"), "{}", text(&o));
    std::fs::write(cfg.path().join("config.toml"), format!("model = {:?}\n", model_dir("tiny-sd2").to_str().unwrap())).unwrap();
    let o = pivot_command().args(["model", "info"]).env("PIVOT_CONFIG_DIR", cfg.path()).output().unwrap();
    assert!(o.status.success() && text(&o).contains("tiny-sd2") && !text(&o).contains("built-in tiny"), "{}", text(&o));
    std::fs::write(cfg.path().join("config.toml"), "model = \"no/such/thing\"\n").unwrap();
    let o = sample(cfg.path());
    assert!(!o.status.success() && text(&o).contains("`model` in") && text(&o).contains("config.toml"), "{}", text(&o));
}

#[test]
fn sample_stops_on_a_signal_saying_nothing_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.png");
    let mut child = pivot_command()
        .args(["sample", "--model", "tiny", "--prompt", "a cat", "--steps", "999", "--device", "cpu", "--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line (every tenth step when stderr is not a terminal) says it is sampling.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0 && !line.contains("sampling step") {
        line.clear();
    }
    assert!(line.contains("sampling step  10/999"), "{line}");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("stopped by SIGINT: nothing was written") && !out.exists(), "{rest}");
}

#[test]
fn pivot_without_a_terminal_runs_the_headless_demo_through_the_worker_and_cleans_up() {
    let (data, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let o = pivot_command().env("PIVOT_DATA_DIR", data.path()).env("TMPDIR", tmp.path()).stdin(std::process::Stdio::null()).output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("reconstruction PSNR") && t.contains("\"a colourful test pattern\" → \"a colourful test picture\""), "{t}");
    // The random-weight model's VAE loses most of the photo: the figure against its round trip
    // says whether the inversion itself worked.
    assert!(t.contains(" dB vs the photo (the VAE alone: ") && t.contains(" dB vs the VAE round trip"), "{t}");
    // Files of the temporary session are not listed, since they are gone: its folder is removed,
    // and nothing was left in the data folder.
    assert!(!t.contains("wrote "), "{t}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{t}");
    assert_eq!(std::fs::read_dir(data.path()).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn edit_without_a_source_asks_for_a_file_or_a_session() {
    for args in [&["edit", "--item", "cat", "--target", "a dog"][..], &["edit", "--target", "a dog"], &["attention", "--word", "cat", "--out", "a.png"]] {
        let o = pivot(args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains("<INVERSION|--session <SESSION>>"), "{args:?}: {t}");
    }
    let o = pivot(&["edit", "x.safetensors", "--session", "s", "--item", "cat", "--target", "a dog", "--out", "a.png"]);
    assert!(!o.status.success() && text(&o).contains("cannot be used with"), "{}", text(&o));
    // An item of no session is refused, not ignored in favour of the file.
    for args in [&["edit", "x.safetensors", "--item", "cat", "--target", "a dog", "--out", "a.png"][..], &["attention", "x.safetensors", "--item", "cat", "--word", "cat", "--out", "a.png"]] {
        let o = pivot(args);
        assert!(!o.status.success() && text(&o).contains("--item") && text(&o).contains("cannot be used with"), "{args:?}: {}", text(&o));
    }
}

#[test]
fn a_negative_count_is_named_as_such_with_clap_s_exit_status() {
    let o = pivot(&["invert", "photo.png", "--prompt", "a photo", "--steps", "-1", "--out", "x.safetensors"]);
    let t = text(&o);
    assert!(o.status.code() == Some(2) && t.contains("--steps takes no negative number") && !t.contains("'-- -1'"), "{t}");
}

#[test]
fn a_latent_side_of_zero_is_refused_before_any_work() {
    for args in [&["bench", "unet", "--config", "tiny", "--latent", "0"][..], &["bench", "unet", "--config", "tiny", "--latent", "8,0"], &["bench", "edit", "--latent", "0"]] {
        let o = pivot(args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains("is not a latent side") && !t.contains("median_s"), "{args:?}: {t}");
    }
}

#[test]
fn bench_invert_refuses_options_that_would_change_nothing() {
    for (args, expect) in [
        (&["bench", "invert", "--model", "tiny", "--unet", "tiny"][..], "cannot be used with"),
        (&["bench", "invert", "--unet", "tiny", "--image", "x.png"], "cannot be used with"),
        (&["bench", "invert", "--latent", "8"], "--unet"),
        (&["bench", "invert", "--method", "npi", "--inner", "3"], "--inner is for --method null-text"),
        (&["bench", "invert", "--method", "ddim", "--unet", "tiny"], "--unet times a null-text inversion only"),
        (&["bench", "invert", "--method", "npi", "--inner", "0"], "--inner is for --method null-text"),
    ] {
        let o = pivot(args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains(expect) && !t.contains("load model"), "{args:?}: {t}");
    }
    // What README and scripts/gpu/bench.sh run still runs.
    let o = pivot(&["bench", "invert", "--unet", "tiny", "--steps", "1", "--inner", "1"]);
    assert!(o.status.success() && text(&o).contains("total"), "{}", text(&o));
    let o = pivot(&["bench", "edit", "--config", "tiny", "--steps", "2", "--prox", "l0"]);
    assert!(o.status.success() && text(&o).contains("prox=l0"), "{}", text(&o));
}

#[test]
fn commands_without_device_use_config_toml_s_device() {
    let cfg = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.png");
    let out = out.to_str().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let missing = missing.to_str().unwrap();
    let run = |args: &[&str]| pivot_command().args(args).env("PIVOT_CONFIG_DIR", cfg.path()).env("PIVOT_DATA_DIR", dir.path()).output().unwrap();
    std::fs::write(cfg.path().join("config.toml"), "device = \"gpu\"\n").unwrap();
    // A photo that reads (a new session's photo is read before the session is made).
    image::RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 30])).save(out).unwrap();
    let commands: [&[&str]; 6] = [
        &["model", "info", "--model", "tiny"],
        &["sample", "--model", "tiny", "--prompt", "a cat", "--steps", "1", "--out", out],
        &["invert", out, "--model", "tiny", "--prompt", "a cat", "--steps", "1", "--out", missing],
        &["invert", out, "--model", "tiny", "--prompt", "a cat", "--steps", "1", "--session", "s"],
        &["reconstruct", missing, "--out", out],
        &["edit", missing, "--target", "a dog", "--out", out],
    ];
    for args in commands {
        let o = run(args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains("`device` in") && t.contains("config.toml") && t.contains("unknown device `gpu`"), "{args:?}: {t}");
    }
    assert!(!dir.path().join("sessions/s").exists(), "a refused device leaves no session behind");
    // --device wins over config.toml, and bench never reads it.
    let o = run(&["model", "info", "--model", "tiny", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("device      cpu"), "{}", text(&o));
    let o = run(&["bench", "edit", "--steps", "1"]);
    assert!(o.status.success() && text(&o).contains("device=cpu"), "{}", text(&o));
    std::fs::write(cfg.path().join("config.toml"), "device = \"cpu\"\n").unwrap();
    let o = run(&["model", "info", "--model", "tiny"]);
    assert!(o.status.success() && text(&o).contains("device      cpu"), "{}", text(&o));
    // The help says where the default comes from; the message has no parentheses in parentheses.
    let help = text(&run(&["sample", "--help"]));
    assert!(help.contains("default: `device` in config.toml, else auto"), "{help}");
    let bench = text(&run(&["bench", "invert", "--help"]));
    assert!(bench.contains("[default: cpu]") && bench.contains("config.toml's `device` is not used"), "{bench}");
    // With no config folder at all (no HOME, as under some cron setups), nothing is configured.
    let o = pivot_command().args(["model", "info", "--model", "tiny"]).env_remove("HOME").env_remove("XDG_CONFIG_HOME").env_remove("PIVOT_CONFIG_DIR").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["model", "info", "--model", "tiny", "--device", "gpu"]);
    assert!(!o.status.success() && text(&o).contains("unknown device `gpu`: use auto, cpu, cuda[:N] or metal (auto is") && !text(&o).contains("config.toml"), "{}", text(&o));
}

#[test]
fn a_dumb_terminal_is_refused_in_a_whole_sentence() {
    // `script` (util-linux) gives pivot a terminal for stdout; without it there is nothing to run.
    let Ok(o) = std::process::Command::new("script")
        .args(["-qec", &format!("'{}'", env!("CARGO_BIN_EXE_pivot")), "/dev/null"])
        .env("TERM", "dumb")
        .stdin(std::process::Stdio::null())
        .output()
    else {
        eprintln!("skipped: `script` is not installed");
        return;
    };
    let t = text(&o);
    // A `script` that cannot make a terminal here (some containers) or reads other options (macOS).
    if t.contains("script:") || t.contains("usage: script") {
        eprintln!("skipped: `script` could not give pivot a terminal: {t}");
        return;
    }
    assert!(!o.status.success() && t.contains("TERM=dumb cannot; `pivot demo` and the subcommands work without one"), "{t}");
}
