//! `cargo janitor sweep` on target dirs built by the real cargo (stable, and nightly with the
//! new build-dir layout when it is installed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::*;

/// Units of a target dir: legacy `.fingerprint/<pkg>-<hash>` and new `build/<pkg>/<hash>`.
pub fn units(target: &Path) -> BTreeSet<String> {
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

/// Sets the access and modification times of everything below `dir`, files and directories,
/// to `days` ago: a target dir neither used nor built for that long.
pub fn age_times(dir: &Path, days: u64) {
    let when = SystemTime::now() - Duration::from_secs(days * DAY);
    let times = std::fs::FileTimes::new()
        .set_accessed(when)
        .set_modified(when);
    fn go(p: &Path, times: std::fs::FileTimes) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                go(&e.path(), times);
            }
            if ft.is_dir() || ft.is_file() {
                // Contents first: setting them changes no directory's times.
                std::fs::File::open(e.path())
                    .unwrap()
                    .set_times(times)
                    .unwrap();
            }
        }
    }
    go(dir, times);
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
    age_times(&target, 60);
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
    // Both builds are seconds old: this is about toolchains, not age.
    let v = sweep_json(
        &env,
        &[
            "--toolchains=nightly",
            "--grace",
            "0 seconds",
            target.to_str().unwrap(),
        ],
    );
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

    age_times(&target, 60);
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
    // Without --max-age, --incremental removes it all, however recent (the grace period, which
    // keeps the session the build just wrote, is off here).
    let v = sweep_json(
        &env,
        &[
            "--incremental",
            "--grace",
            "0 seconds",
            target.to_str().unwrap(),
        ],
    );
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
    // The incremental caches were made when the test home was: this is about locks, not age.
    let out = c
        .janitor(&[
            "sweep",
            "--incremental",
            "--grace",
            "0 seconds",
            "--no-wait",
            target.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipping"), "{}", stderr(&out));
    assert!(!dirs_in(&target.join("debug/incremental")).is_empty());

    let mut waiting = c
        .janitor(&[
            "sweep",
            "--incremental",
            "--grace",
            "0 seconds",
            target.to_str().unwrap(),
        ])
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
    // The holder line `locks` prints (issue #10). Which job it names depends on when sweep
    // looked: the build script `gamma` that holds the build, or (on a busy machine) a crate
    // still compiling beside it.
    assert!(
        err.contains("cargo build --offline` (building: running build script `gamma` for ")
            || err.contains("cargo build --offline` (building: compiling `"),
        "{err}"
    );
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
    age_times(&t1, 60);
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

/// The host triple, from `rustc -vV`.
fn host_triple() -> String {
    let out = command("rustc").arg("-vV").output().unwrap();
    assert_ok(&out, "rustc -vV");
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_owned()
}

fn all_keeps_a_nested_build_made_seconds_ago(toolchain: &[&str], zflags: &[&str]) {
    // Issue #9: cargo-miri builds into `target/miri/<host>/debug`, a nested target dir with a
    // cross profile. Its units were not recognised, so `--all --max-age` saw only the old
    // units of `target/debug` and emptied the whole target dir, the build of seconds ago too.
    let env = Env::new();
    let app = env.project("app", "alpha = \"2\"");
    let with = |args: &[&str]| -> Vec<String> {
        toolchain
            .iter()
            .chain(zflags)
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let build = |args: &[&str]| {
        let a = with(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        cargo_ok(&env, &app, &[], &a)
    };
    build(&["build"]);
    let target = app.join("target");
    age_times(&target, 60);
    let host = host_triple();
    let nested = ["build", "--target", &host, "--target-dir", "target/miri"];
    build(&nested);
    let profile = target.join("miri").join(&host).join("debug");
    assert!(profile.join(".cargo-lock").exists());
    let nested_units = |p: &Path| -> BTreeSet<String> {
        let mut u: BTreeSet<String> = dirs_in(&p.join(".fingerprint")).into_iter().collect();
        for pkg in dirs_in(&p.join("build")) {
            for h in dirs_in(&p.join("build").join(&pkg)) {
                if p.join("build")
                    .join(&pkg)
                    .join(&h)
                    .join("fingerprint")
                    .is_dir()
                {
                    u.insert(format!("{pkg}-{h}"));
                }
            }
        }
        u
    };
    let before = nested_units(&profile);
    assert!(before.len() >= 2, "{before:?}");

    // Kept by default, and with the grace period off: by its units' last use alone.
    for grace in [&[][..], &["--grace", "0 seconds"]] {
        let mut args = vec!["--all", "--max-age", "30days"];
        args.extend_from_slice(grace);
        args.push(target.to_str().unwrap());
        let v = sweep_json(&env, &args);
        let kinds: Vec<&str> = v["dirs"][0]["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert!(!kinds.contains(&"target-dir"), "{grace:?}: {v:#}");
        assert_eq!(nested_units(&profile), before, "{grace:?}");
        // Its units are counted with the others'.
        assert!(
            v["dirs"][0]["units"].as_u64().unwrap() as usize >= before.len(),
            "{v:#}"
        );
    }
    // The nested build is whole: nothing rebuilds.
    let mut args = with(&nested);
    args.extend(["--offline", "-v"].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = cargo_ok(&env, &app, &[], &a);
    assert!(!err.contains("Compiling"), "nothing rebuilt:\n{err}");
    assert!(err.contains("Fresh alpha"), "{err}");
}

#[test]
fn all_keeps_a_nested_target_dir_built_seconds_ago() {
    all_keeps_a_nested_build_made_seconds_ago(&[], &[]);
}

#[test]
fn all_keeps_a_nested_target_dir_built_seconds_ago_in_the_new_layout() {
    if !nightly() {
        eprintln!("skipped: the new build-dir layout needs a nightly toolchain");
        return;
    }
    all_keeps_a_nested_build_made_seconds_ago(&["+nightly"], &["-Zbuild-dir-new-layout"]);
}

/// A `RUSTC_WRAPPER` that, for each compilation (not cargo's `--crate-name ___` queries),
/// touches `$JANITOR_TEST_HOLD.started` and waits while `$JANITOR_TEST_HOLD` exists (at most
/// 120 s): a build paused after it has created and locked its profile dir, before it has
/// written anything of its units there.
const HOLD_RUSTC: &str = r#"#!/bin/sh
case " $* " in
  *" --crate-name ___ "*) ;;
  *" --crate-name "*)
    if [ -n "$JANITOR_TEST_HOLD" ]; then
      : > "$JANITOR_TEST_HOLD.started"
      n=0
      while [ -e "$JANITOR_TEST_HOLD" ] && [ $n -lt 6000 ]; do sleep 0.02; n=$((n+1)); done
    fi ;;
esac
exec "$@"
"#;

fn a_profile_created_while_sweeping(extra: &[&str]) {
    // Issue #9: `sweep --all` locked the profile dirs of its first scan, scanned again, and
    // emptied a profile dir created in between (a first `cargo build --release`) without its
    // lock, breaking that build. The window is opened wide and deterministically here: the
    // debug profile's lock is held, so sweep scans, then waits; meanwhile the first release
    // build creates and locks `target/release`, and pauses before its first compilation
    // (a rustc wrapper waits); then sweep goes on.
    let env = Env::new();
    let app = env.project("app", "alpha = \"2\"");
    let wrapper = env.path("hold-rustc");
    std::fs::write(&wrapper, HOLD_RUSTC).unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let hold = env.path("hold-release");
    let cargo = |args: &[&str]| {
        let mut c = env.cargo(&app, args);
        c.env("RUSTC_WRAPPER", &wrapper)
            .env("JANITOR_TEST_HOLD", &hold);
        c
    };
    assert_ok(&cargo(&["build"]).output().unwrap(), "debug build");
    let target = app.join("target");
    age_times(&target, 60);
    let debug_lock = hold_with_flock(&target.join("debug/.cargo-lock"), "-x");
    let log = env.path("sweep.stderr");
    let json_out = env.path("sweep.json");
    let mut args = vec!["sweep", "--json", "--all", "--max-age", "0 days"];
    args.extend_from_slice(extra);
    args.push(target.to_str().unwrap());
    let mut sweep = Guard(
        env.janitor(&args)
            .stdout(std::fs::File::create(&json_out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    eventually(60, "sweep to wait for the debug profile's lock", || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|e| e.contains("Blocking waiting for file lock on build directory"))
    });
    assert!(!target.join("release").exists());

    let started = env.path("hold-release.started");
    let _ = std::fs::remove_file(&started); // from the debug build, which did not wait
    std::fs::write(&hold, "").unwrap();
    let release_log = env.path("release.stderr");
    let mut release = Guard(
        cargo(&["build", "--release"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&release_log).unwrap())
            .spawn()
            .unwrap(),
    );
    eventually(120, "the release build's first compilation", || {
        started.exists().then_some(())
    });
    assert!(target.join("release/.cargo-lock").exists());
    drop(debug_lock);

    let status = sweep.wait();
    let sweep_err = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "sweep: {sweep_err}");

    // The release build, never touched, finishes and is whole.
    std::fs::remove_file(&hold).unwrap();
    assert!(
        release.wait().success(),
        "the first release build, run while sweeping:\n{}",
        std::fs::read_to_string(&release_log).unwrap()
    );
    let again = cargo(&["build", "--release", "--offline", "-v"])
        .output()
        .unwrap();
    assert_ok(&again, "release build again");
    let err = stderr(&again);
    assert!(!err.contains("Compiling"), "nothing rebuilt:\n{err}");
    assert!(err.contains("Fresh alpha"), "{err}");

    // The report names what was left alone, and nothing was emptied as a whole.
    let v: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
    assert_eq!(
        v["dirs"][0]["busy_profiles"],
        serde_json::json!([target.join("release")]),
        "{v:#}\n{sweep_err}"
    );
    assert!(sweep_err.contains("leaving"), "{sweep_err}");
    let kinds: Vec<&str> = v["dirs"][0]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(!kinds.contains(&"target-dir"), "{v:#}");
    // The debug profile, held, lost its old units (`--max-age "0 days"`), and still builds.
    assert!(!kinds.is_empty(), "{v:#}");
    assert_ok(&cargo(&["build", "--offline"]).output().unwrap(), "debug");
}

#[test]
fn a_profile_created_while_sweeping_is_never_touched_without_its_lock() {
    // Protected by the lock alone (the grace period off), and with the default grace period.
    a_profile_created_while_sweeping(&["--grace", "0 seconds"]);
    a_profile_created_while_sweeping(&[]);
}

/// Paths shown relative are clean: `.` components and trailing slashes in a PATH never reach
/// the output (human or JSON), `..` is kept as typed (never resolved through a symlink), and a
/// symlinked target dir spelled with a trailing slash is refused like the symlink itself.
#[test]
fn paths_given_with_dots_and_slashes_are_shown_clean() {
    let c = Copy::of(populated());
    let root = c.dir.path();
    let p1 = root.join("p1");
    let table = |dir: &Path, args: &[&str]| {
        let out = c.janitor(args).current_dir(dir).output().unwrap();
        assert_ok(&out, &args.join(" "));
        stdout(&out)
            .lines()
            .skip(1)
            // (Not a wrapped line's continuation.)
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .filter(|w| w != "total" && !w.starts_with('('))
            .collect::<Vec<_>>()
    };
    for args in [
        &["sweep", "-r", "."][..],
        &["sweep", "-r", "./"],
        &["sweep", "-r", "./."],
    ] {
        assert_eq!(table(root, args), ["p1/target", "p2/target"], "{args:?}");
    }
    // `..` stays as typed (`p1` could be a symlink).
    assert_eq!(
        table(root, &["sweep", "-r", "./p1/./../"]),
        ["p1/../p1/target", "p1/../p2/target"]
    );
    for args in [&["sweep", "-r", "../."][..], &["sweep", "-r", ".././/"]] {
        assert_eq!(
            table(&p1, args),
            ["../p1/target", "../p2/target"],
            "{args:?}"
        );
    }
    for args in [
        &["sweep", "./target/"][..],
        &["sweep", "target/."],
        &["sweep", "./target//."],
    ] {
        assert_eq!(table(&p1, args), ["target"], "{args:?}");
    }
    // JSON: absolute and clean too.
    let v = json(
        c.janitor(&["sweep", "--json", "-r", "./."])
            .current_dir(root),
    );
    let paths: Vec<&str> = (v["dirs"].as_array().unwrap().iter())
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            root.join("p1/target").to_str().unwrap(),
            root.join("p2/target").to_str().unwrap()
        ]
    );
    // `trim --target-dir`, `locks` and `wait` name the directory as cleaned.
    let out = (c.janitor(&[
        "trim",
        "-n",
        "--grace",
        "0 seconds",
        "--target-dir",
        "./target/.",
    ]))
    .current_dir(&p1)
    .output()
    .unwrap();
    assert_ok(&out, "trim");
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("target target ")),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("/."), "{}", stdout(&out));
    for args in [
        &["locks", "./target/."][..],
        &["wait", "--timeout", "1s", "./target/."],
    ] {
        let out = c.janitor(args).current_dir(&p1).output().unwrap();
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains("/./") && !all.contains("/.`"),
            "{args:?}: {all}"
        );
    }
    // A symlink to a target dir, with a trailing slash (which would follow it): refused.
    std::os::unix::fs::symlink(p1.join("target"), root.join("link")).unwrap();
    for given in ["link/", "./link/."] {
        let out = c
            .janitor(&["sweep", given])
            .current_dir(root)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{given}: {}", stderr(&out));
        assert!(stderr(&out).contains("is a symlink"), "{}", stderr(&out));
    }
}

