//! The status line: what runs, how far and how fast, the device, the last message, the help key.

use crate::session::manifest::Job;
use crate::tui::state::{Level, Model};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// `1:05` style durations.
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The whole progress part: `null-text cat · t 23/50 · inner 7/10 · loss 3.2e-5 (thr 4.7e-5) ·
/// 6.1 it/s · ETA 0:38`.
pub fn progress(m: &Model) -> Option<String> {
    progress_at(m, Detail::Full)
}

/// How much of the progress a status line has room for.
#[derive(Clone, Copy, PartialEq)]
enum Detail {
    Full,
    /// Without the stage's name (the panes show it).
    NoStage,
    /// The job and its step only, beside a message that would otherwise wrap.
    Brief,
}

fn progress_at(m: &Model, detail: Detail) -> Option<String> {
    let job = m.running.as_ref()?;
    // The progress names its job: a notice beside it may be about another one.
    // A long item name gives way in its middle: the step and the loss are what this line is for.
    let whose = match job {
        Job::Invert { item } => super::shorten_middle(item, 24),
        Job::Edit { item, edit } => format!("{}/{edit}", super::shorten_middle(item, 20)),
    };
    if let Some((step, total)) = m.sampling {
        return Some(match detail {
            Detail::Full => format!("{} {whose} {step}/{total}", crate::worker::Stage::Sampling.label_in(job)),
            _ => format!("{whose} {step}/{total}"),
        });
    }
    let r = m.run.as_ref()?;
    let stage = r.stage.map(|s| s.label_in(job)).unwrap_or("starting");
    let steps = format!("t {}/{}", r.named_step(true), r.total);
    let mut parts = match detail {
        Detail::Full => vec![format!("{stage} {whose} · {steps}")],
        // Alone on the line, the step needs no name (the loss pane's title gives it).
        Detail::NoStage if m.status.is_none() => vec![steps],
        _ => vec![format!("{whose} {steps}")],
    };
    if detail == Detail::Brief {
        return Some(parts.remove(0));
    }
    if r.stage == Some(crate::worker::Stage::NullText) {
        parts.push(format!("inner {}/{}", r.inner, r.inner_max));
        if let Some(l) = r.last_loss {
            parts.push(format!("loss {l:.1e} (thr {:.1e})", r.threshold));
        }
    }
    let elapsed = m.now - r.stage_started;
    if elapsed > 0.5 && r.evaluations > 0 {
        parts.push(format!("{:.1} it/s", r.evaluations as f64 / elapsed));
    }
    if let Some(secs) = eta(r, m.now) {
        parts.push(format!("ETA {}", clock(secs)));
    }
    Some(parts.join(" · "))
}

/// Seconds left in the stage, counted from the steps this run finished after its first (which
/// carries model loading and compilation). A null-text step costs its inner iterations plus about
/// one more evaluation, and steps grow longer as t falls (the loss rises, fewer stop early), so
/// steps to come are priced at the recent steps' iteration count, not the run's mean. Counts down
/// between steps.
fn eta(r: &crate::tui::state::Run, now: f64) -> Option<f64> {
    let (first, first_done) = r.first_step_at?;
    let (span, remaining) = (r.last_step_at - first, r.total.saturating_sub(r.done));
    let timed = first_done..r.done;
    if timed.is_empty() || span <= 0.0 {
        return None;
    }
    let null_text = r.stage == Some(crate::worker::Stage::NullText);
    let iters = |s: usize| if null_text { r.iterations.get(s).copied().unwrap_or(0) as f64 } else { 0.0 };
    let units: f64 = timed.clone().map(|s| iters(s) + 1.0).sum();
    let recent = (r.done.saturating_sub(3)..r.done).map(iters).fold(0.0, f64::max);
    let per_step = span / units * (recent + 1.0);
    Some(per_step * remaining as f64 - (now - r.last_step_at).clamp(0.0, per_step))
}

/// Rows the status line keeps while a job runs, on a screen `height` rows tall: two where the
/// panes can spare one, so that a notice beside the progress is read whole and its coming and
/// going does not move the panes being watched.
fn running_rows(height: u16) -> usize {
    if height >= 30 {
        2
    } else {
        1
    }
}

/// Whether work is under way: a job runs, or the queue runs on to its next one (the gap
/// between two jobs must not move the panes either).
fn busy(m: &Model) -> bool {
    m.running.is_some() || (m.queue_running && !m.queue().is_empty())
}

/// The status line for a screen `width` × `height` and the rows it needs (see [`fitting`]).
pub fn layout(m: &Model, t: &Theme, width: u16, height: u16) -> (Line<'static>, u16) {
    let (line, len) = fitting(m, t, width, running_rows(height));
    let kept = if busy(m) { running_rows(height) } else { 1 };
    (line, (len.div_ceil(width.max(1) as usize).max(kept) as u16).clamp(1, 3))
}

