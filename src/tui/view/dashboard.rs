//! The whole screen: session pane left; loss pane over preview and result right; status line.
//! Degrades down to 80×24 by giving the session pane fewer columns and the charts fewer rows.

use super::loss_chart::{LossData, LossStyle, RunLosses, StepLosses};
use super::{overlay, pane_block, session, shorten, shorten_middle, status, width};
use crate::tui::graphics::halfblock::HalfBlock;
use crate::tui::keymap::{Action, Keymap};
use crate::tui::state::{JobState, Model, Pane};
use crate::session::manifest::Job;
use crate::tui::theme::Theme;
use crate::tui::results::shown_entry;
use image::RgbImage;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// How pictures are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Graphics {
    HalfBlock,
    /// Text placeholders only (dumb terminals, some tests).
    None,
}

pub struct Look<'a> {
    pub theme: &'a Theme,
    pub keys: &'a Keymap,
    pub graphics: Graphics,
}

pub fn draw(f: &mut Frame, m: &Model, look: &Look) {
    let t = look.theme;
    let area = f.area();
    f.render_widget(ratatui::widgets::Block::default().style(Style::default().bg(t.background).fg(t.foreground)), area);
    let (status_line, status_rows) = status::layout(m, t, area.width, area.height);
    let status_rows = status_rows.min(area.height.saturating_sub(3).max(1));
    let rows = Layout::default().direction(Direction::Vertical).constraints([Constraint::Min(3), Constraint::Length(status_rows)]).split(area);
    let left_w = if area.width >= 110 { 34 } else { (area.width / 3).max(20) };
    let cols = Layout::default().direction(Direction::Horizontal).constraints([Constraint::Length(left_w), Constraint::Min(10)]).split(rows[0]);
    session::draw(f, cols[0], m, t);
    let right = Layout::default().direction(Direction::Vertical).constraints([Constraint::Percentage(45), Constraint::Percentage(55)]).split(cols[1]);
    loss_pane(f, right[0], m, t);
    let pics = Layout::default().direction(Direction::Horizontal).constraints([Constraint::Percentage(50), Constraint::Percentage(50)]).split(right[1]);
    preview_pane(f, pics[0], m, look);
    result_pane(f, pics[1], m, look);
    status::draw(f, rows[1], status_line);
    overlay::draw(f, area, m, look.keys, t);
}

