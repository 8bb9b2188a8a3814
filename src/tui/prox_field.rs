//! The edit form's proximal field: `l0` or `l1`, then, in any order, a quantile (`0.6` or
//! `quantile=0.6`), what late steps are pulled back to (`inversion`, `photo`, `both`, `none`, or
//! `pull=photo`), `strength=0.5` and `below=300`; what is not written takes the default (the
//! ProxEdit authors' example). Empty: plain guidance.

use crate::edit::prox::{Pull, Shrink, BELOW, QUANTILE, STRENGTH};
use crate::session::manifest::ProxSpec;

const NAME: &str = "proximal";

fn unit(what: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x + 0.0),
        _ => Err(format!("{NAME}: the {what} must be a number in [0, 1] (got `{v}`)")),
    }
}

/// The field read as proximal guidance (`None` when empty).
pub fn parse(s: &str) -> Result<Option<ProxSpec>, String> {
    let mut pieces = s.split(|c: char| c.is_whitespace() || c == ',').filter(|p| !p.is_empty());
    let Some(first) = pieces.next() else { return Ok(None) };
    let first = first.to_ascii_lowercase();
    if Shrink::parse(&first).is_none() {
        return Err(format!("{NAME} starts with l0 or l1 (got `{first}`); leave it empty for plain guidance"));
    }
    let mut spec = ProxSpec { shrink: first, quantile: QUANTILE, pull: "inversion".into(), strength: STRENGTH, below: BELOW };
    let (mut quantile, mut pull, mut strength, mut below) = (false, false, false, false);
    let once = |seen: &mut bool, what: &str| if std::mem::replace(seen, true) { Err(format!("{NAME}: the {what} is given twice")) } else { Ok(()) };
    for p in pieces {
        let lower = p.to_ascii_lowercase();
        // `quantile=` and `pull=` may be written out, as `strength=` and `below=` are.
        let lower = if let Some(v) = lower.strip_prefix("quantile=") {
            v.parse::<f64>().map_err(|_| format!("{NAME}: quantile= takes a number in [0, 1] (got `{v}`)"))?;
            v.to_string()
        } else if let Some(v) = lower.strip_prefix("pull=") {
            Pull::parse(v).ok_or_else(|| format!("{NAME}: pull= takes one of {} (got `{v}`)", Pull::NAMES.join(", ")))?;
            v.to_string()
        } else {
            lower
        };
        if let Some(v) = lower.strip_prefix("strength=") {
            once(&mut strength, "strength")?;
            spec.strength = unit("strength", v)?;
        } else if let Some(v) = lower.strip_prefix("below=") {
            once(&mut below, "timestep")?;
            spec.below = v.parse().map_err(|_| format!("{NAME}: below= takes a timestep, a whole number such as 400 (got `{v}`)"))?;
        } else if Pull::parse(&lower).is_some() {
            if pull && [spec.pull.as_str(), lower.as_str()].iter().all(|p| ["inversion", "photo"].contains(p)) && spec.pull != lower {
                return Err(format!("{NAME}: one pull; for the inversion and the photo write both"));
            }
            once(&mut pull, "pull")?;
            spec.pull = lower;
        } else if lower.parse::<f64>().is_ok() {
            once(&mut quantile, "quantile")?;
            spec.quantile = unit("quantile", &lower)?;
        } else {
            return Err(format!("{NAME} `{p}`: expected a quantile (0.7), a pull ({}), strength= or below=", Pull::NAMES.join(", ")));
        }
    }
    Ok(Some(spec))
}

/// `spec` as the field writes it: only what differs from the defaults.
pub fn write(spec: &ProxSpec) -> String {
    let mut out = spec.shrink.clone();
    if spec.quantile != QUANTILE {
        out += &format!(" {}", spec.quantile);
    }
    if spec.pull != "inversion" {
        out += &format!(" {}", spec.pull);
    }
    if spec.strength != STRENGTH {
        out += &format!(" strength={}", spec.strength);
    }
    if spec.below != BELOW {
        out += &format!(" below={}", spec.below);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_reads_the_default_settings_and_any_change_of_them() {
        assert_eq!(parse("  ").unwrap(), None);
        let paper = ProxSpec { shrink: "l0".into(), quantile: 0.7, pull: "inversion".into(), strength: 1.0, below: 400 };
        assert_eq!(parse("l0").unwrap(), Some(paper.clone()));
        assert_eq!(parse("L1, 0.6 photo strength=0.5 below=300").unwrap(), Some(ProxSpec { shrink: "l1".into(), quantile: 0.6, pull: "photo".into(), strength: 0.5, below: 300 }));
        for spec in [paper.clone(), ProxSpec { quantile: 0.75, pull: "none".into(), ..paper.clone() }, ProxSpec { shrink: "l1".into(), strength: 0.25, below: 250, pull: "both".into(), ..paper }] {
            assert_eq!(parse(&write(&spec)).unwrap(), Some(spec.clone()), "{}", write(&spec));
        }
        assert_eq!(write(&parse("l0").unwrap().unwrap()), "l0");
        assert_eq!(parse("l1 quantile=0.6 pull=photo strength=0.5 below=300").unwrap(), parse("l1 0.6 photo strength=0.5 below=300").unwrap(), "written out or not");
    }

    #[test]
    fn wrong_pieces_are_named() {
        for (typed, says) in [
            ("0.7", "starts with l0 or l1 (got `0.7`)"),
            ("l2", "starts with l0 or l1"),
            ("l0 1.5", "quantile must be a number in [0, 1] (got `1.5`)"),
            ("l0 0.6 0.7", "the quantile is given twice"),
            ("l0 photo both", "the pull is given twice"),
            ("l0 inversion photo", "one pull; for the inversion and the photo write both"),
            ("l0 quantile=photo", "quantile= takes a number in [0, 1] (got `photo`)"),
            ("l0 pull=0.6", "pull= takes one of inversion, photo, both, none (got `0.6`)"),
            ("l0 strength=2", "strength must be a number in [0, 1]"),
            ("l0 below=-3", "below= takes a timestep"),
            ("l0 dog", "`dog`: expected a quantile (0.7), a pull (inversion, photo, both, none)"),
        ] {
            let e = parse(typed).unwrap_err();
            assert!(e.contains(says), "{typed}: {e}");
        }
    }
}
