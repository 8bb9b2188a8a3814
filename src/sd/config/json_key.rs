//! Which key of a JSON config a parse error belongs to: serde's errors give a line and column
//! ("invalid type: string \"32\", expected usize at line 12 column 27") but not the key, and a
//! user mending the file looks for the key.

/// The object key whose value contains the 1-based `line`/`column`, if the text before that
/// point has one (the last string followed by `:` outside strings). Only for errors in a value:
/// a missing or repeated field is reported elsewhere (at the object's end, at the key).
pub fn key_at(text: &str, line: usize, column: usize) -> Option<String> {
    let start = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>();
    // serde_json counts the column in bytes.
    let mut end = (start + column).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let (mut key, mut last_string) = (None, None);
    let (mut in_string, mut escaped, mut from) = (false, false, 0);
    for (i, c) in text[..end].char_indices() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (true, '"') => {
                in_string = false;
                last_string = Some(&text[from..i]);
            }
            (true, _) => {}
            (false, '"') => {
                in_string = true;
                from = i + 1;
            }
            (false, ':') => key = last_string.map(str::to_string),
            (false, c) if !c.is_whitespace() => last_string = None,
            _ => {}
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::key_at;

    /// Where serde_json puts the error for `text` parsed as `T`, and the key found there.
    fn key_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> Option<String> {
        let e = serde_json::from_str::<T>(text).unwrap_err();
        key_at(text, e.line(), e.column())
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Cfg {
        name: String,
        groups: usize,
        sizes: Vec<usize>,
    }

    #[test]
    fn the_key_of_a_bad_value_is_found() {
        let ok_rest = r#""name": "a \"quoted\": name", "sizes": [1, 2]"#;
        assert_eq!(key_of::<Cfg>(&format!("{{{ok_rest}, \"groups\": \"32\"}}")).as_deref(), Some("groups"));
        assert_eq!(key_of::<Cfg>("{\n  \"name\": \"x\",\n  \"groups\": 3,\n  \"sizes\": [1, [2, 3]]\n}").as_deref(), Some("sizes"));
        assert_eq!(key_of::<Cfg>("{\"groups\": 3, \"name\": 7, \"sizes\": []}").as_deref(), Some("name"));
    }

    #[test]
    fn a_multibyte_character_before_the_error_does_not_move_it() {
        let text = "{\"name\": \"caf\u{e9} \u{2192} x\", \"groups\": \"32\", \"sizes\": []}";
        assert_eq!(key_of::<Cfg>(text).as_deref(), Some("groups"));
    }

    #[test]
    fn no_key_before_the_first_one() {
        assert_eq!(key_at("[1, 2]", 1, 3), None);
        assert_eq!(key_at("", 1, 0), None);
    }
}
