//! Exit codes and error messages (issue #10): paths that are not what a command needs, no
//! Cargo home at all, a reader that closes the pipe, a `.global-cache` that is broken in each
//! of the ways it can be, and cargo config values of the wrong type.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cargo-janitor");

/// "Now" for the commands that read last use: a day after `p2` was built.
const NOW: u64 = T40 + DAY;

fn run(cmd: &mut Command) -> Output {
    cmd.env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap()
}

/// Everything under `dir`, with sizes and contents' hashes, to show nothing changed.
fn state(c: &Copy) -> std::collections::BTreeMap<String, String> {
    tree_state(c.dir.path())
}

#[test]
fn paths_that_do_not_exist_or_are_not_what_the_command_needs_are_exit_2() {
    let c = Copy::of(populated());
    let d = c.dir.path();
    let missing = d.join("no-such-dir");
    let file = d.join("p1/Cargo.toml");
    let plain = d.join("p1/src");
    let target = d.join("p1/target");
    let before = state(&c);
    // (arguments, the path named, what the message says of it, the argument and its form)
    let m = missing.display().to_string();
    let f = file.display().to_string();
    let p = plain.display().to_string();
    let t = target.display().to_string();
    let target_form = "PATH must be a Cargo target or build directory";
    let cases: Vec<(Vec<&str>, &str, &str, &str)> = vec![
        (vec!["locks", &m], &m, "does not exist", target_form),
        (vec!["locks", &f], &f, "is not a directory", target_form),
        (
            vec!["locks", &p],
            &p,
            "has no CACHEDIR.TAG with Cargo's signature",
            target_form,
        ),
        (
            vec!["locks", "--json", &m],
            &m,
            "does not exist",
            target_form,
        ),
        (
            vec!["wait", "--timeout", "5s", &m],
            &m,
            "does not exist",
            target_form,
        ),
        (vec!["wait", &f], &f, "is not a directory", target_form),
        (vec!["wait", &p], &p, "has no CACHEDIR.TAG", target_form),
        (vec!["sweep", &m], &m, "does not exist", target_form),
        (vec!["sweep", &f], &f, "is not a directory", target_form),
        (
            vec!["sweep", &p],
            &p,
            "is not a Cargo target directory",
            target_form,
        ),
        (
            vec!["sweep", "--max-age", "0s", &t, &m],
            &m,
            "does not exist",
            target_form,
        ),
        (
            vec!["sweep", "-r", &m],
            &m,
            "does not exist",
            "PATH (with --recursive) must be a directory to search for target dirs",
        ),
        (
            vec!["sweep", "-r", "--max-age", "0s", &f],
            &f,
            "is not a directory",
            "PATH (with --recursive) must be a directory to search for target dirs",
        ),
        (
            vec!["trim", "--target-dir", &m],
            &m,
            "does not exist",
            "--target-dir must be a Cargo target or build directory",
        ),
        (
            vec!["trim", "--target-dir", &f],
            &f,
            "is not a directory",
            "--target-dir must be a Cargo target or build directory",
        ),
        (
            vec!["trim", "--workspace", &m],
            &m,
            "does not exist",
            "--workspace must be a workspace root",
        ),
        (
            vec!["trim", "--workspace", &p],
            &p,
            "has no Cargo.toml",
            "--workspace must be a workspace root",
        ),
        (
            vec!["trim", "--lockfile", &m],
            &m,
            "does not exist",
            "--lockfile must be a Cargo.lock file",
        ),
        (
            vec!["trim", "--lockfile", &p],
            &p,
            "is a directory",
            "--lockfile must be a Cargo.lock file",
        ),
    ];
    for (args, path, what, form) in cases {
        let out = run(&mut janitor_in(&c.home, d, &args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("`{path}` {what}")), "{args:?}: {err}");
        assert!(err.contains(form), "{args:?}: {err}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    // A Cargo home named on the command line must exist, in every command that uses one.
    for args in [
        &["status"][..],
        &["gc", "-n"],
        &["trim", "-n", "--workspace", "."],
        &["locks"],
        &["wait", "--timeout", "5s"],
        &["sweep", "--max-age", "0s"],
        &["sweep", "-r"],
    ] {
        let out = run(&mut janitor_in(&missing, &d.join("p1"), args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "Cargo home `{m}` (from --cargo-home) does not exist"
            )),
            "{args:?}: {err}"
        );
    }
    assert_eq!(tree_diff(&before, &state(&c)), "", "nothing changed");
    // The same paths, when right, are accepted.
    for args in [
        &["locks", "--sample", "0", &t][..],
        &["wait", "--timeout", "5s", &t],
        &["sweep", &t],
        &["sweep", "-r", &p],
    ] {
        let out = run(&mut janitor_in(&c.home, d, args));
        assert_ok(&out, &format!("{args:?}"));
    }
    assert!(!missing.exists());
}

/// No `--cargo-home`, no `CARGO_HOME`, no `HOME`, and a user the user database does not know:
/// no Cargo home can be found. Every command that needs one says so in the same words, exit 2.
#[test]
fn no_cargo_home_to_be_found_is_exit_2_in_every_command_with_one_message() {
    use std::os::unix::fs::PermissionsExt;
    if command("setpriv").arg("--version").output().is_err() || !is_root() {
        eprintln!("skipped: needs setpriv(1) and root to run as a user without a home");
        return;
    }
    let c = Copy::of(populated());
    let d = c.dir.path();
    for p in [d.to_path_buf(), d.join("p1")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A uid no user database names (so there is no home directory to fall back on).
    let uid = "48131";
    let out = command("getent").args(["passwd", uid]).output().unwrap();
    assert_eq!(stdout(&out), "", "uid {uid} must be unknown");
    let mut messages = Vec::new();
    for args in [
        &["status"][..],
        &["gc", "-n"],
        &["gc", "--auto"],
        &["trim", "-n"],
        &["locks"],
        &["wait", "--timeout", "5s"],
        &["sweep"],
    ] {
        let mut cmd = command("setpriv");
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "--",
            BIN,
        ])
        .args(args)
        .current_dir(d.join("p1"))
        .env_remove("HOME")
        .env_remove("CARGO_HOME");
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        messages.push(err);
    }
    assert!(
        messages[0].starts_with("error: cannot find the Cargo home: "),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("--cargo-home"), "{}", messages[0]);
    assert!(
        messages.iter().all(|m| *m == messages[0]),
        "one message: {messages:#?}"
    );
}

