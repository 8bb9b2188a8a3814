//! Windows over the dashboard: help (from the keymap), the add-image and edit forms, quit question.

use crate::tui::keymap::Keymap;
use crate::tui::state::{AddForm, EditForm, Mode, Model};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub(super) fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

pub(super) fn window(f: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, t: &Theme) {
    f.render_widget(Clear, area);
    let block = Block::default().borders(Borders::ALL).border_type(BorderType::Rounded).title(format!(" {title} ")).border_style(Style::default().fg(t.border_focused));
    f.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }).style(Style::default().fg(t.foreground)), area);
}

/// A window `w` wide (or the screen's width), as tall as its wrapped `lines` need: a long
/// caption or target prompt never pushes the fields after it, the error or the key help out.
fn fitted_window(f: &mut Frame, area: Rect, w: u16, title: &str, mut lines: Vec<Line>, t: &Theme) {
    let (room, inner) = (usize::from(area.height.saturating_sub(2)), inner_width(area, w));
    // On a screen too short for it all, blank lines go first, then the lines before the last
    // are cut to a row each (the question's start says what it is about), then they go,
    // nearest the last first: the last line says which keys answer, and it must stay in view.
    if form_rows(&lines, inner) > room {
        lines.retain(|l| l.spans.iter().any(|s| !s.content.trim().is_empty()));
    }
    if form_rows(&lines, inner) > room {
        let last = lines.len().saturating_sub(1);
        for line in &mut lines[..last] {
            if let [span] = &mut line.spans[..] {
                span.content = super::shorten(&span.content, inner).into();
            }
        }
    }
    while form_rows(&lines, inner) > room && lines.len() > 1 {
        lines.remove(lines.len() - 2);
    }
    let rows = form_rows(&lines, inner);
    window(f, centred(area, w, rows as u16 + 2), title, lines, t);
}

/// Columns inside a window `w` wide on `area`.
fn inner_width(area: Rect, w: u16) -> usize {
    w.min(area.width).saturating_sub(2).max(1) as usize
}

/// Rows `lines` take wrapped to `inner` columns.
fn form_rows(lines: &[Line], inner: usize) -> usize {
    lines
        .iter()
        .map(|l| {
            let n = l.spans.iter().map(|s| super::width(&s.content)).sum::<usize>();
            // Word wrapping may leave a row short: one spare row per wrapped line.
            if n <= inner { 1 } else { n.div_ceil(inner) + 1 }
        })
        .sum()
}

/// A form's lines: its fields (each a row or two), then `rest`. On a screen too short for the
/// whole form, fields give way, farthest from the active one first, so that the field typed
/// in, its error and the keys stay in view.
fn form_lines<'a>(mut fields: Vec<Vec<Line<'a>>>, rest: Vec<Line<'a>>, active: usize, area: Rect, w: u16) -> Vec<Line<'a>> {
    let (room, inner) = (usize::from(area.height.saturating_sub(2)), inner_width(area, w));
    let mut kept: Vec<usize> = (0..fields.len()).collect();
    let rows = |fields: &[Vec<Line>]| fields.iter().map(|f| form_rows(f, inner)).sum::<usize>() + form_rows(&rest, inner);
    while rows(&fields) > room {
        let Some(far) = kept.iter().copied().filter(|&i| i != active).max_by_key(|&i| i.abs_diff(active)) else { break };
        let at = kept.iter().position(|&i| i == far).expect("kept");
        kept.remove(at);
        fields.remove(at);
    }
    fields.into_iter().flatten().chain(rest).collect()
}

/// Columns a field's label takes: `{label:>14}: `.
const LABEL_COLUMNS: usize = 16;

/// The characters `start..end` of a value whose characters take `widths` columns: at most
/// `room` columns, ending at `end_at_least` or later, reaching back as far as they fit.
fn field_window(widths: &[usize], end_at_least: usize, room: usize) -> (usize, usize) {
    let (mut start, mut end, mut used) = (end_at_least.min(widths.len()), end_at_least.min(widths.len()), 0);
    while start > 0 && used + widths[start - 1] <= room {
        start -= 1;
        used += widths[start];
    }
    while start == 0 && end < widths.len() && used + widths[end] <= room {
        used += widths[end];
        end += 1;
    }
    (start, end)
}

