//! Keys → [`Action`]s. Defaults per TUI.md; `keymap.toml` in the config folder rebinds single
//! actions (`quit = ["q", "ctrl-c"]`). The help screen is generated from these entries.

use anyhow::{bail, Context, Result};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Everything a key can ask the dashboard to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    NextPane,
    PrevPane,
    Confirm,
    Back,
    AddImage,
    NewEdit,
    Invert,
    PauseResume,
    Cancel,
    Retry,
    Zoom,
    Decode,
    ToggleLog,
    PrevStep,
    NextStep,
    Save,
    DeleteItem,
    EditCaption,
    Find,
    FindNext,
    FindPrev,
    Messages,
    Help,
    Quit,
}

impl Action {
    pub const ALL: [Action; 30] = [
        Action::Up, Action::Down, Action::PageUp, Action::PageDown, Action::First, Action::Last, Action::NextPane, Action::PrevPane, Action::Confirm, Action::Back, Action::AddImage, Action::NewEdit, Action::Invert, Action::PauseResume,
        Action::Cancel, Action::Retry, Action::Zoom, Action::Decode, Action::ToggleLog, Action::PrevStep, Action::NextStep, Action::Save, Action::DeleteItem,
        Action::EditCaption, Action::Find, Action::FindNext, Action::FindPrev, Action::Messages, Action::Help, Action::Quit,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Action::AddImage => "add an image to the session",
            Action::NewEdit => "new edit of the selected image (from the edit shown)",
            Action::Invert => "invert the selected image (a damaged one anew)",
            Action::PauseResume => "pause / resume the queue",
            Action::Cancel => "cancel the image's running or queued job (preview: the edit)",
            Action::Retry => "retry the selected image's failed or cancelled jobs",
            Action::Zoom => "zoom the preview (as large as the terminal shows it)",
            Action::Decode => "decode x0 with the VAE (then z zooms it)",
            Action::ToggleLog => "loss axis: log / linear",
            Action::Save => "save (everything is saved as it happens)",
            Action::DeleteItem => "delete the image, asks first (preview pane: the edit shown)",
            Action::EditCaption => "edit the image's caption (its inversion starts over)",
            Action::Messages => "recent messages (what the status line said)",
            Action::Help => "this help",
            Action::Quit => "quit (a running job checkpoints)",
            // The directions of a move (and the like) share their help row.
            shared => SHARED_ROWS.iter().find(|(all, _)| all.contains(&shared)).map_or("", |(_, what)| what),
        }
    }

    /// The action's name in keymap.toml (`next_pane`).
    fn toml_name(self) -> String {
        let mut out = String::new();
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            Action::Up => &["k", "up"],
            Action::Down => &["j", "down"],
            Action::PageUp => &["pageup"],
            Action::PageDown => &["pagedown"],
            Action::First => &["g", "home"],
            Action::Last => &["G", "end"],
            Action::NextPane => &["tab"],
            Action::PrevPane => &["backtab"],
            Action::Confirm => &["enter"],
            Action::Back => &["esc"],
            Action::AddImage => &["a"],
            Action::NewEdit => &["e"],
            Action::Invert => &["i"],
            Action::PauseResume => &["p"],
            Action::Cancel => &["x"],
            Action::Retry => &["r"],
            Action::Zoom => &["z"],
            Action::Decode => &["f"],
            Action::ToggleLog => &["l"],
            Action::PrevStep => &["["],
            Action::NextStep => &["]"],
            Action::Save => &["s"],
            Action::DeleteItem => &["d", "delete"],
            Action::EditCaption => &["c"],
            Action::Find => &["/"],
            Action::FindNext => &["n"],
            Action::FindPrev => &["N"],
            Action::Messages => &["m"],
            Action::Help => &["?"],
            Action::Quit => &["q", "ctrl-c"],
        }
    }
}

/// A key as written in keymap.toml: `q`, `?`, `ctrl-c`, `enter`, `tab`, `up`, `f5`, ….
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    code: KeyCode,
    ctrl: bool,
}

