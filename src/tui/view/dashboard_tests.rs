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
fn the_active_field_shows_its_cursor_where_it_is() {
    let mut m = running_model();
    let mut f = EditForm::new("cat", "a cat sitting next to a mirror");
    f.target = "a tiger sitting next to a mirror".into();
    m.mode = Mode::Edit(f);
    m.cursor_back = 7;
    let text = flat(&render(&m, 100, 30, Graphics::None));
    assert!(text.contains("a tiger sitting next to a▏ mirror"), "{text}");
    // The line under the fields says what the active one takes.
    assert!(text.contains("the caption with words changed"), "{text}");
    if let Mode::Edit(f) = &mut m.mode {
        f.field = 2;
    }
    let text = flat(&render(&m, 100, 30, Graphics::None));
    assert!(text.contains("per word: 0.8 tiger=0.4") && !text.contains("the caption with words changed"), "{text}");
}

#[test]
fn a_long_value_goes_on_under_itself_not_under_the_labels() {
    let mut m = running_model();
    let caption = "a photograph of an orange cat sitting on a wooden chair next to a tall mirror in a sunny room";
    m.mode = Mode::AddImage(crate::tui::state::AddForm { field: 1, path: "cat.jpg".into(), prompt: caption.into(), ..Default::default() });
    m.cursor_back = 0;
    let screen = format!("{}", render(&m, 100, 30, Graphics::None).backend());
    let rows: Vec<&str> = screen.lines().collect();
    let at = rows.iter().position(|r| r.contains("caption: a photograph")).expect("the caption's first row");
    let value_column = rows[at].find("a photograph").unwrap();
    let next = rows[at + 1];
    assert!(next[value_column..].starts_with("room▏") || next[value_column..].contains("room"), "{screen}");
    assert!(next[..value_column].trim_start_matches('"').trim_start().starts_with('│') && next[..value_column].trim_end().ends_with('│'), "the second row is blank under the label: {screen}");
    assert!(rows[at + 2].contains("method:"), "{screen}");
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

#[test]
fn cancelled_work_stays_listed_under_the_queue() {
    let mut m = running_model();
    let job = m.running.clone().unwrap();
    let mut man = m.manifest.clone().unwrap();
    man.queue.retain(|j| *j != job);
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    update(&mut m, Msg::Worker(crate::worker::Event::Cancelled { job }));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("invert dog · cancelled (r)"), "{text}");
    // An inversion off the queue with nothing done (a new caption's) was not cancelled.
    let mut man = m.manifest.clone().unwrap();
    man.queue.retain(|j| *j != crate::session::manifest::Job::Invert { item: "sky".into() });
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("invert sky · new (i)") && text.contains("invert dog · cancelled (r)"), "{text}");
}

#[test]
fn a_long_edit_list_keeps_the_shown_edit_in_view_at_80x24() {
    let mut m = running_model();
    let mut man = m.manifest.clone().unwrap();
    let cat = man.items.iter_mut().find(|i| i.id == "cat").unwrap();
    let template = cat.edits[0].clone();
    cat.edits = (1..=9)
        .map(|k| {
            let mut e = template.clone();
            e.id = format!("e{k}");
            e.spec.target = format!("a tiger{k} sitting next to a mirror");
            e.output = Some(format!("edits/cat-e{k}.png"));
            e
        })
        .collect();
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    m.selected = 0;
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("▸ → tiger9") && text.contains("more") && text.contains("Queue"), "the last result (shown by default) and the queue:\n{text}");
    m.shown = Some("edit:e1".into());
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("▸ → tiger1") && !text.contains("tiger9"), "{text}");
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
fn a_queue_too_long_for_the_pane_says_how_many_more() {
    let mut m = running_model();
    let mut man = m.manifest.clone().unwrap();
    man.queue.extend((3..12).map(|k| crate::session::manifest::Job::Edit { item: "cat".into(), edit: format!("e{k}") }));
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("Queue (running):") && text.contains("↓ ") && text.contains(" more"), "{text}");
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
fn the_job_in_hand_heads_the_queue_when_another_is_put_first() {
    let mut m = running_model(); // dog runs
    let man = m.manifest.as_mut().unwrap();
    let sky = crate::session::manifest::Job::Invert { item: "sky".into() };
    man.queue.retain(|j| *j != sky);
    man.queue.insert(0, sky);
    let text = flat(&render(&m, 120, 40, Graphics::None));
    let queue = &text[text.find("Queue (running):").expect(&text)..];
    let (dog, sky) = (queue.find("invert dog").expect(queue), queue.find("invert sky").expect(queue));
    assert!(dog < sky, "{text}");
}

