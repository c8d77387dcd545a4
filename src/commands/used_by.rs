//! `--used-by "CARGO COMMAND"` (`sweep`, `trim`): run real cargo commands, collect every unit
//! they report, and keep exactly those in the target and build dirs they used.
//!
//! # The commands
//!
//! Each command string is split as a shell splits words (single and double quotes,
//! backslash escapes) but is not given to a shell: it must be `cargo [+TOOLCHAIN]
//! [GLOBAL OPTIONS] SUBCOMMAND [ARGS]`, with a subcommand that builds and prints Cargo's JSON
//! messages ([`SUBCOMMANDS`]). Variables, pipes, redirections, `;`, `&` and backquotes are
//! refused (exit 2) before anything runs. `cargo` is the one on `PATH` (rustup's proxy, so
//! `+nightly` works), run in the current directory with our environment (and `CARGO_HOME`
//! set to `--cargo-home` when given).
//!
//! `--message-format=json-render-diagnostics` is added after the subcommand, merged with the
//! user's own `--message-format` (`short` stays short), so the terminal sees Cargo's usual
//! progress and diagnostics on stderr while we read the JSON on stdout. Any other line on
//! stdout goes to our stderr, so that our own stdout (`--json`) stays ours; so does every
//! line after `build-finished`, which Cargo prints before it runs anything it built (`cargo
//! test`'s tests, `cargo run`'s program): their output is never read as Cargo's messages, so
//! a test that prints a message-shaped line cannot name units or directories.
//!
//! A command that fails (exit status, or `build-finished` without success) stops everything:
//! nothing is removed, because a partial list of units is not a keep set.
//!
//! # The directories
//!
//! Exactly those the commands used: the nearest target dir (`CACHEDIR.TAG` with Cargo's
//! signature and a Cargo marker) above each reported path, or its parent while that is one
//! too (`<dir>/<triple>` is tagged as well). No other cargo is run to find
//! them. A `build.build-dir` in which the commands reported no path at all (possible only for
//! a lone binary with no library, dependency or build script) is not swept.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::cli::GlobalArgs;
use crate::discover::target;
use crate::exit::BadInput;
use crate::observe::cargo_messages::{self, Message};
use crate::observe::target_dir::TargetDir;
use crate::observe::use_record::{self, Reading};
use crate::plan::grace::Grace;
use crate::plan::sweep::DirPlan;
use crate::plan::used_by::{self, Keep, Reported, ReportedPath};
use crate::report::Output;

/// The subcommands accepted: those that build units and print Cargo's JSON messages
/// (aliases included).
pub const SUBCOMMANDS: &[&str] = &[
    "build", "b", "check", "c", "test", "t", "bench", "run", "r", "rustc", "doc", "d", "rustdoc",
    "clippy",
];

/// Cargo's global options that take a separate value, before the subcommand.
const GLOBAL_WITH_VALUE: &[&str] = &["-C", "--config", "-Z", "--color"];

/// One `--used-by` command, checked and ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CargoCommand {
    /// As the user gave it.
    pub text: String,
    /// The arguments after `cargo`, with the message format merged in.
    pub args: Vec<String>,
}

