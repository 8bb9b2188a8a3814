//! `pivot bench tui`: frame render time (TestBackend, no terminal I/O) and key-to-screen latency
//! of the real event loop while the worker runs a tiny null-text inversion beside it.

use anyhow::Result;
use pivot::session::manifest::{Job, ModelRef};
use pivot::session::store::Session;
use pivot::tui::app::{Input, Loop};
use pivot::tui::keymap::Keymap;
use pivot::tui::showcase::running_model;
use pivot::tui::state::Model;
use pivot::tui::theme::Theme;
use pivot::tui::view::dashboard::{draw, Graphics, Look};
use pivot::worker::{Command, NewItem, Stage, StopReason, WorkerHandle, WorkerOptions};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn frames(look: &Look) -> Result<()> {
    println!("{:<8} {:>7} {:>10} {:>8}", "size", "frames", "median_ms", "p99_ms");
    let model = running_model();
    for (w, h) in [(120u16, 40u16), (80, 24)] {
        let mut term = Terminal::new(TestBackend::new(w, h))?;
        let mut times = Vec::new();
        for i in 0..320 {
            let t = Instant::now();
            term.draw(|f| draw(f, &model, look))?;
            if i >= 20 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let n = times.len();
        println!("{:<8} {n:>7} {:>10.3} {:>8.3}", format!("{w}x{h}"), percentile(times.clone(), 0.5), percentile(times, 0.99));
    }
    Ok(())
}

/// Shared between the scripted keyboard and the frame callback.
#[derive(Default)]
struct Probe {
    busy: bool,
    sent: Option<(Instant, bool)>,
    latencies: Vec<f64>,
    quit_sent: bool,
}

/// Presses `l` (log/linear) every 150 ms once the inversion is optimising, then quits.
struct Script {
    probe: Rc<RefCell<Probe>>,
    next_at: Instant,
    keys: usize,
}

impl Input for Script {
    fn next(&mut self, timeout: Duration) -> Result<Option<KeyEvent>> {
        let now = Instant::now();
        if now + timeout < self.next_at {
            std::thread::sleep(timeout);
            return Ok(None);
        }
        std::thread::sleep(self.next_at.saturating_duration_since(now));
        self.next_at = Instant::now() + Duration::from_millis(150);
        let mut p = self.probe.borrow_mut();
        let key = |c| Some(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        if p.latencies.len() >= self.keys {
            let c = if p.quit_sent { 'y' } else { 'q' };
            p.quit_sent = true;
            return Ok(key(c));
        }
        if !p.busy || p.sent.is_some() {
            return Ok(None);
        }
        p.sent = Some((Instant::now(), true));
        Ok(key('l'))
    }
}

fn latency(look: Look, keys: &Keymap) -> Result<()> {
    let root = std::env::temp_dir().join(format!("pivot-bench-tui-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let session = Session::create(&root, "bench", ModelRef { source: "tiny".into(), hash: String::new() })?;
        let session_dir = session.dir.clone();
        let photo = root.join("photo.png");
        pivot::sd::image::save(&pivot::sd::image::test_pattern(128), &photo)?;
        let worker = WorkerHandle::spawn(session, WorkerOptions { device: candle_core::Device::Cpu, model: None });
        let item = NewItem { image: photo, prompt: "a test pattern".into(), id: Some("p".into()), method: "null-text".into(), steps: 50, inner: 10, guidance: 7.5, epsilon: 0.0, fixed_point: 0 };
        worker.send(Command::AddItem(item));
        worker.send(Command::Run(vec![Job::Invert { item: "p".into() }]));
        let probe = Rc::new(RefCell::new(Probe::default()));
        let seen = probe.clone();
        let mut on_frame = move |m: &Model, _: Duration| {
            let mut p = seen.borrow_mut();
            p.busy = m.running.is_some() && m.run.as_ref().is_some_and(|r| r.stage == Some(Stage::NullText));
            if let Some((at, _)) = p.sent {
                // Each `l` flips the axis; the frame that shows the flip ends the measurement.
                p.latencies.push(at.elapsed().as_secs_f64() * 1e3);
                p.sent = None;
            }
        };
        let mut looped = Loop { model: Model::new("bench", true), keys, look, session_dir, started: Instant::now(), frame: pivot::tui::launch::Config::default().frame()?, on_frame: Some(&mut on_frame), cleared: false, log: None, replies: Default::default() };
        let mut term = Terminal::new(TestBackend::new(120, 40))?;
        let mut script = Script { probe: probe.clone(), next_at: Instant::now(), keys: 40 };
        looped.run(&mut term, &worker, &mut script)?;
        worker.stop(StopReason::Stop);
        worker.shutdown();
        let l = probe.borrow().latencies.clone();
        println!("{:<6} {:>10} {:>8} {:>8}", "keys", "median_ms", "p95_ms", "max_ms");
        println!("{:<6} {:>10.2} {:>8.2} {:>8.2}", l.len(), percentile(l.clone(), 0.5), percentile(l.clone(), 0.95), l.iter().cloned().fold(0.0, f64::max));
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&root);
    result
}

pub fn run() -> Result<()> {
    let theme = Theme::built_in("default")?;
    let keys = Keymap::default();
    println!("# pivot bench tui: frames drawn into a TestBackend (no terminal I/O), running-inversion screen");
    frames(&Look { theme: &theme, keys: &keys, graphics: Graphics::HalfBlock })?;
    println!("# key-to-screen: `l` pressed every 150 ms while the worker runs a tiny null-text inversion (CPU busy)");
    latency(Look { theme: &theme, keys: &keys, graphics: Graphics::HalfBlock }, &keys)
}
