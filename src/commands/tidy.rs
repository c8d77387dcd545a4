//! `cargo janitor tidy`: one disk budget over CARGO_HOME and every known target dir.
//!
//! discover (home, target dirs, lockfiles) → observe (home and target dirs measured on disk,
//! free space per filesystem) → plan ([`crate::plan::tidy`]: one ordered list, cheapest to
//! recreate first) → act (target dirs first, each under its build locks and planned again
//! under them, exactly as `sweep` does; then CARGO_HOME under Cargo's `MutateExclusive`, its
//! part planned again under the lock) → report.
//!
//! The plan is made once, before any lock is taken, so the dry run lists exactly what the real
//! run removes. Under each lock the real run removes only what that plan chose and what is
//! still there and still old (a build that used something meanwhile keeps it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;

use crate::act::db as dbw;
use crate::act::executor;
use crate::act::lock::{Held, LockError, MutateExclusive, Wait};
use crate::act::remove::Remover;
use crate::cli::GlobalArgs;
use crate::discover::known;
use crate::discover::lockfile::{self, KeepSet};
use crate::discover::paths::{self, Need};
use crate::discover::policy::{self as policy_file, PolicyFile};
use crate::discover::{CargoConfig, CargoHome, target};
use crate::exit::{self, BadInput};
use crate::observe::home::{self, Inventory, SizeMode};
use crate::observe::target_dir::{self, TargetDir};
use crate::observe::walk::Walker;
use crate::observe::{db, disk_now};
use crate::plan::grace::{self, Grace, Kept};
use crate::plan::tidy::{self, Facts, HomeFacts, MinFree, Root, Space, TargetFacts, Tier};
use crate::plan::{ItemKind, Plan};
use crate::quantity::{self, HumanBytes, Span};
use crate::report::metrics::{self, Metrics};
use crate::report::{self, Output};
use crate::sys::fs::kind;

fn size(s: &str) -> Result<u64, String> {
    quantity::parse_size(s)
}

fn span(s: &str) -> Result<Span, String> {
    quantity::parse_duration(s).map(Span::from_duration)
}

#[derive(Debug, Args)]
pub struct TidyArgs {
    /// Target or build directories, and only those [default: the policy file's or the
    /// current workspace's, and those earlier runs worked on]; with --recursive, trees to
    /// search
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Search PATHs (default: the current directory) for target dirs
    #[arg(short, long)]
    pub recursive: bool,
    /// With --recursive, also search hidden directories
    #[arg(long)]
    pub hidden: bool,
    /// Keep CARGO_HOME and the target dirs together under this size on disk
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub budget: Option<u64>,
    /// Keep at least this much free on every filesystem holding CARGO_HOME or a target dir
    /// (a SIZE, or a percentage of the filesystem: "10%")
    #[arg(long, value_name = "SIZE|PERCENT", value_parser = MinFree::parse)]
    pub min_free: Option<MinFree>,
    /// Let the budget win over the lockfiles: also remove the .crate files and git databases
    /// they pin (the next build downloads them again)
    #[arg(long)]
    pub hard: bool,
    /// A Cargo.lock whose packages to keep (repeatable), besides those of the target dirs'
    /// projects
    #[arg(long, value_name = "PATH")]
    pub lockfile: Vec<PathBuf>,
    /// Also remove what was unused this long, even when the limits hold
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub max_age: Option<Span>,
    /// Never touch a target dir at or under this path (repeatable)
    #[arg(long, value_name = "PATH")]
    pub exclude: Vec<PathBuf>,
    /// The policy file [default: $CARGO_JANITOR_POLICY, else cargo-janitor/policy.toml in
    /// the user's config directory, if it exists]; flags override it
    #[arg(long, value_name = "FILE", conflicts_with = "no_policy")]
    pub policy: Option<PathBuf>,
    /// Read no policy file
    #[arg(long)]
    pub no_policy: bool,
    /// Write the run's figures to FILE in the Prometheus text format (for node_exporter's
    /// textfile collector), replacing it atomically; also after a failed run
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Append one JSON line per run to FILE
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Never remove what was used this recently, whatever the budget says: a cargo may be
    /// between two of its locks, about to use it ("0" turns this off) [default: 10 minutes]
    #[arg(long, value_name = "DURATION", value_parser = span)]
    pub grace: Option<Span>,
    /// Work on caches on a network filesystem (NFS, SMB, 9p, FUSE), where Cargo's locks do
    /// not reach the other machines using them
    #[arg(long)]
    pub force_network_fs: bool,
    /// List what would be removed, and remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Skip what a build holds (exit code 3) instead of waiting for it
    #[arg(long)]
    pub no_wait: bool,
}

