//! Keys in the add-image and edit forms: typing, closing (a changed form is kept as a draft that
//! comes back), and submitting, with the checks the dashboard makes before the worker sees it.

use super::form;
use super::keymap::Action;
use super::state::{AddForm, EditForm, Level, Mode, Model};
use super::update::{open_form, say, shown_edit, Effect, InputKey};
use crate::session::manifest::{EditSpec, Item, Job};
use crate::worker::{Command, NewItem};

/// A key in the add-image form.
pub(super) fn add_image(m: &mut Model, mut f: AddForm, k: InputKey) -> Vec<Effect> {
    match form::add_image_key(&mut f, k, &mut m.cursor_back) {
        form::Outcome::Editing => {
            m.mode = Mode::AddImage(f);
            vec![]
        }
        form::Outcome::Complete => {
            let typed = f.path.clone();
            m.mode = Mode::AddImage(f);
            vec![Effect::CompletePath(typed)]
        }
        form::Outcome::Closed => {
            // The refusal the form came back with goes with it.
            if f.error.is_some() && m.status.as_ref().is_some_and(|(t, _)| Some(t) == f.error.as_ref()) {
                m.status = None;
            }
            if !f.path.trim().is_empty() || !f.prompt.trim().is_empty() {
                say(m, format!("closed; {} opens the form again as you left it", m.key(Action::AddImage)), Level::Info);
                m.add_draft = Some((AddForm { error: None, choices: None, ..f }, m.cursor_back));
            }
            vec![]
        }
        form::Outcome::Submit => {
            say(m, format!("adding {}…", f.path), Level::Info);
            m.adding = Some(f.clone());
            let new = NewItem { image: form::expand_home(&f.path).into(), prompt: f.prompt.trim().into(), id: None, method: f.method_name().into(), steps: 50, inner: 10, guidance: 7.5, epsilon: 1e-5, fixed_point: f.fixed_point };
            vec![Effect::Send(Command::AddItem(new))]
        }
    }
}

/// A key in the edit form.
pub(super) fn edit(m: &mut Model, mut f: EditForm, k: InputKey) -> Vec<Effect> {
    match form::edit_key(&mut f, k, &mut m.cursor_back) {
        form::Outcome::Editing => {
            // A shown refusal is checked again as the form changes: it goes once mended.
            if f.error.is_some() {
                f.error = super::edit_request::edit_spec(&f, &prompt_of(m, &f.item)).err();
            }
            m.mode = Mode::Edit(f);
            vec![]
        }
        form::Outcome::Closed => {
            // Kept when anything was changed from what the form opened with.
            let Some(fresh) = m.items().iter().find(|i| i.id == f.item).map(|it| edit_form_from(it, f.from.as_deref())) else { return vec![] };
            if (EditForm { field: 0, error: None, ..f.clone() }) != (EditForm { field: 0, error: None, ..fresh }) {
                say(m, format!("closed; {} opens the form again as you left it", m.key(Action::NewEdit)), Level::Info);
                m.edit_drafts.retain(|(d, _)| d.item != f.item);
                m.edit_drafts.push((EditForm { error: None, ..f }, m.cursor_back));
            }
            vec![]
        }
        form::Outcome::Complete => vec![],
        form::Outcome::Submit => {
            // The item the form was opened for, not the selection (an added photo moves it).
            match super::edit_request::edit_spec_at(&f, &prompt_of(m, &f.item)).and_then(|spec| prox_fits_method(m, &f.item, spec)).and_then(|spec| not_a_repeat(m, &f.item, spec)) {
                Ok(spec) => {
                    say(m, format!("queued \"{}\" for {}", spec.target, f.item), Level::Info);
                    let item = f.item.clone();
                    m.submitted_edit = Some(f);
                    vec![Effect::Send(Command::AddEdit { item, specs: vec![spec] })]
                }
                Err((field, e)) => {
                    // The cursor goes to the field at fault, at its end.
                    if f.field != field {
                        f.field = field;
                        m.cursor_back = 0;
                    }
                    f.error = Some(e);
                    m.mode = Mode::Edit(f);
                    vec![]
                }
            }
        }
    }
}

/// The caption of `item` (empty once the item is gone: the worker then refuses the edit).
fn prompt_of(m: &Model, item: &str) -> String {
    m.items().iter().find(|i| i.id == item).map(|i| i.prompt.clone()).unwrap_or_default()
}

/// The worker's rule for proximal guidance and the item's inversion method, checked before
/// queueing: the form says it at its field, in the form's words (the worker's name CLI flags).
fn prox_fits_method(m: &Model, item: &str, spec: EditSpec) -> Result<EditSpec, (usize, String)> {
    let method = m.items().iter().find(|i| i.id == item).and_then(|i| i.inversion.as_ref()).map(|r| r.method.as_str());
    match method.map(|method| crate::worker::edit_spec::check_prox_method(spec.prox.is_some(), method)) {
        Some(Err(_)) => Err((7, format!("{item} is a Direct Inversion, whose offsets assume plain guidance: clear the proximal field"))),
        _ => Ok(spec),
    }
}

/// A new edit form for `it`, filled from its edit `from` when it has one.
fn edit_form_from(it: &Item, from: Option<&str>) -> EditForm {
    match it.edits.iter().find(|e| Some(e.id.as_str()) == from) {
        Some(e) => super::edit_request::form_from_edit(&it.id, e),
        None => EditForm::new(&it.id, &it.prompt),
    }
}

/// The edit form for `it`, filled from the edit the result pane shows: the likeliest start of
/// the next one.
pub(super) fn open_edit_form(m: &mut Model, it: &Item) {
    let form = edit_form_from(it, shown_edit(m).as_deref());
    // A draft closed with Esc comes back if it started where this form would.
    let (form, cursor) = match m.edit_drafts.iter().position(|(d, _)| d.item == form.item && d.from == form.from) {
        Some(i) => m.edit_drafts.remove(i),
        None => (form, 0),
    };
    open_form(m, Mode::Edit(form));
    m.cursor_back = cursor;
}

/// An edit with `spec`'s very settings, for the item's caption now, makes the same picture: say
/// which one there is instead of queueing it again.
fn not_a_repeat(m: &Model, item: &str, spec: EditSpec) -> Result<EditSpec, (usize, String)> {
    match m.items().iter().find(|i| i.id == item).and_then(|i| i.edit_like(&spec)) {
        Some(e) if e.output.is_some() => Err((0, format!("{} has these settings and is made (the preview pane lists it): change a field", e.id))),
        Some(e) if e.failure.is_some() => {
            Err((0, format!("{} has these settings and failed ({}): close the form, or change a field", e.id, m.way_on(item).1)))
        }
        Some(e) if m.queue().contains(&Job::Edit { item: item.into(), edit: e.id.clone() }) => Err((0, format!("{} has these settings and is queued: change a field", e.id))),
        Some(e) => Err((0, format!("{} has these settings and was cancelled: close the form and {} runs it, or change a field", e.id, m.key(Action::Retry)))),
        None => Ok(spec),
    }
}
