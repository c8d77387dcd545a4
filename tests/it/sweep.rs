//! `cargo janitor sweep` on target dirs built by the real cargo (stable, and nightly with the
//! new build-dir layout when it is installed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::*;

/// Units of a target dir: legacy `.fingerprint/<pkg>-<hash>` and new `build/<pkg>/<hash>`.
fn units(target: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let debug = target.join("debug");
    for n in dirs_in(&debug.join(".fingerprint")) {
        out.insert(n);
    }
    for pkg in dirs_in(&debug.join("build")) {
        for h in dirs_in(&debug.join("build").join(&pkg)) {
            if debug
                .join("build")
                .join(&pkg)
                .join(&h)
                .join("fingerprint")
                .is_dir()
            {
                out.insert(format!("{pkg}-{h}"));
            }
        }
    }
    out
}

/// Sets the atime of every file below `dir` to `days` ago (mtime untouched).
fn age_atimes(dir: &Path, days: u64) {
    let when = SystemTime::now() - Duration::from_secs(days * DAY);
    fn go(p: &Path, when: SystemTime) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                go(&e.path(), when);
            } else if ft.is_file() {
                let f = std::fs::File::options().write(true).open(e.path()).unwrap();
                f.set_times(std::fs::FileTimes::new().set_accessed(when))
                    .unwrap();
            }
        }
    }
    go(dir, when);
}

fn write_deps(project: &Path, deps: &str) {
    let name = project.file_name().unwrap().to_string_lossy();
    std::fs::write(
        project.join("Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}\n"),
    )
    .unwrap();
}

fn cargo_ok(env: &Env, dir: &Path, toolchain: &[&str], args: &[&str]) -> String {
    let mut all: Vec<&str> = toolchain.to_vec();
    all.extend_from_slice(args);
    let out = env.cargo(dir, &all).output().unwrap();
    assert_ok(&out, &format!("cargo {all:?}"));
    stderr(&out)
}

/// Builds `app` with old dependencies, then with new ones, and returns the units a fresh
/// build of the new generation has (built separately in another target dir).
fn two_generations(env: &Env, toolchain: &[&str], zflags: &[&str]) -> (PathBuf, BTreeSet<String>) {
    let app = env.project("app", "");
    let build: Vec<&str> = zflags.iter().copied().chain(["build"]).collect();
    write_deps(
        &app,
        "alpha = \"=1.0.0\"\nbeta = \"=0.1.0\"\ngamma = \"0.1\"",
    );
    cargo_ok(env, &app, toolchain, &build);
    write_deps(&app, "alpha = \"2\"\nbeta = \"0.2\"\ngamma = \"0.1\"");
    cargo_ok(env, &app, toolchain, &build);
    let target = app.join("target");
    let fresh = env.path("fresh-target");
    let mut all: Vec<&str> = toolchain.to_vec();
    all.extend_from_slice(&build);
    let out = env
        .cargo(&app, &all)
        .env("CARGO_TARGET_DIR", &fresh)
        .output()
        .unwrap();
    assert_ok(&out, "fresh build");
    let current = units(&fresh);
    std::fs::remove_dir_all(&fresh).unwrap();
    assert!(units(&target).len() > current.len(), "two generations");
    (target, current)
}

fn sweep_json(env: &Env, args: &[&str]) -> Value {
    let mut a = vec!["sweep", "--json"];
    a.extend_from_slice(args);
    json(&mut env.janitor(&a))
}

