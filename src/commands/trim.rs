//! `cargo janitor trim`: keep exactly what the given lockfiles need (CI caches, shared
//! build machines).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::act::db as dbw;
use crate::act::executor;
use crate::act::lock::{LockError, MutateExclusive, Wait};
use crate::act::remove::Remover;
use crate::cli::{GlobalArgs, TrimArgs};
use crate::discover::lockfile::{self, KeepSet};
use crate::discover::paths::{self, Need};
use crate::discover::{CargoConfig, CargoHome, target};
use crate::exit::{self, BadInput};
use crate::observe::home::{self, SizeMode};
use crate::observe::target_dir::{self, TargetDir};
use crate::observe::toolchains;
use crate::observe::walk::Walker;
use crate::observe::{db, disk_now};
use crate::plan::grace::{self, Grace, Untracked};
use crate::plan::{sweep, trim};
use crate::report::{self, Output};

#[derive(Debug, Serialize)]
pub struct Part {
    /// `home` or `target`.
    pub part: &'static str,
    pub path: PathBuf,
    /// Apparent bytes before and after (the home's caches, sized as `status` sizes them; a
    /// target dir's bytes on disk).
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// Entries (home) or units (target dir) kept.
    pub kept_units: usize,
    /// Of `kept_units`, the units kept because their package could not be identified
    /// (always 0 for the home, whose entries are named by registry and package).
    pub kept_unknown: usize,
    /// Entries (home; index cache entries are listed, not counted) or units removed.
    pub removed_units: usize,
    /// What was removed (a dry run: what would be), failures left out.
    pub removed: Vec<RemovedItem>,
    pub skipped: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RemovedItem {
    pub path: PathBuf,
    /// A kind of the one vocabulary (`registry-crate`, `unit`, …: docs/json.md).
    pub kind: String,
    /// Bytes freed: apparent bytes in the home, bytes on disk in a target dir.
    pub bytes: u64,
    pub reason: String,
    /// How the human output names a target dir's removal ([`report::unit_labels`]).
    #[serde(skip)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub ci: bool,
    pub lockfiles: Vec<PathBuf>,
    /// The `--used-by` commands, as given (their units are what target dirs keep).
    pub used_by: Vec<String>,
    /// Packages with a registry or git source pinned by the lockfiles.
    pub pinned_packages: usize,
    pub parts: Vec<Part>,
    /// What the grace period kept, in the home and the target dirs.
    pub grace: grace::Report,
}

fn listed(outcome: &executor::Outcome) -> Vec<RemovedItem> {
    outcome
        .items
        .iter()
        .map(|i| RemovedItem {
            path: i.path.clone(),
            kind: i.kind.name().to_owned(),
            bytes: i.bytes,
            reason: i.reason.clone(),
            label: None,
        })
        .collect()
}

/// The cargo config that applies when cargo runs in `dir` (its `.cargo/config.toml` and its
/// ancestors', then `$CARGO_HOME/config.toml`), loaded once per directory.
fn config_in<'a>(
    cache: &'a mut Vec<(PathBuf, CargoConfig)>,
    dir: &Path,
    home: &CargoHome,
) -> Result<&'a CargoConfig> {
    if let Some(i) = cache.iter().position(|(d, _)| d == dir) {
        return Ok(&cache[i].1);
    }
    let config = CargoConfig::load(dir, home)?;
    cache.push((dir.to_owned(), config));
    Ok(&cache.last().expect("just pushed").1)
}

/// The home's plan: every entry no lockfile pins (with `--ci`, also every source, checkout
/// and unpinned index entry), less what the grace period keeps.
struct HomePlan {
    inv: home::Inventory,
    plan: crate::plan::Plan,
    kept: Vec<grace::Kept>,
    /// The caches' apparent bytes, as `status` sizes them.
    before: u64,
}

