//! `cargo janitor gc` against homes filled by the real cargo, compared with
//! `cargo +nightly clean gc -Zgc` where nightly is installed.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

fn gc(c: &Copy, now: u64, args: &[&str]) -> std::process::Output {
    let mut a = vec!["gc"];
    a.extend_from_slice(args);
    c.janitor(&a)
        .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
        .output()
        .unwrap()
}

fn gc_json(c: &Copy, now: u64, args: &[&str]) -> Value {
    let mut a = vec!["gc", "--json"];
    a.extend_from_slice(args);
    json(
        c.janitor(&a)
            .env("__CARGO_TEST_LAST_USE_NOW", now.to_string()),
    )
}

fn removed_paths(v: &Value, home: &Path) -> Vec<String> {
    let mut p: Vec<String> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            Path::new(i["path"].as_str().unwrap())
                .strip_prefix(home)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    p.sort();
    p
}

/// Runs nightly's `cargo clean gc -Zgc` and ours on two identical copies, and compares what
/// is left on disk and in the database.
fn parity(now: u64, args: &[&str], prep: &dyn Fn(&Path)) {
    if !nightly() {
        eprintln!("skipped: parity with `cargo +nightly clean gc -Zgc` needs a nightly toolchain");
        return;
    }
    let theirs = Copy::of(populated());
    let ours = Copy::of(populated());
    prep(&theirs.home);
    prep(&ours.home);
    let out = cargo_in(
        &theirs.home,
        theirs.dir.path(),
        &["+nightly", "clean", "gc", "-Zgc"],
    )
    .args(args)
    .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
    .output()
    .unwrap();
    assert_ok(&out, "cargo +nightly clean gc");
    let mine = gc(&ours, now, args);
    assert_ok(&mine, "janitor gc");
    assert_eq!(
        paths_under(&ours.home),
        paths_under(&theirs.home),
        "paths left after {args:?}"
    );
    assert_eq!(
        db_dump(&ours.home),
        db_dump(&theirs.home),
        "rows left after {args:?}"
    );
    // Cargo's own summary line counts the same files.
    let cargo_summary = stderr(&out);
    let files = cargo_summary
        .split("Removed ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("0");
    let mine_text = stdout(&mine);
    assert!(
        mine_text.contains(&format!("Removed {files} files")),
        "cargo: {cargo_summary}\nours: {mine_text}"
    );
}

fn nothing(_: &Path) {}

#[test]
fn parity_with_nightly_defaults() {
    parity(T0 + 100 * DAY, &[], &nothing);
    parity(T40 + DAY, &[], &nothing);
}

#[test]
fn parity_with_nightly_ages() {
    let now = T40 + 20 * DAY;
    for args in [
        &["--max-src-age", "50 days"][..],
        &["--max-crate-age", "30days"],
        &["--max-index-age", "12 hours"],
        &["--max-git-co-age", "4 weeks"],
        &["--max-git-db-age", "30 days"],
        &["--max-download-age", "30 days"],
        &["--max-src-age", "0 days", "--max-download-age", "1 month"],
    ] {
        parity(now, args, &nothing);
    }
}

#[test]
fn an_age_longer_than_the_epoch_removes_nothing() {
    // Cargo computes `now - age` in u64 and fails there; "older than 1970" means nothing.
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    let v = gc_json(
        &c,
        T40 + DAY,
        &[
            "--max-src-age",
            "1000000000000 months",
            "--max-crate-age",
            "100 months",
        ],
    );
    assert_eq!(v["removed"], Value::Array(vec![]));
    assert_eq!(paths_under(&c.home), before);
}

#[test]
fn parity_with_nightly_sizes() {
    let now = T40 + DAY;
    for args in [
        &["--max-src-size", "4000"][..],
        &["--max-src-size", "0"],
        &["--max-crate-size", "1kb"],
        &["--max-git-size", "3000"],
        &["--max-git-size", "0"],
        &["--max-download-size", "8 KiB"],
        &["--max-download-size", "1.5 kb", "--max-src-age", "50 days"],
    ] {
        parity(now, args, &nothing);
    }
}

#[test]
fn parity_with_nightly_without_a_database_and_with_orphans() {
    let now = T0 + 100 * DAY;
    parity(now, &[], &|home| {
        std::fs::remove_file(home.join(".global-cache")).unwrap();
    });
    // A registry index directory that vanished: its sources and .crate files go too.
    parity(T40 + DAY, &["--max-src-age", "3 months"], &|home| {
        let reg = only_registry(home);
        std::fs::remove_dir_all(home.join("registry/index").join(reg)).unwrap();
    });
}

#[test]
fn each_age_option_removes_exactly_what_it_names() {
    let now = T40 + 20 * DAY;
    let src = |c: &Copy, n: &str| format!("registry/src/{}/{n}", c.registry_dir());
    let krate = |c: &Copy, n: &str| format!("registry/cache/{}/{n}.crate", c.registry_dir());

    // p1's sources are 60 days old, p2's 20 days.
    let c = Copy::of(populated());
    let v = gc_json(&c, now, &["--max-src-age", "50 days"]);
    assert_eq!(
        removed_paths(&v, &c.home),
        [
            src(&c, "alpha-1.0.0"),
            src(&c, "beta-0.1.0"),
            src(&c, "gamma-0.1.0")
        ]
    );
    assert!(
        v["removed"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--max-src-age 50 days")
    );
    assert!(
        c.home
            .join(src(&c, "alpha-2.0.0"))
            .join(".cargo-ok")
            .exists()
    );
    assert!(c.home.join(krate(&c, "alpha-1.0.0")).exists());

    let c = Copy::of(populated());
    let v = gc_json(&c, now, &["--max-crate-age", "30 days"]);
    assert_eq!(
        removed_paths(&v, &c.home),
        [
            krate(&c, "alpha-1.0.0"),
            krate(&c, "beta-0.1.0"),
            krate(&c, "gamma-0.1.0")
        ]
    );
    assert_eq!(
        dirs_in(&c.home.join("registry/src").join(c.registry_dir())).len(),
        5
    );

    let c = Copy::of(populated());
    let db = dirs_in(&c.home.join("git/db"))[0].clone();
    let v = gc_json(&c, now, &["--max-git-co-age", "30 days"]);
    assert_eq!(v["removed"].as_array().unwrap().len(), 1);
    assert_eq!(v["removed"][0]["kind"], "git-checkout");
    assert!(c.home.join("git/db").join(&db).exists());
    assert_eq!(
        dirs_in(&c.home.join("git/checkouts").join(&db)),
        Vec::<String>::new()
    );

    let c = Copy::of(populated());
    let v = gc_json(&c, now, &["--max-git-db-age", "30 days"]);
    assert_eq!(
        removed_paths(&v, &c.home),
        [format!("git/checkouts/{db}"), format!("git/db/{db}")]
    );

    let c = Copy::of(populated());
    let reg = c.registry_dir();
    let v = gc_json(&c, now, &["--max-index-age", "10 days"]);
    assert_eq!(
        removed_paths(&v, &c.home),
        [
            format!("registry/cache/{reg}"),
            format!("registry/index/{reg}"),
            format!("registry/src/{reg}")
        ]
    );
    let rows = db_dump(&c.home);
    assert!(
        rows.iter()
            .all(|r| !r.starts_with("crate ") && !r.starts_with("src ")),
        "{rows:?}"
    );
}

#[test]
fn size_options_remove_least_recently_used_first() {
    let now = T40 + DAY;
    let c = Copy::of(populated());
    let before: Vec<(String, Option<i64>, i64)> =
        db_rows(&c.home, "SELECT name, size, timestamp FROM registry_crate");
    let total: i64 = before.iter().map(|r| r.1.unwrap()).sum();
    let limit = total - 10; // just over: only the oldest one must go
    let v = gc_json(&c, now, &["--max-crate-size", &limit.to_string()]);
    let removed = v["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{v:#}");
    // The oldest by (timestamp, name): p1's crates are older; `alpha-1.0.0.crate` sorts first.
    assert!(
        removed[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("alpha-1.0.0.crate")
    );
    let after: i64 = db_rows(&c.home, "SELECT name, size, timestamp FROM registry_crate")
        .iter()
        .map(|r| r.1.unwrap())
        .sum();
    assert!(after <= limit);

    // A size limit fills in the sizes Cargo had not stored (checkouts), as Cargo does.
    let c = Copy::of(populated());
    assert_ok(&gc(&c, now, &["--max-git-size", "1 GiB"]), "gc");
    let co = db_rows(&c.home, "SELECT name, size, timestamp FROM git_checkout");
    assert!(co[0].1.is_some(), "{co:?}");
}

#[test]
fn offline_builds_work_after_gc_and_reextract_sources() {
    let now = T40 + DAY;
    let c = Copy::of(populated());
    let reg = c.registry_dir();
    let v = gc_json(
        &c,
        now,
        &["--max-src-age", "0 days", "--max-git-co-age", "0 days"],
    );
    assert_eq!(
        u64::try_from(v["removed"].as_array().unwrap().len()).unwrap(),
        6
    );
    assert_eq!(
        dirs_in(&c.home.join("registry/src").join(&reg)),
        Vec::<String>::new()
    );
    for p in ["p1", "p2"] {
        let out = c.cargo(p, &["build", "--offline"]).output().unwrap();
        assert_ok(&out, &format!("cargo build --offline in {p}"));
    }
    // Cargo re-extracted every source from its .crate.
    assert_eq!(dirs_in(&c.home.join("registry/src").join(&reg)).len(), 5);
}

#[test]
fn dry_run_lists_exactly_what_the_real_run_removes() {
    let now = T0 + 100 * DAY;
    let c = Copy::of(populated());
    let before_paths = paths_under(&c.home);
    let before_rows = db_dump(&c.home);
    let dry = gc_json(&c, now, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        paths_under(&c.home),
        before_paths,
        "a dry run changes nothing"
    );
    assert_eq!(db_dump(&c.home), before_rows, "not even the database");
    let real = gc_json(&c, now, &[]);
    assert_eq!(real["dry_run"], false);
    assert_eq!(dry["removed"], real["removed"]);
    assert_eq!(dry["removed_bytes"], real["removed_bytes"]);
    assert_eq!(dry["removed_files"], real["removed_files"]);
    assert!(real["removed_files"].as_u64().unwrap() > 0);
    for item in real["removed"].as_array().unwrap() {
        assert!(!Path::new(item["path"].as_str().unwrap()).exists());
    }
    // Human form: grouped by component with reasons, and Cargo's summary shape.
    let c = Copy::of(populated());
    let out = gc(&c, now, &["-n"]);
    assert_ok(&out, "gc -n");
    let text = stdout(&out);
    assert!(text.contains("extracted source (5,"), "{text}");
    // No limit was given: the reason says the limit is Cargo's default, never a flag.
    // (Said once, in the heading, when it is every item's limit.)
    assert!(
        text.contains("extracted source (5, ") && text.contains("): default max-src-age 1 month\n"),
        "{text}"
    );
    assert!(!text.contains("--max-src-age"), "{text}");
    assert!(text.contains("Summary "), "{text}");
    assert!(stderr(&out).contains("no files deleted due to --dry-run"));
}

#[test]
fn config_global_clean_is_used_when_no_option_is_given() {
    let now = T40 + 20 * DAY;
    let c = Copy::of(populated());
    let cfg = c.home.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(
        "\n[cache.global-clean]\nmax-src-age = \"50 days\"\nmax-git-co-age = \"1 year\"\n",
    );
    std::fs::write(&cfg, &text).unwrap();
    // "1 year" is not Cargo's grammar: a clear error naming the key, nothing removed.
    let before = paths_under(&c.home);
    let out = gc(&c, now, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cache.global-clean.max-git-co-age"),
        "{}",
        stderr(&out)
    );
    assert_eq!(paths_under(&c.home), before);
    std::fs::write(&cfg, text.replace("1 year", "12 months")).unwrap();
    let v = gc_json(&c, now, &[]);
    let removed = removed_paths(&v, &c.home);
    assert_eq!(removed.len(), 3, "only p1's sources: {removed:?}");
    assert!(removed.iter().all(|p| p.starts_with("registry/src/")));
    // Each reason names the config key the limit came from.
    for item in v["removed"].as_array().unwrap() {
        let reason = item["reason"].as_str().unwrap();
        assert!(
            reason.ends_with("(cache.global-clean.max-src-age 50 days)"),
            "{reason}"
        );
    }
    // A flag is named as the flag, and --max-download-age where it is the smaller.
    let c = Copy::of(populated());
    let v = gc_json(
        &c,
        now,
        &[
            "--max-src-age",
            "50 days",
            "--max-download-age",
            "40 days",
            "-n",
        ],
    );
    let reasons: Vec<&str> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    assert!(!reasons.is_empty(), "{v:#}");
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("(--max-download-age 40 days)")),
        "{reasons:?}"
    );
}

#[test]
fn auto_runs_only_when_due_and_records_it() {
    let c = Copy::of(populated());
    let set_last = |t: u64| {
        let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
        conn.execute("UPDATE global_data SET last_auto_gc = ?1", [t as i64])
            .unwrap();
    };
    let last = || db_rows(&c.home, "SELECT '', NULL, last_auto_gc FROM global_data")[0].2 as u64;
    let before = paths_under(&c.home);
    set_last(T0 + 99 * DAY);
    let now = T0 + 99 * DAY + 3600;
    let out = gc(&c, now, &["--auto"]);
    assert_ok(&out, "gc --auto");
    assert_eq!(stdout(&out), "");
    assert_eq!(
        paths_under(&c.home),
        before,
        "not due: last run an hour ago"
    );
    assert_eq!(last(), T0 + 99 * DAY);

    let out = c
        .janitor(&["gc", "--auto"])
        .env("__CARGO_TEST_LAST_USE_NOW", (T0 + 100 * DAY).to_string())
        .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
        .output()
        .unwrap();
    assert_ok(&out, "gc --auto (never)");
    assert_eq!(paths_under(&c.home), before);

    // Due only strictly after a day (Cargo's `<`).
    let out = gc(&c, T0 + 100 * DAY, &["--auto"]);
    assert_ok(&out, "gc --auto");
    assert_eq!(
        paths_under(&c.home),
        before,
        "exactly one day later is not due yet"
    );
    let now = T0 + 100 * DAY + 1;
    let out = gc(&c, now, &["--auto"]);
    assert_ok(&out, "gc --auto");
    assert_ne!(paths_under(&c.home), before, "due: cleaned at the defaults");
    assert_eq!(last(), now);
    assert_eq!(
        dirs_in(&c.home.join("registry/src").join(c.registry_dir())).len(),
        0
    );
}

#[test]
fn missing_database_is_created_like_cargo_does() {
    let c = Copy::of(populated());
    std::fs::remove_file(c.home.join(".global-cache")).unwrap();
    let now = T0 + 100 * DAY;
    let out = gc(&c, now, &[]);
    assert_ok(&out, "gc");
    assert!(stderr(&out).contains("Created"), "{}", stderr(&out));
    assert!(stdout(&out).contains("Removed 0 files"), "{}", stdout(&out));
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 7);
    let rows = db_dump(&c.home);
    assert!(
        rows.iter()
            .any(|r| r.starts_with("src ") && r.ends_with(&now.to_string()))
    );
}

