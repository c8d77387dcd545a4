//! Carrying out a [`Plan`]: the only code that deletes cache entries.
//!
//! Callers hold the locks of the root (Cargo's `MutateExclusive` for a home, the build locks
//! for a target dir) and hand them in ([`Held`]): without them nothing is removed. First the trash a killed run left there is emptied, whether or not the
//! plan has anything. Then for each item, in the plan's order, the unit is detached (a file
//! unlinked, a directory renamed into the trash: one atomic step each, on directory handles;
//! see [`super::remove`]), and the rows of detached units are deleted from `.global-cache` in
//! short batched transactions. Trash is emptied by two worker threads while detaching goes
//! on. The dry run reaches and walks the same items the same way without touching them, so
//! it lists exactly what the real run removes, with the same counts.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use rusqlite::Connection;

use super::db;
use super::lock::Held;
use super::remove::{self, Detached, Removed, Remover, Trashed};
use crate::plan::{ItemKind, Plan, Row};

/// Why an item that depends on the one before it was left alone.
const SKIPPED: &str =
    "left in place: the item before it (the unit's fingerprint) could not be removed";

/// Rows are deleted after this many detached units (each batch is one short transaction).
const ROW_BATCH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RemovedItem {
    pub path: PathBuf,
    pub kind: ItemKind,
    /// Apparent bytes of the files removed.
    pub bytes: u64,
    pub files: u64,
    pub reason: String,
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub items: Vec<RemovedItem>,
    pub files: u64,
    pub bytes: u64,
    /// Left in the trash by an earlier run that was killed, and emptied now.
    pub leftover: Removed,
    /// Units that could not be removed, with the reason.
    pub errors: Vec<(PathBuf, String)>,
}

fn finish(plan: &Plan, counts: Vec<Option<Removed>>, errors: Vec<(PathBuf, String)>) -> Outcome {
    let mut out = Outcome {
        errors,
        ..Outcome::default()
    };
    for (item, count) in plan.items.iter().zip(counts) {
        let Some(c) = count else { continue };
        out.files += c.files;
        out.bytes += c.bytes;
        out.items.push(RemovedItem {
            path: item.path.clone(),
            kind: item.kind,
            bytes: c.bytes,
            files: c.files,
            reason: item.reason.clone(),
        });
    }
    out
}

/// The planned bytes (sized as the plan sized them: Cargo's stored sizes in a home) of the
/// items the outcome says were removed: a "before" minus this is what is left, failures
/// included.
pub fn planned_bytes_of_removed(plan: &Plan, outcome: &Outcome) -> u64 {
    let removed: std::collections::HashSet<&std::path::Path> =
        outcome.items.iter().map(|i| i.path.as_path()).collect();
    plan.items
        .iter()
        .filter(|i| removed.contains(i.path.as_path()))
        .map(|i| i.bytes)
        .sum()
}

/// What [`execute`] would remove, measured without removing anything.
pub fn dry_run(plan: &Plan, remover: &Remover) -> Outcome {
    let mut errors: Vec<(PathBuf, String)> = Vec::new();
    let leftover = remover.measure_leftover().unwrap_or_else(|e| {
        errors.push((PathBuf::from(remove::TRASH), format!("{e:#}")));
        Removed::default()
    });
    let mut previous_ok = true;
    let counts = plan
        .items
        .iter()
        .map(|item| {
            if item.after_previous && !previous_ok {
                errors.push((item.path.clone(), SKIPPED.to_string()));
                return None;
            }
            let count = match remover.measure(&item.path) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push((item.path.clone(), format!("{e:#}")));
                    None
                }
            };
            previous_ok = count.is_some();
            count
        })
        .collect();
    let mut out = finish(plan, counts, errors);
    out.leftover = leftover;
    out
}

fn end_unit(remover: &mut Remover, record: &std::ffi::OsStr, errors: &mut Vec<(PathBuf, String)>) {
    if let Err(e) = remover.end_unit(record) {
        errors.push((PathBuf::from(remove::TRASH), format!("{e:#}")));
    }
}

