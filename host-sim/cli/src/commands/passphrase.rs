//! Where the identity's passphrase comes from: `--passphrase-file FILE`,
//! `--passphrase-fd N`, `$GLITTER_PASSPHRASE_FILE`, else the terminal (no echo).
//! Installed once per process as the host's [`glitter_host::passphrase`] provider.

use glitter_host::passphrase::{Passphrase, PassphraseError, Purpose, set_provider};
use std::io::Read;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Longest passphrase file read (the first line is the passphrase).
const FILE_MAX: u64 = 4096;

/// A passphrase source.
#[derive(Clone, Debug)]
pub enum Source {
    /// The first line of a file (which must be private: mode 0600 or stricter).
    File(PathBuf),
    /// The first line of an open file descriptor.
    Fd(u32),
    /// The terminal, without echo.
    Terminal,
}

impl Source {
    /// From the command-line flags, else `$GLITTER_PASSPHRASE_FILE`, else the terminal.
    pub fn from_flags(file: Option<PathBuf>, fd: Option<u32>) -> Source {
        match (file, fd) {
            (Some(f), _) => Source::File(f),
            (None, Some(n)) => Source::Fd(n),
            (None, None) => match std::env::var_os("GLITTER_PASSPHRASE_FILE") {
                Some(f) if !f.is_empty() => Source::File(f.into()),
                _ => Source::Terminal,
            },
        }
    }

    /// Whether the flags named a source (then `keygen` encrypts).
    pub fn is_explicit(&self) -> bool {
        !matches!(self, Source::Terminal)
    }

    /// Makes this the process's passphrase source.
    pub fn install(self) {
        set_provider(Box::new(move |seed: &Path, purpose| {
            self.read(seed, purpose)
        }));
    }

    fn read(&self, seed: &Path, purpose: Purpose) -> Result<Passphrase, PassphraseError> {
        match self {
            Source::File(f) => {
                glitter_host::fsutil::check_private_file(f)
                    .map_err(|e| PassphraseError::Source(format!("{e}")))?;
                let file = std::fs::File::open(f)
                    .map_err(|e| PassphraseError::Source(format!("{}: {e}", f.display())))?;
                first_line(file, &f.display().to_string())
            }
            Source::Fd(n) => {
                let path = format!("/dev/fd/{n}");
                let file = std::fs::File::open(&path)
                    .map_err(|e| PassphraseError::Source(format!("file descriptor {n}: {e}")))?;
                first_line(file, &format!("file descriptor {n}"))
            }
            Source::Terminal => {
                let ask = |prompt: String| {
                    rpassword::prompt_password(prompt)
                        .map(Zeroizing::new)
                        .map_err(|e| {
                            PassphraseError::Source(format!(
                                "no terminal to ask on ({e}); use --passphrase-file or \
                                 --passphrase-fd"
                            ))
                        })
                };
                let first = ask(format!("Passphrase for {}: ", seed.display()))?;
                if purpose == Purpose::Create {
                    let again = ask("Same passphrase again: ".into())?;
                    if *again != *first {
                        return Err(PassphraseError::Source("the two passphrases differ".into()));
                    }
                }
                Ok(first)
            }
        }
    }
}

fn first_line(file: std::fs::File, what: &str) -> Result<Passphrase, PassphraseError> {
    let mut text = Zeroizing::new(String::new());
    file.take(FILE_MAX)
        .read_to_string(&mut text)
        .map_err(|e| PassphraseError::Source(format!("{what}: {e}")))?;
    let line = text.lines().next().unwrap_or("");
    Ok(Zeroizing::new(line.to_string()))
}
