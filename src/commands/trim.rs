//! `cargo janitor trim`: keep exactly what the given lockfiles need (CI caches, shared
//! build machines).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::act::db as dbw;
use crate::act::executor;
use crate::act::lock::{Held, LockError, MutateExclusive, Wait};
use crate::act::remove::Remover;
use crate::cli::{GlobalArgs, TrimArgs};
use crate::discover::lockfile::{self, KeepSet};
use crate::discover::paths::{self, Need};
use crate::discover::{CargoConfig, CargoHome, target};
use crate::exit::{self, BadInput};
use crate::observe::home::{self, SizeMode};
use crate::observe::target_dir::{self, TargetDir};
use crate::observe::toolchains;
use crate::observe::{db, disk_now};
use crate::plan::grace::{self, Grace, Untracked};
use crate::plan::{sweep, trim};
use crate::report::trim::{Part, RemovedItem, Report};
use crate::report::{self, Output};

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
    let stored = SizeMode::Stored;
    let inv = super::scan_home(
        home,
        snapshot.snapshot(),
        stored,
        "Scanning CARGO_HOME",
        out,
    )?;
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
        crate::quantity::HumanBytes(preview.plan.bytes())
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

/// What trim keeps, and where: every path given (checked before anything else), the
/// lockfiles (given, or the workspaces', or the current one's), the directories cargo runs in
/// for them (whose config maps their sources), and the keep set they pin.
struct Inputs {
    cwd: PathBuf,
    home: CargoHome,
    workspaces: Vec<PathBuf>,
    run_dirs: Vec<PathBuf>,
    lockfiles: Vec<PathBuf>,
    given_targets: Vec<PathBuf>,
    keep: KeepSet,
    configs: Vec<(PathBuf, CargoConfig)>,
}

fn inputs(global: &GlobalArgs, args: &TrimArgs) -> Result<Inputs> {
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
    Ok(Inputs {
        lockfiles: lockfiles.into_iter().map(|(l, _)| l).collect(),
        cwd,
        home,
        workspaces,
        run_dirs,
        given_targets,
        keep,
        configs,
    })
}

pub fn run(global: &GlobalArgs, args: &TrimArgs, out: &Output) -> Result<i32> {
    let Inputs {
        cwd,
        home,
        workspaces,
        run_dirs,
        lockfiles,
        given_targets,
        keep,
        mut configs,
    } = inputs(global, args)?;
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
    let targets = match &session {
        Some(s) => s.dirs.clone(),
        None if given_targets.is_empty() => target_dirs(&run_dirs, &mut configs, &home)?,
        None => given_targets,
    };
    let mut roots: Vec<&Path> = vec![&home.path];
    roots.extend(targets.iter().map(PathBuf::as_path));
    super::network::refuse(&roots, args.force_network_fs, "trim")?;
    let wait = Wait::unless(args.no_wait);
    let used_by = args.used_by.clone();
    let mut report = Report::new(args.dry_run, args.ci, lockfiles, used_by, keep.packages());

    // CARGO_HOME, under Cargo's MutateExclusive lock.
    let Trimmed {
        part,
        mut kept,
        mut code,
    } = match trim_home(&home, &keep, args, wait, out)? {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    report.parts.push(part);
    let grace = Grace {
        period: args.grace,
        db_now: crate::observe::now(),
        disk_now: disk_now(),
    };

    // Target dirs, each under its build locks. The current toolchain is the one rustup
    // picks in the (first) workspace.
    let current = toolchains::current(workspaces.first().unwrap_or(&cwd));
    let scans = super::sweep::scan_all(&targets, out);
    if let Some(s) = &mut session {
        s.resolve(&scans.iter().collect::<Vec<_>>(), out);
        if !args.dry_run {
            for td in &scans {
                s.record(td, out);
            }
        }
    }
    for (dir, first) in targets.iter().zip(scans) {
        let keeps = Keeps {
            session: session.as_ref(),
            current: &current,
            keep: &keep,
            grace,
        };
        let mut done = trim_target(dir, first, &keeps, args, wait, out)?;
        code = code.max(done.code);
        kept.append(&mut done.kept);
        report.parts.push(done.part);
    }
    if !args.dry_run {
        super::record_target_dirs(Some(&home.path), &targets, &[], out);
    }

    report.grace = grace::Report::new(args.grace, kept);
    show(&report, args, out)?;
    Ok(code)
}

/// The target dirs of the workspaces cargo runs in (`run_dirs`), as their config places them.
fn target_dirs(
    run_dirs: &[PathBuf],
    configs: &mut Vec<(PathBuf, CargoConfig)>,
    home: &CargoHome,
) -> Result<Vec<PathBuf>> {
    let mut targets = Vec::new();
    for dir in run_dirs {
        let config = config_in(configs, dir, home)?;
        targets.extend(
            target::target_dirs(dir, config, home)
                .into_iter()
                .filter(|d| target::is_target_dir(d)),
        );
    }
    Ok(targets)
}

/// Prints the report: JSON, or the human summary.
fn show(report: &Report, args: &TrimArgs, out: &Output) -> Result<()> {
    if args.json {
        report::json(report)?;
    } else {
        report::print_human(report::trim::render(
            report,
            args.dry_run || out.verbose > 0,
            out,
        ))?;
        if args.dry_run {
            out.warn("nothing removed due to --dry-run");
        }
    }
    Ok(())
}

/// What trimming a home or a target dir did: its part of the report, what the grace period
/// kept there, and the exit code so far.
struct Trimmed {
    part: Part,
    kept: Vec<grace::Kept>,
    code: i32,
}

/// What a target dir keeps: the units the `--used-by` session reported, else those the
/// lockfiles (`keep`) pin for the `current` toolchain; and what the grace period keeps.
#[derive(Clone, Copy)]
struct Keeps<'a> {
    session: Option<&'a super::used_by::Session>,
    current: &'a [u64],
    keep: &'a KeepSet,
    grace: Grace,
}

