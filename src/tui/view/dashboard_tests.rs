//! Snapshots of the whole screen (TestBackend) at 120×40 and 80×24: idle, running with a loss
//! chart and a half-block preview, help, and the edit form.

use super::dashboard::{draw, Graphics, Look};
use crate::tui::keymap::{Action, Keymap};
use crate::tui::state::{EditForm, Mode, Model};
use crate::tui::showcase::running_model;
use crate::tui::theme::Theme;
use crate::tui::update::{update, Msg};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

pub(crate) fn render(m: &Model, w: u16, h: u16, graphics: Graphics) -> Terminal<TestBackend> {
    let theme = Theme::built_in("default").unwrap();
    let keys = Keymap::default();
    let look = Look { theme: &theme, keys: &keys, graphics };
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, m, &look)).unwrap();
    t
}

#[test]
fn running_at_120x40() {
    let t = render(&running_model(), 120, 40, Graphics::HalfBlock);
    insta::assert_snapshot!(t.backend());
    let cell = t.backend().buffer().content().iter().find(|c| c.symbol() == "▀").expect("the preview is drawn with half-blocks");
    assert!(matches!(cell.fg, ratatui::style::Color::Rgb(..)) && matches!(cell.bg, ratatui::style::Color::Rgb(..)));
}

#[test]
fn running_at_80x24() {
    insta::assert_snapshot!(render(&running_model(), 80, 24, Graphics::None).backend());
}

#[test]
fn help_is_generated_from_the_keymap() {
    let mut m = running_model();
    update(&mut m, Msg::Action(Action::Help));
    let t = render(&m, 120, 40, Graphics::None);
    insta::assert_snapshot!(t.backend());
    // Nearly as wide as the screen, it takes all of it: no sliver of pane border beside it.
    for (w, h) in [(80, 24), (60, 16), (81, 24)] {
        let t = render(&m, w, h, Graphics::None);
        let buf = t.backend().buffer();
        let top = (0..h).find(|&y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().contains("Keys")).unwrap();
        let edges = [0, w - 2, w - 1].map(|x| buf[(x, top)].symbol().to_string());
        assert_eq!(edges, ["╭", "─", "╮"], "{w}×{h}");
    }
}

#[test]
fn edit_form_with_an_error() {
    let mut m = running_model();
    m.selected = 0;
    let mut f = EditForm::new("cat", "a cat sitting next to a mirror");
    f.target = "a big tiger sitting next to a mirror".into();
    f.error = Some("replace needs the same number of words; switch the mode to refine".into());
    m.mode = Mode::Edit(f);
    insta::assert_snapshot!(render(&m, 80, 24, Graphics::None).backend());
    // On a small screen the fields farthest from the active one give way to the error and keys.
    if let Mode::Edit(f) = &mut m.mode {
        f.field = 4; // blend
    }
    let text = flat(&render(&m, 50, 12, Graphics::None));
    assert!(text.contains("replace needs the same number") && text.contains("Esc close") && text.contains("blend"), "{text}");
}

#[test]
fn an_empty_session_says_what_to_do() {
    let m = Model::new("fresh", true);
    let t = render(&m, 80, 24, Graphics::HalfBlock);
    let text = format!("{}", t.backend());
    assert!(text.contains("random") && text.contains("--model"), "the demo says its weights are random and how to use real ones:\n{text}");
    assert!(text.contains("a: add an image"), "{text}");
}

/// The screen's text with line ends removed (TestBackend prints one quoted row per line).
pub(crate) fn flat(t: &Terminal<TestBackend>) -> String {
    format!("{}", t.backend()).lines().map(|l| l.trim_matches('"').trim_end()).collect::<Vec<_>>().join(" ")
}

