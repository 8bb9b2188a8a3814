//! Tests of [`super`] (store.rs), kept apart so that the code stays short.

use super::*;
use crate::session::testing::{model, session_with_cat};

#[test]
fn only_pivots_own_temp_names_are_stale() {
    for ours in [".session.toml.tmp-123", ".cat-10.safetensors.tmp-9"] {
        assert!(is_stale_temp(ours), "{ours}");
    }
    for theirs in [".backup.tmp-old", ".my-favourite.tmp-v2.png", "x.tmp-1", ".tmp-1", ".a.tmp-"] {
        assert!(!is_stale_temp(theirs), "{theirs}");
    }
}

#[test]
fn a_locked_session_opens_read_only_and_cannot_be_changed_that_way() {
    let root = tempfile::tempdir().unwrap();
    let held = session_with_cat(root.path());
    assert!(Session::open(root.path(), "trip").is_err(), "the lock holds");
    let mut view = Session::open_read_only(root.path(), "trip").unwrap();
    assert_eq!(view.manifest, held.manifest);
    assert!(view.commit().unwrap_err().to_string().contains("read-only"));
    assert!(view.write_file("images/x.png", b"x").is_err() && !root.path().join("trip/images/x.png").exists());
}

#[test]
fn save_and_reopen_gives_the_same_manifest_and_bytes() {
    let root = tempfile::tempdir().unwrap();
    let s = session_with_cat(root.path());
    let tensor_bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    s.write_file("inversions/cat-1.safetensors", &tensor_bytes).unwrap();
    let mut s = s;
    s.manifest.items[0].inversion.as_mut().unwrap().file = Some("inversions/cat-1.safetensors".into());
    s.commit().unwrap();
    let saved = s.manifest.clone();
    drop(s);
    let s = Session::open(root.path(), "trip").unwrap();
    assert_eq!(s.manifest, saved);
    assert_eq!(std::fs::read(s.path("inversions/cat-1.safetensors").unwrap()).unwrap(), tensor_bytes);
    assert_eq!(std::fs::read(s.path("images/cat.png").unwrap()).unwrap(), crate::session::testing::png(7));
    assert!(s.dir.is_absolute());
}

#[test]
fn a_full_manifest_survives_commit_and_open() {
    for version in ["v1", "v3"] {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/sessions/{version}/session.toml"));
        let full = parse_manifest(&std::fs::read_to_string(&fixture).unwrap(), &fixture).unwrap();
        let root = tempfile::tempdir().unwrap();
        let mut s = Session::create(root.path(), "holiday", model()).unwrap();
        s.manifest = full;
        s.commit().unwrap();
        let saved = s.manifest.clone();
        drop(s);
        assert_eq!(Session::open(root.path(), "holiday").unwrap().manifest, saved, "{version}");
    }
}

#[test]
fn create_refuses_a_taken_name_and_open_a_missing_one() {
    let root = tempfile::tempdir().unwrap();
    drop(Session::create(root.path(), "trip", model()).unwrap());
    let e = Session::create(root.path(), "trip", model()).unwrap_err().to_string();
    assert!(e.contains("session `trip` already exists"), "{e}");
    let e = Session::open(root.path(), "nope").unwrap_err().to_string();
    assert!(e.starts_with("no session `nope` in ") && e.contains("pivot session list"), "{e}");
    assert!(Session::exists(root.path(), "trip") && !Session::exists(root.path(), "nope") && !Session::exists(root.path(), "../trip"));
    for bad in ["../x", "/etc", "a/b", ".."] {
        assert!(Session::create(root.path(), bad, model()).unwrap_err().to_string().contains("not a valid session name"));
        assert!(Session::open(root.path(), bad).unwrap_err().to_string().contains("not a valid session name"));
    }
}

