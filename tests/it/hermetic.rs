//! The harness itself (issue #9): every process the tests start gets an environment built from
//! an allow list, and a test run leaves the developer's Cargo home, target dirs and home as
//! it found them, whatever the environment it was started in.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

/// What a `cargo` runs gets from cargo and rustup themselves, besides what it was given:
/// cargo's own path, rustup's toolchain choice and recursion count, the toolchain's library
/// path, the certificate locations cargo probes for, and the shell's `PWD`.
const ADDED_BY_CARGO_AND_RUSTUP: &[&str] = &[
    "CARGO",
    "LD_LIBRARY_PATH",
    "PWD",
    "RUSTUP_TOOLCHAIN",
    "RUSTUP_TOOLCHAIN_SOURCE",
    "RUST_RECURSION_COUNT",
    "SSL_CERT_DIR",
    "SSL_CERT_FILE",
];

/// What `cargo_in` sets besides [`ALLOWED_ENV`].
const SET_BY_CARGO_IN: &[&str] = &[
    "CARGO_HOME",
    "CARGO_CACHE_AUTO_CLEAN_FREQUENCY",
    "CARGO_TERM_COLOR",
    "CARGO_PROFILE_DEV_DEBUG",
];

/// Set in the child run of [`a_hostile_environment_reaches_no_process_and_changes_nothing`],
/// which therefore does not start itself again.
const CHILD: &str = "JANITOR_TEST_HOSTILE_CHILD";

/// The tests the hostile run repeats: at least one per command family, `trim --ci` (the one
/// that emptied a shared target dir) first, builds held by a build script, `janitor run`
/// starting cargo, the cargo subcommand form reading `CARGO_HOME`, and `cargo +nightly`.
const HOSTILE_SUBSET: &[&str] = &[
    "trim::ci_keeps_exactly_the_current_generation_and_builds_offline",
    "sweep::max_age_keeps_every_current_unit_and_nothing_rebuilds",
    "sweep::waits_for_a_running_build_or_skips_it",
    "gc::offline_builds_work_after_gc_and_reextract_sources",
    "gc::parity_with_nightly_defaults",
    "status::counts_bytes_and_last_use_match_disk_and_database",
    "status::cargo_home_comes_from_the_environment_and_cargo_subcommand_form_works",
    "locks::names_a_building_cargo_its_locks_and_a_waiting_cargo",
    "locks::run_explains_a_wait_passes_the_exit_code_and_times_out",
    "hermetic::spawned_processes_see_only_the_allow_list",
];