/// Splits a command line into words the way a POSIX shell does for quotes and backslashes;
/// refuses what only a shell would do (expansions, pipes, redirections, lists).
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(ch @ ('$' | '`')) => {
                            return Err(format!(
                                "`{ch}` asks a shell to expand something, and no shell runs this command"
                            ));
                        }
                        Some(ch) => cur.push(ch),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(ch) => cur.push(ch),
                    None => return Err("it ends with a lone backslash".into()),
                }
            }
            '\n' | '\r' => {
                return Err(
                    "a line break separates commands in a shell: give each command its own --used-by"
                        .into(),
                );
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '$' | '`' | '|' | '&' | ';' | '<' | '>' | '(' | ')' | '*' | '?' => {
                return Err(format!(
                    "`{c}` needs a shell, and no shell runs this command (quote it if it is part of an argument)"
                ));
            }
            '#' | '~' if !in_word => {
                return Err(format!(
                    "`{c}` needs a shell, and no shell runs this command (quote it if it is part of an argument)"
                ));
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Checks a `--used-by` command and merges `--message-format`.
pub fn parse_command(text: &str) -> Result<CargoCommand, String> {
    let accepted = format!(
        "expected `cargo [+TOOLCHAIN] [OPTIONS] SUBCOMMAND [ARGS]` with SUBCOMMAND one of {}, \
         e.g. \"cargo build --release\"",
        SUBCOMMANDS.join(", ")
    );
    let bad = |why: String| format!("--used-by \"{text}\": {why}; {accepted}");
    let words = split_words(text).map_err(bad)?;
    let mut w = words.into_iter();
    match w.next() {
        Some(first) if first == "cargo" => {}
        Some(first) => return Err(bad(format!("it starts with `{first}`, not `cargo`"))),
        None => return Err(bad("it is empty".into())),
    }
    let rest: Vec<String> = w.collect();
    let mut args: Vec<String> = Vec::new();
    let mut i = 0;
    if rest.first().is_some_and(|a| a.starts_with('+')) {
        args.push(rest[0].clone());
        i = 1;
    }
    // Global options, then the subcommand.
    let sub = loop {
        let Some(a) = rest.get(i) else {
            return Err(bad("it names no subcommand".into()));
        };
        if a.starts_with('+') {
            return Err(bad(format!("`{a}`: a toolchain goes right after `cargo`")));
        }
        if !a.starts_with('-') {
            break a.clone();
        }
        args.push(a.clone());
        i += 1;
        if GLOBAL_WITH_VALUE.contains(&a.as_str()) {
            let Some(v) = rest.get(i) else {
                return Err(bad(format!("`{a}` needs a value")));
            };
            args.push(v.clone());
            i += 1;
        }
    };
    if !SUBCOMMANDS.contains(&sub.as_str()) {
        return Err(bad(format!(
            "`{sub}` is not a subcommand that builds and reports its units (aliases from cargo config are not read)"
        )));
    }
    args.push(sub);
    i += 1;
    // The user's --message-format values (before any `--`), merged with ours.
    let mut formats: Vec<String> = Vec::new();
    let mut tail: Vec<String> = Vec::new();
    let mut after_dashes = false;
    while i < rest.len() {
        let a = &rest[i];
        i += 1;
        if after_dashes || a == "--" {
            after_dashes = true;
            tail.push(a.clone());
            continue;
        }
        if a == "--message-format" {
            let Some(v) = rest.get(i) else {
                return Err(bad("`--message-format` needs a value".into()));
            };
            formats.extend(v.split(',').map(|s| s.trim().to_string()));
            i += 1;
        } else if let Some(v) = a.strip_prefix("--message-format=") {
            formats.extend(v.split(',').map(|s| s.trim().to_string()));
        } else {
            tail.push(a.clone());
        }
    }
    let mut merged = Vec::new();
    for f in &formats {
        match f.as_str() {
            "human" | "json" | "json-render-diagnostics" | "" => {}
            "short" | "json-diagnostic-short" => merged.push("json-diagnostic-short"),
            "json-diagnostic-rendered-ansi" => merged.push("json-diagnostic-rendered-ansi"),
            other => {
                return Err(bad(format!(
                    "`--message-format {other}` is not one of cargo's message formats"
                )));
            }
        }
    }
    merged.dedup();
    merged.push("json-render-diagnostics");
    args.push(format!("--message-format={}", merged.join(",")));
    args.extend(tail);
    Ok(CargoCommand {
        text: text.to_string(),
        args,
    })
}

/// What the commands reported, and where.
#[derive(Debug, Default)]
pub struct Session {
    pub commands: Vec<String>,
    pub reported: Reported,
    /// The target and build dirs the reported paths are in.
    pub dirs: Vec<PathBuf>,
    /// Packages with a reported path that is part of no unit (set by [`Session::resolve`]).
    pub unknown_packages: HashSet<String>,
    /// When the commands finished (Cargo's clock), for the record.
    pub at: u64,
}

/// Checks every command (exit 2 before anything runs if one is malformed).
pub fn parse_all(texts: &[String]) -> Result<Vec<CargoCommand>> {
    texts
        .iter()
        .map(|t| parse_command(t).map_err(|e| BadInput(e).into()))
        .collect()
}

/// Runs the commands one after the other. `Ok(None)`: one failed (its message was shown;
/// nothing is to be removed).
pub fn run_all(
    commands: &[CargoCommand],
    global: &GlobalArgs,
    out: &Output,
) -> Result<Option<Session>> {
    let mut session = Session {
        commands: commands.iter().map(|c| c.text.clone()).collect(),
        ..Session::default()
    };
    let mut seen: HashSet<(PathBuf, Option<(u64, u64)>)> = HashSet::new();
    for c in commands {
        let mut cmd = Command::new("cargo");
        cmd.args(&c.args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(home) = &global.cargo_home {
            cmd.env("CARGO_HOME", home);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not run `{}`", c.text))?;
        let stdout = child.stdout.take().expect("piped");
        let mut finished = None;
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        let stderr = std::io::stderr();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            // After `build-finished`, stdout is what the build runs (`cargo test`'s tests,
            // `cargo run`'s program): never Cargo's messages, however it looks. A test
            // printing a message-shaped line must not name units, let alone directories.
            if finished.is_some() {
                let _ = stderr.lock().write_all(&line);
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            match cargo_messages::parse(&text) {
                Message::Unit { package, paths } => {
                    for path in paths {
                        // The same path may name another unit in a later command (an
                        // uplifted `target/debug/app` of other features): by identity too.
                        let id = crate::sys::fs::lstat(&path).ok().map(|s| s.id.pair());
                        if seen.insert((path.clone(), id)) {
                            session.reported.paths.push(ReportedPath {
                                path,
                                package: package.clone(),
                                id,
                            });
                        }
                    }
                }
                Message::Finished { success } => finished = Some(success),
                Message::Diagnostic { rendered } => {
                    let _ = stderr.lock().write_all(rendered.as_bytes());
                }
                Message::Other => {}
                Message::Text => {
                    let _ = stderr.lock().write_all(&line);
                }
            }
        }
        let status = child.wait()?;
        if !status.success() || finished == Some(false) {
            out.error(format!(
                "`{}` failed ({status}); nothing was removed: the units of a failed build are not a keep set",
                c.text
            ));
            return Ok(None);
        }
    }
    session.at = crate::observe::now();
    // Identities are read as soon as each path is reported; the directories now: the
    // nearest target dir above each path, or its parent while that is one too (Cargo also
    // tags `<dir>/<triple>` with a `CACHEDIR.TAG`; sweeping `<dir>` covers it). Never a
    // target dir further up that is not a direct parent: a `CACHEDIR.TAG` left in a home
    // directory must not make every project below it ours.
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut checked: HashMap<PathBuf, bool> = HashMap::new();
    let mut is_target = |a: &Path| {
        *checked
            .entry(a.to_path_buf())
            .or_insert_with(|| target::is_target_dir(a))
    };
    for p in &session.reported.paths {
        let Some(mut d) = p.path.ancestors().skip(1).find(|a| is_target(a)) else {
            continue;
        };
        while let Some(up) = d.parent().filter(|up| is_target(up)) {
            d = up;
        }
        dirs.push(d.to_path_buf());
    }
    dirs.sort();
    dirs.dedup();
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|o| o != d && d.starts_with(o)));
    session.dirs = dirs;
    Ok(Some(session))
}

impl Session {
    /// Finds the reported paths that are part of no unit of the scanned dirs, warns about
    /// them, and keeps every unit of their packages.
    pub fn resolve(&mut self, scans: &[&TargetDir], out: &Output) {
        let unmatched = used_by::unmatched(scans, &self.reported);
        if unmatched.is_empty() {
            return;
        }
        let mut pkgs: Vec<String> = unmatched.iter().map(|p| p.package.clone()).collect();
        pkgs.sort();
        pkgs.dedup();
        out.warn(format!(
            "{} path(s) the commands reported belong to no unit found in {} (e.g. `{}`): every unit of {} is kept",
            unmatched.len(),
            if self.dirs.is_empty() {
                "any target dir".to_string()
            } else {
                self.dirs
                    .iter()
                    .map(|d| format!("`{}`", d.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            unmatched[0].path.display(),
            pkgs.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        self.unknown_packages = pkgs.into_iter().collect();
    }

    /// The plan for one dir (see [`crate::plan::used_by`]), and how many of its units the
    /// commands reported.
    pub fn plan(&self, td: &TargetDir, grace: &Grace) -> (DirPlan, usize) {
        let windows = crate::observe::build_windows::of(td);
        used_by::plan_dir(
            td,
            &Keep {
                reported: &self.reported,
                unknown_packages: &self.unknown_packages,
                windows: &windows,
            },
            grace,
        )
    }

    /// Writes the dir's record of use: every unit the commands reported now, the others as
    /// the record had them (units no longer in the dir are dropped). A newer record is left
    /// alone, an unreadable one replaced; both with a warning.
    pub fn record(&self, td: &TargetDir, out: &Output) {
        let mut units: HashMap<String, u64> = match use_record::read(&td.path) {
            Reading::Found(r) => r,
            Reading::Missing => HashMap::new(),
            Reading::Ignored { why, newer: true } => {
                out.warn(format!(
                    "not updating `{}`: {why}",
                    td.path.join(use_record::NAME).display()
                ));
                return;
            }
            Reading::Ignored { why, newer: false } => {
                out.warn(format!(
                    "replacing `{}`: {why}",
                    td.path.join(use_record::NAME).display()
                ));
                HashMap::new()
            }
        };
        let present: HashSet<&str> = td.units.iter().map(|u| u.hash.as_str()).collect();
        units.retain(|h, _| present.contains(h.as_str()));
        for h in used_by::reported_hashes(td, &self.reported) {
            let t = units.entry(h).or_insert(self.at);
            *t = (*t).max(self.at);
        }
        if let Err(e) = crate::act::use_record::write(&td.path, units) {
            out.warn(format!(
                "could not write the record of use `{}`: {e}",
                td.path.join(use_record::NAME).display()
            ));
        }
    }
}

/// The record of use of `dir`, if there is a valid one; one that is ignored is named in a
/// warning.
pub fn read_record(dir: &Path, out: &Output) -> Option<HashMap<String, u64>> {
    match use_record::read(dir) {
        Reading::Found(r) => Some(r),
        Reading::Missing => None,
        Reading::Ignored { why, .. } => {
            out.warn(format!(
                "ignoring the record of use `{}`: {why}",
                dir.join(use_record::NAME).display()
            ));
            None
        }
    }
}

/// `sweep --used-by …`: runs the commands, then in each target and build dir they used
/// removes every unit they did not report (under the build locks, as every sweep).
pub fn sweep(global: &GlobalArgs, args: &crate::cli::SweepArgs, out: &Output) -> Result<i32> {
    use super::sweep::act_or_preview;
    use crate::act::lock::Wait;
    use crate::discover::target;
    use crate::exit;
    use crate::observe::target_dir;
    use crate::plan::grace;
    use crate::report::sweep::{DirReport, Report};

    let commands = parse_all(&args.used_by)?;
    let Some(mut session) = run_all(&commands, global, out)? else {
        return Ok(exit::FAILURE);
    };
    let dry_run = args.dry_run;
    let mut report = Report::new(dry_run, session.commands.clone());
    let scans = target_dir::scan_all(&session.dirs);
    session.resolve(&scans.iter().collect::<Vec<_>>(), out);
    let wait = Wait::unless(args.no_wait);
    let mut kept = Vec::new();
    let mut code = exit::OK;
    for (dir, first) in session.dirs.clone().iter().zip(scans) {
        if !dry_run {
            session.record(&first, out);
        }
        let reported = std::cell::Cell::new(0);
        let plan_of = |td: &TargetDir| {
            let grace = Grace {
                period: args.grace,
                db_now: crate::observe::now(),
                disk_now: crate::observe::disk_now(),
            };
            let (p, n) = session.plan(td, &grace);
            reported.set(n);
            p
        };
        let first_plan = plan_of(&first);
        let mut done = act_or_preview(dry_run, dir, first, first_plan, wait, &plan_of, out)?;
        code = code.max(done.code);
        kept.append(&mut done.plan.kept);
        let (project, reported) = (target::project_of(dir), Some(reported.get()));
        let (td, plan, skipped) = (done.td, done.plan, done.skipped);
        report.add(DirReport::new(
            dir, project, "used-by", reported, td, plan, skipped,
        ));
    }
    if !dry_run {
        super::record_target_dirs(global.cargo_home.as_deref(), &session.dirs, &[], out);
    }
    report.grace = grace::Report::new(args.grace, kept);
    if args.json {
        crate::report::json(&report)?;
    } else {
        crate::report::print_human(crate::report::sweep::render(
            &report,
            true,
            dry_run || out.verbose > 0,
            out,
        ))?;
    }
    Ok(code)
}
