//! Reading Cargo's last-use database, `$CARGO_HOME/.global-cache`, without changing it.
//!
//! The schema is cargo's (`global_cache_tracker.rs`, cargo-internals.md §1): parent tables
//! `registry_index` and `git_db` with integer ids, child tables `registry_crate`,
//! `registry_src` and `git_checkout` keyed by `(parent id, name)`, and `global_data` with one
//! `last_auto_gc` row. `PRAGMA user_version` counts applied migrations: 7 for every cargo so
//! far. Migrations are additive by Cargo's own rule, so a newer database (a higher version,
//! extra tables or columns) still has these tables with these meanings; we read it, and say so.
//!
//! Here the database is opened read-only, with no Cargo lock: a snapshot for reporting. Anything
//! that goes wrong (busy, corrupt, missing tables) makes the snapshot [`DbRead::Unusable`] and
//! callers fall back to the disk alone.
//!
//! **Errors name the real problem** ([`Problem`]): SQLite's error is classified once, here, for
//! every command that opens the database. Only `SQLITE_BUSY`/`SQLITE_LOCKED` blame a lock;
//! a file that is not a database, a corrupt or truncated one, one whose tables or columns are
//! not Cargo's (a foreign database, a column holding text where Cargo stores integers), a
//! read-only file, a full disk and an I/O error each say so.
//!
//! **Never through a symlink.** [`locate`] looks at `.global-cache` (and SQLite's journal, WAL
//! and shared-memory files beside it) relative to a handle on the home, without following:
//! a symlink there is refused with an error naming it. SQLite is then given the home's
//! resolved path (a symlinked home is fine) and `SQLITE_OPEN_NOFOLLOW`, so it too refuses a
//! symlink that appeared meanwhile instead of opening, or creating, the file it points to;
//! SQLite opens its journal files with `O_NOFOLLOW` itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The number of migrations cargo 1.78 through 1.100 applies.
pub const CARGO_SCHEMA_VERSION: i64 = 7;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentRow {
    pub id: i64,
    pub name: String,
    pub timestamp: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildRow {
    pub parent_id: i64,
    pub name: String,
    pub size: Option<u64>,
    pub timestamp: u64,
}

/// Every row of the five tables, read in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub user_version: i64,
    pub registry_index: Vec<ParentRow>,
    pub registry_crate: Vec<ChildRow>,
    pub registry_src: Vec<ChildRow>,
    pub git_db: Vec<ParentRow>,
    pub git_checkout: Vec<ChildRow>,
    pub last_auto_gc: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum DbRead {
    /// No `.global-cache`: normal for a home only ever used by cargo older than 1.78.
    Missing,
    Read(Snapshot),
    /// The file exists but could not be read; the reason is one line for a warning.
    Unusable(String),
}

impl DbRead {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match self {
            DbRead::Read(s) => Some(s),
            _ => None,
        }
    }

    /// A one-line note for the user, if the database is not simply there and current.
    pub fn note(&self) -> Option<String> {
        match self {
            DbRead::Missing => None,
            DbRead::Unusable(why) => Some(format!(
                "{why}; sizes come from walking the disk and last use is unknown"
            )),
            DbRead::Read(s) if s.user_version > CARGO_SCHEMA_VERSION => Some(format!(
                ".global-cache has schema version {} (this tool knows {CARGO_SCHEMA_VERSION}); reading the tables it knows",
                s.user_version
            )),
            DbRead::Read(_) => None,
        }
    }
}

/// What is wrong with the database, told from SQLite's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `SQLITE_BUSY` or `SQLITE_LOCKED`: another process holds it.
    Locked,
    /// `SQLITE_NOTADB`: not a SQLite database at all.
    NotADatabase,
    /// `SQLITE_CORRUPT`: a damaged or truncated database.
    Corrupt,
    /// A SQLite database, but its tables or columns are not Cargo's.
    Schema,
    /// `SQLITE_READONLY`, `SQLITE_PERM`: it cannot be written.
    ReadOnly,
    /// `SQLITE_FULL`: no room left on the disk.
    Full,
    /// `SQLITE_IOERR`: the disk or filesystem failed.
    Io,
    /// `SQLITE_CANTOPEN`.
    CannotOpen,
    Other,
}

/// A problem with the database: what kind, and in words for the user (the predicate of a
/// sentence whose subject is the database: "is not a SQLite database").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct Problem {
    pub fault: Fault,
    pub text: String,
}

