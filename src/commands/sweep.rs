//! `cargo janitor sweep`: stale build artifacts inside target directories.
//!
//! discover (target dirs) → observe (units, atimes, toolchains, mount options) → plan (per
//! dir) → act (under the dir's build locks, re-planned once they are held) → report.
//!
//! Acting on a target dir (its locks, the scans under them): [`crate::act::target`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::act::lock::Wait;
use crate::act::target::{self as act_target, Acted};
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
use crate::report::sweep::{DirReport, Report};
use crate::report::{self, Output};

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

/// A dry run's outcome is the plan made without locks; a real run acts through
/// [`act_target::act_on_target`], waiting for the build locks as `wait` says and naming their
/// holder, and its warnings are printed. The one place `sweep`, `trim`, `--used-by` and `tidy`
/// choose.
pub fn act_or_preview(
    dry_run: bool,
    dir: &Path,
    td: TargetDir,
    plan: DirPlan,
    wait: Wait,
    plan_of: &dyn Fn(&TargetDir) -> DirPlan,
    out: &Output,
) -> Result<Acted> {
    let mut on_block = crate::report::locks::blocking_notice(out);
    let acted = act_target::act_or_preview(dry_run, dir, td, plan, wait, plan_of, &mut on_block)?;
    report::sweep::warn_acted(dir, &acted, out);
    Ok(acted)
}

/// Scans every target dir first, on all cores (each scan is independent and read-only); what
/// could not be read is one warning.
pub fn scan_all(dirs: &[PathBuf], out: &Output) -> Vec<TargetDir> {
    let scans = target_dir::scan_all(dirs);
    out.warn_unread(
        &scans
            .iter()
            .flat_map(|td| td.errors.clone())
            .collect::<Vec<_>>(),
    );
    scans
}

/// One target dir's plan under the criteria, from a scan: the record of use (`record`) gives
/// its units' last use where there is one, else atimes (`atime_ok`: the filesystem keeps
/// them); `--all` empties a directory only when every unit in it is known to be unused. File
/// times are compared with the real clock, read when each plan is made.
fn plan_dir(
    td: &TargetDir,
    record: Option<&HashMap<String, u64>>,
    atime_ok: bool,
    c: &Criteria,
    args: &SweepArgs,
    now: u64,
) -> DirPlan {
    let mut td = td.clone();
    let (signal, ages_ok) = used_by::apply_record(&mut td, record, atime_ok);
    let td = &td;
    let c = &Criteria {
        all: c.all && used_by::whole_dir_known(td, signal, atime_ok),
        ..c.clone()
    };
    let rustc = if c.toolchains.is_some() {
        target_dir::rustc_by_unit(td)
    } else {
        HashMap::new()
    };
    let grace = Grace {
        period: args.grace,
        db_now: now,
        disk_now: disk_now(),
    };
    sweep::plan_dir(td, &rustc, c, now, ages_ok, &grace)
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
            crate::quantity::span_words(age)
        ));
    }
    let dirs = dirs(global, args)?;
    let roots: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    super::network::refuse(&roots, args.force_network_fs, "sweep")?;
    let now = now();
    let dry_run = args.dry_run || !c.any();
    let mut report = Report::new(dry_run, Vec::new());
    let mut kept = Vec::new();
    let mut code = exit::OK;
    let progress = out.progress("Sweeping");
    let scans = scan_all(&dirs, out);
    for (i, (dir, first)) in dirs.iter().zip(scans).enumerate() {
        progress.tick(i as u64);
        // The record of use, where there is one, gives the last use of the units in it.
        let record = super::used_by::read_record(dir, out);
        let atime_ok = !target_dir::noatime(dir);
        let signal = used_by::signal(&first, record.as_ref(), atime_ok);
        let plan_of = |td: &TargetDir| plan_dir(td, record.as_ref(), atime_ok, &c, args, now);
        let wait = Wait::unless(args.no_wait);
        let first_plan = plan_of(&first);
        let mut done = act_or_preview(dry_run, dir, first, first_plan, wait, &plan_of, out)?;
        code = code.max(done.code);
        kept.append(&mut done.plan.kept);
        let project = target::project_of(dir);
        let (td, plan, skipped) = (done.td, done.plan, done.skipped);
        report.add(DirReport::new(
            dir,
            project,
            signal.name(),
            None,
            td,
            plan,
            skipped,
        ));
    }
    progress.finish();
    if !args.dry_run {
        super::record_target_dirs(global.cargo_home.as_deref(), &dirs, &[], out);
    }
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
