//! Acting on a target (or build) directory: the one place that deletes there, for `sweep`,
//! `trim`, `--used-by` and `tidy`.
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

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::executor;
use super::lock::{BuildLocks, Held, LockError, Wait};
use super::remove::Remover;
use crate::exit;
use crate::observe::target_dir::{self, TargetDir};
use crate::plan::sweep::{self, DirPlan};
use crate::plan::{ItemKind, Plan, PlanItem, Row};

/// How many times [`act_on_target`] scans again for profile directories that appeared.
pub const LOCK_ROUNDS: usize = 8;

/// What acting on one target dir did.
pub struct Acted {
    /// The directory as last scanned, and the plan carried out (empty when skipped).
    pub td: TargetDir,
    pub plan: DirPlan,
    /// `busy` when the build locks were held and we were not to wait.
    pub skipped: Option<String>,
    /// Why it was skipped: the lock that was busy.
    pub busy: Option<LockError>,
    /// What could not be removed, and why.
    pub errors: Vec<(PathBuf, String)>,
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
    on_block: &mut dyn FnMut(&'static str, &Path),
) -> Result<Acted> {
    if dry_run {
        return Ok(Acted {
            plan: with_versions(plan, &td),
            td,
            skipped: None,
            busy: None,
            errors: Vec::new(),
            code: exit::OK,
        });
    }
    act_on_target(dir, td, plan, wait, plan_of, on_block)
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
    on_block: &mut dyn FnMut(&'static str, &Path),
) -> Result<Acted> {
    // Nothing to remove and no trash a killed run left here: no lock to take.
    if plan.removals.is_empty() && !Remover::for_target(dir).is_ok_and(|r| r.has_leftover()) {
        return Ok(Acted {
            td,
            plan,
            skipped: None,
            busy: None,
            errors: Vec::new(),
            code: exit::OK,
        });
    }
    let mut held: Vec<PathBuf> = td.profiles.clone();
    let mut locks = match BuildLocks::acquire(dir, &held, wait, on_block) {
        Ok(l) => vec![l],
        Err(e @ LockError::Busy { .. }) => {
            return Ok(Acted {
                plan: DirPlan {
                    units: plan.units,
                    ..DirPlan::default()
                },
                td,
                skipped: Some("busy".to_string()),
                busy: Some(e),
                errors: Vec::new(),
                code: exit::LOCK_BUSY,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let td = lock_new_profiles(dir, &mut held, &mut locks)?;
    let td = target_dir::restrict(td, &held);
    // Versions are read from the units' dep-info before the units go.
    let plan = with_versions(plan_of(&td), &td);
    let mut remover = Remover::for_target(dir)?;
    let outcome = executor::execute(
        &to_plan(&td, &plan),
        &mut remover,
        Held::Target(&locks),
        None,
        &|_| {},
    )?;
    drop(locks);
    let code = if outcome.errors.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    };
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
        busy: None,
        errors: outcome.errors,
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
