//! Forms and item rows as the re-audit found them: an open form keeps the item it was opened
//! for, a new caption says what happens to the inversion, and an item's row names the stage.

use super::keymap::Action;
use super::showcase::{manifest, running_model};
use super::state::{JobState, Mode, Model};
use super::update::{update, Effect, InputKey, Msg};
use crate::session::manifest::Job;
use crate::worker::{Command, Event, Stage};

fn act(m: &mut Model, a: Action) -> Vec<Effect> {
    update(m, Msg::Action(a))
}

fn said(m: &Model) -> String {
    m.status.as_ref().map(|(s, _)| s.clone()).unwrap_or_default()
}

fn retype(m: &mut Model, s: &str) {
    update(m, Msg::Input(InputKey::ClearField));
    s.chars().for_each(|c| drop(update(m, Msg::Input(InputKey::Char(c)))));
}

#[test]
fn an_edit_with_the_settings_of_one_there_is_not_queued_again() {
    let mut m = running_model();
    m.selected = 0;
    act(&mut m, Action::NewEdit); // from e1, which is made
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty(), "the same picture is not made twice");
    assert!(matches!(&m.mode, Mode::Edit(f) if f.field == 0 && f.error.as_deref().is_some_and(|e| e.contains("e1 has these settings and is made"))), "{:?}", m.mode);
    retype(&mut m, "a lion sitting next to a mirror"); // e2's, queued
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty());
    assert!(matches!(&m.mode, Mode::Edit(f) if f.error.as_deref().is_some_and(|e| e.contains("e2 has these settings and is queued"))), "{:?}", m.mode);
    // Off the queue (cancelled), r runs it.
    m.manifest.as_mut().unwrap().queue.retain(|j| !matches!(j, Job::Edit { .. }));
    assert!(update(&mut m, Msg::Input(InputKey::Enter)).is_empty());
    assert!(matches!(&m.mode, Mode::Edit(f) if f.error.as_deref().is_some_and(|e| e.contains("e2 has these settings and was cancelled: close the form and r runs it"))), "{:?}", m.mode);
    retype(&mut m, "a tiger sitting next to a window");
    assert!(matches!(&update(&mut m, Msg::Input(InputKey::Enter))[..], [Effect::Send(Command::AddEdit { .. })]), "a changed field is a new edit");
}

#[test]
fn an_open_edit_form_keeps_its_item_when_an_added_photo_arrives() {
    let mut m = running_model(); // dog runs
    m.selected = 0;
    act(&mut m, Action::NewEdit);
    // It starts from the settings of the edit the result pane shows.
    assert!(matches!(&m.mode, Mode::Edit(f) if f.item == "cat" && f.target == "a tiger sitting next to a mirror" && f.from.as_deref() == Some("e1")), "{:?}", m.mode);
    // The photo added before the form opened arrives: the selection stays under the open form.
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }));
    assert_eq!(m.selected, 0);
    // Even if the selection moved, the form validates against and queues for its own item.
    m.selected = 2;
    retype(&mut m, "a puma sitting next to a mirror");
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&fx[..], [Effect::Send(Command::AddEdit { item, specs })] if item == "cat" && specs[0].target == "a puma sitting next to a mirror"), "{fx:?}");
    // Refused by the worker (a check the form cannot make): the form comes back as typed.
    update(&mut m, Msg::Worker(Event::Failed { job: None, message: "the target differs from the source prompt only after CLIP's 75 tokens".into() }));
    assert!(matches!(&m.mode, Mode::Edit(f) if f.target == "a puma sitting next to a mirror" && f.error.as_deref().is_some_and(|e| e.contains("75 tokens"))), "{:?}", m.mode);
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&fx[..], [Effect::Send(Command::AddEdit { .. })]), "{fx:?}");
    update(&mut m, Msg::Worker(Event::EditAdded { item: "cat".into(), edit: "e3".into() }));
    assert!(m.submitted_edit.is_none(), "an added edit leaves nothing to reopen");
    // With no form open, an added photo is selected.
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }));
    assert_eq!(m.selected, 2);
    // The caption form, too, acts on its own item.
    m.selected = 0;
    act(&mut m, Action::EditCaption);
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "sky".into() }));
    assert_eq!(m.selected, 0);
    retype(&mut m, "a cat at night");
    update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&update(&mut m, Msg::Input(InputKey::Char('y')))[..], [Effect::Send(Command::SetPrompt { item, .. }), ..] if item == "cat"));
}