fn loss_pane(f: &mut Frame, area: Rect, m: &Model, t: &Theme) {
    let title = match (&m.run, &m.running) {
        (Some(r), _) => {
            let prompt = m.items().iter().find(|i| i.id == r.item).map(|i| i.prompt.clone()).unwrap_or_default();
            let running = matches!(&m.running, Some(Job::Invert { item }) if *item == r.item);
            // "Job" only while it runs; otherwise these are the losses of an item.
            let what = if running { "Job: invert" } else { "Item:" };
            // The caption gives way first: the timestep count must stay readable.
            let tail = format!(" · t {}/{}", r.named_step(running), r.total);
            let item = title_item(&r.item, area);
            let room = (area.width as usize).saturating_sub(4 + width(what) + 1 + width(&item) + 3 + width(&tail));
            // Below a few letters the caption goes whole, so the count is not cut at the frame.
            if room < 3 {
                format!("{what} {}{tail}", shorten_middle(&r.item, (area.width as usize).saturating_sub(4 + width(what) + 1 + width(&tail)).max(1)))
            } else {
                format!("{what} {item} \"{}\"{tail}", super::shorten(&prompt, room))
            }
        }
        (None, _) => "Loss".to_string(),
    };
    let block = pane_block(title, m.focus == Pane::Loss, t);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(r) = &m.run else {
        // Queued with nothing done (a queued finished one only re-samples its reconstruction).
        let queued = m.selected_item().is_some_and(|i| m.queue().contains(&Job::Invert { item: i.id.clone() }) && i.inversion.as_ref().is_some_and(|r| r.completed_steps == 0));
        let text = match (queued, m.items().is_empty()) {
            (true, _) => "queued: no timestep of this inversion has finished yet".to_string(),
            (false, true) => format!("no photo yet: {} adds one, {} inverts it", m.key(Action::AddImage), m.key(Action::Invert)),
            (false, false) => format!("no inversion yet: {} inverts the selected image", m.key(Action::Invert)),
        };
        f.render_widget(Paragraph::new(Line::styled(text, Style::default().fg(t.muted))).wrap(ratatui::widgets::Wrap { trim: true }), inner);
        return;
    };
    if matches!(r.method.as_str(), "npi" | "ddim" | "direct") {
        let name = if r.method == "direct" { "Direct Inversion".to_string() } else { r.method.to_uppercase() };
        let text = format!("this {} inversion has no loss curve: {name} does not optimise (only null-text does)", r.method);
        f.render_widget(Paragraph::new(Line::styled(text, Style::default().fg(t.muted))).wrap(ratatui::widgets::Wrap { trim: true }), inner);
        return;
    }
    let data = LossData { losses: &r.losses, steps: r.total, iterations: &r.iterations, inner: r.inner_max, epsilon: r.epsilon };
    if data.is_empty() {
        // One line for the pane, not one cut short per view; waiting only while the job runs.
        let running = matches!(&m.running, Some(Job::Invert { item }) if *item == r.item);
        let text = match (running, r.done) {
            (true, _) => super::loss_chart::WAITING,
            (false, 0) => "no losses yet: no timestep of this inversion has finished",
            // Steps done but nothing read back: the file is damaged or gone (the status line says).
            (false, _) if r.losses_unreadable => "the losses of this inversion could not be read from its file",
            (false, _) => "reading the losses from the inversion file…",
        };
        f.render_widget(Paragraph::new(Line::styled(text, Style::default().fg(t.muted))).wrap(ratatui::widgets::Wrap { trim: true }), inner);
        return;
    }
    let style = || LossStyle { loss: t.loss, threshold: t.threshold, muted: t.muted, fg: t.foreground, warning: t.warning };
    let halves = Layout::default().direction(Direction::Horizontal).constraints([Constraint::Percentage(40), Constraint::Percentage(60)]).split(inner);
    let step = m.selected_step.unwrap_or(r.losses.len().saturating_sub(1));
    let run = RunLosses { data: &data, style: style(), log: m.log_scale, selected: m.selected_step };
    // Too small for the per-timestep plot: the whole run gets the pane (no orphaned header).
    if halves[0].width < StepLosses::MIN_WIDTH + 1 || inner.height < StepLosses::MIN_HEIGHT {
        f.render_widget(run, inner);
        return;
    }
    // A blank column between the views: the left plot never runs into the right one's labels.
    let left = Rect { width: halves[0].width - 1, ..halves[0] };
    f.render_widget(StepLosses { data: &data, style: style(), step, log: m.log_scale }, left);
    f.render_widget(run, halves[1]);
}

fn picture(f: &mut Frame, area: Rect, img: Option<&RgbImage>, empty: &str, look: &Look) {
    let t = look.theme;
    match (img, look.graphics) {
        (Some(img), Graphics::HalfBlock) => {
            let mode = t.palette;
            // Latent previews are small (64² for SD1.5): enlarge them to the pane.
            f.render_widget(HalfBlock::new(img).color_mode(mode).upscale(true), area);
        }
        (Some(img), Graphics::None) => f.render_widget(Paragraph::new(Line::styled(format!("[{}×{} image]", img.width(), img.height()), Style::default().fg(t.muted))), area),
        (None, _) => f.render_widget(Paragraph::new(Line::styled(empty.to_string(), Style::default().fg(t.muted))), area),
    }
}

