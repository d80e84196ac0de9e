//! The binary: parse, resolve settings, run, exit code. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;
use ko2en::app::{self, Outcome};
use ko2en::cli::Cli;
use ko2en::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(text) = ko2en::cli::generated(&cli.command) {
        use std::io::Write;
        // A closed pipe (`ko2en man | head`) is not an error.
        let _ = std::io::stdout().write_all(&text);
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::resolve(cli, |name| std::env::var(name).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ko2en: {e}");
            return ExitCode::from(2);
        }
    };
    // After the settings: the logger must know the key to keep it out of every line.
    app::init_logging(&settings, std::env::var("KO2EN_LOG").ok());
    // Blocking work is CPU-bound (cleaning, tokenizing) or short (cache reads): more threads
    // than cores adds nothing but per-thread caches (regex caches, allocator arenas).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads((cores * 2).max(4))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ko2en: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(app::run(settings)) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(1),
        Ok(Outcome::Stopped) => ExitCode::from(2),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Ok(Outcome::Capped) => ExitCode::from(4),
        Err(e) => {
            eprintln!("ko2en: {e:#}");
            ExitCode::from(2)
        }
    }
}
