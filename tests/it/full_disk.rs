//! `gc` on a full disk: a small tmpfs, in a mount namespace of its own, holding a real Cargo
//! home and a filler file that takes the last byte. The namespace is kept alive by a `sleep`
//! and every command runs in it through `nsenter`; the tmpfs goes away with the namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::*;

/// A tmpfs of `size` mounted on `<dir>/mnt` in a mount namespace of its own.
struct FullDisk {
    ns: Guard,
    mnt: PathBuf,
}

impl FullDisk {
    /// `None` (after saying why) when a tool it needs is missing.
    fn new(dir: &Path, size: &str) -> Option<FullDisk> {
        for tool in ["unshare", "nsenter", "mount", "dd", "df", "cp"] {
            if command(tool).arg("--version").output().is_err() {
                eprintln!("skipped: needs {tool}(1) to make a full filesystem");
                return None;
            }
        }
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let ready = dir.join("mounted");
        let script = format!(
            "mount -t tmpfs -o size={size} janitor-test '{mnt}' && touch '{ready}' && exec sleep 600",
            mnt = mnt.display(),
            ready = ready.display()
        );
        let ns = Guard(
            command("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", &script])
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        eventually(30, "the tmpfs to be mounted", || {
            ready.exists().then_some(())
        });
        Some(FullDisk { ns, mnt })
    }

