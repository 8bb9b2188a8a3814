//! Colours of the dashboard: `themes/*.toml` compiled in; `theme.toml` in the config folder picks
//! a base (`base = "light"`) and overrides single entries.

use anyhow::{bail, Context, Result};
use crate::tui::graphics::halfblock::ColorMode;
use ratatui::style::Color;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

const BUILT_IN: [(&str, &str); 3] = [
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("ansi16", include_str!("../../themes/ansi16.toml")),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub background: Color,
    pub foreground: Color,
    pub muted: Color,
    pub accent: Color,
    pub border: Color,
    pub border_focused: Color,
    pub selection_bg: Color,
    pub loss: Color,
    pub threshold: Color,
    pub warning: Color,
    pub error: Color,
    pub ok: Color,
    /// The colours it is written in (pictures are quantised to them too): `ansi16` is Ansi16,
    /// other themes TrueColor until [`Theme::limited_to`] a terminal that shows fewer.
    pub palette: ColorMode,
    /// No colours at all (NO_COLOR): focus and selection are shown bold and reversed.
    pub mono: bool,
}

fn entries(text: &str) -> Result<BTreeMap<String, String>> {
    let table: toml::Table = toml::from_str(text)?;
    table.into_iter().map(|(k, v)| Ok((k.clone(), v.as_str().with_context(|| format!("`{k}` must be a string"))?.to_string()))).collect()
}

fn color(key: &str, value: &str) -> Result<Color> {
    // CSS's short form (`#fff`) is what many people write: each digit doubled.
    let short = value.strip_prefix('#').filter(|h| h.len() == 3 && h.chars().all(|c| c.is_ascii_hexdigit()));
    let value = match short {
        Some(h) => format!("#{}", h.chars().flat_map(|c| [c, c]).collect::<String>()),
        None => value.to_string(),
    };
    let value = value.as_str();
    Color::from_str(value).map_err(|_| anyhow::anyhow!("`{key} = \"{value}\"` is not a colour (\"#rrggbb\", an ANSI name like \"lightblue\", or \"reset\")"))
}

/// The keys theme.toml takes, for a message about one it does not: the colours, and `base`.
fn known_keys(theme: &BTreeMap<String, String>) -> String {
    let colours: Vec<&str> = theme.keys().map(String::as_str).filter(|k| *k != "name").collect();
    format!("the colours are {}; `base` names a built-in theme to start from", colours.join(", "))
}