#[test]
fn bad_values_name_the_flag_and_the_grammar_and_change_nothing() {
    let c = Copy::of(populated());
    let paths = paths_under(&c.home);
    let rows = db_dump(&c.home);
    for (flag, value, grammar) in [
        (
            "--max-src-age",
            "1 year",
            "seconds|minutes|hours|days|weeks|months",
        ),
        ("--max-crate-age", "-1 days", "seconds|minutes"),
        ("--max-index-age", "3", "seconds|minutes"),
        ("--max-crate-size", "1.55 GB", "kib, mib, gib"),
        ("--max-download-size", "10 TB", "kib, mib, gib"),
        ("--max-git-size", "lots", "kib, mib, gib"),
    ] {
        let out = gc(&c, T0 + 100 * DAY, &[&format!("{flag}={value}")]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flag} {value}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(err.contains(flag), "{err}");
        assert!(err.contains(value), "{err}");
        assert!(err.contains(grammar), "{err}");
    }
    assert_eq!(paths_under(&c.home), paths);
    assert_eq!(db_dump(&c.home), rows);
}

#[test]
fn symlinks_are_never_followed() {
    let c = Copy::of(populated());
    let reg = c.registry_dir();
    let outside = c.dir.path().join("outside-src");
    std::fs::create_dir_all(outside.join("src")).unwrap();
    std::fs::write(outside.join("src/lib.rs"), "precious").unwrap();
    std::fs::write(outside.join(".cargo-ok"), "{\"v\":1}").unwrap();
    let link = c.home.join("registry/src").join(&reg).join("evil-1.0.0");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    // Give it an old row, so that a tool following Cargo's rows would go for it.
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    conn.execute(
        "INSERT INTO registry_src (registry_id, name, size, timestamp) \
         SELECT id, 'evil-1.0.0', 8, 1 FROM registry_index",
        [],
    )
    .unwrap();
    drop(conn);
    let out = gc(&c, T40 + DAY, &["--max-src-age", "0 days"]);
    assert_ok(&out, "gc");
    assert_eq!(
        std::fs::read_to_string(outside.join("src/lib.rs")).unwrap(),
        "precious"
    );
    assert!(outside.join(".cargo-ok").exists());
    for keep in [
        ".global-cache",
        ".package-cache",
        ".package-cache-mutate",
        "config.toml",
    ] {
        assert!(c.home.join(keep).exists(), "{keep}");
    }
}

