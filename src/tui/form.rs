//! Keyboard handling of the add-image and edit forms.

use super::state::{AddForm, EditForm};
use super::update::InputKey;

pub enum Outcome {
    Editing,
    Closed,
    Submit,
    /// Tab in the path field: complete it from the file system.
    Complete,
}

/// `typed` with a leading `~/` (or a lone `~`) read as the home folder, as a shell would.
pub fn expand_home(typed: &str) -> String {
    let typed = typed.trim();
    match (typed == "~" || typed.starts_with("~/"), std::env::var_os("HOME")) {
        (true, Some(home)) => format!("{}{}", home.to_string_lossy(), &typed[1..]),
        _ => typed.to_string(),
    }
}

/// A Tab in the path field: the longest completion, and the names that match when there are
/// several (folders with their `/`).
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub path: String,
    pub choices: Vec<String>,
}

/// The longest completion of `typed` among the entries of its folder (`~/` is the home folder);
/// a single folder match gets its trailing `/`.
pub fn complete_path(typed: &str) -> Completion {
    let expanded = expand_home(typed);
    let (dir, stem) = match expanded.rfind('/') {
        Some(i) => (&expanded[..=i], &expanded[i + 1..]),
        None => ("", expanded.as_str()),
    };
    let unchanged = || Completion { path: typed.to_string(), choices: Vec::new() };
    let Ok(entries) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else { return unchanged() };
    let mut names: Vec<(String, bool)> = entries
        .flatten()
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path().is_dir())))
        .filter(|(n, _)| n.starts_with(stem) && (stem.starts_with('.') || !n.starts_with('.')))
        .collect();
    names.sort();
    let Some((first, _)) = names.first() else { return unchanged() };
    let mut common = first.clone();
    for (n, _) in &names[1..] {
        let same = common.chars().zip(n.chars()).take_while(|(a, b)| a == b).count();
        common = common.chars().take(same).collect();
    }
    let slash = if names.len() == 1 && names[0].1 { "/" } else { "" };
    let choices = if names.len() > 1 { names.iter().map(|(n, is_dir)| format!("{n}{}", if *is_dir { "/" } else { "" })).collect() } else { Vec::new() };
    Completion { path: format!("{dir}{common}{slash}"), choices }
}

/// A path as terminals paste a dropped file and shells print one: quoted (`'my photo.png'`),
/// with escapes (`my\ photo.png`) or as a `file://` address; the path itself.
pub fn pasted_path(text: &str) -> String {
    let t = text.trim();
    if let Some(address) = t.strip_prefix("file://") {
        return percent_decoded(address);
    }
    for q in ['\'', '"'] {
        if let Some(inner) = t.strip_prefix(q).and_then(|r| r.strip_suffix(q)).filter(|i| !i.contains(q)) {
            return inner.to_string();
        }
    }
    // A backslash keeps the character after it, as a shell reads it.
    let mut out = String::new();
    let mut chars = t.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// `%20`-style escapes of an address read back (others kept as they are).
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why the path field cannot be taken as a photo, if it cannot.
fn path_problem(typed: &str) -> Option<String> {
    let typed = typed.trim();
    let path = expand_home(typed);
    let path = std::path::Path::new(&path);
    if typed.is_empty() {
        Some("type the path of a photo".into())
    } else if !path.exists() {
        Some(format!("{typed} does not exist"))
    } else if path.is_dir() {
        Some(format!("{typed} is a folder: type the photo's name in it (Tab completes)"))
    } else {
        None
    }
}

/// A key typed into a text field whose cursor is `back` characters before its end (readline's
/// Ctrl-W and Ctrl-U included).
pub fn type_into(s: &mut String, k: InputKey, back: &mut usize) {
    let len = s.chars().count();
    *back = (*back).min(len);
    let at = |chars: usize| s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i);
    let pos = len - *back;
    match k {
        InputKey::Char(c) => s.insert(at(pos), c),
        InputKey::Backspace if pos > 0 => {
            s.remove(at(pos - 1));
        }
        InputKey::Delete if *back > 0 => {
            s.remove(at(pos));
            *back -= 1;
        }
        InputKey::DeleteWord => {
            let head: String = s.chars().take(pos).collect();
            let kept = head.trim_end().rfind(char::is_whitespace).map_or(0, |i| i + 1);
            s.replace_range(kept..at(pos), "");
        }
        InputKey::ClearField => {
            s.clear();
            *back = 0;
        }
        InputKey::Left => *back = (*back + 1).min(len),
        InputKey::Right => *back = back.saturating_sub(1),
        InputKey::Home => *back = len,
        InputKey::End => *back = 0,
        _ => {}
    }
}

