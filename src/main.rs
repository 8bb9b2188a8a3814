//! The `pivot` binary: parse the command line and dispatch.

mod cli;

fn main() -> std::process::ExitCode {
    pivot::runtime::pin_thread_count();
    pivot::runtime::inline_elementwise_ops();
    pivot::runtime::keep_freed_memory();
    cli::main()
}