/// One cache root in the report.
#[derive(Debug, Serialize)]
pub struct RootReport {
    /// `home` or `target`.
    pub part: &'static str,
    pub path: PathBuf,
    /// Bytes on disk before, and after (what the removals freed taken off).
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// How many items went from it (entries of the home, units of a target dir); named as
    /// `trim`'s parts name theirs.
    #[serde(rename = "removed_units")]
    pub removed: usize,
    /// Why nothing was removed here although the plan had something: `busy` (--no-wait).
    pub skipped: Option<String>,
}

/// One filesystem holding a cache.
#[derive(Debug, Serialize)]
pub struct FsReport {
    pub path: PathBuf,
    pub size_bytes: u64,
    /// Free before the run, and after it (measured again after a real run).
    pub free_bytes: u64,
    pub free_after_bytes: u64,
    /// What --min-free asks for here, if given.
    pub min_free_bytes: Option<u64>,
}

/// One removal, in the order of the plan.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub tier: Tier,
    pub kind: ItemKind,
    pub path: PathBuf,
    /// Bytes on disk it freed (or, in a dry run, would free).
    pub bytes: u64,
    /// Its last use (unix seconds; `None` when unknown).
    pub last_use: Option<u64>,
    pub reason: String,
    /// How the human output names it, when it is a target dir's ([`report::unit_labels`]).
    #[serde(skip)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The policy file read, if any.
    pub policy: Option<PathBuf>,
    pub budget_bytes: Option<u64>,
    pub min_free: Option<String>,
    pub hard: bool,
    /// Bytes on disk of CARGO_HOME and every target dir, before and after.
    pub before_bytes: u64,
    pub after_bytes: u64,
    pub reclaimed_bytes: u64,
    /// Whether the budget and --min-free hold after the run.
    pub met: bool,
    pub roots: Vec<RootReport>,
    pub filesystems: Vec<FsReport>,
    pub removed: Vec<Removed>,
    pub lockfiles: Vec<PathBuf>,
    /// What the lockfiles kept of what the budget would have taken (0 with --hard).
    pub kept_pinned: usize,
    pub kept_pinned_bytes: u64,
    pub grace: grace::Report,
}

/// What a run works on, once resolved from flags (and the policy file).
#[derive(Debug, Clone)]
pub struct Settings {
    pub budget: Option<u64>,
    pub min_free: Option<MinFree>,
    pub hard: bool,
    pub grace: Span,
    pub max_age: Option<Span>,
    pub lockfiles: Vec<PathBuf>,
    pub exclude: Vec<PathBuf>,
    /// The policy file read, if any (its roots and target dirs apply when no PATH is given).
    pub policy: Option<PolicyFile>,
}

impl Settings {
    /// The flags over the policy file: a limit given on the command line replaces the file's;
    /// lockfiles and exclusions add up.
    pub fn resolve(args: &TidyArgs, policy: Option<PolicyFile>) -> Settings {
        let p = policy.clone().unwrap_or_default();
        Settings {
            budget: args.budget.or(p.budget),
            min_free: args.min_free.or(p.min_free),
            hard: args.hard || p.hard.unwrap_or(false),
            grace: args.grace.or(p.grace).unwrap_or(grace::DEFAULT),
            max_age: args.max_age.or(p.max_age),
            lockfiles: args.lockfile.iter().chain(&p.lockfiles).cloned().collect(),
            exclude: args.exclude.iter().chain(&p.exclude).cloned().collect(),
            policy,
        }
    }
}

