//! `summary.md` of an exported session: what was inverted and edited, with which settings, so that
//! a reader (or the user months later) can tell how each image came about.

use super::export::exported;
use super::check::FileProblem;
use super::inversion_file::InversionFile;
use super::manifest::{EditRecord, EditSpec, InversionRecord, Item, Job, WordValue};
use super::store::Session;
use std::fmt::Write;

/// A stored blend side in words: `cat`, `sports car`, or `nothing` (an added or removed object).
fn blend_side(side: &str) -> &str {
    if side.trim().is_empty() { "nothing" } else { side }
}

fn words(list: &[WordValue]) -> String {
    list.iter().map(|w| format!("{} {}", w.word, w.value)).collect::<Vec<_>>().join(", ")
}

/// One line about an inversion, with the inner iterations actually run when its file is readable.
fn inversion_line(session: &Session, item: &str, inv: &InversionRecord) -> String {
    let mut line = format!("{} ({}); {} of {} timesteps done", inv.method, inv.settings(), inv.completed_steps, inv.steps);
    if let Some(rel) = &inv.file {
        let loaded = session.path(rel).and_then(|p| InversionFile::load(&p, &candle_core::Device::Cpu));
        match loaded {
            Ok(f) => {
                // Only null-text optimises: the other methods' count would always be 0.
                if inv.method == "null-text" {
                    let _ = write!(line, "; {} inner iterations in all", f.iterations.iter().sum::<i64>());
                }
                let _ = write!(line, " (`{}`)", exported::inversion(item));
            }
            Err(e) => {
                let _ = write!(line, "; its file `{rel}` cannot be read: {e:#}");
            }
        }
    }
    line
}

/// An edit's settings in words: `replace, cross 0.8, self 0.4, blend cat → dog (threshold 0.3), …`.
pub fn edit_settings(s: &EditSpec) -> String {
    let mut line = format!("{}, cross {}, self {}", s.mode, s.cross, s.self_replace);
    if let Some([from, to]) = &s.blend {
        let _ = write!(line, ", blend {} → {} (threshold {})", blend_side(from), blend_side(to), s.blend_threshold);
    }
    if let Some(e) = &s.blend_except {
        let _ = write!(line, " except {} → {} (threshold {})", blend_side(&e.words[0]), blend_side(&e.words[1]), e.threshold);
    }
    if !s.cross_words.is_empty() {
        let _ = write!(line, ", cross words {}", words(&s.cross_words));
    }
    if !s.reweight.is_empty() {
        let _ = write!(line, ", reweight {}", words(&s.reweight));
    }
    if let Some(p) = &s.prox {
        let _ = write!(line, ", proximal {} (quantile {}", p.shrink, p.quantile);
        let _ = match p.pull.as_str() {
            "none" => write!(line, ")"),
            to => {
                let how_far = if p.strength == 1.0 { "all the way".to_string() } else { format!("{}% of the way", p.strength * 100.0) };
                write!(line, "; pulled {how_far} back to the {} below t={})", if to == "both" { "inversion and photo" } else { to }, p.below)
            }
        };
    }
    line
}

/// `` `name` `` of an exported file, or a word that it was left out (its session file `rel` is
/// among the `problems`; the Problems section says why).
fn exported_name(problems: &[FileProblem], rel: &str, name: String) -> String {
    match problems.iter().any(|p| p.file == rel) {
        false => format!("`{name}`"),
        true => format!("`{name}` (not exported: see Problems)"),
    }
}

