//! *Report*: what the user sees. Human tables on stdout, JSON on stdout with `--json`,
//! warnings and progress on stderr, colour only where Cargo would use it.
//!
//! Every byte for stdout goes through one writer, [`print`], which returns the write's error
//! instead of panicking as `print!` does: a reader that goes away (`cargo janitor gc -n | head
//! -1`) ends the command with a `BrokenPipe` error that `main` turns into a quiet exit 0, as
//! ripgrep does. Writes to stderr (warnings, status lines, progress) ignore their errors: a
//! closed stderr must not stop, or crash, a command that is deleting files.

pub mod gc;
pub mod locks;
pub mod progress;
pub mod status;
pub mod sweep;
pub mod table;
pub mod trim;

use std::io::{IsTerminal, Write};

use crate::cli::ColorChoice;

/// How to talk to the user: colour, verbosity, and where progress may go.
#[derive(Clone, Debug)]
pub struct Output {
    pub color_stdout: bool,
    pub color_stderr: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// Whether stderr is a terminal (progress is shown only then).
    pub stderr_tty: bool,
}

impl Output {
    /// `--color`, else `CARGO_TERM_COLOR`, else auto (a terminal and no `NO_COLOR`).
    pub fn new(color: Option<ColorChoice>, quiet: bool, verbose: u8) -> Output {
        let choice = color.or_else(|| {
            std::env::var("CARGO_TERM_COLOR")
                .ok()
                .and_then(|v| match v.as_str() {
                    "always" => Some(ColorChoice::Always),
                    "never" => Some(ColorChoice::Never),
                    "auto" => Some(ColorChoice::Auto),
                    _ => None,
                })
        });
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let auto = |tty: bool| tty && !no_color;
        let stdout_tty = std::io::stdout().is_terminal();
        let stderr_tty = std::io::stderr().is_terminal();
        let (o, e) = match choice.unwrap_or(ColorChoice::Auto) {
            ColorChoice::Always => (true, true),
            ColorChoice::Never => (false, false),
            ColorChoice::Auto => (auto(stdout_tty), auto(stderr_tty)),
        };
        Output {
            color_stdout: o,
            color_stderr: e,
            quiet,
            verbose,
            stderr_tty,
        }
    }

    fn paint(&self, on: bool, code: &str, text: &str) -> String {
        if on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// `warning: …` on stderr, as Cargo prints it (shown even with `-q`, like Cargo).
    pub fn warn(&self, msg: impl std::fmt::Display) {
        let label = self.paint(self.color_stderr, "1;33", "warning");
        let _ = writeln!(std::io::stderr(), "{label}: {msg}");
    }

    /// The one warning for entries a walk could not read (one line, however many): what
    /// was printed is sized without them.
    pub fn warn_unread<E: std::fmt::Display>(&self, errors: &[(std::path::PathBuf, E)]) {
        if let Some((path, err)) = errors.first() {
            self.warn(format!(
                "could not read {} entr{} (first: `{}`: {err}); sizes leave them out",
                errors.len(),
                if errors.len() == 1 { "y" } else { "ies" },
                path.display()
            ));
        }
    }

    /// `error: …` on stderr.
    pub fn error(&self, msg: impl std::fmt::Display) {
        let label = self.paint(self.color_stderr, "1;31", "error");
        let _ = writeln!(std::io::stderr(), "{label}: {msg}");
    }

    /// A plain line on stderr (errors ignored, like every write to stderr here).
    pub fn line(&self, msg: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "{msg}");
    }

    /// A question on stderr, without a newline, flushed (errors ignored).
    pub fn prompt(&self, msg: impl std::fmt::Display) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{msg}");
        let _ = err.flush();
    }

    /// A Cargo-style status line on stderr: a right-aligned green verb and a message.
    pub fn status(&self, verb: &str, msg: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        let verb = self.paint(self.color_stderr, "1;32", &format!("{verb:>12}"));
        let _ = writeln!(std::io::stderr(), "{verb} {msg}");
    }

    /// Bold text for stdout headings.
    pub fn bold(&self, text: &str) -> String {
        self.paint(self.color_stdout, "1", text)
    }

    /// Dim text for stdout remarks.
    pub fn dim(&self, text: &str) -> String {
        self.paint(self.color_stdout, "2", text)
    }

    /// A progress indicator on stderr that appears only on a terminal, only after 0.2 s.
    pub fn progress(&self, label: &str) -> progress::Progress {
        progress::Progress::new(label, self.stderr_tty && !self.quiet)
    }
}

/// What the grace period kept, in one line ("Kept 12 items used in the last 10 minutes …"),
/// then, when `detailed`, one line per item. Empty when it kept nothing.
pub fn grace_lines(g: &crate::plan::grace::Report, detailed: bool) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    if g.kept == 0 {
        return text;
    }
    let _ = writeln!(
        text,
        "Kept {} item{} used in the last {} (a build may be using them; --grace)",
        g.kept,
        if g.kept == 1 { "" } else { "s" },
        crate::units::span_words(crate::units::Span(g.seconds))
    );
    if detailed {
        for k in &g.items {
            let _ = writeln!(text, "  {}  {}", k.path.display(), k.kind);
        }
    }
    text
}

/// Writes `text` to stdout: the one writer every command's output goes through. An error
/// (a closed pipe, a full disk) is returned as an [`std::io::Error`] in the chain, never a
/// panic.
pub fn print(text: impl std::fmt::Display) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut out = std::io::stdout().lock();
    write!(out, "{text}")
        .and_then(|()| out.flush())
        .context("cannot write the output")
}

/// Prints a value as pretty JSON on stdout, with a final newline, through [`print`].
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    // Serialized first, so that a write error reaches the caller as an `io::Error` (serde_json
    // would wrap it in its own error type).
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print(text)
}

/// Whether a closed stdout (`EPIPE`) is anywhere in the chain: the reader went away, which
/// is not a failure (`main` exits 0 quietly).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_broken_pipe_is_found_anywhere_in_the_chain() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::new(pipe())));
        let wrapped = Err::<(), _>(pipe())
            .context("cannot write the output")
            .context("outer")
            .unwrap_err();
        assert!(is_broken_pipe(&wrapped));
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(!is_broken_pipe(&anyhow::Error::new(full)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
    }
}
