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

/// When to colour (`--color`, `CARGO_TERM_COLOR`): resolved from the command line in
/// `commands/`, so that report/ knows no clap type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

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

    /// One warning for each path that could not be removed, and why.
    pub fn warn_not_removed(&self, errors: &[(std::path::PathBuf, String)]) {
        for (path, err) in errors {
            self.warn(format!("could not remove `{}`: {err}", path.display()));
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
        crate::quantity::span_words(crate::quantity::Span(g.seconds))
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
            crate::quantity::name_version(name.trim_end_matches(".crate"))
        }
        "git-checkout" => match path.parent().and_then(|p| p.file_name()) {
            Some(r) => format!("{}/{name}", r.to_string_lossy()),
            None => name,
        },
        _ => name,
    }
}

/// What a unit builds, in words, from its fingerprint's name ([`UnitName::target`]): nothing
/// for a library (most units), `build script`, `build script run`, `bin NAME`, `test NAME`,
/// `example NAME`, `bench NAME`, `doc`; a name not of a known shape as it is.
///
/// [`UnitName::target`]: crate::plan::sweep::UnitName::target
pub fn target_words(package: &str, target: &str) -> String {
    let (flavor, rest) = ["test-", "doc-", "run-"]
        .iter()
        .find_map(|f| target.strip_prefix(f).map(|r| (*f, r)))
        .unwrap_or(("", target));
    // The crate name of a library is the package's with `-` as `_`.
    let lib = |name: &str| name == package.replace('-', "_");
    let named = |what: &str, name: &str| {
        if name == package || lib(name) {
            what.to_owned()
        } else {
            format!("{what} {name}")
        }
    };
    let words = if rest.starts_with("build-script-") {
        "build script".to_owned()
    } else if let Some(name) = rest.strip_prefix("lib-").filter(|n| lib(n)) {
        let _ = name;
        String::new()
    } else if let Some(name) = rest.strip_prefix("bin-") {
        named("bin", name)
    } else if let Some(name) = rest.strip_prefix("example-") {
        format!("example {name}")
    } else if let Some(name) = rest.strip_prefix("integration-test-") {
        format!("test {name}")
    } else if let Some(name) = rest.strip_prefix("bench-") {
        format!("bench {name}")
    } else {
        return target.to_owned();
    };
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a} {b}")
        }
    };
    match flavor {
        "run-" => join(&words, "run"),
        "doc-" => join(&words, "doc"),
        // `test-integration-test-it` is already `test it`.
        "test-" if !words.starts_with("test ") && !words.starts_with("bench ") => {
            join(&words, "test")
        }
        _ => words,
    }
}

/// How the human output names the removals of one target dir (`root`), one label each:
/// `serde 1.0.210 (debug)`, `gamma 0.1.0 (debug, build script run)`, `p1 (release, bin)` (no
/// version for a path or git package: its `Cargo.toml` now may not be what was built),
/// `p1 (debug, incremental)`. The profile is the directory below `root`. When two labels
/// would be the same (features, `check` and `build`, two toolchains), each of those also
/// gets its unit's short hash. A whole target dir is named by its path.
pub fn unit_labels(root: &std::path::Path, items: &[&crate::plan::sweep::Removal]) -> Vec<String> {
    let base: Vec<(String, Vec<String>, Option<String>)> = items
        .iter()
        .map(|r| {
            let u = &r.unit;
            // A target triple and a profile, not a path: `/` between them everywhere.
            let profile = (u.profile.as_deref()).map(|p| {
                let rel = below(p, root);
                if std::path::Path::new(&rel).is_absolute() {
                    return rel;
                }
                (std::path::Path::new(&rel).components())
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            });
            let name_of_dir = || {
                r.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            match r.kind {
                "unit" => {
                    let pkg = u.package.clone().unwrap_or_else(name_of_dir);
                    let mut name = pkg.clone();
                    if let Some(v) = &u.version {
                        name = format!("{name} {v}");
                    }
                    let mut parts: Vec<String> = profile.into_iter().collect();
                    if let Some(t) = &u.target {
                        let w = target_words(&pkg, t);
                        if !w.is_empty() {
                            parts.push(w);
                        }
                    }
                    let hash = u.hash.as_deref().map(|h| h.chars().take(8).collect());
                    (name, parts, hash)
                }
                "incremental" => {
                    // `<crate>-<session id>`.
                    let dir = name_of_dir();
                    let (krate, id) = dir.rsplit_once('-').unwrap_or((&dir, ""));
                    let mut parts: Vec<String> = profile.into_iter().collect();
                    parts.push("incremental".into());
                    let id = (!id.is_empty()).then(|| id.chars().take(8).collect());
                    (krate.to_owned(), parts, id)
                }
                _ => (shown(&r.path), Vec::new(), None),
            }
        })
        .collect();
    let plain = |(name, parts, _): &(String, Vec<String>, Option<String>)| {
        if parts.is_empty() {
            name.clone()
        } else {
            format!("{name} ({})", parts.join(", "))
        }
    };
    let mut count: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for b in &base {
        *count.entry(plain(b)).or_default() += 1;
    }
    base.iter()
        .map(|b| {
            let label = plain(b);
            match &b.2 {
                Some(h) if count[&label] > 1 => {
                    let mut parts = b.1.clone();
                    parts.push(h.clone());
                    format!("{} ({})", b.0, parts.join(", "))
                }
                _ => label,
            }
        })
        .collect()
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

/// The width every command's human output fits in, unless `COLUMNS` says otherwise.
pub const WIDTH: usize = 80;

/// The width human output is fitted to: `$COLUMNS` when it is a number of 40 or more (a
/// wider terminal that says so, or a script that wants lines whole), else [`WIDTH`].
pub fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c >= 40)
        .unwrap_or(WIDTH)
}

