//! The session pane: items with their state, the selected item's prompt and edits, the queue.

use crate::session::manifest::Job;
use crate::tui::keymap::Action;
use crate::tui::state::{JobState, Model, Pane};
use crate::tui::theme::Theme;
use crate::tui::view::{pad, pane_block, shorten, shorten_middle, width};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// Whether `job` is an inversion none of whose timesteps is done.
fn fresh_inversion(m: &Model, job: &Job) -> bool {
    let Job::Invert { item } = job else { return false };
    m.items().iter().find(|i| &i.id == item).and_then(|i| i.inversion.as_ref()).is_some_and(|r| r.completed_steps == 0)
}

/// What tells an edit apart in a narrow pane: the target's words the source lacks (`→ tiger`),
/// or the whole target when it only re-weights the source's words.
fn edit_label(source: &str, target: &str) -> String {
    use crate::edit::p2p::words::{has_word, prompt_words};
    let new: Vec<&str> = prompt_words(target).into_iter().filter(|w| !has_word(source, w)).collect();
    if new.is_empty() {
        target.to_string()
    } else {
        format!("→ {}", new.join(" "))
    }
}

/// An edit in a few words: what [`edit_label`] gives, then its re-weighting and blend, which tell
/// edits of the same words apart (first when the words are the caption's: a long caption would
/// hide them).
pub fn edit_summary(source: &str, spec: &crate::session::manifest::EditSpec) -> String {
    let mut label = edit_label(source, &spec.target);
    if label == spec.target && !spec.reweight.is_empty() {
        label.clear();
    }
    for w in &spec.reweight {
        label.push_str(&format!(" {}×{}", w.word, w.value));
    }
    let mut label = label.trim_start().to_string();
    if spec.blend.is_some() {
        label.push_str(" +blend");
    }
    if spec.blend_except.is_some() {
        label.push_str(" except");
    }
    if let Some(p) = &spec.prox {
        label.push_str(&format!(" prox {}", p.shrink));
    }
    label
}

/// Queue rows the item and edit lists leave room for below them.
const QUEUE_ROWS: usize = 4;

/// Edits of the selected item the item list leaves room for.
const EDIT_ROWS: usize = 3;

/// Rows the selected item's caption takes at most (a long one ends in `…`; `c` shows it whole):
/// a caption of hundreds of tokens would push the list and the queue out of the pane.
const PROMPT_ROWS: usize = 3;

/// The caption as the pane shows it after "Prompt: ", within [`PROMPT_ROWS`] rows of `w`
/// (a few columns a row spared for word wrapping).
fn shown_prompt(prompt: &str, w: usize) -> String {
    shorten(prompt, (PROMPT_ROWS * w.saturating_sub(4)).saturating_sub(8).max(8))
}

/// Rows the selected item's details (prompt, settings, a few edits) and the queue below the item
/// list take at most: a long session's list gives way to them (it scrolls), so the queue's order
/// stays in view whatever the session's size.
fn rows_below_items(m: &Model, queued: usize, w: usize) -> usize {
    let more = |n: usize, cap: usize| n.min(cap) + usize::from(n > cap);
    let details = m.selected_item().map_or(0, |it| {
        let prompt = (8 + width(&shown_prompt(&it.prompt, w))).div_ceil(w.max(1)).clamp(1, PROMPT_ROWS);
        let edits = if it.edits.is_empty() { 0 } else { 1 + more(it.edits.len(), EDIT_ROWS) };
        1 + prompt + usize::from(it.inversion.is_some()) + edits
    });
    let queue = if queued == 0 { 0 } else { 2 + more(queued, QUEUE_ROWS) };
    details + queue
}

/// Rows `lines` take in a pane `width` wide once wrapped.
fn wrapped_rows(lines: &[Line], width: usize) -> usize {
    lines.iter().map(|l| l.width().div_ceil(width.max(1)).max(1)).sum()
}

