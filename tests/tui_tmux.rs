//! The dashboard end to end: the real binary in a detached tmux server (send-keys, capture-pane)
//! on the built-in demo: start the inversion → loss pane and status line move → pause → quit →
//! relaunch → resume → finish → add an edit → the result pane shows it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    data: tempfile::TempDir,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs")
    }

    fn launch(&self) {
        let d = self.data.path();
        let cmd = format!(
            "env PIVOT_DATA_DIR={} PIVOT_CONFIG_DIR={} PIVOT_STATE_DIR={} PIVOT_DEMO_STEPS=60 HF_HUB_OFFLINE=1 TERM=xterm-256color {} --device cpu",
            d.join("data").display(),
            d.join("config").display(),
            d.join("state").display(),
            env!("CARGO_BIN_EXE_pivot")
        );
        let o = self.run(&["new-session", "-d", "-x", "120", "-y", "40", "-s", "t", &cmd]);
        assert!(o.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&o.stderr));
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    /// Whether the dashboard's window has rung the terminal's bell (tmux flags it).
    fn rang(&self) -> bool {
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "t", "#{window_bell_flag}"]).stdout).trim() == "1"
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "t"]).status.success()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn typed(&self, text: &str) {
        assert!(self.run(&["send-keys", "-t", "t", "-l", text]).status.success());
    }

    /// Wait until the screen satisfies `ok`; the last screen is in the panic message.
    fn wait(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn has_tmux() -> bool {
    Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success())
}

/// The t k/T figure of the status line (the running inversion's finished timesteps).
fn timestep(screen: &str) -> Option<usize> {
    // The status line (the last): "null-text pattern · t 3/25 · …", "t 3/25 · …" when a
    // notice leaves no room for the stage, or "pattern t 3/25 · …" beside a notice.
    let line = screen.lines().rev().find(|l| !l.trim().is_empty())?;
    let at = if line.starts_with("t ") { 2 } else { ["null-text pattern · t ", "pattern t "].iter().find_map(|p| line.find(p).map(|i| i + p.len()))? };
    line[at..].split('/').next()?.trim().parse().ok()
}

#[test]
fn demo_invert_pause_decode_quit_relaunch_resume_and_edit() {
    if !has_tmux() {
        eprintln!("skipped: tmux is not installed (.ci/run installs it; apt-get install tmux)");
        return;
    }
    let t = Tmux { socket: format!("pivot-test-{}", std::process::id()), data: tempfile::tempdir().unwrap() };
    t.launch();
    // The demo says its weights are random and how to use real ones.
    t.wait("the demo item", 60, |s| s.contains("pattern") && s.contains("queued") && s.contains("random weights") && s.contains("--model"));
    t.keys(&["i"]);
    let first = t.wait("the null-text stage", 120, |s| timestep(s).is_some());
    let k0 = timestep(&first).unwrap();
    // Every check lives in a wait: capture-pane can catch a frame half written.
    t.wait("the loss pane and status line to move", 120, |s| {
        timestep(s).is_some_and(|k| k > k0) && s.contains("Job: invert pattern") && s.contains("it/s") && s.contains("loss")
    });
    t.keys(&["p"]);
    t.wait("the pause", 60, |s| s.contains("paused"));
    assert!(!t.rang(), "a pause does not ring the bell");
    t.keys(&["f"]);
    t.wait("the VAE decode of x0 in the preview pane", 60, |s| s.contains("x0 via the VAE") && s.contains("z zooms"));
    t.keys(&["q"]);
    let start = Instant::now();
    while t.alive() {
        assert!(start.elapsed() < Duration::from_secs(20), "q did not quit; screen:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    let saved = std::fs::read_to_string(Path::new(t.data.path()).join("data/sessions/demo/session.toml")).unwrap();
    assert!(saved.contains("completed_steps") && !saved.contains("completed_steps = 0\n"), "{saved}");

    t.launch();
    // Part-done and on the (paused) queue: "queued k/60", its saved timesteps counted.
    t.wait("the part-done item on the queue", 60, |s| s.lines().any(|l| l.contains("pattern") && l.contains("queued ") && l.contains("/60")));
    t.keys(&["p"]);
    // The demo's own edit (e1) runs right after the inversion: the result pane shows one or the other.
    t.wait("the finished inversion", 240, |s| s.contains("inverted") && (s.contains("Reconstruction") || s.contains("edit e1")));
    // The queue runs out once e1 is made: the bell rings (tmux flags the window).
    let start = Instant::now();
    while !t.rang() {
        assert!(start.elapsed() < Duration::from_secs(120), "no bell when the queue ran out; screen:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    t.keys(&["e"]);
    t.wait("the edit form", 30, |s| s.contains("New edit"));
    for _ in 0.."pattern".len() {
        t.keys(&["BSpace"]);
    }
    t.typed("square");
    t.keys(&["Enter"]);
    // The title names the edit: its whole target when the pane is wide enough, else the word it swaps.
    t.wait("the edit in the result pane", 240, |s| (s.contains("pattern · edit e2: \"a colourful test square") || s.contains("pattern · edit e2 → square")) && s.contains("✓"));
    // `/` finds the demo's own edit by its prompt: the result pane goes back to e1.
    t.keys(&["/"]);
    t.typed("PICTURE");
    t.wait("the find line", 30, |s| s.contains("/PICTURE▏ · 1 of 1"));
    t.keys(&["Enter"]);
    t.wait("the edit found", 30, |s| s.contains("\"PICTURE\": 1 of 1, pattern's edit e1") && s.contains("pattern · edit e1"));
    // An edit with blend words from the form: its mask is browsed to after it in the preview pane.
    t.keys(&["e"]);
    t.wait("the edit form from e1", 30, |s| s.contains("New edit of pattern, from e1"));
    t.keys(&["Tab", "Tab", "Tab", "Tab"]);
    t.typed("pattern,picture 0.5");
    t.keys(&["Enter"]);
    t.wait("the blended edit", 240, |s| s.contains("pattern · edit e3") && s.contains("✓"));
    t.keys(&["Tab", "Tab", "j"]);
    t.wait("its mask", 30, |s| s.contains("pattern · e3's mask, ") && s.contains("% may change"));
    t.keys(&["q"]);
}

#[test]
fn a_hung_up_terminal_ends_the_dashboard_and_keeps_the_work() {
    if !has_tmux() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let t = Tmux { socket: format!("pivot-hup-{}", std::process::id()), data: tempfile::tempdir().unwrap() };
    // What a `pivot session rm` killed half-way leaves (its pid is one Linux never hands out).
    let leftover = t.data.path().join("data/sessions/.removing-old-999999999");
    std::fs::create_dir_all(leftover.join("inversions")).unwrap();
    t.launch();
    let s = t.wait("the demo item", 60, |s| s.contains("queued"));
    assert!(!leftover.exists(), "the dashboard's start finishes the interrupted removal:\n{s}");
    t.keys(&["i"]);
    t.wait("the null-text stage", 120, |s| timestep(s).is_some());
    let pid: i32 = String::from_utf8_lossy(&t.run(&["display-message", "-p", "-t", "t", "#{pane_pid}"]).stdout).trim().parse().unwrap();
    t.run(&["kill-server"]);
    let start = Instant::now();
    // SAFETY: signal 0 only asks whether the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "pivot kept running after its terminal hung up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(t.data.path().join("state/pivot.log")).unwrap();
    assert!(log.contains("stopped") && log.contains("session `demo` keeps every finished timestep"), "{log}");
    assert!(log.contains(".removing-old-999999999 (left by an interrupted `pivot session rm`"), "{log}");
}
