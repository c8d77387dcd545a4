//! `cargo janitor gc`: Cargo's cache cleaning (`cargo clean gc`), on stable.
//!
//! discover (home, config, policy) → lock (MutateExclusive) → observe (database, disk) →
//! plan (Cargo's sync and clean order, then the grace period) → act (remove units, then write
//! the sync rows and drop the rows of what is gone) → report.
//!
//! Nothing is written to `.global-cache` before the removals: on a full disk SQLite cannot
//! even delete rows (its journal needs room), and the removals are what makes room. A database
//! write that still fails comes after the summary of what was removed, as a warning (exit 1):
//! rows that outlive their paths are harmless, and Cargo's next clean drops them.

use std::fmt::Write;
use std::path::Path;

use anyhow::{Result, bail};

use crate::act::db as dbw;
use crate::act::executor;
use crate::act::lock::{Held, LockError, MutateExclusive, Wait};
use crate::act::remove::Remover;
use crate::cli::{GcArgs, GlobalArgs};
use crate::discover::{CargoConfig, CargoHome};
use crate::exit::{self, BadInput};
use crate::observe::home::SizeMode;
use crate::observe::{db, disk_now, now};
use crate::plan::Plan;
use crate::plan::clean;
use crate::plan::grace::{self, Grace};
use crate::plan::policy::{self, Policy};
use crate::plan::sync;
use crate::quantity::{self, Frequency};
use crate::report::{self, Output};

fn policy(args: &GcArgs, config: &CargoConfig) -> Result<Policy> {
    let mut p = Policy {
        max_index_age: args.max_index_age,
        max_src_age: args.max_src_age,
        max_crate_age: args.max_crate_age,
        max_git_db_age: args.max_git_db_age,
        max_git_co_age: args.max_git_co_age,
        max_crate_size: args.max_crate_size,
        max_src_size: args.max_src_size,
        max_git_size: args.max_git_size,
        max_download_size: args.max_download_size,
        origins: Default::default(),
    };
    if let Some(age) = args.max_download_age {
        p.set_max_download_age(age);
    }
    if p.is_empty() {
        p = Policy::from_config(config).map_err(BadInput)?;
    }
    Ok(p)
}

fn frequency(config: &CargoConfig) -> Result<Frequency> {
    let v = config
        .get_str(&["cache", "auto-clean-frequency"])
        .unwrap_or_else(|| "1 day".into());
    quantity::parse_frequency(&v).map_err(|_| {
        BadInput(config.invalid(
            &["cache", "auto-clean-frequency"],
            quantity::CONFIG_FREQUENCY,
            &v,
        ))
        .into()
    })
}