impl Problem {
    fn new(fault: Fault, text: impl Into<String>) -> Problem {
        Problem {
            fault,
            text: text.into(),
        }
    }

    /// A table or column that is not what Cargo makes.
    pub fn schema(detail: impl std::fmt::Display) -> Problem {
        Problem::new(
            Fault::Schema,
            format!("does not have Cargo's schema: {detail}"),
        )
    }

    /// Classifies one of SQLite's errors.
    pub fn of(e: &rusqlite::Error) -> Problem {
        use rusqlite::ErrorCode as C;
        use rusqlite::types::Type;
        let type_name = |t: &Type| match t {
            Type::Null => "NULL",
            Type::Integer => "integers",
            Type::Real => "real numbers",
            Type::Text => "text",
            Type::Blob => "blobs",
        };
        // SQLite's code and message (a statement that failed to prepare carries its SQL).
        let failure = match e {
            rusqlite::Error::SqliteFailure(f, msg) => {
                Some((f, msg.clone().unwrap_or_else(|| f.to_string())))
            }
            rusqlite::Error::SqlInputError { error, msg, .. } => Some((error, msg.clone())),
            _ => None,
        };
        if let Some((f, msg)) = failure {
            return match f.code {
                C::DatabaseBusy | C::DatabaseLocked => {
                    Problem::new(Fault::Locked, "is locked by another process")
                }
                C::NotADatabase => Problem::new(Fault::NotADatabase, "is not a SQLite database"),
                C::DatabaseCorrupt => Problem::new(
                    Fault::Corrupt,
                    format!("is corrupt or truncated (SQLite: {msg})"),
                ),
                C::ReadOnly | C::PermissionDenied => {
                    Problem::new(Fault::ReadOnly, format!("cannot be written ({msg})"))
                }
                C::DiskFull => Problem::new(Fault::Full, "cannot be written: the disk is full"),
                C::SystemIoFailure => Problem::new(
                    Fault::Io,
                    format!("could not be read or written: an I/O error ({msg})"),
                ),
                C::CannotOpen => {
                    Problem::new(Fault::CannotOpen, format!("cannot be opened ({msg})"))
                }
                C::TypeMismatch => Problem::schema(msg),
                // SQL errors on Cargo's own statements: a table or column that is missing,
                // or one that is already there.
                C::Unknown
                    if [
                        "no such table",
                        "no such column",
                        "has no column named",
                        "already exists",
                    ]
                    .iter()
                    .any(|m| msg.contains(m)) =>
                {
                    Problem::schema(msg)
                }
                _ => Problem::new(Fault::Other, format!("cannot be used ({msg})")),
            };
        }
        match e {
            rusqlite::Error::InvalidColumnType(_, name, t) => {
                Problem::schema(format!("column `{name}` holds {}", type_name(t)))
            }
            rusqlite::Error::FromSqlConversionFailure(_, t, err) => Problem::schema(format!(
                "a column holds {} Cargo never stores ({err})",
                type_name(t)
            )),
            rusqlite::Error::IntegralValueOutOfRange(_, v) => {
                Problem::schema(format!("a column holds {v}, out of Cargo's range"))
            }
            other => Problem::new(Fault::Other, format!("cannot be used ({other})")),
        }
    }

    /// The problem in an error chain (a [`Problem`] itself, or SQLite's error), if any.
    pub fn find(e: &anyhow::Error) -> Option<Problem> {
        e.chain().find_map(|c| {
            c.downcast_ref::<Problem>()
                .cloned()
                .or_else(|| c.downcast_ref::<rusqlite::Error>().map(Problem::of))
        })
    }

    /// The same problem, naming the table it was found in (for a schema problem).
    fn in_table(mut self, table: &str) -> Problem {
        if self.fault == Fault::Schema && !self.text.contains(table) {
            self.text.push_str(&format!(" (in table `{table}`)"));
        }
        self
    }
}

/// A problem with the database at `path`: "`…/.global-cache` is not a SQLite database".
#[derive(Clone, Debug, thiserror::Error)]
#[error("`{}` {problem}", path.display())]
pub struct DbError {
    pub path: PathBuf,
    pub problem: Problem,
}

impl DbError {
    pub fn new(path: &Path, problem: Problem) -> DbError {
        DbError {
            path: path.to_owned(),
            problem,
        }
    }
}

/// Cargo's tables, in the order its migrations create them.
pub const CARGO_TABLES: [&str; 6] = [
    "registry_index",
    "registry_crate",
    "registry_src",
    "git_db",
    "git_checkout",
    "global_data",
];