#[test]
fn read_only_home_is_a_clear_error_and_loses_nothing() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    let script = format!(
        "mount --bind '{h}' '{h}' && mount -o remount,bind,ro '{h}' && exec '{bin}' gc --max-src-age '0 days' --cargo-home '{h}'",
        h = c.home.display(),
        bin = env!("CARGO_BIN_EXE_cargo-janitor"),
    );
    let out = command("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("__CARGO_TEST_LAST_USE_NOW", (T40 + DAY).to_string())
        .output()
        .unwrap();
    if out.status.code() != Some(1) && stderr(&out).contains("mount") {
        eprintln!(
            "skipped: cannot make a read-only bind mount here: {}",
            stderr(&out)
        );
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing was"), "{}", stderr(&out));
    assert_eq!(paths_under(&c.home), before);
}

#[test]
fn a_locked_database_waits_then_fails_clearly_without_removing() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    let holder = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let start = Instant::now();
    let out = gc(&c, T40 + DAY, &["--max-src-age", "0 days"]);
    let waited = start.elapsed();
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(".global-cache"), "{err}");
    assert!(err.contains("locked"), "{err}");
    assert!(err.contains("nothing was removed"), "{err}");
    assert!(
        waited >= Duration::from_secs(4),
        "waited like Cargo: {waited:?}"
    );
    assert_eq!(paths_under(&c.home), before);
}

