//! Sessions through the real binary: invert/edit/resume in a session, SIGKILL at random moments
//! (the session always loads, no finished timestep is lost, resume is bit-identical to an
//! uninterrupted run), SIGTERM, the lock, another model, damaged files and path safety.

mod common;

use candle_core::Device;
use pivot::session::inversion_file::InversionFile;
use pivot::session::manifest::Manifest;
use pivot::session::migrate::parse_manifest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Small enough for a few seconds per run, big enough to kill mid-way.
const RUN: [&str; 8] = ["--steps", "12", "--inner", "5", "--device", "cpu", "--model", "tiny"];

fn cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pivot"));
    c.args(args).env("PIVOT_DATA_DIR", data).env("HF_HUB_OFFLINE", "1").env("PIVOT_CONFIG_DIR", data.join("no-config"));
    c
}

fn pivot(data: &Path, args: &[&str]) -> Output {
    cmd(data, args).output().expect("pivot runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn photo(dir: &Path) -> PathBuf {
    let p = dir.join("cat photo.png");
    let img = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x + y) * 3) as u8]));
    img.save(&p).unwrap();
    p
}

fn invert_args<'a>(image: &'a str, session: &'a str) -> Vec<&'a str> {
    let mut a = vec!["invert", image, "--prompt", "a cat on a mat", "--session", session, "--item", "cat"];
    a.extend_from_slice(&RUN);
    a
}

/// A longer run for the kill test (20 kills, most of them mid-optimisation).
fn long_invert_args<'a>(image: &'a str, session: &'a str) -> Vec<&'a str> {
    let mut a = invert_args(image, session);
    a[9] = "30";
    a
}

fn manifest(data: &Path, session: &str) -> Option<Manifest> {
    let p = data.join("sessions").join(session).join("session.toml");
    let text = std::fs::read_to_string(&p).ok()?;
    Some(parse_manifest(&text, &p).expect("the manifest always parses"))
}

fn completed(data: &Path, session: &str) -> usize {
    manifest(data, session).and_then(|m| m.item("cat").and_then(|i| i.inversion.as_ref().map(|r| r.completed_steps))).unwrap_or(0)
}

fn inversion(data: &Path, session: &str) -> InversionFile {
    let m = manifest(data, session).unwrap();
    let rel = m.item("cat").unwrap().inversion.as_ref().unwrap().file.clone().unwrap();
    InversionFile::load(&data.join("sessions").join(session).join(rel), &Device::Cpu).unwrap()
}