/// The variables of `env -0` output.
fn env_of(out: &Output, what: &str) -> BTreeMap<String, String> {
    assert_ok(out, what);
    out.stdout
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn keys(env: &BTreeMap<String, String>) -> BTreeSet<&str> {
    env.keys().map(String::as_str).collect()
}

#[test]
fn spawned_processes_see_only_the_allow_list() {
    let mut allowed: BTreeSet<&str> = ALLOWED_ENV.iter().copied().collect();
    if rustup_home().is_none() {
        allowed.remove("RUSTUP_HOME");
    }
    // This process has variables of its own to leak (cargo sets CARGO_MANIFEST_DIR and more
    // for every test run, and the hostile run sets its own): none of them gets through.
    if std::env::var_os(CHILD).is_some() {
        for k in [
            "CARGO_TARGET_DIR",
            "CARGO_HOME",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
        ] {
            assert!(std::env::var_os(k).is_some(), "the hostile run sets {k}");
        }
    }
    let run = run_dir();

    // A plain process: exactly the allow list.
    let plain = env_of(&command("env").arg("-0").output().unwrap(), "env");
    assert_eq!(keys(&plain), allowed);
    assert_eq!(Path::new(&plain["HOME"]), run.home);
    assert_eq!(Path::new(&plain["TMPDIR"]), run.tmp);
    assert_eq!(Path::new(&plain["GIT_CONFIG_GLOBAL"]), run.gitconfig);
    assert_eq!(
        plain.get("RUSTUP_HOME").map(PathBuf::from),
        rustup_home(),
        "the developer's rustup, found before HOME moved"
    );

    // Our binary, and what it runs: the same.
    let env = Env::new();
    let janitor = env_of(
        &env.janitor(&["run", "--", "env", "-0"]).output().unwrap(),
        "janitor run -- env",
    );
    assert_eq!(janitor, plain);

    // What cargo runs: the allow list, what `cargo_in` sets, and what cargo and rustup add.
    let bin = env.home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sub = bin.join("cargo-janitor-test-env");
    std::fs::write(&sub, "#!/bin/sh\nexec env -0\n").unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cargo = env_of(
        &env.cargo(env.dir.path(), &["janitor-test-env"])
            .output()
            .unwrap(),
        "cargo janitor-test-env",
    );
    let expected: BTreeSet<&str> = allowed
        .iter()
        .chain(SET_BY_CARGO_IN)
        .chain(ADDED_BY_CARGO_AND_RUSTUP)
        .copied()
        .collect();
    let unexpected: Vec<&str> = keys(&cargo).difference(&expected).copied().collect();
    assert!(unexpected.is_empty(), "cargo's child got {unexpected:?}");
    assert_eq!(Path::new(&cargo["CARGO_HOME"]), env.home);
    for k in ["HOME", "TMPDIR", "GIT_CONFIG_GLOBAL", "RUSTUP_HOME"] {
        assert_eq!(cargo.get(k), plain.get(k), "{k}");
    }
}

#[test]
fn every_process_is_made_by_the_harness() {
    // Spelled in two halves so that this file does not match itself.
    let needles = [
        concat!("Command", "::new"),
        concat!("libc", "::"),
        concat!("rustix", "::"),
    ];
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let support = tests.join("it/support");
    fn files(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                files(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut all = Vec::new();
    files(&tests, &mut all);
    let checked: Vec<&PathBuf> = all.iter().filter(|p| !p.starts_with(&support)).collect();
    assert!(
        checked.iter().any(|p| p.ends_with("it/locks.rs")) && checked.len() >= 7,
        "{checked:?}"
    );
    let mut offenders = Vec::new();
    for p in checked {
        let text = std::fs::read_to_string(p).unwrap();
        for (i, line) in text.lines().enumerate() {
            for n in needles {
                if line.contains(n) {
                    offenders.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "processes are started with support::command, cargo_in or janitor_in, and signalled \
         through support::Guard, only:\n{}",
        offenders.join("\n")
    );
}

/// A copy of `from` at `to`, with `cp -a`.
fn copy_tree(from: &Path, to: &Path) {
    let out = command("cp").arg("-a").arg(from).arg(to).output().unwrap();
    assert_ok(&out, "cp -a");
}

#[test]
fn a_hostile_environment_reaches_no_process_and_changes_nothing() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // Sentinels with real content: Cargo homes with a registry cache and `.global-cache`,
    // target dirs of real builds (CACHEDIR.TAG, units), a home with a Cargo home and a git
    // config in it, and an empty dir for GIT_DIR.
    let p = populated();
    let s = tempfile::Builder::new()
        .prefix("janitor-sentinels")
        .tempdir()
        .unwrap();
    let sentinel = |name: &str| s.path().join(name);
    copy_tree(&p.env.home, &sentinel("cargo-home"));
    copy_tree(&p.env.path("p1/target"), &sentinel("target"));
    copy_tree(&p.env.path("p2/target"), &sentinel("build-target"));
    copy_tree(&p.env.path("p1/target"), &sentinel("build-dir"));
    std::fs::create_dir(sentinel("home")).unwrap();
    copy_tree(&p.env.home, &sentinel("home/.cargo"));
    let mut config = std::fs::read_to_string(sentinel("home/.cargo/config.toml")).unwrap();
    config.push_str(&format!(
        "\n[build]\ntarget-dir = \"{}\"\n",
        sentinel("target").display()
    ));
    std::fs::write(sentinel("home/.cargo/config.toml"), config).unwrap();
    // Signing needs a key nobody has: a git that read this would fail to commit.
    std::fs::write(
        sentinel("home/.gitconfig"),
        "[user]\n\tname = hostile\n[commit]\n\tgpgsign = true\n",
    )
    .unwrap();
    std::fs::create_dir(sentinel("git-dir")).unwrap();
    let names = [
        "cargo-home",
        "target",
        "build-target",
        "build-dir",
        "home",
        "git-dir",
    ];
    for n in &names[..4] {
        let d = sentinel(n);
        assert!(
            d.join("registry/cache").is_dir() && d.join(".global-cache").is_file()
                || d.join("CACHEDIR.TAG").is_file() && d.join("debug/.fingerprint").is_dir(),
            "{n} is realistic"
        );
    }
    let before: Vec<_> = names.iter().map(|n| tree_state(&sentinel(n))).collect();

    let missing = |n: &str| sentinel(&format!("no-such-{n}"));
    let mut child = command(std::env::current_exe().unwrap());
    // The developer's environment, whole, and then the hostile part of it.
    child.env_clear().envs(std::env::vars_os());
    if let Some(r) = rustup_home() {
        // HOME moves to a sentinel: say where rustup is, as a developer whose HOME has no
        // .rustup would.
        child.env("RUSTUP_HOME", r);
    }
    child
        .env(CHILD, "1")
        .env("HOME", sentinel("home"))
        .env("CARGO_HOME", sentinel("cargo-home"))
        .env("CARGO_TARGET_DIR", sentinel("target"))
        .env("CARGO_BUILD_TARGET_DIR", sentinel("build-target"))
        .env("CARGO_BUILD_BUILD_DIR", sentinel("build-dir"))
        .env("GIT_DIR", sentinel("git-dir"))
        .env("RUSTFLAGS", "-C janitor-no-such-codegen-option")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Cjanitor-no-such-codegen-option",
        )
        .env("RUSTC_WRAPPER", missing("rustc-wrapper"))
        .env(
            "RUSTC_WORKSPACE_WRAPPER",
            missing("rustc-workspace-wrapper"),
        )
        .env("RUSTC", missing("rustc"))
        .env("RUSTDOC", missing("rustdoc"))
        .env("RUSTUP_TOOLCHAIN", missing("toolchain"))
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_BUILD_TARGET", "janitor-no-such-target")
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TERM_COLOR", "always")
        .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "always")
        .env("__CARGO_TEST_LAST_USE_NOW", "1")
        .env("CI", "true")
        .args(["--exact", "--test-threads", "2"])
        .args(HOSTILE_SUBSET);
    let out = child.output().unwrap();

    let mut changed = String::new();
    for (n, b) in names.iter().zip(&before) {
        let d = tree_diff(b, &tree_state(&sentinel(n)));
        if !d.is_empty() {
            changed.push_str(&format!("{n} ({}):\n{d}", sentinel(n).display()));
        }
    }
    let report = format!(
        "the hostile run ({:?})\nstdout:\n{}\nstderr:\n{}\nsentinels changed:\n{changed}",
        out.status,
        stdout(&out),
        stderr(&out),
    );
    assert!(
        changed.is_empty(),
        "the hostile run changed its sentinels:\n{changed}\n\n{report}"
    );
    assert!(out.status.success(), "{report}");
    for t in HOSTILE_SUBSET {
        assert!(
            stdout(&out).contains(&format!("test {t} ... ok")),
            "{report}"
        );
    }
    assert!(
        stdout(&out).contains(&format!(
            "test result: ok. {} passed; 0 failed",
            HOSTILE_SUBSET.len()
        )),
        "{report}"
    );
}
