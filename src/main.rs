//! The `leakdrill` binary: a shim over [`leakdrill::cli::main`].

fn main() -> std::process::ExitCode {
    leakdrill::cli::main()
}