fn max_age_removes_exactly_the_old_generation(toolchain: &[&str], zflags: &[&str]) {
    let env = Env::new();
    let (target, current) = two_generations(&env, toolchain, zflags);
    age_atimes(&target, 60);
    let build: Vec<&str> = zflags.iter().copied().chain(["build"]).collect();
    let app = env.path("app");
    cargo_ok(&env, &app, toolchain, &build);

    let before = units(&target);
    let dry = sweep_json(
        &env,
        &["--max-age", "30days", "--dry-run", target.to_str().unwrap()],
    );
    assert_eq!(units(&target), before, "a dry run removes nothing");
    let v = sweep_json(&env, &["--max-age", "30days", target.to_str().unwrap()]);
    assert_eq!(
        dry["dirs"][0]["removed"], v["dirs"][0]["removed"],
        "the dry run lists what the run removes"
    );
    assert_eq!(
        units(&target),
        current,
        "exactly the current generation is left"
    );
    let removed = v["dirs"][0]["removed_units"].as_u64().unwrap() as usize;
    assert_eq!(removed, before.len() - current.len());
    // Nothing of the old dependency versions is left in deps/ either.
    for e in std::fs::read_dir(target.join("debug/deps"))
        .into_iter()
        .flatten()
    {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(h) = n.split(['-', '.']).find(|p| p.len() == 16) {
            assert!(current.iter().any(|u| u.ends_with(h)), "stale artifact {n}");
        }
    }
    let mut args: Vec<&str> = toolchain.to_vec();
    args.extend_from_slice(zflags);
    args.extend(["build", "--offline", "-v"]);
    let err = cargo_ok(&env, &app, &[], &args);
    assert!(!err.contains("Compiling"), "nothing rebuilt:\n{err}");
    assert!(err.contains("Fresh"), "{err}");
}

#[test]
fn max_age_keeps_every_current_unit_and_nothing_rebuilds() {
    max_age_removes_exactly_the_old_generation(&[], &[]);
}

#[test]
fn max_age_on_nightlys_new_build_dir_layout() {
    if !nightly() {
        eprintln!("skipped: the new build-dir layout needs a nightly toolchain");
        return;
    }
    max_age_removes_exactly_the_old_generation(&["+nightly"], &["-Zbuild-dir-new-layout"]);
}

