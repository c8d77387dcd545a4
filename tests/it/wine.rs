//! The Windows build of cargo-janitor, run under Wine, against Cargo homes and target dirs
//! made by the real (Linux) cargo: `status`, `gc`, `sweep` and `trim`, each checked against
//! exact outcomes and, where the Linux binary can do the same, against the Linux binary's run
//! on an identical copy (`cp -a`).
//!
//! They run only when `JANITOR_WINE_EXE` names the `.exe` (see [`wine`]; `.ci/cross` builds
//! it and runs `cargo test --locked --test it wine::` with it set); otherwise each prints that
//! it was skipped and passes. Wine maps `Z:` to `/`, so every path the Windows binary gets is
//! `Z:\…` ([`win_path`]) and every path it prints is mapped back ([`unix_path`]).

use std::collections::{BTreeSet, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

use crate::support::*;
use crate::sweep::{age_times, units};

fn setup(test: &str) -> Option<&'static Wine> {
    let w = wine();
    if w.is_none() {
        eprintln!(
            "skipped: {test} needs JANITOR_WINE_EXE (a Windows build of cargo-janitor, run under Wine)"
        );
    }
    w
}

/// `v` with every Windows path under `Z:` turned back into its Unix path, and then `from`
/// replaced by `to` in every string (so that two copies of a home compare equal).
fn normalize(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::String(s) => Value::String(unix_path(s).replace(from, to)),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalize(x, from, to)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), normalize(x, from, to)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

fn json_of(out: &std::process::Output, what: &str) -> Value {
    assert_ok(out, what);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: bad JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// The allocated bytes of the non-directories at and below `p`, a hard-linked file once:
/// what the Windows build reports as on-disk size under Wine (see the status test).
fn file_blocks(p: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(m) = p.symlink_metadata() else {
        return 0;
    };
    if m.is_dir() {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| file_blocks(&e.unwrap().path(), seen))
            .sum()
    } else if seen.insert((m.dev(), m.ino())) {
        m.blocks() * 512
    } else {
        0
    }
}

/// `v` without its on-disk sizes (every `disk_bytes` and `total_disk_bytes` set to null).
fn without_disk_sizes(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(without_disk_sizes).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    if k.ends_with("disk_bytes") && !x.is_null() {
                        (k.clone(), Value::from("<disk>"))
                    } else {
                        (k.clone(), without_disk_sizes(x))
                    }
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

#[test]
fn status_under_wine_says_what_the_linux_binary_says() {
    let Some(w) = setup("status under Wine") else {
        return;
    };
    let c = Copy::of(populated());
    // A hard link inside one component: both count it once.
    let src = c.home.join("registry/src").join(c.registry_dir());
    std::fs::hard_link(
        src.join("alpha-1.0.0/src/data.txt"),
        src.join("alpha-1.0.0/src/data-link.txt"),
    )
    .unwrap();
    let now = (T40 + 3600).to_string();
    let home = c.home.to_str().unwrap();
    for extra in [&[][..], &["--exact"], &["--top", "5"]] {
        let mut args = vec!["status", "--json"];
        args.extend_from_slice(extra);
        let linux = json_of(
            &c.janitor(&args)
                .env("__CARGO_TEST_LAST_USE_NOW", &now)
                .output()
                .unwrap(),
            "status (Linux)",
        );
        let windows = json_of(
            &w.janitor_in(&c.home, c.dir.path(), &args)
                .env("__CARGO_TEST_LAST_USE_NOW", &now)
                .output()
                .unwrap(),
            "status (Windows, under Wine)",
        );
        let windows = normalize(&windows, home, "<home>");
        let linux = normalize(&linux, home, "<home>");
        // Counts, sizes, last uses, verdicts and next steps: the same. On-disk sizes are
        // present in the same places.
        assert_eq!(
            without_disk_sizes(&windows),
            without_disk_sizes(&linux),
            "status {extra:?}"
        );
        // The on-disk size is what each OS reports as allocated. Wine reports a directory's
        // `AllocationSize` as 0 (as NTFS does for a small directory, whose index lives in its
        // MFT record), so under Wine it is the files' blocks only, each hard-linked file once;
        // on Linux directories' blocks count too (as `du`).
        // A file hard-linked into two components (a git checkout's pack and its database's)
        // counts in the first walked, in this order, on both.
        let files = |rel: &[&str], seen: &mut HashSet<(u64, u64)>| -> u64 {
            rel.iter().map(|r| file_blocks(&c.home.join(r), seen)).sum()
        };
        let all = files(&[""], &mut HashSet::new());
        let mut seen = HashSet::new();
        let mut expected = std::collections::BTreeMap::new();
        for (kind, dir) in [
            ("registry-index", "registry/index"),
            ("registry-crate", "registry/cache"),
            ("registry-src", "registry/src"),
            ("git-db", "git/db"),
            ("git-checkout", "git/checkouts"),
            ("bin", "bin"),
        ] {
            expected.insert(kind, files(&[dir], &mut seen));
        }
        let named: u64 = expected.values().sum();
        expected.insert("other", all - named);
        for comp in windows["components"].as_array().unwrap() {
            let kind = comp["kind"].as_str().unwrap();
            if comp["disk_bytes"].is_null() {
                continue;
            }
            assert_eq!(
                comp["disk_bytes"], expected[kind],
                "{kind}'s disk_bytes under Wine, status {extra:?}"
            );
        }
        if !windows["total_disk_bytes"].is_null() {
            assert_eq!(windows["total_disk_bytes"], all, "status {extra:?}");
        }
        for r in windows["git_repos"].as_array().unwrap() {
            let name = r["name"].as_str().unwrap();
            assert_eq!(
                r["disk_bytes"],
                files(
                    &[&format!("git/db/{name}"), &format!("git/checkouts/{name}")],
                    &mut HashSet::new()
                ),
                "{name}'s disk_bytes under Wine"
            );
        }
        for t in windows["top"].as_array().unwrap() {
            let Some(p) = t["path"].as_str() else {
                continue;
            };
            let rel = p.strip_prefix("<home>/").unwrap();
            // A git repository's row is its database and its checkouts.
            let checkouts = rel.replace("git/db/", "git/checkouts/");
            let rels = if rel.starts_with("git/db/") {
                vec![rel, &checkouts]
            } else {
                vec![rel]
            };
            if !t["disk_bytes"].is_null() {
                assert_eq!(
                    t["disk_bytes"],
                    files(&rels, &mut HashSet::new()),
                    "top item {p} under Wine"
                );
            }
        }
    }
}

/// Relative paths of `gc --json`'s `removed` entries.
fn removed_under(v: &Value, home: &Path) -> Vec<String> {
    let mut p: Vec<String> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let path = unix_path(i["path"].as_str().unwrap());
            Path::new(&path)
                .strip_prefix(home)
                .unwrap_or_else(|_| panic!("{path} is not under {}", home.display()))
                .display()
                .to_string()
        })
        .collect();
    p.sort();
    p
}