/// Whether the queue runs, as true at every moment: a pause waits for the job in hand's
/// timestep, so "pausing" until it has stopped; a running queue with nothing left to do waits
/// for work, which then starts at once.
pub fn queue_title(m: &Model) -> String {
    match (m.queue_running, &m.running) {
        (true, Some(_)) => "Queue (running):".to_string(),
        (true, None) => "Queue (idle · runs new work):".to_string(),
        (false, Some(_)) => "Queue (pausing…):".to_string(),
        (false, None) => match crate::tui::queue::blocked_by_damage(m) {
            Some(p) if m.can_invert_again(&p) => format!("Queue (stopped · {} inverts {} again):", m.key(Action::Invert), p.item),
            Some(p) => format!("Queue (stopped · {} cannot go on):", p.item),
            None if crate::tui::queue::stopped_at_a_failure(m) => format!("Queue (stopped · {} runs):", m.key(Action::PauseResume)),
            None => format!("Queue (paused · {} runs):", m.key(Action::PauseResume)),
        },
    }
}

/// Which items the list shows in `room` rows: `(first, count)`, the selected one always among
/// them; a row each goes to "↑ n more" / "↓ n more" when some are left out.
fn item_window(n: usize, selected: usize, room: usize) -> (usize, usize) {
    let room = room.max(3);
    if n <= room {
        return (0, n);
    }
    let shown = room.saturating_sub(2).max(1);
    let first = selected.saturating_sub(shown / 2).min(n - shown);
    (first, shown)
}