impl KeySpec {
    pub fn parse(s: &str) -> Result<Self> {
        let (ctrl, rest) = match s.get(..5).filter(|p| p.eq_ignore_ascii_case("ctrl-")) {
            Some(_) => (true, &s[5..]),
            None => (false, s),
        };
        // Named keys in any case (the help writes PgUp, F2); a single character as typed (G is
        // not g), but with ctrl in any case too (terminals send ctrl-L as ctrl-l).
        let named = if ctrl || rest.chars().count() > 1 { rest.to_lowercase() } else { rest.to_string() };
        let code = match named.as_str() {
            "↑" => KeyCode::Up,
            "↓" => KeyCode::Down,
            "←" => KeyCode::Left,
            "→" => KeyCode::Right,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => KeyCode::F(f[1..].parse()?),
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().expect("one char")),
            other => bail!("unknown key `{other}` (use a character, enter, esc, tab, shift-tab, up, down, left, right, home, end, pageup, pagedown, space, backspace, delete, f1…f12, with an optional ctrl- prefix)"),
        };
        Ok(Self { code, ctrl })
    }

    fn matches(&self, k: &KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        // Shift is part of the character ('?' arrives as shift + '?'), so only ctrl is compared.
        ctrl == self.ctrl && self.code == k.code
    }

    fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::BackTab => "shift-tab".into(),
            other => format!("{other:?}").to_lowercase(),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }
}

/// Keys the dashboard handles before any keymap: Ctrl-L redraws, Ctrl-Z suspends.
const RESERVED: [KeySpec; 2] = [KeySpec { code: KeyCode::Char('l'), ctrl: true }, KeySpec { code: KeyCode::Char('z'), ctrl: true }];

#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: BTreeMap<Action, Vec<KeySpec>>,
    /// Actions keymap.toml left without a key by giving their last one to another action, as
    /// "`a` went to `up`, so `add_image` has no key": said at start, since help alone shows it.
    pub left_keyless: Vec<String>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = Action::ALL.iter().map(|&a| (a, a.defaults().iter().map(|k| KeySpec::parse(k).expect("default keys parse")).collect())).collect();
        Self { bindings, left_keyless: Vec::new() }
    }
}

impl Keymap {
    /// Defaults, with the entries of `keymap.toml` in `config_dir` (if any) replacing single actions.
    pub fn load(config_dir: &Path) -> Result<Self> {
        let path = config_dir.join("keymap.toml");
        let mut map = Self::default();
        if !path.exists() {
            return Ok(map);
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        map.apply(&text).with_context(|| format!("{} is not a valid keymap", path.display()))?;
        Ok(map)
    }

    /// Apply `action = ["key", …]` entries (a single string is accepted too). A key the file
    /// gives one action is taken from the defaults of the actions it does not name, so that a
    /// default added in a later pivot never makes an older keymap.toml a conflict.
    pub fn apply(&mut self, toml_text: &str) -> Result<()> {
        let entries: BTreeMap<Action, toml::Value> = toml::from_str(toml_text)?;
        let mut given = BTreeMap::new();
        for (action, value) in entries {
            let keys: Vec<String> = match value {
                toml::Value::String(k) => vec![k],
                toml::Value::Array(v) if v.iter().all(|k| k.is_str()) => v.iter().filter_map(|k| k.as_str().map(str::to_string)).collect(),
                other => bail!("`{}` must be a key or a list of keys, like [\"q\", \"ctrl-c\"] (got {other})", action.toml_name()),
            };
            let specs: Vec<KeySpec> = keys.iter().map(|k| KeySpec::parse(k)).collect::<Result<_>>()?;
            if let Some(k) = specs.iter().find(|k| RESERVED.contains(k)) {
                bail!("`{}` is pivot's own (ctrl-l redraws the screen, ctrl-z suspends pivot): give `{}` another key", k.label(), action.toml_name());
            }
            given.insert(action, specs);
        }
        let taken: Vec<KeySpec> = given.values().flatten().copied().collect();
        for (action, keys) in self.bindings.iter_mut() {
            if !given.contains_key(action) {
                let had = keys.first().copied();
                keys.retain(|k| !taken.contains(k));
                if let (Some(k), true) = (had, keys.is_empty()) {
                    let to = given.iter().find(|(_, ks)| ks.contains(&k)).map(|(a, _)| a.toml_name()).unwrap_or_default();
                    let name = action.toml_name();
                    self.left_keyless.push(format!("keymap.toml gives `{}` to `{to}`, so `{name}` has no key; give it one ({name} = [\"…\"])", k.label()));
                }
            }
        }
        self.bindings.extend(given);
        self.check()
    }

    /// One action per key, and a way to quit: a key bound twice would silently do only one thing.
    fn check(&self) -> Result<()> {
        let all: Vec<(Action, &KeySpec)> = self.bindings.iter().flat_map(|(a, ks)| ks.iter().map(move |k| (*a, k))).collect();
        for (i, (a, k)) in all.iter().enumerate() {
            if let Some((b, _)) = all[i + 1..].iter().find(|(b, k2)| k2 == k && b != a) {
                bail!("`{}` is bound to both `{}` and `{}`; give one of them another key", k.label(), a.toml_name(), b.toml_name());
            }
        }
        // Without these the dashboard cannot be left, or its keys (this file's too) looked up.
        for (action, spare) in [(Action::Quit, "ctrl-q"), (Action::Help, "f1")] {
            if self.bindings.get(&action).is_some_and(|ks| !ks.is_empty()) {
                continue;
            }
            let name = action.toml_name();
            // Its default given to another action: binding the default back would clash.
            let taken = action.defaults().iter().filter_map(|k| KeySpec::parse(k).ok()).find_map(|k| self.bindings.iter().find(|(_, ks)| ks.contains(&k)).map(|(a, _)| (k, *a)));
            match taken {
                Some((k, other)) => bail!("{name} has no key: `{}` is given to `{}`; give {name} another ({name} = [\"{spare}\"])", k.label(), other.toml_name()),
                None => bail!("{name} has no key; bind at least one ({name} = [\"{}\"])", action.defaults()[0]),
            }
        }
        Ok(())
    }

    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        self.bindings.iter().find(|(_, ks)| ks.iter().any(|k| k.matches(key))).map(|(a, _)| *a)
    }

