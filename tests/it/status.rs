//! `cargo janitor status` against homes filled by the real cargo.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

const NOW: u64 = T40 + 3600;

fn component<'a>(s: &'a Value, kind: &str) -> &'a Value {
    s["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no component {kind} in {s:#}"))
}

fn status(c: &Copy, extra: &[&str]) -> Value {
    let mut args = vec!["status", "--json"];
    args.extend_from_slice(extra);
    json(
        c.janitor(&args)
            .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string()),
    )
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Sum of `size` of a child table, and min/max timestamp, straight from SQLite.
fn db_sum(home: &Path, table: &str) -> (u64, i64, i64, usize) {
    let rows = db_rows(home, &format!("SELECT name, size, timestamp FROM {table}"));
    let sum = rows.iter().map(|r| r.1.unwrap_or(0) as u64).sum();
    let min = rows.iter().map(|r| r.2).min().unwrap();
    let max = rows.iter().map(|r| r.2).max().unwrap();
    (sum, min, max, rows.len())
}

#[test]
fn counts_bytes_and_last_use_match_disk_and_database() {
    let c = Copy::of(populated());
    let home = &c.home;
    let reg = only_registry(home);
    let s = status(&c, &[]);

    assert_eq!(s["cargo_home"], home.display().to_string());
    assert_eq!(s["database"]["state"], "ok");
    assert_eq!(s["database"]["user_version"], 7);

    // Index: walked.
    let idx = component(&s, "registry-index");
    assert_eq!(u(&idx["count"]), 1);
    assert_eq!(
        u(&idx["bytes"]),
        file_bytes(&home.join("registry/index").join(&reg))
    );
    assert_eq!(u(&idx["oldest_use"]), T40);

    // .crate files: the files' lengths, which are also what the database stored.
    let crates_dir = home.join("registry/cache").join(&reg);
    let crate_files: Vec<_> = std::fs::read_dir(&crates_dir).unwrap().collect();
    let cr = component(&s, "registry-crate");
    assert_eq!(u(&cr["count"]), 5);
    assert_eq!(u(&cr["count"]), crate_files.len() as u64);
    let (db_crate_bytes, oldest, newest, rows) = db_sum(home, "registry_crate");
    assert_eq!(rows, 5);
    assert_eq!(u(&cr["bytes"]), file_bytes(&crates_dir));
    assert_eq!(u(&cr["bytes"]), db_crate_bytes);
    assert_eq!((u(&cr["oldest_use"]), u(&cr["newest_use"])), (T0, T40));
    assert_eq!((oldest as u64, newest as u64), (T0, T40));

    // Extracted sources: the sizes cargo stored (tar bytes, without the 7-byte .cargo-ok).
    let src_dir = home.join("registry/src").join(&reg);
    let names = dirs_in(&src_dir);
    assert_eq!(
        names,
        [
            "alpha-1.0.0",
            "alpha-2.0.0",
            "beta-0.1.0",
            "delta-1.0.0",
            "gamma-0.1.0"
        ]
    );
    let src = component(&s, "registry-src");
    let (db_src_bytes, _, _, _) = db_sum(home, "registry_src");
    assert_eq!(u(&src["count"]), 5);
    assert_eq!(src["size_source"], "database");
    assert_eq!(u(&src["bytes"]), db_src_bytes);
    assert_eq!(
        u(&src["bytes"]),
        names
            .iter()
            .map(|n| file_bytes(&src_dir.join(n)) - 7)
            .sum::<u64>()
    );
    assert!(
        src["disk_bytes"].is_null(),
        "no on-disk figure from the database"
    );

    // Git: walked.
    let dbs = dirs_in(&home.join("git/db"));
    assert_eq!(dbs.len(), 1);
    assert!(dbs[0].starts_with("git-gitdep-"), "{dbs:?}");
    let cos = dirs_in(&home.join("git/checkouts").join(&dbs[0]));
    assert_eq!(cos.len(), 1);
    // The checkout's `.git/objects` are hard links into the db: counted once, with the db.
    let db_path = home.join("git/db").join(&dbs[0]);
    let co_path = home.join("git/checkouts").join(&dbs[0]).join(&cos[0]);
    let git_bytes = file_bytes_in_order(&[&db_path, &co_path]);
    assert!(
        git_bytes[1] < file_bytes(&co_path),
        "the fixture has hard links"
    );
    let gdb = component(&s, "git-db");
    assert_eq!(u(&gdb["count"]), 1);
    assert_eq!(u(&gdb["bytes"]), git_bytes[0]);
    let gco = component(&s, "git-checkout");
    assert_eq!(u(&gco["count"]), 1);
    assert_eq!(u(&gco["bytes"]), git_bytes[1]);
    assert_eq!(u(&gco["oldest_use"]), T0);

    let total: u64 = s["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| u(&c["bytes"]))
        .sum();
    assert_eq!(u(&s["total_bytes"]), total);

    // At NOW (T0 + 40 days) cargo's automatic clean removes p1's sources and its checkout
    // (unused for more than a month); .crate files, the index and the git db stay.
    let p1_srcs = db_rows(
        home,
        &format!("SELECT name, size, timestamp FROM registry_src WHERE timestamp = {T0}"),
    );
    assert_eq!(p1_srcs.len(), 3);
    let expected = p1_srcs.iter().map(|r| r.1.unwrap() as u64).sum::<u64>() + u(&gco["bytes"]);
    assert_eq!(u(&s["auto_clean_reclaimable_bytes"]), expected);

    // The registry directory is named after the local registry's URL.
    assert_eq!(s["registries"][0]["name"], reg);
    assert_eq!(
        s["registries"][0]["url"],
        populated().env.registry.index_url()
    );
    assert_eq!(s["registries"][0]["scheme"], "current");
    assert_eq!(s["stale_registries"], Value::Array(vec![]));
}

#[test]
fn exact_walks_everything_and_matches_du() {
    let c = Copy::of(populated());
    let home = &c.home;
    let reg = only_registry(home);
    let s = status(&c, &["--exact"]);
    assert_eq!(s["exact"], true);
    let src = component(&s, "registry-src");
    assert_eq!(src["size_source"], "disk");
    assert_eq!(
        u(&src["bytes"]),
        file_bytes(&home.join("registry/src").join(&reg))
    );
    assert_eq!(u(&component(&s, "bin")["bytes"]), 0);
    assert_eq!(u(&s["total_bytes"]), file_bytes(home));
    assert_eq!(u(&s["total_disk_bytes"]), du_disk(home));
}

#[test]
fn scanning_does_not_move_atimes() {
    let c = Copy::of(populated());
    let reg = only_registry(&c.home);
    let file = c
        .home
        .join("registry/src")
        .join(&reg)
        .join("alpha-1.0.0/src/lib.rs");
    // Ten days ago: under relatime any read would move it.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * DAY);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_accessed(old))
        .unwrap();
    let before = std::fs::metadata(&file).unwrap().accessed().unwrap();
    status(&c, &["--exact"]);
    let after = std::fs::metadata(&file).unwrap().accessed().unwrap();
    assert_eq!(before, after);
}

#[test]
fn human_table_names_every_component() {
    let c = Copy::of(populated());
    let out = c
        .janitor(&["status"])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    assert_ok(&out, "status");
    let text = stdout(&out);
    for label in [
        "registry indexes",
        ".crate archives",
        "extracted sources",
        "git databases",
        "git checkouts",
        "installed binaries",
        "everything else",
        "total",
        "Cargo's automatic clean would remove",
    ] {
        assert!(text.contains(label), "missing {label:?} in\n{text}");
    }
    assert!(!text.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn corrupt_database_degrades_to_walking() {
    let c = Copy::of(populated());
    std::fs::write(c.home.join(".global-cache"), vec![b'x'; 8192]).unwrap();
    let out = c
        .janitor(&["status", "--json"])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    assert_ok(&out, "status");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert_eq!(
        err,
        format!(
            "warning: `{}` is not a SQLite database; sizes come from walking the disk and last \
             use is unknown\n",
            c.home.join(".global-cache").display()
        )
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["database"]["state"], "unusable");
    let reg = only_registry(&c.home);
    let src = component(&s, "registry-src");
    assert_eq!(src["size_source"], "disk");
    assert!(src["oldest_use"].is_null());
    assert_eq!(u(&src["untracked"]), 5);
    assert_eq!(
        u(&src["bytes"]),
        file_bytes(&c.home.join("registry/src").join(&reg))
    );
    // Nothing is reclaimable when nothing is known to be old.
    assert_eq!(u(&s["auto_clean_reclaimable_bytes"]), 0);
}

#[test]
fn newer_schema_is_read_with_a_note() {
    let c = Copy::of(populated());
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    conn.execute_batch(
        "CREATE TABLE target_directory (id INTEGER PRIMARY KEY, path TEXT); PRAGMA user_version = 8;",
    )
    .unwrap();
    drop(conn);
    let out = c
        .janitor(&["status", "--json"])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    assert_ok(&out, "status");
    assert!(
        stderr(&out).contains("schema version 8"),
        "{}",
        stderr(&out)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["database"]["state"], "newer-schema");
    assert_eq!(s["database"]["user_version"], 8);
    assert_eq!(u(&component(&s, "registry-src")["oldest_use"]), T0);
    // The database was not changed.
    let conn = rusqlite::Connection::open(c.home.join(".global-cache")).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 8);
}

#[test]
fn missing_database_is_normal() {
    let c = Copy::of(populated());
    std::fs::remove_file(c.home.join(".global-cache")).unwrap();
    let out = c
        .janitor(&["status", "--json"])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    assert_ok(&out, "status");
    assert_eq!(stderr(&out), "", "no warning for a missing database");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["database"]["state"], "missing");
    assert_eq!(u(&component(&s, "registry-crate")["untracked"]), 5);
    assert!(
        !c.home.join(".global-cache").exists(),
        "status never creates it"
    );
}

#[test]
fn read_only_home_works() {
    let c = Copy::of(populated());
    let normal = status(&c, &[]);
    let script = format!(
        "mount --bind '{h}' '{h}' && mount -o remount,bind,ro '{h}' && exec '{bin}' status --json --cargo-home '{h}'",
        h = c.home.display(),
        bin = env!("CARGO_BIN_EXE_cargo-janitor"),
    );
    let out = command("unshare")
        .args(["-m", "sh", "-c", &script])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    if !out.status.success() && stderr(&out).contains("mount") {
        eprintln!(
            "skipped: cannot make a read-only bind mount here: {}",
            stderr(&out)
        );
        return;
    }
    assert_ok(&out, "status on a read-only home");
    let ro: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ro["database"]["state"], "ok");
    assert_eq!(ro["components"], normal["components"]);
    assert_eq!(ro["total_bytes"], normal["total_bytes"]);
}

