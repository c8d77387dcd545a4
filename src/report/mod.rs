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
pub mod metrics;
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

/// The last line of every dry run's report: it read without Cargo's locks, waiting for
/// nobody.
pub const SNAPSHOT_NOTE: &str =
    "(a snapshot, read without waiting for Cargo's locks: builds may change it)";

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
            let _ = writeln!(text, "  {}  {}", shown(&k.path), k.kind);
        }
    }
    text
}

/// `path` as the human output shows it: relative to the current directory when it is below
/// it (`target`, `p1/target`, `../p2/target` for a path given as `..`), else in full; `.`
/// components and trailing slashes left out, lexically (JSON always has the full path).
pub fn shown(path: &std::path::Path) -> String {
    let path = crate::discover::paths::clean(path);
    let cwd = std::env::current_dir().ok();
    match cwd.as_deref().and_then(|c| path.strip_prefix(c).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".into(),
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}

/// A CARGO_HOME entry as the human output names it, its kind being said around it: `serde
/// 1.0.210` for a source or an archive, `<repo>/<rev>` for a checkout, else its file name.
pub fn entry_name(path: &std::path::Path, kind: &str) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match kind {
        "registry-crate" | "registry-src" => {
            crate::units::name_version(name.trim_end_matches(".crate"))
        }
        "git-checkout" => match path.parent().and_then(|p| p.file_name()) {
            Some(r) => format!("{}/{name}", r.to_string_lossy()),
            None => name,
        },
        _ => name,
    }
}

/// A target-dir unit as the human output names it: `rand (bd4d8cb4)` for
/// `.fingerprint/rand-bd4d8cb4aac4321b` (legacy layout) or `build/rand/bd4d8cb4aac4321b` (new
/// layout); anything else by its path below the target dir.
pub fn unit_name(path: &std::path::Path, target: &std::path::Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy());
    let short = |h: &str| h.chars().take(8).collect::<String>();
    match (name, parent) {
        (Some(n), Some(p)) if p == ".fingerprint" || p == "incremental" => match n.rsplit_once('-')
        {
            Some((pkg, hash)) => format!("{pkg} ({})", short(hash)),
            None => n,
        },
        (Some(n), Some(p))
            if path
                .parent()
                .and_then(|q| q.parent())
                .is_some_and(|q| q.ends_with("build")) =>
        {
            format!("{p} ({})", short(&n))
        }
        _ => below(path, target),
    }
}

/// `path` relative to `root` when it is below it (an item below the target dir or home its
/// section names), else in full.
pub fn below(path: &std::path::Path, root: &std::path::Path) -> String {
    let (path, root) = (
        crate::discover::paths::clean(path),
        crate::discover::paths::clean(root),
    );
    match path.strip_prefix(&root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
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
