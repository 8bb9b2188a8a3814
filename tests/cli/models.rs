//! Hub models offline and cached, a scheduler's steps_offset, and config.toml's model.

use super::*;

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