#[test]
fn symlinks_are_not_followed_or_counted() {
    let c = Copy::of(populated());
    let reg = only_registry(&c.home);
    let before = status(&c, &["--exact"]);
    let outside = c.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("big"), vec![0u8; 1 << 20]).unwrap();
    std::os::unix::fs::symlink(
        &outside,
        c.home.join("registry/src").join(&reg).join("evil-1.0.0"),
    )
    .unwrap();
    let after = status(&c, &["--exact"]);
    assert_eq!(
        component(&after, "registry-src")["count"],
        component(&before, "registry-src")["count"]
    );
    assert_eq!(after["total_bytes"], before["total_bytes"]);
    assert!(u(&after["total_bytes"]) < 1 << 20);
    assert!(outside.join("big").exists());
}

#[test]
fn legacy_registry_directories_are_dead_weight() {
    let c = Copy::of(populated());
    let legacy = "index.crates.io-6f17d22bba15001f";
    let idx = c
        .home
        .join("registry/index")
        .join(legacy)
        .join(".cache/3/f");
    std::fs::create_dir_all(&idx).unwrap();
    std::fs::write(idx.join("foo"), vec![1u8; 1000]).unwrap();
    let cache = c.home.join("registry/cache").join(legacy);
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("foo-1.0.0.crate"), vec![2u8; 500]).unwrap();
    let s = status(&c, &[]);
    let stale = s["stale_registries"].as_array().unwrap();
    assert_eq!(stale.len(), 1, "{s:#}");
    assert_eq!(stale[0]["name"], legacy);
    assert_eq!(stale[0]["url"], "sparse+https://index.crates.io/");
    assert_eq!(u(&stale[0]["bytes"]), 1500);
    let text = stdout(
        &c.janitor(&["status"])
            .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
            .output()
            .unwrap(),
    );
    assert!(text.contains("Dead weight"), "{text}");
    assert!(text.contains(legacy), "{text}");
}

