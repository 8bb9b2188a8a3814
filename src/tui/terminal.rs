//! The real terminal: raw mode + alternate screen, restored on exit, on error and on panic
//! (before the panic message is printed); keys from crossterm; the zoom view.

use super::app::Input;
use super::graphics::zoom::ansi_picture;
use anyhow::Result;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;
use std::io::{stdout, Stdout, Write};
use std::time::Duration;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Put the terminal back as the shell expects it (safe to call twice).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, cursor::Show);
}

pub fn setup() -> Result<Term> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, cursor::Hide)?;
    let mut t = Terminal::new(CrosstermBackend::new(stdout()))?;
    t.clear()?;
    Ok(t)
}

/// Keys from the terminal. A resize comes back as a `Null` key so the loop redraws.
pub struct TerminalInput;

impl Input for TerminalInput {
    fn next(&mut self, timeout: Duration) -> Result<Option<KeyEvent>> {
        if !event::poll(timeout)? {
            return Ok(None);
        }
        Ok(match event::read()? {
            Event::Key(k) => Some(k),
            Event::Resize(..) => Some(KeyEvent::new(KeyCode::Null, KeyModifiers::NONE)),
            _ => None,
        })
    }

    fn zoom(&mut self, img: &image::RgbImage) -> Result<()> {
        let (cols, rows) = ratatui::crossterm::terminal::size()?;
        execute!(stdout(), LeaveAlternateScreen, cursor::Show)?;
        let mut out = stdout();
        write!(out, "\r\n{}", ansi_picture(img, cols, rows.saturating_sub(2)))?;
        write!(out, "{}×{} · any key returns to the dashboard\r\n", img.width(), img.height())?;
        out.flush()?;
        loop {
            if let Event::Key(k) = event::read()? {
                if k.kind == KeyEventKind::Press {
                    break;
                }
            }
        }
        execute!(stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(())
    }
}