fn values(t: &candle_core::Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn wait_until(child: &mut Child, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "pivot ended before the awaited moment");
        assert!(start.elapsed() < limit, "timed out waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// xorshift, seeded from the clock (printed so a failure can be replayed by hand).
struct Jitter(u64);
impl Jitter {
    fn ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_resume_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let img = img.to_str().unwrap();
    let started = Instant::now();
    let whole = pivot(data, &long_invert_args(img, "whole"));
    assert!(whole.status.success(), "{}", text(&whole));
    let per_step = started.elapsed().as_millis() as u64 / 30;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill timing seed {seed}, about {per_step} ms per timestep");
    let mut jitter = Jitter(seed);
    let mut seen = 0;
    let mut kills = 0;
    let mut finished = false;
    while kills < 20 && !finished {
        let args: Vec<&str> = if manifest(data, "killed").and_then(|m| m.item("cat").cloned()).is_none() {
            long_invert_args(img, "killed")
        } else {
            vec!["resume", "--session", "killed", "--device", "cpu"]
        };
        let mut child = cmd(data, &args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        if kills % 2 == 0 {
            // Anywhere in start-up, DDIM inversion or the first timestep.
            std::thread::sleep(Duration::from_millis(jitter.ms(20, 1500)));
        } else {
            // Mid-optimisation: after this process saved a timestep, within the next one or two
            // (so also while a checkpoint is being written).
            let start = Instant::now();
            while completed(data, "killed") <= seen && child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(120) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(jitter.ms(0, per_step + 1)));
        }
        finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        kills += 1;
        if manifest(data, "killed").is_some() {
            let now = completed(data, "killed");
            assert!(now >= seen, "a finished timestep was lost: {now} < {seen} after kill {kills}");
            seen = now;
            let show = pivot(data, &["session", "show", "killed"]);
            assert!(show.status.success(), "the session must load after a kill: {}", text(&show));
        }
    }
    eprintln!("{kills} kills; {seen} of 30 timesteps were done at the last one");
    assert!(kills == 20 || finished, "stopped after {kills} kills");
    if manifest(data, "killed").is_none_or(|m| m.item("cat").is_none()) {
        let first = pivot(data, &long_invert_args(img, "killed"));
        assert!(first.status.success(), "{}", text(&first));
    }
    let done = pivot(data, &["resume", "--session", "killed", "--device", "cpu"]);
    assert!(done.status.success(), "{}", text(&done));
    let (a, b) = (inversion(data, "whole"), inversion(data, "killed"));
    assert!(a.is_complete() && b.is_complete());
    assert_eq!(a.iterations, b.iterations);
    assert_eq!(values(&a.null_embeddings), values(&b.null_embeddings), "resumed embeddings differ from an uninterrupted run");
    assert_eq!(values(&a.latents), values(&b.latents));
    let m = manifest(data, "killed").unwrap();
    assert!(m.queue.is_empty() && m.item("cat").unwrap().reconstruction.is_some());
}

#[test]
fn sigterm_checkpoints_and_exits_143_shows_read_only_and_a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let out_file = data.join("term.safetensors");
    let mut args = invert_args(img.to_str().unwrap(), "term");
    args.extend_from_slice(&["--out", out_file.to_str().unwrap()]);
    let mut child = cmd(data, &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(&mut child, Duration::from_secs(120), || completed(data, "term") >= 1);
    let second = pivot(data, &["resume", "--session", "term", "--device", "cpu"]);
    assert!(!second.status.success());
    assert!(text(&second).contains("open in another pivot process"), "{}", text(&second));
    let show = pivot(data, &["session", "show", "term"]);
    assert!(show.status.success() && text(&show).contains("item cat"), "show reads a session in use: {}", text(&show));
    let pid = format!("open in another pivot process (pid {})", child.id());
    assert!(text(&show).contains(&pid) && text(&show).contains("last saved"), "show says its steps may be behind: {}", text(&show));
    assert!(text(&show).contains("run in this order by the pivot process") && !text(&show).contains("run in this order by `pivot resume"), "the queue is that process's: {}", text(&show));
    let listed = pivot(data, &["session", "list"]);
    assert!(text(&listed).contains(&format!("open in pivot (pid {})", child.id())), "{}", text(&listed));
    let removed = pivot(data, &["session", "rm", "--yes", "term"]);
    assert!(!removed.status.success() && data.join("sessions/term/session.toml").exists(), "{}", text(&removed));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "SIGTERM: {msg}");
    assert!(msg.contains("stopped by SIGTERM") && msg.contains("pivot resume --session term"), "{msg}");
    assert!(msg.contains("term.safetensors not written") && msg.contains("pivot session export term") && !out_file.exists(), "{msg}");
    let k = completed(data, "term");
    assert!(k >= 1, "{msg}");
    // SIGHUP (the SSH link dropped) the same way, on the resumed run.
    let mut child = cmd(data, &["resume", "--session", "term", "--device", "cpu"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_until(&mut child, Duration::from_secs(120), || completed(data, "term") > k);
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.code() == Some(128 + libc::SIGHUP) && text(&out).contains("pivot resume --session term"), "SIGHUP: {}", text(&out));
    // The same `pivot invert` again continues the item it made (and then writes --out), instead
    // of starting a new item from zero; once more, it only writes the outputs.
    for (what, round) in [("continues", 1), ("has its inversion", 2)] {
        let _ = std::fs::remove_file(&out_file);
        let again = pivot(data, &args);
        assert!(again.status.success() && text(&again).contains(&format!("item cat (the same photo, caption and settings) {what}")), "round {round}: {}", text(&again));
        assert_eq!(completed(data, "term"), 12);
        assert!(InversionFile::load(&out_file, &Device::Cpu).unwrap().is_complete());
        assert_eq!(manifest(data, "term").unwrap().items.len(), 1, "round {round}");
    }
    // Another caption for the photo makes a new item, and says that the finished one is there.
    let rug = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat on a rug", "--session", "term", "--steps", "2", "--inner", "1", "--device", "cpu", "--model", "tiny"]);
    let t = text(&rug);
    assert!(rug.status.success() && t.contains("item cat has this photo too, as \"a cat on a mat\"") && t.contains("its inversion is done (`pivot edit --session term --item cat --target TEXT`"), "{t}");
    // Another model is refused before the item is said to have its inversion.
    let other_model: Vec<&str> = args.iter().map(|&a| if a == "tiny" { "tiny:7" } else { a }).collect();
    let wrong = pivot(data, &other_model);
    assert!(!wrong.status.success() && text(&wrong).contains("fingerprint") && !text(&wrong).contains("has its inversion"), "{}", text(&wrong));
    // Another picture under the same file name is not that item's photo: said, and --item cat,
    // taken, is refused rather than handing back the old picture's inversion.
    let other = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([(y * 5) as u8, (x * 6) as u8, 90]));
    other.save(&img).unwrap();
    let changed = pivot(data, &args);
    let t = text(&changed);
    assert!(!changed.status.success() && t.contains("is not the picture item cat was made from") && t.contains("already has an item `cat`"), "{t}");
}

#[test]
fn a_session_invert_then_edit_show_export_and_rm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let out = data.join("inv.safetensors");
    let mut args = invert_args(img.to_str().unwrap(), "s1");
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = pivot(data, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(InversionFile::load(&out, &Device::Cpu).unwrap().is_complete());
    let edited = data.join("dog.png");
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--target", "a cat on a rug", "--device", "cpu", "--out", edited.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(data.join("dog-1.png").exists() && data.join("dog-2.png").exists());
    let m = manifest(data, "s1").unwrap();
    let edits = &m.item("cat").unwrap().edits;
    assert_eq!(edits.len(), 2);
    assert!(edits.iter().all(|e| e.output.as_ref().is_some_and(|p| data.join("sessions/s1").join(p).exists())));
    let caption = m.item("cat").unwrap().prompt.as_str();
    assert!(edits.iter().all(|e| e.source_prompt.as_deref() == Some(caption)), "each edit records the caption it was made from");
    // The same command again makes nothing twice: its edits are taken up and copied out again.
    std::fs::remove_file(data.join("dog-2.png")).unwrap();
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--target", "a cat on a rug", "--device", "cpu", "--out", edited.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("edit e2 of cat has this target and these settings: it is made already"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("edit e2 of cat"), "a made edit is this command's result, on stdout: {}", text(&o));
    assert!(!text(&o).lines().any(|l| l.starts_with("model ")), "no model line when nothing runs: {}", text(&o));
    assert!(data.join("dog-2.png").exists());
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.len(), 2, "no edit added twice");
    // An edit whose picture was lost is said to be made again (and is), not to be used.
    std::fs::remove_file(data.join("sessions/s1/edits/cat-e2.png")).unwrap();
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a cat on a rug", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("edit e2 of cat has this target and these settings: its picture is lost or damaged, so it is made again"), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("made already") && data.join("sessions/s1/edits/cat-e2.png").exists(), "{}", text(&o));
    let bad = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a big dog on a mat", "--device", "cpu"]);
    assert!(!bad.status.success() && text(&bad).contains("refine"), "{}", text(&bad));
    // One bad target among several queues none of them.
    let bad = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a cow on a mat", "--target", "a big dog on a mat", "--device", "cpu"]);
    assert!(!bad.status.success() && text(&bad).contains("no edit was queued"), "{}", text(&bad));
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.len(), 2);
    // --source-out gives the item's reconstruction (the edit's source branch).
    let src = data.join("source.png");
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a fox on a mat", "--device", "cpu", "--source-out", src.to_str().unwrap()]);
    assert!(o.status.success() && image::open(&src).is_ok(), "{}", text(&o));
    // `reconstruct` takes a session item as `edit` does: its replay is the session's reconstruction.
    let recon = data.join("recon.png");
    let o = pivot(data, &["reconstruct", "--session", "s1", "--item", "cat", "--device", "cpu", "--out", recon.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let stored = data.join("sessions/s1").join(manifest(data, "s1").unwrap().item("cat").unwrap().reconstruction.clone().unwrap());
    assert_eq!(image::open(&recon).unwrap().to_rgb8(), image::open(&stored).unwrap().to_rgb8());
    // One edit goes (asked for with --yes when there is no terminal), with its picture; a wrong id names the others.
    let fox = manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().find(|e| e.spec.target == "a fox on a mat").map(|e| (e.id.clone(), e.output.clone().unwrap())).unwrap();
    let o = pivot(data, &["session", "rm", "s1", "--item", "cat", "--edit", &fox.0]);
    assert!(!o.status.success() && text(&o).contains("pass --yes"), "{}", text(&o));
    // (--item may go when the session has one item; never does that make it the whole session.)
    let o = pivot(data, &["session", "rm", "s1", "--edit", "e99", "--yes"]);
    assert!(!o.status.success() && text(&o).contains("has no edit `e99` (its edits: e1, e2, e3)") && data.join("sessions/s1").exists(), "{}", text(&o));
    let o = pivot(data, &["session", "rm", "s1", "--item", "cat", "--edit", &fox.0, "--yes"]);
    assert!(o.status.success() && text(&o).contains(&format!("removed edit `{}` of item `cat`", fox.0)), "{}", text(&o));
    assert!(!data.join("sessions/s1").join(&fox.1).exists());
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.len(), 2);
    // Targets are kept on one line, as captions are.
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a cat\non a\trug", "--reweight", "rug=2", "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().any(|e| e.spec.target == "a cat on a rug"));
    // An edit with blend words keeps its mask beside its picture; --blend-mask copies it out.
    let mask = data.join("mask.png");
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--blend", "cat,dog", "--device", "cpu", "--blend-mask", mask.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("blend mask: white where the edit could change the photo, "), "{}", text(&o));
    let blended = manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().find(|e| e.spec.blend.is_some()).cloned().unwrap();
    let kept = blended.blend_mask.clone().unwrap();
    assert_eq!(kept, format!("edits/cat-{}-mask.png", blended.id));
    let px = image::open(&mask).unwrap().to_rgb8();
    assert_eq!(std::fs::read(&mask).unwrap(), std::fs::read(data.join("sessions/s1").join(&kept)).unwrap());
    assert_eq!(px.dimensions(), image::open(data.join("sessions/s1/images/cat.png")).unwrap().to_rgb8().dimensions(), "the photo's size");
    assert!(px.pixels().all(|p| p.0 == [0, 0, 0] || p.0 == [255, 255, 255]), "black and white");
    assert!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().filter(|e| e.spec.blend.is_none()).all(|e| e.blend_mask.is_none()));
    // A lost mask: the edit is made again (the same mask), its picture kept meanwhile.
    let session_mask = data.join("sessions/s1").join(&kept);
    let first = std::fs::read(&session_mask).unwrap();
    std::fs::remove_file(&session_mask).unwrap();
    let o = pivot(data, &["resume", "--session", "s1", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains(&format!("{kept} is missing: edit {} is queued to be made again (its picture stays until then)", blended.id)), "{}", text(&o));
    assert_eq!(std::fs::read(&session_mask).unwrap(), first);
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().find(|e| e.id == blended.id).unwrap().blend_mask.as_deref(), Some(kept.as_str()));
    // Steps the scheduler cannot give, and null-text at guidance 1, are refused before any item is made.
    let refused: [(&[&str], &str); 5] = [
        (&["--steps", "1000", "--method", "ddim"], "between 1 and 999"),
        (&["--guidance", "1"], "optimises nothing"),
        (&["--steps", "101"], "at most 100 steps (got 101)"),
        // Past f32's range the guided prediction is infinite.
        (&["--guidance", "1e39", "--method", "npi"], "--guidance must be a number from 1 to 1000 (got 1000000000000000000000000000000000000000)"),
        (&["--guidance", "inf"], "from 1 to 1000 (got inf)"),
    ];
    for (extra, why) in refused {
        let mut args = vec!["invert", img.to_str().unwrap(), "--prompt", "a cat", "--session", "s1", "--item", "refused", "--device", "cpu"];
        args.extend_from_slice(extra);
        let o = pivot(data, &args);
        assert!(!o.status.success() && text(&o).contains(why), "{extra:?}: {}", text(&o));
        assert!(manifest(data, "s1").unwrap().item("refused").is_none(), "{extra:?}");
    }
    let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat", "--session", "fresh", "--steps", "1000", "--method", "ddim", "--device", "cpu"]);
    assert!(!o.status.success() && !data.join("sessions/fresh").exists(), "a session made for a refused photo is not left empty: {}", text(&o));
    let att = data.join("att.png");
    // The session's only item needs no --item.
    let o = pivot(data, &["attention", "--session", "s1", "--word", "mat", "--device", "cpu", "--out", att.to_str().unwrap()]);
    assert!(o.status.success() && image::open(&att).is_ok(), "{}", text(&o));
    let show = pivot(data, &["session", "show", "s1"]);
    assert!(text(&show).contains("a dog on a mat") && text(&show).contains("done"), "{}", text(&show));
    assert!(text(&show).contains("reconstruction edits/cat-recon.png (PSNR ") && text(&show).contains(" dB vs the photo)"), "{}", text(&show));
    let list = pivot(data, &["session", "list"]);
    assert!(text(&list).contains("s1"), "{}", text(&list));
    // The same for scripts, as JSON on stdout.
    let json = |args: &[&str]| -> serde_json::Value {
        let o = pivot(data, args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
    };
    let listed = json(&["session", "list", "--json"]);
    let s1 = listed.as_array().unwrap().iter().find(|s| s["name"] == "s1").expect("s1 listed");
    assert!(s1["items"].as_u64() == Some(1) && s1["error"].is_null() && s1["trash_bytes"].is_u64(), "{s1}");
    let shown = json(&["session", "show", "s1", "--json"]);
    let cat = &shown["manifest"]["items"][0];
    assert!(cat["id"] == "cat" && cat["prompt"] == "a cat on a mat" && cat["inversion"]["completed_steps"] == cat["inversion"]["steps"], "{shown}");
    assert!(cat["edits"].as_array().is_some_and(|e| !e.is_empty()) && shown["problems"].as_array().is_some_and(|p| p.is_empty()), "{shown}");
    assert!(shown["reconstruction_psnr_db"]["cat"].as_f64().is_some_and(|db| db > 0.0), "{shown}");
    assert!(shown["blend_mask_share"]["cat"][&blended.id].as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)), "{shown}");
    assert!(text(&show).contains(&format!("    blend mask {kept} (white where the edit could change the photo: ")), "{}", text(&show));
    let dest = data.join("export");
    let o = pivot(data, &["session", "export", "s1", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(dest.join("summary.md")).unwrap().contains("a dog on a mat"));
    assert!(dest.join(&kept).exists(), "the export has the mask under its session name");
    let summary = std::fs::read_to_string(dest.join("summary.md")).unwrap();
    assert!(summary.contains("- Reconstruction from the inversion: `reconstructions/cat.png` (PSNR ") && summary.contains(" dB vs the photo)"), "{summary}");
    assert!(summary.contains(&format!("blend mask `{kept}` (white where the edit could change the photo: ")), "{summary}");
    assert!(text(&show).contains("\"a cat on a rug\" (replace, cross 0.8, self 0.4, reweight rug 2)"), "{}", text(&show));
    let inside = data.join("sessions/copy");
    let o = pivot(data, &["session", "export", "s1", inside.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("inside the sessions folder") && !inside.exists(), "{}", text(&o));
    let again = pivot(data, &["resume", "--session", "s1", "--device", "cpu"]);
    assert!(again.status.success() && text(&again).contains("nothing to resume"), "{}", text(&again));
    // A --model given is checked even when there is nothing to run.
    let wrong = pivot(data, &["resume", "--session", "s1", "--model", "tiny:7", "--device", "cpu"]);
    assert!(!wrong.status.success() && text(&wrong).contains("fingerprint"), "{}", text(&wrong));
    let right = pivot(data, &["resume", "--session", "s1", "--model", "tiny", "--device", "cpu"]);
    assert!(right.status.success() && text(&right).contains("nothing to resume"), "{}", text(&right));
    let other = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat", "--session", "s1", "--model", "tiny:7", "--steps", "2", "--device", "cpu"]);
    assert!(!other.status.success() && text(&other).contains("fingerprint"), "{}", text(&other));
    // An edit with no output that is not on the queue (cancelled in the dashboard) says so.
    let toml = data.join("sessions/s1/session.toml");
    let before = std::fs::read_to_string(&toml).unwrap();
    let cut = before.lines().filter(|l| !l.trim_start().starts_with("output = \"edits/")).collect::<Vec<_>>().join("\n");
    assert_ne!(cut, before.trim_end());
    std::fs::write(&toml, cut).unwrap();
    let show = pivot(data, &["session", "show", "s1"]);
    assert!(text(&show).contains("not queued (cancelled)") && !text(&show).contains(": queued"), "{}", text(&show));
    // The queue is listed one job a line, in the order resume runs it.
    assert!(before.contains("queue = []\n"), "{before}");
    std::fs::write(&toml, format!("{}\n[[queue]]\nkind = \"edit\"\nitem = \"cat\"\nedit = \"e1\"\n\n[[queue]]\nkind = \"invert\"\nitem = \"cat\"\n", before.replace("queue = []\n", ""))).unwrap();
    let show = pivot(data, &["session", "show", "s1"]);
    assert!(text(&show).contains("queue   2 job(s), run in this order by `pivot resume --session s1`:\n    1. edit e1 of cat\n    2. the inversion of cat\n"), "{}", text(&show));
    // An edit made before pivot kept masks (its record names none) is not made again for one.
    let maskless: Vec<&str> = before.lines().filter(|l| !l.trim_start().starts_with("blend_mask = ")).collect();
    std::fs::write(&toml, maskless.join("\n")).unwrap();
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--blend", "cat,dog", "--device", "cpu", "--blend-mask", mask.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains(&format!("edit {} was made before pivot kept blend masks; `pivot session rm s1 --item cat --edit {0}`", blended.id)), "a file asked for and not written fails the command: {}", text(&o));
    let o = pivot(data, &["session", "rm", "--yes", "s1"]);
    assert!(o.status.success() && !data.join("sessions/s1").exists(), "{}", text(&o));
}

#[test]
fn a_session_folder_is_imported_after_checks_and_never_half_made() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (here, there) = (a.path(), b.path());
    let img = photo(here);
    let o = pivot(here, &invert_args(img.to_str().unwrap(), "s1"));
    assert!(o.status.success(), "{}", text(&o));
    let src = here.join("sessions/s1");
    let before = std::fs::read(src.join("session.toml")).unwrap();
    let import = |args: &[&str]| pivot(there, &[&["session", "import"], args].concat());
    let o = import(&[src.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("imported session `s1`"), "{}", text(&o));
    let copy = there.join("sessions/s1");
    assert_eq!(std::fs::read(copy.join("session.toml")).unwrap(), before, "the manifest arrives as it was");
    assert_eq!(std::fs::read(src.join("session.toml")).unwrap(), before, "the source is only read");
    let inv = manifest(there, "s1").unwrap().item("cat").unwrap().inversion.clone().unwrap();
    assert!(inv.is_done() && copy.join(inv.file.unwrap()).is_file());
    // The imported session works: an edit of its inversion runs there.
    let o = pivot(there, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    // An output inside a session's folder, named directly or through a link, is refused.
    let link = there.join("link");
    std::os::unix::fs::symlink(there.join("sessions/s1"), &link).unwrap();
    for out in [copy.join("edits/mine.png"), link.join("edits/new/x.png")] {
        let o = pivot(there, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a rug", "--device", "cpu", "--out", out.to_str().unwrap()]);
        assert!(!o.status.success() && text(&o).contains("inside session `s1`'s folder"), "{}", text(&o));
    }
    assert!(!copy.join("edits/new").exists(), "nothing made for the refused output");
    // Refusals leave nothing behind: a taken name, a folder that is no session, a newer format,
    // a session already in the sessions folder.
    let o = import(&[src.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("already exists") && text(&o).contains("--name"), "{}", text(&o));
    let o = import(&[here.to_str().unwrap(), "--name", "x"]);
    assert!(!o.status.success() && text(&o).contains("not a pivot session folder"), "{}", text(&o));
    let exported = here.join("exported");
    std::fs::create_dir_all(&exported).unwrap();
    std::fs::write(exported.join("summary.md"), "# pivot session").unwrap();
    let o = import(&[exported.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("is what `pivot session export` wrote, not a session"), "{}", text(&o));
    let o = import(&[here.join("nowhere").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("nowhere does not exist"), "{}", text(&o));
    let newer = here.join("newer");
    common::copy_dir(&src, &newer);
    let toml = String::from_utf8(before.clone()).unwrap().replacen(&format!("format_version = {}", pivot::session::manifest::FORMAT_VERSION), "format_version = 7", 1);
    std::fs::write(newer.join("session.toml"), toml).unwrap();
    let o = import(&[newer.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("newer"), "{}", text(&o));
    let o = import(&[copy.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("already in the sessions folder") && text(&o).contains("--name NEW"), "{}", text(&o));
    let mut left: Vec<String> = std::fs::read_dir(there.join("sessions")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["s1"], "refused imports made nothing");
    // Under another name, the copy is a session of that name.
    let o = import(&[src.to_str().unwrap(), "--name", "s2"]);
    assert!(o.status.success(), "{}", text(&o));
    let show = pivot(there, &["session", "show", "s2"]);
    assert!(text(&show).contains("session s2") && text(&show).contains("a cat on a mat"), "{}", text(&show));
    // A session of the sessions folder is copied as a new one under another name, its trash left behind.
    std::fs::create_dir_all(copy.join("trash")).unwrap();
    std::fs::write(copy.join("trash/old.png"), b"set aside").unwrap();
    let o = import(&[copy.to_str().unwrap(), "--name", "fork"]);
    assert!(o.status.success() && text(&o).contains("imported session `fork`"), "{}", text(&o));
    assert!(manifest(there, "fork").unwrap().item("cat").is_some() && !there.join("sessions/fork/trash").exists() && copy.join("trash/old.png").exists());
    // A photo linked from elsewhere arrives as the file; a session in use is not copied.
    let linked = here.join("linked");
    common::copy_dir(&src, &linked);
    let photo_rel = manifest(there, "s1").unwrap().item("cat").unwrap().image.clone();
    let kept = here.join("kept.png");
    std::fs::rename(linked.join(&photo_rel), &kept).unwrap();
    std::os::unix::fs::symlink(&kept, linked.join(&photo_rel)).unwrap();
    let o = import(&[linked.to_str().unwrap(), "--name", "s3"]);
    assert!(o.status.success() && !text(&o).contains("missing"), "{}", text(&o));
    assert_eq!(std::fs::read(there.join("sessions/s3").join(&photo_rel)).unwrap(), std::fs::read(&kept).unwrap());
    // A flipped byte in an inversion (checksum, not size) is said at import, with the way out.
    let flipped = here.join("flipped");
    common::copy_dir(&src, &flipped);
    let inv_rel = manifest(there, "s1").unwrap().item("cat").unwrap().inversion.clone().unwrap().file.unwrap();
    let mut bytes = std::fs::read(flipped.join(&inv_rel)).unwrap();
    let mid = bytes.len() - 100;
    bytes[mid] ^= 0x40;
    std::fs::write(flipped.join(&inv_rel), bytes).unwrap();
    let o = import(&[flipped.to_str().unwrap(), "--name", "s5"]);
    assert!(o.status.success() && text(&o).contains("cannot be used") && text(&o).contains("--restart cat"), "{}", text(&o));
    let _in_use = pivot::session::lock::SessionLock::acquire(&src, "s1").unwrap();
    let o = import(&[src.to_str().unwrap(), "--name", "s4"]);
    assert!(!o.status.success() && text(&o).contains("open in another pivot process"), "{}", text(&o));
    assert!(!there.join("sessions/s4").exists());
}

#[test]
fn damaged_sessions_give_clear_messages_and_keep_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let o = pivot(data, &invert_args(img.to_str().unwrap(), "d"));
    assert!(o.status.success(), "{}", text(&o));
    let sdir = data.join("sessions/d");
    let rel = manifest(data, "d").unwrap().item("cat").unwrap().inversion.as_ref().unwrap().file.clone().unwrap();
    // Another caption under a taken item id: refused before any work, naming the id.
    let mut again = invert_args(img.to_str().unwrap(), "d");
    again[3] = "a dog on a mat";
    let o = pivot(data, &again);
    assert!(!o.status.success() && text(&o).contains("session `d` already has an item `cat`"), "{}", text(&o));
    // Truncated tensor file: the edit names it and what to do; nothing is deleted.
    let inv = sdir.join(&rel);
    let bytes = std::fs::read(&inv).unwrap();
    std::fs::write(&inv, &bytes[..bytes.len() / 3]).unwrap();
    let o = pivot(data, &["edit", "--session", "d", "--item", "cat", "--target", "a dog on a mat", "--device", "cpu"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&rel) && text(&o).contains("truncated") && text(&o).contains("no edit was queued"), "{}", text(&o));
    assert!(text(&o).contains("--restart cat") && !text(&o).contains("model tiny"), "named before the model loads: {}", text(&o));
    assert!(inv.exists());
    std::fs::write(&inv, &bytes).unwrap();
    // Missing image: reported by show; the rest of the session stays.
    let image = sdir.join("images/cat.png");
    let png = std::fs::read(&image).unwrap();
    std::fs::remove_file(&image).unwrap();
    let o = pivot(data, &["session", "show", "d"]);
    assert!(text(&o).contains("images/cat.png") && text(&o).contains("missing"), "{}", text(&o));
    // ...with what to do: the original is still there to add again, or the item goes.
    assert!(text(&o).contains(&format!("its original {} is still there", img.display())) && text(&o).contains("`pivot session rm d --item cat`"), "{}", text(&o));
    assert!(inv.exists());
    std::fs::write(&image, &png).unwrap();
    // Corrupt manifest: refused with a message; every file stays.
    let toml = sdir.join("session.toml");
    let good = std::fs::read(&toml).unwrap();
    std::fs::write(&toml, b"format_version = 1\nitems = [[[").unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("session.toml"), "{}", text(&o));
    assert!(inv.exists() && image.exists());
    // Scripts learn why on stdout too; the list's one line closes what it opens.
    let o = pivot(data, &["session", "show", "d", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!o.status.success() && shown["name"] == "d" && shown["error"].as_str().is_some_and(|e| e.contains("session.toml")), "{}", text(&o));
    let o = pivot(data, &["session", "list"]);
    let line = String::from_utf8_lossy(&o.stdout).lines().find(|l| l.starts_with("d ")).unwrap_or_default().to_string();
    assert!(line.contains("cannot be opened") && line.matches('(').count() == line.matches(')').count(), "{line}");
    // A newer format is refused naming both versions.
    let newer = String::from_utf8(good.clone()).unwrap().replacen(&format!("format_version = {}", pivot::session::manifest::FORMAT_VERSION), "format_version = 7", 1);
    std::fs::write(&toml, newer).unwrap();
    let o = pivot(data, &["session", "show", "d"]);
    assert!(!o.status.success() && text(&o).contains('7') && text(&o).contains(&pivot::session::manifest::FORMAT_VERSION.to_string()), "{}", text(&o));
    std::fs::write(&toml, &good).unwrap();
    assert!(pivot(data, &["session", "show", "d"]).status.success());
    // A typo among --restart ids throws nothing away.
    let o = pivot(data, &["resume", "--session", "d", "--restart", "cat", "--restart", "cta", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("`cta`") && text(&o).contains("nothing was restarted"), "{}", text(&o));
    assert_eq!(completed(data, "d"), 12);
    // Files the manifest does not name (a user's own, a checkpoint a restored manifest does not
    // know) are moved under trash/ with a word, not deleted.
    std::fs::write(sdir.join("edits/my-copy.png"), &png).unwrap();
    std::fs::write(sdir.join("inversions/cat-99.safetensors"), &bytes).unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("moved aside") && text(&o).contains("edits/my-copy.png"), "{}", text(&o));
    assert!(sdir.join("trash/edits/my-copy.png").exists() && sdir.join("trash/inversions/cat-99.safetensors").exists());
    assert!(inv.exists() && image.exists());
    // --restart of a finished, whole inversion asks first (here: no terminal, so --yes).
    let before = std::fs::read(&inv).unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--restart", "cat", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("pass --yes") && text(&o).contains("nothing was restarted"), "{}", text(&o));
    assert_eq!(std::fs::read(&inv).unwrap(), before);
    // With it, the inversion runs again from the first timestep and the old checkpoint is set
    // aside under the name it really got (a name taken in trash/ gets `.1`).
    std::fs::create_dir_all(sdir.join("trash").join(&rel).parent().unwrap()).unwrap();
    std::fs::write(sdir.join("trash").join(&rel), b"an older one").unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--restart", "cat", "--restart", "cat", "--yes", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains(&format!("kept as trash/{rel}.1")), "{}", text(&o));
    assert_eq!(text(&o).matches("kept as trash/").count(), 1, "an item named twice is restarted once: {}", text(&o));
    let rel = format!("{rel}.1");
    assert_eq!(std::fs::read(sdir.join("trash").join(&rel)).unwrap(), before);
    assert_eq!(completed(data, "d"), 12);
    // `session show` says what the trash holds and that it may go.
    // Its size in a unit that fits: a few small files are not `0.0 MB`.
    let trash_size = || pivot::human_size::human_size(pivot::session::gc::folder_size(&sdir.join("trash")).1);
    let o = pivot(data, &["session", "show", "d"]);
    assert!(o.status.success() && text(&o).contains(&format!("trash   4 file(s), {} in ", trash_size())) && text(&o).contains("`pivot session rm d --trash` deletes it"), "{}", text(&o));
    assert!(!text(&o).contains("0.0 MB"), "{}", text(&o));
    let o = pivot(data, &["session", "list"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("d ") && l.ends_with(&format!("  trash {}", trash_size()))), "session list names the trash: {}", text(&o));
    // A reconstruction cut short is named with its fix, and `resume` makes it again; a Mac's
    // `.DS_Store` (which Finder writes back) is left alone, neither refused nor moved.
    let recon = sdir.join("edits/cat-recon.png");
    let whole = std::fs::read(&recon).unwrap();
    std::fs::write(&recon, &whole[..whole.len() / 2]).unwrap();
    std::fs::write(sdir.join("images/.DS_Store"), b"finder").unwrap();
    let o = pivot(data, &["session", "show", "d"]);
    assert!(text(&o).contains("edits/cat-recon.png is truncated") && text(&o).contains("`pivot resume --session d` makes it again"), "{}", text(&o));
    let o = pivot(data, &["resume", "--session", "d", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("its reconstruction is queued to be made again") && !text(&o).contains(".DS_Store"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("item cat: reconstruction made from its null-text inversion (12 steps); "), "not said as an inversion: {}", text(&o));
    assert!(image::open(&recon).is_ok() && sdir.join("trash/edits/cat-recon.png").exists() && sdir.join("images/.DS_Store").exists());
    assert!(!text(&pivot(data, &["session", "show", "d"])).contains("problem"));
    // The trash is emptied on request (asked first: with no terminal, only with --yes), the
    // session's work untouched.
    let o = pivot(data, &["session", "rm", "d", "--trash"]);
    assert!(!o.status.success() && text(&o).contains("pass --yes") && sdir.join("trash/edits/cat-recon.png").exists(), "{}", text(&o));
    // A file the opening itself sets aside is shown, not deleted unseen.
    std::fs::write(sdir.join("edits/stray.png"), &png).unwrap();
    let o = pivot(data, &["session", "rm", "d", "--trash", "--yes"]);
    assert!(!o.status.success() && text(&o).contains("edits/stray.png") && text(&o).contains("nothing was deleted"), "{}", text(&o));
    assert!(sdir.join("trash/edits/stray.png").exists());
    let size = trash_size();
    let o = pivot(data, &["session", "rm", "d", "--trash", "--yes"]);
    assert!(o.status.success() && text(&o).contains("deleted the 6 file(s)") && text(&o).contains(&format!("({size})")) && !sdir.join("trash").exists(), "{}", text(&o));
    let o = pivot(data, &["session", "show", "d"]);
    assert!(o.status.success() && !text(&o).contains("trash") && !text(&o).contains("problem") && recon.exists(), "{}", text(&o));
    assert!(text(&pivot(data, &["session", "rm", "d", "--trash", "--yes"])).contains("nothing in trash/"));
    assert!(!pivot(data, &["session", "rm", "d", "--trash", "--item", "cat"]).status.success(), "--trash is about the trash only");
}

#[test]
fn session_names_and_item_ids_cannot_escape_the_sessions_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    for bad in ["../x", "/tmp/x", "a/b", "..", ".hidden", "x y", "é"] {
        let o = pivot(data, &["session", "new", bad]);
        assert!(!o.status.success() && text(&o).contains("not a valid session name"), "{bad}: {}", text(&o));
        let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "p", "--session", "ok", "--item", bad, "--steps", "2", "--device", "cpu"]);
        assert!(!o.status.success() && text(&o).contains("not a valid item id"), "{bad}: {}", text(&o));
    }
    assert!(!data.join("x").exists() && !data.join("sessions/a").exists());
    // Without --item, a session must have exactly one item to edit; with none, it says how to add one.
    assert!(pivot(data, &["session", "new", "empty"]).status.success());
    let o = pivot(data, &["edit", "--session", "empty", "--target", "a dog", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("session `empty` has no photos yet"), "{}", text(&o));
    // A folder that is not a model, or an empty revision, is refused when the session is made.
    let o = pivot(data, &["session", "new", "m1", "--model", data.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("expected a diffusers layout"), "{}", text(&o));
    let o = pivot(data, &["session", "new", "m2", "--model", "org/name@"]);
    assert!(!o.status.success() && text(&o).contains("revision after @ is empty"), "{}", text(&o));
    assert!(!data.join("sessions/m1").exists() && !data.join("sessions/m2").exists());
}

#[test]
fn a_moved_model_is_named_and_remembered_once_passed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let (old, new) = (data.join("models/sd"), data.join("elsewhere/sd"));
    common::copy_dir(&common::model_dir("tiny-sd"), &old);
    let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat on a mat", "--session", "mv", "--item", "cat", "--method", "ddim", "--steps", "2", "--device", "cpu", "--model", old.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("item cat: ddim over 2 steps; ") && !text(&o).contains("inner iterations"), "only null-text has inner iterations: {}", text(&o));
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    std::fs::rename(&old, &new).unwrap();
    let show = text(&pivot(data, &["session", "show", "mv"]));
    assert!(show.contains("is not there (moved or deleted?): pass --model with its place once (`pivot resume --session mv --model FOLDER`)"), "{show}");
    let edit = |extra: &[&str]| {
        let mut args = vec!["edit", "--session", "mv", "--item", "cat", "--target", "a dog on a mat", "--device", "cpu"];
        args.extend_from_slice(extra);
        pivot(data, &args)
    };
    let o = edit(&[]);
    assert!(!o.status.success() && text(&o).contains("if it moved, pass --model"), "{}", text(&o));
    let o = edit(&["--model", new.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("now uses the model at"), "{}", text(&o));
    assert_eq!(manifest(data, "mv").unwrap().model.source, std::fs::canonicalize(&new).unwrap().display().to_string());
    let o = edit(&[]);
    assert!(o.status.success(), "remembered: {}", text(&o));
    // With the edit made already, a --model of another fingerprint is still refused.
    let o = edit(&["--model", "tiny"]);
    assert!(!o.status.success() && text(&o).contains("fingerprint"), "{}", text(&o));
    // `resume --model` with nothing to run says so when it re-points the session too.
    let third = data.join("third/sd");
    std::fs::create_dir_all(third.parent().unwrap()).unwrap();
    std::fs::rename(&new, &third).unwrap();
    let o = pivot(data, &["resume", "--session", "mv", "--device", "cpu", "--model", third.to_str().unwrap()]);
    let (was, now) = (std::fs::canonicalize(new.parent().unwrap()).unwrap().join("sd"), std::fs::canonicalize(&third).unwrap());
    let said = format!("session `mv` now uses the model at {} (it was at {}; the same model)", now.display(), was.display());
    assert!(o.status.success() && text(&o).contains(&said) && text(&o).contains("nothing to resume"), "{}", text(&o));
    assert_eq!(manifest(data, "mv").unwrap().model.source, now.display().to_string());
}

#[test]
fn an_empty_session_says_how_to_add_a_photo_before_any_note() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    assert!(pivot(data, &["session", "new", "e", "--model", "tiny"]).status.success());
    let old = data.join("old.png");
    std::fs::write(&old, b"an earlier picture").unwrap();
    for args in [&["edit", "--session", "e", "--target", "a dog", "--out"][..], &["attention", "--session", "e", "--word", "cat", "--out"]] {
        let mut args = args.to_vec();
        args.push(old.to_str().unwrap());
        let o = pivot(data, &args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains("session `e` has no photos yet: `pivot invert PHOTO --prompt \"…\" --session e` adds one"), "{args:?}: {t}");
        assert!(!t.contains("--item") && !t.contains("exists; it is replaced"), "{args:?}: {t}");
    }
    assert_eq!(std::fs::read(&old).unwrap(), b"an earlier picture");
}

/// `session show` on the v3 fixture: a failed inversion says why and how to try again, and the
/// session is only read.
#[test]
fn show_says_why_an_inversion_failed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let folder = data.join("sessions/holiday");
    std::fs::create_dir_all(&folder).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v3/session.toml");
    // A caption with quotes of its own.
    let toml = std::fs::read_to_string(&fixture).unwrap().replace(r#"prompt = "a dog running on the beach""#, r#"prompt = 'a "hot dog" on the beach'"#);
    std::fs::write(folder.join("session.toml"), &toml).unwrap();
    // The dog's photo copy is there (the cat's is not).
    std::fs::create_dir_all(folder.join("images")).unwrap();
    image::RgbImage::from_pixel(64, 64, image::Rgb([200, 150, 90])).save(folder.join("images/dog.png")).unwrap();
    let show = pivot(data, &["session", "show", "holiday"]);
    let out = text(&show);
    assert!(show.status.success(), "{out}");
    // Only the manifest was copied: its checkpoint is missing, so a plain resume would fail again.
    assert!(out.contains("17 of 50 steps, failed: loss is not finite at t=461 (NaN)") && out.contains("check the model (its file cannot be used: see below)"), "{out}");
    assert!(out.contains("is missing — `pivot resume --session holiday --restart dog` inverts it again"), "{out}");
    // Without its photo copy the cat cannot be inverted again: no restart is offered for it.
    assert!(out.contains("inversions/cat-3.safetensors is missing — its photo copy is lost too") && !out.contains("--restart cat"), "{out}");
    assert!(out.contains(r#"item dog: "a \"hot dog\" on the beach""#), "quotes inside a caption are escaped: {out}");
    // The cat's inversion finished but its file is missing: no plain resume is offered to make
    // its reconstruction (that would fail on the file), the problem below is pointed to instead.
    assert!(out.contains("done, but its file cannot be used: see below") && !out.contains("`pivot resume --session holiday` makes it"), "{out}");
    // An export says which inversions are unfinished (their files cannot be edited outside).
    let o = pivot(data, &["session", "export", "holiday", data.join("out").to_str().unwrap()]);
    assert!(text(&o).contains("item dog's inversion is unfinished (17 of 50 steps)"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(folder.join("session.toml")).unwrap(), toml, "only read");
}

/// A flipped byte inside an inversion's tensors is found by `session show` and named by
/// `session export`, with the way out, before an edit would stumble on it.
#[test]
fn show_and_export_name_an_inversion_whose_checksum_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let o = pivot(data, &invert_args(img.to_str().unwrap(), "s"));
    assert!(o.status.success(), "{}", text(&o));
    let rel = manifest(data, "s").unwrap().item("cat").unwrap().inversion.clone().unwrap().file.unwrap();
    let path = data.join("sessions/s").join(&rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 9;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let edit = pivot(data, &["edit", "--session", "s", "--target", "a dog on a mat", "--device", "cpu"]);
    assert!(!edit.status.success() && text(&edit).contains("--restart cat") && text(&edit).contains("no edit was queued"), "{}", text(&edit));
    let att = pivot(data, &["attention", "--session", "s", "--item", "cat", "--word", "cat", "--device", "cpu", "--out", data.join("att.png").to_str().unwrap()]);
    assert!(!att.status.success() && text(&att).contains("pivot resume --session s --restart cat"), "{}", text(&att));
    let show = pivot(data, &["session", "show", "s"]);
    assert!(text(&show).contains(&format!("problem: item cat: {rel} cannot be used")) && text(&show).contains("--restart cat"), "{}", text(&show));
    // The item points to that problem, not to a plain resume that would fail again; no edit was added.
    assert!(text(&show).contains("done, but its file cannot be used: see below") && !text(&show).contains("tries again") && !text(&show).contains("edit e1"), "{}", text(&show));
    let o = pivot(data, &["session", "export", "s", data.join("out").to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("warning: exported as it is: item cat"), "{}", text(&o));
    // Whole again, but under a caption changed by hand: the file was made for the old one.
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let toml = data.join("sessions/s/session.toml");
    let manifest_text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, manifest_text.replace("\"a cat on a mat\"", "\"a kitten on a mat\"")).unwrap();
    let show = pivot(data, &["session", "show", "s"]);
    assert!(text(&show).contains("it was made for the caption \"a cat on a mat\", not the item's \"a kitten on a mat\"") && text(&show).contains("--restart cat"), "{}", text(&show));
}

#[test]
fn a_direct_inversion_in_a_session_reconstructs_its_photo_and_is_edited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat on a mat", "--session", "d", "--item", "cat", "--method", "direct", "--steps", "4", "--device", "cpu", "--model", "tiny"]);
    assert!(o.status.success() && text(&o).contains("item cat: direct over 4 steps"), "{}", text(&o));
    // Exact by construction: the reconstruction is the VAE's round trip of the photo (up to float error).
    let psnr_rt = common::psnr_vs_round_trip(&text(&o)).expect("a PSNR against the VAE round trip");
    assert!(psnr_rt > 60.0, "{}", text(&o));
    let m = manifest(data, "d").unwrap();
    let inv = m.item("cat").unwrap().inversion.clone().unwrap();
    assert!(inv.is_done() && inv.method == "direct");
    let file = InversionFile::load(&data.join("sessions/d").join(inv.file.unwrap()), &Device::Cpu).unwrap();
    assert_eq!(file.offsets.as_ref().map(|o| o.dims().to_vec()), Some(vec![4, file.latents.dim(1).unwrap(), file.latents.dim(2).unwrap(), file.latents.dim(3).unwrap()]));
    let out = data.join("dog.png");
    let o = pivot(data, &["edit", "--session", "d", "--target", "a dog on a mat", "--blend", "cat,dog", "--device", "cpu", "--out", out.to_str().unwrap()]);
    assert!(o.status.success() && out.exists(), "{}", text(&o));

    let show = pivot(data, &["session", "show", "d"]);
    assert!(text(&show).contains("inversion direct (4 steps, guidance 7.5): done"), "{}", text(&show));
}

/// A run that leaves an item needing a hand says so last, and in its exit status (a script
/// running `resume` from cron must not read "finished" as "all is well").
#[test]
fn resume_ends_with_the_problems_left_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let mut dog = invert_args(img.to_str().unwrap(), "r");
    dog[7] = "dog";
    for args in [invert_args(img.to_str().unwrap(), "r"), dog] {
        let o = pivot(data, &args);
        assert!(o.status.success(), "{}", text(&o));
    }
    let m = manifest(data, "r").unwrap();
    let rel = m.item("dog").unwrap().inversion.clone().unwrap().file.unwrap();
    let path = data.join("sessions/r").join(&rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 9;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    // Something to run: cat's reconstruction, made again.
    std::fs::remove_file(data.join("sessions/r").join(m.item("cat").unwrap().reconstruction.clone().unwrap())).unwrap();
    let o = pivot(data, &["resume", "--session", "r", "--device", "cpu"]);
    let t = text(&o);
    assert!(o.status.code() == Some(1) && t.contains("job(s) finished") && t.contains(&format!("item dog: {rel} cannot be used")) && t.contains("the problems above need a hand"), "{t}");
}