#[test]
fn a_new_caption_restarts_the_inversion_and_says_whether_it_runs() {
    let mut m = running_model(); // the queue runs: dog, cat/e2, sky
    let new_caption = |m: &mut Model, item: usize| {
        m.selected = item;
        act(m, Action::EditCaption);
        retype(m, "something else entirely");
        let fx = update(m, Msg::Input(InputKey::Enter));
        // A finished inversion is asked about once more.
        match m.mode {
            Mode::ConfirmCaption(..) => update(m, Msg::Input(InputKey::Char('y'))),
            _ => fx,
        }
    };
    // A queued inversion stays queued and runs in turn.
    // It joins the run in hand (a new run of the whole queue would retry others' failed jobs).
    let fx = new_caption(&mut m, 2);
    assert!(matches!(&fx[..], [Effect::Send(Command::SetPrompt { .. }), Effect::Send(Command::Run(jobs))] if *jobs == [Job::Invert { item: "sky".into() }]), "{fx:?}");
    assert!(said(&m).contains("sky: new caption; its inversion starts over (it runs in turn)"), "{}", said(&m));
    // A cancelled one starts over but waits to be asked for; it is no longer "cancelled".
    let sky = Job::Invert { item: "sky".into() };
    let mut man = manifest();
    man.queue.retain(|j| *j != sky);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.set_job(&sky, JobState::Cancelled);
    let fx = new_caption(&mut m, 2);
    assert!(matches!(&fx[..], [Effect::Send(Command::SetPrompt { .. })]), "no run asked for: {fx:?}");
    assert!(said(&m).contains("starts over (i runs it)"), "{}", said(&m));
    assert_eq!(m.item_state(&m.items()[2].clone()), "new");
    // A finished inversion (thrown away when asked) starts over at the end of the queue.
    m.queue_running = false;
    m.running = None;
    new_caption(&mut m, 0);
    assert!(said(&m).contains("cat: new caption") && said(&m).contains("(the queue is paused: p runs it)"), "cat's inversion was done: {}", said(&m));
    assert_eq!(m.job_state(&Job::Invert { item: "cat".into() }), Some(&JobState::Queued));
    // With the queue running and nothing in hand, it runs at once.
    m.queue_running = true;
    let fx = new_caption(&mut m, 0);
    assert!(matches!(&fx[..], [Effect::Send(Command::SetPrompt { .. }), Effect::Send(Command::RunQueue)]), "{fx:?}");
    assert!(said(&m).contains("(the queue runs it now)"), "{}", said(&m));
    assert!(said(&m).contains("1 finished edit is from the old caption"), "{}", said(&m));
    // Its queued edit e2 ("a lion sitting next to a mirror", a word swap) is made from the new
    // caption, and cannot be with a caption of another length.
    assert!(said(&m).contains("e2 (not made yet) now uses the new one (e2 will fail: a word swap needs as many words)"), "{}", said(&m));
    new_caption(&mut m, 2);
    assert!(!said(&m).contains("unfinished"), "sky has no edits: {}", said(&m));
}

#[test]
fn the_item_row_names_the_stage_and_a_cancelled_inversion() {
    let mut m = running_model();
    let dog = |m: &Model| m.item_state(&m.items()[1].clone());
    let r = m.run.as_mut().unwrap();
    (r.stage, r.done) = (Some(Stage::DdimInversion), 38);
    assert_eq!(dog(&m), "ddim 38/50", "the DDIM pass is not the inversion's progress");
    // ...unless it is the whole inversion (npi, ddim): then "ddim" would read as the method.
    m.run.as_mut().unwrap().method = "npi".into();
    assert_eq!(dog(&m), "inverting 38/50");
    m.run.as_mut().unwrap().method = "null-text".into();
    let r = m.run.as_mut().unwrap();
    (r.stage, r.done) = (Some(Stage::NullText), 0);
    assert_eq!(dog(&m), "inverting 1/50");
    assert_eq!(m.run.as_ref().unwrap().named_step(true), 1, "the title names the same step");
    // A queued inversion cancelled before it ever ran.
    let sky = Job::Invert { item: "sky".into() };
    let mut man = manifest();
    man.queue.retain(|j| *j != sky);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.set_job(&sky, JobState::Cancelled);
    assert_eq!(m.item_state(&m.items()[2].clone()), "cancelled");
}

