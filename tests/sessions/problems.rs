//! Damaged, foreign and unfinished sessions: what show, export, edit and resume say about them.

use super::*;

#[test]
fn damaged_sessions_give_clear_messages_and_keep_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let o = pivot(data, &invert_args(img.to_str().unwrap(), "d"));
    assert!(o.status.success(), "{}", text(&o));
    let sdir = data.join("sessions/d");
    let rel = manifest(data, "d").unwrap().item("cat").unwrap().inversion.as_ref().unwrap().file.clone().unwrap();
    // Another caption under a taken item id: refused before any work, naming the id.
    let mut again = invert_args(img.to_str().unwrap(), "d");
    again[3] = "a dog on a mat";
    let o = pivot(data, &again);
    assert!(!o.status.success() && text(&o).contains("session `d` already has an item `cat`") && text(&o).contains("with the caption \"a cat on a mat\" (this command's is \"a dog on a mat\")") && text(&o).contains("--item cat-2"), "{}", text(&o));
    // An id apart only in case would share its files on macOS: refused too.
    let pos = again.iter().position(|a| *a == "--item").unwrap();
    again[pos + 1] = "Cat";
    let o = pivot(data, &again);
    assert!(!o.status.success() && text(&o).contains("differs from only in case") && text(&o).contains("--item cat-2"), "{}", text(&o));
    // Truncated tensor file: the edit names it and what to do; nothing is deleted.
    let inv = sdir.join(&rel);
    let bytes = std::fs::read(&inv).unwrap();
    std::fs::write(&inv, &bytes[..bytes.len() / 3]).unwrap();
    let o = pivot(data, &["edit", "--session", "d", "--item", "cat", "--target", "a dog on a mat", "--device", "cpu"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&rel) && text(&o).contains("truncated") && text(&o).contains("no edit was queued"), "{}", text(&o));
    assert!(text(&o).contains("--restart cat") && !text(&o).contains("model tiny"), "named before the model loads: {}", text(&o));
    assert!(inv.exists());
    std::fs::write(&inv, &bytes).unwrap();
    // Missing image: reported by show; the rest of the session stays.
    let image = sdir.join("images/cat.png");
    let png = std::fs::read(&image).unwrap();
    std::fs::remove_file(&image).unwrap();
    let o = pivot(data, &["session", "show", "d"]);
    assert!(text(&o).contains("images/cat.png") && text(&o).contains("missing"), "{}", text(&o));
    // ...with what to do: the original is still there to add again, or the item goes.
    assert!(text(&o).contains(&format!("its original {} is still there", img.display())) && text(&o).contains("`pivot session rm d --item cat`"), "{}", text(&o));
    assert!(inv.exists());
    std::fs::write(&image, &png).unwrap();
    // Corrupt manifest: refused with a message; every file stays.
    let toml = sdir.join("session.toml");
    let good = std::fs::read(&toml).unwrap();
    std::fs::write(&toml, b"format_version = 1\nitems = [[[").unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("session.toml"), "{}", text(&o));
    assert!(inv.exists() && image.exists());
    // Scripts learn why on stdout too; the list's one line closes what it opens.
    let o = pivot(data, &["session", "show", "d", "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!o.status.success() && shown["name"] == "d" && shown["error"].as_str().is_some_and(|e| e.contains("session.toml")), "{}", text(&o));
    let o = pivot(data, &["session", "list"]);
    let line = String::from_utf8_lossy(&o.stdout).lines().find(|l| l.starts_with("d ")).unwrap_or_default().to_string();
    assert!(line.contains("cannot be opened") && line.matches('(').count() == line.matches(')').count(), "{line}");
    // A newer format is refused naming both versions.
    let newer = String::from_utf8(good.clone()).unwrap().replacen(&format!("format_version = {}", pivot::session::manifest::FORMAT_VERSION), "format_version = 7", 1);
    std::fs::write(&toml, newer).unwrap();
    let o = pivot(data, &["session", "show", "d"]);
    assert!(!o.status.success() && text(&o).contains('7') && text(&o).contains(&pivot::session::manifest::FORMAT_VERSION.to_string()), "{}", text(&o));
    std::fs::write(&toml, &good).unwrap();
    assert!(pivot(data, &["session", "show", "d"]).status.success());
    // A typo among --restart ids throws nothing away.
    let o = pivot(data, &["resume", "--session", "d", "--restart", "cat", "--restart", "cta", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("`cta`") && text(&o).contains("nothing was restarted"), "{}", text(&o));
    assert_eq!(completed(data, "d"), 12);
    // Files the manifest does not name (a user's own, a checkpoint a restored manifest does not
    // know) are moved under trash/ with a word, not deleted.
    std::fs::write(sdir.join("edits/my-copy.png"), &png).unwrap();
    std::fs::write(sdir.join("inversions/cat-99.safetensors"), &bytes).unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("moved aside") && text(&o).contains("edits/my-copy.png"), "{}", text(&o));
    assert!(sdir.join("trash/edits/my-copy.png").exists() && sdir.join("trash/inversions/cat-99.safetensors").exists());
    assert!(inv.exists() && image.exists());
    // --restart of a finished, whole inversion asks first (here: no terminal, so --yes).
    let before = std::fs::read(&inv).unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--restart", "cat", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("pass --yes") && text(&o).contains("nothing was restarted"), "{}", text(&o));
    assert_eq!(std::fs::read(&inv).unwrap(), before);
    // With it, the inversion runs again from the first timestep and the old checkpoint is set
    // aside under the name it really got (a name taken in trash/ gets `.1`).
    std::fs::create_dir_all(sdir.join("trash").join(&rel).parent().unwrap()).unwrap();
    std::fs::write(sdir.join("trash").join(&rel), b"an older one").unwrap();
    let o = pivot(data, &["resume", "--session", "d", "--restart", "cat", "--restart", "cat", "--yes", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains(&format!("kept as trash/{rel}.1")), "{}", text(&o));
    assert_eq!(text(&o).matches("kept as trash/").count(), 1, "an item named twice is restarted once: {}", text(&o));
    let rel = format!("{rel}.1");
    assert_eq!(std::fs::read(sdir.join("trash").join(&rel)).unwrap(), before);
    assert_eq!(completed(data, "d"), 12);
    // `session show` says what the trash holds and that it may go.
    // Its size in a unit that fits: a few small files are not `0.0 MB`.
    let trash_size = || pivot::human_size::human_size(pivot::session::gc::folder_size(&sdir.join("trash")).1);
    let o = pivot(data, &["session", "show", "d"]);
    assert!(o.status.success() && text(&o).contains(&format!("trash   4 file(s), {} in ", trash_size())) && text(&o).contains("`pivot session rm d --trash` deletes it"), "{}", text(&o));
    assert!(!text(&o).contains("0.0 MB"), "{}", text(&o));
    let o = pivot(data, &["session", "list"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("d ") && l.ends_with(&format!("  trash {}", trash_size()))), "session list names the trash: {}", text(&o));
    // A reconstruction cut short is named with its fix, and `resume` makes it again; a Mac's
    // `.DS_Store` (which Finder writes back) is left alone, neither refused nor moved.
    let recon = sdir.join("edits/cat-recon.png");
    let whole = std::fs::read(&recon).unwrap();
    std::fs::write(&recon, &whole[..whole.len() / 2]).unwrap();
    std::fs::write(sdir.join("images/.DS_Store"), b"finder").unwrap();
    let o = pivot(data, &["session", "show", "d"]);
    assert!(text(&o).contains("edits/cat-recon.png is truncated") && text(&o).contains("`pivot resume --session d` makes it again"), "{}", text(&o));
    let o = pivot(data, &["resume", "--session", "d", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("its reconstruction is queued to be made again") && !text(&o).contains(".DS_Store"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("item cat: reconstruction made from its null-text inversion (12 steps); "), "not said as an inversion: {}", text(&o));
    assert!(image::open(&recon).is_ok() && sdir.join("trash/edits/cat-recon.png").exists() && sdir.join("images/.DS_Store").exists());
    assert!(!text(&pivot(data, &["session", "show", "d"])).contains("problem"));
    // The trash is emptied on request (asked first: with no terminal, only with --yes), the
    // session's work untouched.
    let o = pivot(data, &["session", "rm", "d", "--trash"]);
    assert!(!o.status.success() && text(&o).contains("pass --yes") && sdir.join("trash/edits/cat-recon.png").exists(), "{}", text(&o));
    // A file the opening itself sets aside is shown, not deleted unseen.
    std::fs::write(sdir.join("edits/stray.png"), &png).unwrap();
    let o = pivot(data, &["session", "rm", "d", "--trash", "--yes"]);
    assert!(!o.status.success() && text(&o).contains("edits/stray.png") && text(&o).contains("nothing was deleted"), "{}", text(&o));
    assert!(sdir.join("trash/edits/stray.png").exists());
    let size = trash_size();
    let o = pivot(data, &["session", "rm", "d", "--trash", "--yes"]);
    assert!(o.status.success() && text(&o).contains("deleted the 6 file(s)") && text(&o).contains(&format!("({size})")) && !sdir.join("trash").exists(), "{}", text(&o));
    let o = pivot(data, &["session", "show", "d"]);
    assert!(o.status.success() && !text(&o).contains("trash") && !text(&o).contains("problem") && recon.exists(), "{}", text(&o));
    assert!(text(&pivot(data, &["session", "rm", "d", "--trash", "--yes"])).contains("nothing in trash/"));
    assert!(!pivot(data, &["session", "rm", "d", "--trash", "--item", "cat"]).status.success(), "--trash is about the trash only");
}

#[test]
fn session_names_and_item_ids_cannot_escape_the_sessions_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    for bad in ["../x", "/tmp/x", "a/b", "..", ".hidden", "x y", "é"] {
        let o = pivot(data, &["session", "new", bad]);
        assert!(!o.status.success() && text(&o).contains("not a valid session name"), "{bad}: {}", text(&o));
        let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "p", "--session", "ok", "--item", bad, "--steps", "2", "--device", "cpu"]);
        assert!(!o.status.success() && text(&o).contains("not a valid item id"), "{bad}: {}", text(&o));
    }
    assert!(!data.join("x").exists() && !data.join("sessions/a").exists());
    // Without --item, a session must have exactly one item to edit; with none, it says how to add one.
    assert!(pivot(data, &["session", "new", "empty"]).status.success());
    let o = pivot(data, &["edit", "--session", "empty", "--target", "a dog", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("session `empty` has no photos yet"), "{}", text(&o));
    // A folder that is not a model, or an empty revision, is refused when the session is made.
    let o = pivot(data, &["session", "new", "m1", "--model", data.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("expected a diffusers layout"), "{}", text(&o));
    let o = pivot(data, &["session", "new", "m2", "--model", "org/name@"]);
    assert!(!o.status.success() && text(&o).contains("revision after @ is empty"), "{}", text(&o));
    assert!(!data.join("sessions/m1").exists() && !data.join("sessions/m2").exists());
}

#[test]
fn a_moved_model_is_named_and_remembered_once_passed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let (old, new) = (data.join("models/sd"), data.join("elsewhere/sd"));
    common::copy_dir(&common::model_dir("tiny-sd"), &old);
    let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat on a mat", "--session", "mv", "--item", "cat", "--method", "ddim", "--steps", "2", "--device", "cpu", "--model", old.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("item cat: ddim over 2 steps; ") && !text(&o).contains("inner iterations"), "only null-text has inner iterations: {}", text(&o));
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    std::fs::rename(&old, &new).unwrap();
    let show = text(&pivot(data, &["session", "show", "mv"]));
    assert!(show.contains("is not there (moved or deleted?): pass --model with its place once (`pivot resume --session mv --model FOLDER`)"), "{show}");
    let edit = |extra: &[&str]| {
        let mut args = vec!["edit", "--session", "mv", "--item", "cat", "--target", "a dog on a mat", "--device", "cpu"];
        args.extend_from_slice(extra);
        pivot(data, &args)
    };
    let o = edit(&[]);
    assert!(!o.status.success() && text(&o).contains("if it moved, pass --model"), "{}", text(&o));
    let o = edit(&["--model", new.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("now uses the model at"), "{}", text(&o));
    assert_eq!(manifest(data, "mv").unwrap().model.source, std::fs::canonicalize(&new).unwrap().display().to_string());
    let o = edit(&[]);
    assert!(o.status.success(), "remembered: {}", text(&o));
    // With the edit made already, a --model of another fingerprint is still refused.
    let o = edit(&["--model", "tiny"]);
    assert!(!o.status.success() && text(&o).contains("fingerprint"), "{}", text(&o));
    // `resume --model` with nothing to run says so when it re-points the session too.
    let third = data.join("third/sd");
    std::fs::create_dir_all(third.parent().unwrap()).unwrap();
    std::fs::rename(&new, &third).unwrap();
    let o = pivot(data, &["resume", "--session", "mv", "--device", "cpu", "--model", third.to_str().unwrap()]);
    let (was, now) = (std::fs::canonicalize(new.parent().unwrap()).unwrap().join("sd"), std::fs::canonicalize(&third).unwrap());
    let said = format!("session `mv` now uses the model at {} (it was at {}; the same model)", now.display(), was.display());
    assert!(o.status.success() && text(&o).contains(&said) && text(&o).contains("nothing to resume"), "{}", text(&o));
    assert_eq!(manifest(data, "mv").unwrap().model.source, now.display().to_string());
}

#[test]
fn an_empty_session_says_how_to_add_a_photo_before_any_note() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    assert!(pivot(data, &["session", "new", "e", "--model", "tiny"]).status.success());
    let old = data.join("old.png");
    std::fs::write(&old, b"an earlier picture").unwrap();
    for args in [&["edit", "--session", "e", "--target", "a dog", "--out"][..], &["attention", "--session", "e", "--word", "cat", "--out"]] {
        let mut args = args.to_vec();
        args.push(old.to_str().unwrap());
        let o = pivot(data, &args);
        let t = text(&o);
        assert!(!o.status.success() && t.contains("session `e` has no photos yet: `pivot invert PHOTO --prompt \"…\" --session e` adds one"), "{args:?}: {t}");
        assert!(!t.contains("--item") && !t.contains("exists; it is replaced"), "{args:?}: {t}");
    }
    assert_eq!(std::fs::read(&old).unwrap(), b"an earlier picture");
}

/// `session show` on the v3 fixture: a failed inversion says why and how to try again, and the
/// session is only read.
#[test]
fn show_says_why_an_inversion_failed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let folder = data.join("sessions/holiday");
    std::fs::create_dir_all(&folder).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sessions/v3/session.toml");
    // A caption with quotes of its own.
    let toml = std::fs::read_to_string(&fixture).unwrap().replace(r#"prompt = "a dog running on the beach""#, r#"prompt = 'a "hot dog" on the beach'"#);
    std::fs::write(folder.join("session.toml"), &toml).unwrap();
    // The dog's photo copy is there (the cat's is not).
    std::fs::create_dir_all(folder.join("images")).unwrap();
    image::RgbImage::from_pixel(64, 64, image::Rgb([200, 150, 90])).save(folder.join("images/dog.png")).unwrap();
    let show = pivot(data, &["session", "show", "holiday"]);
    let out = text(&show);
    assert!(show.status.success(), "{out}");
    // Only the manifest was copied: its checkpoint is missing, so a plain resume would fail again.
    assert!(out.contains("17 of 50 steps, failed: loss is not finite at t=461 (NaN)") && out.contains("check the model (its file cannot be used: see below)"), "{out}");
    assert!(out.contains("is missing — `pivot resume --session holiday --restart dog` inverts it again"), "{out}");
    // Without its photo copy the cat cannot be inverted again: no restart is offered for it.
    assert!(out.contains("inversions/cat-3.safetensors is missing — its photo copy is lost too") && !out.contains("--restart cat"), "{out}");
    assert!(out.contains(r#"item dog: "a \"hot dog\" on the beach""#), "quotes inside a caption are escaped: {out}");
    // The cat's inversion finished but its file is missing: no plain resume is offered to make
    // its reconstruction (that would fail on the file), the problem below is pointed to instead.
    assert!(out.contains("done, but its file cannot be used: see below") && !out.contains("`pivot resume --session holiday` makes it"), "{out}");
    // An export says which inversions are unfinished (their files cannot be edited outside).
    let o = pivot(data, &["session", "export", "holiday", data.join("out").to_str().unwrap()]);
    assert!(text(&o).contains("item dog's inversion is unfinished (17 of 50 steps)"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(folder.join("session.toml")).unwrap(), toml, "only read");
}

/// A flipped byte inside an inversion's tensors is found by `session show` and named by
/// `session export`, with the way out, before an edit would stumble on it.
#[test]
fn show_and_export_name_an_inversion_whose_checksum_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let o = pivot(data, &invert_args(img.to_str().unwrap(), "s"));
    assert!(o.status.success(), "{}", text(&o));
    let rel = manifest(data, "s").unwrap().item("cat").unwrap().inversion.clone().unwrap().file.unwrap();
    let path = data.join("sessions/s").join(&rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 9;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let edit = pivot(data, &["edit", "--session", "s", "--target", "a dog on a mat", "--device", "cpu"]);
    assert!(!edit.status.success() && text(&edit).contains("--restart cat") && text(&edit).contains("no edit was queued"), "{}", text(&edit));
    let att = pivot(data, &["attention", "--session", "s", "--item", "cat", "--word", "cat", "--device", "cpu", "--out", data.join("att.png").to_str().unwrap()]);
    assert!(!att.status.success() && text(&att).contains("pivot resume --session s --restart cat"), "{}", text(&att));
    let show = pivot(data, &["session", "show", "s"]);
    assert!(text(&show).contains(&format!("problem: item cat: {rel} cannot be used")) && text(&show).contains("--restart cat"), "{}", text(&show));
    // The item points to that problem, not to a plain resume that would fail again; no edit was added.
    assert!(text(&show).contains("done, but its file cannot be used: see below") && !text(&show).contains("tries again") && !text(&show).contains("edit e1"), "{}", text(&show));
    let o = pivot(data, &["session", "export", "s", data.join("out").to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("warning: exported as it is: item cat"), "{}", text(&o));
    // Whole again, but under a caption changed by hand: the file was made for the old one.
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let toml = data.join("sessions/s/session.toml");
    let manifest_text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, manifest_text.replace("\"a cat on a mat\"", "\"a kitten on a mat\"")).unwrap();
    let show = pivot(data, &["session", "show", "s"]);
    assert!(text(&show).contains("it was made for the caption \"a cat on a mat\", not the item's \"a kitten on a mat\"") && text(&show).contains("--restart cat"), "{}", text(&show));
    // reconstruct refuses it too (it would load, and show another caption's picture).
    let o = pivot(data, &["reconstruct", "--session", "s", "--out", data.join("r.png").to_str().unwrap(), "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("made for the caption") && text(&o).contains("--restart cat"), "{}", text(&o));
    assert!(!data.join("r.png").exists());
    // A newer pivot's file is work, not damage: a restart asks first (here: no terminal).
    let key = b"\"format_version\":\"";
    let v = bytes.windows(key.len()).position(|w| w == key).expect("a version in the header") + key.len();
    bytes[v] = b'9';
    std::fs::write(&path, &bytes).unwrap();
    let o = pivot(data, &["resume", "--session", "s", "--restart", "cat", "--device", "cpu"]);
    assert!(!o.status.success() && text(&o).contains("a newer pivot wrote") && text(&o).contains("nothing was restarted"), "{}", text(&o));
    assert!(path.exists());
}

#[test]
fn a_direct_inversion_in_a_session_reconstructs_its_photo_and_is_edited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat on a mat", "--session", "d", "--item", "cat", "--method", "direct", "--steps", "4", "--device", "cpu", "--model", "tiny"]);
    assert!(o.status.success() && text(&o).contains("item cat: direct over 4 steps"), "{}", text(&o));
    // Exact by construction: the reconstruction is the VAE's round trip of the photo (up to float error).
    let psnr_rt = common::psnr_vs_round_trip(&text(&o)).expect("a PSNR against the VAE round trip");
    assert!(psnr_rt > 60.0, "{}", text(&o));
    let m = manifest(data, "d").unwrap();
    let inv = m.item("cat").unwrap().inversion.clone().unwrap();
    assert!(inv.is_done() && inv.method == "direct");
    let file = InversionFile::load(&data.join("sessions/d").join(inv.file.unwrap()), &Device::Cpu).unwrap();
    assert_eq!(file.offsets.as_ref().map(|o| o.dims().to_vec()), Some(vec![4, file.latents.dim(1).unwrap(), file.latents.dim(2).unwrap(), file.latents.dim(3).unwrap()]));
    let out = data.join("dog.png");
    let o = pivot(data, &["edit", "--session", "d", "--target", "a dog on a mat", "--blend", "cat,dog", "--device", "cpu", "--out", out.to_str().unwrap()]);
    assert!(o.status.success() && out.exists(), "{}", text(&o));

    let show = pivot(data, &["session", "show", "d"]);
    assert!(text(&show).contains("inversion direct (4 steps, guidance 7.5): done"), "{}", text(&show));
}

/// A run that leaves an item needing a hand says so last, and in its exit status (a script
/// running `resume` from cron must not read "finished" as "all is well").
#[test]
fn resume_ends_with_the_problems_left_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let mut dog = invert_args(img.to_str().unwrap(), "r");
    dog[7] = "dog";
    for args in [invert_args(img.to_str().unwrap(), "r"), dog] {
        let o = pivot(data, &args);
        assert!(o.status.success(), "{}", text(&o));
    }
    let m = manifest(data, "r").unwrap();
    let rel = m.item("dog").unwrap().inversion.clone().unwrap().file.unwrap();
    let path = data.join("sessions/r").join(&rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 9;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    // Something to run: cat's reconstruction, made again.
    std::fs::remove_file(data.join("sessions/r").join(m.item("cat").unwrap().reconstruction.clone().unwrap())).unwrap();
    let o = pivot(data, &["resume", "--session", "r", "--device", "cpu"]);
    let t = text(&o);
    assert!(o.status.code() == Some(1) && t.contains("job(s) finished") && t.contains(&format!("item dog: {rel} cannot be used")) && t.contains("the problems above need a hand"), "{t}");
}
