//! The `glitter` command-line tool. See `glitter --help`.

use clap::Parser;

fn main() {
    let cli = glitter::cli::Cli::parse();
    if let Err(e) = glitter::cli::run(cli) {
        // One line, naming the file and block where known; never a panic.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
