//! The `glitter` command-line tool. See `glitter --help`.

use clap::Parser;

fn main() {
    let cli = glitter_sim::cli::Cli::parse();
    if let Err(e) = glitter_sim::cli::run(cli) {
        // One line, naming the file and block where known; never a panic.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
