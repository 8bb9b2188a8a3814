//! The sessions folder when things go wrong around it: removals and imports cut short, a create
//! that cannot write, a data folder that is a file, `session rm` with nobody to ask, and a
//! restart whose photo is gone. Through the real binary, each in its own data folder.

mod common;

use common::{fixtures, pivot_command, text};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Above any pid Linux hands out: the process that left a folder so named is certainly gone.
const DEAD_PID: u32 = 999_999_999;

fn cmd(data: &Path, args: &[&str]) -> Command {
    let mut c = pivot_command();
    c.args(args).env("PIVOT_DATA_DIR", data).env("HOME", data);
    c
}

fn pivot(data: &Path, args: &[&str]) -> Output {
    cmd(data, args).output().expect("pivot runs")
}

fn sessions(data: &Path) -> PathBuf {
    data.join("sessions")
}

/// A fresh session `name` with no items (no model work).
fn new_session(data: &Path, name: &str) {
    let o = pivot(data, &["session", "new", name, "--model", "tiny"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A folder with a file in it, as a killed pivot would leave one.
fn leftover(dir: &Path) {
    std::fs::create_dir_all(dir.join("inversions")).unwrap();
    std::fs::write(dir.join("inversions/x-1.safetensors"), vec![7u8; 4096]).unwrap();
}

#[test]
fn rm_moves_the_session_aside_first_and_leftovers_are_finished_later() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    new_session(data, "kitchen");
    // What a kill -9 or power cut during the deletion leaves: no longer under the session's name.
    let interrupted = sessions(data).join(format!(".removing-kitchen-{DEAD_PID}"));
    leftover(&interrupted);
    let o = pivot(data, &["session", "rm", "kitchen", "--yes"]);
    assert!(o.status.success() && text(&o).contains("removed session `kitchen`"), "{}", text(&o));
    assert!(text(&o).contains(&format!("removed {}", interrupted.display())) && text(&o).contains("interrupted `pivot session rm`"), "{}", text(&o));
    let left: Vec<_> = std::fs::read_dir(sessions(data)).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    // The name is free at once.
    new_session(data, "kitchen");
    // A deletion that fails halfway says what is left and that it is no session any more
    // (file permissions do not stop root, so only another user can see it fail).
    if unsafe { libc::geteuid() } != 0 {
        let inv = sessions(data).join("kitchen/inversions");
        leftover(&sessions(data).join("kitchen"));
        std::fs::set_permissions(&inv, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        let o = pivot(data, &["session", "rm", "kitchen", "--yes"]);
        let msg = text(&o);
        assert!(!o.status.success() && msg.contains("is removed (its name is free again)") && msg.contains(".removing-kitchen-") && msg.contains("delete it by hand"), "{msg}");
        assert!(!sessions(data).join("kitchen").exists());
        let aside = std::fs::read_dir(sessions(data)).unwrap().next().unwrap().unwrap().path();
        std::fs::set_permissions(aside.join("inversions"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let o = pivot(data, &["session", "list"]);
        assert!(o.status.success() && text(&o).contains("removed") && !aside.exists(), "{}", text(&o));
    }
}

#[test]
fn rm_without_a_terminal_needs_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    new_session(data, "cc");
    let mut child = cmd(data, &["session", "rm", "cc"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // pivot may refuse and exit before reading: a closed pipe is no failure here.
    let _ = child.stdin.take().unwrap().write_all(b"n\n");
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success() && text(&o).contains("pass --yes") && text(&o).contains("was not removed"), "{}", text(&o));
    assert!(sessions(data).join("cc/session.toml").is_file());
    let o = pivot(data, &["session", "rm", "cc", "--yes"]);
    assert!(o.status.success() && !sessions(data).join("cc").exists(), "{}", text(&o));
}

/// The process may write only a few bytes per file, as on a full disk; SIGXFSZ is ignored (an
/// ignored signal stays so across exec), so an over-long write fails with EFBIG instead.
fn tiny_file_limit(c: &mut Command) -> &mut Command {
    unsafe {
        c.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        })
    }
}

#[test]
fn a_create_that_cannot_write_leaves_no_folder_and_an_interrupted_one_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    std::fs::create_dir_all(sessions(data)).unwrap();
    let o = tiny_file_limit(&mut cmd(data, &["session", "new", "full", "--model", "tiny"])).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("session `full` was not created (nothing of it was left behind)"), "{}", text(&o));
    assert!(!sessions(data).join("full").exists());
    let photo = fixtures().join("reference/test_image.png");
    let args = ["invert", photo.to_str().unwrap(), "--prompt", "a photo", "--session", "z", "--steps", "2", "--device", "cpu"];
    let o = tiny_file_limit(&mut cmd(data, &args)).output().unwrap();
    assert!(!o.status.success() && text(&o).contains("was not created"), "{}", text(&o));
    assert!(!sessions(data).join("z").exists(), "{}", text(&o));
    // What a kill -9 between making the folder and the first commit leaves.
    let half = sessions(data).join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join(".lock"), "123\n").unwrap();
    std::fs::write(half.join(".session.toml.tmp-123"), "form").unwrap();
    for args in [&["session", "list"][..], &["session", "show", "half"]] {
        let o = pivot(data, args);
        let msg = text(&o);
        assert!(msg.contains("creation was interrupted") && msg.contains("nothing in it to lose") && !msg.contains("restore the file"), "{args:?}: {msg}");
    }
    let o = pivot(data, &["session", "rm", "half"]);
    assert!(o.status.success() && !half.exists(), "{}", text(&o));
}