#[test]
fn a_short_terminal_shows_every_key_and_a_long_message_whole() {
    let mut m = running_model();
    update(&mut m, Msg::Action(Action::Help));
    // Too short for the list: it scrolls, and scrolling to its end passes every key, whole.
    for (w, h) in [(80, 15), (40, 10)] {
        m.screen = ratatui::layout::Rect::new(0, 0, w, h);
        m.help_scroll = 0;
        let mut seen = flat(&render(&m, w, h, Graphics::None));
        assert!(seen.contains("j/k scroll · 1–"), "the footer says the list scrolls:\n{seen}");
        for _ in 0..60 {
            update(&mut m, Msg::Action(Action::Down));
            assert_eq!(m.mode, Mode::Help, "j scrolls, it does not close");
            seen.push_str(&flat(&render(&m, w, h, Graphics::None)));
        }
        let joined: String = seen.split_whitespace().collect::<Vec<_>>().join(" ");
        for (keys, what) in Keymap::default().help() {
            let start: String = what.split(' ').take(2).collect::<Vec<_>>().join(" ");
            assert!(joined.contains(&format!("{keys} {start}")), "help at {w}×{h} never shows `{keys}  {what}`:\n{joined}");
        }
        update(&mut m, Msg::Action(Action::Up));
        assert_eq!(m.mode, Mode::Help);
    }
    update(&mut m, Msg::Action(Action::Invert));
    assert_eq!((m.mode.clone(), m.help_scroll), (Mode::Normal, 0), "another key closes the help");
    m.screen = ratatui::layout::Rect::new(0, 0, 120, 40);
    update(&mut m, Msg::Action(Action::Help));
    update(&mut m, Msg::Action(Action::Down));
    assert_eq!(m.mode, Mode::Normal, "with nothing to scroll, j closes the help too");
    m.mode = Mode::Normal;
    let message = "item dog: the inversion file inversions/dog-3.safetensors is damaged; pivot invert --restart dog inverts it again from the first timestep";
    m.status = Some((message.into(), crate::tui::state::Level::Error));
    let text = flat(&render(&m, 80, 24, Graphics::None));
    let joined: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(joined.contains(message), "the message is wrapped, not cut:\n{text}");
}

#[test]
fn the_live_x0_shows_while_its_inversion_is_under_way_the_source_once_done() {
    let mut m = running_model();
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("x0, t="), "{text}");
    let job = m.running.clone().unwrap();
    update(&mut m, Msg::Worker(crate::worker::Event::Paused { job: job.clone() }));
    assert!(flat(&render(&m, 120, 40, Graphics::None)).contains("x0, t="), "paused: still the x0 it reached");
    let mut man = m.manifest.clone().unwrap();
    let dog = man.items.iter_mut().find(|i| i.id == "dog").unwrap();
    dog.inversion.as_mut().unwrap().completed_steps = 50;
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    update(&mut m, Msg::Worker(crate::worker::Event::JobDone { job, summary: String::new(), outputs: vec![] }));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(!text.contains("x0, t=") && text.contains("Source"), "{text}");
}

fn render_keys(m: &Model, keys: &Keymap, w: u16, h: u16) -> Terminal<TestBackend> {
    let theme = Theme::built_in("default").unwrap();
    let look = Look { theme: &theme, keys, graphics: Graphics::None };
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, m, &look)).unwrap();
    t
}

#[test]
fn an_npi_or_ddim_inversion_says_it_has_no_loss_curve_and_an_idle_pane_names_its_item() {
    let mut man = crate::tui::showcase::manifest();
    man.items[0].inversion.as_mut().unwrap().method = "npi".into();
    man.queue.clear();
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("this npi inversion has no loss curve: NPI does not optimise") && !text.contains("waiting for the first timestep"), "{text}");
    assert!(text.contains("Item: cat \"a cat sitting next to a mirror\" · t 50/50") && !text.contains("Job:"), "nothing runs: no Job in the title:\n{text}");
}

#[test]
fn each_picture_title_names_its_item() {
    let mut m = running_model();
    m.selected = 0; // cat's result beside dog's running x0
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("dog · x0, t=461") && text.contains("cat · edit e1 → tiger"), "{text}");
}

#[test]
fn small_screens_drop_loss_headers_rather_than_run_them_together() {
    let m = running_model();
    for (w, h) in [(40, 12), (60, 20)] {
        let text = flat(&render(&m, w, h, Graphics::None));
        assert!(!text.contains("t 23/50"), "the per-timestep view (and its header) goes whole at {w}×{h}:\n{text}");
        assert!(!text.contains("5023/50") && !text.contains("5012/50"), "{text}");
    }
    // At 120×40 a blank column keeps the per-timestep plot off the whole-run view's labels.
    let t = render(&m, 120, 40, Graphics::None);
    let buf = t.backend().buffer();
    let row = |y: u16| (0..120).map(|x| buf[(x, y)].symbol().to_string()).collect::<Vec<_>>();
    let top = row(2).concat();
    let label = top.rfind("1e-3 ┤").expect("the run view's top label");
    let x = top[..label].chars().count() as u16;
    for y in 1..=15 {
        assert_eq!(buf[(x - 1, y)].symbol(), " ", "row {y}: {}", row(y).concat());
    }
}

