//! The dashboard's settings: command-line flags over `config.toml` over defaults, resolved into a
//! theme, a keymap, the picture mode and a device. A bad value from config.toml is named as such.

use super::keymap::Keymap;
use super::launch::Config;
use super::terminal::ZoomWith;
use super::theme::Theme;
use super::graphics::halfblock::ColorMode;
use super::view::dashboard::Graphics;
use super::Options;
use crate::sd::source::ModelSource;
use anyhow::{bail, Result};
use candle_core::Device;
use std::path::Path;

pub struct Settings {
    pub config: Config,
    pub theme: Theme,
    pub keys: Keymap,
    pub graphics: Graphics,
    pub zoom: ZoomWith,
    pub device: Device,
    /// The shortest time between two redraws (config.toml's `fps`).
    pub frame: std::time::Duration,
}

/// The inline pictures and the zoom view for `--graphics`.
pub fn graphics(spec: &str, term: Option<&str>) -> Result<(Graphics, ZoomWith)> {
    Ok(match spec {
        "halfblock" => (Graphics::HalfBlock, ZoomWith::HalfBlock),
        "none" => (Graphics::None, ZoomWith::Text),
        // Inline half-blocks need only colours; only a dumb terminal gets text placeholders (from
        // TERM alone, nothing probed). The zoom view lets viuer ask the terminal for pixels.
        "auto" => match term {
            Some("dumb") => (Graphics::None, ZoomWith::Text),
            _ => (Graphics::HalfBlock, ZoomWith::Viuer),
        },
        other => bail!("`{other}` is not a picture mode: use auto, halfblock or none"),
    })
}

/// The colours the terminal shows, from what it says of itself (nothing is asked of it):
/// COLORTERM=truecolor (or 24bit), tmux (which converts 24-bit colour for the terminal outside)
/// and terminals known for it get exact colours; `*-256color` the xterm 256; the Linux console
/// and other 8/16-colour terminals the 16; anything else the 256, which nearly every terminal
/// in use shows.
pub fn terminal_colours(term: Option<&str>, colorterm: Option<&str>, in_tmux: bool) -> ColorMode {
    let term = term.unwrap_or("");
    let truecolor_terms = ["xterm-kitty", "alacritty", "wezterm", "xterm-ghostty", "foot", "contour", "iterm2"];
    if matches!(colorterm, Some("truecolor" | "24bit")) || in_tmux || term.contains("direct") || truecolor_terms.iter().any(|t| term.starts_with(t)) {
        ColorMode::TrueColor
    } else if term.contains("256color") {
        ColorMode::Ansi256
    } else if matches!(term, "linux" | "ansi" | "cons25" | "xterm-color" | "xterm-16color" | "rxvt-16color") || term.starts_with("vt") {
        ColorMode::Ansi16
    } else {
        ColorMode::Ansi256
    }
}

/// `LC_ALL=C`-style when the locale that decides the character set (the first of LC_ALL,
/// LC_CTYPE, LANG that is set) is not UTF-8; the dashboard draws with Unicode. None set is the
/// POSIX locale, which tmux, for one, takes for ASCII.
pub fn non_utf8_locale(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let Some((key, value)) = ["LC_ALL", "LC_CTYPE", "LANG"].into_iter().find_map(|k| var(k).filter(|v| !v.is_empty()).map(|v| (k, v))) else {
        return Some("no LC_ALL, LC_CTYPE or LANG set".into());
    };
    let utf8 = value.to_ascii_lowercase().replace('-', "").contains("utf8");
    (!utf8).then(|| format!("{key}={value}"))
}