#[test]
fn stale_import_staging_folders_are_collected() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    new_session(a.path(), "trip");
    let data = b.path();
    let stale = [".import-trip.tmp-", ".import-old.tmp-"].map(|p| sessions(data).join(format!("{p}{DEAD_PID}")));
    leftover(&stale[0]);
    let src = sessions(a.path()).join("trip");
    let o = pivot(data, &["session", "import", src.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("imported session `trip`"), "{}", text(&o));
    assert!(text(&o).contains(&format!("removed {}", stale[0].display())) && text(&o).contains("interrupted `pivot session import`"), "{}", text(&o));
    assert!(!stale[0].exists());
    leftover(&stale[1]);
    let o = pivot(data, &["session", "list"]);
    assert!(o.status.success() && text(&o).contains("trip") && !stale[1].exists(), "{}", text(&o));
    assert!(text(&o).contains(".import-old.tmp-"), "one line says what went: {}", text(&o));
}

#[test]
fn a_data_dir_that_is_a_file_is_named_before_anything_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("data");
    std::fs::write(&file, "not a folder").unwrap();
    let photo = fixtures().join("reference/test_image.png");
    let o = pivot(&file, &["invert", photo.to_str().unwrap(), "--prompt", "a photo", "--session", "z", "--steps", "2", "--device", "cpu"]);
    let msg = text(&o);
    assert!(!o.status.success() && !msg.contains("new session"), "{msg}");
    assert!(msg.contains(&format!("{} is a file, not a folder", file.display())) && msg.contains("PIVOT_DATA_DIR"), "{msg}");
    // A photo that cannot be read makes no session (said, then taken away again).
    let data = tmp.path().join("good");
    let junk = tmp.path().join("junk.png");
    std::fs::write(&junk, b"not a picture").unwrap();
    let o = pivot(&data, &["invert", junk.to_str().unwrap(), "--prompt", "a photo", "--session", "z", "--steps", "2", "--device", "cpu"]);
    let msg = text(&o);
    assert!(!o.status.success() && msg.contains("junk.png") && !msg.contains("new session"), "{msg}");
    assert!(!sessions(&data).join("z").exists());
}

#[test]
fn a_restart_whose_photo_is_gone_discards_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let photo = fixtures().join("reference/test_image.png");
    let o = pivot(data, &["invert", photo.to_str().unwrap(), "--prompt", "a photo", "--session", "s", "--steps", "2", "--device", "cpu"]);
    assert!(o.status.success(), "{}", text(&o));
    let dir = sessions(data).join("s");
    let manifest = std::fs::read_to_string(dir.join("session.toml")).unwrap();
    let image = dir.join("images/test-image.png");
    let kept = std::fs::read(&image).unwrap();
    std::fs::remove_file(&image).unwrap();
    let o = pivot(data, &["resume", "--session", "s", "--restart", "test-image", "--device", "cpu"]);
    let msg = text(&o);
    assert!(!o.status.success() && msg.contains("images/test-image.png") && msg.contains("nothing was restarted"), "{msg}");
    assert!(msg.contains(&format!("its original {} is still there", photo.display())) && !msg.contains("restarts from the beginning"), "{msg}");
    assert_eq!(std::fs::read_to_string(dir.join("session.toml")).unwrap(), manifest, "the manifest is as it was");
    assert!(!dir.join("trash").exists());
    assert!(msg.contains("(its inversion is kept)"), "{msg}");
    // The checkpoint lost as well: show offers no restart that would be refused, nor is it "kept".
    for e in std::fs::read_dir(dir.join("inversions")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let shown = text(&pivot(data, &["session", "show", "s"]));
    assert!(shown.contains("done, but its file cannot be used") && shown.contains("its photo copy is lost too") && !shown.contains("--restart"), "{shown}");
    let msg = text(&pivot(data, &["resume", "--session", "s", "--restart", "test-image", "--device", "cpu"]));
    assert!(msg.contains("nothing was restarted") && !msg.contains("kept"), "{msg}");
    // With the photo back and the checkpoint lost, the restart runs and does not claim to keep it.
    std::fs::write(&image, kept).unwrap();
    let o = pivot(data, &["resume", "--session", "s", "--restart", "test-image", "--device", "cpu"]);
    let msg = text(&o);
    assert!(o.status.success() && msg.contains("was missing") && !msg.contains("kept as trash"), "{msg}");
}