#[test]
fn a_caption_the_worker_could_not_save_leaves_the_loss_pane_on_the_saved_inversion() {
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(manifest()))));
    m.selected = 0;
    assert!(m.run.as_ref().is_some_and(|r| r.item == "cat"), "the idle loss pane shows cat");
    act(&mut m, Action::EditCaption);
    retype(&mut m, "a cat at night");
    update(&mut m, Msg::Input(InputKey::Enter));
    update(&mut m, Msg::Input(InputKey::Char('y')));
    assert!(m.run.is_none(), "the old caption's losses leave the pane");
    let fx = update(&mut m, Msg::Worker(Event::Failed { job: None, message: "cannot write session.toml: No space left on device".into() }));
    assert!(m.run.as_ref().is_some_and(|r| r.item == "cat") && fx.iter().any(|e| matches!(e, Effect::LoadLosses(i) if i == "cat")), "{fx:?}");
    assert!(said(&m).contains("No space left"));
}

#[test]
fn a_form_error_puts_the_cursor_in_the_field_at_fault_and_goes_once_that_text_changes() {
    let mut m = running_model();
    m.selected = 0;
    act(&mut m, Action::NewEdit);
    let Mode::Edit(mut f) = m.mode.clone() else { panic!("{:?}", m.mode) };
    f.blend = "cat,dog".into(); // "dog" is not in the target
    f.field = 0;
    m.mode = Mode::Edit(f);
    update(&mut m, Msg::Input(InputKey::Enter));
    assert!(matches!(&m.mode, Mode::Edit(f) if f.field == 4 && f.error.as_deref().is_some_and(|e| e.starts_with("blend"))), "{:?}", m.mode);
    // Add-image form: the worker's refusal of a photo brings the form back on the path.
    update(&mut m, Msg::Input(InputKey::Esc));
    act(&mut m, Action::AddImage);
    m.adding = Some(crate::tui::state::AddForm { field: 1, path: "/tmp/notes.txt".into(), prompt: "a cat".into(), ..Default::default() });
    m.mode = Mode::Normal;
    update(&mut m, Msg::Worker(Event::Failed { job: None, message: "/tmp/notes.txt is not an image pivot can read (PNG, JPEG, WebP, BMP, GIF, TIFF)".into() }));
    assert!(matches!(&m.mode, Mode::AddImage(f) if f.field == 0 && f.error.is_some()), "{:?}", m.mode);
    update(&mut m, Msg::Input(InputKey::Backspace));
    assert!(matches!(&m.mode, Mode::AddImage(f) if f.error.is_none()), "typing clears it: {:?}", m.mode);
}

#[test]
fn an_edit_written_for_the_old_caption_is_said_not_to_run_and_marked() {
    let mut m = running_model();
    m.selected = 0;
    let mut man = manifest();
    // e2 was queued (by this pivot) for the caption cat has now.
    man.items[0].edits[1].source_prompt = Some(man.items[0].prompt.clone());
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man.clone()))));
    act(&mut m, Action::EditCaption);
    retype(&mut m, "a cat sitting next to a window");
    update(&mut m, Msg::Input(InputKey::Enter));
    update(&mut m, Msg::Input(InputKey::Char('y')));
    assert!(said(&m).contains("e2 (not made yet) will not run: written for the old caption (e on one makes a new edit from it)"), "{}", said(&m));
    man.items[0].prompt = "a cat sitting next to a window".into();
    let job = Job::Edit { item: "cat".into(), edit: man.items[0].edits[1].id.clone() };
    m.set_job(&job, JobState::Failed("written for the old caption".into()));
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    let e2 = &m.items()[0].edits[1];
    assert_eq!(e2.written_for_old(&m.items()[0].prompt), Some("a cat sitting next to a mirror"));
    assert!(m.job_state(&job).is_none(), "a stale edit is neither queued nor failed: r does not retry it");
}