fn is_root() -> bool {
    let out = command("id").arg("-u").output().unwrap();
    stdout(&out).trim() == "0"
}

/// The commands whose stdout is checked against a closed pipe, each with `--json` where it has
/// one. Run in the copy's directory.
fn every_command(c: &Copy) -> Vec<Vec<String>> {
    let t = c.dir.path().join("p1/target").display().to_string();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let mut all = Vec::new();
    for json in [false, true] {
        let j = |mut v: Vec<String>| {
            if json {
                v.push("--json".into());
            }
            v
        };
        all.push(j(s(&["status"])));
        all.push(j(s(&["gc", "-n", "-v", "--max-src-age", "0s"])));
        all.push(j(s(&["sweep", "-n", "--max-age", "1d", &t])));
        all.push(j(s(&["trim", "-n", "--workspace", "p2"])));
        all.push(j(s(&["locks", "--sample", "0"])));
    }
    all.push(s(&["wait", "--timeout", "5s"]));
    all.push(s(&["--help"]));
    all.push(s(&["gc", "--help"]));
    all.push(s(&["--version"]));
    all
}

/// Each command's stdout is a pipe whose reader is gone before it writes: it ends quietly,
/// exit 0 and nothing on stderr (it used to panic, exit 101).
#[test]
fn every_command_into_a_closed_pipe_ends_quietly_with_exit_0() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    for args in every_command(&c) {
        let mut child = janitor_in(&c.home, c.dir.path(), &[])
            .args(&args)
            .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command has written anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
    assert_eq!(paths_under(&c.home), before, "dry runs only");

    // A real run too: it removes, then finds nobody reading its summary.
    let mut child = c
        .janitor(&["gc", "--max-src-age", "0 days", "--grace", "0"])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(
        dirs_in(&c.home.join("registry/src").join(c.registry_dir())),
        Vec::<String>::new(),
        "the sources went"
    );
}

