//! A signal during sample, the headless demo, refused arguments, config.toml's device, a dumb terminal.

use super::*;

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

#[test]
fn completions_cover_every_command_and_flag_and_bash_reads_them() {
    let o = pivot(&["completions", "bash"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = String::from_utf8(o.stdout).unwrap();
    for word in ["invert", "resume", "attention", "--prox-quantile", "--blend-except", "--fixed-point"] {
        assert!(script.contains(word), "`{word}` is not offered");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pivot.bash");
    std::fs::write(&file, &script).unwrap();
    // What bash completes after `pivot ses` once the script is read.
    let probe = format!("source {}; COMP_WORDS=(pivot ses); COMP_CWORD=1; _pivot pivot ses pivot; echo \"${{COMPREPLY[@]}}\"", file.display());
    if let Ok(out) = std::process::Command::new("bash").arg("-c").arg(&probe).output() {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "session", "{}", String::from_utf8_lossy(&out.stderr));
    }
    for shell in ["zsh", "fish"] {
        assert!(pivot(&["completions", shell]).status.success());
    }
    let o = pivot(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}