#[test]
fn waits_for_a_running_build_and_the_build_succeeds() {
    let c = Copy::of(populated());
    let now = T0 + 100 * DAY;
    let (build, hold) = held_build(&c, "p1");
    let build_pid = build.id();
    let before = paths_under(&c.home);

    // --no-wait: the documented code, nothing removed.
    let out = gc(&c, now, &["--no-wait"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("package cache mutation"),
        "{}",
        stderr(&out)
    );
    // --auto: skips silently, like Cargo's automatic clean.
    let out = c
        .janitor(&["gc", "--auto"])
        .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
        .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "always")
        .output()
        .unwrap();
    assert_ok(&out, "gc --auto");
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), "");
    assert_eq!(paths_under(&c.home), before);

    // Default: waits, says why, then cleans after the build.
    let mut waiting = c
        .janitor(&["gc"])
        .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "gc must wait for the build"
    );
    assert_eq!(
        paths_under(&c.home),
        before,
        "nothing removed while the build runs"
    );
    std::fs::remove_file(&hold).unwrap();
    let built = build.wait_with_output().unwrap();
    assert_ok(&built, "the build gc waited for");
    let out = waiting.wait_with_output().unwrap();
    assert_ok(&out, "gc after the build");
    assert!(
        stderr(&out).contains("Blocking waiting for file lock on package cache mutation"),
        "{}",
        stderr(&out)
    );
    // The holder line `locks` prints: the build, building, and which step (issue #10).
    assert!(
        stderr(&out).contains(&format!(
            "package-cache-mutate (`{}`), held by pid {} `",
            // Shown relative to the current directory, which holds the home.
            c.home
                .join(".package-cache-mutate")
                .strip_prefix(c.dir.path())
                .unwrap()
                .display(),
            build_pid
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out)
            .contains("cargo build --offline` (building: running build script `gamma` for "),
        "{}",
        stderr(&out)
    );
}

