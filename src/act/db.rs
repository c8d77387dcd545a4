//! Writing `.global-cache` compatibly with Cargo (cargo-internals.md §1 and §3.7).
//!
//! * The schema and `user_version` are Cargo's: we only ever run Cargo's own seven migrations,
//!   and only on a database that has fewer (a new one). A newer database is used as it is.
//! * `PRAGMA foreign_keys = true` on every connection: removing a parent row removes its
//!   children through Cargo's `ON DELETE CASCADE`.
//! * Transactions are short. Cargo's busy timeout is 5 s, after which a running build prints
//!   "failed to save last-use data"; we never hold a write transaction while deleting files.
//! * Callers hold `.package-cache` exclusively (Cargo never touches the database without it).
//! * `.global-cache` is never opened, or created, through a symlink
//!   ([`crate::observe::db::locate`], then `SQLITE_OPEN_NOFOLLOW`).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use rusqlite::{Connection, params};

use crate::observe::db as observe_db;
use crate::plan::Row;
use crate::plan::sync::SyncChanges;

/// Cargo's migrations, verbatim (SQLite keeps the text in `sqlite_master`).
const MIGRATIONS: [&str; 6] = [
    "CREATE TABLE registry_index (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT UNIQUE NOT NULL,
                timestamp INTEGER NOT NULL
            )",
    "CREATE TABLE registry_crate (
                registry_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                size INTEGER NOT NULL,
                timestamp INTEGER NOT NULL,
                PRIMARY KEY (registry_id, name),
                FOREIGN KEY (registry_id) REFERENCES registry_index (id) ON DELETE CASCADE
             )",
    "CREATE TABLE registry_src (
                registry_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                size INTEGER,
                timestamp INTEGER NOT NULL,
                PRIMARY KEY (registry_id, name),
                FOREIGN KEY (registry_id) REFERENCES registry_index (id) ON DELETE CASCADE
             )",
    "CREATE TABLE git_db (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT UNIQUE NOT NULL,
                timestamp INTEGER NOT NULL
             )",
    "CREATE TABLE git_checkout (
                git_id INTEGER NOT NULL,
                name TEXT UNIQUE NOT NULL,
                size INTEGER,
                timestamp INTEGER NOT NULL,
                PRIMARY KEY (git_id, name),
                FOREIGN KEY (git_id) REFERENCES git_db (id) ON DELETE CASCADE
             )",
    "CREATE TABLE global_data (
                last_auto_gc INTEGER NOT NULL
            )",
];

/// The number of Cargo's migrations (the six tables, then priming `global_data`).
pub const MIGRATION_COUNT: i64 = 7;

/// Cargo's busy timeout.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating it if `create`) the database read-write, as Cargo opens it. A symlink at
/// `.global-cache` (or at SQLite's files beside it) is refused, and nothing is created at
/// its target.
pub fn open(path: &Path, create: bool) -> Result<Connection> {
    let file = observe_db::locate(path)?;
    let mut flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW;
    if create {
        flags |= rusqlite::OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = match Connection::open_with_flags(&file.sqlite_path, flags) {
        Ok(c) => c,
        Err(e) if observe_db::is_symlink_refusal(&e) => {
            return Err(observe_db::DbRefused::Symlink(path.to_owned()).into());
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot open `{}`", path.display())));
        }
    };
    observe_db::check_opened(&conn, &file, path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

/// The error for a database that could not be used before anything was removed: what is
/// wrong with it, told from SQLite's error (only a busy database blames a lock).
pub fn failure(e: anyhow::Error, db_path: &Path) -> anyhow::Error {
    if e.chain().any(|c| c.is::<observe_db::DbRefused>()) {
        // A symlink, refused: the refusal says it all.
        return e;
    }
    match observe_db::Problem::find(&e) {
        Some(p) => {
            let waited = if p.fault == observe_db::Fault::Locked {
                " (still after 5 s; Cargo waits 5 s too)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "{}{waited}; nothing was removed",
                observe_db::DbError::new(db_path, p)
            )
        }
        None => e.context(format!(
            "cannot use `{}`; nothing was removed",
            db_path.display()
        )),
    }
}

/// Cargo's `sqlite::migrate`: in one exclusive transaction, run the migrations not yet
/// applied and set `user_version`. A database with `user_version` ≥ 7 is left alone, and one
/// with tables Cargo's applied migrations did not make (a foreign database) is refused, with
/// nothing written ([`observe_db::check_not_foreign`]). Returns whether anything ran.
pub fn migrate(conn: &mut Connection, now: u64) -> Result<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    let version: i64 = tx.query_row("SELECT user_version FROM pragma_user_version", [], |r| {
        r.get(0)
    })?;
    if version >= MIGRATION_COUNT {
        return Ok(false);
    }
    // Cargo's tables go only into Cargo's database, or an empty one.
    observe_db::check_not_foreign(&tx)?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        if (i as i64) >= version {
            tx.execute_batch(sql)?;
        }
    }
    if version < MIGRATION_COUNT {
        tx.execute(
            "INSERT INTO global_data (last_auto_gc) VALUES (?1)",
            [now as i64],
        )?;
    }
    tx.pragma_update(None, "user_version", MIGRATION_COUNT)?;
    tx.commit()?;
    Ok(true)
}

fn parent_id(conn: &Connection, table: &str, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        &format!("SELECT id FROM {table} WHERE name = ?1"),
        [name],
        |r| r.get(0),
    )
    .map(Some)
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    })
}