pub fn draw(f: &mut Frame, area: Rect, line: Line<'static>) {
    f.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), area);
}

/// The fullest line that fits in `width`: everything, then without the device, then without the
/// stage name, then with only the job and its step (the panes show the rest). When even that is
/// too long (a long message): while a job runs, a notice is cut to keep to the `running` rows
/// (the panes must not jump while watched; the worker's are in pivot.log whole); warnings and
/// errors, which say what to do, and any message while nothing runs, wrap, up to 3 rows. Returns
/// the line and its length in columns.
fn fitting(m: &Model, t: &Theme, width: u16, running: usize) -> (Line<'static>, usize) {
    let len = |l: &Line| l.spans.iter().map(|s| super::width(&s.content)).sum::<usize>();
    let mut last = None;
    // Word wrapping leaves rows short: wrapped rows count this much less.
    let room = |rows: usize| (rows * width as usize).saturating_sub(if rows > 1 { rows * 12 } else { 0 });
    let rows_now = if busy(m) { running } else { 1 };
    for (with_device, detail) in [(true, Detail::Full), (false, Detail::Full), (false, Detail::NoStage), (false, Detail::Brief)] {
        let l = line(m, t, with_device, detail);
        let n = len(&l);
        if n <= room(rows_now) {
            return (l, n);
        }
        last = Some((l, n));
    }
    let (mut l, n) = last.expect("four candidates");
    // The message is the span after the progress and its separator, else the first.
    let at = if progress_at(m, Detail::Brief).is_some() { 2 } else { 0 };
    let notice = matches!(m.status, Some((_, Level::Info)));
    // The find line leads with what is typed, never cut; otherwise span `at` is the message.
    let has_message = m.status.is_some() && !matches!(m.mode, crate::tui::state::Mode::Find(_));
    if busy(m) && notice && has_message && shorten_message(&mut l, at, n - room(running), 1) {
        let n = len(&l);
        return (l, n);
    }
    // Past three rows the frame would cut a message's end: it gives way the same way.
    let most = room(3);
    if n > most && m.status.is_some() && shorten_message(&mut l, at, n - most, 8) {
        let n = len(&l);
        return (l, n);
    }
    (l, n)
}

/// Makes span `at` of `l` (the message) `over` columns shorter, cut in its middle: a message
/// ends with what to do ("p again runs it"). Only when it keeps more than `spare` columns.
fn shorten_message(l: &mut Line<'static>, at: usize, over: usize, spare: usize) -> bool {
    let Some(msg) = l.spans.get_mut(at).filter(|s| super::width(&s.content) > over + spare) else { return false };
    let keep = super::width(&msg.content) - over;
    msg.content = super::shorten_middle_words(&msg.content, keep).into();
    true
}

fn line(m: &Model, t: &Theme, with_device: bool, detail: Detail) -> Line<'static> {
    let muted = Style::default().fg(t.muted);
    // The find line leads, so that what is typed does not move as the progress beside it
    // changes length; the job's step follows, brief.
    if let crate::tui::state::Mode::Find(f) = &m.mode {
        let mut spans = find_line(m, &f.text, t, detail != Detail::Brief);
        if let Some(p) = progress_at(m, Detail::Brief) {
            spans.push(Span::styled(" · ", muted));
            spans.push(Span::styled(p, Style::default().fg(t.accent)));
        }
        return Line::from(spans);
    }
    let mut spans = Vec::new();
    if let Some(p) = progress_at(m, detail) {
        spans.push(Span::styled(p, Style::default().fg(t.accent)));
        spans.push(Span::styled(" · ", muted));
    }
    if let Some((text, level)) = &m.status {
        let c = match level {
            Level::Info => t.foreground,
            Level::Warning => t.warning,
            Level::Error => t.error,
        };
        spans.push(Span::styled(text.clone(), Style::default().fg(c)));
        spans.push(Span::styled(" · ", muted));
    }
    if with_device && !m.device.is_empty() {
        // One piece ("cpu (2 threads)"): wrapping breaks between the line's parts, not inside.
        spans.push(Span::styled(format!("{} · ", m.device.replace(' ', "\u{a0}")), muted));
    }
    // In a form or a question `?` is typed or answers (they name their own keys): no hint.
    if crate::tui::update::wants_text(m) {
        if let Some(last) = spans.last_mut() {
            last.content = last.content.trim_end_matches(" · ").to_string().into();
        }
        spans.retain(|s| !s.content.is_empty());
    } else {
        // A no-break space: wrapping never leaves the key alone at a row's end.
        spans.push(Span::styled(format!("{}\u{a0}help", m.help_key), muted));
    }
    Line::from(spans)
}

/// Characters of the find text shown before and after its cursor.
const FIND_BEFORE: usize = 32;
const FIND_AFTER: usize = 8;

