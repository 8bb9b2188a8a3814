//! Sessions through the real binary: invert/edit/resume in a session, SIGKILL at random moments
//! (the session always loads, no finished timestep is lost, resume is bit-identical to an
//! uninterrupted run), SIGTERM, the lock, another model, damaged files and path safety.

#[path = "../common/mod.rs"]
mod common;

use candle_core::Device;
use pivot::session::inversion_file::InversionFile;
use pivot::session::manifest::Manifest;
use pivot::session::migrate::parse_manifest;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
mod lifecycle;
mod problems;

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