#[test]
fn toolchains_removes_only_the_named_or_uninstalled_ones() {
    if !nightly() {
        eprintln!("skipped: two toolchains' artifacts need a nightly toolchain");
        return;
    }
    let env = Env::new();
    let app = env.project("app", "alpha = \"2\"\ngamma = \"0.1\"");
    cargo_ok(&env, &app, &[], &["build"]);
    let stable_units = units(&app.join("target"));
    cargo_ok(&env, &app, &["+nightly"], &["build"]);
    let target = app.join("target");
    assert!(units(&target).len() > stable_units.len());

    // Both toolchains are installed: nothing is "uninstalled".
    let v = sweep_json(&env, &["--toolchains", target.to_str().unwrap()]);
    assert_eq!(v["dirs"][0]["removed_units"], 0);
    let v = sweep_json(&env, &["--toolchains=nightly", target.to_str().unwrap()]);
    assert!(v["dirs"][0]["removed_units"].as_u64().unwrap() > 0);
    assert_eq!(units(&target), stable_units, "only nightly's units went");
    let err = cargo_ok(&env, &app, &[], &["build", "--offline", "-v"]);
    assert!(
        !err.contains("Compiling"),
        "stable's units are intact:\n{err}"
    );

    let out = env
        .janitor(&[
            "sweep",
            "--toolchains=no-such-toolchain",
            target.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no-such-toolchain"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reported_sizes_equal_du_and_what_the_disk_gets_back() {
    let env = Env::new();
    let (target, _) = two_generations(&env, &[], &[]);
    let v = sweep_json(&env, &[target.to_str().unwrap()]);
    assert_eq!(v["dry_run"], true, "no criteria: a report only");
    assert_eq!(
        v["dirs"][0]["disk_bytes"].as_u64().unwrap(),
        du_disk(&target)
    );
    assert_eq!(v["dirs"][0]["bytes"].as_u64().unwrap(), file_bytes(&target));
    assert_eq!(v["dirs"][0]["removed_units"], 0);

    age_atimes(&target, 60);
    cargo_ok(&env, &env.path("app"), &[], &["build"]);
    let before = du_disk(&target);
    let v = sweep_json(
        &env,
        &[
            "--max-age",
            "30days",
            "--incremental",
            target.to_str().unwrap(),
        ],
    );
    let after = du_disk(&target);
    let reclaimed = v["dirs"][0]["reclaimed_bytes"].as_u64().unwrap();
    assert!(reclaimed > 0);
    // The trash directory itself (one empty dir) is gone again afterwards.
    assert!(!target.join(".janitor-trash").exists());
    assert_eq!(reclaimed, before - after);
    // The incremental cache the last build used is recent: kept with --max-age.
    assert!(!dirs_in(&target.join("debug/incremental")).is_empty());
    // Without --max-age, --incremental removes it all.
    let v = sweep_json(&env, &["--incremental", target.to_str().unwrap()]);
    assert!(v["dirs"][0]["reclaimed_bytes"].as_u64().unwrap() > 0);
    assert!(dirs_in(&target.join("debug/incremental")).is_empty());
    assert_eq!(v["dirs"][0]["removed"][0]["kind"], "incremental");
}

#[test]
fn waits_for_a_running_build_or_skips_it() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    assert!(!dirs_in(&target.join("debug/incremental")).is_empty());
    let (build, hold) = held_build(&c, "p1");
    let mut build = Guard(build);
    let out = c
        .janitor(&[
            "sweep",
            "--incremental",
            "--no-wait",
            target.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipping"), "{}", stderr(&out));
    assert!(!dirs_in(&target.join("debug/incremental")).is_empty());

    let mut waiting = c
        .janitor(&["sweep", "--incremental", target.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "sweep waits for the build"
    );
    std::fs::remove_file(&hold).unwrap();
    assert!(
        build.wait().success(),
        "the build sweep waited for succeeds"
    );
    let out = waiting.wait_with_output().unwrap();
    assert_ok(&out, "sweep after the build");
    let err = stderr(&out);
    assert!(
        err.contains("Blocking waiting for file lock on build directory"),
        "{err}"
    );
    assert!(err.contains("pid"), "names the holder: {err}");
}

#[test]
fn discovery_and_bad_input() {
    let c = Copy::of(populated());
    let root = c.dir.path();
    // A hidden copy and a look-alike without Cargo's markers are not found; a symlink is not
    // followed.
    let out = command("cp")
        .arg("-a")
        .arg(root.join("p2/target"))
        .arg(root.join(".hidden-target"))
        .output()
        .unwrap();
    assert_ok(&out, "cp");
    std::fs::create_dir_all(root.join("fake/target")).unwrap();
    std::fs::write(
        root.join("fake/target/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(root.join("p1"), root.join("link-to-p1")).unwrap();
    let v = json(&mut c.janitor(&["sweep", "--json", "--recursive", root.to_str().unwrap()]));
    let found: Vec<String> = v["dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        found,
        [
            root.join("p1/target").display().to_string(),
            root.join("p2/target").display().to_string()
        ]
    );
    let v = json(&mut c.janitor(&[
        "sweep",
        "--json",
        "--recursive",
        "--hidden",
        root.to_str().unwrap(),
    ]));
    assert_eq!(v["dirs"].as_array().unwrap().len(), 3);

    for args in [
        &["sweep", root.join("fake/target").to_str().unwrap()][..],
        &["sweep", "--all", root.join("p1/target").to_str().unwrap()],
        &[
            "sweep",
            "--max-age",
            "1 year",
            root.join("p1/target").to_str().unwrap(),
        ],
        &["sweep", root.join("nope").to_str().unwrap()],
    ] {
        let out = c.janitor(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn all_empties_whole_unused_target_dirs_but_keeps_lock_files() {
    let c = Copy::of(populated());
    let t1 = c.dir.path().join("p1/target");
    let t2 = c.dir.path().join("p2/target");
    age_atimes(&t1, 60);
    let v = json(&mut c.janitor(&[
        "sweep",
        "--json",
        "--all",
        "--max-age",
        "30days",
        t1.to_str().unwrap(),
        t2.to_str().unwrap(),
    ]));
    assert_eq!(v["dirs"][0]["removed"][0]["kind"], "target-dir");
    assert_eq!(
        v["dirs"][1]["removed_units"], 0,
        "p2's target was used recently"
    );
    assert!(
        t1.join("debug/.cargo-lock").exists(),
        "lock files are never deleted"
    );
    assert!(!t1.join("debug/deps").exists());
    assert!(!t1.join("debug/.fingerprint").exists());
    assert!(t2.join("debug/deps").exists());
    let out = c.cargo("p1", &["build", "--offline"]).output().unwrap();
    assert_ok(&out, "cargo rebuilds an emptied target dir");
}