fn plan_home(
    home: &CargoHome,
    keep: &KeepSet,
    args: &TrimArgs,
    snapshot: &db::DbRead,
    out: &Output,
) -> Result<HomePlan> {
    if let db::DbRead::Unusable(why) = snapshot {
        anyhow::bail!("{why}; nothing was removed");
    }
    let mut inv = home::scan(&home.path, snapshot.snapshot());
    if let Some((path, err)) = inv.errors.first() {
        anyhow::bail!("`{}` {err}; nothing was removed", path.display());
    }
    let progress = out.progress("Scanning CARGO_HOME");
    let tick = |n| progress.tick(n);
    let mut walker = Walker::with_progress(&tick);
    home::measure(&mut inv, SizeMode::Stored, &mut walker);
    progress.finish();
    out.warn_unread(&walker.errors);
    let before = inv.cache_bytes();
    let mut plan = trim::plan_home(&inv, keep, args.ci);
    if args.ci {
        plan.items
            .extend(trim::plan_index(&home::index_cache_entries(&home.path), keep).items);
    }
    // Nothing used moments ago goes. Rows are compared with the database's clock; what has
    // no row (trim does not sync, and a CI cache restores files without their rows) by its
    // own modification time, on the real clock.
    let grace = Grace {
        period: args.grace,
        db_now: crate::observe::now(),
        disk_now: disk_now(),
    };
    let mtimes = crate::observe::mtimes(plan.items.iter().map(|i| i.path.as_path()));
    let (plan, kept) = grace::split_home(plan, &inv, &grace, Untracked::Mtime(&mtimes));
    Ok(HomePlan {
        inv,
        plan,
        kept,
        before,
    })
}

/// Entries (not index entries) a home plan removes.
fn entries_removed(plan: &crate::plan::Plan) -> usize {
    (plan.items.iter())
        .filter(|i| i.kind != crate::plan::ItemKind::IndexEntry)
        .count()
}

