//! An edit's blend mask among the selected item's results: browsed to after its edit, acted on
//! as the edit, never shown unasked, titled with how much of the photo it lets change.

use super::keymap::Action;
use super::results::{neighbour, shown_edit, shown_entry, shown_result};
use super::showcase::manifest;
use super::state::{Model, Pane};
use super::update::{update, Msg};
use super::view::dashboard::Graphics;
use super::view::dashboard_tests::render;
use crate::worker::Event;

/// The showcase session with cat's edit e1 made with blend words (and so a mask).
fn model_with_a_mask() -> Model {
    let mut man = manifest();
    man.items[0].edits[0].blend_mask = Some("edits/cat-e1-mask.png".into());
    let mut m = Model::new("kitchen", false);
    update(&mut m, Msg::Worker(Event::Manifest(Box::new(man))));
    m.focus = Pane::Preview;
    m
}

#[test]
fn the_mask_follows_its_edit_and_is_never_shown_unasked() {
    let mut m = model_with_a_mask();
    assert_eq!(shown_entry(&m).unwrap().key, "edit:e1", "the latest made edit, not its mask");
    update(&mut m, Msg::Action(Action::Down));
    let e = shown_entry(&m).unwrap();
    assert!(e.is_mask() && e.key == "mask:e1", "{e:?}");
    assert_eq!((shown_edit(&m).as_deref(), shown_result(&m).as_deref()), (Some("e1"), Some("edits/cat-e1-mask.png")), "d, x and e act on its edit; z zooms the mask");
    assert!(m.status.as_ref().unwrap().0.contains("showing the blend mask of edit e1 (white: where it could change the photo) (3/4)"), "{:?}", m.status);
    update(&mut m, Msg::Action(Action::Down));
    assert_eq!(shown_entry(&m).unwrap().key, "edit:e2");
    // Deleting e1 moves the pane on to e2, not to e1's mask, which goes with it.
    assert_eq!(neighbour(&m, "edit:e1").as_deref(), Some("edit:e2"));
    m.shown = Some("edit:e2".into());
    assert_eq!(neighbour(&m, "edit:e2").as_deref(), Some("mask:e1"), "the entry before e2");
}

#[test]
fn the_mask_is_titled_with_the_share_of_the_photo_it_lets_change() {
    let mut m = model_with_a_mask();
    m.shown = Some("mask:e1".into());
    let screen = |m: &Model| render(m, 120, 40, Graphics::None).backend().buffer().content().iter().map(|c| c.symbol()).collect::<String>();
    assert!(screen(&m).contains("cat · e1's blend mask ─"), "{}", screen(&m));
    // A quarter white.
    let mask = image::RgbImage::from_fn(8, 8, |x, y| if x < 4 && y < 4 { image::Rgb([255; 3]) } else { image::Rgb([0; 3]) });
    m.images.insert("edits/cat-e1-mask.png".into(), mask, &[]);
    assert!(screen(&m).contains("cat · e1's mask, 25% may change"), "{}", screen(&m));
}