/// A caption as Markdown shows it word for word: the characters that would start emphasis, a
/// code span, a link, HTML or a table cell are escaped (no caption starts a line here).
fn plain(text: &str) -> String {
    text.chars().fold(String::with_capacity(text.len()), |mut out, c| {
        if "\\`*_[]<>|~&".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// `text` as a Markdown code span, whose fence is longer than any run of backticks inside it.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

fn edit_line(session: &Session, problems: &[FileProblem], item: &Item, edit: &EditRecord) -> String {
    let mut line = format!("`{}`: \"{}\" — {}", edit.id, plain(&edit.spec.target), edit_settings(&edit.spec));
    match &edit.output {
        Some(out) => {
            let _ = write!(line, "; output {}", exported_name(problems, out, exported::edit(&item.id, &edit.id)));
            if let Some(mask) = &edit.blend_mask {
                let _ = write!(line, ", blend mask {}", exported_name(problems, mask, exported::blend_mask(&item.id, &edit.id)));
                if let Some(share) = session.blend_mask_share(mask) {
                    let _ = write!(line, " (white where the edit could change the photo: {:.1}% of it)", share * 100.0);
                }
            }
            if let Some(old) = edit.old_caption(&item.prompt) {
                let _ = write!(line, " (made from the old caption \"{}\")", plain(old));
            }
        }
        None => line.push_str("; not rendered yet"),
    }
    line
}

fn job_section(md: &mut String, title: &str, jobs: &[Job]) {
    if jobs.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## {title}\n");
    for job in jobs {
        let _ = match job {
            Job::Invert { item } => writeln!(md, "- invert item `{item}`"),
            Job::Edit { item, edit } => writeln!(md, "- edit `{edit}` of item `{item}`"),
        };
    }
}

/// The whole summary as Markdown; `problems` are the session's [`Session::file_problems`].
pub fn summary_markdown(session: &Session, problems: &[FileProblem]) -> String {
    let m = &session.manifest;
    let mut md = String::new();
    let _ = writeln!(md, "# pivot session `{}`\n", session.name());
    match m.model.hash.as_str() {
        "" => writeln!(md, "- Model: `{}` (not loaded yet)", m.model.source),
        hash => writeln!(md, "- Model: `{}` (fingerprint `{hash}`)", m.model.source),
    }
    .ok();
    let _ = writeln!(md, "- Items: {}; written by pivot {} (session format {})", m.items.len(), m.app_version, m.format_version);
    for item in &m.items {
        let _ = writeln!(md, "\n## Item `{}`\n", item.id);
        let _ = writeln!(md, "- Prompt: \"{}\"", plain(&item.prompt));
        let _ = writeln!(md, "- Original: {}", code(&item.original_path));
        let _ = writeln!(md, "- Image: {}", exported_name(problems, &item.image, exported::image(&item.id)));
        if let Some(recon) = &item.reconstruction {
            let db = session.reconstruction_psnr(item).filter(|db| db.is_finite()).map(|db| format!(" (PSNR {db:.2} dB vs the photo)")).unwrap_or_default();
            let _ = writeln!(md, "- Reconstruction from the inversion: {}{db}", exported_name(problems, recon, exported::reconstruction(&item.id)));
        }
        match &item.inversion {
            Some(inv) => {
                let _ = writeln!(md, "- Inversion: {}", inversion_line(session, &item.id, inv));
            }
            None => md.push_str("- Inversion: none yet\n"),
        }
        if item.edits.is_empty() {
            md.push_str("- Edits: none\n");
        } else {
            md.push_str("- Edits:\n");
            for edit in &item.edits {
                let _ = writeln!(md, "  - {}", edit_line(session, problems, item, edit));
            }
        }
    }
    job_section(&mut md, "Queued (`pivot resume` runs these)", &m.queue);
    job_section(&mut md, "Unfinished, not queued (cancelled; `pivot resume` finishes these too)", &m.unqueued_work());
    let lines: Vec<String> = problems.iter().map(ToString::to_string).chain(session.queue_problems()).collect();
    if !lines.is_empty() {
        md.push_str("\n## Problems\n\n");
        for p in lines {
            let _ = writeln!(md, "- {p}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_are_shown_as_written_not_as_markdown() {
        assert_eq!(plain("a *cat* on a_mat [x](y) <b> `z` a|b ~~c~~ & \\"), "a \\*cat\\* on a\\_mat \\[x\\](y) \\<b\\> \\`z\\` a\\|b \\~\\~c\\~\\~ \\& \\\\");
        assert_eq!(plain("a cat on a sofa."), "a cat on a sofa.");
        assert_eq!(code("/photos/cat.jpg"), "`/photos/cat.jpg`");
        assert_eq!(code("/my `best` cat.jpg"), "``/my `best` cat.jpg``");
        assert_eq!(code("`odd``"), "``` `odd`` ```");
    }

    #[test]
    fn a_blend_side_without_words_reads_as_nothing() {
        let spec = EditSpec { target: "a cat with a hat".into(), mode: "refine".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some([String::new(), "red hat".into()]), blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        assert_eq!(edit_settings(&spec), "refine, cross 0.8, self 0.4, blend nothing → red hat (threshold 0.3)");
    }

    #[test]
    fn proximal_guidance_is_said_with_its_pull() {
        let spec = EditSpec { target: "a cat with a hat".into(), mode: "refine".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some([String::new(), "red hat".into()]), blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let prox = |pull: &str| crate::session::manifest::ProxSpec { shrink: "l0".into(), quantile: 0.7, pull: pull.into(), strength: 1.0, below: 400 };
        let spec = EditSpec { prox: Some(prox("inversion")), ..spec };
        assert!(edit_settings(&spec).ends_with("(threshold 0.3), proximal l0 (quantile 0.7; pulled all the way back to the inversion below t=400)"), "{}", edit_settings(&spec));
        let spec = EditSpec { prox: Some(prox("none")), ..spec };
        assert!(edit_settings(&spec).ends_with(", proximal l0 (quantile 0.7)"), "{}", edit_settings(&spec));
        let except = crate::session::manifest::BlendExcept { words: ["hat".into(), "hat".into()], threshold: 0.4 };
        let spec = EditSpec { prox: None, blend_except: Some(except), ..spec };
        assert!(edit_settings(&spec).ends_with("blend nothing → red hat (threshold 0.3) except hat → hat (threshold 0.4)"), "{}", edit_settings(&spec));
    }
}