#[test]
fn the_quit_question_names_the_pause_key_bound_now() {
    let mut keys = Keymap::default();
    keys.apply("pause_resume = \"P\"").unwrap();
    let mut m = running_model();
    m.keys = keys.clone();
    m.mode = Mode::ConfirmQuit;
    let text = flat(&render_keys(&m, &keys, 120, 40));
    assert!(text.contains("press P next time"), "{text}");
    // A screen too short for the whole question keeps the keys that answer it.
    for (w, h) in [(30, 8), (50, 15), (24, 6)] {
        let text = flat(&render_keys(&m, &keys, w, h));
        assert!(text.contains("y quit") && text.contains("A job is running"), "{w}×{h}: {text}");
    }
    // The job over while the question is open: it says so.
    m.running = None;
    let text = flat(&render_keys(&m, &keys, 120, 40));
    assert!(text.contains("The job is over and nothing runs now. Quit?") && !text.contains("A job is running"), "{text}");
}

#[test]
fn without_colour_the_focus_is_bold_reversed_and_thick() {
    let theme = Theme::built_in("default").unwrap().without_colour();
    let keys = Keymap::default();
    let look = Look { theme: &theme, keys: &keys, graphics: Graphics::None };
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    t.draw(|f| draw(f, &running_model(), &look)).unwrap();
    let buf = t.backend().buffer();
    use ratatui::style::{Color, Modifier};
    assert!(buf.content().iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset), "NO_COLOR: not one colour");
    assert_eq!(buf[(0, 0)].symbol(), "┏", "the focused session pane has a thick border");
    assert!(buf[(3, 0)].modifier.contains(Modifier::REVERSED | Modifier::BOLD), "and a reversed title");
    let selected = (0..40).find(|&y| buf[(1, y)].symbol() == "▸").expect("the selected item");
    assert!(buf[(1, selected)].modifier.contains(Modifier::REVERSED), "the selection shows without colour");
}

#[test]
fn a_long_caption_gives_way_to_the_timestep_count_in_the_loss_title() {
    let mut m = running_model();
    let mut manifest = m.manifest.clone().unwrap();
    manifest.items[1].prompt = "a very fluffy dog lying on the green grass of a garden in the summer sun".into();
    m.manifest = Some(manifest);
    let t = render(&m, 80, 24, Graphics::None);
    let top: String = (0..80).map(|x| t.backend().buffer()[(x, 0)].symbol().to_string()).collect();
    assert!(top.contains("a very fluffy") && top.contains("…\" · t 24/50"), "{top}");
}

#[test]
fn an_edit_made_from_an_old_caption_says_so() {
    let mut m = running_model();
    m.selected = 0;
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("→ tiger") && !text.contains("old caption"), "{text}");
    let mut man = m.manifest.clone().unwrap();
    man.items[0].prompt = "a cat on a red sofa".into();
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    // Its label still tells it apart from the caption it was made from.
    assert!(text.contains("→ tiger") && text.contains("old caption ✓"), "{text}");
    assert!(text.contains("cat · edit e1 → tiger (old caption)"), "{text}");
    // A narrow pane keeps a word for it, and the title the note.
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("→ tiger") && text.contains(" old ✓") && text.contains("cat · edit e1 (old)"), "{text}");
    let row = t_row(&render(&m, 120, 40, Graphics::None), "old caption ✓");
    let mark = row.iter().find(|c| c.symbol() == "✓").unwrap();
    assert_eq!(mark.fg, Theme::built_in("default").unwrap().muted, "not the colour of a current result");
}

#[test]
fn an_unmade_edit_for_an_old_caption_points_to_a_new_edit_not_to_retry() {
    let mut m = running_model();
    m.selected = 0;
    let mut man = m.manifest.clone().unwrap();
    man.items[0].edits[1].source_prompt = Some(man.items[0].prompt.clone());
    man.items[0].prompt = "a cat on a red sofa".into();
    man.queue.clear();
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    m.shown = crate::tui::results::entries(&m).into_iter().find(|e| e.edit.as_deref() == Some("e2")).map(|e| e.key);
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("not made yet: written for the old") && text.contains("does not run") && !text.contains("queues it again"), "{text}");
}

#[test]
fn the_delete_question_says_the_files_go_for_good() {
    let mut m = running_model();
    m.mode = Mode::ConfirmDelete("cat".into());
    let text = flat(&render(&m, 100, 30, Graphics::None));
    assert!(text.contains("Delete cat with its inversion and 2 edits (1 made)?") && text.contains("go for good") && text.contains("y delete"), "{text}");
    // The edit the session pane marks is not what d deletes here: the way to delete one is said.
    assert!(text.contains("(One edit only: in the preview pane, d deletes the edit"), "{text}");
    m.mode = Mode::ConfirmDelete("sky".into());
    assert!(!flat(&render(&m, 100, 30, Graphics::None)).contains("preview pane"), "sky has no edits");
}

