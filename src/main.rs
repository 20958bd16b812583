//! The `leakdrill` binary: a shim over [`leakdrill::cli::main`].

/// mimalloc: `serve` allocates per request from two worker threads, where
/// glibc's allocator measured ~15 % of the CPU (benches/serve.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    leakdrill::cli::main()
}