/// Adds `n` fake crates with old rows (sources of `files` files and `.crate` files), so that a
/// gc run takes long enough to be killed in the middle.
fn add_bulk(c: &Copy, n: usize, files: usize) {
    let reg = c.registry_dir();
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    let id: i64 = conn
        .query_row("SELECT id FROM registry_index", [], |r| r.get(0))
        .unwrap();
    for i in 0..n {
        let name = format!("bulk{i:04}-1.0.0");
        let dir = c.home.join("registry/src").join(&reg).join(&name);
        std::fs::create_dir_all(dir.join("src/m")).unwrap();
        let mut size = 0;
        for f in 0..files {
            let body = format!("// {name} {f}\n");
            size += body.len();
            std::fs::write(dir.join("src/m").join(format!("f{f}.rs")), body).unwrap();
        }
        std::fs::write(dir.join(".cargo-ok"), "{\"v\":1}").unwrap();
        std::fs::write(
            c.home
                .join("registry/cache")
                .join(&reg)
                .join(format!("{name}.crate")),
            "x",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO registry_src VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![id, name, size as i64, T0 as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO registry_crate VALUES (?1, ?2, 1, ?3)",
            rusqlite::params![id, format!("{name}.crate"), T0 as i64],
        )
        .unwrap();
    }
}

#[test]
fn sigkill_at_any_instant_leaves_a_cache_cargo_uses() {
    let now = T40 + DAY;
    let args = ["gc", "--max-src-age", "0 days", "--max-crate-age", "0 days"];
    // How long a full run takes, to spread the kills over it.
    let probe = Copy::of(populated());
    add_bulk(&probe, 150, 40);
    let t = Instant::now();
    assert_ok(
        &probe
            .janitor(&args)
            .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
            .output()
            .unwrap(),
        "full gc",
    );
    let full = t.elapsed();
    let runs = 20;
    let mut killed_mid_run = 0;
    // The probe's time is one sample on a shared machine: when a run finishes before its kill,
    // later kills come earlier (the scale shrinks), so the points stay spread over real runs.
    let mut scale = 1.0_f64;
    for i in 0..runs {
        let c = Copy::of(populated());
        add_bulk(&c, 150, 40);
        let reg = c.registry_dir();
        let mut child = c
            .janitor(&args)
            .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(scale) * i / runs);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if finished {
            scale *= 0.75;
        } else {
            killed_mid_run += 1;
        }
        // Every source directory still there is whole: `.cargo-ok` means complete.
        let src = c.home.join("registry/src").join(&reg);
        for d in dirs_in(&src) {
            if let Some(bulk) = d.strip_prefix("bulk") {
                let n = std::fs::read_dir(src.join(&d).join("src/m"))
                    .unwrap()
                    .count();
                assert_eq!(n, 40, "run {i}: {d} is partial ({bulk})");
                assert!(src.join(&d).join(".cargo-ok").exists(), "run {i}: {d}");
            }
        }
        // Cargo builds offline wherever the .crate files it needs survived.
        let cache = c.home.join("registry/cache").join(&reg);
        for (p, deps) in [
            ("p1", &["alpha-1.0.0", "beta-0.1.0", "gamma-0.1.0"][..]),
            ("p2", &["alpha-2.0.0", "delta-1.0.0"]),
        ] {
            let have = deps.iter().all(|d| {
                cache.join(format!("{d}.crate")).exists() || src.join(d).join(".cargo-ok").exists()
            });
            if have {
                let out = c.cargo(p, &["build", "--offline"]).output().unwrap();
                assert_ok(&out, &format!("run {i}: cargo build --offline in {p}"));
            }
        }
        // A second gc finishes the job.
        let out = c
            .janitor(&args)
            .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
            .output()
            .unwrap();
        assert_ok(&out, &format!("run {i}: second gc"));
        assert!(
            !c.home.join(".janitor-trash").exists(),
            "run {i}: trash emptied"
        );
        assert!(
            dirs_in(&src).iter().all(|d| !d.starts_with("bulk")),
            "run {i}: every old source removed"
        );
    }
    assert!(
        killed_mid_run >= runs / 2,
        "only {killed_mid_run} kills landed mid-run"
    );
}