#[test]
fn the_add_form_chooses_the_inversion_method() {
    use crate::tui::form::{add_image_key, Outcome};
    use crate::tui::state::AddForm;
    use crate::tui::update::InputKey;
    let mut f = AddForm { path: "/".into(), prompt: "a cat".into(), ..AddForm::default() };
    let mut back = 0;
    assert_eq!(f.method_name(), "null-text", "the default");
    add_image_key(&mut f, InputKey::Down, &mut back);
    add_image_key(&mut f, InputKey::Down, &mut back);
    assert_eq!(f.field, 2);
    add_image_key(&mut f, InputKey::Char(' '), &mut back);
    assert_eq!(f.method_name(), "direct");
    add_image_key(&mut f, InputKey::Char('x'), &mut back);
    assert_eq!((f.method_name(), f.prompt.as_str()), ("direct", "a cat"), "letters type nothing there");
    add_image_key(&mut f, InputKey::Left, &mut back);
    add_image_key(&mut f, InputKey::Left, &mut back);
    assert_eq!(f.method_name(), "ddim", "← goes back round");
    add_image_key(&mut f, InputKey::Up, &mut back);
    assert_eq!(f.field, 1);
    add_image_key(&mut f, InputKey::Down, &mut back);
    add_image_key(&mut f, InputKey::Right, &mut back);
    assert_eq!(f.method_name(), "null-text");
    add_image_key(&mut f, InputKey::Right, &mut back);
    // Enter on the method field adds the photo with it (the path "/" is a folder: refused, back to it).
    assert!(matches!(add_image_key(&mut f, InputKey::Enter, &mut back), Outcome::Editing) && f.field == 0 && f.error.is_some());
}

#[test]
fn a_photo_added_with_direct_inversion_and_fixed_point_iterations_asks_the_worker_for_them() {
    use crate::tui::update::{update, Effect, InputKey, Msg};
    use crate::worker::Command;
    let mut m = crate::tui::state::Model::new("kitchen", false);
    update(&mut m, Msg::Action(crate::tui::keymap::Action::AddImage));
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference/test_image.png");
    for c in photo.chars() {
        update(&mut m, Msg::Input(InputKey::Char(c)));
    }
    update(&mut m, Msg::Input(InputKey::Enter));
    for c in "a test pattern".chars() {
        update(&mut m, Msg::Input(InputKey::Char(c)));
    }
    update(&mut m, Msg::Input(InputKey::Down));
    update(&mut m, Msg::Input(InputKey::Char(' ')));
    // The next field chooses fixed-point iterations the same way (← from 0 goes round to 3).
    update(&mut m, Msg::Input(InputKey::Down));
    update(&mut m, Msg::Input(InputKey::Right));
    update(&mut m, Msg::Input(InputKey::Right));
    update(&mut m, Msg::Input(InputKey::Char('7')));
    let fx = update(&mut m, Msg::Input(InputKey::Enter));
    assert!(fx.iter().any(|e| matches!(e, Effect::Send(Command::AddItem(n)) if n.method == "direct" && n.prompt == "a test pattern" && n.fixed_point == 2)), "{fx:?}");
    let mut f = crate::tui::state::AddForm { field: 3, ..Default::default() };
    crate::tui::form::add_image_key(&mut f, InputKey::Left, &mut 0);
    assert_eq!((f.fixed_point, f.field), (3, 3));
    crate::tui::form::add_image_key(&mut f, InputKey::Down, &mut 0);
    assert_eq!(f.field, 0, "Tab and ↓ go round the four fields");
}

