//! Driving a worker thread in-process: start one on a new session, wait for events, add photos.

use candle_core::Device;
use pivot::session::manifest::ModelRef;
use pivot::session::store::Session;
use pivot::worker::{Command, Event, NewItem, WorkerHandle, WorkerOptions};
use std::time::Duration;

pub fn start(root: &std::path::Path, name: &str) -> WorkerHandle {
    let s = Session::create(root, name, ModelRef { source: "tiny".into(), hash: String::new() }).unwrap();
    WorkerHandle::spawn(s, WorkerOptions { device: Device::Cpu, model: None })
}

pub fn next(h: &WorkerHandle) -> Event {
    h.events().recv_timeout(Duration::from_secs(300)).expect("the worker answers")
}

thread_local! {
    /// The manifest this test's worker last committed (the worker holds the session's lock).
    pub static LAST: std::cell::RefCell<Option<Box<pivot::session::manifest::Manifest>>> = const { std::cell::RefCell::new(None) };
}

pub fn until<T>(h: &WorkerHandle, mut f: impl FnMut(&Event) -> Option<T>) -> T {
    loop {
        let e = next(h);
        if let Event::Manifest(m) = &e {
            LAST.with(|l| *l.borrow_mut() = Some(m.clone()));
        }
        if let Event::Failed { message, .. } = &e {
            panic!("worker failed: {message}");
        }
        if let Some(t) = f(&e) {
            return t;
        }
    }
}

pub fn add_photo(h: &WorkerHandle, dir: &std::path::Path) -> String {
    add_photo_with(h, dir, "null-text", 8)
}

pub fn add_photo_with(h: &WorkerHandle, dir: &std::path::Path, method: &str, steps: usize) -> String {
    add_photo_as(h, dir, "a red square", method, steps)
}

pub fn add_photo_as(h: &WorkerHandle, dir: &std::path::Path, prompt: &str, method: &str, steps: usize) -> String {
    let p = dir.join("p.png");
    image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 90])).save(&p).unwrap();
    h.send(Command::AddItem(NewItem { image: p, prompt: prompt.into(), id: None, method: method.into(), steps, inner: 4, guidance: 7.5, epsilon: 0.0, fixed_point: 0 }));
    until(h, |e| match e {
        Event::ItemAdded { item } => Some(item.clone()),
        _ => None,
    })
}