/// Removes every item of the plan and deletes its row. `tick(n)` is called after each item.
/// `held` are the root's locks: the Cargo home's `MutateExclusive` for a home's remover, the
/// target dir's build locks for a target dir's (anything else is refused, nothing removed).
pub fn execute(
    plan: &Plan,
    remover: &mut Remover,
    held: Held<'_>,
    mut conn: Option<&mut Connection>,
    tick: &dyn Fn(u64),
) -> Result<Outcome> {
    if !held.cover(remover.root(), remover.is_home()) {
        anyhow::bail!(
            "internal error: removing in `{}` without holding its locks; nothing was removed",
            remover.root().display()
        );
    }
    // Trash of a run that was killed. A problem there is reported, and does not stop the run.
    // First the units it left half detached (see `remove`), then everything else.
    let (mut leftover, mut errors) = remover.finish_units();
    match remover.leftover_trash() {
        Ok(dirs) => {
            for t in dirs {
                match remove::empty(&t) {
                    Ok(r) => leftover += r,
                    Err(e) => errors.push((t.path, e.to_string())),
                }
            }
        }
        Err(e) => errors.push((PathBuf::from(remove::TRASH), format!("{e:#}"))),
    }

    let n = plan.items.len();
    let counts: Arc<Mutex<Vec<Option<Removed>>>> = Arc::new(Mutex::new(vec![None; n]));
    let (tx, rx) = mpsc::channel::<(usize, Trashed)>();
    let rx = Arc::new(Mutex::new(rx));
    let empty_errors: Arc<Mutex<Vec<(PathBuf, String)>>> = Arc::default();

    std::thread::scope(|s| -> Result<()> {
        for _ in 0..2 {
            let rx = rx.clone();
            let counts = counts.clone();
            let empty_errors = empty_errors.clone();
            s.spawn(move || {
                loop {
                    let next = rx.lock().expect("poisoned").recv();
                    let Ok((i, t)) = next else { break };
                    match remove::empty(&t) {
                        Ok(r) => counts.lock().expect("poisoned")[i] = Some(r),
                        Err(e) => empty_errors
                            .lock()
                            .expect("poisoned")
                            .push((t.path, e.to_string())),
                    }
                }
            });
        }
        let mut rows: Vec<&Row> = Vec::new();
        let flush = |rows: &mut Vec<&Row>, conn: &mut Option<&mut Connection>| -> Result<()> {
            if let Some(c) = conn.as_deref_mut()
                && !rows.is_empty()
            {
                db::delete_rows(c, rows.iter().copied())?;
            }
            rows.clear();
            Ok(())
        };
        let mut previous_ok = true;
        // The record of the unit being detached, if it has several paths.
        let mut record: Option<std::ffi::OsString> = None;
        for (i, item) in plan.items.iter().enumerate() {
            let last_of_unit = plan.items.get(i + 1).is_none_or(|n| !n.after_previous);
            if item.after_previous && !previous_ok {
                errors.push((item.path.clone(), SKIPPED.to_string()));
                if last_of_unit && let Some(r) = record.take() {
                    end_unit(remover, &r, &mut errors);
                }
                continue;
            }
            previous_ok = false;
            if !item.after_previous && !last_of_unit {
                let rest: Vec<&std::path::Path> = plan.items[i + 1..]
                    .iter()
                    .take_while(|n| n.after_previous)
                    .map(|n| n.path.as_path())
                    .collect();
                match remover.begin_unit(&item.path, &rest) {
                    Ok(r) => record = r,
                    Err(e) => {
                        errors.push((item.path.clone(), format!("{e:#}")));
                        continue;
                    }
                }
            }
            let detached = remover.detach(&item.path);
            if last_of_unit && let Some(r) = record.take() {
                end_unit(remover, &r, &mut errors);
            }
            match detached {
                Ok(Detached::Gone) => {
                    counts.lock().expect("poisoned")[i] = Some(Removed::default())
                }
                Ok(Detached::Removed(r)) => counts.lock().expect("poisoned")[i] = Some(r),
                Ok(Detached::Trash(t) | Detached::InPlace(t)) => {
                    tx.send((i, t)).expect("workers alive");
                }
                Err(e) => {
                    errors.push((item.path.clone(), format!("{e:#}")));
                    continue;
                }
            }
            previous_ok = true;
            rows.push(&item.row);
            if rows.len() >= ROW_BATCH {
                flush(&mut rows, &mut conn)?;
            }
            tick(i as u64 + 1);
        }
        flush(&mut rows, &mut conn)?;
        drop(tx);
        Ok(())
    })?;
    remover.finish();

    errors.extend(empty_errors.lock().expect("poisoned").drain(..));
    let counts = std::mem::take(&mut *counts.lock().expect("poisoned"));
    let mut out = finish(plan, counts, errors);
    out.leftover = leftover;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::lock::{BuildLocks, Wait};

    /// The build locks of `root`'s debug profile, held.
    fn build_locks(root: &std::path::Path) -> BuildLocks {
        let profiles = [root.join("debug")];
        BuildLocks::acquire(root, &profiles, Wait::NoWait, &mut |_, _| panic!("busy")).unwrap()
    }

    fn item(path: PathBuf, after_previous: bool) -> crate::plan::PlanItem {
        crate::plan::PlanItem {
            path,
            kind: ItemKind::Unit,
            bytes: 0,
            disk_bytes: None,
            reason: "test".into(),
            row: Row::None,
            after_previous,
        }
    }

    #[test]
    fn the_rest_of_a_unit_stays_when_its_first_path_cannot_go() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        std::fs::create_dir_all(root.join("debug/deps")).unwrap();
        std::fs::write(root.join("debug/deps/libx-0123456789abcdef.rlib"), "x").unwrap();
        std::fs::write(root.join("debug/deps/liby-0123456789abcdef.rlib"), "y").unwrap();
        // The "fingerprint" is outside the root: it cannot be removed.
        let plan = Plan {
            items: vec![
                item(t.path().join("elsewhere"), false),
                item(root.join("debug/deps/libx-0123456789abcdef.rlib"), true),
                item(root.join("debug/deps/liby-0123456789abcdef.rlib"), false),
            ],
        };
        let mut r = Remover::for_target(&root).unwrap();
        let dry = dry_run(&plan, &r);
        let locks = [build_locks(&root)];
        let out = execute(&plan, &mut r, Held::Target(&locks), None, &|_| {}).unwrap();
        assert_eq!(dry.items.len(), 1);
        assert_eq!(out.items.len(), 1, "only the independent item");
        assert!(root.join("debug/deps/libx-0123456789abcdef.rlib").exists());
        assert!(!root.join("debug/deps/liby-0123456789abcdef.rlib").exists());
        assert_eq!(out.errors.len(), 2);
    }

    /// Regression (issue #9 kill test): a run killed after a unit's fingerprint went and
    /// before its other paths did leaves a record; the next run removes those paths (no
    /// later scan recognises them without their fingerprint), and drops a record whose
    /// fingerprint a build made again.
    #[test]
    fn the_next_run_finishes_a_unit_a_killed_run_left_half_removed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("target");
        let fp = root.join("debug/.fingerprint/x-0123456789abcdef");
        let rlib = root.join("debug/deps/libx-0123456789abcdef.rlib");
        let out = root.join("debug/build/x-0123456789abcdef");
        let fp2 = root.join("debug/.fingerprint/y-0123456789abcdee");
        let rlib2 = root.join("debug/deps/liby-0123456789abcdee.rlib");
        for d in [&fp, &out, &fp2, &root.join("debug/deps")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(fp.join("lib-x"), "h").unwrap();
        std::fs::write(out.join("output"), "o").unwrap();
        for f in [&rlib, &rlib2] {
            std::fs::write(f, "r").unwrap();
        }
        // What a run killed right after detaching x's fingerprint leaves, and one killed
        // before detaching y's (whose fingerprint is still there).
        let mut killed = Remover::for_target(&root).unwrap();
        killed
            .begin_unit(&fp, &[rlib.as_path(), out.as_path()])
            .unwrap()
            .unwrap();
        assert!(matches!(killed.detach(&fp).unwrap(), Detached::Trash(_)));
        killed
            .begin_unit(&fp2, &[rlib2.as_path()])
            .unwrap()
            .unwrap();
        drop(killed);
        assert!(rlib.exists() && out.exists());

        let mut next = Remover::for_target(&root).unwrap();
        let locks = [build_locks(&root)];
        let held = Held::Target(&locks);
        let outcome = execute(&Plan::default(), &mut next, held, None, &|_| {}).unwrap();
        assert_eq!(outcome.errors, Vec::new());
        assert!(!rlib.exists() && !out.exists(), "x finished");
        assert!(fp2.exists() && rlib2.exists(), "y untouched");
        // Closed first: without POSIX delete semantics (FAT, Wine) a directory deleted
        // through a handle keeps its name until the last handle to it closes.
        drop(next);
        assert!(!root.join(remove::TRASH).exists(), "records and trash gone");
    }

    /// The executor removes nothing without the root's own locks: another dir's build locks,
    /// or build locks for a Cargo home's remover, are refused before anything is touched.
    #[test]
    fn nothing_is_removed_under_locks_of_another_root() {
        let t = tempfile::tempdir().unwrap();
        let (root, other) = (t.path().join("target"), t.path().join("other"));
        for r in [&root, &other] {
            std::fs::create_dir_all(r.join("debug/deps")).unwrap();
        }
        let lib = root.join("debug/deps/libx-0123456789abcdef.rlib");
        std::fs::write(&lib, "x").unwrap();
        let plan = Plan {
            items: vec![item(lib.clone(), false)],
        };
        let theirs = [build_locks(&other)];
        let mut r = Remover::for_target(&root).unwrap();
        let e = execute(&plan, &mut r, Held::Target(&theirs), None, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("without holding its locks"), "{e}");
        assert!(lib.exists());
        let ours = [build_locks(&root)];
        let mut home = Remover::new(&root).unwrap();
        assert!(execute(&plan, &mut home, Held::Target(&ours), None, &|_| {}).is_err());
        assert!(lib.exists());
        assert!(execute(&plan, &mut r, Held::Target(&[]), None, &|_| {}).is_err());
        assert!(lib.exists());
        let out = execute(&plan, &mut r, Held::Target(&ours), None, &|_| {}).unwrap();
        assert_eq!(out.errors, Vec::new());
        assert!(!lib.exists());
    }
}
