//! `cargo janitor sweep`: stale build artifacts inside target directories.
//!
//! discover (target dirs) → observe (units, atimes, toolchains, mount options) → plan (per
//! dir) → act (under the dir's build locks, re-planned once they are held) → report.
//!
//! # Locks
//!
//! A profile directory can appear at any time (a first `cargo build --release` creates
//! `target/release/` and locks it). [`act_on_target`] therefore locks the profile directories
//! of the first scan (waiting, in Cargo's order), scans again under those locks, locks every
//! profile directory that appeared meanwhile *without waiting* (we already hold locks: waiting
//! for one out of Cargo's order could deadlock with a cargo that holds it and wants one of
//! ours), and scans again, until no new one appears (at most [`LOCK_ROUNDS`] times). It then acts
//! only inside the profile directories it holds: a busy one is left alone and reported, and
//! `--all` then empties nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::act::executor;
use crate::act::lock::{BuildLocks, LockError, Wait};
use crate::act::remove::Remover;
use crate::cli::{GlobalArgs, SweepArgs};
use crate::discover::paths::{self, Need};
use crate::discover::{CargoConfig, CargoHome, target};
use crate::exit::{self, BadInput};
use crate::observe::target_dir::{self, TargetDir};
use crate::observe::toolchains;
use crate::observe::{disk_now, now};
use crate::plan::grace::{self, Grace};
use crate::plan::sweep::{self, Criteria, DirPlan, Toolchains};
use crate::plan::used_by;
use crate::plan::{ItemKind, Plan, PlanItem, Row};
use crate::report::{self, Output};

#[derive(Debug, Serialize)]
pub struct DirReport {
    pub path: PathBuf,
    /// The project the directory belongs to (its parent, when that has a Cargo.toml).
    pub project: Option<PathBuf>,
    /// `atime`; `record` when the directory's record of use gives its units' last use
    /// (`--used-by` writes it); `none` on a `noatime` mount without a record (then ages are
    /// unknown and age or size limits remove nothing there); `used-by` with `--used-by`.
    pub signal: &'static str,
    /// With `--used-by`: how many of its units the commands reported (all kept).
    pub reported_units: Option<usize>,
    pub units: usize,
    pub removed_units: usize,
    pub kept_units: usize,
    /// Apparent bytes and bytes on disk of the whole directory, hard links once.
    pub bytes: u64,
    pub disk_bytes: u64,
    /// Bytes on disk freed (or that a dry run would free), hard links once.
    pub reclaimed_bytes: u64,
    pub removed: Vec<sweep::Removal>,
    /// Why the directory was left alone, if it was (`busy` with --no-wait).
    pub skipped: Option<String>,
    /// Profile directories that appeared while sweeping and whose build locks a build held:
    /// left alone.
    pub busy_profiles: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The `--used-by` commands, as given.
    pub used_by: Vec<String>,
    pub dirs: Vec<DirReport>,
    pub removed_units: usize,
    pub reclaimed_bytes: u64,
    /// What the grace period kept.
    pub grace: grace::Report,
}

fn criteria(args: &SweepArgs) -> Result<Criteria> {
    if args.all && args.max_age.is_none() {
        return Err(BadInput(
            "--all needs --max-age: whole target dirs unused for how long?".into(),
        )
        .into());
    }
    let toolchains = match &args.toolchains {
        None => None,
        Some(names) => {
            let installed = toolchains::installed();
            Some(match names {
                None => Toolchains::NotIn(installed.iter().flat_map(|t| t.hashes).collect()),
                Some(list) => {
                    let mut hashes = Vec::new();
                    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        let found = toolchains::matching(&installed, name);
                        if found.is_empty() {
                            return Err(BadInput(format!(
                                "--toolchains: no installed toolchain is called `{name}` (installed: {})",
                                installed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
                            ))
                            .into());
                        }
                        hashes.extend(found.iter().flat_map(|t| t.hashes));
                    }
                    Toolchains::In(hashes)
                }
            })
        }
    };
    Ok(Criteria {
        max_age: args.max_age,
        toolchains,
        max_size: args.max_size,
        incremental: args.incremental,
        all: args.all,
    })
}