#[test]
fn gc_under_wine_removes_what_the_linux_binary_removes() {
    let Some(w) = setup("gc under Wine") else {
        return;
    };
    let cases: &[(u64, &[&str], bool)] = &[
        (T0 + 100 * DAY, &[], false),
        (T40 + 20 * DAY, &["--max-src-age", "50 days"], false),
        (T40 + 20 * DAY, &["--max-download-age", "30 days"], false),
        (T40 + 20 * DAY, &["--max-git-co-age", "4 weeks"], false),
        (T40 + DAY, &["--max-src-size", "4000"], false),
        (T40 + DAY, &["--max-download-size", "8 KiB"], false),
        // Without a database: sizes and last uses come from the walk, on both.
        (T0 + 100 * DAY, &[], true),
    ];
    for &(now, args, no_db) in cases {
        let linux = Copy::of(populated());
        let windows = Copy::of(populated());
        if no_db {
            std::fs::remove_file(linux.home.join(".global-cache")).unwrap();
            std::fs::remove_file(windows.home.join(".global-cache")).unwrap();
        }
        let mut a = vec!["gc", "--json"];
        a.extend_from_slice(args);
        let l = json_of(
            &linux
                .janitor(&a)
                .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
                .output()
                .unwrap(),
            "gc (Linux)",
        );
        let out = w
            .janitor_in(&windows.home, windows.dir.path(), &a)
            .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
            .output()
            .unwrap();
        let v = json_of(&out, "gc (Windows, under Wine)");
        let removed = removed_under(&v, &windows.home);
        assert!(
            !removed.is_empty() || no_db,
            "case {args:?} at {now} removes something: {v:#}"
        );
        assert_eq!(
            removed,
            removed_under(&l, &linux.home),
            "removed by {args:?}"
        );
        assert_eq!(
            normalize(&v, windows.home.to_str().unwrap(), "<home>"),
            normalize(&l, linux.home.to_str().unwrap(), "<home>"),
            "the whole report of {args:?}"
        );
        assert_eq!(
            paths_under(&windows.home),
            paths_under(&linux.home),
            "paths left after {args:?}"
        );
        assert_eq!(
            db_dump(&windows.home),
            db_dump(&linux.home),
            "rows left after {args:?}"
        );
        // The Linux cargo builds offline from what the Windows binary left exactly when it
        // does from what the Linux binary left.
        for p in ["p1", "p2"] {
            let ok = |c: &Copy| {
                c.cargo(p, &["build", "--offline"])
                    .output()
                    .unwrap()
                    .status
                    .success()
            };
            assert_eq!(
                ok(&windows),
                ok(&linux),
                "cargo build --offline of {p} after {args:?}"
            );
        }
    }
}

