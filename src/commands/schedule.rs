//! `cargo janitor schedule install|remove|status`: run `tidy` by itself, with the policy file.
//!
//! The files (see [`crate::plan::schedule`]) go to the platform's per-user place: systemd user
//! units in `$XDG_CONFIG_HOME/systemd/user` (else `~/.config/systemd/user`), a launchd agent in
//! `~/Library/LaunchAgents`, a Task Scheduler task's XML in `%LOCALAPPDATA%\cargo-janitor`.
//! Then the platform's own tool activates it (`systemctl --user`, `launchctl`, `schtasks`).
//! With `--dir DIR` the files go to DIR instead and nothing is activated (to inspect them, or
//! to generate another platform's). `remove` deletes exactly the files `install` writes, and
//! nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::discover::CargoHome;
use crate::discover::policy as policy_file;
use crate::exit::{self, BadInput};
use crate::plan::schedule::{self, LABEL, MAX_INTERVAL, MIN_INTERVAL, NAME};
use crate::quantity::{self, Span};
use crate::report::{self, Output};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// A systemd user service and timer (Linux)
    Systemd,
    /// A launchd agent (macOS)
    Launchd,
    /// A Task Scheduler task (Windows)
    Windows,
}

impl Platform {
    fn native() -> Option<Platform> {
        if cfg!(target_os = "macos") {
            Some(Platform::Launchd)
        } else if cfg!(windows) {
            Some(Platform::Windows)
        } else if cfg!(target_os = "linux") {
            Some(Platform::Systemd)
        } else {
            None
        }
    }

    /// The names of the files it writes.
    fn files(self) -> Vec<String> {
        match self {
            Platform::Systemd => vec![format!("{NAME}.service"), format!("{NAME}.timer")],
            Platform::Launchd => vec![format!("{LABEL}.plist")],
            Platform::Windows => vec![format!("{NAME}.xml")],
        }
    }

    /// The per-user directory its files go to.
    fn default_dir(self) -> Option<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        match self {
            Platform::Systemd => env("XDG_CONFIG_HOME")
                .or_else(|| env("HOME").map(|h| h.join(".config")))
                .map(|c| c.join("systemd/user")),
            Platform::Launchd => env("HOME").map(|h| h.join("Library/LaunchAgents")),
            Platform::Windows => env("LOCALAPPDATA").map(|d| d.join("cargo-janitor")),
        }
    }
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Write the job's files and activate the job
    #[command(after_help = crate::cli::DURATION_HELP)]
    Install(InstallArgs),
    /// Deactivate the job and delete its files
    Remove(WhereArgs),
    /// Whether the job's files are there, and what they run
    Status(WhereArgs),
}