pub fn run(global: &GlobalArgs, args: &GcArgs, out: &Output) -> Result<i32> {
    let home = CargoHome::resolve(global.cargo_home.as_deref())?;
    let cwd = std::env::current_dir()?;
    let config = CargoConfig::load(&cwd, &home)?;
    let policy = policy(args, &config)?;
    super::network::refuse(&[&home.path], args.force_network_fs, "gc")?;
    let freq = match args.auto.then(|| frequency(&config)).transpose()? {
        Some(Frequency::Never) => return Ok(exit::OK),
        f => f,
    };
    let quiet_auto = args.auto && out.verbose == 0;
    if !home.has_caches() {
        return nothing_to_clean(&home, args, quiet_auto, out);
    }
    // Cargo's lock protocol: mutate, then package cache.
    let lock = match lock_home(&home, args, quiet_auto, out)? {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let now = now();
    let db_path = home.db_path();
    let (mut conn, snapshot) = open_db(&db_path, args.dry_run, now, quiet_auto, out)?;
    if let Some(freq) = freq
        && !policy::auto_due(freq, snapshot.as_ref().and_then(|s| s.last_auto_gc), now)
    {
        // Not due; still empty what a killed run left in the trash (the locks are held).
        return empty_leftover(&home, lock.as_ref(), out);
    }

    // Observe. Anything unreadable stops the run here, before any write: an unreadable
    // directory must not make Cargo's rows look orphaned.
    let inv = super::scan_home(&home, snapshot.as_ref(), SizeMode::Cargo, "Scanning", out)?;
    let before_bytes = inv.cache_bytes();

    // Plan: Cargo's sync and clean; nothing used moments ago goes, whatever the limits say.
    let grace = Grace {
        period: args.grace,
        db_now: now,
        disk_now: disk_now(),
    };
    let (changes, plan, kept) = clean::gc(&inv, snapshot.as_ref(), &policy, now, &grace);
    let kept = grace::Report::new(args.grace, kept);

    // Act.
    let mut remover = Remover::new(&home.path)?;
    let (outcome, db_error) = match (&lock, conn.as_mut()) {
        (Some(lock), Some(c)) => {
            let held = Held::Home(lock);
            let db = Recording {
                conn: c,
                changes: &changes,
                now,
                auto: args.auto,
                path: &db_path,
            };
            remove(&plan, &mut remover, held, db, out)?
        }
        _ => (executor::dry_run(&plan, &remover), None),
    };
    out.warn_not_removed(&outcome.errors);

    // Report. Sized like `before_bytes` (Cargo's stored sizes, checkouts without `.git`);
    // what could not be removed is still there.
    let after_bytes =
        before_bytes.saturating_sub(executor::planned_bytes_of_removed(&plan, &outcome));
    let mut report =
        report::gc::Report::new(args.dry_run, &outcome, before_bytes, after_bytes, &kept);
    report.database_error = db_error.as_ref().map(|e| e.error.to_string());
    show(&report, &outcome, args, quiet_auto, out)?;
    if let Some(e) = &db_error {
        out.warn(e.warning(&db_path, !outcome.items.is_empty()));
    }
    Ok(if outcome.errors.is_empty() && db_error.is_none() {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Prints the report: JSON, or the human summary (nothing for a quiet `--auto`).
fn show(
    report: &report::gc::Report,
    outcome: &executor::Outcome,
    args: &GcArgs,
    quiet_auto: bool,
    out: &Output,
) -> Result<()> {
    if args.json {
        report::json(report)?;
    } else if !quiet_auto {
        report::print_human(report::gc::render(
            report,
            outcome,
            args.dry_run || out.verbose > 0,
            out,
        ))?;
        if args.dry_run {
            out.warn("no files deleted due to --dry-run");
        }
    }
    Ok(())
}

/// A home with nothing Cargo's GC manages: create no lock file and no database there.
fn nothing_to_clean(
    home: &CargoHome,
    args: &GcArgs,
    quiet_auto: bool,
    out: &Output,
) -> Result<i32> {
    if !quiet_auto && !args.json {
        out.status(
            "Nothing",
            format!(
                "to clean: `{}` has no registry/, git/ or .global-cache",
                home.path.display()
            ),
        );
    }
    if args.json {
        let empty = executor::Outcome::default();
        let kept = grace::Report::new(args.grace, Vec::new());
        report::json(&report::gc::Report::new(args.dry_run, &empty, 0, 0, &kept))?;
    }
    Ok(exit::OK)
}

/// Cargo's `MutateExclusive` on the home, for a real run (a dry run takes no lock and waits
/// for nobody: it reads a snapshot, which what a build running now does next can change, and
/// says so). `Err(code)`: the run ends there with that exit code, having said why.
fn lock_home(
    home: &CargoHome,
    args: &GcArgs,
    quiet_auto: bool,
    out: &Output,
) -> Result<Result<Option<MutateExclusive>, i32>> {
    if args.dry_run {
        return Ok(Ok(None));
    }
    let wait = Wait::unless(args.auto || args.no_wait);
    let mut on_block = crate::report::locks::blocking_notice(out);
    match MutateExclusive::acquire(&home.path, wait, &mut on_block) {
        Ok(l) => Ok(Ok(Some(l))),
        Err(LockError::Busy { .. }) if args.auto => {
            if !quiet_auto {
                out.status("Skipping", "automatic clean: a cargo is using the cache");
            }
            Ok(Err(exit::OK))
        }
        Err(e @ LockError::Busy { .. }) => {
            out.error(format!("{e}; nothing was removed (--no-wait)"));
            Ok(Err(exit::LOCK_BUSY))
        }
        Err(e) if e.is_read_only() => {
            bail!(
                "Cargo home `{}` is read-only: nothing can be removed, and nothing was\n\
                 Caused by: {e}",
                home.path.display()
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The database, created as Cargo creates it when there is none (a dry run creates nothing
/// and says what the real run would), and its rows.
fn open_db(
    db_path: &Path,
    dry_run: bool,
    now: u64,
    quiet_auto: bool,
    out: &Output,
) -> Result<(Option<rusqlite::Connection>, Option<db::Snapshot>)> {
    let existed = db_path.symlink_metadata().is_ok();
    let fail = |e: anyhow::Error| dbw::failure(e, db_path);
    let conn = if dry_run {
        if existed {
            Some(dbw::open(db_path, false).map_err(fail)?)
        } else {
            None
        }
    } else {
        let mut c = dbw::open(db_path, true).map_err(fail)?;
        dbw::migrate(&mut c, now).map_err(fail)?;
        Some(c)
    };
    if !existed && !quiet_auto {
        out.status(
            if dry_run { "Note" } else { "Created" },
            format!(
                "{}: there was no last-use database, so, as in Cargo, everything counts as used now",
                if dry_run {
                    "a real run creates .global-cache"
                } else {
                    "`.global-cache`"
                }
            ),
        );
    }
    let snapshot = match conn.as_ref() {
        Some(c) => {
            let version: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| fail(e.into()))?;
            // A dry run does not migrate: a database without Cargo's tables reads as empty,
            // which is what the real run would see right after creating them (and a foreign
            // one is refused, as the real run refuses it).
            if version < dbw::MIGRATION_COUNT {
                db::check_not_foreign(c).map_err(|e| fail(e.into()))?;
                None
            } else {
                Some(db::read_snapshot(c).map_err(|e| fail(e.into()))?)
            }
        }
        None => None,
    };
    if let Some(s) = &snapshot
        && s.user_version > db::CARGO_SCHEMA_VERSION
        && !quiet_auto
    {
        out.warn(format!(
            ".global-cache has schema version {} (this tool knows {}); using the tables it knows",
            s.user_version,
            db::CARGO_SCHEMA_VERSION
        ));
    }
    Ok((conn, snapshot))
}

/// `--auto` when no clean is due: only the trash a killed run left is emptied, under the lock
/// (a real run's).
fn empty_leftover(home: &CargoHome, lock: Option<&MutateExclusive>, out: &Output) -> Result<i32> {
    let mut remover = Remover::new(&home.path)?;
    if let Some(lock) = lock
        && remover.has_leftover()
    {
        let held = Held::Home(lock);
        let outcome = executor::execute(&Plan::default(), &mut remover, held, None, &|_| {})?;
        out.warn_not_removed(&outcome.errors);
        if !outcome.errors.is_empty() {
            return Ok(exit::FAILURE);
        }
    }
    Ok(exit::OK)
}

/// What the database gets after the removals ([`record`]).
struct Recording<'a> {
    conn: &'a mut rusqlite::Connection,
    changes: &'a sync::SyncChanges,
    now: u64,
    auto: bool,
    path: &'a Path,
}

/// A real run's removals, then its database writes.
fn remove(
    plan: &Plan,
    remover: &mut Remover,
    held: Held<'_>,
    db: Recording<'_>,
    out: &Output,
) -> Result<(executor::Outcome, Option<RecordError>)> {
    // Make sure the database is writable before anything is removed (this writes nothing).
    db.conn
        .execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(|e| dbw::failure(e.into(), db.path))?;
    // Nothing is written to the database before the removals: on a full disk SQLite needs
    // room for its journal even to delete rows, and the removals (the trash emptied
    // included) are what makes that room.
    let progress = out.progress("Cleaning");
    let tick = |n| progress.tick(n);
    let outcome = executor::execute(plan, remover, held, None, &tick)?;
    progress.finish();
    let db_error = record(db.conn, db.changes, plan, db.now, db.auto).err();
    Ok((outcome, db_error))
}

/// Rows are deleted in batches of this many, each one short transaction.
const ROW_BATCH: usize = 256;

/// A database write that failed after the removals.
struct RecordError {
    error: anyhow::Error,
    /// Rows of removed entries that are still in the database.
    stale_rows: usize,
}

impl RecordError {
    fn warning(&self, db_path: &Path, removed_any: bool) -> String {
        let full = is_disk_full(&self.error);
        let mut w = format!("could not update `{}`", db_path.display());
        if removed_any {
            w.push_str(" after the removals above");
        }
        match (full, removed_any) {
            (true, true) => w.push_str(" (they freed space, but the disk is still full)"),
            (true, false) => w.push_str(" (the disk is full)"),
            _ => {}
        }
        let _ = writeln!(w, ": {}", self.error);
        if self.stale_rows > 0 {
            let _ = write!(
                w,
                "It still lists {} removed entr{} (and may lack entries Cargo never recorded). ",
                self.stale_rows,
                if self.stale_rows == 1 { "y" } else { "ies" },
            );
        } else {
            w.push_str("It may lack entries Cargo never recorded, or list some that are gone. ");
        }
        w.push_str(
            "Cargo uses the cache as it is, and its next clean (or the next `cargo janitor gc`) \
             drops the rows of paths that are gone.",
        );
        w
    }
}

/// Writes the run to the database after the removals: Cargo's sync (one transaction), then
/// the rows of the entries that are now gone from disk (short transactions of
/// [`ROW_BATCH`]), then `last_auto_gc` for `--auto`. An entry that could not be removed keeps
/// its row.
fn record(
    conn: &mut rusqlite::Connection,
    changes: &sync::SyncChanges,
    plan: &crate::plan::Plan,
    now: u64,
    auto: bool,
) -> Result<(), RecordError> {
    let gone: Vec<&crate::plan::Row> = plan
        .items
        .iter()
        .filter(|i| !matches!(i.row, crate::plan::Row::None))
        .filter(|i| {
            i.path
                .symlink_metadata()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        })
        .map(|i| &i.row)
        .collect();
    let mut written = 0;
    let fail = |error, written: usize| RecordError {
        error,
        stale_rows: gone.len() - written,
    };
    dbw::apply_sync(conn, changes, now).map_err(|e| fail(e, 0))?;
    for batch in gone.chunks(ROW_BATCH) {
        dbw::delete_rows(conn, batch.iter().copied()).map_err(|e| fail(e, written))?;
        written += batch.len();
    }
    if auto {
        dbw::set_last_auto_gc(conn, now).map_err(|e| fail(e, written))?;
    }
    Ok(())
}

/// Whether SQLite failed for lack of space (`SQLITE_FULL`).
fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            == Some(rusqlite::ErrorCode::DiskFull)
    })
}