/// The directories to sweep.
fn dirs(global: &GlobalArgs, args: &SweepArgs) -> Result<Vec<PathBuf>> {
    let cwd = std::env::current_dir()?;
    // Every PATH checked before anything else, then the home: needed only without PATHs, but a
    // --cargo-home given must exist all the same.
    let (need, form) = if args.recursive {
        (Need::SearchRoot, "PATH (with --recursive)")
    } else {
        (Need::TargetDir, "PATH")
    };
    let given = (args.paths.iter())
        .map(|p| paths::check(&cwd, p, need, form))
        .collect::<Result<Vec<_>, _>>()?;
    let home = if args.paths.is_empty() || global.cargo_home.is_some() {
        Some(CargoHome::locate_existing(global.cargo_home.as_deref())?)
    } else {
        None
    };
    let mut out = Vec::new();
    if let (true, Some(home)) = (args.paths.is_empty(), &home) {
        let config = CargoConfig::load(&cwd, home)?;
        let found: Vec<PathBuf> = target::target_dirs(&cwd, &config, home)
            .into_iter()
            .filter(|d| target::is_target_dir(d))
            .collect();
        if args.recursive {
            target::find_target_dirs(&cwd, args.hidden, &mut out);
        } else if found.is_empty() {
            return Err(BadInput(
                "no target directory here: pass a PATH, or --recursive to search below the current directory"
                    .into(),
            )
            .into());
        } else {
            out = found;
        }
    } else if args.recursive {
        for p in &given {
            target::find_target_dirs(p, args.hidden, &mut out);
        }
    } else {
        out = given;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// How many times [`act_on_target`] scans again for profile directories that appeared.
pub const LOCK_ROUNDS: usize = 8;

/// What acting on one target dir did.
pub struct Acted {
    /// The directory as last scanned, and the plan carried out (empty when skipped).
    pub td: TargetDir,
    pub plan: DirPlan,
    /// `busy` when the build locks were held and we were not to wait.
    pub skipped: Option<String>,
    pub code: i32,
}

/// A dry run's outcome is the plan made without locks ([`Acted`] as is); a real run acts
/// through [`act_on_target`]. The one place `sweep`, `trim`, `--used-by` and `tidy` choose.
pub fn act_or_preview(
    dry_run: bool,
    dir: &Path,
    td: TargetDir,
    plan: DirPlan,
    wait: Wait,
    plan_of: &dyn Fn(&TargetDir) -> DirPlan,
    out: &Output,
) -> Result<Acted> {
    if dry_run {
        return Ok(Acted {
            plan: with_versions(plan, &td),
            td,
            skipped: None,
            code: exit::OK,
        });
    }
    act_on_target(dir, td, plan, wait, plan_of, out)
}

/// Carries out a target dir's plan: takes its build locks (waiting, naming the holder, or
/// giving up), scans and plans again under them (a build may have used units meanwhile),
/// locks the profile directories that appeared meanwhile or leaves them alone (see the module
/// docs), and removes, only inside profile directories it holds (the executor first empties
/// the trash a killed run left, which alone is reason enough to come here). The one place that
/// deletes in target dirs, for `sweep` and `trim`.
pub fn act_on_target(
    dir: &Path,
    td: TargetDir,
    plan: DirPlan,
    wait: Wait,
    plan_of: &dyn Fn(&TargetDir) -> DirPlan,
    out: &Output,
) -> Result<Acted> {
    // Nothing to remove and no trash a killed run left here: no lock to take.
    if plan.removals.is_empty() && !Remover::for_target(dir).is_ok_and(|r| r.has_leftover()) {
        return Ok(Acted {
            td,
            plan,
            skipped: None,
            code: exit::OK,
        });
    }
    let mut on_block = super::locks::blocking_notice(out);
    let mut held: Vec<PathBuf> = td.profiles.clone();
    let mut locks = match BuildLocks::acquire(dir, &held, wait, &mut on_block) {
        Ok(l) => vec![l],
        Err(e @ LockError::Busy { .. }) => {
            out.warn(format!("skipping `{}`: {e} (--no-wait)", dir.display()));
            return Ok(Acted {
                plan: DirPlan {
                    units: plan.units,
                    ..DirPlan::default()
                },
                td,
                skipped: Some("busy".to_string()),
                code: exit::LOCK_BUSY,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let td = lock_new_profiles(dir, &mut held, &mut locks)?;
    let td = target_dir::restrict(td, &held);
    for p in &td.busy_profiles {
        out.warn(format!(
            "leaving `{}` alone: it appeared while sweeping and a build holds its lock",
            p.display()
        ));
    }
    // Versions are read from the units' dep-info before the units go.
    let plan = with_versions(plan_of(&td), &td);
    let mut remover = Remover::for_target(dir)?;
    let outcome = executor::execute(&to_plan(&td, &plan), &mut remover, None, &|_| {})?;
    drop(locks);
    let mut code = exit::OK;
    for (path, err) in &outcome.errors {
        out.warn(format!("could not remove `{}`: {err}", path.display()));
        code = exit::FAILURE;
    }
    // What is reported is what went: a removal with any path left is not counted.
    let failed: HashSet<&Path> = outcome.errors.iter().map(|(p, _)| p.as_path()).collect();
    let plan = sweep::only_done(plan, &td, |r| {
        r.kind == "target-dir" && failed.is_empty()
            || r.kind != "target-dir" && !r.paths.iter().any(|p| failed.contains(p.as_path()))
    });
    Ok(Acted {
        td,
        plan,
        skipped: None,
        code,
    })
}

/// `plan` with the version of each unit it removes, for the report
/// ([`target_dir::versions`]).
fn with_versions(mut plan: DirPlan, td: &TargetDir) -> DirPlan {
    let hashes: HashSet<String> = (plan.removals.iter())
        .filter_map(|r| r.unit.hash.clone())
        .collect();
    if hashes.is_empty() {
        return plan;
    }
    let versions = target_dir::versions(td, &hashes);
    for r in &mut plan.removals {
        r.unit.version = r.unit.hash.as_ref().and_then(|h| versions.get(h).cloned());
    }
    plan
}

/// Under the locks in `locks` (of the profile directories in `held`): scans `dir` again and
/// locks, without waiting, each profile directory that appeared, until none appears (at most
/// [`LOCK_ROUNDS`] scans). Returns the last scan; its profile directories not in `held` are
/// those left alone.
fn lock_new_profiles(
    dir: &Path,
    held: &mut Vec<PathBuf>,
    locks: &mut Vec<BuildLocks>,
) -> Result<TargetDir> {
    let mut busy: Vec<PathBuf> = Vec::new();
    let mut td = target_dir::scan(dir);
    for _ in 0..LOCK_ROUNDS {
        let new: Vec<PathBuf> = td
            .profiles
            .iter()
            .filter(|p| !held.contains(p) && !busy.contains(p))
            .cloned()
            .collect();
        if new.is_empty() {
            break;
        }
        for p in new {
            match BuildLocks::acquire(dir, std::slice::from_ref(&p), Wait::NoWait, &mut |_, _| {}) {
                Ok(l) => {
                    locks.push(l);
                    held.push(p);
                }
                // Busy, or removed again before we could open its lock file.
                Err(LockError::Busy { .. } | LockError::Open { .. }) => busy.push(p),
                Err(e) => return Err(e.into()),
            }
        }
        td = target_dir::scan(dir);
    }
    Ok(td)
}

pub fn to_plan(td: &TargetDir, p: &DirPlan) -> Plan {
    let mut plan = Plan::default();
    for r in &p.removals {
        let (kind, paths) = match r.kind {
            "incremental" => (ItemKind::Incremental, r.paths.clone()),
            "target-dir" => (ItemKind::TargetDir, target_dir::contents_except_locks(td)),
            _ => (ItemKind::Unit, r.paths.clone()),
        };
        for (i, path) in paths.into_iter().enumerate() {
            plan.items.push(PlanItem {
                path,
                kind,
                bytes: 0,
                disk_bytes: None,
                reason: r.reason.clone(),
                row: Row::None,
                // A unit's other paths go only once its fingerprint (first) is gone.
                after_previous: kind == ItemKind::Unit && i > 0,
            });
        }
    }
    plan
}

pub fn run(global: &GlobalArgs, args: &SweepArgs, out: &Output) -> Result<i32> {
    if !args.used_by.is_empty() {
        return super::used_by::sweep(global, args, out);
    }
    let c = criteria(args)?;
    if let Some(age) = c.max_age
        && age.secs() < 86_400
    {
        out.warn(format!(
            "--max-age {}: under `relatime` (Linux's default) atimes move at most once a day, so \
             units used today may look older than they are",
            crate::units::span_words(age)
        ));
    }
    let dirs = dirs(global, args)?;
    let roots: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    super::network::refuse(&roots, args.force_network_fs, "sweep")?;
    let now = now();
    let dry_run = args.dry_run || !c.any();
    let mut report = Report {
        dry_run,
        used_by: Vec::new(),
        dirs: Vec::new(),
        removed_units: 0,
        reclaimed_bytes: 0,
        grace: grace::Report::default(),
    };
    let mut kept = Vec::new();
    let mut code = exit::OK;
    let progress = out.progress("Sweeping");
    // Scan every dir first, on all cores (each scan is independent and read-only).
    let scans = target_dir::scan_all(&dirs);
    out.warn_unread(
        &scans
            .iter()
            .flat_map(|td| td.errors.clone())
            .collect::<Vec<_>>(),
    );
    for (i, (dir, first)) in dirs.iter().zip(scans).enumerate() {
        progress.tick(i as u64);
        // The record of use, where there is one, gives the last use of the units in it.
        let record = super::used_by::read_record(dir, out);
        let atime_ok = !target_dir::noatime(dir);
        let signal = used_by::signal(&first, record.as_ref(), atime_ok);
        let plan_of = |td: &TargetDir| {
            let mut td = td.clone();
            let (signal, ages_ok) = used_by::apply_record(&mut td, record.as_ref(), atime_ok);
            let td = &td;
            // `--all` empties a directory only when every unit in it is known to be unused.
            let c = &Criteria {
                all: c.all && used_by::whole_dir_known(td, signal, atime_ok),
                ..c.clone()
            };
            let rustc = if c.toolchains.is_some() {
                target_dir::rustc_by_unit(td)
            } else {
                HashMap::new()
            };
            // File times are compared with the real clock, read when each plan is made.
            let grace = Grace {
                period: args.grace,
                db_now: now,
                disk_now: disk_now(),
            };
            sweep::plan_dir(td, &rustc, c, now, ages_ok, &grace)
        };
        let wait = if args.no_wait {
            Wait::NoWait
        } else {
            Wait::Block
        };
        let first_plan = plan_of(&first);
        let done = act_or_preview(dry_run, dir, first, first_plan, wait, &plan_of, out)?;
        code = code.max(done.code);
        let (td, plan, skipped) = (done.td, done.plan, done.skipped);
        let project = dir
            .parent()
            .filter(|p| p.join("Cargo.toml").is_file())
            .map(Path::to_path_buf);
        report.removed_units += plan.removed_units;
        report.reclaimed_bytes += plan.reclaimed_bytes;
        kept.extend(plan.kept);
        report.dirs.push(DirReport {
            path: dir.clone(),
            project,
            signal: signal.name(),
            reported_units: None,
            units: plan.units,
            removed_units: plan.removed_units,
            kept_units: plan.units - plan.removed_units,
            bytes: td.total_bytes,
            disk_bytes: td.total_disk_bytes,
            reclaimed_bytes: plan.reclaimed_bytes,
            removed: plan.removals,
            skipped,
            busy_profiles: td.busy_profiles,
        });
    }
    progress.finish();
    report.grace = grace::Report::new(args.grace, kept);
    if args.json {
        report::json(&report)?;
    } else {
        report::print_human(report::sweep::render(
            &report,
            c.any(),
            args.dry_run || out.verbose > 0,
            out,
        ))?;
    }
    Ok(code)
}
