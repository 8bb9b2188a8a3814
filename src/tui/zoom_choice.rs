//! What `z` zooms: what the focused pane shows. In the preview pane the result browsed there;
//! elsewhere the x0 of a browsed timestep, a decoded x0 (just asked for with `f`), then the
//! result, then the live preview. The run's pictures when the run is the selected item's, or
//! from the loss pane, which shows the run (then the run's x0 comes before the selection's
//! result). Nothing made yet: the item's own photo.

use super::state::{Model, Pane};
use image::RgbImage;

/// The picture to zoom and its name; `result` is the selected item's result shown (a session
/// path), `open` reads a session file.
pub fn picture(m: &Model, result: Option<&str>, open: &dyn Fn(&str) -> Option<RgbImage>) -> Option<(RgbImage, String)> {
    let from_loss = m.focus == Pane::Loss;
    let selected = m.selected_item().map(|it| it.id.as_str());
    let run = m.run.as_ref().filter(|r| from_loss || selected == Some(r.item.as_str()));
    let browsed = run.zip(m.selected_step).and_then(|(r, s)| {
        let (p, t) = r.preview_at(s)?;
        Some(match r.decoded.as_ref().filter(|d| d.1 == t) {
            Some(d) => (d.0.clone(), format!("x0 at t={t}, decoded by the VAE")),
            None => (p.clone(), format!("x0 preview at t={t}")),
        })
    });
    let decoded = run.and_then(|r| r.decoded.as_ref().map(|d| (d.0.clone(), format!("x0 at t={}, decoded by the VAE", d.1))));
    let live = run.and_then(|r| r.preview.clone().map(|p| (p, format!("x0 preview at t={}", r.preview_t))));
    let made = || result.and_then(|r| Some((open(r)?, super::update::result_name(m, r))));
    let photo = || m.selected_item().and_then(|it| Some((open(&it.image)?, format!("the photo of {}", it.id))));
    let others = run.is_some_and(|r| selected != Some(r.item.as_str()));
    if m.focus == Pane::Preview {
        made().or(browsed).or(decoded).or(live).or_else(photo)
    } else if others {
        browsed.or(decoded).or(live).or_else(made).or_else(photo)
    } else {
        browsed.or(decoded).or_else(made).or(live).or_else(photo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::showcase::{picture as pic, running_model};

    #[test]
    fn from_the_loss_pane_another_items_run_is_zoomed_not_the_selections_photo() {
        let mut m = running_model(); // dog's inversion runs, with a live x0
        m.selected = m.items().iter().position(|i| i.id == "sky").unwrap();
        let open = |_: &str| Some(pic(4, 4));
        m.focus = Pane::Loss;
        let (_, what) = picture(&m, None, &open).unwrap();
        assert!(what.starts_with("x0 preview at t="), "{what}");
        m.focus = Pane::Session;
        let (_, what) = picture(&m, None, &open).unwrap();
        assert_eq!(what, "the photo of sky", "elsewhere the selection's own pictures");
    }
}