impl Settings {
    /// Settings from the flags `o`, the config folder `cfg_dir`, `TERM` = `term` and whether
    /// `NO_COLOR` is set (https://no-color.org: no colours; pictures only when asked for).
    pub fn resolve(o: &Options, cfg_dir: &Path, term: Option<&str>, no_color: bool) -> Result<Settings> {
        let config = Config::load(cfg_dir)?;
        let file = cfg_dir.join("config.toml");
        let named = |given: bool, key: &'static str| {
            let file = file.clone();
            move |e: anyhow::Error| if given { e.context(format!("--{key}")) } else { e.context(format!("`{key}` in {}", file.display())) }
        };
        let theme = Theme::load(o.theme.as_deref().or(config.theme.as_deref()), cfg_dir);
        // Named after where the theme came from; a bad theme.toml alone names its own file.
        let mut theme = match (o.theme.is_some(), config.theme.is_some()) {
            (false, false) => theme?,
            (flag, _) => theme.map_err(named(flag, "theme"))?,
        };
        let keys = Keymap::load(cfg_dir)?;
        if no_color {
            theme = theme.without_colour();
        }
        let (graphics, zoom) = match o.graphics.as_deref().or(config.graphics.as_deref()) {
            // Half-block pictures are nothing but colour.
            None if no_color => (Graphics::None, ZoomWith::Text),
            spec => graphics(spec.unwrap_or("auto"), term).map_err(named(o.graphics.is_some(), "graphics"))?,
        };
        let device = crate::sd::device::pick(o.device.as_deref().or(config.device.as_deref()).unwrap_or("auto")).map_err(named(o.device.is_some(), "device"))?;
        // The default model matters only for a session found or made by it: a session named
        // with --session that exists has its own (a new one is checked as it is made).
        if let (None, None, Some(m)) = (&o.model, &o.session, &config.model) {
            ModelSource::parse(m).map_err(named(false, "model"))?;
        }
        let frame = config.frame().map_err(named(false, "fps"))?;
        Ok(Settings { config, theme, keys, graphics, zoom, device, frame })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_other_than_utf8_is_named() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(non_utf8_locale(env(&[("LANG", "C")])).as_deref(), Some("LANG=C"));
        assert_eq!(non_utf8_locale(env(&[("LC_ALL", "POSIX"), ("LANG", "en_GB.UTF-8")])).as_deref(), Some("LC_ALL=POSIX"));
        assert_eq!(non_utf8_locale(env(&[("LC_ALL", ""), ("LC_CTYPE", "de_DE.utf8"), ("LANG", "C")])), None);
        assert_eq!(non_utf8_locale(env(&[("LANG", "C.UTF-8")])), None);
        assert_eq!(non_utf8_locale(env(&[])).as_deref(), Some("no LC_ALL, LC_CTYPE or LANG set"), "nothing set: POSIX");
    }

    #[test]
    fn colours_follow_what_the_terminal_says_of_itself() {
        assert_eq!(terminal_colours(Some("xterm-256color"), Some("truecolor"), false), ColorMode::TrueColor);
        assert_eq!(terminal_colours(Some("screen-256color"), None, true), ColorMode::TrueColor, "tmux converts");
        assert_eq!(terminal_colours(Some("xterm-kitty"), None, false), ColorMode::TrueColor);
        assert_eq!(terminal_colours(Some("xterm-256color"), None, false), ColorMode::Ansi256);
        assert_eq!(terminal_colours(Some("linux"), None, false), ColorMode::Ansi16);
        assert_eq!(terminal_colours(Some("xterm"), None, false), ColorMode::Ansi256);
        assert_eq!(terminal_colours(None, None, false), ColorMode::Ansi256);
        let t = Theme::built_in("default").unwrap();
        let limited = t.clone().limited_to(ColorMode::Ansi256);
        assert_eq!(limited.palette, ColorMode::Ansi256);
        assert!(matches!(limited.accent, ratatui::style::Color::Indexed(16..=255)), "{:?}", limited.accent);
        assert_eq!(t.clone().limited_to(ColorMode::TrueColor), t);
        let sixteen = Theme::built_in("ansi16").unwrap();
        assert_eq!(sixteen.clone().limited_to(ColorMode::Ansi256), sixteen, "never more colours than the theme has");
    }

    #[test]
    fn graphics_modes_pick_inline_pictures_and_the_zoom_view() {
        assert_eq!(graphics("auto", Some("xterm-256color")).unwrap(), (Graphics::HalfBlock, ZoomWith::Viuer));
        assert_eq!(graphics("auto", None).unwrap(), (Graphics::HalfBlock, ZoomWith::Viuer));
        assert_eq!(graphics("auto", Some("dumb")).unwrap(), (Graphics::None, ZoomWith::Text));
        assert_eq!(graphics("halfblock", Some("xterm-kitty")).unwrap(), (Graphics::HalfBlock, ZoomWith::HalfBlock));
        assert_eq!(graphics("none", Some("xterm")).unwrap(), (Graphics::None, ZoomWith::Text));
        let e = graphics("sixel", None).unwrap_err().to_string();
        assert!(e.contains("auto, halfblock or none") && e.contains("sixel"), "{e}");
    }

    fn error(config: &str, o: &Options) -> String {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let e = Settings::resolve(o, dir.path(), Some("xterm"), false).err().expect("a bad value is refused");
        format!("{e:#}")
    }

    #[test]
    fn bad_config_values_name_their_key_and_file_and_flags_win() {
        let none = Options::default();
        for (config, key, why) in [("graphics = \"sixel\"", "graphics", "sixel"), ("device = \"gpu9\"", "device", "gpu9"), ("theme = \"neon\"", "theme", "neon"), ("model = \"not a model\"", "model", "not a model"), ("fps = 0", "fps", "fps = 0 is out of range"), ("fps = 120", "fps", "from 1 to 60"), ("fps = \"x\"", "fps", "fps = \"x\" is not a whole number"), ("fps = 7.5", "fps", "whole number")] {
            let e = error(config, &none);
            assert!(e.contains(&format!("`{key}` in ")) && e.contains("config.toml") && e.contains(why) && !e.contains(&format!("--{key}")), "{config}: {e}");
        }
        // A session named on the command line keeps its own model whatever config.toml says.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "model = \"not a model\"\n").unwrap();
        assert!(Settings::resolve(&Options { session: Some("trip".into()), ..Options::default() }, dir.path(), Some("xterm"), false).is_ok());
        // A bad theme.toml, with no theme named anywhere, names its file, not a flag.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("theme.toml"), "accent = \"nope\"\n").unwrap();
        let e = format!("{:#}", Settings::resolve(&none, dir.path(), Some("xterm"), false).err().expect("refused"));
        assert!(e.contains("theme.toml") && !e.contains("--theme"), "{e}");
        // The same bad value on the command line is the flag's own error, not the file's.
        let flag = Options { graphics: Some("sixel".into()), ..Options::default() };
        let e = error("", &flag);
        assert!(e.contains("--graphics") && e.contains("sixel") && !e.contains("config.toml"), "{e}");
        // A flag overrides a bad config value.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), "graphics = \"sixel\"\ndevice = \"cpu\"\n").unwrap();
        let fixed = Options { graphics: Some("none".into()), ..Options::default() };
        let s = Settings::resolve(&fixed, dir.path(), None, false).unwrap();
        assert_eq!((s.graphics, s.zoom), (Graphics::None, ZoomWith::Text));
    }

    #[test]
    fn no_color_drops_colours_and_pictures_unless_pictures_are_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(&Options::default(), dir.path(), Some("xterm-256color"), true).unwrap();
        assert!(s.theme.mono && s.theme.accent == ratatui::style::Color::Reset && s.theme.selection_bg == ratatui::style::Color::Reset);
        assert_eq!((s.graphics, s.zoom), (Graphics::None, ZoomWith::Text));
        let asked = Options { graphics: Some("halfblock".into()), ..Options::default() };
        assert_eq!(Settings::resolve(&asked, dir.path(), None, true).unwrap().graphics, Graphics::HalfBlock);
        let plain = Settings::resolve(&Options::default(), dir.path(), Some("xterm-256color"), false).unwrap();
        assert!(!plain.theme.mono && plain.graphics == Graphics::HalfBlock);
    }
}