/// The cells of the first screen row holding `needle`.
pub(crate) fn t_row(t: &Terminal<TestBackend>, needle: &str) -> Vec<ratatui::buffer::Cell> {
    let buf = t.backend().buffer();
    let w = buf.area.width as usize;
    let rows: Vec<Vec<ratatui::buffer::Cell>> = buf.content().chunks(w).map(|r| r.to_vec()).collect();
    rows.into_iter().find(|r| r.iter().map(|c| c.symbol()).collect::<String>().contains(needle)).expect(needle)
}

#[test]
fn a_notice_beside_a_run_is_read_whole_and_never_moves_the_panes() {
    let mut m = running_model();
    let screen = |m: &Model, w: u16, h: u16| {
        let t = render(m, w, h, Graphics::None);
        (0..h).map(|y| (0..w).map(|x| t.backend().buffer()[(x, y)].symbol().to_string()).collect::<String>()).collect::<Vec<_>>()
    };
    // A tall screen keeps two status rows through the run, with or without a notice.
    let rows = screen(&m, 120, 40);
    assert!(rows[37].starts_with('╰') && rows[38].starts_with("null-text dog · t 24/50"), "{}", rows.join("\n"));
    let notice = "retrying invert sky and its edit sky/e4 (the inversion continues from its checkpoint): they run in turn (p pauses the queue)";
    crate::tui::update::say(&mut m, notice, crate::tui::state::Level::Info);
    let rows = screen(&m, 120, 40);
    let status: String = rows[38..].join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(rows[37].starts_with('╰') && status.contains(notice), "the notice is whole and the panes keep their rows:\n{}", rows.join("\n"));
    // A notice too long even for two rows is cut there while the run is watched (pivot.log keeps
    // it); errors, which say what to do, wrap (a_short_terminal_shows_every_key_and_a_long_message_whole).
    let long = format!("edit cat/e2 failed: {} — r retries", "a very long reason ".repeat(12));
    crate::tui::update::say(&mut m, long, crate::tui::state::Level::Info);
    let rows = screen(&m, 120, 40);
    assert!(rows[37].starts_with('╰') && rows[38].starts_with("dog t 24/50 · edit cat/e2 failed") && rows[38..].concat().contains("…"), "{}", rows.join("\n"));
    // A short screen keeps one row: the notice gives way in its middle, the progress names its job.
    crate::tui::update::say(&mut m, notice, crate::tui::state::Level::Info);
    let rows = screen(&m, 80, 24);
    assert!(rows[22].starts_with('╰') && rows[23].starts_with("dog t 24/50 · retrying") && rows[23].contains("…"), "{}", rows.join("\n"));
}

#[test]
fn a_browsed_timestep_shows_its_own_x0() {
    let mut m = running_model(); // dog at t 24/50, its latest preview from t=461
    let r = m.run.as_mut().unwrap();
    r.previews = vec![None; 23];
    r.previews[5] = Some((crate::tui::showcase::picture(64, 64), 881));
    m.selected_step = Some(5);
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("dog · x0, t=881 (timestep 6/50)") && !text.contains("t=461"), "{text}");
    // A timestep this dashboard did not see (before it opened) leaves the live preview.
    m.selected_step = Some(4);
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("dog · x0, t=461"), "{text}");
}

#[test]
fn a_long_item_name_gives_way_to_the_timestep_in_the_preview_title() {
    let mut m = running_model();
    let long = format!("holiday-{}-dog", "x".repeat(60));
    m.manifest.as_mut().unwrap().items.iter_mut().filter(|i| i.id == "dog").for_each(|i| i.id = long.clone());
    m.run.as_mut().unwrap().item = long.clone();
    m.running = Some(crate::session::manifest::Job::Invert { item: long.clone() });
    let text = flat(&render(&m, 100, 30, Graphics::None));
    assert!(text.contains("-dog · x0, t=461") && !text.contains(&long), "{text}");
    // The loss pane's title keeps the timestep, the queue and result pane the name's end.
    assert!(text.contains("xx-dog \"a dog on the gr…\" · t 24/50") && text.contains("-dog · Result ╮"), "{text}");
    assert!(text.contains("…og · cancelled (r)"), "{text}");
    // Beside a notice, the status line names the job: its end too.
    crate::tui::update::say(&mut m, "a notice", crate::tui::state::Level::Info);
    let t = render(&m, 100, 30, Graphics::None);
    let status = (28..30).flat_map(|y| (0..100).map(move |x| (x, y))).map(|(x, y)| t.backend().buffer()[(x, y)].symbol().to_string()).collect::<String>();
    assert!(status.contains("holiday-xxxx…xxxxxxx-dog · t 24/50") && !status.contains(&long), "{status}");
    let r = m.run.as_mut().unwrap();
    r.previews = vec![None; 23];
    r.previews[5] = Some((crate::tui::showcase::picture(64, 64), 881));
    m.selected = m.items().iter().position(|i| i.id == long).unwrap();
    m.selected_step = Some(5);
    let text = flat(&render(&m, 100, 30, Graphics::None));
    assert!(text.contains("-dog · x0, t=881 (6/50)"), "{text}");
}

