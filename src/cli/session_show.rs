//! `pivot session show NAME`: a session's items, prompts, inversions, edits, queue, trash and
//! problems, each with the command that deals with it.

use super::drive;
use pivot::human_size::human_size;
use pivot::session::manifest::Job;
use pivot::session::store::Session;

pub fn show(s: &Session) {
    let m = &s.manifest;
    println!("session {} ({})", m.name, s.dir.display());
    let hash = if m.model.hash.is_empty() { "not used yet" } else { m.model.hash.as_str() };
    println!("model   {} (fingerprint {hash})", m.model.source);
    let busy = pivot::session::lock::held_elsewhere(&s.dir);
    if let Some(pid) = &busy {
        // What follows is the last commit; the process at work may be steps further on.
        println!("busy    open in another pivot process{pid}: shown as it last saved; its running job may be further along");
    }
    let (file_problems, damaged) = (s.file_problems(), s.damaged_inversions());
    // Items whose inversion file cannot be used: a plain `resume` would fail the same way.
    let unusable = |id: &str| file_problems.iter().chain(&damaged).any(|p| p.item == id && p.file.starts_with("inversions/"));
    // An item whose photo copy is lost too cannot be inverted again: it is added again instead.
    let photo_lost = |id: &str| m.item(id).is_some_and(|it| file_problems.iter().any(|p| p.item == id && p.file == it.image));
    for it in &m.items {
        // Quoted as Rust does, so that a caption's own quotes cannot end it early.
        println!("item {}: {:?}  [{}]", it.id, it.prompt, it.original_path);
        if let Some(r) = &it.inversion {
            // Unfinished and off the queue: cancelled.
            let waiting = !m.queue.contains(&Job::Invert { item: it.id.clone() });
            let state = match (r.is_done(), waiting) {
                // A file that cannot be used comes first: no reconstruction can be made from it.
                (true, _) if unusable(&it.id) => "done, but its file cannot be used: see below".to_string(),
                // The inversion is whole; what failed after it was its reconstruction.
                (true, _) if it.reconstruction.is_none() && r.failure.is_some() => {
                    format!("done; its reconstruction failed: {} (`pivot resume --session {}` tries again)", r.failure.as_deref().unwrap_or_default(), m.name)
                }
                (true, false) if it.reconstruction.is_none() => "done; its reconstruction is queued".to_string(),
                (true, true) if it.reconstruction.is_none() => format!("done; its reconstruction is not made (stopped while sampling it): `pivot resume --session {}` makes it", m.name),
                (true, _) => "done".to_string(),
                (false, _) if r.failure.is_some() => {
                    let next = if unusable(&it.id) { "its file cannot be used: see below".to_string() } else { format!("`pivot resume --session {}` tries again", m.name) };
                    format!("{} of {} steps, failed: {} ({next})", r.completed_steps, r.steps, r.failure.as_deref().unwrap_or_default())
                }
                // A resume would stop on the file: the problem below says what to do instead.
                (false, true) if unusable(&it.id) => format!("{} of {} steps, not queued (cancelled); its file cannot be used: see below", r.completed_steps, r.steps),
                // Off the queue with nothing done: a new caption's (or cancelled before its first step).
                (false, true) if r.completed_steps == 0 => format!("not started, not queued: `pivot resume --session {}` runs it", m.name),
                (false, true) => format!("{} of {} steps, not queued (cancelled): `pivot resume --session {}` finishes it", r.completed_steps, r.steps, m.name),
                (false, false) => format!("{} of {} steps", r.completed_steps, r.steps),
            };
            println!("  inversion {} ({}): {state}", r.method, r.settings());
        }
        if let Some(p) = &it.reconstruction {
            match s.reconstruction_psnr(it) {
                Some(db) => println!("  reconstruction {p} (PSNR {} vs the photo)", pivot::edit::metrics::decibels(db, 2)),
                None => println!("  reconstruction {p}"),
            }
        }
        for e in &it.edits {
            let job = Job::Edit { item: it.id.clone(), edit: e.id.clone() };
            let out = match (&e.output, e.other_caption(&it.prompt), e.failure.as_deref()) {
                (Some(o), Some(old), _) => format!("{o} (made from the old caption {old:?})"),
                (Some(o), None, _) => o.clone(),
                (None, Some(old), _) => format!("not made: written for the old caption {old:?}, so it will not run (make a new edit, or `pivot session rm {} --item {} --edit {}`)", m.name, it.id, e.id),
                // Failed on its item's inversion file: a plain resume would fail it again.
                (None, None, Some(why)) if unusable(&it.id) => format!("failed: {why} (its item's inversion file cannot be used: see below)"),
                (None, None, Some(why)) => format!("failed: {why} (`pivot resume --session {}` tries again)", m.name),
                (None, None, None) if m.queue.contains(&job) => "queued".into(),
                (None, None, None) if unusable(&it.id) => "not queued (cancelled); its item's inversion file cannot be used: see below".into(),
                (None, None, None) => format!("not queued (cancelled): `pivot resume --session {}` finishes it", m.name),
            };
            println!("  edit {}: → {:?} ({}): {out}", e.id, e.spec.target, pivot::session::summary::edit_settings(&e.spec));
            if let Some(mask) = &e.blend_mask {
                match s.blend_mask_share(mask) {
                    Some(share) => println!("    blend mask {mask} (white where the edit could change the photo: {:.1}% of it)", share * 100.0),
                    None => println!("    blend mask {mask}"),
                }
            }
        }
    }
    if !m.queue.is_empty() {
        // One job a line, in the order `resume` runs them: a long queue stays readable.
        // While another process has the session, it is the one running them.
        match &busy {
            Some(pid) => println!("queue   {} job(s), run in this order by the pivot process{pid} that has the session open:", m.queue.len()),
            None => println!("queue   {} job(s), run in this order by `pivot resume --session {}`:", m.queue.len(), m.name),
        }
        for (i, job) in m.queue.iter().enumerate() {
            println!("  {:>3}. {}", i + 1, drive::describe(job));
        }
    }
    let (files, bytes) = s.trash_size();
    if files > 0 {
        let trash = s.dir.join(pivot::session::gc::TRASH_FOLDER);
        println!("trash   {files} file(s), {} in {} (set aside, never read again: `pivot session rm {} --trash` deletes it)", human_size(bytes), trash.display(), s.name());
    }
    // Neither the photo nor its inversion: the photo's line (listed first) says how to add it again.
    let way_out = |p: &pivot::session::check::FileProblem| match photo_lost(&p.item) {
        true => " — its photo copy is lost too (see above), so it cannot be inverted again".to_string(),
        false => s.inversion_way_out(p),
    };
    for p in &file_problems {
        // A lost picture is made again from what made it (not the photo, not an old caption's edit).
        let fix = match () {
            _ if s.can_remake(p) => format!(" — `pivot resume --session {}` makes it again", m.name),
            _ if p.file.starts_with("inversions/") => way_out(p),
            // The session's copy of the photo, which its work was made from.
            _ => match m.item(&p.item).filter(|it| it.image == p.file) {
                Some(it) => format!(" — put the copy back, or {}; `pivot session rm {} --item {}` removes this one", s.add_again(it), m.name, it.id),
                None => String::new(),
            },
        };
        println!("problem: {p}{fix}");
    }
    for p in s.queue_problems() {
        println!("problem: {p}");
    }
    // A model folder moved away is found only when a job loads it: said here already.
    if std::path::Path::new(&m.model.source).is_absolute() && !std::path::Path::new(&m.model.source).is_dir() {
        println!("problem: the model folder {} is not there (moved or deleted?): pass --model with its place once (`pivot resume --session {} --model FOLDER`); the session remembers it", m.model.source, m.name);
    }
    for p in &damaged {
        println!("problem: {p}{}", way_out(p));
    }
}
