//! Removal as every destructive command does it: on directory handles, with lock files and
//! `.global-cache` never followed, paths longer than `PATH_MAX`, and the trash a killed run
//! left behind. (The races themselves are tested in `src/act/remove.rs`, against an attacker
//! thread.)

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::*;

/// Runs our binary at time `now`.
fn run(c: &Copy, now: u64, args: &[&str]) -> Output {
    c.janitor(args)
        .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
        .output()
        .unwrap()
}

/// Every path below `dir` (relative), `.global-cache*` left out.
fn tree(dir: &Path) -> std::collections::BTreeSet<String> {
    paths_under(dir)
}

/// Makes `depth` nested directories with `len`-byte names below `top`, each holding a 10-byte
/// file `f`, relative to directory descriptors (a path that long cannot be named at once).
/// Returns the length of the deepest file's path.
fn deep_tree(top: &Path, depth: usize, len: usize) -> usize {
    const SCRIPT: &str = r#"
import os, sys
top, depth, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for i in range(depth):
    name = ("d%d" % i).ljust(n, "x")
    os.mkdir(name, dir_fd=fd)
    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = child
    f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(f, b"0123456789")
    os.close(f)
"#;
    let out = command("python3")
        .args(["-c", SCRIPT])
        .arg(top)
        .args([depth.to_string(), len.to_string()])
        .output()
        .unwrap();
    assert_ok(&out, "python3 (deep tree)");
    top.as_os_str().len() + depth * (len + 1) + 2
}

/// Sets the atime of every regular file below `dir` to 60 days ago.
fn age(dir: &Path) {
    let out = command("find")
        .arg(dir)
        .args([
            "-type",
            "f",
            "-exec",
            "touch",
            "-a",
            "-d",
            "60 days ago",
            "{}",
            "+",
        ])
        .output()
        .unwrap();
    assert_ok(&out, "find -exec touch");
}