pub fn add_image_key(f: &mut AddForm, k: InputKey, back: &mut usize) -> Outcome {
    let (field, before) = (f.field, (f.path.clone(), f.prompt.clone()));
    let out = add_image_field_key(f, k, back);
    if f.field != field {
        *back = 0;
    }
    // A refusal is about what was typed: it goes once the text changes.
    if matches!(out, Outcome::Editing) && (f.path != before.0 || f.prompt != before.1) {
        f.error = None;
    }
    out
}

fn add_image_field_key(f: &mut AddForm, k: InputKey, back: &mut usize) -> Outcome {
    if k != InputKey::Tab {
        f.choices = None;
    }
    match k {
        InputKey::Esc => return Outcome::Closed,
        InputKey::Tab if f.field == 0 => return Outcome::Complete,
        InputKey::Tab | InputKey::Down => f.field = (f.field + 1) % AddForm::FIELDS,
        InputKey::Up => f.field = (f.field + AddForm::FIELDS - 1) % AddForm::FIELDS,
        // The method and the fixed-point iterations are chosen, not typed.
        InputKey::Char(' ') | InputKey::Right if f.field == 2 => f.method = (f.method + 1) % AddForm::METHODS.len(),
        InputKey::Left if f.field == 2 => f.method = (f.method + AddForm::METHODS.len() - 1) % AddForm::METHODS.len(),
        InputKey::Char(' ') | InputKey::Right if f.field == 3 => f.fixed_point = (f.fixed_point + 1) % (AddForm::MAX_FIXED_POINT + 1),
        InputKey::Left if f.field == 3 => f.fixed_point = (f.fixed_point + AddForm::MAX_FIXED_POINT) % (AddForm::MAX_FIXED_POINT + 1),
        InputKey::Enter if f.field == 0 => {
            f.error = path_problem(&f.path);
            if f.error.is_none() {
                f.field = 1;
            }
        }
        InputKey::Enter => {
            if let Some(problem) = path_problem(&f.path) {
                // Reached with Tab or ↓ past a path that is not a photo.
                f.error = Some(problem);
                f.field = 0;
            } else if f.prompt.trim().is_empty() {
                f.error = Some("describe the photo: the caption is the source prompt".into());
            } else {
                return Outcome::Submit;
            }
        }
        _ if f.field >= 2 => {}
        other => type_into(if f.field == 0 { &mut f.path } else { &mut f.prompt }, other, back),
    }
    Outcome::Editing
}

