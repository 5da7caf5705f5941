use std::process::ExitCode;

#[global_allocator]
static ALLOC: drc_sim::huge_pages::HugePages = drc_sim::huge_pages::HugePages;

fn main() -> ExitCode {
    ExitCode::from(drc_sim::cli::main_with_args(std::env::args_os()))
}
