use std::process::ExitCode;

fn main() -> ExitCode {
    muster_server::cli::main()
}