fn write_deps(project: &Path, deps: &str) {
    let name = project.file_name().unwrap().to_string_lossy();
    std::fs::write(
        project.join("Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}\n"),
    )
    .unwrap();
}

fn build(env: &Env, dir: &Path) -> String {
    let out = env.cargo(dir, &["build", "-v"]).output().unwrap();
    assert_ok(&out, "cargo build");
    stderr(&out)
}

/// The 16 hex digits of a unit name `<pkg>-<hash>`.
fn hash_of(unit: &str) -> &str {
    unit.rsplit('-').next().unwrap()
}

#[test]
fn sweep_under_wine_removes_the_stale_generation_and_cargo_stays_fresh() {
    let Some(w) = setup("sweep under Wine") else {
        return;
    };
    let env = Env::new();
    let app = env.project("app", "");
    write_deps(
        &app,
        "alpha = \"=1.0.0\"\nbeta = \"=0.1.0\"\ngamma = \"0.1\"",
    );
    build(&env, &app);
    let old = units(&app.join("target"));
    write_deps(&app, "alpha = \"2\"\nbeta = \"0.2\"\ngamma = \"0.1\"");
    build(&env, &app);
    let target = app.join("target");
    let all = units(&target);
    // The current generation: what the last build used (gamma's units are in both).
    let fresh = env.path("fresh-target");
    let out = env
        .cargo(&app, &["build"])
        .env("CARGO_TARGET_DIR", &fresh)
        .output()
        .unwrap();
    assert_ok(&out, "fresh build");
    let current = units(&fresh);
    std::fs::remove_dir_all(&fresh).unwrap();
    let stale: BTreeSet<String> = all.difference(&current).cloned().collect();
    assert!(
        !stale.is_empty() && stale.is_subset(&old),
        "{all:?} {current:?}"
    );
    age_times(&target, 60);
    // Aging the dep-info files makes the workspace member's sources newer than its last
    // build: one build rebuilds it (and only it), as after any edit.
    build(&env, &app);
    let sweep = |args: &[&str]| {
        let mut a = vec!["sweep", "--json"];
        a.extend_from_slice(args);
        let t = win_path(&target);
        a.push(&t);
        json_of(
            &w.janitor_in(&env.home, &app, &a).output().unwrap(),
            "sweep (Windows, under Wine)",
        )
    };

    // Windows keeps no trustworthy access times (NTFS updates them only when configured to,
    // and to the hour), so the Windows binary reads none: its signal is `none`, as on a
    // `noatime` mount, and `--max-age` removes nothing without a record of use, though the
    // Linux binary would go by the atimes set above.
    let v = sweep(&["--max-age", "30days"]);
    assert_eq!(v["dirs"][0]["signal"], "none", "{v:#}");
    assert_eq!(v["dirs"][0]["removed_units"], 0, "{v:#}");
    assert_eq!(units(&target), all);

    // A record of use (as `sweep --used-by` writes it): the old generation last reported 60
    // days ago, the current one now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut rec = serde_json::Map::new();
    for u in &all {
        let t = if current.contains(u) {
            now
        } else {
            now - 60 * DAY
        };
        rec.insert(hash_of(u).to_owned(), t.into());
    }
    std::fs::write(
        target.join(".janitor-use.json"),
        serde_json::json!({"format": "cargo-janitor use record", "version": 1, "units": rec})
            .to_string(),
    )
    .unwrap();
    let dry = sweep(&["--max-age", "30days", "--dry-run"]);
    assert_eq!(units(&target), all, "a dry run removes nothing");
    let v = sweep(&["--max-age", "30days"]);
    assert_eq!(v["dirs"][0]["signal"], "record", "{v:#}");
    assert_eq!(dry["dirs"][0]["removed"], v["dirs"][0]["removed"]);
    assert_eq!(v["dirs"][0]["removed_units"], stale.len(), "{v:#}");
    assert_eq!(
        units(&target),
        current,
        "exactly the current generation is left"
    );
    // No file of the stale units is left in deps/.
    for e in std::fs::read_dir(target.join("debug/deps")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        for s in &stale {
            assert!(!n.contains(hash_of(s)), "stale artifact {n}");
        }
    }
    let out = env
        .cargo(&app, &["build", "--offline", "-v"])
        .output()
        .unwrap();
    assert_ok(&out, "cargo build --offline after the Windows sweep");
    let err = stderr(&out);
    assert!(!err.contains("Compiling"), "nothing rebuilt:\n{err}");
    assert!(err.contains("Fresh alpha"), "{err}");
}