#[derive(Debug, Args)]
pub struct WhereArgs {
    /// Which scheduler [default: this system's]
    #[arg(long, value_enum)]
    pub platform: Option<Platform>,
    /// Put the files in DIR and activate nothing (inspect them, or generate another
    /// platform's)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

fn span(s: &str) -> Result<Span, String> {
    quantity::parse_duration(s).map(Span::from_duration)
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub place: WhereArgs,
    /// How often to run (1 minute to 31 days)
    #[arg(long, value_name = "DURATION", default_value = "1 day", value_parser = span)]
    pub every: Span,
    /// The policy file the job reads [default: the default policy file, which must exist
    /// unless tidy's flags are given after --]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Have each run write its metrics here (tidy --metrics)
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Have each run append a JSON line here (tidy --log)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// More arguments for tidy (after --)
    #[arg(last = true, value_name = "TIDY ARGS")]
    pub tidy_args: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FileState {
    path: PathBuf,
    installed: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    platform: Platform,
    /// Whether the platform's tool was run (false with --dir).
    activated: bool,
    files: Vec<FileState>,
    /// The command line the job runs (install), if known.
    command: Vec<String>,
}

/// The platform and directory, and whether to activate (only this system's, in its own
/// place).
fn place(w: &WhereArgs) -> Result<(Platform, PathBuf, bool)> {
    let native = Platform::native();
    let platform = match (w.platform, native) {
        (Some(p), _) => p,
        (None, Some(p)) => p,
        (None, None) => {
            return Err(BadInput(
                "no scheduler is known on this system: pass --platform and --dir".into(),
            )
            .into());
        }
    };
    match &w.dir {
        Some(d) => {
            if !d.is_dir() {
                return Err(BadInput(format!(
                    "--dir `{}`: expected an existing directory",
                    d.display()
                ))
                .into());
            }
            Ok((platform, d.clone(), false))
        }
        None if Some(platform) != native => Err(BadInput(format!(
            "--platform {}: not this system's scheduler; pass --dir DIR to write its files \
             there",
            serde_json::to_value(platform)?.as_str().unwrap_or_default()
        ))
        .into()),
        None => {
            let d = platform.default_dir().ok_or_else(|| {
                BadInput("cannot tell the per-user directory (HOME is not set)".into())
            })?;
            Ok((platform, d, true))
        }
    }
}

/// Runs one of the platform's tools; a failure is an error naming the command.
fn tool(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("could not run `{program}`"))?;
    if !status.success() {
        anyhow::bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(std::env::current_dir()?.join(p))
}

pub fn run(global: &GlobalArgs, args: &ScheduleArgs, out: &Output) -> Result<i32> {
    match &args.action {
        Action::Install(a) => install(global, a, out),
        Action::Remove(w) => remove(w, out),
        Action::Status(w) => status(w, out),
    }
}

fn install(global: &GlobalArgs, a: &InstallArgs, out: &Output) -> Result<i32> {
    let (platform, dir, activate) = place(&a.place)?;
    let every = a.every.secs();
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&every) {
        return Err(BadInput(format!(
            "--every {}: expected 1 minute to 31 days",
            quantity::span_words(a.every)
        ))
        .into());
    }
    let home = CargoHome::resolve(global.cargo_home.as_deref())?;
    let exe = std::env::current_exe().context("could not tell where this program is")?;
    let mut command: Vec<String> = vec![
        exe.to_string_lossy().into_owned(),
        "--cargo-home".into(),
        home.path.to_string_lossy().into_owned(),
        "--quiet".into(),
        "tidy".into(),
        "--no-wait".into(),
    ];
    let policy = match &a.policy {
        Some(p) => Some(absolute(p)?),
        None => policy_file::default_path().filter(|p| p.is_file()),
    };
    match &policy {
        Some(p) => {
            // Refused now rather than at every run.
            policy_file::load(Some(p))?;
            command.extend(["--policy".into(), p.to_string_lossy().into_owned()]);
        }
        None if a.tidy_args.is_empty() => {
            return Err(BadInput(format!(
                "no policy file: write one (at `{}`) or pass --policy FILE, or give tidy's \
                 flags after -- (e.g. -- --budget \"20 GiB\")",
                policy_file::default_path().map_or_else(
                    || "the user's config directory".into(),
                    |p| p.display().to_string()
                )
            ))
            .into());
        }
        None => command.push("--no-policy".into()),
    }
    for (flag, v) in [("--metrics", &a.metrics), ("--log", &a.log)] {
        if let Some(p) = v {
            command.extend([flag.into(), absolute(p)?.to_string_lossy().into_owned()]);
        }
    }
    command.extend(a.tidy_args.iter().cloned());
    // tidy's flags are checked now, as the job would parse them.
    if let Err(e) = <crate::cli::Cli as clap::Parser>::try_parse_from(&command) {
        return Err(BadInput(format!("the command the job would run is refused: {e}")).into());
    }

    std::fs::create_dir_all(&dir)
        .with_context(|| format!("could not create `{}`", dir.display()))?;
    let names = platform.files();
    let contents: Vec<Vec<u8>> = match platform {
        Platform::Systemd => {
            let (s, t) = schedule::systemd(&command, every);
            vec![s.into_bytes(), t.into_bytes()]
        }
        Platform::Launchd => {
            let log = a.log.as_ref().map(|p| p.with_extension("stderr.log"));
            let log = log.map(|l| l.to_string_lossy().into_owned());
            vec![schedule::launchd(&command, every, log.as_deref()).into_bytes()]
        }
        Platform::Windows => vec![schedule::utf16_with_bom(&schedule::task_xml(
            &command, every,
        ))],
    };
    let mut files = Vec::new();
    for (name, bytes) in names.iter().zip(contents) {
        let path = dir.join(name);
        crate::report::metrics::write_atomic_bytes(&path, &bytes)
            .with_context(|| format!("could not write `{}`", path.display()))?;
        files.push(FileState {
            path,
            installed: true,
        });
    }
    if activate {
        let f = |i: usize| files[i].path.to_string_lossy().into_owned();
        match platform {
            Platform::Systemd => {
                tool("systemctl", &["--user", "daemon-reload"])?;
                tool(
                    "systemctl",
                    &["--user", "enable", "--now", &format!("{NAME}.timer")],
                )?;
            }
            Platform::Launchd => {
                let _ = tool("launchctl", &["unload", &f(0)]);
                tool("launchctl", &["load", "-w", &f(0)])?;
            }
            Platform::Windows => {
                tool("schtasks", &["/Create", "/TN", NAME, "/XML", &f(0), "/F"])?;
            }
        }
    }
    let r = Report {
        platform,
        activated: activate,
        files,
        command,
    };
    print(
        &r,
        a.place.json,
        if activate { "Installed" } else { "Wrote" },
        out,
    )?;
    Ok(exit::OK)
}

fn remove(w: &WhereArgs, out: &Output) -> Result<i32> {
    let (platform, dir, activate) = place(w)?;
    let paths: Vec<PathBuf> = platform.files().iter().map(|n| dir.join(n)).collect();
    if activate {
        let present = paths.iter().any(|p| p.exists());
        match platform {
            Platform::Systemd if present => {
                tool(
                    "systemctl",
                    &["--user", "disable", "--now", &format!("{NAME}.timer")],
                )?;
            }
            Platform::Launchd if present => {
                tool("launchctl", &["unload", "-w", &paths[0].to_string_lossy()])?;
            }
            Platform::Windows if present => tool("schtasks", &["/Delete", "/TN", NAME, "/F"])?,
            _ => {}
        }
    }
    let mut files = Vec::new();
    for p in paths {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("could not remove `{}`: {e}", p.display())),
        }
        files.push(FileState {
            path: p,
            installed: false,
        });
    }
    if activate && platform == Platform::Systemd {
        tool("systemctl", &["--user", "daemon-reload"])?;
    }
    let r = Report {
        platform,
        activated: activate,
        files,
        command: Vec::new(),
    };
    print(&r, w.json, "Removed", out)?;
    Ok(exit::OK)
}

fn status(w: &WhereArgs, out: &Output) -> Result<i32> {
    let (platform, dir, _) = place(w)?;
    let files: Vec<FileState> = platform
        .files()
        .iter()
        .map(|n| {
            let path = dir.join(n);
            FileState {
                installed: path.is_file(),
                path,
            }
        })
        .collect();
    let r = Report {
        platform,
        activated: false,
        files,
        command: Vec::new(),
    };
    print(&r, w.json, "Status", out)?;
    Ok(exit::OK)
}

fn print(r: &Report, json: bool, verb: &str, out: &Output) -> Result<()> {
    if json {
        return report::json(r);
    }
    use std::fmt::Write;
    let mut t = String::new();
    for f in &r.files {
        let state = match (verb, f.installed) {
            ("Status", true) => "installed",
            ("Status", false) => "not installed",
            ("Removed", _) => "removed",
            _ => "written",
        };
        let _ = writeln!(t, "{}: {state}", f.path.display());
    }
    if !r.command.is_empty() {
        let _ = writeln!(t, "Runs: {}", r.command.join(" "));
    }
    if verb == "Wrote" {
        out.status("Note", "--dir: nothing was activated");
    }
    report::print_human(t)
}