#[test]
fn the_delete_question_says_the_files_go_for_good() {
    let mut m = running_model();
    m.mode = Mode::ConfirmDelete("cat".into());
    let text = flat(&render(&m, 100, 30, Graphics::None));
    assert!(text.contains("Delete cat with its inversion and 2 edits (1 made)?") && text.contains("go for good") && text.contains("y delete"), "{text}");
}

/// The cells of the first screen row holding `needle`.
fn t_row(t: &Terminal<TestBackend>, needle: &str) -> Vec<ratatui::buffer::Cell> {
    let buf = t.backend().buffer();
    let w = buf.area.width as usize;
    let rows: Vec<Vec<ratatui::buffer::Cell>> = buf.content().chunks(w).map(|r| r.to_vec()).collect();
    rows.into_iter().find(|r| r.iter().map(|c| c.symbol()).collect::<String>().contains(needle)).expect(needle)
}

#[test]
fn a_form_started_from_an_edit_says_which() {
    let mut m = running_model();
    m.selected = 0;
    update(&mut m, Msg::Action(Action::NewEdit));
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("New edit of cat, from e1's settings") && text.contains("a tiger sitting next to a mirror"), "{text}");
}

#[test]
fn wide_characters_keep_an_edit_row_on_one_row() {
    let mut m = running_model();
    m.selected = 0;
    let mut man = m.manifest.clone().unwrap();
    man.items[0].edits[0].spec.target = "a 虎虎虎虎虎虎虎虎虎虎虎虎虎虎虎 sitting next to a mirror".into();
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    for (w, h) in [(120, 40), (80, 24)] {
        let t = render(&m, w, h, Graphics::None);
        let row: String = t_row(&t, "▸ → 虎").iter().map(|c| c.symbol()).collect();
        assert!(row.contains('✓') && row.contains('…'), "{w}×{h}: {row}");
    }
}

#[test]
fn a_pasted_page_in_a_field_leaves_the_form_on_screen() {
    let mut m = running_model();
    let mut f = EditForm::new("cat", "a cat sitting next to a mirror");
    f.field = 2;
    f.cross = format!("0.8{}", " dog=0.4".repeat(200));
    f.reweight = "mirror=2 ".repeat(100);
    f.error = Some(format!("cross replace: one fraction for all words (got `{}`)", f.cross));
    m.mode = Mode::Edit(f);
    m.cursor_back = 5;
    let text = flat(&render(&m, 80, 24, Graphics::None));
    for needle in ["New edit of cat", "target prompt:", "…", "dog=0.4 do▏g=0.4", "re-weight: mirror=2", "cross replace: one fraction", "Enter queue the edit"] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

#[test]
fn a_pasted_page_of_wide_characters_is_windowed_by_columns() {
    let mut m = running_model();
    let mut f = EditForm::new("cat", "a cat sitting next to a mirror");
    f.target = "一只猫坐在镜子旁边".repeat(30);
    f.error = Some("replace: the target needs as many words as the caption".into());
    m.mode = Mode::Edit(f);
    m.cursor_back = 0;
    let text = flat(&render(&m, 80, 24, Graphics::None));
    for needle in ["New edit of cat", "…", "镜子旁边▏", "the target needs as many words", "Enter queue the edit"] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

#[test]
fn an_edit_not_made_yet_can_be_browsed_to_deleted_or_started_from() {
    let mut m = running_model(); // cat: e1 done, e2 queued; the queue runs
    m.selected = 0;
    m.focus = crate::tui::state::Pane::Preview;
    update(&mut m, Msg::Action(Action::Down));
    assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("edit e2 \"a lion sitting next to a mirror\", not made yet (3/3)")), "{:?}", m.status);
    let text = flat(&render(&m, 120, 40, Graphics::None));
    for needle in ["▸ → lion", "cat · edit e2 → lion", "not made yet: queued: it runs in turn", "d deletes it · e: a new edit from it"] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    update(&mut m, Msg::Action(Action::DeleteItem));
    assert_eq!(m.mode, Mode::ConfirmDeleteEdit("cat".into(), "e2".into()));
    update(&mut m, Msg::Input(crate::tui::update::InputKey::Esc));
    update(&mut m, Msg::Action(Action::NewEdit));
    assert!(matches!(&m.mode, Mode::Edit(f) if f.from.as_deref() == Some("e2") && f.target == "a lion sitting next to a mirror"), "{:?}", m.mode);
}