/// The target dirs to work on: the PATHs given; else the policy file's roots (searched) and
/// target dirs (those that are not target dirs now are left out, with a warning: a project
/// may be gone), or the current workspace's, and those earlier runs recorded
/// ([`known`]). Less the excluded. Also returns the recorded dirs dropped (no longer target
/// dirs), for the record to forget.
fn target_dirs(
    args: &TidyArgs,
    s: &Settings,
    cwd: &Path,
    home: &CargoHome,
    out: &Output,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut dirs = given_target_dirs(args, s, cwd, home, out)?;
    let mut dropped = Vec::new();
    if args.paths.is_empty() && !args.recursive {
        match known::read(&home.path) {
            Ok(k) => {
                for d in &k.dropped {
                    out.warn(format!(
                        "`{}` (recorded by an earlier run) is no longer a Cargo target \
                         directory; left out and forgotten",
                        d.display()
                    ));
                }
                let canon: Vec<PathBuf> = dirs
                    .iter()
                    .map(|d| d.canonicalize().unwrap_or_else(|_| d.clone()))
                    .collect();
                dirs.extend(k.dirs.into_iter().filter(|d| !canon.contains(d)));
                dropped = k.dropped;
            }
            Err(e) => out.warn(format!(
                "could not read the target dirs earlier runs recorded: {e}; left out"
            )),
        }
    }
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let excluded: Vec<PathBuf> = s.exclude.iter().map(|e| canon(&cwd.join(e))).collect();
    dirs.retain(|d| !excluded.iter().any(|e| canon(d).starts_with(e)));
    Ok((dirs, dropped))
}

