//! `pivot completions SHELL`: the shell's completion script for pivot's commands and flags,
//! printed for the user to install (it is made from the same definitions the parser uses).

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
#[command(after_help = "Install it where the shell looks, e.g.:
  bash  pivot completions bash > ~/.local/share/bash-completion/completions/pivot
  zsh   pivot completions zsh > ~/.zfunc/_pivot   (with `fpath+=~/.zfunc; autoload -U compinit; compinit` in ~/.zshrc)
  fish  pivot completions fish > ~/.config/fish/completions/pivot.fish
then open a new shell.")]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    pub shell: Shell,
}

pub fn print(a: &CompletionsArgs) -> anyhow::Result<()> {
    let mut cli = super::Cli::command();
    clap_complete::generate(a.shell, &mut cli, "pivot", &mut std::io::stdout());
    Ok(())
}
