//! `pivot invert` / `pivot reconstruct` from the command line, including bad input.

mod common;
use common::*;
use std::path::Path;
use std::process::Output;

fn pivot(args: &[&str]) -> Output {
    pivot_command().args(args).output().expect("pivot runs")
}

fn invert(image: &Path, prompt: &str, out: &Path, extra: &[&str]) -> Output {
    let model = model_dir("tiny-sd");
    let mut args = vec!["invert", image.to_str().unwrap(), "--prompt", prompt, "--model", model.to_str().unwrap(), "--device", "cpu", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    pivot(&args)
}

fn chunk(png: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(&body);
    png.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A PNG whose header claims `w`×`h` (valid chunk CRCs, no pixel data).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A 1×1 grey TIFF of one 32-bit float sample (what HDR tools write).
fn float_tiff() -> Vec<u8> {
    // (tag, type: 3 = SHORT, 4 = LONG, value); 273 is the pixel data's offset, after the IFD.
    let tags: [(u16, u16, u32); 10] = [(256, 3, 1), (257, 3, 1), (258, 3, 32), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 10 * 12 + 4), (277, 3, 1), (278, 3, 1), (279, 4, 4), (339, 3, 3)];
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (tag, kind, value) in tags {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes()); // a SHORT sits in the first two bytes
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&0.5f32.to_le_bytes());
    t
}

#[test]
fn bad_images_fail_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("inv.safetensors");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("notes.png", b"just some text".to_vec(), "not an image"),
        ("empty.png", png_header(0, 0), "empty.png"),
        ("huge.png", png_header(40000, 30000), "40000×30000"),
        // Past any memory limit: still the size message, not the decoder's limit error.
        ("vast.png", png_header(i32::MAX as u32, 1), "up to 16384 pixels a side"),
        ("float.tif", float_tiff(), "an image of a kind pivot cannot read: save it as a JPEG or an 8- or 16-bit PNG"),
    ];
    for (name, bytes, expect) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let o = invert(&p, "a cat", &out, &["--steps", "2"]);
        let t = text(&o);
        assert!(!o.status.success() && t.contains(name) && t.contains(expect) && !t.contains("panicked"), "{name}: {t}");
    }
    let o = invert(&dir.path().join("missing.jpg"), "a cat", &out, &["--steps", "2"]);
    assert!(!o.status.success() && text(&o).contains("missing.jpg"));
    assert!(!out.exists(), "nothing is written for bad input");
}