/// The one `<pkg>-<hash>` directory of `pkg` in `profile/build` that has an `out/`.
fn build_out(profile: &Path, pkg: &str) -> PathBuf {
    let found: Vec<String> = dirs_in(&profile.join("build"))
        .into_iter()
        .filter(|d| {
            d.starts_with(&format!("{pkg}-")) && profile.join("build").join(d).join("out").is_dir()
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    profile.join("build").join(&found[0])
}

/// Symlinks (dangling, then to a real file) at Cargo's lock files and at `.global-cache`:
/// every command that would take or open them refuses, exit 1, names the file, removes
/// nothing, and creates nothing where the link points.
#[test]
fn symlinked_lock_files_and_database_are_refused_and_nothing_is_created() {
    let now = T40 + DAY;
    let gc = ["gc", "--max-src-age", "0 days", "--max-crate-age", "0 days"];
    let trim = ["trim", "--yes", "--lockfile", "p1/Cargo.lock"];
    for (name, words) in [
        (
            ".package-cache-mutate",
            "Cargo's lock files are never followed",
        ),
        (".package-cache", "Cargo's lock files are never followed"),
        (".global-cache", "Cargo's database is never followed"),
        (
            ".global-cache-journal",
            "Cargo's database is never followed",
        ),
    ] {
        for dangling in [true, false] {
            for args in [&gc[..], &trim[..], &[&gc[..], &["--dry-run"]].concat()[..]] {
                let c = Copy::of(populated());
                let victim = c.dir.path().join("victim");
                let link = c.home.join(name);
                if dangling {
                    let _ = std::fs::remove_file(&link);
                } else {
                    // A real file elsewhere, with the very content Cargo's file had.
                    std::fs::rename(&link, &victim)
                        .or_else(|_| std::fs::write(&victim, b"precious"))
                        .unwrap();
                }
                let victim_before = std::fs::read(&victim).ok();
                std::os::unix::fs::symlink(&victim, &link).unwrap();
                let before = tree(&c.home);
                let projects = tree(&c.dir.path().join("p1"));
                let out = run(&c, now, args);
                let what = format!("{name} (dangling: {dangling}) with {args:?}");
                let err = stderr(&out);
                if args.contains(&"--dry-run") && words.contains("lock files") {
                    // A dry run takes no lock: it never opens the lock files at all.
                    assert_ok(&out, &what);
                } else {
                    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
                    assert!(
                        err.contains(&format!("refusing to use `{}`", link.display()))
                            && err.contains(words),
                        "{what}: {err}"
                    );
                }
                assert_eq!(tree(&c.home), before, "{what}: nothing removed");
                assert_eq!(tree(&c.dir.path().join("p1")), projects, "{what}");
                assert_eq!(std::fs::read(&victim).ok(), victim_before, "{what}");
                assert!(
                    std::fs::read_link(&link).is_ok(),
                    "{what}: the symlink is left as it was"
                );
                assert!(!c.home.join(".janitor-trash").exists(), "{what}");
            }
        }
    }
}

/// `target/debug/.cargo-lock` (and cargo 1.96's `.cargo-build-lock`) as a symlink: `sweep`
/// and `trim` refuse that target dir, exit 1, and create nothing where the link points.
#[test]
fn symlinked_build_locks_are_refused_and_nothing_is_created() {
    let now = T40 + DAY;
    // `--grace`: the incremental caches were built seconds ago; this test is about symlinks.
    let sweep = [
        "sweep",
        "--incremental",
        "--grace",
        "0 seconds",
        "p1/target",
    ];
    let trim = ["trim", "--yes", "--workspace", "p1", "--grace", "0 seconds"];
    for name in [".cargo-lock", ".cargo-build-lock"] {
        for dangling in [true, false] {
            for args in [&sweep[..], &trim[..]] {
                let c = Copy::of(populated());
                let target = c.dir.path().join("p1/target");
                assert!(
                    !dirs_in(&target.join("debug/incremental")).is_empty(),
                    "something to remove"
                );
                let victim = c.dir.path().join("victim");
                if !dangling {
                    std::fs::write(&victim, "precious").unwrap();
                }
                let link = target.join("debug").join(name);
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&victim, &link).unwrap();
                let before = tree(&target);
                let out = run(&c, now, args);
                let what = format!("{name} (dangling: {dangling}) with {args:?}");
                assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
                let err = stderr(&out);
                assert!(
                    err.contains(&format!(
                        "refusing to use `{}`: it is a symlink; Cargo's lock files are never followed",
                        link.display()
                    )),
                    "{what}: {err}"
                );
                assert_eq!(tree(&target), before, "{what}: nothing removed there");
                if dangling {
                    assert!(victim.symlink_metadata().is_err(), "{what}: created");
                } else {
                    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
                }
            }
        }
    }
}

/// A profile directory that is a symlink is not this target dir's: nothing is locked,
/// created or removed through it. (Swapped in between the scan and the locking, it is
/// refused: `act::lock`'s unit tests.)
#[test]
fn a_symlinked_profile_dir_is_never_entered() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    let elsewhere = c.dir.path().join("elsewhere-debug");
    std::fs::rename(target.join("debug"), &elsewhere).unwrap();
    std::fs::remove_file(elsewhere.join(".cargo-lock")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, target.join("debug")).unwrap();
    age(&elsewhere);
    let before = tree(&elsewhere);
    for args in [
        &[
            "sweep",
            "--max-age",
            "30 days",
            "--incremental",
            "p1/target",
        ][..],
        &["trim", "--yes", "--workspace", "p1"],
    ] {
        // Ages against the real clock, like the atimes.
        let out = c.janitor(args).output().unwrap();
        assert_ok(&out, &format!("{args:?}"));
        assert_eq!(tree(&elsewhere), before, "{args:?}");
        assert!(!elsewhere.join(".cargo-lock").exists(), "{args:?}");
    }
}

/// A source holding a path longer than PATH_MAX (a `node_modules` deep inside) is removed
/// completely, and `--dry-run` reports the same files and bytes as the real run.
#[test]
fn a_unit_deeper_than_path_max_is_removed_and_counted_alike() {
    let c = Copy::of(populated());
    let reg = c.registry_dir();
    let unit = c.home.join("registry/src").join(&reg).join("alpha-1.0.0");
    let (files, bytes) = (count_files(&unit), file_bytes(&unit));
    std::fs::create_dir(unit.join("node_modules")).unwrap();
    let longest = deep_tree(&unit.join("node_modules"), 30, 200);
    assert!(longest > 4096, "{longest}");
    let args = ["gc", "--json", "--max-src-age", "0 days"];
    let dry = json(
        c.janitor(&[&args[..], &["--dry-run"]].concat())
            .env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string()),
    );
    let real = json(
        c.janitor(&args)
            .env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string()),
    );
    let item = |v: &Value| -> Value {
        v["removed"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == unit.display().to_string())
            .cloned()
            .unwrap_or_else(|| panic!("alpha-1.0.0 removed: {v}"))
    };
    // Its own files and the 30 deep ones, 10 bytes each, in the dry run as in the real one.
    for v in [&dry, &real] {
        let i = item(v);
        assert_eq!(i["files"], files + 30, "{i}");
        assert_eq!(i["bytes"], bytes + 300, "{i}");
    }
    assert_eq!(dry["removed"], real["removed"]);
    assert_eq!(dry["removed_files"], real["removed_files"]);
    assert_eq!(dry["removed_bytes"], real["removed_bytes"]);
    assert!(!unit.exists());
    assert!(
        !c.home.join(".janitor-trash").exists(),
        "nothing left in the trash"
    );
}