/// For a database Cargo has not (fully) migrated (`user_version` below 7): that it holds no
/// table Cargo's applied migrations did not make, so that it is Cargo's, or empty. A foreign
/// database is refused rather than given Cargo's tables.
pub fn check_not_foreign(conn: &Connection) -> Result<(), Problem> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| Problem::of(&e))?;
    if version >= CARGO_SCHEMA_VERSION {
        return Ok(());
    }
    let applied = &CARGO_TABLES[..(version.max(0) as usize).min(CARGO_TABLES.len())];
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|e| Problem::of(&e))?;
    let foreign: Vec<String> = tables
        .into_iter()
        .filter(|t| !applied.contains(&t.as_str()))
        .map(|t| format!("`{t}`"))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(Problem::schema(format!(
        "it has user_version {version} and the table{} {}, which Cargo did not make (Cargo's \
         has user_version {CARGO_SCHEMA_VERSION} and the tables {})",
        if foreign.len() == 1 { "" } else { "s" },
        foreign.join(", "),
        CARGO_TABLES.join(", ")
    )))
}

/// SQLite's own files for a database, beside it.
const SIDE_FILES: [&str; 3] = ["-journal", "-wal", "-shm"];

/// The database file, checked without following symlinks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbFile {
    /// The path to give SQLite: the home resolved, then `.global-cache` (with
    /// `SQLITE_OPEN_NOFOLLOW`, SQLite refuses a path with any symlink in it).
    pub sqlite_path: PathBuf,
    pub exists: bool,
    /// The identity of `.global-cache` as checked, when it exists ([`check_opened`]).
    pub file: Option<crate::sys::fs::FileId>,
}

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbRefused {
    #[error("refusing to use `{}`: it is a symlink; Cargo's database is never followed", .0.display())]
    Symlink(PathBuf),
    #[error("refusing to use `{}`: it is not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error(
        "refusing to use `{}`: it was replaced while it was being opened (by a link?); \
         Cargo's database is never followed",
        .0.display()
    )]
    Replaced(PathBuf),
    #[error("cannot open `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Looks at the database `path` (`$CARGO_HOME/.global-cache`) and SQLite's files beside it
/// without following symlinks: a symlink or a non-file is refused.
pub fn locate(path: &Path) -> Result<DbFile, DbRefused> {
    use crate::sys::fs::{Dir, Kind};
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(DbRefused::NotAFile(path.to_owned()));
    };
    let home = Dir::open(dir).map_err(|e| DbRefused::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let mut exists = false;
    let mut file = None;
    for suffix in std::iter::once("").chain(SIDE_FILES) {
        let mut n = name.to_owned();
        n.push(suffix);
        let shown = dir.join(&n);
        match home.stat(&n) {
            Ok(st) if st.kind == Kind::Symlink => return Err(DbRefused::Symlink(shown)),
            Ok(st) if st.kind != Kind::File => return Err(DbRefused::NotAFile(shown)),
            Ok(st) if suffix.is_empty() => {
                exists = true;
                file = Some(st.id);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(DbRefused::Io {
                    path: shown,
                    source: e,
                });
            }
        }
    }
    let resolved = std::fs::canonicalize(dir).map_err(|e| DbRefused::Io {
        path: path.to_owned(),
        source: e,
    })?;
    Ok(DbFile {
        sqlite_path: resolved.join(name),
        exists,
        file,
    })
}