    /// The keys bound to an action, for hints ("? help"): `k/↑`, or `/, ctrl-f` when one of them
    /// is the slash key.
    pub fn keys(&self, action: Action) -> String {
        let labels: Vec<String> = self.bindings.get(&action).map(|ks| ks.iter().map(KeySpec::label).collect()).unwrap_or_default();
        labels.join(if labels.iter().any(|l| l == "/") { ", " } else { "/" })
    }

    /// The first key bound to an action, for hints that name one key ("p pauses"); an unbound
    /// action is named as keymap.toml names it.
    pub fn first_key(&self, action: Action) -> String {
        self.bindings.get(&action).and_then(|ks| ks.first()).map(KeySpec::label).unwrap_or_else(|| format!("<{}>", action.toml_name()))
    }

    /// (keys, description) for every action, in a stable order (the help screen); the two
    /// directions of a move share a row (`k/↑ · j/↓`), and descriptions that name another
    /// action's key name the one bound now.
    pub fn help(&self) -> Vec<(String, String)> {
        // An action a keymap.toml left without a key (it took its keys elsewhere) says so.
        let bound = |a: Action| Some(self.keys(a)).filter(|k| !k.is_empty()).unwrap_or_else(|| "(none)".to_string());
        let mut rows = Vec::new();
        for &a in &Action::ALL {
            let shared = SHARED_ROWS.iter().find(|(all, _)| all.contains(&a));
            if shared.is_some_and(|(all, _)| all[0] != a) {
                continue;
            }
            let row = match shared {
                // Each action keeps its place in the row: `enter · (none)` reads right, a gap would not.
                Some((all, what)) => (all.iter().map(|b| bound(*b)).collect::<Vec<_>>().join(" · "), what.to_string()),
                None if a == Action::Decode => (bound(a), format!("decode x0 with the VAE (then {} zooms it)", self.first_key(Action::Zoom))),
                None => (bound(a), a.describe().to_string()),
            };
            rows.push(row);
        }
        rows
    }
}