#[test]
fn long_item_ids_give_way_before_job_states_and_result_titles_do() {
    use crate::session::manifest::Job;
    let mut m = running_model();
    let mut man = m.manifest.clone().unwrap();
    man.items[0].id = "holiday-photo-2026".into();
    man.items[2].id = "a-rather-long-photo-name".into();
    man.queue = vec![Job::Invert { item: "dog".into() }, Job::Edit { item: "holiday-photo-2026".into(), edit: "e2".into() }];
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    m.selected = 0;
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("invert a-rath…o-name · new (i)"), "{text}");
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("holiday…o-2026 · edit e1") && !text.contains(": \"…\""), "{text}");
    assert!(text.contains("  edit holiday…o-2026/e2") && text.contains("  invert a-…me · new (i)"), "a queued edit keeps its id: {text}");
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
fn the_caption_form_of_the_item_being_inverted_says_enter_stops_it() {
    let mut m = running_model();
    update(&mut m, Msg::Action(Action::EditCaption));
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("invert dog works for the old caption: Enter stops it"), "{text}");
    m.mode = Mode::ConfirmQuit;
    m.running = Some(crate::session::manifest::Job::Edit { item: "cat".into(), edit: "e2".into() });
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("An edit is being made") && text.contains("made again from its first step"), "{text}");
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
    update(&mut m, Msg::LossesUnreadable("dog".into()));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("the losses of this inversion could not be read from its file"), "{text}");
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
fn an_edit_whose_picture_is_lost_is_marked() {
    let mut m = running_model();
    m.selected = 0; // cat: e1 made, e2 queued
    let line = |m: &Model| flat(&render(m, 120, 40, Graphics::None)).split('│').find(|l| l.contains("→ tiger")).unwrap_or_default().to_string();
    assert!(line(&m).ends_with('✓'), "{}", line(&m));
    m.file_problems = vec![crate::session::check::FileProblem { item: "cat".into(), file: "edits/cat-e1.png".into(), why: "is missing".into() }];
    assert!(line(&m).trim_end().ends_with('!'), "{}", line(&m));
}