fn given_target_dirs(
    args: &TidyArgs,
    s: &Settings,
    cwd: &Path,
    home: &CargoHome,
    out: &Output,
) -> Result<Vec<PathBuf>> {
    if args.paths.is_empty()
        && !args.recursive
        && let Some(p) = &s.policy
        && (!p.roots.is_empty() || !p.target_dirs.is_empty())
    {
        let mut found = Vec::new();
        for r in &p.roots {
            if r.is_dir() {
                target::find_target_dirs(r, args.hidden, &mut found);
            } else {
                out.warn(format!(
                    "`{}` (roots, in `{}`) is not a directory; left out",
                    r.display(),
                    p.path.display()
                ));
            }
        }
        for t in &p.target_dirs {
            if target::is_target_dir(t) {
                found.push(t.clone());
            } else {
                out.warn(format!(
                    "`{}` (target-dirs, in `{}`) is not a Cargo target directory; left out",
                    t.display(),
                    p.path.display()
                ));
            }
        }
        found.sort();
        found.dedup();
        return Ok(found);
    }
    let (need, form) = if args.recursive {
        (Need::SearchRoot, "PATH (with --recursive)")
    } else {
        (Need::TargetDir, "PATH")
    };
    let given = (args.paths.iter())
        .map(|p| paths::check(cwd, p, need, form))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    if args.recursive {
        let roots = if given.is_empty() {
            vec![cwd.to_owned()]
        } else {
            given
        };
        for r in &roots {
            target::find_target_dirs(r, args.hidden, &mut out);
        }
    } else if given.is_empty() {
        let config = CargoConfig::load(cwd, home)?;
        out.extend(
            target::target_dirs(cwd, &config, home)
                .into_iter()
                .filter(|d| target::is_target_dir(d)),
        );
    } else {
        out = given;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The lockfiles whose packages stay: those given, and each target dir's project's (the
/// `Cargo.lock` beside it), each mapped with the cargo config of its directory.
fn keep_set(
    given: &[PathBuf],
    targets: &[PathBuf],
    home: &CargoHome,
) -> Result<(KeepSet, Vec<PathBuf>)> {
    let mut lockfiles: Vec<PathBuf> = given.to_vec();
    for t in targets {
        if let Some(project) = t.parent()
            && project.join("Cargo.toml").is_file()
            && let Some(root) = target::workspace_root(project)
            && root.join("Cargo.lock").is_file()
        {
            lockfiles.push(root.join("Cargo.lock"));
        }
    }
    lockfiles.sort();
    lockfiles.dedup();
    let mut keep = KeepSet::default();
    for l in &lockfiles {
        // What a lockfile pins cannot be told if it cannot be read: stop, remove nothing.
        let pinned = lockfile::read(l).map_err(|e| BadInput(format!("{e:#}")))?;
        let dir = l.parent().unwrap_or(Path::new("."));
        keep.merge(lockfile::keep_set(&pinned, &CargoConfig::load(dir, home)?));
    }
    Ok((keep, lockfiles))
}

fn entry_disk(e: &home::Entry) -> u64 {
    e.size.map_or(0, |s| s.disk_bytes.unwrap_or(s.bytes))
}

/// Bytes on disk of the whole home (every entry, `bin/`, and everything else).
fn home_total(inv: &Inventory) -> u64 {
    inv.entries().map(entry_disk).sum::<u64>() + inv.bin.disk_bytes + inv.other.disk_bytes
}

/// Scans and measures the home on disk (read-only; no lock).
fn scan_home(home: &CargoHome, out: &Output) -> Result<(Inventory, HashMap<PathBuf, u64>)> {
    let snapshot = db::read(&home.db_path());
    if let db::DbRead::Unusable(why) = &snapshot {
        bail!("{why}; nothing was removed");
    }
    let mut inv = home::scan(&home.path, snapshot.snapshot());
    if let Some((path, err)) = inv.errors.first() {
        bail!("`{}` {err}; nothing was removed", path.display());
    }
    let progress = out.progress("Scanning CARGO_HOME");
    let tick = |n| progress.tick(n);
    let mut walker = Walker::with_progress(&tick);
    home::measure(&mut inv, SizeMode::Exact, &mut walker);
    progress.finish();
    let untracked: Vec<&Path> = inv
        .entries()
        .filter(|e| e.last_use.is_none())
        .map(|e| e.path.as_path())
        .collect();
    let mtimes = crate::observe::mtimes(untracked);
    Ok((inv, mtimes))
}

pub fn run(global: &GlobalArgs, args: &TidyArgs, out: &Output) -> Result<i32> {
    let result = (|| {
        let policy = if args.no_policy {
            None
        } else {
            policy_file::load(args.policy.as_deref())?
        };
        let settings = Settings::resolve(args, policy);
        run_with(global, args, &settings, out)
    })();
    if args.metrics.is_none() && args.log.is_none() {
        return result.map(|(code, _)| code);
    }
    let (code, m) = match result {
        Ok((code, mut m)) => {
            m.exit_code = code;
            m.success = code == exit::OK;
            (Ok(code), m)
        }
        Err(e) => {
            let m = Metrics {
                error: Some(format!("{e:#}")),
                dry_run: args.dry_run,
                exit_code: if e.chain().any(|c| c.is::<BadInput>()) {
                    exit::BAD_INPUT
                } else {
                    exit::FAILURE
                },
                ..Metrics::default()
            };
            (Err(e), m)
        }
    };
    let (lock_waits, waited) = crate::act::lock::waits();
    let m = Metrics {
        time: disk_now(),
        lock_waits,
        lock_wait_seconds: waited.as_secs_f64(),
        ..m
    };
    if let Some(path) = &args.metrics
        && let Err(e) = metrics::write_atomic(path, &metrics::render(&m))
    {
        out.warn(format!(
            "could not write the metrics file `{}`: {e}",
            path.display()
        ));
    }
    if let Some(path) = &args.log {
        let line = LogLine {
            time: m.time,
            dry_run: m.dry_run,
            exit_code: m.exit_code,
            met: m.met,
            total_bytes: m.total_bytes,
            reclaimed_bytes: m.reclaimed_bytes,
            removed: m.removed.iter().map(|r| r.1).sum(),
            busy_skipped: m.busy_skipped,
            lock_waits: m.lock_waits,
            lock_wait_seconds: m.lock_wait_seconds,
            error: m.error.clone(),
        };
        if let Err(e) = metrics::append_line(path, &line) {
            out.warn(format!(
                "could not append to the log `{}`: {e}",
                path.display()
            ));
        }
    }
    code
}

/// One line of the run log (`--log`).
#[derive(Debug, Serialize)]
struct LogLine {
    /// Unix seconds when the run ended.
    time: u64,
    dry_run: bool,
    exit_code: i32,
    /// Whether the limits held afterwards.
    met: bool,
    /// Bytes on disk of CARGO_HOME and the target dirs after the run.
    total_bytes: u64,
    reclaimed_bytes: u64,
    removed: u64,
    busy_skipped: u64,
    /// Times the run waited for a Cargo lock a build held, and the seconds it waited.
    lock_waits: u64,
    lock_wait_seconds: f64,
    error: Option<String>,
}

/// The figures of a run for `--metrics`: the home as `status --exact` sees it now (scanned
/// again after a real run), and the report's.
fn run_metrics(
    home: &CargoHome,
    inv: Option<&Inventory>,
    r: &Report,
    out: &Output,
) -> Result<Metrics> {
    let fresh;
    let inv = match inv {
        Some(i) if r.dry_run || r.removed.iter().all(|x| x.tier <= Tier::Unit) => Some(i),
        Some(_) => {
            fresh = scan_home(home, out)?.0;
            Some(&fresh)
        }
        None => None,
    };
    let components = inv.map_or_else(Vec::new, |inv| {
        let db = db::read(&home.db_path());
        let names = crate::discover::RegistryNames::with_urls(std::iter::empty());
        crate::plan::status::build(inv, &db, &names, crate::observe::now(), true, None)
            .components
            .into_iter()
            .map(|c| {
                (
                    c.kind.to_string(),
                    c.count,
                    c.bytes,
                    c.disk_bytes.unwrap_or(0),
                )
            })
            .collect()
    });
    let mut removed: Vec<(String, u64)> = Vec::new();
    for x in &r.removed {
        let t = serde_json::to_value(x.tier)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match removed.iter_mut().find(|(n, _)| *n == t) {
            Some(e) => e.1 += 1,
            None => removed.push((t, 1)),
        }
    }
    Ok(Metrics {
        dry_run: r.dry_run,
        components,
        target_dirs: r
            .roots
            .iter()
            .filter(|x| x.part == "target")
            .map(|x| (x.path.clone(), x.after_bytes))
            .collect(),
        free: r
            .filesystems
            .iter()
            .map(|f| (f.path.clone(), f.free_after_bytes))
            .collect(),
        total_bytes: r.after_bytes,
        budget_bytes: r.budget_bytes,
        met: r.met,
        reclaimed_bytes: r.reclaimed_bytes,
        removed,
        busy_skipped: r.roots.iter().filter(|x| x.skipped.is_some()).count() as u64,
        ..Metrics::default()
    })
}

pub fn run_with(
    global: &GlobalArgs,
    args: &TidyArgs,
    s: &Settings,
    out: &Output,
) -> Result<(i32, Metrics)> {
    if s.budget.is_none() && s.min_free.is_none() && s.max_age.is_none() {
        return Err(BadInput(
            "tidy needs a limit: --budget SIZE, --min-free SIZE|PERCENT or --max-age DURATION \
             (or a policy file that sets one)"
                .into(),
        )
        .into());
    }
    let cwd = std::env::current_dir()?;
    let lockfiles_given = (s.lockfiles.iter())
        .map(|l| paths::check(&cwd, l, Need::Lockfile, "--lockfile"))
        .collect::<Result<Vec<_>, _>>()?;
    let home = CargoHome::resolve(global.cargo_home.as_deref())?;
    let (dirs, dropped) = target_dirs(args, s, &cwd, &home, out)?;
    let home_exists = home.path.is_dir();
    let mut roots: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    if home_exists {
        roots.insert(0, &home.path);
    }
    super::network::refuse(&roots, args.force_network_fs, "tidy")?;
    let (keep, lockfiles) = keep_set(&lockfiles_given, &dirs, &home)?;

    // Observe: every target dir (on all cores), the home, and their filesystems.
    let scans = target_dir::scan_all(&dirs);
    let (inv, mtimes) = if home_exists {
        let (i, m) = scan_home(&home, out)?;
        (Some(i), m)
    } else {
        (None, HashMap::new())
    };
    let mut spaces: Vec<Space> = Vec::new();
    let mut device_of = |p: &Path| -> Result<u64> {
        let f = kind::facts(p).map_err(|e| {
            anyhow::anyhow!("could not read the filesystem of `{}`: {e}", p.display())
        })?;
        if !spaces.iter().any(|s| s.device == f.device) {
            spaces.push(Space {
                device: f.device,
                path: p.to_owned(),
                size_bytes: f.size_bytes,
                free_bytes: f.free_bytes,
            });
        }
        Ok(f.device)
    };
    let home_device = if home_exists {
        Some(device_of(&home.path)?)
    } else {
        None
    };
    let target_devices = dirs
        .iter()
        .map(|d| device_of(d))
        .collect::<Result<Vec<_>>>()?;

    let grace = Grace {
        period: s.grace,
        db_now: crate::observe::now(),
        disk_now: disk_now(),
    };
    let policy = tidy::Policy {
        budget: s.budget,
        min_free: s.min_free,
        hard: s.hard,
        grace,
        max_age: s.max_age,
    };
    let facts = Facts {
        home: inv
            .as_ref()
            .zip(home_device)
            .map(|(inv, device)| HomeFacts {
                inv,
                mtimes: &mtimes,
                total_bytes: home_total(inv),
                device,
            }),
        targets: scans
            .iter()
            .zip(&target_devices)
            .map(|(td, device)| TargetFacts {
                td,
                device: *device,
            })
            .collect(),
        keep: &keep,
        spaces: spaces.clone(),
    };
    let plan = tidy::plan(&facts, &policy, disk_now());

    let wait = if args.no_wait {
        Wait::NoWait
    } else {
        Wait::Block
    };
    let mut code = exit::OK;
    let mut kept: Vec<Kept> = plan.kept_recent.clone();
    // What was removed, by identifying path, with the bytes it freed.
    let mut done: HashMap<PathBuf, u64> = HashMap::new();
    let mut labels: HashMap<PathBuf, String> = HashMap::new();
    let mut root_reports = Vec::new();

    // Target dirs first: every one of their candidates comes before any of the home's.
    for (i, (dir, td)) in dirs.iter().zip(scans).enumerate() {
        let selected = tidy::selected(&plan, Root::Target(i));
        let before = td.total_disk_bytes;
        let plan_of = |td: &TargetDir| {
            let g = Grace {
                disk_now: disk_now(),
                ..grace
            };
            tidy::dir_plan(td, &selected, &g)
        };
        let first = plan_of(&td);
        // A real run goes to the target dir even when the plan chose nothing there: a trash a
        // killed run left is emptied (no lock is taken when there is neither).
        let acted =
            super::sweep::act_or_preview(args.dry_run, dir, td, first, wait, &plan_of, out)?;
        code = code.max(acted.code);
        let mut dplan = acted.plan;
        kept.append(&mut dplan.kept);
        let named = report::unit_labels(dir, &dplan.removals.iter().collect::<Vec<_>>());
        for (r, label) in dplan.removals.iter().zip(named) {
            if let Some(p) = r.paths.first() {
                done.insert(p.clone(), r.bytes);
                labels.insert(p.clone(), label);
            }
        }
        root_reports.push(RootReport {
            part: "target",
            path: dir.clone(),
            before_bytes: before,
            after_bytes: before.saturating_sub(dplan.reclaimed_bytes),
            removed: dplan.removals.len(),
            skipped: acted.skipped,
        });
    }

    if !args.dry_run {
        super::record_target_dirs(Some(&home.path), &dirs, &dropped, out);
    }

    // Then CARGO_HOME, under Cargo's lock, its part planned again under it.
    if let Some(inv) = &inv {
        let before = home_total(inv);
        let wanted = plan.items.iter().any(|i| i.root == Root::Home);
        let mut removed = 0;
        let mut skipped = None;
        let mut freed = 0;
        if args.dry_run {
            let (hp, mut hk) = tidy::home_plan(&plan, inv, &mtimes, &grace);
            kept.append(&mut hk);
            for i in &hp.items {
                done.insert(i.path.clone(), i.disk_bytes.unwrap_or(i.bytes));
                freed += i.disk_bytes.unwrap_or(i.bytes);
            }
            removed = hp.items.len();
        } else if wanted || Remover::new(&home.path).is_ok_and(|r| r.has_leftover()) {
            match act_on_home(&home, &plan, s.grace, wait, out)? {
                HomeActed::Busy => {
                    skipped = Some("busy".to_string());
                    code = code.max(exit::LOCK_BUSY);
                }
                HomeActed::Done {
                    plan: hp,
                    kept: mut hk,
                    errors,
                } => {
                    kept.append(&mut hk);
                    for i in &hp.items {
                        if errors.iter().any(|(p, _)| p == &i.path) {
                            continue;
                        }
                        done.insert(i.path.clone(), i.disk_bytes.unwrap_or(i.bytes));
                        freed += i.disk_bytes.unwrap_or(i.bytes);
                        removed += 1;
                    }
                    for (path, err) in &errors {
                        out.warn(format!("could not remove `{}`: {err}", path.display()));
                        code = code.max(exit::FAILURE);
                    }
                }
            }
        }
        root_reports.insert(
            0,
            RootReport {
                part: "home",
                path: home.path.clone(),
                before_bytes: before,
                after_bytes: before.saturating_sub(freed),
                removed,
                skipped,
            },
        );
    }

    // The removals in the plan's order, as carried out.
    let removed: Vec<Removed> = plan
        .items
        .iter()
        .filter_map(|i| {
            done.get(&i.path).map(|bytes| Removed {
                tier: i.tier,
                kind: i.kind,
                path: i.path.clone(),
                bytes: *bytes,
                last_use: (i.last_use > 0).then_some(i.last_use),
                reason: i.reason.clone(),
                label: labels.get(&i.path).cloned(),
            })
        })
        .collect();
    let reclaimed: u64 = removed.iter().map(|r| r.bytes).sum();
    let after = plan.total_bytes.saturating_sub(reclaimed);
    let mut filesystems = Vec::new();
    let mut fs_met = true;
    for sp in &spaces {
        // After a real run, measured again; a dry run counts what it would free.
        let free_after = if args.dry_run {
            let freed_here: u64 = plan
                .items
                .iter()
                .filter(|i| done.contains_key(&i.path))
                .filter(|i| {
                    let dev = match i.root {
                        Root::Home => home_device,
                        Root::Target(t) => target_devices.get(t).copied(),
                    };
                    dev == Some(sp.device)
                })
                .map(|i| done[&i.path])
                .sum();
            sp.free_bytes + freed_here
        } else {
            kind::facts(&sp.path).map_or(sp.free_bytes, |f| f.free_bytes)
        };
        let want = s.min_free.map(|m| m.bytes(sp.size_bytes));
        if want.is_some_and(|w| free_after < w) {
            fs_met = false;
        }
        filesystems.push(FsReport {
            path: sp.path.clone(),
            size_bytes: sp.size_bytes,
            free_bytes: sp.free_bytes,
            free_after_bytes: free_after,
            min_free_bytes: want,
        });
    }
    let met = s.budget.is_none_or(|b| after <= b) && fs_met;
    let report = Report {
        dry_run: args.dry_run,
        policy: s.policy.as_ref().map(|p| p.path.clone()),
        budget_bytes: s.budget,
        min_free: s.min_free.map(|m| m.to_string()),
        hard: s.hard,
        before_bytes: plan.total_bytes,
        after_bytes: after,
        reclaimed_bytes: reclaimed,
        met,
        roots: root_reports,
        filesystems,
        removed,
        lockfiles,
        kept_pinned: plan.kept_pinned,
        kept_pinned_bytes: plan.kept_pinned_bytes,
        grace: grace::Report::new(s.grace, kept),
    };
    if !met {
        code = code.max(exit::FAILURE);
    }
    if args.json {
        report::json(&report)?;
    } else {
        report::print_human(render(&report, args.dry_run || out.verbose > 0))?;
        if args.dry_run {
            out.warn("nothing removed due to --dry-run");
        }
    }
    if !met && !args.json {
        out.warn(unmet_reason(&report));
    }
    let m = if args.metrics.is_some() || args.log.is_some() {
        run_metrics(&home, inv.as_ref(), &report, out)?
    } else {
        Metrics::default()
    };
    Ok((code, m))
}

/// Why the budget does not hold, in words.
fn unmet_reason(r: &Report) -> String {
    let mut why = Vec::new();
    if r.kept_pinned > 0 {
        why.push(format!(
            "{} entr{} the lockfiles pin ({}; --hard removes them)",
            r.kept_pinned,
            if r.kept_pinned == 1 { "y" } else { "ies" },
            HumanBytes(r.kept_pinned_bytes)
        ));
    }
    if r.grace.kept > 0 {
        why.push(format!("{} used within the grace period", r.grace.kept));
    }
    if r.roots.iter().any(|x| x.skipped.is_some()) {
        why.push("caches a build held (--no-wait)".into());
    }
    let when = if r.dry_run { " after this plan" } else { "" };
    if why.is_empty() {
        return format!(
            "the limits do not hold{when}: nothing else can be removed (what is left is not \
             Cargo's caches)"
        );
    }
    format!("the limits do not hold{when}: kept {}", why.join(", "))
}

fn render(r: &Report, detailed: bool) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let mut limits = Vec::new();
    if let Some(b) = r.budget_bytes {
        limits.push(format!("a budget of {}", HumanBytes(b)));
    }
    if let Some(m) = &r.min_free {
        limits.push(format!("{m} free on each filesystem"));
    }
    let _ = writeln!(
        text,
        "CARGO_HOME and {} target dir{}: {} on disk; {}{}.",
        r.roots.iter().filter(|x| x.part == "target").count(),
        if r.roots.iter().filter(|x| x.part == "target").count() == 1 {
            ""
        } else {
            "s"
        },
        HumanBytes(r.before_bytes),
        limits.join(" and "),
        if r.hard {
            " (--hard: lockfiles do not keep anything)"
        } else {
            ""
        },
    );
    let mut t = crate::report::table::Table::new(&["", "removed", "before", "after"]);
    for x in &r.roots {
        t.row(vec![
            format!("{} {}", x.part, report::shown(&x.path)),
            match &x.skipped {
                Some(why) => format!("skipped ({why})"),
                None => x.removed.to_string(),
            },
            HumanBytes(x.before_bytes).to_string(),
            HumanBytes(x.after_bytes).to_string(),
        ]);
    }
    text.push_str(&t.render());
    let _ = writeln!(
        text,
        "{} {} item{}, {}: {} on disk now{}.",
        if r.dry_run { "Would remove" } else { "Removed" },
        r.removed.len(),
        if r.removed.len() == 1 { "" } else { "s" },
        HumanBytes(r.reclaimed_bytes),
        HumanBytes(r.after_bytes),
        if r.met {
            ", within the limits"
        } else {
            ", over the limits"
        },
    );
    for f in &r.filesystems {
        if let Some(w) = f.min_free_bytes {
            let _ = writeln!(
                text,
                "{}: {} free of {} (want {}).",
                report::shown(&f.path),
                HumanBytes(f.free_after_bytes),
                HumanBytes(f.size_bytes),
                HumanBytes(w)
            );
        }
    }
    text.push_str(&crate::report::grace_lines(&r.grace, detailed));
    if detailed {
        for i in &r.removed {
            // Target dirs' units by name, version and profile; the home's entries by name
            // and version, their kind said.
            let what = match &i.label {
                Some(label) => label.clone(),
                None => format!(
                    "{} {}",
                    report::entry_name(&i.path, i.kind.name()),
                    i.kind.name()
                ),
            };
            let _ = writeln!(text, "  {what}  {}  {}", HumanBytes(i.bytes), i.reason);
        }
    }
    text
}

enum HomeActed {
    Busy,
    Done {
        plan: Plan,
        kept: Vec<Kept>,
        errors: Vec<(PathBuf, String)>,
    },
}

/// Removes the home's part of the plan under Cargo's `MutateExclusive` lock: scans again under
/// it, keeps only what the plan chose and is still there and old, removes it, and drops its
/// rows from `.global-cache` (as `trim` does; nothing else is written there).
fn act_on_home(
    home: &CargoHome,
    plan: &tidy::TidyPlan,
    period: Span,
    wait: Wait,
    out: &Output,
) -> Result<HomeActed> {
    let mut on_block = crate::report::locks::blocking_notice(out);
    let _lock = match MutateExclusive::acquire(&home.path, wait, &mut on_block) {
        Ok(l) => l,
        Err(e @ LockError::Busy { .. }) => {
            out.warn(format!(
                "skipping `{}`: {e} (--no-wait)",
                home.path.display()
            ));
            return Ok(HomeActed::Busy);
        }
        Err(e) => return Err(e.into()),
    };
    let db_path = home.db_path();
    let db_file = db::locate(&db_path)?;
    let mut conn = if db_file.exists {
        Some(dbw::open(&db_path, false).map_err(|e| dbw::failure(e, &db_path))?)
    } else {
        None
    };
    let snapshot = match conn.as_ref() {
        Some(c) => {
            db::DbRead::Read(db::read_snapshot(c).map_err(|e| dbw::failure(e.into(), &db_path))?)
        }
        None => db::read(&db_path),
    };
    if let db::DbRead::Unusable(why) = &snapshot {
        bail!("{why}; nothing was removed from `{}`", home.path.display());
    }
    let inv = home::scan(&home.path, snapshot.snapshot());
    if let Some((path, err)) = inv.errors.first() {
        bail!("`{}` {err}; nothing was removed from it", path.display());
    }
    let untracked: Vec<&Path> = inv
        .entries()
        .filter(|e| e.last_use.is_none())
        .map(|e| e.path.as_path())
        .collect();
    let mtimes = crate::observe::mtimes(untracked);
    let grace = Grace {
        period,
        disk_now: disk_now(),
        db_now: crate::observe::now(),
    };
    let (hp, kept) = tidy::home_plan(plan, &inv, &mtimes, &grace);
    let mut remover = Remover::new(&home.path)?;
    let progress = out.progress("Removing");
    let tick = |n| progress.tick(n);
    let outcome = executor::execute(&hp, &mut remover, Held::Home(&_lock), conn.as_mut(), &tick)?;
    progress.finish();
    Ok(HomeActed::Done {
        plan: hp,
        kept,
        errors: outcome.errors,
    })
}