/// Whether the database SQLite opened is the file [`locate`] checked: on Windows, where
/// SQLite follows links, a `.global-cache` replaced between the check and the open (by a
/// link, or another file) is refused; elsewhere SQLite refused links itself.
pub fn check_opened(conn: &Connection, file: &DbFile, path: &Path) -> Result<(), DbRefused> {
    let Some(checked) = file.file else {
        return Ok(());
    };
    match crate::sys::sqlite::opened_file(conn) {
        Ok(None) => Ok(()),
        Ok(Some(opened)) if opened == checked => Ok(()),
        Ok(Some(_)) => Err(DbRefused::Replaced(path.to_owned())),
        Err(e) => Err(DbRefused::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// Whether SQLite refused to open `path` because of a symlink.
pub fn is_symlink_refusal(e: &rusqlite::Error) -> bool {
    e.sqlite_error()
        .is_some_and(|e| e.extended_code == rusqlite::ffi::SQLITE_CANTOPEN_SYMLINK)
}

/// Reads a snapshot of the database at `path`, read-only. Why it could not be read is a
/// [`DbError`]'s text ("`…/.global-cache` is not a SQLite database").
pub fn read(path: &Path) -> DbRead {
    let file = match locate(path) {
        Ok(f) if !f.exists => return DbRead::Missing,
        Ok(f) => f,
        Err(e) => return DbRead::Unusable(e.to_string()),
    };
    match read_inner(&file, path) {
        Ok(s) => DbRead::Read(s),
        Err(Opened::Replaced(e)) => DbRead::Unusable(e.to_string()),
        Err(Opened::Refused) => DbRead::Unusable(DbRefused::Symlink(path.to_owned()).to_string()),
        Err(Opened::Failed(p)) => DbRead::Unusable(DbError::new(path, p).to_string()),
    }
}

enum Opened {
    /// SQLite refused a symlink.
    Refused,
    /// It opened another file than the one checked.
    Replaced(DbRefused),
    Failed(Problem),
}

fn read_inner(file: &DbFile, shown: &Path) -> Result<Snapshot, Opened> {
    let conn = Connection::open_with_flags(
        &file.sqlite_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .map_err(|e| {
        if is_symlink_refusal(&e) {
            Opened::Refused
        } else {
            Opened::Failed(Problem::of(&e))
        }
    })?;
    check_opened(&conn, file, shown).map_err(Opened::Replaced)?;
    conn.busy_timeout(Duration::from_secs(1))
        .map_err(|e| Opened::Failed(Problem::of(&e)))?;
    read_snapshot(&conn).map_err(Opened::Failed)
}

/// Reads all rows through an open connection, in one read transaction.
pub fn read_snapshot(conn: &Connection) -> Result<Snapshot, Problem> {
    conn.execute_batch("BEGIN").map_err(|e| Problem::of(&e))?;
    let result = read_tables(conn);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn read_tables(conn: &Connection) -> Result<Snapshot, Problem> {
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| Problem::of(&e))?;
    if user_version < CARGO_SCHEMA_VERSION {
        // Not Cargo's (other tables), or Cargo's migrations were never applied to it.
        check_not_foreign(conn)?;
        return Err(Problem::schema(format!(
            "it has user_version {user_version} (Cargo's has {CARGO_SCHEMA_VERSION}): Cargo \
             never finished creating its tables"
        )));
    }
    let ts = |v: i64| v.max(0) as u64;
    let in_table = |table: &'static str| move |e: rusqlite::Error| Problem::of(&e).in_table(table);
    let parents = |table: &'static str| -> Result<Vec<ParentRow>, Problem> {
        let mut st = conn
            .prepare(&format!("SELECT id, name, timestamp FROM {table}"))
            .map_err(in_table(table))?;
        st.query_map([], |r| {
            Ok(ParentRow {
                id: r.get(0)?,
                name: r.get(1)?,
                timestamp: ts(r.get(2)?),
            })
        })
        .and_then(Iterator::collect)
        .map_err(in_table(table))
    };
    let children = |table: &'static str, parent: &str| -> Result<Vec<ChildRow>, Problem> {
        let mut st = conn
            .prepare(&format!(
                "SELECT {parent}, name, size, timestamp FROM {table}"
            ))
            .map_err(in_table(table))?;
        st.query_map([], |r| {
            Ok(ChildRow {
                parent_id: r.get(0)?,
                name: r.get(1)?,
                size: r.get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
                timestamp: ts(r.get(3)?),
            })
        })
        .and_then(Iterator::collect)
        .map_err(in_table(table))
    };
    let last_auto_gc = conn
        .query_row("SELECT last_auto_gc FROM global_data LIMIT 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|v| Some(ts(v)))
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(in_table("global_data"))?;
    Ok(Snapshot {
        user_version,
        registry_index: parents("registry_index")?,
        registry_crate: children("registry_crate", "registry_id")?,
        registry_src: children("registry_src", "registry_id")?,
        git_db: parents("git_db")?,
        git_checkout: children("git_checkout", "git_id")?,
        last_auto_gc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite(code: i32, msg: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(msg.to_owned()))
    }

    /// The database SQLite opened is the file `locate` checked (Windows: from SQLite's own
    /// handle; elsewhere SQLite refuses links itself and nothing is compared), and another
    /// file than the one checked is refused.
    #[test]
    fn the_opened_database_is_the_checked_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".global-cache");
        drop(crate::act::db::open(&path, true).unwrap());
        let file = locate(&path).unwrap();
        let conn = Connection::open_with_flags(&file.sqlite_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
        let opened = crate::sys::sqlite::opened_file(&conn).unwrap();
        if cfg!(windows) {
            assert_eq!(opened, file.file);
        } else {
            assert_eq!(opened, None);
        }
        check_opened(&conn, &file, &path).unwrap();
        let other = DbFile {
            file: Some(crate::sys::fs::lstat(dir.path()).unwrap().id),
            ..file
        };
        let checked = check_opened(&conn, &other, &path);
        if cfg!(windows) {
            assert!(
                matches!(&checked, Err(DbRefused::Replaced(p)) if *p == path),
                "{checked:?}"
            );
        } else {
            assert!(checked.is_ok());
        }
    }

    #[test]
    fn each_sqlite_error_is_named_for_what_it_is() {
        for (e, fault, text) in [
            (
                sqlite(ffi::SQLITE_BUSY, "database is locked"),
                Fault::Locked,
                "is locked by another process",
            ),
            (
                sqlite(ffi::SQLITE_LOCKED, "database table is locked"),
                Fault::Locked,
                "is locked by another process",
            ),
            (
                sqlite(ffi::SQLITE_NOTADB, "file is not a database"),
                Fault::NotADatabase,
                "is not a SQLite database",
            ),
            (
                sqlite(ffi::SQLITE_CORRUPT, "database disk image is malformed"),
                Fault::Corrupt,
                "is corrupt or truncated (SQLite: database disk image is malformed)",
            ),
            (
                sqlite(ffi::SQLITE_READONLY, "attempt to write a readonly database"),
                Fault::ReadOnly,
                "cannot be written (attempt to write a readonly database)",
            ),
            (
                sqlite(ffi::SQLITE_FULL, "database or disk is full"),
                Fault::Full,
                "cannot be written: the disk is full",
            ),
            (
                sqlite(ffi::SQLITE_IOERR, "disk I/O error"),
                Fault::Io,
                "could not be read or written: an I/O error (disk I/O error)",
            ),
            (
                sqlite(ffi::SQLITE_CANTOPEN, "unable to open database file"),
                Fault::CannotOpen,
                "cannot be opened (unable to open database file)",
            ),
            (
                sqlite(ffi::SQLITE_ERROR, "no such table: registry_src"),
                Fault::Schema,
                "does not have Cargo's schema: no such table: registry_src",
            ),
            (
                sqlite(ffi::SQLITE_ERROR, "table registry_index already exists"),
                Fault::Schema,
                "does not have Cargo's schema: table registry_index already exists",
            ),
            (
                rusqlite::Error::InvalidColumnType(
                    2,
                    "timestamp".into(),
                    rusqlite::types::Type::Text,
                ),
                Fault::Schema,
                "does not have Cargo's schema: column `timestamp` holds text",
            ),
            (
                sqlite(ffi::SQLITE_ERROR, "near \"x\": syntax error"),
                Fault::Other,
                "cannot be used (near \"x\": syntax error)",
            ),
        ] {
            let p = Problem::of(&e);
            assert_eq!((p.fault, p.text.as_str()), (fault, text), "{e:?}");
            // Found the same through an error chain.
            let chained = anyhow::Error::new(e).context("while reading");
            assert_eq!(Problem::find(&chained), Some(p));
        }
    }

    #[test]
    fn real_databases_say_what_is_wrong() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join(".global-cache");
        // Not a database.
        std::fs::write(&db, vec![b'x'; 4096]).unwrap();
        let r = read(&db);
        assert!(
            matches!(&r, DbRead::Unusable(w) if w.ends_with("` is not a SQLite database")),
            "{r:?}"
        );
        // Foreign: other tables, no user_version.
        std::fs::remove_file(&db).unwrap();
        let c = Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
        let e = check_not_foreign(&c).unwrap_err();
        assert_eq!(e.fault, Fault::Schema);
        assert!(
            e.text.contains("user_version 0 and the table `notes`"),
            "{e}"
        );
        drop(c);
        let r = read(&db);
        assert!(
            matches!(&r, DbRead::Unusable(w) if w.contains("the table `notes`")),
            "{r:?}"
        );
        // Empty: no tables at all is not foreign (Cargo creates its tables there).
        std::fs::remove_file(&db).unwrap();
        let c = Connection::open(&db).unwrap();
        assert_eq!(check_not_foreign(&c), Ok(()));
    }
}