    /// `cmd` (made by the harness) run inside the namespace.
    fn run(&self, cmd: &Command) -> Command {
        let mut c = command("nsenter");
        c.arg("-t").arg(self.ns.pid().to_string()).arg("-m");
        // Entering a mount namespace starts in its `/` unless told otherwise.
        if let Some(dir) = cmd.get_current_dir() {
            c.arg(format!("--wd={}", dir.display())).current_dir(dir);
        }
        c.arg("--").arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    fn sh(&self, script: &str) -> std::process::Output {
        let mut c = command("sh");
        c.args(["-c", script]);
        self.run(&c).output().unwrap()
    }

    /// Bytes free on the tmpfs.
    fn avail(&self) -> u64 {
        let out = self.sh(&format!("df -B1 --output=avail '{}'", self.mnt.display()));
        assert_ok(&out, "df");
        stdout(&out).lines().last().unwrap().trim().parse().unwrap()
    }

    /// Copies `home` in and fills the rest of the tmpfs to the last byte.
    fn fill_with(&self, home: &Path) -> PathBuf {
        let inside = self.mnt.join("cargo-home");
        let out = self.sh(&format!(
            "cp -a '{}' '{}'",
            home.display(),
            inside.display()
        ));
        assert_ok(&out, "cp");
        // dd stops at ENOSPC; then single bytes, in case a partial page is left.
        self.sh(&format!(
            "dd if=/dev/zero of='{m}/filler' bs=64k; dd if=/dev/zero of='{m}/filler2' bs=1",
            m = self.mnt.display()
        ));
        assert_eq!(self.avail(), 0, "the filesystem is full");
        inside
    }

    /// Names in `dir` inside the namespace.
    fn ls(&self, dir: &Path) -> Vec<String> {
        let out = self.sh(&format!("ls -A '{}'", dir.display()));
        assert_ok(&out, "ls");
        stdout(&out).lines().map(str::to_owned).collect()
    }

    /// A copy of the home's `.global-cache`, outside the namespace, at `to`.
    fn copy_db(&self, home: &Path, to: &Path) -> PathBuf {
        std::fs::create_dir_all(to).unwrap();
        let out = self.sh(&format!(
            "cp '{}/.global-cache' '{}/.global-cache'",
            home.display(),
            to.display()
        ));
        assert_ok(&out, "cp .global-cache");
        to.to_owned()
    }
}

/// `(registry_crate names, registry_src names)` of a `.global-cache` copy.
fn rows(db_dir: &Path) -> (Vec<String>, Vec<String>) {
    let names = |table: &str| {
        let mut v: Vec<String> = db_rows(
            db_dir,
            &format!("SELECT name, size, timestamp FROM {table}"),
        )
        .into_iter()
        .map(|r| r.0)
        .collect();
        v.sort();
        v
    };
    (names("registry_crate"), names("registry_src"))
}

#[test]
fn gc_on_a_full_disk_frees_space_first_and_reports_what_it_did() {
    let c = Copy::of(populated());
    let Some(disk) = FullDisk::new(c.dir.path(), "16m") else {
        return;
    };
    let home = disk.fill_with(&c.home);
    let reg = c.registry_dir();
    let srcs_before = disk.ls(&home.join("registry/src").join(&reg));
    assert!(srcs_before.len() >= 4, "{srcs_before:?}");

    // A size limit: Cargo's sync then has sizes to fill in, which used to be written first.
    let out = disk
        .run(&janitor_in(
            &home,
            c.dir.path(),
            &["gc", "--max-src-size", "0"],
        ))
        .output()
        .unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
    assert!(text.starts_with("Removed "), "the summary: {text}\n{err}");
    assert!(!err.contains("full"), "{err}");
    assert!(disk.avail() > 0, "space was freed");
    assert_eq!(
        disk.ls(&home.join("registry/src").join(&reg)),
        Vec::<String>::new()
    );
    // What is left is consistent: the rows are those of the paths that are left.
    let db = disk.copy_db(&home, &c.dir.path().join("db-after"));
    let (crates, srcs) = rows(&db);
    assert_eq!(srcs, Vec::<String>::new());
    let mut crate_files = disk.ls(&home.join("registry/cache").join(&reg));
    crate_files.sort();
    assert_eq!(crates, crate_files);
    // And cargo builds offline from what is left (re-extracting its sources).
    let build = disk
        .run(&cargo_in(
            &home,
            &c.dir.path().join("p2"),
            &["build", "--offline"],
        ))
        .output()
        .unwrap();
    assert_ok(&build, "offline build after gc on a full disk");
}

#[test]
fn a_database_write_that_still_fails_after_freeing_space_comes_after_the_summary() {
    let c = Copy::of(populated());
    let Some(disk) = FullDisk::new(c.dir.path(), "16m") else {
        return;
    };
    // One `.crate` last used long ago: an age limit removes it alone. It is a few hundred
    // bytes (one page of the tmpfs), less than SQLite's journal needs to delete its row.
    let reg = c.registry_dir();
    let old = "beta-0.1.0.crate";
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    let changed = conn
        .execute(
            "UPDATE registry_crate SET timestamp = ?1 WHERE name = ?2",
            rusqlite::params![(T0 - 100 * DAY) as i64, old],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let home = disk.fill_with(&c.home);
    let crates_before = disk.ls(&home.join("registry/cache").join(&reg));
    assert!(crates_before.iter().any(|c| c == old), "{crates_before:?}");
    let gc = |extra: &[&str]| {
        let mut args = vec!["gc", "--max-crate-age", "90 days"];
        args.extend_from_slice(extra);
        let mut cmd = janitor_in(&home, c.dir.path(), &args);
        cmd.env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string());
        disk.run(&cmd).output().unwrap()
    };
    let out = gc(&[]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}\n{err}");
    assert!(
        text.starts_with("Removed 1 files"),
        "the summary: {text}\n{err}"
    );
    assert!(
        err.contains(&format!(
            "could not update `{}` after the removals above (they freed space, but the disk is \
             still full): database or disk is full\nIt still lists 1 removed entry",
            home.join(".global-cache").display()
        )),
        "{err}"
    );
    let mut crates_after = disk.ls(&home.join("registry/cache").join(&reg));
    crates_after.push(old.to_owned());
    crates_after.sort();
    let mut expected = crates_before.clone();
    expected.sort();
    assert_eq!(crates_after, expected, "exactly the old crate was removed");

    // Full again: nothing more to remove (the stale row is dropped in memory, as Cargo's
    // sync drops it), and writing that fails: the JSON says so.
    disk.sh(&format!(
        "dd if=/dev/zero of='{m}/filler3' bs=1",
        m = disk.mnt.display()
    ));
    assert_eq!(disk.avail(), 0);
    let out = gc(&["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["removed_files"], 0, "{v:#}");
    assert_eq!(v["database_error"], "database or disk is full", "{v:#}");
    assert!(
        stderr(&out).contains(" (the disk is full): database or disk is full"),
        "{}",
        stderr(&out)
    );

    // With room again, the next gc drops the rows of what is gone: rows and files match, and
    // a project pinned to what is left builds offline.
    let out = disk.sh(&format!("rm '{m}/filler'*", m = disk.mnt.display()));
    assert_ok(&out, "rm filler");
    let out = gc(&[]);
    assert_ok(&out, "gc with room");
    let db = disk.copy_db(&home, &c.dir.path().join("db-after"));
    let (crates, _) = rows(&db);
    let mut crate_files = disk.ls(&home.join("registry/cache").join(&reg));
    crate_files.sort();
    assert_eq!(crates, crate_files);
    assert!(!crates.iter().any(|c| c == old));
    let build = disk
        .run(&cargo_in(
            &home,
            &c.dir.path().join("p2"),
            &["build", "--offline"],
        ))
        .output()
        .unwrap();
    assert_ok(&build, "offline build of p2");
}

#[test]
fn gc_by_age_on_a_full_disk_removes_then_records_and_says_so() {
    let c = Copy::of(populated());
    let Some(disk) = FullDisk::new(c.dir.path(), "16m") else {
        return;
    };
    let home = disk.fill_with(&c.home);
    let reg = c.registry_dir();
    // p1's sources were last used 40 days before p2's: an age limit removes exactly them,
    // and Cargo's sync has nothing to write first.
    let mut cmd = janitor_in(&home, c.dir.path(), &["gc", "--max-src-age", "30 days"]);
    cmd.env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string());
    let out = disk.run(&cmd).output().unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}\n{err}");
    assert!(text.starts_with("Removed "), "the summary: {text}\n{err}");
    assert!(disk.avail() > 0, "space was freed");
    let mut srcs = disk.ls(&home.join("registry/src").join(&reg));
    srcs.sort();
    assert_eq!(srcs, ["alpha-2.0.0", "delta-1.0.0"]);
    let db = disk.copy_db(&home, &c.dir.path().join("db-after"));
    assert_eq!(rows(&db).1, srcs, "the rows are those of the paths left");
    // The project pinned to what is left builds offline.
    let build = disk
        .run(&cargo_in(
            &home,
            &c.dir.path().join("p2"),
            &["build", "--offline"],
        ))
        .output()
        .unwrap();
    assert_ok(&build, "offline build of p2");
}
