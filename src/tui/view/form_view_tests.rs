//! The add-image, edit and caption forms on the whole screen (TestBackend): where the cursor is
//! drawn, long and pasted values, and what each form says of where it started.

use super::dashboard::Graphics;
use super::dashboard_tests::{flat, render};
use crate::tui::showcase::running_model;
use crate::tui::keymap::Action;
use crate::tui::state::{EditForm, Mode};
use crate::tui::update::{update, Msg};

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
fn a_form_started_from_an_edit_says_which() {
    let mut m = running_model();
    m.selected = 0;
    update(&mut m, Msg::Action(Action::NewEdit));
    let text = flat(&render(&m, 80, 24, Graphics::None));
    assert!(text.contains("New edit of cat, from e1's settings") && text.contains("a tiger sitting next to a mirror"), "{text}");
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
