//! The find line (`/`) and `n` / `N`: pure `update` tests on the showcase session (cat with the
//! edits e1 "a tiger …" and e2 "a lion …", dog "a dog on the grass", sky "clouds over the sea").

use super::keymap::Action;
use super::showcase::{manifest, running_model};
use super::state::{Level, Mode, Model};
use super::update::{update, wants_text, Effect, InputKey, Msg};
use crate::worker::Event;

fn idle_model() -> Model {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    m
}

fn key(m: &mut Model, k: InputKey) -> Vec<Effect> {
    update(m, Msg::Input(k))
}

fn typed(m: &mut Model, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| key(m, InputKey::Char(c))).collect()
}

fn find_line(m: &Model) -> String {
    let t = crate::tui::theme::Theme::built_in("default").unwrap();
    let (line, _) = crate::tui::view::status::layout(m, &t, 120, 40);
    line.spans.iter().map(|s| s.content.to_string()).collect()
}

#[test]
fn typing_moves_the_selection_to_the_first_match_and_esc_goes_back() {
    let mut m = idle_model();
    update(&mut m, Msg::Action(Action::Find));
    assert!(matches!(m.mode, Mode::Find(_)) && wants_text(&m), "letters are text now, not commands");
    assert!(find_line(&m).contains("/▏ name, caption or edit prompt"), "{}", find_line(&m));
    // "clouds over the sea" is sky's caption; the pictures of sky are asked for as it is selected.
    let fx = typed(&mut m, "SEA");
    assert_eq!(m.selected, 2, "any case matches");
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadImage(p) if p == "images/sky.png")), "{fx:?}");
    assert!(find_line(&m).contains("/SEA▏ · 1 of 1"), "{}", find_line(&m));
    // A letter more that matches nothing returns to where the search started, and says so.
    typed(&mut m, "x");
    assert_eq!(m.selected, 0);
    assert!(find_line(&m).contains("no match"), "{}", find_line(&m));
    key(&mut m, InputKey::Backspace);
    assert_eq!(m.selected, 2);
    key(&mut m, InputKey::Esc);
    assert_eq!((m.mode.clone(), m.selected, m.shown.clone()), (Mode::Normal, 0, None), "Esc: back where it started");
    assert_eq!(m.found, None, "an abandoned search is not kept for n");
}

#[test]
fn an_edits_prompt_matches_and_the_result_pane_shows_that_edit() {
    let mut m = idle_model();
    m.selected = 2;
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "lion");
    assert_eq!((m.selected, m.shown.as_deref()), (0, Some("edit:e2")), "the search goes round the list's end to cat's edit");
    key(&mut m, InputKey::Enter);
    assert_eq!(m.mode, Mode::Normal);
    assert_eq!(m.found.as_deref(), Some("lion"));
    let (text, level) = m.status.clone().unwrap();
    assert_eq!(level, Level::Info);
    assert!(text.contains("\"lion\": 1 of 1, cat's edit e2") && !text.contains("n next"), "one match has no next: {text}");
}

#[test]
fn n_and_n_shifted_go_round_the_matches() {
    let mut m = idle_model();
    update(&mut m, Msg::Action(Action::Find));
    // "mirror": cat's caption, then its edits e1 and e2, in the list's order.
    typed(&mut m, "mirror");
    assert_eq!((m.selected, m.shown.clone()), (0, Some("recon".to_string())));
    key(&mut m, InputKey::Down);
    assert_eq!(m.shown.as_deref(), Some("edit:e1"), "↓ steps through the matches while typing");
    assert!(find_line(&m).contains("· 2 of 3"), "{}", find_line(&m));
    key(&mut m, InputKey::Up);
    assert_eq!(m.shown.as_deref(), Some("recon"), "cat's own match shows its reconstruction, not its latest edit (e1 has a match of its own)");
    key(&mut m, InputKey::Enter);
    update(&mut m, Msg::Action(Action::FindNext));
    assert_eq!(m.shown.as_deref(), Some("edit:e1"));
    update(&mut m, Msg::Action(Action::FindNext));
    assert_eq!(m.shown.as_deref(), Some("edit:e2"));
    assert!(m.status.as_ref().unwrap().0.contains("3 of 3, cat's edit e2 · n next · N previous"), "{:?}", m.status);
    update(&mut m, Msg::Action(Action::FindNext));
    assert_eq!((m.selected, m.shown.clone()), (0, Some("recon".to_string())));
    assert!(m.status.as_ref().unwrap().0.contains("1 of 3, cat (from the other end)"), "{:?}", m.status);
    update(&mut m, Msg::Action(Action::FindPrev));
    assert_eq!(m.shown.as_deref(), Some("edit:e2"), "N goes back round the start");
    // From another item, n goes to the first match after it.
    m.selected = 1;
    m.shown = None;
    update(&mut m, Msg::Action(Action::FindNext));
    assert_eq!((m.selected, m.shown.clone()), (0, Some("recon".to_string())), "nothing after dog matches: round to cat");
}

#[test]
fn a_search_matching_nothing_warns_and_stays_put() {
    let mut m = idle_model();
    m.selected = 1;
    // With nothing searched yet, n says how to find.
    update(&mut m, Msg::Action(Action::FindNext));
    assert!(m.status.as_ref().unwrap().0.starts_with("/ finds a photo"), "{:?}", m.status);
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "zebra");
    key(&mut m, InputKey::Enter);
    assert_eq!((m.mode.clone(), m.selected), (Mode::Normal, 1));
    assert_eq!(m.status, Some(("nothing in this session matches \"zebra\"".into(), Level::Warning)));
    // n looks for that text again, not for an older search that matched.
    update(&mut m, Msg::Action(Action::FindNext));
    assert_eq!(m.status.as_ref().unwrap().0, "nothing in this session matches \"zebra\" now");
    // Blank text and Enter: nothing happens, the last search is kept.
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "  ");
    key(&mut m, InputKey::Enter);
    assert_eq!((m.mode.clone(), m.selected, m.found.clone()), (Mode::Normal, 1, Some("zebra".into())));
}