/// The find line: `/` and the text typed with its cursor, which match the selection is on, and
/// (`keys`, where there is room) the keys it takes.
fn find_line(m: &Model, text: &str, t: &Theme, keys: bool) -> Vec<Span<'static>> {
    let muted = Style::default().fg(t.muted);
    let chars: Vec<char> = text.chars().collect();
    let at = chars.len() - m.cursor_back.min(chars.len());
    // A long text shows the part around the cursor: the cursor and the count stay in view.
    let (from, to) = (at.saturating_sub(FIND_BEFORE), (at + FIND_AFTER).min(chars.len()));
    let piece = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let (head, tail) = (if from > 0 { "…" } else { "" }, if to < chars.len() { "…" } else { "" });
    let typed = format!("{head}{}▏{}{tail}", piece(from, at), piece(at, to));
    // `/` as in less and vim, whatever key opened it.
    let mut spans = vec![Span::styled(format!("/{typed}"), Style::default().fg(t.accent))];
    match crate::tui::find::counter(m, text) {
        _ if text.trim().is_empty() => spans.push(Span::styled(" name, caption or edit prompt", muted)),
        Some((i, n)) => spans.push(Span::styled(format!(" · {} of {n}", i + 1), Style::default().fg(t.foreground))),
        None => {
            spans.push(Span::styled(" · no match", Style::default().fg(t.warning)));
            if keys {
                spans.push(Span::styled(" · Esc goes back", muted));
            }
            return spans;
        }
    }
    if keys {
        spans.push(Span::styled(" · ↑↓ matches · Enter stays · Esc goes back", muted));
    }
    spans
}

#[cfg(test)]
mod tests {
    use crate::tui::state::{Level, Model};

    #[test]
    fn a_message_longer_than_three_rows_keeps_its_end() {
        let mut m = Model::new("kitchen", false);
        let long = format!("the target prompt \"{}\" was cut to 75 tokens: shorten it", "very ".repeat(80));
        m.status = Some((long, Level::Warning));
        let (line, rows) = super::layout(&m, &crate::tui::theme::Theme::built_in("default").unwrap(), 80, 24);
        let text: String = line.spans.iter().map(|s| s.content.to_string()).collect();
        // Short enough for three wrapped rows, and the end (what to do) is there.
        assert!(crate::tui::view::width(&text) <= 3 * 80 - 36 && rows == 3, "{rows}: {text}");
        assert!(text.contains("…") && text.contains("was cut to 75 tokens: shorten it"), "{text}");
    }

    #[test]
    fn while_work_is_under_way_the_line_keeps_its_rows_between_jobs_too() {
        use crate::tui::showcase::running_model;
        let theme = crate::tui::theme::Theme::built_in("default").unwrap();
        let rows = |m: &Model| super::layout(m, &theme, 120, 40).1;
        let mut m = running_model();
        m.status = Some(("added cat to the queue: the queue runs it now (p pauses the queue) ".repeat(3), Level::Info));
        assert_eq!(rows(&m), 2, "a long notice beside a run is cut to the rows kept");
        // One job done, the next not started yet: the same rows, the notice cut the same way.
        m.running = None;
        m.queue_running = true;
        assert!(!m.queue().is_empty());
        assert_eq!(rows(&m), 2);
        m.status = Some(("done".into(), Level::Info));
        assert_eq!(rows(&m), 2, "a short one keeps them too");
        // The queue paused: nothing is watched, one row.
        m.queue_running = false;
        assert_eq!(rows(&m), 1);
    }

    #[test]
    fn a_message_cut_in_its_middle_keeps_whole_words() {
        use crate::tui::view::{shorten_middle_words, width};
        let said = "reconstruction of pattern: PSNR 23.18 dB vs the photo (the VAE alone: 9.06 dB); p pauses the queue";
        assert_eq!(shorten_middle_words(said, 200), said);
        let words: Vec<&str> = said.split(' ').collect();
        for max in 30..width(said) {
            let cut = shorten_middle_words(said, max);
            assert!(width(&cut) <= max, "{max}: {cut}");
            assert!(cut.contains(" … ") && cut.split(' ').filter(|p| *p != "…").all(|p| words.contains(&p)), "{max}: {cut}");
        }
        // Very narrow, or one long word (a path): cut inside a word rather than dropped whole.
        assert!(width(&shorten_middle_words(said, 12)) <= 12);
        let path = format!("item cat: {} is missing", "inversions/".repeat(6));
        assert!(width(&shorten_middle_words(&path, 40)) <= 40);
    }

    #[test]
    fn clock_reads_like_a_clock() {
        assert_eq!(super::clock(38.2), "0:38");
        assert_eq!(super::clock(65.0), "1:05");
        assert_eq!(super::clock(3725.0), "1:02:05");
    }
}