/// Non-directories below `p` (symlinks not followed), counted with std.
fn count_files(p: &Path) -> u64 {
    let m = p.symlink_metadata().unwrap();
    if !m.is_dir() {
        return 1;
    }
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| count_files(&e.unwrap().path()))
        .sum()
}

/// A build script's `OUT_DIR` holding a path longer than PATH_MAX: `sweep` removes the unit
/// completely and leaves no trash.
#[test]
fn sweep_removes_a_unit_deeper_than_path_max() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    age(&target);
    let unit = build_out(&target.join("debug"), "gamma");
    deep_tree(&unit.join("out"), 30, 200);
    // Ages are against the real clock here, like the atimes; the deep tree was just written
    // (`--grace`: this test is about depth, not age).
    let out = c
        .janitor(&[
            "sweep",
            "--max-age",
            "30 days",
            "--grace",
            "0 seconds",
            "p1/target",
        ])
        .output()
        .unwrap();
    assert_ok(&out, "sweep");
    assert!(!unit.exists(), "{}", stderr(&out));
    assert!(!target.join(".janitor-trash").exists());
}

/// Leaves what a run killed while emptying leaves: entries in `dir/.janitor-trash`, one of
/// them deeper than PATH_MAX.
fn leftover(dir: &Path) -> PathBuf {
    let trash = dir.join(".janitor-trash");
    std::fs::create_dir_all(trash.join("4242-1/src")).unwrap();
    std::fs::write(trash.join("4242-1/src/lib.rs"), "x".repeat(1000)).unwrap();
    std::fs::write(trash.join("4242-2"), "a crate file").unwrap();
    std::fs::create_dir(trash.join("4242-3")).unwrap();
    deep_tree(&trash.join("4242-3"), 25, 200);
    trash
}

/// A trash left in a target dir by a killed `tidy` (killed while emptying it, once every
/// unit it chose there was detached) is emptied by the next `tidy`, although the budget
/// holds and nothing else in that dir is to go. (Found by the kill test of `tidy`.)
#[test]
fn tidy_empties_a_leftover_trash_in_a_target_dir_with_nothing_else_to_remove() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    let before = tree(&target);
    let trash = leftover(&target);
    let out = c
        .janitor(&["tidy", "--budget", "1000 GB", "p1/target"])
        .output()
        .unwrap();
    assert_ok(&out, "tidy");
    assert!(!trash.exists(), "{}", stderr(&out));
    assert_eq!(tree(&target), before, "only the trash went");
}

/// A trash left by a killed `sweep` is emptied by the next `sweep`, although nothing else
/// is old enough to go.
#[test]
fn sweep_empties_a_leftover_trash_with_nothing_else_to_remove() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    let before = tree(&target);
    let trash = leftover(&target);
    let out = c
        .janitor(&["sweep", "--max-age", "100 days", "p1/target"])
        .output()
        .unwrap();
    assert_ok(&out, "sweep");
    assert!(!trash.exists(), "{}", stderr(&out));
    assert_eq!(tree(&target), before, "only the trash went");
}

/// `trim` with nothing to trim in the home empties the trash a killed run left there (the
/// home's, and `registry/`'s, used when `registry/` is another filesystem).
#[test]
fn trim_empties_a_leftover_trash_with_nothing_else_to_remove() {
    let c = Copy::of(populated());
    let args = [
        "trim",
        "--yes",
        "--json",
        "--lockfile",
        "p1/Cargo.lock",
        "--lockfile",
        "p2/Cargo.lock",
    ];
    let dry = json(&mut c.janitor(&[&args[..], &["--dry-run"]].concat()));
    assert_eq!(
        dry["parts"][0]["removed_units"], 0,
        "nothing to trim: {dry}"
    );
    let before = tree(&c.home);
    let home_trash = leftover(&c.home);
    let reg_trash = leftover(&c.home.join("registry"));
    let v = json(&mut c.janitor(&args));
    assert_eq!(v["parts"][0]["removed_units"], 0);
    assert!(!home_trash.exists());
    assert!(!reg_trash.exists());
    assert_eq!(tree(&c.home), before, "only the trash went");
}

