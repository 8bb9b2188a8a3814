//! The real terminal: raw mode + alternate screen, restored on exit, on error and on panic
//! (before the panic message is printed); keys from crossterm; the zoom view.

use super::app::Input;
use super::graphics::zoom::ansi_picture;
use anyhow::Result;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;
use std::io::{stdout, Stdout, Write};
use std::time::Duration;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Put the terminal back as the shell expects it (safe to call twice).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), DisableBracketedPaste, LeaveAlternateScreen, cursor::Show);
}

/// Whether a shell watches this process's group for stops (job control): the parent is in the
/// same session but another group, as under an interactive shell. A session leader (a tmux
/// pane's own command) or a group with no such parent is an orphaned group, whose stops the
/// kernel drops.
fn job_control() -> bool {
    // SAFETY: plain queries of process ids, no memory involved.
    unsafe {
        let parent = libc::getppid();
        let ours = libc::getpgrp();
        libc::getsid(0) != libc::getpid() && libc::getsid(parent) == libc::getsid(0) && libc::getpgid(parent) != ours
    }
}

pub fn setup() -> Result<Term> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    // A paste arrives whole (its line breaks are not Enter keys): see `Msg::Paste`.
    execute!(stdout(), EnterAlternateScreen, cursor::Hide, EnableBracketedPaste)?;
    let mut t = Terminal::new(CrosstermBackend::new(stdout()))?;
    clear(&mut t)?;
    Ok(t)
}

/// Blank the screen and forget what was drawn, so that the next frame is painted whole.
/// `Terminal::clear` first asks the terminal where its cursor is, and a terminal that does not
/// answer (`script`, some serial consoles) would stop the dashboard; the cursor is hidden anyway.
pub fn clear<B: ratatui::backend::Backend>(t: &mut Terminal<B>) -> std::result::Result<(), B::Error> {
    let size = t.size()?;
    t.resize(ratatui::layout::Rect::from(size))
}

/// Keys from the terminal. A resize comes back as a `Null` key so the loop redraws.
///
/// crossterm spins forever reading a terminal that hung up (SSH dropped, tmux killed), so the
/// terminal is polled here first and a hang-up ends the loop with [`TerminalGone`].
pub struct TerminalInput {
    tty: std::fs::File,
    zoom: ZoomWith,
    /// Whether the panes' pictures use 24-bit colour: viuer's coloured blocks then do too (left
    /// to itself it asks COLORTERM, which tmux and SSH often do not pass on).
    truecolor: bool,
    /// Text pasted in one piece, until the loop takes it.
    paste: Option<String>,
}

/// How `z` shows a picture outside the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoomWith {
    /// viuer: kitty / iTerm / sixel pixels where the terminal answers for them (it asks the
    /// terminal, which is a tty here), else its own coloured blocks.
    Viuer,
    /// pivot's true-colour half-blocks: plain escape codes, nothing asked of the terminal.
    HalfBlock,
    /// No picture (`--graphics none`): its size only.
    Text,
}

/// The controlling terminal closed under us.
#[derive(Debug)]
pub struct TerminalGone;

impl std::fmt::Display for TerminalGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the terminal went away")
    }
}

impl std::error::Error for TerminalGone {}

impl TerminalInput {
    pub fn open(zoom: ZoomWith, truecolor: bool) -> Result<Self> {
        Ok(Self { tty: std::fs::File::open("/dev/tty")?, zoom, truecolor, paste: None })
    }

    fn alive(&self) -> Result<()> {
        use std::os::fd::AsRawFd;
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr only writes the termios it is given.
        if unsafe { libc::tcgetattr(self.tty.as_raw_fd(), t.as_mut_ptr()) } != 0 {
            return Err(TerminalGone.into());
        }
        Ok(())
    }

    /// Wait up to `timeout` for input on the terminal.
    fn readable(&self, timeout: Duration) -> Result<bool> {
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd { fd: self.tty.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fd, 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
        if n < 0 {
            // EINTR (a signal): the loop looks at the signal flag next.
            return Ok(false);
        }
        if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(TerminalGone.into());
        }
        Ok(n > 0)
    }
}

impl Input for TerminalInput {
    fn next(&mut self, timeout: Duration) -> Result<Option<KeyEvent>> {
        self.alive()?;
        // Events crossterm already buffered come first; else wait on the terminal ourselves.
        if !event::poll(Duration::ZERO)? {
            if !self.readable(timeout)? {
                return Ok(None);
            }
            self.alive()?;
            if !event::poll(Duration::ZERO)? {
                return Ok(None);
            }
        }
        Ok(match event::read()? {
            Event::Key(k) => Some(k),
            Event::Resize(..) => Some(KeyEvent::new(KeyCode::Null, KeyModifiers::NONE)),
            // Kept for `take_paste`; the Null key wakes the loop for it.
            Event::Paste(text) => {
                self.paste = Some(text);
                Some(KeyEvent::new(KeyCode::Null, KeyModifiers::NONE))
            }
            _ => None,
        })
    }