/// Actions the help shows on one row, with the row's description.
const SHARED_ROWS: [(&[Action], &str); 8] = [
    (&[Action::Up, Action::Down], "move up · down (loss pane: timestep; preview pane: result)"),
    (&[Action::PageUp, Action::PageDown], "a page up · down (a list's worth; loss pane: 10 timesteps)"),
    (&[Action::First, Action::Last], "first · last item (loss pane: timestep; preview: result)"),
    (&[Action::NextPane, Action::PrevPane], "next · previous pane"),
    (&[Action::Confirm, Action::Back], "invert (or edit) the item, confirm · close / back"),
    (&[Action::PrevStep, Action::NextStep], "previous · next timestep in the loss pane"),
    (&[Action::Find, Action::FindNext, Action::FindPrev], "find by name, caption or edit prompt · next · previous match"),
    (&[Action::Messages, Action::Help], "recent messages (the status line's) · this help"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn defaults_follow_the_spec_and_a_user_file_rebinds_single_actions() {
        let mut k = Keymap::default();
        assert_eq!(k.action(&key(KeyCode::Char('q'), KeyModifiers::NONE)), Some(Action::Quit));
        assert_eq!(k.action(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(k.action(&key(KeyCode::Char('c'), KeyModifiers::NONE)), Some(Action::EditCaption), "ctrl is part of the key");
        assert_eq!(k.action(&key(KeyCode::Down, KeyModifiers::NONE)), Some(Action::Down));
        assert_eq!(k.action(&key(KeyCode::Char(']'), KeyModifiers::NONE)), Some(Action::NextStep));
        k.apply("quit = \"ctrl-q\"\nzoom = [\"v\", \"f2\"]").unwrap();
        assert_eq!(k.action(&key(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(k.action(&key(KeyCode::Char('q'), KeyModifiers::CONTROL)), Some(Action::Quit));
        assert_eq!(k.action(&key(KeyCode::F(2), KeyModifiers::NONE)), Some(Action::Zoom));
        assert_eq!(k.action(&key(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Action::Down), "other actions keep their defaults");
        assert!(k.help().iter().any(|(keys, d)| keys == "v/F2" && d.contains("zoom")));
        assert!(k.apply("no_such_action = \"y\"").is_err());
        assert!(k.apply("quit = \"hyper-q\"").is_err());
        assert!(Keymap::default().apply("zoom = \"f0\"").is_err() && Keymap::default().apply("zoom = \"f13\"").is_err());
        let e = Keymap::default().apply("quit = 5").unwrap_err().to_string();
        assert!(e.contains("`quit` must be a key or a list of keys"), "{e}");
        // A key the file gives one action leaves the defaults of the others (down keeps ↓).
        let mut moved = Keymap::default();
        moved.apply("quit = [\"j\"]\nzoom = \"g\"").unwrap();
        assert_eq!(moved.action(&key(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Action::Quit));
        assert_eq!((moved.keys(Action::Down), moved.keys(Action::First)), ("↓".to_string(), "home".to_string()));
        // Two actions the file names alike are a conflict.
        let e = Keymap::default().apply("quit = [\"j\"]\ndown = [\"j\"]").unwrap_err().to_string();
        assert!(e.contains("`j`") && e.contains("`down`") && e.contains("`quit`"), "{e}");
        for reserved in ["ctrl-l", "Ctrl-L", "ctrl-z"] {
            let e = Keymap::default().apply(&format!("zoom = \"{reserved}\"")).unwrap_err().to_string();
            assert!(e.contains("pivot's own"), "{reserved}: {e}");
        }
        // Every label the help shows reads back as its key (`/` alone is the find key).
        for a in Action::ALL {
            let keys = Keymap::default().keys(a);
            let labels: Vec<&str> = if keys.contains('/') && !keys.contains(", ") && keys != "/" { keys.split('/').collect() } else { keys.split(", ").collect() };
            for label in labels {
                let spec = KeySpec::parse(label).unwrap_or_else(|e| panic!("{label}: {e}"));
                assert_eq!(spec.label(), label);
            }
        }
        // Shift is part of the character: a shifted N is the previous match.
        assert_eq!(Keymap::default().action(&key(KeyCode::Char('N'), KeyModifiers::SHIFT)), Some(Action::FindPrev));
        assert_eq!(Keymap::default().action(&key(KeyCode::Char('/'), KeyModifiers::NONE)), Some(Action::Find));
        let mut slash = Keymap::default();
        slash.apply("find = [\"/\", \"ctrl-f\"]\nnew_edit = \"n\"").unwrap();
        let row = slash.help().into_iter().find(|(_, d)| d.starts_with("find by name")).unwrap();
        assert_eq!(row.0, "/, ctrl-f · (none) · N", "a row shared by several actions names each, bound or not");
        assert_eq!(Action::NextPane.toml_name(), "next_pane");
        assert!(Keymap::default().apply("quit = []").unwrap_err().to_string().contains("quit has no key"));
        // Any other action left without a key is said at start.
        let mut k = Keymap::default();
        k.apply("up = [\"a\"]").unwrap();
        assert_eq!(k.left_keyless, vec!["keymap.toml gives `a` to `up`, so `add_image` has no key; give it one (add_image = [\"…\"])".to_string()]);
        assert!(Keymap::default().apply("help = []").unwrap_err().to_string().contains("help has no key; bind at least one (help = [\"?\"])"));
        let e = Keymap::default().apply("find = [\"?\"]").unwrap_err().to_string();
        assert!(e.contains("help has no key: `?` is given to `find`; give help another (help = [\"f1\"])"), "a key taken from help leaves it none: {e}");
        Keymap::default().apply("find = [\"?\"]\nhelp = [\"f1\"]").expect("the suggested key is free");
        Keymap::default().apply("find = [\"q\", \"ctrl-c\"]\nquit = [\"ctrl-q\"]").expect("so is quit's");
        Keymap::default().check().expect("the defaults bind each key once");
    }
}