#[test]
fn the_file_name_matches_but_not_its_folder() {
    let mut m = idle_model();
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "dog.png");
    assert_eq!(m.selected, 1);
    key(&mut m, InputKey::ClearField);
    typed(&mut m, "photos");
    assert!(find_line(&m).contains("no match"), "every photo is in /photos: the folder says nothing: {}", find_line(&m));
}

#[test]
fn an_empty_session_has_nothing_to_find() {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Action(Action::Find));
    assert_eq!(m.mode, Mode::Normal);
    assert!(m.status.as_ref().unwrap().0.contains("no images in this session yet"), "{:?}", m.status);
}

#[test]
fn beside_a_running_job_the_find_line_keeps_to_one_row_on_a_small_screen() {
    let mut m = running_model();
    m.status = Some(("an old notice".into(), Level::Info));
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "clouds over");
    let t = crate::tui::theme::Theme::built_in("default").unwrap();
    let (line, rows) = crate::tui::view::status::layout(&m, &t, 80, 24);
    let text: String = line.spans.iter().map(|s| s.content.to_string()).collect();
    assert_eq!(rows, 1, "{text}");
    assert!(text.starts_with("/clouds over▏ · 1 of 1") && !text.contains("old notice"), "the typed text whole, first: {text}");
    assert!(text.ends_with("dog t 24/50"), "the job's step after it: {text}");
    assert_eq!(m.selected, 2);
}

#[test]
fn esc_shows_again_the_result_chosen_before_the_search() {
    let mut m = idle_model();
    m.shown = Some("recon".into());
    update(&mut m, Msg::Action(Action::Find));
    assert!(find_line(&m).contains("name, caption or edit prompt"));
    typed(&mut m, "cat");
    // The reconstruction shown is the item's place in the list: the item matches, 1 of 1.
    assert!(find_line(&m).contains("· 1 of 1"), "{}", find_line(&m));
    typed(&mut m, " tiger");
    key(&mut m, InputKey::ClearField);
    typed(&mut m, "tiger");
    assert_eq!(m.shown.as_deref(), Some("edit:e1"));
    key(&mut m, InputKey::Esc);
    assert_eq!(m.shown.as_deref(), Some("recon"));
}

#[test]
fn moving_the_cursor_keeps_the_match_in_view() {
    let mut m = idle_model();
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "mirror");
    key(&mut m, InputKey::Down);
    key(&mut m, InputKey::Down);
    assert_eq!(m.shown.as_deref(), Some("edit:e2"));
    for k in [InputKey::Left, InputKey::Home, InputKey::End, InputKey::Tab] {
        key(&mut m, k);
        assert_eq!(m.shown.as_deref(), Some("edit:e2"), "{k:?} types nothing: no search again");
    }
}

#[test]
fn a_shown_mask_counts_as_its_edit() {
    let mut man = manifest();
    man.items[0].edits[0].blend_mask = Some("edits/cat-e1-mask.png".into());
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.found = Some("mirror".into());
    m.shown = Some("mask:e1".into());
    update(&mut m, Msg::Action(Action::FindNext));
    assert_eq!(m.shown.as_deref(), Some("edit:e2"), "after e1's mask comes e2, not e1");
}

#[test]
fn an_item_removed_while_finding_is_not_confused_with_its_neighbour() {
    let mut m = idle_model();
    m.selected = 1;
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "sea");
    assert_eq!(m.selected, 2);
    // dog (where the search started) goes; sky moves up to index 1.
    let mut man = manifest();
    man.items.remove(1);
    man.queue.retain(|j| j.item() != "dog");
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    key(&mut m, InputKey::Esc);
    assert_eq!(m.selected_item().map(|i| i.id.as_str()), Some("sky"), "dog is gone: the selection stays on sky, not on whatever took dog's place");
}

#[test]
fn a_warning_outlasts_the_find_line() {
    let mut m = idle_model();
    m.status = Some(("edit e2 failed: out of memory (r retries)".into(), Level::Error));
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "dog");
    key(&mut m, InputKey::Enter);
    assert_eq!((m.selected, m.status.as_ref().map(|s| s.1)), (1, Some(Level::Error)), "{:?}", m.status);
}

#[test]
fn typing_keeps_the_selected_photo_when_it_matches_whatever_result_it_shows() {
    let mut m = idle_model();
    m.shown = Some("edit:e2".into());
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, "cat");
    assert_eq!((m.selected, m.shown.as_deref()), (0, Some("recon")), "cat's caption matches: cat stays, not the next item");
}

#[test]
fn a_long_find_text_keeps_its_cursor_and_count_in_view() {
    let mut m = idle_model();
    update(&mut m, Msg::Action(Action::Find));
    typed(&mut m, &"z".repeat(250));
    let line = find_line(&m);
    assert!(line.starts_with("/…z") && line.contains("zzzz▏ · no match · Esc goes back") && crate::tui::view::width(&line) < 80, "{line}");
}

#[test]
fn accents_and_case_do_not_stand_in_the_way() {
    let mut man = manifest();
    man.items[2].prompt = "Café au lait by the sea".into(); // sky
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    for typed_text in ["cafe", "CAFÉ", "café au"] {
        assert_eq!(super::find::matches(&m, typed_text).len(), 1, "{typed_text}");
    }
    assert_eq!(crate::session::names::fold_latin("Œuvre Straße"), "oeuvre strasse");
}