/// Old rows for `n` fake sources and `.crate` files, so that `gc -n -v` lists far more than a
/// pipe holds (64 KiB on Linux).
fn add_many_old_entries(c: &Copy, n: usize) {
    let reg = c.registry_dir();
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    let id: i64 = conn
        .query_row("SELECT id FROM registry_index", [], |r| r.get(0))
        .unwrap();
    for i in 0..n {
        let name = format!("a-crate-with-a-rather-long-name-to-fill-the-pipe-{i:05}-1.0.0");
        let dir = c.home.join("registry/src").join(&reg).join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".cargo-ok"), "{\"v\":1}").unwrap();
        let krate = format!("{name}.crate");
        std::fs::write(c.home.join("registry/cache").join(&reg).join(&krate), "x").unwrap();
        conn.execute(
            "INSERT INTO registry_src VALUES (?1, ?2, 7, ?3)",
            rusqlite::params![id, name, T0 as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO registry_crate VALUES (?1, ?2, 1, ?3)",
            rusqlite::params![id, krate, T0 as i64],
        )
        .unwrap();
    }
}

/// `cargo janitor … | head -1` in bash with `pipefail`: the pipeline's status is ours, and
/// our stderr goes to a file of its own.
fn into_head(c: &Copy, args: &[&str]) -> (Option<i32>, String, String) {
    let err = c.dir.path().join("janitor-stderr");
    let out = command("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; "$@" 2>"$JANITOR_ERR" | head -1"#)
        .arg("bash")
        .arg(BIN)
        .arg("--cargo-home")
        .arg(&c.home)
        .args(args)
        .current_dir(c.dir.path())
        .env("JANITOR_ERR", &err)
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    (
        out.status.code(),
        stdout(&out),
        std::fs::read_to_string(&err).unwrap(),
    )
}

#[test]
fn output_larger_than_a_pipe_into_head_ends_quietly_with_exit_0() {
    let c = Copy::of(populated());
    add_many_old_entries(&c, 2000);
    let before = paths_under(&c.home);
    let limits = ["--max-src-age", "0 days", "--max-crate-age", "0 days"];
    // First, how much there is to say: well over a pipe's 64 KiB.
    let mut all = vec!["gc", "-n", "-v"];
    all.extend(limits);
    let full = run(&mut c.janitor(&all));
    assert_ok(&full, "gc -n -v");
    assert!(full.stdout.len() > 256 * 1024, "{}", full.stdout.len());
    for json in [false, true] {
        let mut args = all.clone();
        if json {
            args.push("--json");
        }
        let (code, first, err) = into_head(&c, &args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
        let expected = stdout(&full).lines().next().unwrap().to_owned();
        if json {
            assert_eq!(first, "{\n");
        } else {
            assert_eq!(first, format!("{expected}\n"));
        }
    }
    assert_eq!(paths_under(&c.home), before, "dry runs only");
}

/// What the database looks like in each test of [`every_bad_database_has_its_own_message`].
enum Bad {
    RandomBytes,
    Truncated,
    Foreign,
    WrongColumnType,
}

fn spoil(db: &Path, how: &Bad) {
    match how {
        Bad::RandomBytes => {
            // Bytes that are no SQLite header (a fixed pattern: the test must not depend on
            // luck).
            let bytes: Vec<u8> = (0..16384u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            std::fs::write(db, bytes).unwrap();
        }
        Bad::Truncated => {
            let len = std::fs::metadata(db).unwrap().len();
            assert!(len > 8192, "{len}");
            let f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
            f.set_len(8192).unwrap();
        }
        Bad::Foreign => {
            std::fs::remove_file(db).unwrap();
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.execute_batch(
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
                 INSERT INTO notes (body) VALUES ('not Cargo''s');",
            )
            .unwrap();
        }
        Bad::WrongColumnType => {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.execute("UPDATE registry_src SET timestamp = 'last tuesday'", [])
                .unwrap();
        }
    }
}

/// A corrupt, truncated, foreign or ill-typed `.global-cache` each says what it is, in `gc`
/// (exit 1, nothing removed) and `status` (one warning, sizes from walking); none of them
/// blames a lock.
#[test]
fn every_bad_database_has_its_own_message_and_none_blames_a_lock() {
    for (how, what) in [
        (Bad::RandomBytes, "is not a SQLite database".to_string()),
        (
            Bad::Truncated,
            "is corrupt or truncated (SQLite: database disk image is malformed)".to_string(),
        ),
        (
            Bad::Foreign,
            "does not have Cargo's schema: it has user_version 0 and the table `notes`, which \
             Cargo did not make (Cargo's has user_version 7 and the tables registry_index, \
             registry_crate, registry_src, git_db, git_checkout, global_data)"
                .to_string(),
        ),
        (
            Bad::WrongColumnType,
            "does not have Cargo's schema: column `timestamp` holds text (in table \
             `registry_src`)"
                .to_string(),
        ),
    ] {
        let c = Copy::of(populated());
        let db = c.home.join(".global-cache");
        spoil(&db, &how);
        let bytes = std::fs::read(&db).unwrap();
        let before = paths_under(&c.home);
        let named = format!("`{}` {what}", db.display());
        for args in [
            &["gc", "--max-src-age", "0 days"][..],
            &["gc", "-n", "--max-src-age", "0 days"],
            &["gc"],
            &["gc", "--auto"],
            &["trim", "--ci", "--workspace", "p2"],
            &["trim", "-n", "--workspace", "p2"],
        ] {
            let out = run(&mut c.janitor(args));
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert_eq!(
                stderr(&out),
                format!("error: {named}; nothing was removed\n"),
                "{args:?}"
            );
        }
        let out = run(&mut c.janitor(&["status", "--json"]));
        assert_ok(&out, "status");
        assert_eq!(
            stderr(&out),
            format!("warning: {named}; sizes come from walking the disk and last use is unknown\n")
        );
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["database"]["state"], "unusable");
        assert!(!stderr(&out).contains("lock"));
        assert_eq!(paths_under(&c.home), before, "nothing removed or created");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            bytes,
            "the database is untouched"
        );
    }
}

/// A database another process holds (`BEGIN EXCLUSIVE` in python3's sqlite3): only this one
/// blames a lock.
#[test]
fn only_a_database_another_process_holds_blames_a_lock() {
    let c = Copy::of(populated());
    let db = c.home.join(".global-cache");
    let before = paths_under(&c.home);
    let mut child = command("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('held', flush=True)\n\
             sys.stdin.read()\n",
        )
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let holder = Guard(child);
    assert_eq!(line, "held\n");
    let named = format!("`{}` is locked by another process", db.display());

    let out = run(&mut c.janitor(&["gc", "--max-src-age", "0 days"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("error: {named} (still after 5 s; Cargo waits 5 s too); nothing was removed\n")
    );
    let out = run(&mut c.janitor(&["status", "--json"]));
    assert_ok(&out, "status");
    assert_eq!(
        stderr(&out),
        format!("warning: {named}; sizes come from walking the disk and last use is unknown\n")
    );
    assert_eq!(paths_under(&c.home), before);

    // Released: the same commands work.
    stdin.write_all(b"done").unwrap();
    drop(stdin);
    let mut holder = holder;
    assert!(holder.wait().success());
    let out = run(&mut c.janitor(&["status", "--json"]));
    assert_ok(&out, "status");
    assert_eq!(stderr(&out), "");
}

/// Writes `text` as the cargo config of `dir` (`dir/.cargo/config.toml`) and returns its path.
fn config(dir: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join(".cargo")).unwrap();
    let f = dir.join(".cargo/config.toml");
    std::fs::write(&f, text).unwrap();
    f
}

/// A cargo config value of the wrong type is exit 2 naming the file, the key and the type
/// expected, as Cargo does (it used to be ignored, and the default applied).
#[test]
fn a_config_value_of_the_wrong_type_is_exit_2_naming_key_file_and_type() {
    let c = Copy::of(populated());
    let p1 = c.dir.path().join("p1");
    let (paths, rows, target) = (
        paths_under(&c.home),
        db_dump(&c.home),
        tree_state(&p1.join("target")),
    );
    let file = config(&p1, "[cache.global-clean]\nmax-src-age = 5\n");
    let out = run(&mut janitor_in(&c.home, &p1, &["gc"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "error: error in {}: `cache.global-clean.max-src-age` expected a string like \
             \"1 month\", but found an integer\n",
            file.display()
        )
    );

    // Each key where it is read, in the home's config too.
    let home_config = c.home.join("config.toml");
    let home_text = std::fs::read_to_string(&home_config).unwrap();
    for (where_, text, key, expected, found, args) in [
        (
            "p1",
            "[cache]\nauto-clean-frequency = 1\n",
            "cache.auto-clean-frequency",
            "a string like \"1 day\", \"always\" or \"never\"",
            "an integer",
            &["gc", "--auto"][..],
        ),
        (
            "p1",
            "[build]\ntarget-dir = false\n",
            "build.target-dir",
            "a string",
            "a boolean",
            &["sweep", "--max-age", "2d"][..],
        ),
        (
            "p1",
            "[build]\nbuild-dir = 1\n",
            "build.build-dir",
            "a string",
            "an integer",
            &["locks", "--sample", "0"][..],
        ),
        (
            "p1",
            "[build]\nbuild-dir = 1\n",
            "build.build-dir",
            "a string",
            "an integer",
            &["trim", "-n"][..],
        ),
        (
            "home",
            "[registries.mine]\nindex = [\"x\"]\n",
            "registries.mine.index",
            "a string",
            "an array",
            &["status"][..],
        ),
        (
            "home",
            "[source.other]\nreplace-with = 7\n",
            "source.other.replace-with",
            "a string",
            "an integer",
            &["trim", "-n"][..],
        ),
        (
            "p1",
            "cache = \"1 day\"\n",
            "cache",
            "a table",
            "a string",
            &["gc"][..],
        ),
    ] {
        std::fs::write(&file, "").unwrap();
        std::fs::write(&home_config, &home_text).unwrap();
        let f = if where_ == "home" {
            std::fs::write(&home_config, format!("{home_text}\n{text}")).unwrap();
            home_config.clone()
        } else {
            std::fs::write(&file, text).unwrap();
            file.clone()
        };
        let out = run(&mut janitor_in(&c.home, &p1, args));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} {text}: {}",
            stderr(&out)
        );
        assert_eq!(
            stderr(&out),
            format!(
                "error: error in {}: `{key}` expected {expected}, but found {found}\n",
                f.display()
            ),
            "{args:?}"
        );
    }
    std::fs::write(&home_config, &home_text).unwrap();

    // A string Cargo would not take names the file, or the variable it came from.
    std::fs::write(&file, "[cache.global-clean]\nmax-crate-age = \"5\"\n").unwrap();
    let out = run(&mut janitor_in(&c.home, &p1, &["gc", "-n"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: error in {}: `cache.global-clean.max-crate-age` expected a string like \
             \"1 month\" (a whole number and a unit: N seconds|minutes|hours|days|weeks|months), \
             but found \"5\"\n",
            file.display()
        )
    );
    std::fs::remove_file(&file).unwrap();
    let out = run(janitor_in(&c.home, &p1, &["gc", "-n"])
        .env("CARGO_CACHE_GLOBAL_CLEAN_MAX_INDEX_AGE", "3 moons"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(
            "error: error in environment variable `CARGO_CACHE_GLOBAL_CLEAN_MAX_INDEX_AGE`: \
             `cache.global-clean.max-index-age` expected a string like \"1 month\""
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(paths_under(&c.home), paths, "nothing removed");
    assert_eq!(db_dump(&c.home), rows);
    assert_eq!(tree_diff(&target, &tree_state(&p1.join("target"))), "");
}

/// The short forms work in every command that takes a duration (`--timeout 30s` used to be
/// refused while `--sample 1s` worked).
#[test]
fn short_durations_work_on_the_command_line() {
    let c = Copy::of(populated());
    let t = c.dir.path().join("p1/target").display().to_string();
    for args in [
        &["wait", "--timeout", "30s"][..],
        &["locks", "--sample", "100ms"],
        &["gc", "-n", "--max-src-age", "30d", "--grace", "5min"],
        &["sweep", "--max-age", "2w", "--grace", "1.5h", &t],
        &["trim", "-n", "--workspace", "p2", "--grace", "0"],
    ] {
        let out = run(&mut c.janitor(args));
        assert_ok(&out, &format!("{args:?}"));
    }
    let out = run(&mut c.janitor(&["wait", "--timeout", "5m"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`m` is ambiguous"),
        "{}",
        stderr(&out)
    );
}