/// How many columns `line` takes on a terminal (colour codes take none).
fn columns(line: &str) -> usize {
    let mut n = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// Words that follow a number and stay on its line when [`fit_lines`] wraps.
const SIZE_OR_TIME_UNITS: [&str; 18] = [
    "B", "KiB", "MiB", "GiB", "TiB", "second", "seconds", "minute", "minutes", "hour", "hours",
    "day", "days", "week", "weeks", "month", "months", "years",
];

/// `text` with every line fitted to `width` columns, as the human output prints it (JSON
/// keeps every value whole): a line too wide is wrapped at spaces, its continuation lines
/// indented two more than the line, a number never parted from its unit. A single word
/// wider than a line (a long path) is cut in its middle (`/work/…/debug/.cargo-lock`).
pub fn fit_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if columns(body) <= width {
            out.push_str(line);
            continue;
        }
        let indent = body.len() - body.trim_start_matches(' ').len();
        let mut cur = String::new();
        let mut first = true;
        // A number and its unit (`496.0 KiB`, `10 days`) stay on one line.
        let mut words: Vec<String> = Vec::new();
        for w in body.trim_start_matches(' ').split(' ') {
            let unit = w.trim_end_matches([',', ')', ';', '.']);
            let joins = SIZE_OR_TIME_UNITS.contains(&unit)
                && words
                    .last()
                    .is_some_and(|p| p.ends_with(|c: char| c.is_ascii_digit()));
            match words.last_mut() {
                Some(p) if joins => {
                    p.push(' ');
                    p.push_str(w);
                }
                _ => words.push(w.to_owned()),
            }
        }
        for word in &words {
            let word = word.as_str();
            let lead = if first { indent } else { indent + 2 };
            // A word wider than a whole line (a long path) is cut in its middle.
            let room = width.saturating_sub(indent + 2).max(16);
            let cut;
            let word = if columns(word) > room && !word.contains('\x1b') {
                let c: Vec<char> = word.chars().collect();
                let head = (room - 1) / 2;
                cut = c[..head]
                    .iter()
                    .chain(std::iter::once(&'…'))
                    .chain(&c[c.len() - (room - 1 - head)..])
                    .collect::<String>();
                cut.as_str()
            } else {
                word
            };
            if !cur.is_empty() && lead + columns(&cur) + 1 + columns(word) > width {
                out.push_str(&" ".repeat(lead));
                out.push_str(&cur);
                out.push('\n');
                cur.clear();
                first = false;
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        out.push_str(&" ".repeat(if first { indent } else { indent + 2 }));
        out.push_str(&cur);
        out.push_str(nl);
    }
    out
}

/// Writes human output to stdout, every line fitted to [`width`] columns ([`fit_lines`]).
pub fn print_human(text: impl std::fmt::Display) -> anyhow::Result<()> {
    print(fit_lines(&text.to_string(), width()))
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
    fn lines_are_fitted_by_wrapping_at_spaces() {
        let short = "a line\n  that fits\n";
        assert_eq!(fit_lines(short, 20), short);
        // Wrapped at spaces, continuation indented two more.
        assert_eq!(
            fit_lines("  one two three four five six\n", 17),
            "  one two three\n    four five six\n"
        );
        // A long command line is wrapped, not cut: every word of it stays.
        let cmd = format!(
            "  waiting: pid 1 `cargo build {}--offline` (shared)",
            "x".repeat(60)
        );
        let got = fit_lines(&cmd, 80);
        assert!(got.lines().all(|l| l.chars().count() <= 80), "{got}");
        assert_eq!(
            got.split_whitespace().collect::<Vec<_>>(),
            cmd.split_whitespace().collect::<Vec<_>>()
        );
        // A number and its unit are never split.
        assert_eq!(
            fit_lines("  a b 496.0 KiB c\n", 12),
            "  a b\n    496.0 KiB\n    c\n"
        );
        // A word longer than a line is cut in its middle, on its own line.
        let long = format!("see {} now", "y".repeat(30));
        assert_eq!(fit_lines(&long, 20), "see\n  yyyyyyyy…yyyyyyyyy\n  now");
        // Colour codes take no columns.
        let bold = "\x1b[1mbold\x1b[0m text";
        assert_eq!(fit_lines(bold, 9), bold);
    }

    #[test]
    fn what_a_unit_builds_in_words() {
        for (target, words) in [
            ("lib-serde_json", ""),
            ("bin-serde-json", "bin"),
            ("bin-tool", "bin tool"),
            ("build-script-build-script-build", "build script"),
            ("run-build-script-build-script-build", "build script run"),
            ("test-lib-serde_json", "test"),
            ("test-bin-tool", "bin tool test"),
            ("test-integration-test-it", "test it"),
            ("example-demo", "example demo"),
            ("bench-speed", "bench speed"),
            ("doc-lib-serde_json", "doc"),
            ("something-new", "something-new"),
        ] {
            assert_eq!(target_words("serde-json", target), words, "{target}");
        }
    }

    #[test]
    fn labels_carry_a_hash_only_when_two_would_read_the_same() {
        use crate::plan::sweep::{Removal, UnitName};
        let root = std::path::Path::new("/w/target");
        let unit = |pkg: &str, hash: &str, version: Option<&str>, profile: &str, t: &str| Removal {
            path: root
                .join(profile)
                .join(".fingerprint")
                .join(format!("{pkg}-{hash}")),
            paths: Vec::new(),
            kind: "unit",
            unit: UnitName {
                package: Some(pkg.into()),
                hash: Some(hash.into()),
                version: version.map(Into::into),
                profile: Some(root.join(profile)),
                target: Some(t.into()),
            },
            reason: String::new(),
            bytes: 0,
            touched: None,
        };
        let items = [
            unit(
                "serde",
                "0123456789abcdef",
                Some("1.0.1"),
                "debug",
                "lib-serde",
            ),
            unit(
                "serde",
                "fedcba9876543210",
                Some("1.0.1"),
                "debug",
                "lib-serde",
            ),
            unit(
                "serde",
                "1111111111111111",
                Some("1.0.1"),
                "release",
                "lib-serde",
            ),
            unit(
                "app",
                "2222222222222222",
                None,
                "x86_64-unknown-linux-gnu/debug",
                "bin-app",
            ),
        ];
        let inc = Removal {
            path: root.join("debug/incremental/app-1x2y3z4w5v6u"),
            paths: Vec::new(),
            kind: "incremental",
            unit: UnitName {
                profile: Some(root.join("debug")),
                ..UnitName::default()
            },
            reason: String::new(),
            bytes: 0,
            touched: None,
        };
        let all: Vec<&Removal> = items.iter().chain([&inc]).collect();
        assert_eq!(
            unit_labels(root, &all),
            [
                "serde 1.0.1 (debug, 01234567)",
                "serde 1.0.1 (debug, fedcba98)",
                "serde 1.0.1 (release)",
                "app (x86_64-unknown-linux-gnu/debug, bin)",
                "app (debug, incremental)",
            ]
        );
    }

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