#[test]
fn invert_odd_images_and_reconstruct() {
    let dir = tempfile::tempdir().unwrap();
    // A grey, non-square image with alpha: cropped, resized, converted.
    let p = dir.path().join("grey.png");
    let mut img = image::GrayAlphaImage::new(200, 90);
    for (x, y, px) in img.enumerate_pixels_mut() {
        *px = image::LumaA([((x * 3 + y) % 256) as u8, 200]);
    }
    img.save(&p).unwrap();
    let out = dir.path().join("inv.safetensors");
    let recon = dir.path().join("recon.png");
    let long = vec!["word"; 90].join(" ");
    let o = invert(&p, &long, &out, &["--steps", "4", "--inner", "2", "--recon", recon.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("CLIP reads only the first 75") && t.contains("cropped to its centre 90×90 square") && !t.contains("centre-cropped and resized") && t.contains("PSNR"), "{t}");
    let again = dir.path().join("again.png");
    let o = pivot(&["reconstruct", out.to_str().unwrap(), "--model", model_dir("tiny-sd").to_str().unwrap(), "--device", "cpu", "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(image::open(&recon).unwrap().to_rgb8(), image::open(&again).unwrap().to_rgb8(), "reconstruct re-samples the same image");
    // An inversion made with another model (same shapes, other weights) is refused.
    let o = pivot(&["reconstruct", out.to_str().unwrap(), "--model", "tiny", "--device", "cpu", "--out", again.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("another model"), "{}", text(&o));
}

#[test]
fn edit_and_attention_commands() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.safetensors");
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &["--steps", "4", "--method", "npi", "--inner", "3"]);
    assert!(!o.status.success() && text(&o).contains("--inner is for --method null-text"), "an option the method ignores is refused: {}", text(&o));
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &["--steps", "4", "--method", "ddim", "--epsilon", "1e-3"]);
    assert!(!o.status.success() && text(&o).contains("--epsilon is for --method null-text"), "{}", text(&o));
    let loose = dir.path().join("loose.safetensors");
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &loose, &["--steps", "4", "--inner", "3", "--epsilon", "10"]);
    assert!(o.status.success() && text(&o).contains("warning: --epsilon 10 is far above") && text(&o).contains("4 inner iterations in all"), "an early stop that stops every step is said: {}", text(&o));
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &["--steps", "4", "--method", "npi"]);
    assert!(o.status.success() && text(&o).contains("method npi: 4 steps\n") && !text(&o).contains("inner iterations"), "only null-text has inner iterations: {}", text(&o));
    let inv_s = inv.to_str().unwrap().to_string();
    let out = dir.path().join("edit.png");
    let out_s = out.to_str().unwrap().to_string();
    let model = model_dir("tiny-sd").to_str().unwrap().to_string();
    let edit = |extra: &[&str]| {
        let mut args = vec!["edit", &inv_s, "--model", &model, "--device", "cpu", "--out", &out_s];
        args.extend_from_slice(extra);
        pivot(&args)
    };
    for (extra, expect) in [
        (vec!["--target", "a very colourful test pattern"], "--mode refine"),
        (vec!["--target", "a colourful test picture", "--blend", "cat,picture"], "\"cat\""),
        (vec!["--target", "a colourful test picture", "--reweight", "dog=2"], "\"dog\""),
        (vec!["--target", "a colourful test picture", "--reweight", "picture=1e40"], "between -100 and 100"),
        (vec!["--target", "a colourful test picture", "--blend-threshold", "0.5"], "--blend <BLEND>"),
        (vec!["--target", "a colourful test picture", "--reweight", "picture=inf"], "not a finite number"),
        (vec!["--target", "a colourful test picture", "--reweight", "picture=1e400"], "`1e400` is not a finite number"),
        (vec!["--target", "a colourful test picture", "--reweight", "picture=2", "--reweight", "Picture=3"], "given twice"),
        (vec!["--target", "a colourful test picture", "--cross-word", "picture=0.2", "--cross-word", "picture=0.9"], "cross-word: \"picture\" is given twice"),
        (vec!["--target", "a colourful  test pattern"], "the target is the source prompt"),
        (vec!["--target", "A Colourful TEST pattern"], "case and spacing do not count"),
        (vec!["--target", "a colourful test picture", "--self", "1.5"], "--self"),
        (vec!["--target", "a colourful test picture", "--cross=-0.1"], "--cross"),
        (vec!["--target", "a colourful test picture", "--cross-word", "picture=1.5"], "--cross-word picture=1.5: the fraction must be in [0, 1]"),
        (vec!["--target", "a colourful test picture", "--reweight", "picture=1000"], "re-weight picture=1000: values"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture 0.5"], "--blend-threshold 0.5"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern picture"], "a comma between the sides"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture 0.5 0.6"], "one threshold, after the words"),
        (vec!["--target", "a colourful test picture", "--blend", "test pattern,test photo"], "\"photo\" is not a word of \"a colourful test picture\""),
        (vec!["--target", "  "], "the target prompt is empty"),
        (vec!["--target", "a colourful test picture", "--target", "A colourful  test picture"], "--target \"A colourful test picture\" is given twice"),
        // A word named twice in other clothes (quotes, another Unicode form) is still one word.
        (vec!["--target", "a colourful test picture", "--reweight", "picture=2", "--reweight", "\u{201c}picture\u{201d}=5"], "given twice (as \"picture\")"),
        (vec!["--target", "a colourful test pattern", "--reweight", "pattern=1"], "a re-weight by 1 changes nothing"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-threshold", "1"], "at 1 no place would change"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-threshold", "0.99999999999"], "at 1 no place would change"),
        (vec!["--target", "a colourful test picture", "--blend-except", "test,test"], "--blend <BLEND>"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-except", "dog,test"], "--blend-except: \"dog\""),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-except", "test,test 0.5"], "--blend-except-threshold 0.5"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-except", "pattern, picture"], "names the blend words themselves"),
        (vec!["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-except", "test,test", "--blend-except-threshold", "1"], "at 1 nothing would be kept out"),
        (vec!["--target", "a colourful test picture", "--prox", "l2"], "[possible values: l0, l1]"),
        (vec!["--target", "a colourful test picture", "--prox-quantile", "0.5"], "--prox <PROX>"),
        (vec!["--target", "a colourful test picture", "--prox", "l0", "--prox-quantile", "1.5"], "proximal quantile must be in [0, 1] (got 1.5)"),
        (vec!["--target", "a colourful test picture", "--prox", "l1", "--prox-strength", "-1"], "pull strength must be in [0, 1] (got -1)"),
        (vec!["--target", "a colourful test picture", "--prox", "l0", "--prox-pull", "x0"], "[possible values: inversion, photo, both, none]"),
        (vec!["--target", "a colourful test picture", "--prox", "l0", "--prox-below", "1001"], "--prox-below 1001 is past this model's timesteps (0 to 999): it is a timestep, not a step"),
        // A control character in a word never reaches the terminal.
        (vec!["--target", "a colourful test picture", "--reweight", "\u{1b}]0;x\u{7}picture=2"], "\"]0;x picture\" is not a word"),
    ] {
        let o = edit(&extra);
        let t = text(&o);
        assert!(!o.status.success() && t.contains(expect) && !t.contains("panicked"), "{extra:?}: {t}");
    }
    let bare = dir.path().join("noext");
    let o = pivot(&["edit", &inv_s, "--model", &model, "--device", "cpu", "--out", bare.to_str().unwrap(), "--target", "a colourful test picture", "--target", "a colourful test photo"]);
    assert!(!o.status.success() && text(&o).contains("name a .png"), "an --out without extension is refused with several targets too: {}", text(&o));
    let o = edit(&["--target", "a colourful test picture", "--target", "a very colourful test pattern", "--mode", "refine", "--reweight", "colourful=2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("edit-1.png").exists() && dir.path().join("edit-2.png").exists());
    // Proximal guidance (the paper's pairing, on NPI) gives another picture than plain guidance.
    let picture = |extra: &[&str]| {
        let o = edit(&[&["--target", "a colourful test picture"], extra].concat());
        assert!(o.status.success(), "{extra:?}: {}", text(&o));
        image::open(&out).unwrap().to_rgb8()
    };
    let plain = picture(&[]);
    let o = edit(&["--target", "a colourful test picture"]);
    assert!(!text(&o).contains("came out the same") && !text(&o).contains("at no step"), "{}", text(&o));
    let o = edit(&["--target", "a colourful test picture", "--cross", "0.01"]);
    assert!(o.status.success() && text(&o).contains("warning: the cross-attention fraction 0.01") && text(&o).contains("replaces at no step"), "{}", text(&o));
    // Kept out everywhere, the edit is the reconstruction, and that is said.
    let o = edit(&["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-except", "test,test", "--blend-except-threshold", "0"]);
    assert!(o.status.success() && text(&o).contains("warning: the edit came out the same as the reconstruction: its blend mask let no place change"), "{}", text(&o));
    assert_ne!(picture(&["--prox", "l0"]), plain);
    let o = edit(&["--target", "a colourful test picture", "--prox", "l0", "--prox-pull", "none", "--prox-strength", "0.5"]);
    assert!(o.status.success() && text(&o).contains("--prox-strength and --prox-below change nothing"), "{}", text(&o));
    assert_ne!(picture(&["--prox", "l1", "--prox-pull", "both", "--prox-below", "1000"]), plain);
    let att = dir.path().join("att.png");
    let o = pivot(&["attention", &inv_s, "--model", &model, "--device", "cpu", "--word", "pattern", "--out", att.to_str().unwrap()]);
    assert!(o.status.success() && att.exists(), "{}", text(&o));
    // Several words: their maps summed (another map than the one word's).
    let both = dir.path().join("both.png");
    let o = pivot(&["attention", &inv_s, "--model", &model, "--device", "cpu", "--word", "test pattern", "--out", both.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("cross-attention of \"test pattern\""), "{}", text(&o));
    assert_ne!(image::open(&att).unwrap().to_rgb8(), image::open(&both).unwrap().to_rgb8());
    // LocalBlend's mask of the words instead of their map: black and white, less white at a higher threshold.
    let mask_of = |word: &str, th: &str| {
        let mask = dir.path().join(format!("mask-{word}-{th}.png"));
        let o = pivot(&["attention", &inv_s, "--model", &model, "--device", "cpu", "--word", word, "--blend-threshold", th, "--out", mask.to_str().unwrap()]);
        assert!(o.status.success() && text(&o).contains(&format!("LocalBlend's mask of \"{word}\" at threshold")), "{}", text(&o));
        let px = image::open(&mask).unwrap().to_rgb8();
        assert!(px.pixels().all(|p| p.0 == [0, 0, 0] || p.0 == [255, 255, 255]), "a mask is black and white");
        px
    };
    let white = |px: &image::RgbImage| px.pixels().filter(|p| p.0[0] == 255).count();
    // (The tiny model's random maps are nearly flat: only a threshold near 1 leaves some out.)
    let (low, high) = (white(&mask_of("pattern", "0.5")), mask_of("pattern", "0.99"));
    assert!(low > white(&high) && white(&high) > 0, "white pixels: {low} at 0.5, {} at 0.99", white(&high));
    assert_ne!(high, mask_of("colourful", "0.99"), "each word has its own region");
    // An edit's own mask (its last step's): with no target words, exactly the source side that
    // attention shows (an edit's source row samples as the reconstruction does); with them, that
    // region and theirs.
    let edit_mask = |blend: &str| {
        let mask = dir.path().join(format!("edit-mask-{}.png", blend.replace(',', "_")));
        let o = edit(&["--target", "a colourful test picture", "--blend", blend, "--blend-threshold", "0.99", "--blend-mask", mask.to_str().unwrap()]);
        assert!(o.status.success() && text(&o).contains("(the blend mask: white where the edit could change the photo, "), "{blend}: {}", text(&o));
        image::open(&mask).unwrap().to_rgb8()
    };
    assert_eq!(edit_mask("pattern,"), high, "the source side alone is attention's mask");
    let union = edit_mask("pattern,picture");
    assert!(high.pixels().zip(union.pixels()).all(|(s, u)| s.0[0] <= u.0[0]), "the target's words add to the source's region, never take from it");
    // Words kept out take their region from the mask, and add none.
    let except = dir.path().join("edit-mask-except.png");
    let o = edit(&["--target", "a colourful test picture", "--blend", "pattern,picture", "--blend-threshold", "0.99", "--blend-except", "colourful,colourful", "--blend-except-threshold", "0.9", "--blend-mask", except.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let except = image::open(&except).unwrap().to_rgb8();
    assert!(except.pixels().zip(union.pixels()).all(|(e, u)| e.0[0] <= u.0[0]), "a subset of the blend's region");
    assert!(white(&except) < white(&union), "something is kept out: {} of {}", white(&except), white(&union));
    let o = edit(&["--target", "a colourful test picture", "--blend-mask", "m.png"]);
    assert!(!o.status.success() && text(&o).contains("--blend <BLEND>"), "a mask needs blend words: {}", text(&o));
    let o = pivot(&["attention", &inv_s, "--model", &model, "--device", "cpu", "--word", "pattern", "--blend-threshold", "1", "--out", att.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("at 1 no place would change"), "{}", text(&o));
    let o = pivot(&["edit", &inv_s, "--model", "tiny", "--device", "cpu", "--target", "a colourful test picture", "--out", &out_s]);
    assert!(!o.status.success() && text(&o).contains("another model"), "{}", text(&o));
}

/// A copy of the tiny-sd fixture whose UNet weights are garbage: loading it fails, reading its
/// tokenizer does not.
fn model_with_broken_unet(dir: &Path) -> std::path::PathBuf {
    let copy = dir.join("broken-model");
    copy_dir(&model_dir("tiny-sd"), &copy);
    std::fs::write(copy.join("unet/diffusion_pytorch_model.safetensors"), b"not weights").unwrap();
    copy
}

#[test]
fn edit_words_are_checked_before_the_weights_load_and_odd_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.safetensors");
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &["--steps", "2", "--method", "ddim", "--guidance", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let (inv_s, out) = (inv.to_str().unwrap(), dir.path().join("edit.png"));
    let broken = model_with_broken_unet(dir.path());
    let broken_s = broken.to_str().unwrap();
    let edit = |extra: &[&str]| {
        let mut args = vec!["edit", inv_s, "--model", broken_s, "--device", "cpu", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        pivot(&args)
    };
    let o = edit(&["--target", "a colourful test picture", "--blend", "cat,picture"]);
    assert!(!o.status.success() && text(&o).contains("\"cat\"") && !text(&o).contains("unet"), "the word is named before the UNet is read: {}", text(&o));
    let o = edit(&["--target", "a colourful test picture", "--target", "a colourful test", "--reweight", "picture=2"]);
    assert!(!o.status.success() && text(&o).contains("target \"a colourful test\"") && !text(&o).contains("unet"), "{}", text(&o));
    let o = edit(&["--target", "a colourful test picture"]);
    assert!(!o.status.success() && text(&o).contains("unet"), "good words reach the model load, which fails: {}", text(&o));
    let att = dir.path().join("att.png");
    let o = pivot(&["attention", inv_s, "--model", broken_s, "--device", "cpu", "--word", "dog pattern bird", "--out", att.to_str().unwrap()]);
    assert!(text(&o).contains("\"dog\" is not a word of the source prompt; \"bird\" is not a word of the source prompt \"a colourful test pattern\""), "every missing word named: {}", text(&o));
    for words in ["dog", "pattern dog"] {
        let o = pivot(&["attention", inv_s, "--model", broken_s, "--device", "cpu", "--word", words, "--out", att.to_str().unwrap()]);
        assert!(!o.status.success() && text(&o).contains("\"dog\" is not a word") && !text(&o).contains("unet"), "{words}: {}", text(&o));
    }

    // An inversion at guidance 1 can be edited (the controller needs the unconditional rows too).
    let model = model_dir("tiny-sd");
    let o = pivot(&["edit", inv_s, "--model", model.to_str().unwrap(), "--device", "cpu", "--out", out.to_str().unwrap(), "--target", "a colourful test picture", "--blend", "pattern,picture"]);
    assert!(o.status.success() && out.exists(), "{}", text(&o));
    // Several words a side, or none on one side (an object added).
    for blend in ["test pattern,colourful picture", ",picture"] {
        std::fs::remove_file(&out).unwrap();
        let o = pivot(&["edit", inv_s, "--model", model.to_str().unwrap(), "--device", "cpu", "--out", out.to_str().unwrap(), "--target", "a colourful test picture", "--blend", blend]);
        assert!(o.status.success() && out.exists(), "{blend}: {}", text(&o));
    }

    // A hand-made file whose latents are not the model's size is refused with the sizes named.
    let dev = candle_core::Device::Cpu;
    let mut file = pivot::session::inversion_file::InversionFile::load(&inv, &dev).unwrap();
    file.latents = file.latents.narrow(2, 0, 6).unwrap().narrow(3, 0, 6).unwrap();
    let odd = dir.path().join("odd.safetensors");
    file.save(&odd).unwrap();
    let o = pivot(&["reconstruct", odd.to_str().unwrap(), "--model", model.to_str().unwrap(), "--device", "cpu", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("6×6 latents") && !text(&o).contains("panicked"), "{}", text(&o));
}

/// The fingerprint covers every byte of the weights (one changed value past the first MiB of a
/// file is another model), and files recorded with the older first-MiB fingerprint still work.
#[test]
fn a_model_with_one_changed_weight_is_another_model_and_old_fingerprints_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.safetensors");
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &["--steps", "2", "--method", "ddim"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("r.png");
    let reconstruct = |inv: &Path, model: &Path| pivot(&["reconstruct", inv.to_str().unwrap(), "--model", model.to_str().unwrap(), "--device", "cpu", "--out", out.to_str().unwrap()]);
    let changed = dir.path().join("changed-model");
    copy_dir(&model_dir("tiny-sd"), &changed);
    let weights = changed.join("unet/diffusion_pytorch_model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 2; // inside the last tensor's data (f32 high byte: a real change)
    bytes[last] ^= 0x01;
    std::fs::write(&weights, &bytes).unwrap();
    let o = reconstruct(&inv, &changed);
    assert!(!o.status.success() && text(&o).contains("fingerprint"), "{}", text(&o));
    // A failed command leaves no folder it made for its output.
    let fresh = dir.path().join("new");
    let o = pivot(&["reconstruct", inv.to_str().unwrap(), "--model", changed.to_str().unwrap(), "--device", "cpu", "--out", fresh.join("deeper/r.png").to_str().unwrap()]);
    assert!(!o.status.success() && !text(&o).contains("created the folder"), "a folder taken away again is not said to be made: {}", text(&o));
    assert!(!fresh.exists(), "the empty folders made for --out are gone");
    // A file from before whole-file fingerprints carries the first-MiB one: still this model.
    let model = model_dir("tiny-sd");
    let sd = pivot::sd::StableDiffusion::load(&pivot::sd::source::ModelSource::Dir(model.clone()), &candle_core::Device::Cpu).unwrap();
    let legacy = sd.legacy_fingerprint.clone().unwrap();
    assert_ne!(legacy, sd.fingerprint);
    let mut file = pivot::session::inversion_file::InversionFile::load(&inv, &candle_core::Device::Cpu).unwrap();
    file.meta.model_hash = legacy;
    let old = dir.path().join("old.safetensors");
    file.save(&old).unwrap();
    let o = reconstruct(&old, &model);
    assert!(o.status.success(), "{}", text(&o));
    // Writing over an earlier output is said before the work starts.
    let o = reconstruct(&old, &model);
    assert!(o.status.success() && text(&o).contains("exists; it is replaced"), "{}", text(&o));
}

/// `--fixed-point K`: NPI's reconstruction gets closer to the photo's round trip; a count far
/// past convergence is refused, and the file and `session show` keep it.
#[test]
fn fixed_point_inversion_brings_npi_closer_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let psnr = |extra: &[&str]| {
        let inv = dir.path().join("npi.safetensors");
        let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &[&["--steps", "4", "--method", "npi"], extra].concat());
        assert!(o.status.success(), "{extra:?}: {}", text(&o));
        let line = String::from_utf8_lossy(&o.stdout).lines().find(|l| l.contains("vs the VAE round trip")).unwrap().to_string();
        let db = psnr_vs_round_trip(&line).unwrap_or_else(|| panic!("a PSNR in {line}"));
        (db, pivot::session::inversion_file::InversionFile::load(&inv, &candle_core::Device::Cpu).unwrap().meta.fixed_point)
    };
    let (plain, none) = psnr(&[]);
    let (fixed, kept) = psnr(&["--fixed-point", "2"]);
    assert_eq!((none, kept), (0, 2));
    assert!(fixed > plain + 3.0, "{plain} dB plain, {fixed} dB with 2 fixed-point iterations");
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &dir.path().join("x.safetensors"), &["--fixed-point", "50"]);
    assert!(!o.status.success() && text(&o).contains("--fixed-point 50 is more than needed"), "{}", text(&o));
}

#[test]
fn a_direct_inversion_file_reconstructs_exactly_and_edits() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("direct.safetensors");
    let o = invert(&fixtures().join("reference/test_image.png"), "a colourful test pattern", &inv, &["--steps", "4", "--method", "direct"]);
    assert!(o.status.success() && text(&o).contains("method direct: 4 steps\n") && !text(&o).contains("inner iterations"), "{}", text(&o));
    // The reconstruction is the trajectory's x0: the VAE's round trip of the photo, up to float error.
    let line = String::from_utf8_lossy(&o.stdout).lines().find(|l| l.contains("vs the VAE round trip")).unwrap().to_string();
    let rt = psnr_vs_round_trip(&line).expect("a PSNR");
    assert!(rt > 60.0, "{line}");
    let model = model_dir("tiny-sd");
    let (inv_s, model_s) = (inv.to_str().unwrap(), model.to_str().unwrap());
    let again = dir.path().join("again.png");
    let o = pivot(&["reconstruct", inv_s, "--model", model_s, "--device", "cpu", "--out", again.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = dir.path().join("edit.png");
    let mask = dir.path().join("mask.png");
    let o = pivot(&["edit", inv_s, "--model", model_s, "--device", "cpu", "--target", "a colourful test picture", "--blend", "pattern,picture", "--out", out.to_str().unwrap(), "--blend-mask", mask.to_str().unwrap(), "--source-out", dir.path().join("source.png").to_str().unwrap()]);
    assert!(o.status.success() && out.exists() && mask.exists(), "{}", text(&o));
    // `reconstruct` and the edit's source row are the VAE's round trip of the photo (the offsets
    // keep them on the trajectory; without them plain DDIM drifts far off).
    let sd = pivot::sd::StableDiffusion::load(&pivot::sd::source::ModelSource::Dir(model.clone()), &candle_core::Device::Cpu).unwrap();
    let photo = pivot::sd::image::square(&pivot::sd::image::load_rgb(&fixtures().join("reference/test_image.png")).unwrap(), sd.resolution() as u32);
    let latent = sd.vae.encode(&pivot::sd::image::to_tensor(&photo, &candle_core::Device::Cpu).unwrap()).unwrap();
    let round_trip = pivot::sd::image::from_tensor(&sd.vae.decode(&latent).unwrap()).unwrap();
    let (a, b) = (image::open(&again).unwrap().to_rgb8(), image::open(dir.path().join("source.png")).unwrap().to_rgb8());
    assert!(pivot::edit::metrics::psnr(&a, &round_trip).unwrap() > 60.0, "{}", pivot::edit::metrics::psnr(&a, &round_trip).unwrap());
    assert!(pivot::edit::metrics::psnr(&b, &round_trip).unwrap() > 40.0, "{}", pivot::edit::metrics::psnr(&b, &round_trip).unwrap());
    let o = pivot(&["attention", inv_s, "--model", model_s, "--device", "cpu", "--word", "pattern", "--out", dir.path().join("att.png").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = pivot(&["edit", inv_s, "--model", model_s, "--device", "cpu", "--target", "a colourful test picture", "--prox", "l0", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("proximal guidance cannot edit a Direct Inversion") && text(&o).contains("--method npi"), "{}", text(&o));
}