#[test]
fn the_add_form_shows_its_method_on_one_row_at_80x24() {
    let mut m = crate::tui::state::Model::new("kitchen", false);
    m.mode = crate::tui::state::Mode::AddImage(crate::tui::state::AddForm { field: 2, method: 1, ..Default::default() });
    let t = crate::tui::view::dashboard_tests::render(&m, 80, 24, crate::tui::view::dashboard::Graphics::None);
    let rows: Vec<String> = (0..24).map(|y| (0..80).map(|x| t.backend().buffer()[(x, y)].symbol().to_string()).collect()).collect();
    assert!(rows.iter().any(|r| r.contains("method: direct — exact, no optimisation")), "{}", rows.join("\n"));
    assert!(rows.iter().any(|r| r.contains("Enter adds · ↑↓ field · space/←→: choice · Esc close")), "{}", rows.join("\n"));
    // On the path, Enter only steps on to the caption.
    m.mode = crate::tui::state::Mode::AddImage(crate::tui::state::AddForm::default());
    let t = crate::tui::view::dashboard_tests::render(&m, 80, 24, crate::tui::view::dashboard::Graphics::None);
    let rows: Vec<String> = (0..24).map(|y| (0..80).map(|x| t.backend().buffer()[(x, y)].symbol().to_string()).collect()).collect();
    assert!(rows.iter().any(|r| r.contains("Tab completes · Enter: to the caption")) && !rows.iter().any(|r| r.contains("Enter adds")), "{}", rows.join("\n"));
    // Too narrow for its description, a choice still shows what is chosen (its start).
    m.mode = crate::tui::state::Mode::AddImage(crate::tui::state::AddForm { field: 2, method: 0, ..Default::default() });
    let t = crate::tui::view::dashboard_tests::render(&m, 40, 12, crate::tui::view::dashboard::Graphics::None);
    let rows: Vec<String> = (0..12).map(|y| (0..40).map(|x| t.backend().buffer()[(x, y)].symbol().to_string()).collect()).collect();
    assert!(rows.iter().any(|r| r.contains("method: null-text")), "{}", rows.join("\n"));
}

#[test]
fn a_form_closed_with_esc_comes_back_as_it_was_left() {
    let mut m = running_model();
    m.selected = 0;
    act(&mut m, Action::AddImage);
    retype(&mut m, "~/photos/long/path/to/beach.jpg");
    update(&mut m, Msg::Input(InputKey::Down));
    retype(&mut m, "a beach at dusk");
    // The cursor left before "dusk" comes back there.
    for _ in 0..4 {
        update(&mut m, Msg::Input(InputKey::Left));
    }
    update(&mut m, Msg::Input(InputKey::Esc));
    assert_eq!(m.mode, Mode::Normal);
    assert!(said(&m).contains("a opens the form again as you left it"), "{}", said(&m));
    m.cursor_back = 0;
    act(&mut m, Action::AddImage);
    assert!(matches!(&m.mode, Mode::AddImage(f) if f.path == "~/photos/long/path/to/beach.jpg" && f.prompt == "a beach at dusk"), "{:?}", m.mode);
    assert_eq!(m.cursor_back, 4);
    // Emptied and closed, the next form starts empty with nothing said.
    update(&mut m, Msg::Input(InputKey::ClearField)); // the caption, where it was left
    update(&mut m, Msg::Input(InputKey::Up));
    update(&mut m, Msg::Input(InputKey::ClearField));
    m.status = None;
    update(&mut m, Msg::Input(InputKey::Esc));
    assert!(said(&m).is_empty() && m.add_draft.is_none(), "{}", said(&m));

    // The edit form: a changed target is kept for the same item and starting edit.
    act(&mut m, Action::NewEdit); // cat, from e1
    retype(&mut m, "a wolf sitting next to a mirror");
    update(&mut m, Msg::Input(InputKey::Esc));
    assert!(said(&m).contains("e opens the form again"), "{}", said(&m));
    act(&mut m, Action::NewEdit);
    assert!(matches!(&m.mode, Mode::Edit(f) if f.target == "a wolf sitting next to a mirror" && f.error.is_none()), "{:?}", m.mode);
    update(&mut m, Msg::Input(InputKey::Esc));
    // Another item's form starts from that item, and the unchanged form closes without a word;
    // cat's draft is still there after that look.
    act(&mut m, Action::Down);
    act(&mut m, Action::NewEdit);
    assert!(matches!(&m.mode, Mode::Edit(f) if f.item != "cat" && f.target != "a wolf sitting next to a mirror"), "{:?}", m.mode);
    m.status = None;
    update(&mut m, Msg::Input(InputKey::Esc));
    assert!(said(&m).is_empty(), "{}", said(&m));
    act(&mut m, Action::Up);
    act(&mut m, Action::NewEdit);
    assert!(matches!(&m.mode, Mode::Edit(f) if f.item == "cat" && f.target == "a wolf sitting next to a mirror"), "{:?}", m.mode);
}