/// `text` cut into rows of at most `cols` columns, between words where the text still fits
/// in `rows` rows that way, else anywhere (a wide character is never split).
fn field_rows(text: &str, cols: usize, rows: usize) -> Vec<String> {
    let cut = |between_words: bool| {
        let mut out = vec![String::new()];
        let mut used = 0;
        for c in text.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + w > cols && used > 0 {
                let row = out.last_mut().expect("a row");
                // The word being cut moves down whole, the space staying at the row's end.
                let tail = match row.rfind(' ') {
                    Some(i) if between_words && !c.is_whitespace() => row.split_off(i + 1),
                    _ => String::new(),
                };
                used = super::width(&tail);
                out.push(tail);
            }
            out.last_mut().expect("a row").push(c);
            used += w;
        }
        out
    };
    Some(cut(true)).filter(|r| r.len() <= rows).unwrap_or_else(|| cut(false))
}

/// A labelled field in a window `inner` columns wide, its value in at most two rows beside
/// the label, so that a pasted page cannot push the other fields, the error and the keys off
/// screen. The active one shows its cursor `back` characters before the end; a value too wide
/// shows the part around the cursor, with `…` where it goes on.
fn field<'a>(label: &str, value: &str, active: Option<usize>, inner: usize, t: &Theme) -> Vec<Line<'a>> {
    let style = if active.is_some() { Style::default().fg(t.accent).add_modifier(Modifier::BOLD) } else { Style::default().fg(t.muted) };
    let cols = inner.saturating_sub(LABEL_COLUMNS).max(8);
    let chars: Vec<char> = value.chars().collect();
    let widths: Vec<usize> = chars.iter().map(|c| unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0)).collect();
    let cursor = active.map(|back| chars.len() - back.min(chars.len()));
    // Two rows, less the cursor and two ellipses (and a column a wide character may leave).
    let room = 2 * cols - 4;
    // A little of what follows the cursor stays in view.
    let (start, end) = match cursor {
        _ if widths.iter().sum::<usize>() <= room => (0, chars.len()),
        Some(c) => field_window(&widths, c + 8, room),
        None => field_window(&widths, 0, room),
    };
    let piece = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    let mut text = if start > 0 { "…".to_string() } else { String::new() };
    match cursor {
        Some(c) => text.push_str(&format!("{}▏{}", piece(start, c), piece(c, end))),
        None => text.push_str(&piece(start, end)),
    }
    if end < chars.len() {
        text.push('…');
    }
    let label = Span::styled(format!("{label:>14}: "), style);
    let indent = Span::raw(" ".repeat(LABEL_COLUMNS));
    field_rows(&text, cols, 2).into_iter().enumerate().map(|(i, row)| Line::from(vec![if i == 0 { label.clone() } else { indent.clone() }, Span::raw(row)])).collect()
}

/// A field whose value is chosen (space, ←/→), not typed: it has no cursor, and it always shows
/// its start (the choice), its description cut where the window is too narrow.
fn choice<'a>(label: &str, value: &str, focused: bool, inner: usize, t: &Theme) -> Vec<Line<'a>> {
    let mut lines = field(label, value, None, inner, t);
    if let Some(label) = lines.first_mut().and_then(|l| l.spans.first_mut()).filter(|_| focused) {
        label.style = Style::default().fg(t.accent).add_modifier(Modifier::BOLD);
    }
    lines
}

/// The form's error, three rows at most (it may quote a long field; its end says what to do).
fn error_line<'a>(e: &Option<String>, t: &Theme) -> Line<'a> {
    Line::styled(super::shorten_middle_words(e.as_deref().unwrap_or_default(), 3 * 70), Style::default().fg(t.error))
}

/// What each inversion method is, in a few words, for the add form.
fn method_note(method: &str) -> &'static str {
    match method {
        "null-text" => "optimised per step (the paper's)",
        "direct" => "exact, no optimisation",
        "npi" => "caption as negative prompt",
        _ => "plain DDIM, drifts under guidance",
    }
}

/// The add form's fixed-point choice, in a few words.
fn fixed_point_note(k: usize) -> String {
    match k {
        0 => "0 — plain DDIM inversion steps".into(),
        1 => "1 — one more UNet call a step (NPI reconstructs far closer)".into(),
        k => format!("{k} — {k} more UNet calls a step"),
    }
}