impl Theme {
    pub fn names() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(n, _)| *n).collect()
    }

    pub fn built_in(name: &str) -> Result<Theme> {
        let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) else {
            bail!("no theme `{name}` (built in: {})", Self::names().join(", "));
        };
        Self::from_entries(&entries(text)?)
    }

    fn from_entries(e: &BTreeMap<String, String>) -> Result<Theme> {
        let get = |k: &str| -> Result<Color> { color(k, e.get(k).with_context(|| format!("the theme has no `{k}`"))?) };
        let name = e.get("name").cloned().unwrap_or_else(|| "custom".into());
        // A 16-colour theme stays one when a user colour is "#rrggbb": the nearest of the 16.
        let ansi16 = name == "ansi16";
        let theme = Theme {
            mono: false,
            palette: ColorMode::TrueColor,
            name,
            background: get("background")?,
            foreground: get("foreground")?,
            muted: get("muted")?,
            accent: get("accent")?,
            border: get("border")?,
            border_focused: get("border_focused")?,
            selection_bg: get("selection_bg")?,
            loss: get("loss")?,
            threshold: get("threshold")?,
            warning: get("warning")?,
            error: get("error")?,
            ok: get("ok")?,
        };
        Ok(if ansi16 { theme.limited_to(ColorMode::Ansi16) } else { theme })
    }

    /// `name` (default: the user file's `base`, else "default"), overridden by `theme.toml` entries.
    pub fn load(name: Option<&str>, config_dir: &Path) -> Result<Theme> {
        let path = config_dir.join("theme.toml");
        let user = if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let table: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not a valid theme", path.display()))?;
            // A key that is no colour is named as such before its value is looked at.
            let built_in = entries(BUILT_IN[0].1)?;
            if let Some(k) = table.keys().find(|k| *k != "base" && !built_in.contains_key(*k)) {
                bail!("{}: unknown colour `{k}` ({})", path.display(), known_keys(&built_in));
            }
            Some(entries(&text).with_context(|| format!("{} is not a valid theme", path.display()))?)
        } else {
            None
        };
        let from_file = user.as_ref().and_then(|u| u.get("base").cloned()).filter(|_| name.is_none());
        let base = name.map(str::to_string).or_else(|| from_file.clone()).unwrap_or_else(|| "default".into());
        let base = base.as_str();
        let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == base) else {
            let whose = if from_file.is_some() { format!("{}: `base`: ", path.display()) } else { String::new() };
            bail!("{whose}no theme `{base}` (built in: {})", Self::names().join(", "));
        };
        let mut all = entries(text)?;
        for (k, v) in user.into_iter().flatten().filter(|(k, _)| k != "base") {
            // A typo would otherwise leave the colour as it was without a word.
            if !all.contains_key(&k) {
                bail!("{}: unknown colour `{k}` ({})", path.display(), known_keys(&all));
            }
            all.insert(k, v);
        }
        Self::from_entries(&all).with_context(|| format!("theme `{base}` with {}", path.display()))
    }

    /// The same theme in the colours a terminal of `terminal` colours shows: exact colours
    /// become the nearest of its 256 or 16 (a terminal without 24-bit colour shows the escape
    /// codes as other colours, or not at all).
    pub fn limited_to(self, terminal: ColorMode) -> Theme {
        let rank = |m: ColorMode| match m {
            ColorMode::TrueColor => 2,
            ColorMode::Ansi256 => 1,
            ColorMode::Ansi16 => 0,
        };
        if rank(terminal) >= rank(self.palette) {
            return self;
        }
        let c = |c: Color| match c {
            Color::Rgb(r, g, b) => terminal.color([r, g, b]),
            other => other,
        };
        Theme {
            background: c(self.background),
            foreground: c(self.foreground),
            muted: c(self.muted),
            accent: c(self.accent),
            border: c(self.border),
            border_focused: c(self.border_focused),
            selection_bg: c(self.selection_bg),
            loss: c(self.loss),
            threshold: c(self.threshold),
            warning: c(self.warning),
            error: c(self.error),
            ok: c(self.ok),
            palette: terminal,
            ..self
        }
    }

    /// The same theme without any colour (https://no-color.org): every colour is the terminal's
    /// own; what colour told apart (focus, selection) is shown with bold and reverse instead.
    pub fn without_colour(self) -> Theme {
        let r = Color::Reset;
        Theme { background: r, foreground: r, muted: r, accent: r, border: r, border_focused: r, selection_bg: r, loss: r, threshold: r, warning: r, error: r, ok: r, mono: true, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_parse_and_a_user_file_overrides_single_entries() {
        for n in Theme::names() {
            Theme::built_in(n).unwrap();
        }
        assert_eq!(Theme::built_in("ansi16").unwrap().palette, ColorMode::Ansi16);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("theme.toml"), "base = \"light\"\naccent = \"#ff0000\"\n").unwrap();
        let t = Theme::load(None, dir.path()).unwrap();
        let light = Theme::built_in("light").unwrap();
        assert_eq!(t.accent, Color::Rgb(255, 0, 0));
        assert_eq!(t.loss, light.loss);
        std::fs::write(dir.path().join("theme.toml"), "accent = \"nope\"\n").unwrap();
        let e = format!("{:#}", Theme::load(None, dir.path()).unwrap_err());
        assert!(e.contains("nope") && e.contains("not a colour"), "{e}");
        assert!(Theme::load(Some("neon"), tempfile::tempdir().unwrap().path()).is_err());
        std::fs::write(dir.path().join("theme.toml"), "acent = \"#ff0000\"\n").unwrap();
        let e = format!("{:#}", Theme::load(None, dir.path()).unwrap_err());
        assert!(e.contains("unknown colour `acent`") && e.contains("accent"), "{e}");
        // An unknown key is named as one whatever its value; a 16-colour theme stays one.
        std::fs::write(dir.path().join("theme.toml"), "bogus_key = 3\n").unwrap();
        let e = format!("{:#}", Theme::load(None, dir.path()).unwrap_err());
        assert!(e.contains("unknown colour `bogus_key` (the colours are accent, ") && e.contains("`base` names a built-in theme") && !e.contains("must be a string"), "{e}");
        assert!(!e.contains(" name,"), "`name` is no colour: {e}");
        // CSS's short form is read as the long one.
        std::fs::write(dir.path().join("theme.toml"), "accent = \"#f80\"\n").unwrap();
        assert_eq!(Theme::load(None, dir.path()).unwrap().accent, Color::Rgb(255, 136, 0));
        std::fs::write(dir.path().join("theme.toml"), "accent = \"#ff0000\"\n").unwrap();
        let t = Theme::load(Some("ansi16"), dir.path()).unwrap();
        assert_eq!(t.accent, Color::LightRed, "the nearest of the 16, never a truecolor escape");
        // A bad `base` is blamed on theme.toml, where it is.
        std::fs::write(dir.path().join("theme.toml"), "base = \"nope\"\n").unwrap();
        let e = format!("{:#}", Theme::load(None, dir.path()).unwrap_err());
        assert!(e.contains("theme.toml: `base`: no theme `nope`"), "{e}");
    }
}