pub fn draw(f: &mut Frame, area: Rect, m: &Model, t: &Theme) {
    let block = pane_block(format!("Session: {}", m.session_name), m.focus == Pane::Session, t);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let muted = Style::default().fg(t.muted);
    let rows = inner.height as usize;
    if m.demo {
        // Short lines: this must read well in a 24-column pane. One line on a short pane, and
        // once an inversion is done (the user has seen it; the rows go to their work).
        let seen = m.items().iter().any(|i| i.inversion.as_ref().is_some_and(|r| r.is_done()));
        let banner: &[&str] = if rows >= 20 && !seen { &["demo: tiny model with", "random weights. Real:", " pivot --model DIR", "  (or org/name), or", " model = … in", "  config.toml"] } else { &["demo: random weights"] };
        for l in banner {
            lines.push(Line::styled(*l, Style::default().fg(t.warning)));
        }
    }
    if m.items().is_empty() {
        lines.push(Line::styled(format!("{}: add an image", m.key(Action::AddImage)), muted));
    }
    // The queue, then cancelled work (off the queue, checkpoints kept: r or i continues it).
    let cancelled: Vec<Job> = m.manifest.iter().flat_map(|s| s.unqueued_work()).collect();
    let retry = m.key(Action::Retry);
    let off_queue: std::collections::HashSet<&Job> = cancelled.iter().collect();
    // The job in hand first: one put first with `i` runs after it, not before.
    let in_hand = m.running.as_ref().filter(|j| m.queue().contains(j));
    let queued: Vec<(Job, String)> = in_hand
        .into_iter()
        .chain(m.queue().iter().filter(|j| Some(*j) != in_hand))
        .chain(cancelled.iter())
        .map(|j| {
            let state = match m.job_state(j) {
                Some(JobState::Running) => " · running".to_string(),
                Some(JobState::Paused) => " · paused".to_string(),
                Some(JobState::Failed(_)) => match m.way_on(j.item()).0 {
                    Some(key) => format!(" · failed ({key})"),
                    None => " · failed".to_string(),
                },
                // Cancelled here a moment ago: the worker takes it off the queue at its next step.
                Some(JobState::Cancelled) => format!(" · cancelled ({retry})"),
                // An inversion with nothing done was never under way (a new caption's, say).
                _ if off_queue.contains(j) && fresh_inversion(m, j) => format!(" · new ({})", m.key(Action::Invert)),
                _ if off_queue.contains(j) => format!(" · cancelled ({retry})"),
                _ => String::new(),
            };
            (j.clone(), state)
        })
        .collect();
    let below_items = rows_below_items(m, queued.len(), w);
    let (first, shown) = item_window(m.items().len(), m.selected, rows.saturating_sub(lines.len() + below_items));
    m.list_rows.set(shown);
    if first > 0 {
        lines.push(Line::styled(format!("  ↑ {first} more"), muted));
    }
    for (i, it) in m.items().iter().enumerate().skip(first).take(shown) {
        let sel = i == m.selected;
        let mut state = m.item_state(it);
        let mut edits = if it.edits.is_empty() { String::new() } else { format!(" {}✎", it.edits.len()) };
        // One row each, whatever the width (a wrapped row reads as another item): in a narrow
        // pane a progress gives its words first ("inverting 12/50" → "12/50"), then the edit
        // count goes, then the state gives way to a name of 3 or more.
        let room = |state: &str, edits: &str| w.saturating_sub(width(state) + width(edits) + 3);
        // A progress cut short ("inverting 1…") would read as another step: its count alone stays.
        // A reconstruction's count keeps a mark: "1/50" alone would read as an inversion restarted.
        let count = state.rsplit_once(' ').map(|(_, c)| c.to_string()).filter(|c| c.contains('/')).map(|c| if state.starts_with("recon ") { format!("r {c}") } else { c });
        if let Some(c) = count.as_ref().filter(|_| room(&state, &edits) < width(&it.id)) {
            state = c.clone();
        }
        // The name tells the rows apart: it keeps half the row (or all it needs) before the
        // state is cut.
        let want = width(&it.id).min(w / 2).max(3);
        if room(&state, &edits) < want {
            edits.clear();
        }
        let name_w = room(&state, &edits).max(want);
        let fits = w.saturating_sub(name_w + 3).max(1);
        let count = count.as_deref();
        let shown_state = match count {
            Some(c) if width(&state) > fits && width(c) <= fits => c.to_string(),
            // "inver…" could be either: a finished one is ticked, as made edits are.
            None if state == "inverted" && width(&state) > fits => "✓".to_string(),
            _ => shorten(&state, fits),
        };
        // A state cut shorter leaves its columns to the name.
        let name_w = name_w.max(room(&shown_state, &edits));
        let style = match (sel, t.mono) {
            // No colours: reverse video marks the selection.
            (true, true) => Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
            (true, false) => Style::default().bg(t.selection_bg).fg(t.foreground).add_modifier(Modifier::BOLD),
            _ => Style::default().fg(t.foreground),
        };
        let state_style = match state.as_str() {
            "failed" | "damaged" | "photo missing" | "photo damaged" => Style::default().fg(t.error),
            "inverted" => Style::default().fg(t.ok),
            s if s.starts_with("inverting") => Style::default().fg(t.accent),
            _ => muted,
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} {}", if sel { "▸" } else { " " }, pad(&shorten_middle(&it.id, name_w), name_w)), style),
            Span::styled(format!(" {shown_state}"), state_style),
            Span::styled(edits, muted),
        ]));
    }
    let below = m.items().len().saturating_sub(first + shown);
    if below > 0 {
        lines.push(Line::styled(format!("  ↓ {below} more"), muted));
    }
    // Where the selected item's details begin: a short pane gives up their end for the queue.
    let details_from = lines.len();
    if let Some(it) = m.selected_item() {
        lines.push(Line::styled("─".repeat(w), Style::default().fg(t.border)));
        lines.push(Line::from(vec![Span::styled("Prompt: ", muted), Span::raw(shown_prompt(&it.prompt, w))]));
        if let Some(r) = &it.inversion {
            // Only null-text has inner iterations.
            let inner = if r.method == "null-text" { format!("×{}", r.inner) } else { String::new() };
            let fixed = if r.fixed_point > 0 { format!(" · fp×{}", r.fixed_point) } else { String::new() };
            // Short enough for the 32 columns of a wide screen's pane; w=7.5 never splits.
            lines.push(Line::styled(format!("{} · {}{inner} steps · w={}{fixed}", r.method, r.steps, r.guidance), muted));
        }
        if !it.edits.is_empty() {
            lines.push(Line::styled("Edits:", muted));
        }
        let shown = crate::tui::update::shown_edit(m);
        // A long list keeps the shown result's edit in view, with the queue's rows left below.
        let queue_rows = if queued.is_empty() { 0 } else { queued.len().min(QUEUE_ROWS) + 2 };
        let at = it.edits.iter().position(|e| Some(&e.id) == shown.as_ref()).unwrap_or(0);
        let (first, count) = item_window(it.edits.len(), at, rows.saturating_sub(wrapped_rows(&lines, w) + queue_rows));
        if first > 0 {
            lines.push(Line::styled(format!("  ↑ {first} more"), muted));
        }
        for e in it.edits.iter().skip(first).take(count) {
            let job = Job::Edit { item: it.id.clone(), edit: e.id.clone() };
            let pointer = if Some(&e.id) == shown.as_ref() { "▸ " } else { "  " };
            let old = e.other_caption(&it.prompt);
            let lost = e.pictures().any(|f| m.file_problems.iter().any(|p| p.item == it.id && p.file == f));
            let (mark, style) = match (m.job_state(&job), &e.output) {
                // Its picture is missing or damaged (only an old caption's is not made again).
                (_, Some(_)) if lost => ("!", Style::default().fg(t.error)),
                // Made from a caption the item no longer has: a picture of the past, not of now.
                (_, Some(_)) if old.is_some() => ("✓", muted),
                (_, Some(_)) => ("✓", Style::default().fg(t.ok)),
                (Some(JobState::Failed(_)), _) => ("✗", Style::default().fg(t.error)),
                (Some(JobState::Running), _) => ("…", Style::default().fg(t.accent)),
                // Off the queue, not made (cancelled, here or in an earlier dashboard).
                (Some(JobState::Cancelled), _) => ("–", muted),
                _ if !m.queue().contains(&job) => ("–", muted),
                _ => ("·", muted),
            };
            let mut params = match old {
                Some(_) => " old caption".to_string(),
                None => format!(" {} {}/{}", e.spec.mode, e.spec.cross, e.spec.self_replace),
            };
            // A narrow pane keeps the words that tell edits apart and drops the fractions
            // (an old caption's edit keeps a short word for it).
            if w.saturating_sub(params.chars().count() + 4) < 14 {
                params = if old.is_some() { " old".into() } else { String::new() };
            }
            let tw = w.saturating_sub(params.chars().count() + 4).max(4);
            let label = edit_summary(old.unwrap_or(&it.prompt), &e.spec);
            lines.push(Line::from(vec![Span::raw(format!("{pointer}{}", pad(&shorten(&label, tw), tw))), Span::styled(params, muted), Span::styled(format!(" {mark}"), style)]));
        }
        let below = it.edits.len().saturating_sub(first + count);
        if below > 0 {
            lines.push(Line::styled(format!("  ↓ {below} more"), muted));
        }
    }
    // Too short for the separator, the title and a job: one row says what the queue holds.
    if !queued.is_empty() && rows.saturating_sub(wrapped_rows(&lines, w)) < 3 {
        while lines.len() > details_from && wrapped_rows(&lines, w) + 1 > rows {
            lines.pop();
        }
        let jobs = if queued.len() == 1 { "1 job".to_string() } else { format!("{} jobs", queued.len()) };
        lines.push(Line::styled(shorten(&format!("{} {jobs}", queue_title(m)), w), muted));
    } else if !queued.is_empty() {
        lines.push(Line::styled("─".repeat(w), Style::default().fg(t.border)));
        lines.push(Line::styled(queue_title(m), muted));
        // What the pane has room for, with a last row saying how many more there are.
        let room = rows.saturating_sub(wrapped_rows(&lines, w)).max(1);
        let shown = if queued.len() <= room { queued.len() } else { room - 1 };
        // The job's item gives way (…) before the edit's id, its state and key do.
        for (job, state) in &queued[..shown] {
            let room = w.saturating_sub(2 + width(state));
            let name = match job {
                Job::Invert { item } => format!("invert {}", shorten_middle(item, room.saturating_sub(7).max(3))),
                Job::Edit { item, edit } => format!("edit {}/{edit}", shorten_middle(item, room.saturating_sub(6 + width(edit)).max(3))),
            };
            lines.push(Line::raw(shorten(&format!("  {name}{state}"), w)));
        }
        if shown < queued.len() {
            lines.push(Line::styled(format!("  ↓ {} more", queued.len() - shown), muted));
        }
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
mod tests {
    use super::item_window;

    #[test]
    fn the_selected_item_is_always_in_the_window() {
        assert_eq!(item_window(5, 4, 10), (0, 5));
        for n in [12, 40] {
            for sel in 0..n {
                let (first, shown) = item_window(n, sel, 9);
                assert!(first <= sel && sel < first + shown && first + shown <= n && shown + 2 <= 9, "{n} {sel}: {first}+{shown}");
            }
        }
    }
}