fn add_form(f: &mut Frame, area: Rect, a: &AddForm, back: usize, t: &Theme) {
    let inner = inner_width(area, 72);
    let fields = vec![
        field("photo path", &a.path, (a.field == 0).then_some(back), inner, t),
        field("caption", &a.prompt, (a.field == 1).then_some(back), inner, t),
        choice("method", &format!("{} — {}", a.method_name(), method_note(a.method_name())), a.field == 2, inner, t),
        choice("fixed-point", &fixed_point_note(a.fixed_point), a.field == 3, inner, t),
    ];
    let rest = vec![
        Line::styled(a.choices.clone().unwrap_or_default(), Style::default().fg(t.muted)),
        error_line(&a.error, t),
        // Enter on the path only checks it and steps on to the caption.
        Line::styled(
            match a.field {
                0 => "Tab completes · Enter: to the caption · ↑↓ field · Esc close",
                1 => "Enter adds · ↑↓ field · Esc close",
                _ => "Enter adds · ↑↓ field · space/←→: choice · Esc close",
            },
            Style::default().fg(t.muted),
        ),
    ];
    fitted_window(f, area, 72, "Add image", form_lines(fields, rest, a.field, area, 72), t);
}

fn edit_form(f: &mut Frame, area: Rect, e: &EditForm, back: usize, t: &Theme) {
    let mode = if e.refine { "refine (space: replace)" } else { "replace (space: refine)" };
    let values = [e.target.as_str(), mode, e.cross.as_str(), e.self_replace.as_str(), e.blend.as_str(), e.blend_except.as_str(), e.reweight.as_str(), e.prox.as_str()];
    let inner = inner_width(area, 76);
    let fields = EditForm::FIELDS.iter().zip(values).enumerate().map(|(i, (l, v))| field(l, v, (e.field == i).then_some(back), inner, t)).collect();
    let rest = vec![
        Line::styled(format!("  {}", crate::tui::edit_request::field_hint(e.field)), Style::default().fg(t.muted)),
        error_line(&e.error, t),
        Line::styled("Enter queue the edit · Tab/↑↓ field · Esc close", Style::default().fg(t.muted)),
    ];
    let title = match &e.from {
        Some(from) => format!("New edit of {}, from {from}'s settings", e.item),
        None => format!("New edit of {}", e.item),
    };
    fitted_window(f, area, 76, &title, form_lines(fields, rest, e.field, area, 76), t);
}

/// Edits of `item` not made yet were written for its caption: after a new one they would not
/// run. Said before the caption is saved; empty when there are none.
fn unmade_for_the_old_caption(m: &Model, item: &str) -> String {
    let unmade: Vec<&str> = m.items().iter().filter(|i| i.id == item).flat_map(|i| &i.edits).filter(|e| e.output.is_none() && e.source_prompt.is_some()).map(|e| e.id.as_str()).collect();
    match unmade.len() {
        0 => String::new(),
        1 => format!("Its edit {} (not made yet) would not run.", unmade[0]),
        _ => format!("Its edits {} (not made yet) would not run.", unmade.join(", ")),
    }
}