#[test]
fn parity_with_nightly_on_symlinks_cargo_tracks() {
    // A registry index directory that is a symlink (a shared, pre-baked index): Cargo's sync
    // follows it, so the registry is not an orphan and nothing of it is removed.
    parity(T40 + DAY, &["--max-src-age", "100 months"], &|home| {
        let reg = only_registry(home);
        let index = home.join("registry/index").join(&reg);
        let elsewhere = home.parent().unwrap().join("shared-index");
        std::fs::rename(&index, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &index).unwrap();
    });
    // A tracked source that is a symlink: Cargo keeps its row, then unlinks the link itself.
    parity(T40 + DAY, &["--max-src-age", "0 days"], &|home| {
        let reg = only_registry(home);
        let outside = home.parent().unwrap().join("outside-src");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("lib.rs"), "precious").unwrap();
        std::os::unix::fs::symlink(
            &outside,
            home.join("registry/src").join(&reg).join("evil-1.0.0"),
        )
        .unwrap();
        let conn = rusqlite::Connection::open(home.join(".global-cache")).unwrap();
        conn.execute(
            "INSERT INTO registry_src (registry_id, name, size, timestamp) \
             SELECT id, 'evil-1.0.0', 8, 1 FROM registry_index",
            [],
        )
        .unwrap();
    });
}