/// Trims the home under Cargo's `MutateExclusive` (a dry run takes no lock and waits for
/// nobody: it reads a snapshot, and says so): its part of the report, what the grace period
/// kept, and the exit code so far. `Err(code)`: the lock was busy (`--no-wait`), said.
fn trim_home(
    home: &CargoHome,
    keep: &KeepSet,
    args: &TrimArgs,
    wait: Wait,
    out: &Output,
) -> Result<Result<Trimmed, i32>> {
    let mut on_block = crate::report::locks::blocking_notice(out);
    let lock = if home.has_caches() && !args.dry_run {
        match MutateExclusive::acquire(&home.path, wait, &mut on_block) {
            Ok(l) => Some(l),
            Err(e @ LockError::Busy { .. }) => {
                out.error(format!("{e}; nothing was removed (--no-wait)"));
                return Ok(Err(exit::LOCK_BUSY));
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
        kept,
        before,
    } = plan_home(home, keep, args, &snapshot, out)?;
    let total_entries = inv.entries().count();
    let mut remover = Remover::new(&home.path)?;
    // Trash a killed run left is emptied under the lock even when nothing else goes.
    let outcome = if args.dry_run {
        executor::dry_run(&plan, &remover)
    } else if let Some(lock) = &lock
        && (!plan.items.is_empty() || remover.has_leftover())
    {
        let progress = out.progress("Removing");
        let tick = |n| progress.tick(n);
        let held = Held::Home(lock);
        let outcome = executor::execute(&plan, &mut remover, held, conn.as_mut(), &tick)?;
        progress.finish();
        outcome
    } else {
        executor::Outcome::default()
    };
    out.warn_not_removed(&outcome.errors);
    let code = if args.dry_run || outcome.errors.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    };
    drop(lock);
    // What was removed, sized as `before` is (a failure removes nothing).
    let removed_bytes = executor::planned_bytes_of_removed(&plan, &outcome);
    let home_removed = (outcome.items.iter())
        .filter(|i| i.kind != crate::plan::ItemKind::IndexEntry)
        .count();
    let part = Part {
        part: "home",
        path: home.path.clone(),
        before_bytes: before,
        after_bytes: before.saturating_sub(removed_bytes),
        kept_units: total_entries.saturating_sub(home_removed),
        kept_unknown: 0,
        removed_units: home_removed,
        removed: listed(&outcome),
        skipped: None,
    };
    Ok(Ok(Trimmed { part, kept, code }))
}

/// Trims one target dir under its build locks (or previews it): every unit the lockfiles
/// (`current` toolchain, `keep` set) or the `--used-by` session do not keep, less what the
/// grace period keeps. Its part of the report, what the grace period kept, the exit code.
fn trim_target(
    dir: &Path,
    first: TargetDir,
    keeps: &Keeps<'_>,
    args: &TrimArgs,
    wait: Wait,
    out: &Output,
) -> Result<Trimmed> {
    let Keeps {
        session,
        current,
        keep,
        grace,
    } = *keeps;
    // The units kept as unknown by the last plan made (the one acted on).
    let kept_unknown = std::cell::Cell::new(0);
    let plan_of = |td: &TargetDir| {
        let grace = Grace {
            disk_now: disk_now(),
            ..grace
        };
        if let Some(s) = session {
            return s.plan(td, &grace).0;
        }
        let p = trim::plan_target(
            td,
            &target_dir::sources_by_unit(td),
            &target_dir::rustc_by_unit(td),
            current,
            keep,
        );
        kept_unknown.set(p.kept_unknown);
        sweep::keep_recent(p.plan, td, &grace)
    };
    let first_plan = plan_of(&first);
    let done =
        super::sweep::act_or_preview(args.dry_run, dir, first, first_plan, wait, &plan_of, out)?;
    let (td, mut dplan, skipped) = (done.td, done.plan, done.skipped);
    let kept = std::mem::take(&mut dplan.kept);
    let part = Part {
        part: "target",
        path: dir.to_owned(),
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
    };
    Ok(Trimmed {
        part,
        kept,
        code: done.code,
    })
}
