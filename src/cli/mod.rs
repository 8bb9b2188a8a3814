//! The command line (clap). Every subcommand is headless; `pivot` alone runs the built-in demo.

mod arg_errors;
mod attention;
mod bench;
mod bench_invert;
mod bench_tui;
mod completions;
mod demo;
mod device;
mod drive;
mod earlier_items;
mod edit;
mod edit_args;
mod invert;
mod inversion_model;
mod inversion_source;
mod model;
mod outputs;
mod progress;
mod reconstruct;
mod sample;
mod session;
mod session_json;
mod session_show;
mod session_rm;

use clap::{Parser, Subcommand};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(name = "pivot", version, about = "Edit real photographs with Stable Diffusion from a terminal (null-text inversion + Prompt-to-Prompt)")]
// The dashboard's options before a subcommand would be silently ignored: refuse them instead.
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub dashboard: DashboardArgs,
}

/// `pivot` alone opens the dashboard (on the last session, a configured model's, or the demo).
#[derive(clap::Args, Debug)]
pub struct DashboardArgs {
    /// Session to open in the dashboard (created when new).
    #[arg(long)]
    pub session: Option<String>,
    /// Model for a new session (a diffusers folder, `org/name[@rev]`, or `tiny`; default: `model` in config.toml).
    #[arg(long)]
    pub model: Option<String>,
    /// Pictures in the dashboard: auto, halfblock or none.
    #[arg(long)]
    pub graphics: Option<String>,
    /// Dashboard colours: default, light or ansi16 (or a theme.toml in the config folder).
    #[arg(long)]
    pub theme: Option<String>,
    #[arg(long, help = device::DEVICE_HELP)]
    pub device: Option<String>,
}

impl DashboardArgs {
    /// Whether any dashboard option was given.
    fn given(&self) -> bool {
        self.session.is_some() || self.model.is_some() || self.graphics.is_some() || self.theme.is_some() || self.device.is_some()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The headless demo with the random-weight `tiny` model, offline: text-to-image, then an
    /// inversion and an edit in a temporary session (what `pivot` alone runs when stdout is not a
    /// terminal; on a terminal `pivot` opens the dashboard).
    Demo,
    /// Inspect a model: layout, configs, parameter counts, resolution, device.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Invert a photo + caption: DDIM inversion and null-text (or NPI / plain DDIM) embeddings.
    Invert(invert::InvertArgs),
    /// Re-sample the photo from an inversion file.
    Reconstruct(reconstruct::ReconstructArgs),
    /// Prompt-to-Prompt edits of an inverted photo (swap, refine, re-weight words, local blend).
    Edit(edit::EditArgs),
    /// A source word's averaged cross-attention map (to choose blend words).
    Attention(attention::AttentionArgs),
    /// Sessions: photos, inversions and edits kept on disk (new, list, show, rm, export, import).
    Session {
        #[command(subcommand)]
        command: session::SessionCommand,
    },
    /// Finish a session's unfinished jobs (inversions continue from their last checkpoint).
    Resume(session::ResumeArgs),
    /// Text-to-image with DDIM and classifier-free guidance.
    Sample(sample::SampleArgs),
    /// Benchmarks: print timing and peak-memory rows.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// A completion script for bash, zsh, fish, elvish or PowerShell, printed to stdout.
    Completions(completions::CompletionsArgs),
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// What pivot finds in a model: files, configs, parameters, default resolution.
    Info(model::InfoArgs),
}

/// Parse the arguments and run; errors are printed with their causes and give exit code 1.
pub fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let cli = Cli::try_parse_from(&args).unwrap_or_else(|e| match arg_errors::negative_number(&e, &words) {
        Some(m) => {
            eprint!("{m}");
            std::process::exit(2)
        }
        None => e.exit(),
    });
    let dashboard = cli.command.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if !dashboard {
        pivot::signals::quiet_broken_pipe();
        exit_on_stdout_error();
    }
    let result = match cli.command {
        None if dashboard => {
            let d = cli.dashboard;
            pivot::tui::run(&pivot::tui::Options { session: d.session, model: d.model, graphics: d.graphics, theme: d.theme, device: d.device })
        }
        None if cli.dashboard.given() => Err(anyhow::anyhow!("the dashboard needs a terminal and stdout is not one; headless work: `pivot invert`, `pivot edit`, `pivot resume` (pivot --help)")),
        None | Some(Command::Demo) => demo::run(),
        Some(Command::Model { command: ModelCommand::Info(a) }) => model::info(&a),
        Some(Command::Sample(a)) => sample::run(&a),
        Some(Command::Invert(a)) => invert::invert(&a),
        Some(Command::Edit(a)) => edit::edit(&a),
        Some(Command::Attention(a)) => attention::attention(&a),
        Some(Command::Reconstruct(a)) => reconstruct::reconstruct(&a),
        Some(Command::Bench { command }) => bench::run(&command),
        Some(Command::Session { command }) => session::run(&command),
        Some(Command::Resume(a)) => session::resume(&a),
        Some(Command::Completions(a)) => completions::print(&a),
    };
    if result.is_err() {
        outputs::remove_unused_folders();
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast::<pivot::signals::Interrupted>() {
            Ok(stop) => {
                // stderr may be a terminal that hung up (SIGHUP): never panic on it.
                let _ = writeln!(std::io::stderr(), "{stop}");
                std::process::ExitCode::from(stop.exit_code())
            }
            Err(e) => {
                eprintln!("error: {}", pivot::error_text::said(&e));
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// `println!` panics when stdout cannot be written (a full disk, /dev/full): an error message
/// and exit 1 instead of a panic's 101. (A closed pipe ends the process quietly before this.)
fn exit_on_stdout_error() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.payload().downcast_ref::<String>().map(String::as_str).or_else(|| info.payload().downcast_ref::<&str>().copied()).unwrap_or("");
        if let Some(cause) = text.strip_prefix("failed printing to stdout: ") {
            eprintln!("error: cannot write to stdout: {cause}");
            std::process::exit(1);
        }
        previous(info);
    }));
}