#[test]
fn parity_with_nightly_on_a_checkout_id_shared_by_two_repositories() {
    // `git_checkout.name` is UNIQUE across repositories in Cargo's schema: a second checkout
    // with the same short id is never tracked, so Cargo's size limit does not count it.
    parity(T40 + DAY, &["--max-git-size", "3000"], &|home| {
        let db = dirs_in(&home.join("git/db"))[0].clone();
        let co = dirs_in(&home.join("git/checkouts").join(&db))[0].clone();
        let twin = "twin-0123456789abcdef";
        let out = command("cp")
            .arg("-a")
            .arg(home.join("git/db").join(&db))
            .arg(home.join("git/db").join(twin))
            .output()
            .unwrap();
        assert_ok(&out, "cp");
        std::fs::create_dir_all(home.join("git/checkouts").join(twin)).unwrap();
        let out = command("cp")
            .arg("-a")
            .arg(home.join("git/checkouts").join(&db).join(&co))
            .arg(home.join("git/checkouts").join(twin).join(&co))
            .output()
            .unwrap();
        assert_ok(&out, "cp");
    });
}

#[test]
fn a_symlinked_trash_is_never_followed() {
    let c = Copy::of(populated());
    let victim = c.dir.path().join("victim");
    std::fs::create_dir_all(victim.join("keep")).unwrap();
    std::fs::write(victim.join("keep/file"), "precious").unwrap();
    std::os::unix::fs::symlink(&victim, c.home.join(".janitor-trash")).unwrap();
    let out = gc(&c, T40 + DAY, &["--max-src-age", "0 days"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("janitor-trash"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(victim.join("keep/file")).unwrap(),
        "precious"
    );
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 1);
    // Every source is still whole.
    let src = c.home.join("registry/src").join(c.registry_dir());
    for d in dirs_in(&src) {
        assert!(src.join(d).join(".cargo-ok").exists());
    }
}

#[test]
fn a_symlinked_cargo_directory_stops_gc_before_anything_changes() {
    let c = Copy::of(populated());
    let src = c.home.join("registry/src");
    let elsewhere = c.dir.path().join("src-elsewhere");
    std::fs::rename(&src, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &src).unwrap();
    let before = paths_under(&c.home);
    let rows = db_dump(&c.home);
    let out = gc(&c, T40 + DAY, &["--max-src-age", "0 days"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is a symlink"), "{err}");
    assert!(err.contains("nothing was removed"), "{err}");
    assert_eq!(paths_under(&c.home), before);
    assert_eq!(db_dump(&c.home), rows);
    assert_eq!(
        dirs_in(&elsewhere.join(c.registry_dir_via(&elsewhere))).len(),
        5
    );
}

#[test]
fn a_home_without_caches_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    // A home directory with bin/ is not a Cargo home.
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    let out = janitor_in(dir.path(), dir.path(), &["gc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A Cargo home with only config.toml: nothing to clean, and nothing is created.
    std::fs::write(dir.path().join("config.toml"), "").unwrap();
    let out = janitor_in(dir.path(), dir.path(), &["gc"])
        .output()
        .unwrap();
    assert_ok(&out, "gc");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bin", "config.toml"]);
}

/// The real clock, in unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn sources_extracted_moments_ago_are_kept_by_the_grace_period() {
    // Issue #9: a build extracts sources under `.package-cache`, releases it, and only then
    // takes `.package-cache-mutate` to compile them. A gc in between may take both locks, so
    // age and size limits must spare what was used moments ago. Here the build ran a minute
    // ago, as Cargo records it.
    let env = Env::new();
    let app = env.project("app", "alpha = \"=1.0.0\"\ndelta = \"1\"");
    env.build_at(&app, unix_now() - 60);
    let reg = only_registry(&env.home);
    let src = env.home.join("registry/src").join(&reg);
    let sources = || dirs_in(&src);
    assert_eq!(sources(), ["alpha-1.0.0", "delta-1.0.0"]);
    let run = |args: &[&str]| {
        let mut a = vec!["gc"];
        a.extend_from_slice(args);
        let out = env.janitor(&a).output().unwrap();
        assert_ok(&out, &format!("gc {args:?}"));
        out
    };
    for limit in [&["--max-src-age", "0 days"][..], &["--max-src-size", "0"]] {
        // The dry run lists nothing of them, and says what it kept.
        let dry: Value =
            serde_json::from_slice(&run(&[limit, &["--json", "--dry-run"]].concat()).stdout)
                .unwrap();
        assert_eq!(dry["removed"], Value::Array(vec![]), "{limit:?}: {dry:#}");
        assert_eq!(dry["grace"]["seconds"], 600);
        assert_eq!(dry["grace"]["kept"], 2, "{dry:#}");
        let kept: Vec<&str> = dry["grace"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            kept,
            [
                src.join("alpha-1.0.0").to_str().unwrap(),
                src.join("delta-1.0.0").to_str().unwrap()
            ]
        );
        // The real run keeps them too, and says so.
        let out = run(limit);
        assert_eq!(sources(), ["alpha-1.0.0", "delta-1.0.0"], "{limit:?}");
        assert!(
            stdout(&out).contains(
                "Kept 2 items used in the last 10 minutes (a build may be using them; --grace)"
            ),
            "{}",
            stdout(&out)
        );
    }
    // A shorter grace period than their age, or none: they go.
    let v: Value = serde_json::from_slice(
        &run(&["--max-src-age", "0 days", "--grace", "30 seconds", "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(v["removed"].as_array().unwrap().len(), 2, "{v:#}");
    assert_eq!(v["grace"]["kept"], 0);
    assert!(sources().is_empty());
    assert_ok(
        &env.cargo(&app, &["build", "--offline"]).output().unwrap(),
        "cargo re-extracts",
    );
    run(&["--max-src-size", "0", "--grace", "0 seconds"]);
    assert!(sources().is_empty());
}