pub fn draw(f: &mut Frame, area: Rect, m: &Model, keys: &Keymap, t: &Theme) {
    match &m.mode {
        Mode::Normal | Mode::Find(_) => {}
        Mode::Help => super::help::draw(f, area, m.help_scroll, keys, t),
        Mode::Messages => super::messages::draw(f, area, m, keys, t),
        Mode::AddImage(a) => add_form(f, area, a, m.cursor_back, t),
        Mode::Edit(e) => edit_form(f, area, e, m.cursor_back, t),
        Mode::ConfirmDelete(item) => {
            let edits: Vec<_> = m.items().iter().filter(|i| &i.id == item).flat_map(|i| &i.edits).collect();
            let made = edits.iter().filter(|e| e.output.is_some()).count();
            let what = match (edits.len(), made) {
                (0, _) => "its inversion".to_string(),
                (1, 1) => "its inversion and its edit (made)".to_string(),
                (1, _) => "its inversion and its edit (not made yet)".to_string(),
                (n, k) => format!("its inversion and {n} edits ({k} made)"),
            };
            let mut lines = vec![
                Line::raw(format!("Delete {item} with {what}?")),
                // Not to trash/: a deleted item's files cannot be had back.
                Line::styled("Its files in the session go for good; the original photo stays where it is.", Style::default().fg(t.warning)),
                Line::raw(""),
                Line::styled("y delete · any other key keeps it", Style::default().fg(t.muted)),
            ];
            if !edits.is_empty() {
                // The session pane marks the edit the preview shows; `d` here is the whole item.
                let one = format!("(One edit only: in the preview pane, {} deletes the edit shown.)", m.key(crate::tui::keymap::Action::DeleteItem));
                lines.insert(2, Line::styled(one, Style::default().fg(t.muted)));
            }
            fitted_window(f, area, 60, "Delete", lines, t);
        }
        Mode::ConfirmDeleteEdit(item, edit) => {
            let record = m.items().iter().find(|i| &i.id == item).and_then(|i| i.edits.iter().find(|e| &e.id == edit));
            let what = match record.map(|e| (e.output.is_some(), e.blend_mask.is_some())) {
                Some((true, true)) => ", its picture and its blend mask",
                Some((true, false)) => " and its picture",
                _ => " (not made yet)",
            };
            let lines = vec![Line::raw(format!("Delete edit {edit} of {item}{what}?")), Line::raw(""), Line::styled("y delete · any other key keeps it", Style::default().fg(t.muted))];
            fitted_window(f, area, 60, "Delete", lines, t);
        }
        Mode::ConfirmRestart(item) => {
            let lines = vec![Line::raw(format!("The inversion of {item} cannot be continued.")), Line::raw("Invert it again from the first timestep?"), Line::raw(""), Line::styled("y inverts again · any other key leaves it", Style::default().fg(t.muted))];
            fitted_window(f, area, 60, "Restart", lines, t);
        }
        Mode::Caption(item, text) => {
            let busy = m.running.as_ref().filter(|j| j.item() == item);
            let note = match busy {
                Some(j) => format!("{} works for the old caption: Enter stops it, saves, and the inversion starts over", crate::tui::state::job_label(j)),
                None => String::new(),
            };
            let mut lines = field("caption", text, Some(m.cursor_back), inner_width(area, 76), t);
            let warnings = [note, unmade_for_the_old_caption(m, item)].into_iter().filter(|w| !w.is_empty()).map(|w| Line::styled(w, Style::default().fg(t.warning)));
            lines.extend(warnings);
            // The note above says what Enter does to the run in hand.
            let enter = if busy.is_some() { "Enter saves" } else { "Enter saves (the inversion starts over)" };
            lines.push(Line::styled(format!("{enter} · Esc keeps the old one"), Style::default().fg(t.muted)));
            fitted_window(f, area, 76, &format!("Caption of {item}"), lines, t);
        }
        Mode::ConfirmCaption(item, _) => {
            let edits = unmade_for_the_old_caption(m, item);
            // Finished edits stay, marked as made from the old caption.
            let made = m.items().iter().filter(|i| &i.id == item).flat_map(|i| &i.edits).filter(|e| e.output.is_some()).count();
            let kept = match made {
                0 => String::new(),
                1 => "Its finished edit stays, marked \"old caption\".".to_string(),
                n => format!("Its {n} finished edits stay, marked \"old caption\"."),
            };
            let mut lines = vec![
                // One line, wrapped by the window: an item's name of any length breaks it evenly.
                Line::raw(format!("The inversion of {item} is finished. A new caption inverts it again from the start (the old checkpoint goes to trash/).")),
                Line::raw(kept),
                Line::styled(edits, Style::default().fg(t.warning)),
                Line::styled("y saves the caption · any other key goes back to it", Style::default().fg(t.muted)),
            ];
            lines.retain(|l| l.width() > 0);
            fitted_window(f, area, 64, "New caption", lines, t);
        }
        Mode::ConfirmQuit => {
            let p = keys.first_key(crate::tui::keymap::Action::PauseResume);
            // An edit has no checkpoints: it is made again from its first step.
            let (what, resume) = match m.running {
                Some(crate::session::manifest::Job::Edit { .. }) => ("An edit is being made. Quit? It stays queued and".to_string(), format!("is made again from its first step when you press {p} next time.")),
                Some(crate::session::manifest::Job::Invert { .. }) => ("A job is running. Quit? It keeps every finished timestep;".to_string(), format!("the job resumes when you press {p} next time.")),
                // The job ended while the question was open.
                None => ("The job is over and nothing runs now. Quit?".to_string(), String::new()),
            };
            let mut lines = vec![Line::raw(what)];
            lines.extend((!resume.is_empty()).then(|| Line::raw(resume)));
            lines.extend([Line::raw(""), Line::styled("y quit · any other key stays", Style::default().fg(t.muted))]);
            fitted_window(f, area, 64, "Quit", lines, t);
        }
    }
}