#[test]
fn a_home_that_does_not_exist_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-home");
    let out = janitor_in(&missing, dir.path(), &["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!missing.exists());
}

#[test]
fn a_directory_that_is_not_a_cargo_home_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = janitor_in(dir.path(), dir.path(), &["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not look like a Cargo home"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cargo_home_comes_from_the_environment_and_cargo_subcommand_form_works() {
    let c = Copy::of(populated());
    let out = command(env!("CARGO_BIN_EXE_cargo-janitor"))
        .args(["janitor", "status", "--json"])
        .current_dir(c.dir.path())
        .env("CARGO_HOME", &c.home)
        .output()
        .unwrap();
    assert_ok(&out, "cargo-janitor janitor status");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["cargo_home"], c.home.display().to_string());
}

#[test]
fn top_lists_the_largest_items_with_du_sizes_a_row_per_git_repo_and_a_next_step() {
    let c = Copy::of(populated());
    let s = status(&c, &["--top", "5"]);
    let top = s["top"].as_array().unwrap();
    assert_eq!(top.len(), 5, "{s:#}");
    let mut last = u64::MAX;
    for i in top {
        let path = Path::new(i["path"].as_str().unwrap());
        // A git repository is its database and its checkouts, in one `du` (a checkout's
        // objects are hard links into the database: counted once).
        let du = if i["kind"] == "git-db" {
            let name = path.file_name().unwrap();
            let mut du = command("du");
            du.args(["-s", "-c", "--block-size=1"]).arg(path);
            for e in std::fs::read_dir(c.home.join("git/checkouts").join(name)).unwrap() {
                du.arg(e.unwrap().path());
            }
            let out = du.output().unwrap();
            assert_ok(&out, "du -c");
            let total = stdout(&out).lines().last().unwrap().to_owned();
            total.split_whitespace().next().unwrap().parse().unwrap()
        } else {
            du_disk(path)
        };
        assert_eq!(u(&i["disk_bytes"]), du, "{i:#}");
        assert!(u(&i["disk_bytes"]) <= last, "largest first: {s:#}");
        last = u(&i["disk_bytes"]);
    }
    // Nothing larger was left out: every source and archive is at most the smallest listed.
    let reg = only_registry(&c.home);
    for dir in ["registry/src", "registry/cache"] {
        for e in std::fs::read_dir(c.home.join(dir).join(&reg)).unwrap() {
            let p = e.unwrap().path();
            let listed = top.iter().any(|i| i["path"] == p.to_str().unwrap());
            assert!(listed || du_disk(&p) <= last, "{} left out", p.display());
        }
    }
    // One row per git repository.
    let repos = s["git_repos"].as_array().unwrap();
    assert_eq!(repos.len(), 1, "{s:#}");
    assert_eq!(u(&repos[0]["checkout_count"]), 1);
    // p1's entries were last used 40 days ago: Cargo's automatic clean would remove them.
    let steps = s["next_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{s:#}");
    assert_eq!(steps[0]["command"], "cargo janitor gc");
    assert_eq!(steps[0]["bytes"], s["auto_clean_reclaimable_bytes"]);
    assert!(u(&steps[0]["bytes"]) > 0);

    let out = c
        .janitor(&["status", "--top", "5"])
        .env("__CARGO_TEST_LAST_USE_NOW", NOW.to_string())
        .output()
        .unwrap();
    assert_ok(&out, "status --top 5");
    let text = stdout(&out);
    assert!(text.contains("\nLargest 5\n"), "{text}");
    assert!(text.contains("\nGit repositories\n"), "{text}");
    assert!(
        text.contains("Next: run `cargo janitor gc` to reclaim "),
        "{text}"
    );
    // Sources as `name version`.
    assert!(
        text.contains("alpha 1.0.0") || text.contains("alpha 2.0.0"),
        "{text}"
    );
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    let c = Copy::of(populated());
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = c.janitor(&["completions", shell]).output().unwrap();
        assert_ok(&out, shell);
        assert!(stdout(&out).contains("sweep"), "{shell}");
        assert_eq!(stderr(&out), "");
    }
    // The bash script loads without error and registers itself.
    let out = c.janitor(&["completions", "bash"]).output().unwrap();
    let script = c.dir.path().join("completion.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let out = command("bash")
        .arg("--norc")
        .arg("-c")
        .arg(format!(
            "set -e; source '{}'; complete -p cargo-janitor",
            script.display()
        ))
        .output()
        .unwrap();
    assert_ok(&out, "bash: source the completions");
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).contains("cargo-janitor"), "{}", stdout(&out));
    let out = c.janitor(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = c.janitor(&["man"]).output().unwrap();
    assert_ok(&out, "man");
    let man = stdout(&out);
    assert!(
        man.starts_with(".ie") && man.contains(".TH cargo-janitor 1"),
        "{man}"
    );
    assert!(man.contains("trim"), "{man}");
}

/// Users type `cargo janitor …`: the bash script completes it (subcommands, their options,
/// option values) as `cargo-janitor …`, and hands every other `cargo …` to the completion
/// `cargo` had before (here a stand-in for rustup's `_cargo`), as it does `cargo-janitor …`.
#[test]
fn bash_completes_cargo_janitor_and_leaves_cargo_to_its_own() {
    let c = Copy::of(populated());
    let out = c.janitor(&["completions", "bash"]).output().unwrap();
    assert_ok(&out, "completions bash");
    let script = c.dir.path().join("completion.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // `t WORD…` completes the last word as bash would, with the function `complete -p`
    // names for the first word, and prints the candidates on one line.
    let program = format!(
        r#"set -e
_cargo() {{ COMPREPLY=(cargo-own); }}
complete -F _cargo cargo
source '{}'
t() {{
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
    COMPREPLY=()
    local f; f=$(complete -p "$1" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
    "$f" "$1" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    echo "${{COMPREPLY[*]}}"
}}
t cargo janitor g
t cargo janitor gc --max-src
t cargo janitor --color always sw
t cargo janitor sweep --rec
t cargo janitor completions p
t cargo bu
t cargo-janitor g
t cargo-janitor schedule in
"#,
        script.display()
    );
    let out = command("bash")
        .args(["--norc", "-c", &program])
        .output()
        .unwrap();
    assert_ok(&out, "bash: complete");
    assert_eq!(stderr(&out), "");
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        [
            "gc",
            "--max-src-age --max-src-size",
            "sweep",
            "--recursive",
            "powershell",
            "cargo-own",
            "gc",
            "install",
        ],
        "{}",
        stdout(&out)
    );
}

/// The fish script completes `cargo janitor …` as `cargo-janitor …` (fish's own `cargo`
/// completion does not complete the arguments of `cargo-*` commands).
#[test]
fn fish_completes_cargo_janitor() {
    if command("fish").arg("--version").output().is_err() {
        eprintln!("skipped: needs fish");
        return;
    }
    let c = Copy::of(populated());
    let out = c.janitor(&["completions", "fish"]).output().unwrap();
    assert_ok(&out, "completions fish");
    let script = c.dir.path().join("cargo-janitor.fish");
    std::fs::write(&script, &out.stdout).unwrap();
    let mut program = format!("source '{}'\n", script.display());
    for line in [
        "cargo janitor g",
        "cargo janitor gc --max-src",
        "cargo janitor schedule in",
        "cargo-janitor tr",
    ] {
        program.push_str(&format!(
            "complete -C '{line}' | string split -f1 \\t | string join ' '\n"
        ));
    }
    // (`string split -f1` ends with status 1 for a line without a tab.)
    program.push_str("true\n");
    let out = command("fish")
        .args(["--no-config", "-c", &program])
        .env("HOME", c.dir.path())
        .env("XDG_CONFIG_HOME", c.dir.path().join("config"))
        .env("XDG_DATA_HOME", c.dir.path().join("data"))
        .output()
        .unwrap();
    assert_ok(&out, "fish: complete");
    assert_eq!(stderr(&out), "");
    assert_eq!(
        stdout(&out).lines().collect::<Vec<_>>(),
        ["gc", "--max-src-age --max-src-size", "install", "trim"],
        "{}",
        stderr(&out)
    );
}