    fn suspend(&mut self) -> Result<bool> {
        // The kernel drops a stop for a process group no shell watches (pivot run as a tmux
        // pane's own command, say): nothing would ever continue it.
        if !job_control() {
            return Ok(false);
        }
        restore();
        // SAFETY: raising a signal on this process; SIGTSTP's default action stops it here
        // until SIGCONT, then the call returns.
        unsafe { libc::raise(libc::SIGTSTP) };
        enable_raw_mode()?;
        execute!(stdout(), EnterAlternateScreen, cursor::Hide, EnableBracketedPaste)?;
        Ok(true)
    }

    fn take_paste(&mut self) -> Option<String> {
        self.paste.take()
    }

    fn bell(&mut self) -> Result<()> {
        // BEL moves nothing on the screen; a terminal that does not ring ignores it.
        let mut out = stdout();
        out.write_all(b"\x07")?;
        out.flush()?;
        Ok(())
    }

    fn zoom(&mut self, img: &image::RgbImage, what: &str) -> Result<Option<String>> {
        if self.zoom == ZoomWith::Text {
            return Ok(Some(format!("{what}: {}×{} (pictures are off: --graphics none or NO_COLOR)", img.width(), img.height())));
        }
        // On the alternate screen, cleared: the shell's screen from before pivot stays as it was,
        // and the picture does not end up in the terminal's scrollback.
        // Through `next`: a hung-up terminal (SSH dropped) ends the wait, and a stop signal comes
        // back to the main loop, which checkpoints and exits. A resize prints the picture again
        // at the new size.
        'shown: loop {
            execute!(stdout(), Clear(ClearType::All), cursor::MoveTo(0, 0))?;
            self.print_zoomed(img, what)?;
            loop {
                if crate::signals::received().is_some() {
                    break 'shown;
                }
                match self.next(Duration::from_millis(100))? {
                    Some(k) if k.code == KeyCode::Null => continue 'shown,
                    Some(k) if k.kind == KeyEventKind::Press => break 'shown,
                    _ => {}
                }
            }
        }
        execute!(stdout(), Clear(ClearType::All), cursor::MoveTo(0, 0))?;
        Ok(None)
    }
}

impl TerminalInput {
    /// The picture as large as the terminal takes it, with what it is and the way back.
    fn print_zoomed(&mut self, img: &image::RgbImage, what: &str) -> Result<()> {
        let (cols, rows) = ratatui::crossterm::terminal::size()?;
        let mut out = stdout();
        // The caption below the picture, two lines at most (what is shown gives way in its middle,
        // the way back stays); the picture takes the rows left. Room for " (half-blocks)" too.
        let tail = format!(" · {}×{} (half-blocks) · any key returns to the dashboard", img.width(), img.height());
        let room = (usize::from(cols.max(8)) * 2 - 4).saturating_sub(super::view::width(&tail)).max(4);
        let what = super::view::shorten_middle(what, room);
        let caption_rows = (super::view::width(&what) + super::view::width(&tail)).div_ceil(usize::from(cols.max(1))).max(1) as u16;
        let rows = rows.saturating_sub(caption_rows + 1).max(1);
        let how = match self.zoom {
            ZoomWith::Viuer => {
                out.flush()?;
                // viuer fills the box it is given; a box of the picture's shape keeps it unstretched.
                let (w, h) = crate::tui::graphics::zoom::fit_cells(img.width(), img.height(), cols, rows);
                // tmux drops kitty's and iTerm's picture codes (viuer would still report success
                // on a blank screen): its coloured blocks, or sixel, there.
                let in_tmux = std::env::var_os("TMUX").is_some();
                let config = viuer::Config { absolute_offset: false, width: Some(w as u32), height: Some(h as u32), truecolor: self.truecolor, use_kitty: !in_tmux, use_iterm: !in_tmux, ..Default::default() };
                match viuer::print(&image::DynamicImage::ImageRgb8(img.clone()), &config) {
                    Ok(_) => "",
                    // A terminal that refuses every protocol still gets a picture.
                    Err(_) => {
                        write!(out, "{}", ansi_picture(img, cols, rows))?;
                        " (half-blocks)"
                    }
                }
            }
            ZoomWith::HalfBlock => {
                write!(out, "{}", ansi_picture(img, cols, rows))?;
                ""
            }
            ZoomWith::Text => "",
        };
        write!(out, "\r\n{what} · {}×{}{how} · any key returns to the dashboard", img.width(), img.height())?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ratatui::backend::{Backend, ClearType, TestBackend};
    use ratatui::widgets::Paragraph;
    use ratatui::Terminal;

    #[test]
    fn a_clear_paints_the_next_frame_whole() {
        let mut t = Terminal::new(TestBackend::new(12, 2)).unwrap();
        let frame = |t: &mut Terminal<TestBackend>| {
            t.draw(|f| f.render_widget(Paragraph::new("pivot"), f.area())).unwrap();
        };
        frame(&mut t);
        // Something else blanked the screen: the same frame again changes nothing on it...
        t.backend_mut().clear_region(ClearType::All).unwrap();
        frame(&mut t);
        t.backend().assert_buffer_lines(["            ", "            "]);
        // ...until the dashboard clears (Ctrl-L), which makes the next frame whole.
        super::clear(&mut t).unwrap();
        frame(&mut t);
        t.backend().assert_buffer_lines(["pivot       ", "            "]);
    }
}