pub fn edit_key(f: &mut EditForm, k: InputKey, back: &mut usize) -> Outcome {
    let n = EditForm::FIELDS.len();
    if matches!(k, InputKey::Tab | InputKey::Down | InputKey::Up) {
        *back = 0;
    }
    match k {
        InputKey::Esc => return Outcome::Closed,
        InputKey::Tab | InputKey::Down => f.field = (f.field + 1) % n,
        InputKey::Up => f.field = (f.field + n - 1) % n,
        InputKey::Enter => return Outcome::Submit,
        InputKey::Char(' ') if f.on_choice() => f.refine = !f.refine,
        other => {
            if let Some(s) = f.field_mut() {
                type_into(s, other, back);
            }
        }
    }
    Outcome::Editing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_w_deletes_a_word_and_ctrl_u_the_field() {
        let mut s = "a cat on a mat  ".to_string();
        let mut back = 0;
        type_into(&mut s, InputKey::DeleteWord, &mut back);
        assert_eq!(s, "a cat on a ");
        type_into(&mut s, InputKey::DeleteWord, &mut back);
        assert_eq!(s, "a cat on ");
        type_into(&mut s, InputKey::ClearField, &mut back);
        assert_eq!(s, "");
        type_into(&mut s, InputKey::DeleteWord, &mut back);
        assert_eq!(s, "");
    }

    #[test]
    fn the_cursor_moves_and_edits_in_the_middle() {
        let mut s = "a cat on a mat".to_string();
        let mut back = 0;
        let keys = |s: &mut String, back: &mut usize, ks: &[InputKey]| ks.iter().for_each(|&k| type_into(s, k, back));
        // Change "cat" into "dög" without retyping the rest.
        keys(&mut s, &mut back, &[InputKey::Home, InputKey::Right, InputKey::Right]);
        keys(&mut s, &mut back, &[InputKey::Delete, InputKey::Delete, InputKey::Delete, InputKey::Char('d'), InputKey::Char('ö'), InputKey::Char('g')]);
        assert_eq!(s, "a dög on a mat");
        keys(&mut s, &mut back, &[InputKey::Backspace, InputKey::Char('x')]);
        assert_eq!(s, "a döx on a mat");
        keys(&mut s, &mut back, &[InputKey::DeleteWord]);
        assert_eq!(s, "a  on a mat");
        keys(&mut s, &mut back, &[InputKey::End, InputKey::Left, InputKey::Left, InputKey::Left, InputKey::DeleteWord]);
        assert_eq!(s, "a  on mat", "Ctrl-W takes the word before the cursor");
        keys(&mut s, &mut back, &[InputKey::Left; 40]);
        keys(&mut s, &mut back, &[InputKey::Backspace, InputKey::Char('>')]);
        assert_eq!(s, ">a  on mat", "the cursor stops at the start");
    }

    #[test]
    fn a_leading_tilde_is_the_home_folder() {
        if let Some(home) = std::env::var_os("HOME") {
            let home = home.to_string_lossy().into_owned();
            assert_eq!(expand_home(" ~/photos/cat.jpg "), format!("{home}/photos/cat.jpg"));
            assert_eq!(expand_home("~"), home);
        }
        assert_eq!(expand_home("a~/b"), "a~/b");
        assert_eq!(expand_home("~bob/x"), "~bob/x");
    }

    #[test]
    fn tab_completes_paths_to_the_longest_common_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::write(dir.path().join("cat-photo.png"), b"x").unwrap();
        std::fs::write(dir.path().join("cat-photo2.png"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("dogs")).unwrap();
        let c = complete_path(&format!("{d}/ca"));
        assert_eq!(c.path, format!("{d}/cat-photo"));
        assert_eq!(c.choices, ["cat-photo.png", "cat-photo2.png"], "several matches are listed");
        assert_eq!(complete_path(&format!("{d}/do")), Completion { path: format!("{d}/dogs/"), choices: vec![] });
        assert_eq!(complete_path(&format!("{d}/")).choices, ["cat-photo.png", "cat-photo2.png", "dogs/"]);
        assert_eq!(complete_path(&format!("{d}/zebra")).path, format!("{d}/zebra"));
        let mut f = AddForm::default();
        assert!(matches!(add_image_key(&mut f, InputKey::Tab, &mut 0), Outcome::Complete));
        // A folder is no photo: said at Enter, and again if the caption is reached another way.
        f.path = format!("{d}/dogs/");
        add_image_key(&mut f, InputKey::Enter, &mut 0);
        assert!(f.field == 0 && f.error.as_deref().is_some_and(|e| e.contains("is a folder")), "{f:?}");
        f.field = 1;
        f.prompt = "dogs".into();
        assert!(matches!(add_image_key(&mut f, InputKey::Enter, &mut 0), Outcome::Editing));
        assert!(f.field == 0 && f.error.as_deref().is_some_and(|e| e.contains("is a folder")));
        f.path = format!("{d}/cat-photo.png");
        f.field = 1;
        assert!(matches!(add_image_key(&mut f, InputKey::Enter, &mut 0), Outcome::Submit));
    }

    #[test]
    fn typing_tab_and_space_move_through_the_edit_form() {
        let mut f = EditForm::new("cat", "x");
        assert!(matches!(edit_key(&mut f, InputKey::Backspace, &mut 0), Outcome::Editing));
        edit_key(&mut f, InputKey::Char('y'), &mut 0);
        assert_eq!(f.target, "y");
        edit_key(&mut f, InputKey::Tab, &mut 0);
        edit_key(&mut f, InputKey::Char(' '), &mut 0);
        assert!(f.refine);
        assert!(matches!(edit_key(&mut f, InputKey::Esc, &mut 0), Outcome::Closed));
    }
}
