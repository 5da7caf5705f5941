use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(drc_sim::cli::main_with_args(std::env::args_os()))
}