#[test]
fn a_broken_manifest_names_the_copy_pivot_last_saved() {
    let root = tempfile::tempdir().unwrap();
    let s = session_with_cat(root.path());
    let path = s.dir.join(MANIFEST_FILE);
    drop(s);
    let saved = std::fs::read_to_string(&path).unwrap();
    assert_eq!(std::fs::read_to_string(path.with_file_name(MANIFEST_BACKUP)).unwrap(), saved);
    std::fs::write(&path, saved.replace("[[items]]", "[[items")).unwrap();
    let e = format!("{:#}", Session::open(root.path(), "trip").unwrap_err());
    assert!(e.contains("is not a valid session manifest") && e.contains(&format!("{MANIFEST_BACKUP} is what pivot last saved")) && e.contains("`cp "), "{e}");
    // Put back as the hint says, the session opens as it was.
    std::fs::copy(path.with_file_name(MANIFEST_BACKUP), &path).unwrap();
    assert_eq!(Session::open(root.path(), "trip").unwrap().manifest.items.len(), 1);
    // A manifest deleted outright is brought back the same way.
    std::fs::remove_file(&path).unwrap();
    let e = format!("{:#}", Session::open(root.path(), "trip").unwrap_err());
    assert!(e.contains("has no session.toml") && e.contains("`cp ") && e.contains("brings the session back"), "{e}");
}

#[test]
fn an_open_session_cannot_be_opened_twice() {
    let root = tempfile::tempdir().unwrap();
    let _s = Session::create(root.path(), "trip", model()).unwrap();
    let e = Session::open(root.path(), "trip").unwrap_err().to_string();
    assert!(e.contains("session `trip` is open in another pivot process") && e.contains("close it there first"), "{e}");
}

#[test]
fn a_newer_manifest_is_refused_and_left_as_it_was() {
    let root = tempfile::tempdir().unwrap();
    let s = session_with_cat(root.path());
    let path = s.dir.join(MANIFEST_FILE);
    drop(s);
    let (now, next) = (FORMAT_VERSION, FORMAT_VERSION + 1);
    let newer = std::fs::read_to_string(&path).unwrap().replace(&format!("format_version = {now}"), &format!("format_version = {next}"));
    std::fs::write(&path, &newer).unwrap();
    std::fs::remove_file(path.with_file_name(".lock")).unwrap();
    let e = Session::open(root.path(), "trip").unwrap_err().to_string();
    assert!(e.contains(&format!("format_version {next}")) && e.contains(&format!("reads up to {now}")) && e.contains("update pivot"), "{e}");
    assert!(!e.contains(MANIFEST_BACKUP), "the older copy is not offered in place of a newer pivot's: {e}");
    assert!(!path.with_file_name(".lock").exists(), "nothing is written into a newer session's folder");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);
}

#[test]
fn a_corrupt_manifest_is_reported_and_nothing_is_deleted() {
    let root = tempfile::tempdir().unwrap();
    let s = session_with_cat(root.path());
    let path = s.dir.join(MANIFEST_FILE);
    let good = std::fs::read(&path).unwrap();
    s.write_file("inversions/orphan-1.safetensors", b"x").unwrap();
    drop(s);
    // An unknown key would vanish at the next commit: refused like any other damage.
    let unknown = [good.clone(), b"\nmy_notes = \"keep me\"\n".to_vec()].concat();
    for bad in [b"\xff\xfe not toml [[[".to_vec(), good[..good.len() / 2].to_vec(), unknown] {
        std::fs::write(&path, &bad).unwrap();
        let e = Session::open(root.path(), "trip").unwrap_err().to_string();
        assert!(e.contains("session.toml is not a valid session manifest") && e.contains("fix or restore it"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), bad);
        assert!(root.path().join("trip/inversions/orphan-1.safetensors").exists(), "GC ran on a corrupt session");
        assert!(root.path().join("trip/images/cat.png").exists());
    }
}

#[test]
fn paths_outside_the_session_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let s = session_with_cat(root.path());
    for bad in ["../x", "/etc/passwd", "a/b", "..", "images/../../x", "images/a/b.png", "C:\\x", "images/ünï.png", "session.toml"] {
        assert!(s.path(bad).is_err(), "{bad}");
        assert!(s.write_file(bad, b"x").is_err(), "{bad}");
        assert!(s.remove_file(bad).is_err(), "{bad}");
    }
    assert_eq!(s.path("edits/cat-e1.png").unwrap(), s.dir.join("edits/cat-e1.png"));
}

#[test]
fn referenced_files_are_not_removed_and_other_models_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let s = session_with_cat(root.path());
    assert!(s.remove_file("images/cat.png").unwrap_err().to_string().contains("still references it"));
    s.remove_file("edits/never-written.png").unwrap();
    s.check_model(&model().hash).unwrap();
    let e = s.check_model("other").unwrap_err().to_string();
    assert!(e.contains("was made with model `tiny`"), "{e}");
}
