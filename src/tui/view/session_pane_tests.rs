//! The session pane on the whole screen (TestBackend): items, edits and the queue kept in view
//! and readable at small sizes, with long names and wide characters.

use super::dashboard::Graphics;
use super::dashboard_tests::{flat, render, t_row};
use crate::tui::showcase::running_model;
use crate::tui::keymap::Action;
use crate::tui::state::{Mode, Model};
use crate::tui::update::{update, Msg};

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
    // Its reconstruction being sampled keeps a mark: a bare "3/50" would read as the inversion.
    m.sampling = Some((3, 50));
    let t = render(&m, 50, 20, Graphics::None);
    let buf = t.backend().buffer();
    let rows: Vec<String> = (0..20).map(|y| (0..50).map(|x| buf[(x, y)].symbol().to_string()).collect()).collect();
    let row = rows.iter().find(|r| r.starts_with("│▸ dog") || r.starts_with("│  dog")).unwrap_or_else(|| panic!("{}", rows.join("\n")));
    assert!(row.contains(" r 3/50"), "{row}");
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