/// Units are named by package, version (registry packages only: a path or git package's
/// `Cargo.toml` now may not be what was built), profile and what they build, in JSON and in
/// the human listing; a short hash only where two units would read the same (`cargo check`
/// and `cargo build` of one library).
#[test]
fn units_are_named_by_package_version_profile_and_target() {
    let c = Copy::of(populated());
    let p1 = c.dir.path().join("p1");
    let out = c.cargo("p1", &["check", "--offline"]).output().unwrap();
    assert_ok(&out, "cargo check");
    age_times(&p1.join("target"), 10);
    let v = json(
        c.janitor(&["sweep", "--json", "-n", "--max-age", "1 day"])
            .current_dir(&p1),
    );
    let removed = v["dirs"][0]["removed"].as_array().unwrap();
    let debug = p1.join("target/debug").display().to_string();
    let mut seen = BTreeSet::new();
    for r in removed {
        assert_eq!(r["profile"], debug.as_str(), "{r:#}");
        let (pkg, target) = (
            r["package"].as_str().unwrap(),
            r["target"].as_str().unwrap(),
        );
        let version = match pkg {
            "alpha" => Some("1.0.0"),
            "beta" | "gamma" => Some("0.1.0"),
            _ => None,
        };
        assert_eq!(r["version"].as_str(), version, "{r:#}");
        seen.insert(format!("{pkg} {target}"));
    }
    for want in [
        "alpha lib-alpha",
        "gamma build-script-build-script-build",
        "gamma run-build-script-build-script-build",
        "gitdep lib-gitdep",
        "p1 bin-p1",
    ] {
        assert!(seen.contains(want), "{want}: {seen:?}");
    }
    let out = (c.janitor(&["sweep", "-n", "--max-age", "1 day"]))
        .current_dir(&p1)
        .output()
        .unwrap();
    assert_ok(&out, "sweep -n");
    let text = stdout(&out);
    let labels: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.trim_start().split("  ").next())
        .collect();
    // `check` and `build` of alpha 1.0.0: two units that need their hashes to be told apart.
    let hashed = |name: &str| {
        labels
            .iter()
            .filter(|l| {
                l.strip_prefix(name).is_some_and(|rest| {
                    rest.len() == 9 && rest.ends_with(')') && !rest.contains(' ')
                })
            })
            .count()
    };
    assert_eq!(hashed("alpha 1.0.0 (debug, "), 2, "{text}");
    for want in [
        "gamma 0.1.0 (debug, build script)",
        "gamma 0.1.0 (debug, build script run)",
    ] {
        assert!(labels.contains(&want), "{want}: {text}");
    }
    // No version is made up for the path and git packages.
    assert!(
        labels.iter().any(|l| l.starts_with("p1 (debug, bin")),
        "{text}"
    );
    assert!(
        labels.iter().any(|l| l.starts_with("gitdep (debug")),
        "{text}"
    );
    assert!(
        !text.contains("gitdep 0.") && !text.contains("p1 0."),
        "{text}"
    );
}
