//! Which names may reach the filesystem: session names, item and edit ids, and session-relative
//! paths. Everything a user or a manifest supplies passes through here first, so that nothing
//! (`../x`, `/etc/passwd`, `a\b`, odd characters) can point outside a session folder.

use anyhow::{bail, Result};

/// Longest session name or id.
const MAX_NAME_LEN: usize = 64;
/// Longest file name inside a session folder (an id plus a generation and an extension).
const MAX_FILE_NAME_LEN: usize = 200;
/// Longest id `slug` makes, leaving room for a `-N` suffix and file name parts.
const MAX_SLUG_LEN: usize = 40;

/// The folders of a session that hold its files (everything else at the top level is left alone).
pub const SESSION_FOLDERS: [&str; 3] = ["images", "inversions", "edits"];

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Only `[A-Za-z0-9._-]`, not starting with '.' (hidden, `.`, `..`) or '-' (looks like a flag).
fn well_formed(s: &str, max_len: usize) -> bool {
    !s.is_empty() && s.len() <= max_len && s.chars().all(is_name_char) && !s.starts_with(['.', '-'])
}

/// Refuse a session name or an item/edit id that is not a plain, portable file name.
/// `what` says what the name is for the message ("session name", "item id", …).
pub fn check_name(what: &str, name: &str) -> Result<()> {
    if well_formed(name, MAX_NAME_LEN) {
        return Ok(());
    }
    bail!(
        "`{}` is not a valid {what}: use letters, digits, '.', '_' and '-' (1 to {MAX_NAME_LEN} characters, not starting with '.' or '-')",
        name.escape_debug()
    )
}

/// Refuse a session-relative path unless it is `images/<f>`, `inversions/<f>` or `edits/<f>`
/// with `<f>` a single plain file name.
pub fn check_rel_path(rel: &str) -> Result<()> {
    let ok = match rel.split_once('/') {
        Some((folder, file)) => SESSION_FOLDERS.contains(&folder) && well_formed(file, MAX_FILE_NAME_LEN),
        None => false,
    };
    if ok {
        return Ok(());
    }
    bail!(
        "`{}` is not a safe session path: expected images/, inversions/ or edits/ followed by one file name of letters, digits, '.', '_' and '-'",
        rel.escape_debug()
    )
}

/// The plain letters of an accented Latin letter (`ä` → `a`, `ß` → `ss`), so ids made from
/// European file names stay readable; other scripts have no such spelling and are dropped.
fn latin_letter(c: char) -> Option<&'static str> {
    const FOLDS: [(&str, &str); 18] = [
        ("àáâãäåāăą", "a"), ("çćĉċč", "c"), ("ďđ", "d"), ("èéêëēĕėęě", "e"), ("ĝğġģ", "g"), ("ìíîïĩīĭįı", "i"),
        ("ľĺļł", "l"), ("ñńņň", "n"), ("òóôõöøōŏő", "o"), ("ŕŗř", "r"), ("śŝşš", "s"), ("ţťŧ", "t"),
        ("ùúûüũūŭůűų", "u"), ("ýÿŷ", "y"), ("źżž", "z"), ("ß", "ss"), ("æ", "ae"), ("œ", "oe"),
    ];
    FOLDS.iter().find(|(from, _)| from.contains(c)).map(|(_, to)| *to)
}

/// `s` lower-cased with accented Latin letters spelled plainly (`Café` → `cafe`): how a search
/// compares text, so that a keyboard without accents still finds it.
pub fn fold_latin(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).fold(String::new(), |mut out, c| {
        match latin_letter(c) {
            Some(plain) => out.push_str(plain),
            None => out.push(c),
        }
        out
    })
}

/// A valid id made from arbitrary text (e.g. a photo's file stem): lowercase letters (accented Latin ones spelled plainly) and digits
/// kept, every run of anything else becomes one '-', at most 40 characters, `item` if nothing is left.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if let Some(plain) = latin_letter(c) {
            out.push_str(plain);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= MAX_SLUG_LEN {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "item".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_with_a_message_naming_them() {
        let long = "a".repeat(65);
        for bad in ["../x", "/abs", "a/b", "a\\b", ".", "..", ".hidden", "-flag", "", "has space", "café", "tab\there", "nul\0", "C:x", long.as_str()] {
            let e = check_name("session name", bad).expect_err(bad).to_string();
            assert!(e.contains("is not a valid session name") && e.contains("letters, digits"), "{e}");
        }
        let e = check_name("item id", "../x").unwrap_err().to_string();
        assert!(e.starts_with("`../x` is not a valid item id"), "{e}");
    }

    #[test]
    fn good_names_are_accepted() {
        for good in ["cat", "Cat_2", "a.b-c", "e1", "0", &"a".repeat(64)] {
            check_name("item id", good).unwrap();
        }
    }

    #[test]
    fn only_plain_files_in_the_session_folders_are_safe_paths() {
        for bad in [
            "../x", "/etc/passwd", "a/b", "..", "images/../../x", "images/a/b.png", "C:\\x", "images\\a.png",
            "images/", "images//a.png", "./images/a.png", "images/.hidden", "images/..", "session.toml",
            "other/a.png", "images/kätze.png", "images/a b.png", "",
        ] {
            let e = check_rel_path(bad).expect_err(bad).to_string();
            assert!(e.contains("not a safe session path"), "{e}");
        }
        for good in ["images/cat.png", "inversions/cat-2.safetensors", "edits/cat-e1.png"] {
            check_rel_path(good).unwrap();
        }
    }

    #[test]
    fn slugs_are_valid_ids() {
        assert_eq!(slug("IMG_2041 (copy)"), "img-2041-copy");
        assert_eq!(slug("--Kätzchen!!"), "katzchen");
        assert_eq!(slug("with space ünï 猫"), "with-space-uni");
        assert_eq!(slug("Straße Łódź"), "strasse-lodz");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug(""), "item");
        assert_eq!(slug("日本"), "item");
        let long = slug(&"ab-".repeat(30));
        assert!(long.len() <= 40 && !long.ends_with('-'), "{long}");
        for s in ["IMG_2041 (copy)", "", "日本", &"x_".repeat(50)] {
            check_name("item id", &slug(s)).unwrap();
        }
    }
}