fn preview_pane(f: &mut Frame, area: Rect, m: &Model, look: &Look) {
    // The x0 of an inversion under way (running or paused); once it is done, the source, beside
    // the result pane's reconstruction or edit. The title names the item: the running one's x0
    // may sit beside the selected one's result.
    let done = |item: &str| m.items().iter().any(|i| i.id == item && i.inversion.as_ref().is_some_and(|r| r.is_done()));
    let live_run = m.run.as_ref().filter(|r| matches!(&m.running, Some(Job::Invert { item }) if *item == r.item) || !done(&r.item));
    // A timestep browsed with `[ ]` in the loss pane (which shows the selected item's run).
    let selected_run = m.run.as_ref().filter(|r| m.selected_item().is_some_and(|i| i.id == r.item));
    let browsed = m.selected_step.zip(selected_run).and_then(|(s, r)| Some((r.preview_at(s)?, s, r)));
    if let Some(((p, t), s, r)) = browsed {
        let decoded = r.decoded.as_ref().filter(|d| d.1 == t).map(|d| &d.0);
        let what = if decoded.is_some() { "x0 via the VAE" } else { "x0" };
        let rest = format!(" · {what}, t={t} (timestep {}/{})", s + 1, r.total);
        // A narrow pane keeps the step and drops the word.
        let rest = if width(&rest) + 12 > usize::from(area.width) { format!(" · {what}, t={t} ({}/{})", s + 1, r.total) } else { rest };
        let block = pane_block(item_first(&r.item, &rest, area), m.focus == Pane::Preview, look.theme);
        let inner = block.inner(area);
        f.render_widget(block, area);
        return picture(f, inner, Some(decoded.unwrap_or(p)), "", look);
    }
    // A decode asked for after the run finished shows for a while too.
    let finished_decode = selected_run.filter(|r| r.decoded.as_ref().is_some_and(|d| m.now - d.2 < 2.0 * crate::tui::events::DECODED_HOLD));
    let decoded = live_run.or(finished_decode).and_then(|r| r.decoded.as_ref().map(|d| (&d.0, d.1)));
    let latent = live_run.and_then(|r| r.preview.as_ref().map(|p| (p, r.preview_t)));
    let item = live_run.or(finished_decode).map(|r| r.item.as_str()).unwrap_or_default();
    let (live, title) = match (decoded, latent) {
        (Some((p, t)), _) => (Some((p, t)), item_first(item, &format!(" · x0 via the VAE, t={t}"), area)),
        (None, Some((p, t))) => {
            // The key hint goes first when the pane is narrow: the item and t say what it is.
            let hint = format!(" · {} decodes", m.key(Action::Decode));
            let plain = format!(" · x0, t={t}");
            let fits = width(item) + width(&plain) + width(&hint) + 4 <= usize::from(area.width);
            (Some((p, t)), item_first(item, &if fits { plain + &hint } else { plain }, area))
        }
        (None, None) => (None, m.selected_item().map_or_else(|| "Source".to_string(), |i| item_first(&i.id, " · Source", area))),
    };
    let block = pane_block(title, m.focus == Pane::Preview, look.theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let source = m.selected_item().and_then(|i| m.images.get(&i.image));
    picture(f, inner, live.map(|(p, _)| p).or(source), "no picture yet", look);
}

/// An item's name in a title that has more to say after it: a third of the pane at most, cut in
/// its middle.
fn title_item(item: &str, area: Rect) -> String {
    shorten_middle(item, (usize::from(area.width) / 3).max(8))
}

/// `item` then `rest` in a pane title; a long item name is cut in its middle so that `rest` (which
/// timestep, what is shown) keeps its place in the frame.
fn item_first(item: &str, rest: &str, area: Rect) -> String {
    let room = usize::from(area.width).saturating_sub(4 + width(rest));
    // Too narrow for a few letters of the name: what is shown, whole, matters more.
    if room < 4 && width(item) > room {
        return rest.trim_start_matches(" · ").to_string();
    }
    format!("{}{rest}", shorten_middle(item, room))
}

fn result_pane(f: &mut Frame, area: Rect, m: &Model, look: &Look) {
    let shown = shown_entry(m);
    let item = m.selected_item();
    let edit = item.zip(shown.as_ref().and_then(|e| e.edit.as_ref())).and_then(|(it, id)| it.edits.iter().find(|e| &e.id == id));
    // A long item name gives way in its middle: the title is there to tell edits apart.
    let id = item.map(|it| title_item(&it.id, area)).unwrap_or_default();
    let title = match (item, edit) {
        (Some(it), Some(e)) if shown.as_ref().is_some_and(|s| s.is_mask()) => {
            let share = shown.as_ref().and_then(|s| s.picture.as_deref()).and_then(|p| m.images.white_share(p));
            let rest = match share {
                Some(share) => format!(" · {}'s mask, {:.0}% may change", e.id, share * 100.0),
                None => format!(" · {}'s blend mask", e.id),
            };
            item_first(&it.id, &rest, area)
        }
        (Some(it), Some(e)) => {
            // The target gives way (…) to the frame and to the old-caption note, which a narrow
            // pane shortens to leave the target a few letters.
            let room = |note: &str| (area.width as usize).saturating_sub(3 + width(&id) + 12 + width(&e.id) + width(note));
            let old = match e.other_caption(&it.prompt) {
                None => "",
                Some(_) if room(" (old caption)") >= 8 => " (old caption)",
                Some(_) => " (old)",
            };
            match room(old) {
                // Too narrow for a few letters of the target: the kind of result and the note.
                r if r < 4 => format!("{} · edit {}{old}", shorten_middle(&it.id, (area.width as usize).saturating_sub(3 + 8 + width(&e.id) + width(old)).max(4)), e.id),
                // The whole target when it fits; else what tells the edit apart ("→ lion"): the
                // words a shortened target would cut are the ones that differ.
                r if width(&e.spec.target) + 2 <= r => format!("{id} · edit {}: \"{}\"{old}", e.id, e.spec.target),
                r => {
                    let source = e.other_caption(&it.prompt).unwrap_or(&it.prompt);
                    format!("{id} · edit {} {}{old}", e.id, shorten(&session::edit_summary(source, &e.spec), r + 1))
                }
            }
        }
        (Some(it), None) if shown.is_some() => {
            // How close it came to the photo, once both pictures are read.
            let db = shown.as_ref().and_then(|e| e.picture.as_deref()).and_then(|p| m.images.psnr(p, &it.image));
            let rest = db.map_or(" · Reconstruction".to_string(), |db| format!(" · Reconstruction, PSNR {}", crate::edit::metrics::decibels(db, 1)));
            item_first(&it.id, &rest, area)
        }
        // A long name keeps more of itself with the short word.
        (Some(it), None) => item_first(&it.id, if width(&it.id) + 22 <= usize::from(area.width) { " · Result / source" } else { " · Result" }, area),
        _ => "Result / source".to_string(),
    };
    // j/k, x, d and z of the preview focus act on this pane's result.
    let block = pane_block(title, m.focus == Pane::Preview, look.theme);
    let inner = block.inner(area);
    f.render_widget(block, area);
    // An edit not made yet says where it stands instead of showing the source.
    if let (Some(it), Some(e)) = (item, edit.filter(|e| e.output.is_none())) {
        let job = Job::Edit { item: it.id.clone(), edit: e.id.clone() };
        let (r, p) = (m.key(Action::Retry), m.key(Action::PauseResume));
        let state = match m.job_state(&job) {
            Some(JobState::Running) => "being made now".to_string(),
            // Written for a caption the item no longer has: it cannot run, only be made anew.
            _ if e.other_caption(&it.prompt).is_some() => "written for the old caption, it does not run".to_string(),
            Some(JobState::Failed(why)) => {
                format!("failed: {why} ({})", m.way_on(&it.id).1)
            }
            Some(JobState::Cancelled) => format!("cancelled ({r} retries)"),
            _ if m.queue().contains(&job) && m.queue_running => "queued: it runs in turn".to_string(),
            _ if m.queue().contains(&job) => format!("queued ({p} runs the queue)"),
            _ => format!("not queued ({r} queues it again)"),
        };
        let keys = format!("{} deletes it · {}: a new edit from it", m.key(Action::DeleteItem), m.key(Action::NewEdit));
        let muted = Style::default().fg(look.theme.muted);
        let lines = vec![Line::raw(format!("not made yet: {state}")), Line::styled(keys, muted)];
        f.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }), inner);
        return;
    }
    let img = shown.and_then(|e| e.picture).and_then(|p| m.images.get(&p)).or_else(|| item.and_then(|i| m.images.get(&i.image)));
    let empty = match item {
        Some(_) => format!("results appear here ({}: new edit)", m.key(Action::NewEdit)),
        None => format!("no photo yet ({} adds one)", m.key(Action::AddImage)),
    };
    picture(f, inner, img, &empty, look);
}