/// `gc --auto` when no clean is due yet still empties the trash a killed run left (under the
/// locks it takes), and removes nothing else.
#[test]
fn gc_auto_empties_a_leftover_trash_when_not_due() {
    let c = Copy::of(populated());
    let now = T40 + DAY;
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    conn.execute("UPDATE global_data SET last_auto_gc = ?1", [now as i64])
        .unwrap();
    drop(conn);
    let rows = db_dump(&c.home);
    let before = tree(&c.home);
    let trash = leftover(&c.home);
    let out = run(&c, now + 60, &["gc", "--auto"]);
    assert_ok(&out, "gc --auto");
    assert!(!trash.exists(), "{}", stderr(&out));
    assert_eq!(tree(&c.home), before, "only the trash went");
    assert_eq!(db_dump(&c.home), rows, "not due: nothing else changed");
}

/// Directories inside a unit that we may not write, read or search (read-only crates, build
/// scripts that make them) are made writable through their own handles and removed; the
/// process runs as root without the capabilities that would bypass permissions.
#[test]
fn unwritable_directories_inside_a_unit_are_removed() {
    use std::os::unix::fs::PermissionsExt;
    let c = Copy::of(populated());
    let reg = c.registry_dir();
    let unit = c.home.join("registry/src").join(&reg).join("alpha-1.0.0");
    std::fs::create_dir_all(unit.join("ro/inner")).unwrap();
    std::fs::write(unit.join("ro/inner/a"), "a").unwrap();
    std::fs::write(unit.join("ro/b"), "b").unwrap();
    std::fs::create_dir_all(unit.join("closed")).unwrap();
    std::fs::write(unit.join("closed/c"), "c").unwrap();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(&unit.join("ro/inner"), 0o555).unwrap();
    mode(&unit.join("ro"), 0o555).unwrap();
    mode(&unit.join("closed"), 0o000).unwrap();
    let j = c.janitor(&["gc", "--max-src-age", "0 days"]);
    let mut cmd = command("setpriv");
    cmd.args([
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--",
    ])
    .arg(j.get_program())
    .args(j.get_args())
    .current_dir(j.get_current_dir().unwrap())
    .env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string());
    for (k, v) in j.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    // Without those capabilities, root is refused like anyone else: check that first.
    let probe = command("setpriv")
        .args([
            "--inh-caps=-all",
            "--bounding-set=-dac_override,-dac_read_search,-fowner",
            "--",
            "ls",
        ])
        .arg(unit.join("closed"))
        .output()
        .unwrap();
    if probe.status.success() || !stderr(&probe).contains("denied") {
        eprintln!(
            "skipped: cannot drop the permission-bypassing capabilities here: {}",
            stderr(&probe)
        );
        return;
    }
    let out = cmd.output().unwrap();
    assert_ok(&out, "gc without CAP_DAC_OVERRIDE");
    assert!(!unit.exists(), "{}", stderr(&out));
    assert!(!c.home.join(".janitor-trash").exists());
}

/// `registry/` on another filesystem (a CI cache mount): sources go through
/// `registry/.janitor-trash`. `registry/src` on yet another: no rename is possible, so each
/// source loses its `.cargo-ok` and is deleted in place. Either way nothing is left behind.
#[test]
fn units_on_other_filesystems_use_their_own_trash_or_go_in_place() {
    for mount_at in ["registry", "registry/src"] {
        let c = Copy::of(populated());
        let dir = c.home.join(mount_at);
        let saved = c.dir.path().join("saved");
        std::fs::rename(&dir, &saved).unwrap();
        std::fs::create_dir(&dir).unwrap();
        let script = format!(
            "mount -t tmpfs tmpfs '{d}' && cp -a '{s}/.' '{d}/' && \
             '{bin}' gc --max-src-age '0 days' --cargo-home '{h}' && \
             echo LISTING && cd '{h}' && find . -name '.janitor-trash' && ls registry/src/*/",
            d = dir.display(),
            s = saved.display(),
            h = c.home.display(),
            bin = env!("CARGO_BIN_EXE_cargo-janitor"),
        );
        let out = command("unshare")
            .args(["-m", "sh", "-c", &script])
            .env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string())
            .output()
            .unwrap();
        if !out.status.success() && stderr(&out).contains("mount") {
            eprintln!("skipped: cannot mount a tmpfs here: {}", stderr(&out));
            return;
        }
        assert_ok(&out, &format!("gc with {mount_at} on a tmpfs"));
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
        let listing = stdout(&out);
        let after = listing.split("LISTING").nth(1).unwrap();
        assert_eq!(
            after.trim(),
            "",
            "{mount_at}: every source gone, no trash left"
        );
    }
}
