//! The `glitter` binary's commands: thin layers over `glitter-host` (data directory,
//! backup engine, accounts), `glitter-sim` (the simulator) and `glitter-net` (the
//! node). Argument parsing (clap) and `anyhow` live here and nowhere else; see
//! `docs/ARCHITECTURE.md`.

pub mod cli;
pub mod commands;

/// Prints one line on stdout. A closed stdout (`glitter feed | head`) is not an error
/// worth a panic: the line is dropped and `false` says that nobody reads any more.
pub fn say(line: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// A [`glitter_host::Sink`] that prints to stdout.
pub fn stdout_sink() -> Box<dyn glitter_host::Sink> {
    Box::new(|l: &str| {
        let _ = say(l);
    })
}