#[test]
fn a_run_without_losses_says_so_once() {
    let mut m = running_model();
    let r = m.run.as_mut().unwrap();
    (r.losses, r.iterations) = (vec![], vec![]);
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert_eq!(text.matches("waiting for the first").count(), 1, "{text}");
    m.running = None;
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("reading the losses from the inversion file…") && !text.contains("waiting for"), "{text}");
    update(&mut m, Msg::LossesUnreadable { item: "dog".into(), why: "shorter than a safetensors header".into() });
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("the losses of this inversion could not be read from its file"), "{text}");
    // The item is marked damaged at once, with the way out (not when an edit fails on it).
    let dog = m.items().iter().find(|i| i.id == "dog").unwrap().clone();
    assert_eq!(m.item_state(&dog), "damaged");
    let said = m.status.clone().unwrap();
    assert!(said.1 == crate::tui::state::Level::Warning && said.0.contains("cannot be read (shorter than a safetensors header): i inverts it again"), "{said:?}");
    m.run.as_mut().unwrap().done = 0;
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("no losses yet: no timestep of this inversion has finished"), "{text}");
    // Before the dashboard has a run for it: a queued inversion says so, not "i inverts".
    m.run = None;
    m.selected = m.items().iter().position(|i| i.id == "sky").unwrap();
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("queued: no timestep of this inversion has finished yet") && !text.contains("no inversion yet"), "{text}");
}

#[test]
fn the_new_caption_question_names_the_edits_that_would_not_run() {
    let mut m = running_model();
    m.selected = 0;
    let mut man = m.manifest.clone().unwrap();
    man.items[0].edits[1].source_prompt = Some(man.items[0].prompt.clone());
    m.manifest = Some(man);
    m.mode = Mode::ConfirmCaption("cat".into(), "a cat at night".into());
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("Its edit e2 (not made yet) would not run.") && text.contains("y saves the caption"), "{text}");
    assert!(text.contains("Its finished edit stays, marked \"old caption\"."), "{text}");
    // Before the caption of an item still being inverted is saved, too (no question follows).
    let dog = m.manifest.as_ref().unwrap().items.iter().position(|i| i.id == "dog").unwrap();
    let mut man = m.manifest.clone().unwrap();
    let prompt = man.items[dog].prompt.clone();
    man.items[dog].edits = vec![crate::session::manifest::EditRecord { source_prompt: Some(prompt), ..crate::session::manifest::EditRecord::new("e1", man.items[0].edits[0].spec.clone()) }];
    m.manifest = Some(man);
    m.mode = Mode::Caption("dog".into(), "a dog at night".into());
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("Enter stops it") && text.contains("Its edit e1 (not made yet) would not run."), "{text}");
}

#[test]
fn a_reconstruction_is_titled_with_its_psnr_once_both_pictures_are_read() {
    let mut m = running_model();
    m.selected = 0;
    m.shown = Some("recon".into());
    let photo = crate::tui::showcase::picture(16, 16);
    let mut recon = photo.clone();
    recon.put_pixel(0, 0, image::Rgb([0, 0, 0]));
    let screen = |m: &Model| render(m, 120, 40, Graphics::None).backend().buffer().content().iter().map(|c| c.symbol()).collect::<String>();
    assert!(screen(&m).contains("cat · Reconstruction ─"), "no figure before the pictures are read: {}", screen(&m));
    m.images.insert("images/cat.png".into(), photo.clone(), &[]);
    m.images.insert("edits/cat-recon.png".into(), recon.clone(), &[]);
    let db = crate::edit::metrics::psnr(&recon, &photo).unwrap();
    assert!(screen(&m).contains(&format!("cat · Reconstruction, PSNR {db:.1} dB")), "{}", screen(&m));
}