#[test]
fn an_edit_that_only_reweights_the_caption_shows_its_weights() {
    use crate::session::manifest::{EditRecord, EditSpec, WordValue};
    let mut m = running_model();
    m.selected = 0;
    let it = &mut m.manifest.as_mut().unwrap().items[0];
    let spec = EditSpec { target: it.prompt.clone(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![WordValue { word: "mirror".into(), value: 2.0 }], prox: None, blend_except: None };
    it.edits.push(EditRecord::new("e3", spec));
    let text = flat(&render(&m, 120, 40, Graphics::None));
    assert!(text.contains("mirror×2"), "{text}");
}

#[test]
fn names_cut_in_their_middle_keep_items_apart() {
    use super::shorten_middle;
    assert_eq!(shorten_middle("test-image", 6), "tes…ge");
    assert_eq!(shorten_middle("test-image-2", 6), "tes…-2");
    assert_eq!(shorten_middle("cat", 6), "cat");
    assert_eq!(shorten_middle("abcdef", 2), "a…");
    assert_eq!(super::width(&shorten_middle("虎虎虎虎虎虎", 7)), 7);
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

/// A session of 60 photos with 60 queued jobs: the item list scrolls and gives way, so the queue
/// stays in view with the selected item's edits, on a big screen and on 80×24.
#[test]
fn a_long_session_keeps_its_queue_in_view() {
    let mut m = running_model();
    let man = m.manifest.as_mut().unwrap();
    let template = man.items[0].clone();
    for i in 0..57 {
        let id = format!("photo{i:03}");
        man.items.push(crate::session::manifest::Item { id: id.clone(), image: format!("images/{id}.png"), inversion: None, edits: vec![], ..template.clone() });
        man.queue.push(crate::session::manifest::Job::Invert { item: id });
    }
    for (w, h, selected) in [(120, 40, 0), (120, 40, 30), (80, 24, 0), (80, 24, 59)] {
        m.selected = selected;
        let text = flat(&render(&m, w, h, Graphics::None));
        assert!(text.contains("Queue (running):") && text.contains("invert dog"), "{w}×{h}, item {selected}: the queue and its running job show:\n{text}");
        assert!(text.contains("more"), "{w}×{h}: the lists say what they leave out:\n{text}");
        if selected == 0 {
            assert!(text.contains("tiger") && text.contains("lion"), "{w}×{h}: the selected item's edits show:\n{text}");
        }
    }
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

#[test]
fn an_item_row_stays_one_row_in_a_narrow_session_pane() {
    let mut m = running_model(); // dog runs
    let mut man = m.manifest.clone().unwrap();
    let dog = man.items.iter().position(|i| i.id == "dog").unwrap();
    let e = man.items[0].edits[0].clone();
    man.items[dog].edits.push(e);
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    for (w, h) in [(80, 24), (60, 20)] {
        let t = render(&m, w, h, Graphics::None);
        let buf = t.backend().buffer();
        let rows: Vec<String> = (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect()).collect();
        // The running item's row (not the job's title or the status line, which say "t 24/50").
        let at = rows.iter().position(|r| r.contains("24/50") && !r.contains("t 24/50")).unwrap_or_else(|| panic!("{w}×{h}:\n{}", rows.join("\n")));
        let next = rows[at + 1].trim_start_matches('│').trim_start();
        assert!(!next.starts_with("1✎") && !next.starts_with('✎'), "the row went on below at {w}×{h}:\n{}", rows.join("\n"));
    }
    // Narrower still, the progress keeps its count whole ("24/50"), never "inverting 2…".
    let t = render(&m, 50, 20, Graphics::None);
    let buf = t.backend().buffer();
    let rows: Vec<String> = (0..20).map(|y| (0..50).map(|x| buf[(x, y)].symbol().to_string()).collect()).collect();
    let row = rows.iter().find(|r| r.contains("24/50") && !r.contains("t 24/50")).unwrap_or_else(|| panic!("{}", rows.join("\n")));
    assert!(!row.contains("inverting 2…"), "{row}");
}

#[test]
fn a_short_session_pane_keeps_a_row_for_the_queue() {
    let mut m = running_model(); // dog runs; sky and cat/e2 are queued
    m.selected = 0; // cat: a long caption, its settings and edits fill the pane
    let text = flat(&render(&m, 60, 20, Graphics::None));
    assert!(text.contains("Queue (running):"), "{text}");
    // Too short for the queue's own block: one row in place of the details' last.
    let text = flat(&render(&m, 80, 16, Graphics::None));
    assert!(text.contains("Queue (running): 3 jobs") && text.contains("▸ cat"), "{text}");
}

#[test]
fn a_cancelled_edit_is_marked_apart_from_a_queued_one() {
    let mut m = running_model();
    m.selected = 0; // cat: e1 made, e2 queued
    let row = |m: &Model| flat(&render(m, 120, 40, Graphics::None)).split('│').find(|r| r.contains("→ lion")).map(|r| r.trim_end().to_string()).unwrap();
    assert!(row(&m).ends_with('·'), "{}", row(&m));
    let e2 = crate::session::manifest::Job::Edit { item: "cat".into(), edit: "e2".into() };
    m.set_job(&e2, crate::tui::state::JobState::Cancelled);
    assert!(row(&m).ends_with('–'), "{}", row(&m));
}

#[test]
fn a_long_caption_leaves_room_for_the_list_and_the_queue() {
    let mut m = running_model();
    let mut man = m.manifest.clone().unwrap();
    man.items[0].prompt = "a cat and another thing, ".repeat(40);
    update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(man))));
    m.selected = 0;
    let text = flat(&render(&m, 120, 35, Graphics::None));
    assert!(text.contains("…") && text.contains("null-text · 50×10") && text.contains("Queue (running):") && text.contains("sky"), "{text}");
}

#[test]
fn a_narrow_session_pane_gives_names_the_room_states_can_spare() {
    let mut m = running_model();
    for it in m.manifest.as_mut().unwrap().items.iter_mut() {
        it.id = format!("{}-photo-2024", it.id);
    }
    m.run.as_mut().unwrap().item = "dog-photo-2024".into();
    m.running = Some(crate::session::manifest::Job::Invert { item: "dog-photo-2024".into() });
    let text = flat(&render(&m, 50, 20, Graphics::None));
    // A finished item is ticked rather than cut to "inver…", a progress keeps its count: the
    // names keep at least half the row.
    assert!(text.contains("cat-photo-2024 ✓") && text.contains("dog-p…2024 24/50"), "{text}");
    let text = flat(&render(&m, 80, 20, Graphics::None));
    assert!(text.contains("dog-photo-2024   24/50") && text.contains("cat-ph…o-2024 inverted"), "{text}");
}