/// Applies Cargo's database sync in one short transaction.
pub fn apply_sync(conn: &mut Connection, changes: &SyncChanges, now: u64) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    let now = now as i64;
    for (table, name) in &changes.insert_parents {
        tx.execute(
            &format!(
                "INSERT INTO {table} (name, timestamp) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
            ),
            params![name, now],
        )?;
    }
    for row in &changes.delete_children {
        delete_row(&tx, row)?;
    }
    for row in &changes.delete_parents {
        delete_row(&tx, row)?;
    }
    for ins in &changes.insert_children {
        let (parent_table, table, column) = ins.kind.tables();
        let Some(id) = parent_id(&tx, parent_table, &ins.parent)? else {
            continue;
        };
        tx.execute(
            &format!(
                "INSERT INTO {table} ({column}, name, size, timestamp) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING"
            ),
            params![id, ins.name, ins.size.map(|s| s as i64), now],
        )?;
    }
    for fill in &changes.fill_sizes {
        let (parent_table, table, column) = fill.kind.tables();
        tx.execute(
            &format!(
                "UPDATE {table} SET size = ?1 WHERE size IS NULL AND name = ?2 AND \
                 {column} = (SELECT id FROM {parent_table} WHERE name = ?3)"
            ),
            params![fill.size.map(|s| s as i64), fill.name, fill.parent],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn delete_row(conn: &Connection, row: &Row) -> rusqlite::Result<usize> {
    match row {
        Row::None => Ok(0),
        Row::RegistryIndex { name } => {
            conn.execute("DELETE FROM registry_index WHERE name = ?1", [name])
        }
        Row::GitDb { name } => conn.execute("DELETE FROM git_db WHERE name = ?1", [name]),
        Row::RegistryCrate { registry, name } => conn.execute(
            "DELETE FROM registry_crate WHERE name = ?1 AND \
             registry_id = (SELECT id FROM registry_index WHERE name = ?2)",
            [name, registry],
        ),
        Row::RegistrySrc { registry, name } => conn.execute(
            "DELETE FROM registry_src WHERE name = ?1 AND \
             registry_id = (SELECT id FROM registry_index WHERE name = ?2)",
            [name, registry],
        ),
        Row::GitCheckout { db, name } => conn.execute(
            "DELETE FROM git_checkout WHERE name = ?1 AND \
             git_id = (SELECT id FROM git_db WHERE name = ?2)",
            [name, db],
        ),
    }
}

/// Deletes the rows of removed entries, in one short transaction.
pub fn delete_rows<'a>(
    conn: &mut Connection,
    rows: impl IntoIterator<Item = &'a Row>,
) -> Result<()> {
    let tx = conn.transaction()?;
    for row in rows {
        delete_row(&tx, row)?;
    }
    tx.commit()?;
    Ok(())
}

/// `UPDATE global_data SET last_auto_gc = now`, as Cargo does after an automatic clean.
pub fn set_last_auto_gc(conn: &Connection, now: u64) -> Result<()> {
    conn.execute("UPDATE global_data SET last_auto_gc = ?1", [now as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fs::symlink;

    #[test]
    fn a_symlinked_database_is_refused_and_nothing_is_created() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        for side in ["", "-journal", "-wal"] {
            let t = tempfile::tempdir().unwrap();
            let home = t.path().join("home");
            std::fs::create_dir(&home).unwrap();
            let victim = t.path().join("victim");
            symlink(&victim, home.join(format!(".global-cache{side}"))).unwrap();
            for create in [false, true] {
                let e = open(&home.join(".global-cache"), create).unwrap_err();
                let msg = format!("{e:#}");
                assert!(
                    msg.contains("is a symlink") && msg.contains(&format!(".global-cache{side}`")),
                    "{msg}"
                );
                assert!(victim.symlink_metadata().is_err(), "nothing created");
            }
            // The read-only snapshot says the same, and creates nothing either.
            let r = crate::observe::db::read(&home.join(".global-cache"));
            assert!(
                matches!(&r, crate::observe::db::DbRead::Unusable(why) if why.contains("symlink")),
                "{r:?}"
            );
            assert!(victim.symlink_metadata().is_err());
        }
    }

    #[test]
    fn a_symlinked_home_is_fine() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        std::fs::create_dir(&home).unwrap();
        symlink(&home, t.path().join("link")).unwrap();
        let db = t.path().join("link/.global-cache");
        let mut c = open(&db, true).unwrap();
        assert!(migrate(&mut c, 1).unwrap());
        drop(c);
        assert!(home.join(".global-cache").is_file());
        let r = crate::observe::db::read(&db);
        assert!(r.snapshot().is_some(), "{r:?}");
    }
}