#[test]
fn a_paste_goes_into_the_field_whole_and_nowhere_else() {
    let mut m = running_model();
    // Outside a form its letters are not keys: "d" would ask to delete the item.
    update(&mut m, Msg::Paste("dog\n".into()));
    assert_eq!(m.mode, Mode::Normal);
    assert!(said(&m).contains("pasted text goes into a form's field"), "{}", said(&m));
    // In the caption form: the line break is a space, and nothing is submitted half-way.
    act(&mut m, Action::EditCaption);
    update(&mut m, Msg::Input(InputKey::ClearField));
    update(&mut m, Msg::Paste("a cat\non a mat\r\n".into()));
    assert!(matches!(&m.mode, Mode::Caption(_, text) if text == "a cat on a mat"), "{:?}", m.mode);
}

#[test]
fn a_paste_into_a_choice_field_leaves_the_choice_alone() {
    let mut m = running_model();
    act(&mut m, Action::AddImage);
    for _ in 0..2 {
        update(&mut m, Msg::Input(InputKey::Down));
    }
    let before = m.mode.clone();
    // Each space would have moved the method on one.
    update(&mut m, Msg::Paste("null text inversion".into()));
    assert_eq!(m.mode, before);
    assert!(said(&m).contains("is a choice"), "{}", said(&m));
    update(&mut m, Msg::Input(InputKey::Esc));
    act(&mut m, Action::NewEdit);
    update(&mut m, Msg::Input(InputKey::Tab));
    let before = m.mode.clone();
    update(&mut m, Msg::Paste("re fine".into()));
    assert_eq!(m.mode, before);
}

#[test]
fn enter_again_while_a_photo_is_being_added_does_not_act_on_another_item() {
    let mut m = running_model();
    m.selected = 0; // cat, inverted: Enter would open an edit of it
    m.adding = Some(crate::tui::state::AddForm { field: 1, path: "/photos/owl.png".into(), prompt: "an owl".into(), ..Default::default() });
    assert!(act(&mut m, Action::Confirm).is_empty());
    assert_eq!(m.mode, Mode::Normal);
    assert!(said(&m).contains("adding /photos/owl.png…"), "{}", said(&m));
    m.adding = None;
    act(&mut m, Action::Confirm);
    assert!(matches!(&m.mode, Mode::Edit(f) if f.item == "cat"), "{:?}", m.mode);
}

#[test]
fn tab_completions_with_spaces_in_their_names_are_quoted() {
    let mut m = running_model();
    act(&mut m, Action::AddImage);
    let c = crate::tui::form::Completion { path: "/photos/my ".into(), choices: vec!["my cat.png".into(), "my dog.png".into(), "my/".into()] };
    update(&mut m, Msg::Completed(c));
    assert!(matches!(&m.mode, Mode::AddImage(f) if f.choices.as_deref() == Some("3 names match: \"my cat.png\"  \"my dog.png\"  my/")), "{:?}", m.mode);
}

#[test]
fn a_path_pasted_quoted_escaped_or_as_an_address_is_the_path() {
    use crate::tui::form::pasted_path;
    assert_eq!(pasted_path("'/p/my photos/café night.jpg'\n"), "/p/my photos/café night.jpg");
    assert_eq!(pasted_path("\"/p/a b.png\""), "/p/a b.png");
    assert_eq!(pasted_path("/p/my\\ photos/caf\\'e.jpg"), "/p/my photos/caf'e.jpg");
    assert_eq!(pasted_path("file:///p/my%20photos/caf%C3%A9.jpg"), "/p/my photos/café.jpg");
    assert_eq!(pasted_path("/p/plain.png"), "/p/plain.png");
    let mut m = running_model();
    act(&mut m, Action::AddImage);
    update(&mut m, Msg::Paste("'/p/my photos/a.png' ".into()));
    assert!(matches!(&m.mode, Mode::AddImage(f) if f.path == "/p/my photos/a.png"), "{:?}", m.mode);
}

#[test]
fn a_photo_added_twice_is_said_to_be_there_already() {
    let mut m = running_model();
    let mut man = manifest();
    let mut twin = man.items[1].clone();
    twin.id = "dog-2".into();
    man.items.push(twin);
    m.adding = Some(crate::tui::state::AddForm { field: 1, path: "/photos/dog.png".into(), prompt: "a dog".into(), ..Default::default() });
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    update(&mut m, Msg::Worker(Event::ItemAdded { item: "dog-2".into() }));
    assert!(said(&m).contains("the session has this photo already, as dog"), "{}", said(&m));
}
