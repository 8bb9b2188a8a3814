//! A session's whole life through the binary: invert, edit, show, export, rm, and import.

use super::*;

#[test]
fn a_session_invert_then_edit_show_export_and_rm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let img = photo(data);
    let out = data.join("inv.safetensors");
    let mut args = invert_args(img.to_str().unwrap(), "s1");
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = pivot(data, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(InversionFile::load(&out, &Device::Cpu).unwrap().is_complete());
    let edited = data.join("dog.png");
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--target", "a cat on a rug", "--device", "cpu", "--out", edited.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(data.join("dog-1.png").exists() && data.join("dog-2.png").exists());
    let m = manifest(data, "s1").unwrap();
    let edits = &m.item("cat").unwrap().edits;
    assert_eq!(edits.len(), 2);
    assert!(edits.iter().all(|e| e.output.as_ref().is_some_and(|p| data.join("sessions/s1").join(p).exists())));
    let caption = m.item("cat").unwrap().prompt.as_str();
    assert!(edits.iter().all(|e| e.source_prompt.as_deref() == Some(caption)), "each edit records the caption it was made from");
    // The same command again makes nothing twice: its edits are taken up and copied out again.
    std::fs::remove_file(data.join("dog-2.png")).unwrap();
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--target", "a cat on a rug", "--device", "cpu", "--out", edited.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("edit e2 of cat has this target and these settings: it is made already"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("edit e2 of cat"), "a made edit is this command's result, on stdout: {}", text(&o));
    assert!(!text(&o).lines().any(|l| l.starts_with("model ")), "no model line when nothing runs: {}", text(&o));
    assert!(data.join("dog-2.png").exists());
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.len(), 2, "no edit added twice");
    // An edit whose picture was lost is said to be made again (and is), not to be used.
    std::fs::remove_file(data.join("sessions/s1/edits/cat-e2.png")).unwrap();
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a cat on a rug", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains("edit e2 of cat has this target and these settings: its edits/cat-e2.png is lost or damaged, so the edit is made again"), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("made already") && data.join("sessions/s1/edits/cat-e2.png").exists(), "{}", text(&o));
    let bad = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a big dog on a mat", "--device", "cpu"]);
    assert!(!bad.status.success() && text(&bad).contains("refine"), "{}", text(&bad));
    // One bad target among several queues none of them.
    let bad = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a cow on a mat", "--target", "a big dog on a mat", "--device", "cpu"]);
    assert!(!bad.status.success() && text(&bad).contains("no edit was queued"), "{}", text(&bad));
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.len(), 2);
    // --source-out gives the item's reconstruction (the edit's source branch).
    let src = data.join("source.png");
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a fox on a mat", "--device", "cpu", "--source-out", src.to_str().unwrap()]);
    assert!(o.status.success() && image::open(&src).is_ok(), "{}", text(&o));
    // `reconstruct` takes a session item as `edit` does: its replay is the session's reconstruction.
    let recon = data.join("recon.png");
    let o = pivot(data, &["reconstruct", "--session", "s1", "--item", "cat", "--device", "cpu", "--out", recon.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let stored = data.join("sessions/s1").join(manifest(data, "s1").unwrap().item("cat").unwrap().reconstruction.clone().unwrap());
    assert_eq!(image::open(&recon).unwrap().to_rgb8(), image::open(&stored).unwrap().to_rgb8());
    // One edit goes (asked for with --yes when there is no terminal), with its picture; a wrong id names the others.
    let fox = manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().find(|e| e.spec.target == "a fox on a mat").map(|e| (e.id.clone(), e.output.clone().unwrap())).unwrap();
    let o = pivot(data, &["session", "rm", "s1", "--item", "cat", "--edit", &fox.0]);
    assert!(!o.status.success() && text(&o).contains("pass --yes"), "{}", text(&o));
    // (--item may go when the session has one item; never does that make it the whole session.)
    let o = pivot(data, &["session", "rm", "s1", "--edit", "e99", "--yes"]);
    assert!(!o.status.success() && text(&o).contains("has no edit `e99` (its edits: e1, e2, e3)") && data.join("sessions/s1").exists(), "{}", text(&o));
    let o = pivot(data, &["session", "rm", "s1", "--item", "cat", "--edit", &fox.0, "--yes"]);
    assert!(o.status.success() && text(&o).contains(&format!("removed edit `{}` of item `cat`", fox.0)), "{}", text(&o));
    assert!(!data.join("sessions/s1").join(&fox.1).exists());
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.len(), 2);
    // Targets are kept on one line, as captions are.
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a cat\non a\trug", "--reweight", "rug=2", "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().any(|e| e.spec.target == "a cat on a rug"));
    // An edit with blend words keeps its mask beside its picture; --blend-mask copies it out.
    let mask = data.join("mask.png");
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--blend", "cat,dog", "--device", "cpu", "--blend-mask", mask.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("blend mask: white where the edit could change the photo, "), "{}", text(&o));
    let blended = manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().find(|e| e.spec.blend.is_some()).cloned().unwrap();
    let kept = blended.blend_mask.clone().unwrap();
    assert_eq!(kept, format!("edits/cat-{}-mask.png", blended.id));
    let px = image::open(&mask).unwrap().to_rgb8();
    assert_eq!(std::fs::read(&mask).unwrap(), std::fs::read(data.join("sessions/s1").join(&kept)).unwrap());
    assert_eq!(px.dimensions(), image::open(data.join("sessions/s1/images/cat.png")).unwrap().to_rgb8().dimensions(), "the photo's size");
    assert!(px.pixels().all(|p| p.0 == [0, 0, 0] || p.0 == [255, 255, 255]), "black and white");
    assert!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().filter(|e| e.spec.blend.is_none()).all(|e| e.blend_mask.is_none()));
    // A lost mask: the edit is made again (the same mask), its picture kept meanwhile.
    let session_mask = data.join("sessions/s1").join(&kept);
    let first = std::fs::read(&session_mask).unwrap();
    std::fs::remove_file(&session_mask).unwrap();
    let o = pivot(data, &["resume", "--session", "s1", "--device", "cpu"]);
    assert!(o.status.success() && text(&o).contains(&format!("{kept} is missing: edit {} is queued to be made again (its picture stays until then)", blended.id)), "{}", text(&o));
    assert_eq!(std::fs::read(&session_mask).unwrap(), first);
    assert_eq!(manifest(data, "s1").unwrap().item("cat").unwrap().edits.iter().find(|e| e.id == blended.id).unwrap().blend_mask.as_deref(), Some(kept.as_str()));
    // Steps the scheduler cannot give, and null-text at guidance 1, are refused before any item is made.
    let refused: [(&[&str], &str); 5] = [
        (&["--steps", "1000", "--method", "ddim"], "between 1 and 999"),
        (&["--guidance", "1"], "optimises nothing"),
        (&["--steps", "101"], "at most 100 steps (got 101)"),
        // Past f32's range the guided prediction is infinite.
        (&["--guidance", "1e39", "--method", "npi"], "--guidance must be a number from 1 to 1000 (got 1000000000000000000000000000000000000000)"),
        (&["--guidance", "inf"], "from 1 to 1000 (got inf)"),
    ];
    for (extra, why) in refused {
        let mut args = vec!["invert", img.to_str().unwrap(), "--prompt", "a cat", "--session", "s1", "--item", "refused", "--device", "cpu"];
        args.extend_from_slice(extra);
        let o = pivot(data, &args);
        assert!(!o.status.success() && text(&o).contains(why), "{extra:?}: {}", text(&o));
        assert!(manifest(data, "s1").unwrap().item("refused").is_none(), "{extra:?}");
    }
    let o = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat", "--session", "fresh", "--steps", "1000", "--method", "ddim", "--device", "cpu"]);
    assert!(!o.status.success() && !data.join("sessions/fresh").exists(), "a session made for a refused photo is not left empty: {}", text(&o));
    let att = data.join("att.png");
    // The session's only item needs no --item.
    let o = pivot(data, &["attention", "--session", "s1", "--word", "mat", "--device", "cpu", "--out", att.to_str().unwrap()]);
    assert!(o.status.success() && image::open(&att).is_ok(), "{}", text(&o));
    let show = pivot(data, &["session", "show", "s1"]);
    assert!(text(&show).contains("a dog on a mat") && text(&show).contains("done"), "{}", text(&show));
    assert!(text(&show).contains("reconstruction edits/cat-recon.png (PSNR ") && text(&show).contains(" dB vs the photo)"), "{}", text(&show));
    let list = pivot(data, &["session", "list"]);
    assert!(text(&list).contains("s1"), "{}", text(&list));
    // The same for scripts, as JSON on stdout.
    let json = |args: &[&str]| -> serde_json::Value {
        let o = pivot(data, args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
    };
    let listed = json(&["session", "list", "--json"]);
    let s1 = listed.as_array().unwrap().iter().find(|s| s["name"] == "s1").expect("s1 listed");
    assert!(s1["items"].as_u64() == Some(1) && s1["error"].is_null() && s1["trash_bytes"].is_u64(), "{s1}");
    let shown = json(&["session", "show", "s1", "--json"]);
    let cat = &shown["manifest"]["items"][0];
    assert!(cat["id"] == "cat" && cat["prompt"] == "a cat on a mat" && cat["inversion"]["completed_steps"] == cat["inversion"]["steps"], "{shown}");
    assert!(cat["edits"].as_array().is_some_and(|e| !e.is_empty()) && shown["problems"].as_array().is_some_and(|p| p.is_empty()), "{shown}");
    assert!(shown["reconstruction_psnr_db"]["cat"].as_f64().is_some_and(|db| db > 0.0), "{shown}");
    assert!(shown["blend_mask_share"]["cat"][&blended.id].as_f64().is_some_and(|s| (0.0..=1.0).contains(&s)), "{shown}");
    assert!(text(&show).contains(&format!("    blend mask {kept} (white where the edit could change the photo: ")), "{}", text(&show));
    let dest = data.join("export");
    let o = pivot(data, &["session", "export", "s1", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(dest.join("summary.md")).unwrap().contains("a dog on a mat"));
    assert!(dest.join(&kept).exists(), "the export has the mask under its session name");
    let summary = std::fs::read_to_string(dest.join("summary.md")).unwrap();
    assert!(summary.contains("- Reconstruction from the inversion: `reconstructions/cat.png` (PSNR ") && summary.contains(" dB vs the photo)"), "{summary}");
    assert!(summary.contains(&format!("blend mask `{kept}` (white where the edit could change the photo: ")), "{summary}");
    assert!(text(&show).contains("\"a cat on a rug\" (replace, cross 0.8, self 0.4, reweight rug 2)"), "{}", text(&show));
    let inside = data.join("sessions/copy");
    let o = pivot(data, &["session", "export", "s1", inside.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("inside the sessions folder") && !inside.exists(), "{}", text(&o));
    let again = pivot(data, &["resume", "--session", "s1", "--device", "cpu"]);
    assert!(again.status.success() && text(&again).contains("nothing to resume"), "{}", text(&again));
    // A --model given is checked even when there is nothing to run.
    let wrong = pivot(data, &["resume", "--session", "s1", "--model", "tiny:7", "--device", "cpu"]);
    assert!(!wrong.status.success() && text(&wrong).contains("fingerprint"), "{}", text(&wrong));
    let right = pivot(data, &["resume", "--session", "s1", "--model", "tiny", "--device", "cpu"]);
    assert!(right.status.success() && text(&right).contains("nothing to resume"), "{}", text(&right));
    let other = pivot(data, &["invert", img.to_str().unwrap(), "--prompt", "a cat", "--session", "s1", "--model", "tiny:7", "--steps", "2", "--device", "cpu"]);
    assert!(!other.status.success() && text(&other).contains("fingerprint"), "{}", text(&other));
    // An edit with no output that is not on the queue (cancelled in the dashboard) says so.
    let toml = data.join("sessions/s1/session.toml");
    let before = std::fs::read_to_string(&toml).unwrap();
    let cut = before.lines().filter(|l| !l.trim_start().starts_with("output = \"edits/")).collect::<Vec<_>>().join("\n");
    assert_ne!(cut, before.trim_end());
    std::fs::write(&toml, cut).unwrap();
    let show = pivot(data, &["session", "show", "s1"]);
    assert!(text(&show).contains("not queued (cancelled)") && !text(&show).contains(": queued"), "{}", text(&show));
    // The queue is listed one job a line, in the order resume runs it.
    assert!(before.contains("queue = []\n"), "{before}");
    std::fs::write(&toml, format!("{}\n[[queue]]\nkind = \"edit\"\nitem = \"cat\"\nedit = \"e1\"\n\n[[queue]]\nkind = \"invert\"\nitem = \"cat\"\n", before.replace("queue = []\n", ""))).unwrap();
    let show = pivot(data, &["session", "show", "s1"]);
    assert!(text(&show).contains("queue   2 job(s), run in this order by `pivot resume --session s1`:\n    1. edit e1 of cat\n    2. the inversion of cat\n"), "{}", text(&show));
    // An edit made before pivot kept masks (its record names none) is not made again for one.
    let maskless: Vec<&str> = before.lines().filter(|l| !l.trim_start().starts_with("blend_mask = ")).collect();
    std::fs::write(&toml, maskless.join("\n")).unwrap();
    let o = pivot(data, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--blend", "cat,dog", "--device", "cpu", "--blend-mask", mask.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains(&format!("edit {} was made before pivot kept blend masks; `pivot session rm s1 --item cat --edit {0}`", blended.id)), "a file asked for and not written fails the command: {}", text(&o));
    let o = pivot(data, &["session", "rm", "--yes", "s1"]);
    assert!(o.status.success() && !data.join("sessions/s1").exists(), "{}", text(&o));
}

#[test]
fn a_session_folder_is_imported_after_checks_and_never_half_made() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (here, there) = (a.path(), b.path());
    let img = photo(here);
    let o = pivot(here, &invert_args(img.to_str().unwrap(), "s1"));
    assert!(o.status.success(), "{}", text(&o));
    let src = here.join("sessions/s1");
    let before = std::fs::read(src.join("session.toml")).unwrap();
    let import = |args: &[&str]| pivot(there, &[&["session", "import"], args].concat());
    let o = import(&[src.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("imported session `s1`"), "{}", text(&o));
    let copy = there.join("sessions/s1");
    assert_eq!(std::fs::read(copy.join("session.toml")).unwrap(), before, "the manifest arrives as it was");
    assert_eq!(std::fs::read(src.join("session.toml")).unwrap(), before, "the source is only read");
    let inv = manifest(there, "s1").unwrap().item("cat").unwrap().inversion.clone().unwrap();
    assert!(inv.is_done() && copy.join(inv.file.unwrap()).is_file());
    // The imported session works: an edit of its inversion runs there.
    let o = pivot(there, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a mat", "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    // An output inside a session's folder, named directly or through a link, is refused.
    let link = there.join("link");
    std::os::unix::fs::symlink(there.join("sessions/s1"), &link).unwrap();
    for out in [copy.join("edits/mine.png"), link.join("edits/new/x.png")] {
        let o = pivot(there, &["edit", "--session", "s1", "--item", "cat", "--target", "a dog on a rug", "--device", "cpu", "--out", out.to_str().unwrap()]);
        assert!(!o.status.success() && text(&o).contains("inside session `s1`'s folder"), "{}", text(&o));
    }
    assert!(!copy.join("edits/new").exists(), "nothing made for the refused output");
    // Refusals leave nothing behind: a taken name, a folder that is no session, a newer format,
    // a session already in the sessions folder.
    let o = import(&[src.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("already exists") && text(&o).contains("--name"), "{}", text(&o));
    let o = import(&[here.to_str().unwrap(), "--name", "x"]);
    assert!(!o.status.success() && text(&o).contains("not a pivot session folder"), "{}", text(&o));
    let exported = here.join("exported");
    std::fs::create_dir_all(&exported).unwrap();
    std::fs::write(exported.join("summary.md"), "# pivot session").unwrap();
    let o = import(&[exported.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("is what `pivot session export` wrote, not a session"), "{}", text(&o));
    let o = import(&[here.join("nowhere").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("nowhere does not exist"), "{}", text(&o));
    let newer = here.join("newer");
    common::copy_dir(&src, &newer);
    let toml = String::from_utf8(before.clone()).unwrap().replacen(&format!("format_version = {}", pivot::session::manifest::FORMAT_VERSION), "format_version = 7", 1);
    std::fs::write(newer.join("session.toml"), toml).unwrap();
    let o = import(&[newer.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("newer"), "{}", text(&o));
    let o = import(&[copy.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("already in the sessions folder") && text(&o).contains("--name NEW"), "{}", text(&o));
    let mut left: Vec<String> = std::fs::read_dir(there.join("sessions")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["s1"], "refused imports made nothing");
    // Under another name, the copy is a session of that name.
    let o = import(&[src.to_str().unwrap(), "--name", "s2"]);
    assert!(o.status.success(), "{}", text(&o));
    let show = pivot(there, &["session", "show", "s2"]);
    assert!(text(&show).contains("session s2") && text(&show).contains("a cat on a mat"), "{}", text(&show));
    // A session of the sessions folder is copied as a new one under another name, its trash left behind.
    std::fs::create_dir_all(copy.join("trash")).unwrap();
    std::fs::write(copy.join("trash/old.png"), b"set aside").unwrap();
    let o = import(&[copy.to_str().unwrap(), "--name", "fork"]);
    assert!(o.status.success() && text(&o).contains("imported session `fork`"), "{}", text(&o));
    assert!(manifest(there, "fork").unwrap().item("cat").is_some() && !there.join("sessions/fork/trash").exists() && copy.join("trash/old.png").exists());
    // A photo linked from elsewhere arrives as the file; a session in use is not copied.
    let linked = here.join("linked");
    common::copy_dir(&src, &linked);
    let photo_rel = manifest(there, "s1").unwrap().item("cat").unwrap().image.clone();
    let kept = here.join("kept.png");
    std::fs::rename(linked.join(&photo_rel), &kept).unwrap();
    std::os::unix::fs::symlink(&kept, linked.join(&photo_rel)).unwrap();
    let o = import(&[linked.to_str().unwrap(), "--name", "s3"]);
    assert!(o.status.success() && !text(&o).contains("missing"), "{}", text(&o));
    assert_eq!(std::fs::read(there.join("sessions/s3").join(&photo_rel)).unwrap(), std::fs::read(&kept).unwrap());
    // A flipped byte in an inversion (checksum, not size) is said at import, with the way out.
    let flipped = here.join("flipped");
    common::copy_dir(&src, &flipped);
    let inv_rel = manifest(there, "s1").unwrap().item("cat").unwrap().inversion.clone().unwrap().file.unwrap();
    let mut bytes = std::fs::read(flipped.join(&inv_rel)).unwrap();
    let mid = bytes.len() - 100;
    bytes[mid] ^= 0x40;
    std::fs::write(flipped.join(&inv_rel), bytes).unwrap();
    let o = import(&[flipped.to_str().unwrap(), "--name", "s5"]);
    assert!(o.status.success() && text(&o).contains("cannot be used") && text(&o).contains("--restart cat"), "{}", text(&o));
    let _in_use = pivot::session::lock::SessionLock::acquire(&src, "s1").unwrap();
    let o = import(&[src.to_str().unwrap(), "--name", "s4"]);
    assert!(!o.status.success() && text(&o).contains("open in another pivot process"), "{}", text(&o));
    assert!(!there.join("sessions/s4").exists());
}