fn crates(home: &Path) -> Vec<String> {
    let mut v = dirs_or_files(&home.join("registry/cache").join(only_registry(home)));
    v.sort();
    v
}

fn dirs_or_files(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn trim_under_wine_keeps_what_the_lockfile_pins() {
    let Some(w) = setup("trim under Wine") else {
        return;
    };
    let mut env = Env::new();
    let git = env.git_repo("gitdep");
    let app = env.project("app", "");
    let with_git = |deps: &str| format!("{deps}\ngitdep = {{ git = \"{}\" }}", git.url());
    write_deps(
        &app,
        &with_git("alpha = \"=1.0.0\"\nbeta = \"=0.1.0\"\ngamma = \"0.1\"\ndelta = \"1\""),
    );
    build(&env, &app);
    let new_rev = git.commit("second");
    write_deps(
        &app,
        &with_git("alpha = \"2\"\nbeta = \"0.2\"\ngamma = \"0.1\""),
    );
    assert_ok(
        &env.cargo(&app, &["update", "-p", "gitdep"])
            .output()
            .unwrap(),
        "cargo update",
    );
    build(&env, &app);
    assert!(
        std::fs::read_to_string(app.join("Cargo.lock"))
            .unwrap()
            .contains(&new_rev)
    );

    // The same on an identical copy, with the Linux binary.
    let copy = tempfile::Builder::new()
        .prefix("janitor-copy")
        .tempdir()
        .unwrap();
    assert_ok(
        &command("cp")
            .arg("-a")
            .arg(env.dir.path().join("."))
            .arg(copy.path())
            .output()
            .unwrap(),
        "cp -a",
    );
    let linux_home = copy.path().join("cargo-home");
    let linux_app = copy.path().join("app");

    // (The grace period is off: everything here was used seconds ago.) Under Wine `rustc -vV`
    // cannot run (there is no Windows rustc), so the Windows binary cannot tell which units
    // the current toolchain built: it must then keep every pinned dependency's unit.
    let args = |lock: String, target: String| {
        vec![
            "trim".to_owned(),
            "--yes".to_owned(),
            "--json".to_owned(),
            "--grace".to_owned(),
            "0 seconds".to_owned(),
            "--lockfile".to_owned(),
            lock,
            "--target-dir".to_owned(),
            target,
        ]
    };
    let wa = args(
        win_path(&app.join("Cargo.lock")),
        win_path(&app.join("target")),
    );
    let wa: Vec<&str> = wa.iter().map(String::as_str).collect();
    let out = w.janitor_in(&env.home, &app, &wa).output().unwrap();
    let v = json_of(&out, "trim (Windows, under Wine)");
    let la = args(
        linux_app.join("Cargo.lock").display().to_string(),
        linux_app.join("target").display().to_string(),
    );
    let la: Vec<&str> = la.iter().map(String::as_str).collect();
    let l = json_of(
        &janitor_in(&linux_home, &linux_app, &la).output().unwrap(),
        "trim (Linux)",
    );
    assert_eq!(
        crates(&env.home),
        ["alpha-2.0.0.crate", "beta-0.2.0.crate", "gamma-0.1.0.crate"],
        "only the pinned .crate files: {v:#}"
    );
    let src = dirs_in(&env.home.join("registry/src").join(only_registry(&env.home)));
    assert_eq!(src, ["alpha-2.0.0", "beta-0.2.0", "gamma-0.1.0"], "{v:#}");
    let db = dirs_in(&env.home.join("git/db"));
    assert_eq!(db.len(), 1);
    let co = dirs_in(&env.home.join("git/checkouts").join(&db[0]));
    assert_eq!(co.len(), 1);
    assert!(new_rev.starts_with(&co[0]), "{co:?} {new_rev}");
    assert_eq!(paths_under(&env.home), paths_under(&linux_home));
    assert_eq!(db_dump(&env.home), db_dump(&linux_home));
    assert_eq!(
        normalize(&v["parts"][0], env.dir.path().to_str().unwrap(), "<dir>"),
        normalize(&l["parts"][0], copy.path().to_str().unwrap(), "<dir>"),
    );
    // The Linux cargo builds offline from what is left.
    env.registry.stop();
    let out = env
        .cargo(&app, &["build", "--locked", "--offline", "-v"])
        .output()
        .unwrap();
    assert_ok(
        &out,
        "cargo build --locked --offline after the Windows trim",
    );
    let err = stderr(&out);
    for dep in ["alpha", "beta", "gamma", "gitdep"] {
        assert!(
            err.contains(&format!("Fresh {dep} ")),
            "{dep} not fresh after the Windows trim:\n{err}\n{v:#}"
        );
    }
}