/// Outside `--ci` and without `--yes`, a trim that would remove more than a tenth of the
/// home's entries asks first, on a terminal (a lockfile of another project, a workspace not
/// built yet: a mistake empties a laptop's cache). Read from a snapshot, before any lock is
/// taken and before any `--used-by` command runs: nobody waits on the question. Not on a
/// terminal, it is refused (exit 2). Returns whether to go on.
fn confirm(home: &CargoHome, keep: &KeepSet, args: &TrimArgs, out: &Output) -> Result<bool> {
    use std::io::{BufRead, IsTerminal};
    if args.dry_run || args.ci || args.yes || !home.has_caches() {
        return Ok(true);
    }
    let db_path = home.db_path();
    db::locate(&db_path)?;
    let preview = plan_home(home, keep, args, &db::read(&db_path), out)?;
    let total = preview.inv.entries().count();
    let removed = entries_removed(&preview.plan);
    if removed * 10 <= total {
        return Ok(true);
    }
    let what = format!(
        "trim would remove {removed} of the {total} entries in `{}` ({}), more than a tenth",
        home.path.display(),
        crate::units::HumanBytes(preview.plan.bytes())
    );
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(BadInput(format!(
            "{what}; not on a terminal to ask: pass --yes to remove them (or --dry-run to list \
             them); nothing was removed"
        ))
        .into());
    }
    out.prompt(format!("{what}. Remove them? [y/N] "));
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn run(global: &GlobalArgs, args: &TrimArgs, out: &Output) -> Result<i32> {
    let cwd = std::env::current_dir()?;
    // Every path given, checked before anything else.
    let check = |p: &PathBuf, need, arg| paths::check(&cwd, p, need, arg);
    let mut workspaces = (args.workspace.iter())
        .map(|w| check(w, Need::Workspace, "--workspace"))
        .collect::<Result<Vec<_>, _>>()?;
    let given_lockfiles = (args.lockfile.iter())
        .map(|l| check(l, Need::Lockfile, "--lockfile"))
        .collect::<Result<Vec<_>, _>>()?;
    let given_targets = (args.target_dir.iter())
        .map(|t| check(t, Need::TargetDir, "--target-dir"))
        .collect::<Result<Vec<_>, _>>()?;
    let home = CargoHome::resolve(global.cargo_home.as_deref())?;
    let mut configs = Vec::new();

    // Which lockfiles, each with the directory cargo would run in for it (whose config maps
    // its sources), and which workspaces (for their target dirs and toolchain).
    let mut lockfiles: Vec<(PathBuf, PathBuf)> = given_lockfiles
        .into_iter()
        .map(|l| {
            let dir = l.parent().map_or_else(|| cwd.clone(), Path::to_owned);
            (l, dir)
        })
        .collect();
    // The directory cargo runs in for each workspace.
    let mut run_dirs = workspaces.clone();
    if workspaces.is_empty() && lockfiles.is_empty() {
        let root = target::workspace_root(&cwd).ok_or_else(|| {
            BadInput(
                "no Cargo.lock here: run in a workspace, or pass --lockfile or --workspace".into(),
            )
        })?;
        workspaces.push(root);
        run_dirs.push(cwd.clone());
    }
    for (w, dir) in workspaces.iter().zip(&run_dirs) {
        let lock = w.join("Cargo.lock");
        if !lock.exists()
            && let Some(root) = target::workspace_root(w)
            && root != *w
            && root.join("Cargo.lock").is_file()
        {
            return Err(BadInput(format!(
                "`{}` has no Cargo.lock: it is not a workspace root; pass --workspace {}",
                w.display(),
                root.display()
            ))
            .into());
        }
        lockfiles.push((lock, dir.clone()));
    }
    let mut keep = KeepSet::default();
    for (l, dir) in &lockfiles {
        let pinned = lockfile::read(l).map_err(|e| BadInput(format!("{e:#}")))?;
        keep.merge(lockfile::keep_set(
            &pinned,
            config_in(&mut configs, dir, &home)?,
        ));
    }
    let lockfiles: Vec<PathBuf> = lockfiles.into_iter().map(|(l, _)| l).collect();

    if !confirm(&home, &keep, args, out)? {
        out.status("Skipped", "nothing was removed");
        return Ok(exit::OK);
    }

    // --used-by: the commands run first (they may need what is about to be trimmed); the
    // target dirs are those they used, kept exactly as they reported. One that fails stops
    // everything: nothing is removed.
    let mut session = None;
    if !args.used_by.is_empty() {
        let commands = super::used_by::parse_all(&args.used_by)?;
        match super::used_by::run_all(&commands, global, out)? {
            Some(s) => session = Some(s),
            None => return Ok(exit::FAILURE),
        }
    }
    let mut targets = given_targets;
    if let Some(s) = &session {
        targets = s.dirs.clone();
    } else if targets.is_empty() {
        for dir in &run_dirs {
            let config = config_in(&mut configs, dir, &home)?;
            targets.extend(
                target::target_dirs(dir, config, &home)
                    .into_iter()
                    .filter(|d| target::is_target_dir(d)),
            );
        }
    }
    let mut roots: Vec<&Path> = vec![&home.path];
    roots.extend(targets.iter().map(PathBuf::as_path));
    super::network::refuse(&roots, args.force_network_fs, "trim")?;
    // The current toolchain, as rustup picks it in the (first) workspace.
    let current = toolchains::current(workspaces.first().unwrap_or(&cwd));
    let wait = if args.no_wait {
        Wait::NoWait
    } else {
        Wait::Block
    };
    let mut report = Report {
        dry_run: args.dry_run,
        ci: args.ci,
        lockfiles: lockfiles.clone(),
        used_by: args.used_by.clone(),
        pinned_packages: keep.packages(),
        parts: Vec::new(),
        grace: grace::Report::default(),
    };
    let mut kept = Vec::new();
    let mut code = exit::OK;

    // CARGO_HOME, under Cargo's MutateExclusive lock.
    let mut on_block = super::locks::blocking_notice(out);
    // A dry run takes no lock and waits for nobody: it reads a snapshot, and says so.
    let lock = if home.has_caches() && !args.dry_run {
        match MutateExclusive::acquire(&home.path, wait, &mut on_block) {
            Ok(l) => Some(l),
            Err(e @ LockError::Busy { .. }) => {
                out.error(format!("{e}; nothing was removed (--no-wait)"));
                return Ok(exit::LOCK_BUSY);
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let db_path = home.db_path();
    // A symlink there is refused, in a dry run too: it is never followed.
    let db_file = db::locate(&db_path)?;
    let mut conn = if db_file.exists && !args.dry_run {
        Some(dbw::open(&db_path, false).map_err(|e| dbw::failure(e, &db_path))?)
    } else {
        None
    };
    // Read through the connection the removals will use (Cargo's busy wait), else read-only.
    // A database that cannot be read stops the run before anything is removed: its rows
    // could not be dropped with their entries.
    let snapshot = match conn.as_ref() {
        Some(c) => {
            db::DbRead::Read(db::read_snapshot(c).map_err(|e| dbw::failure(e.into(), &db_path))?)
        }
        None => db::read(&db_path),
    };
    let HomePlan {
        inv,
        plan,
        kept: home_kept,
        before,
    } = plan_home(&home, &keep, args, &snapshot, out)?;
    kept.extend(home_kept);
    let grace = Grace {
        period: args.grace,
        db_now: crate::observe::now(),
        disk_now: disk_now(),
    };
    let total_entries = inv.entries().count();
    let mut remover = Remover::new(&home.path)?;
    // Trash a killed run left is emptied under the lock even when nothing else goes.
    let outcome = if args.dry_run {
        executor::dry_run(&plan, &remover)
    } else if !plan.items.is_empty() || (lock.is_some() && remover.has_leftover()) {
        let progress = out.progress("Removing");
        let tick = |n| progress.tick(n);
        let outcome = executor::execute(&plan, &mut remover, conn.as_mut(), &tick)?;
        progress.finish();
        outcome
    } else {
        executor::Outcome::default()
    };
    for (path, err) in &outcome.errors {
        out.warn(format!("could not remove `{}`: {err}", path.display()));
        if !args.dry_run {
            code = exit::FAILURE;
        }
    }
    drop(lock);
    // What was removed, sized as `before` is (a failure removes nothing).
    let removed_bytes = executor::planned_bytes_of_removed(&plan, &outcome);
    let home_removed = (outcome.items.iter())
        .filter(|i| i.kind != crate::plan::ItemKind::IndexEntry)
        .count();
    report.parts.push(Part {
        part: "home",
        path: home.path.clone(),
        before_bytes: before,
        after_bytes: before.saturating_sub(removed_bytes),
        kept_units: total_entries.saturating_sub(home_removed),
        kept_unknown: 0,
        removed_units: home_removed,
        removed: listed(&outcome),
        skipped: None,
    });

    // Target dirs, each under its build locks.
    let scans = target_dir::scan_all(&targets);
    out.warn_unread(
        &scans
            .iter()
            .flat_map(|td| td.errors.clone())
            .collect::<Vec<_>>(),
    );
    if let Some(s) = &mut session {
        s.resolve(&scans.iter().collect::<Vec<_>>(), out);
        if !args.dry_run {
            for td in &scans {
                s.record(td, out);
            }
        }
    }
    for (dir, first) in targets.iter().zip(scans) {
        // The units kept as unknown by the last plan made (the one acted on).
        let kept_unknown = std::cell::Cell::new(0);
        let plan_of = |td: &TargetDir| {
            let grace = Grace {
                disk_now: disk_now(),
                ..grace
            };
            if let Some(s) = &session {
                return s.plan(td, &grace).0;
            }
            let p = trim::plan_target(
                td,
                &target_dir::sources_by_unit(td),
                &target_dir::rustc_by_unit(td),
                &current,
                &keep,
            );
            kept_unknown.set(p.kept_unknown);
            sweep::keep_recent(p.plan, td, &grace)
        };
        let first_plan = plan_of(&first);
        let done = super::sweep::act_or_preview(
            args.dry_run,
            dir,
            first,
            first_plan,
            wait,
            &plan_of,
            out,
        )?;
        code = code.max(done.code);
        let (td, mut dplan, skipped) = (done.td, done.plan, done.skipped);
        kept.append(&mut dplan.kept);
        report.parts.push(Part {
            part: "target",
            path: dir.clone(),
            before_bytes: td.total_disk_bytes,
            after_bytes: td.total_disk_bytes.saturating_sub(dplan.reclaimed_bytes),
            kept_units: dplan.units - dplan.removed_units,
            kept_unknown: kept_unknown.get(),
            removed_units: dplan.removed_units,
            removed: dplan
                .removals
                .iter()
                .zip(report::unit_labels(
                    dir,
                    &dplan.removals.iter().collect::<Vec<_>>(),
                ))
                .map(|(r, label)| RemovedItem {
                    path: r.paths.first().cloned().unwrap_or_default(),
                    kind: r.kind.to_string(),
                    bytes: r.bytes,
                    reason: r.reason.clone(),
                    label: Some(label),
                })
                .collect(),
            skipped,
        });
    }

    report.grace = grace::Report::new(args.grace, kept);
    if args.json {
        report::json(&report)?;
    } else {
        report::print_human(report::trim::render(
            &report,
            args.dry_run || out.verbose > 0,
            out,
        ))?;
        if args.dry_run {
            out.warn("nothing removed due to --dry-run");
        }
    }
    Ok(code)
}
