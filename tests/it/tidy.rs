//! `cargo janitor tidy` with the real cargo: one budget over CARGO_HOME and target dirs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// The tier order of the plan, as `--json` lists removals.
const TIERS: [&str; 7] = [
    "incremental",
    "unit",
    "source",
    "checkout",
    "crate",
    "git-db",
    "index",
];

fn tier_rank(t: &Value) -> usize {
    TIERS
        .iter()
        .position(|x| t == x)
        .unwrap_or_else(|| panic!("unknown tier {t}"))
}

/// A copy of the populated home with a third project and more build kinds: p1 (debug, two
/// generations of its git dependency's lockfile pin; a git dependency), p2 (debug and
/// release), p3 (alpha 1.1, debug). Returns the copy and its three target dirs.
fn world() -> (Copy, Vec<std::path::PathBuf>) {
    let c = Copy::of(populated());
    // The copy moved the home: rebuild so every unit is fresh where it now is.
    for p in ["p1", "p2"] {
        assert_ok(
            &c.cargo(p, &["build", "--offline"]).output().unwrap(),
            "rebuild in the copy",
        );
    }
    assert_ok(
        &c.cargo("p2", &["build", "--release", "--offline"])
            .output()
            .unwrap(),
        "p2 release",
    );
    let p3 = c.dir.path().join("p3");
    std::fs::create_dir_all(p3.join("src")).unwrap();
    std::fs::write(
        p3.join("Cargo.toml"),
        "[package]\nname = \"p3\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nalpha = \"=1.1.0\"\n",
    )
    .unwrap();
    std::fs::write(p3.join("src/main.rs"), "fn main() {}\n").unwrap();
    assert_ok(&c.cargo("p3", &["build"]).output().unwrap(), "p3");
    let targets = ["p1", "p2", "p3"]
        .iter()
        .map(|p| c.dir.path().join(p).join("target"))
        .collect();
    (c, targets)
}

fn tidy_json(c: &Copy, args: &[&str]) -> (Value, i32) {
    let mut a = vec!["tidy", "--json"];
    a.extend_from_slice(args);
    let out = c.janitor(&a).output().unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "tidy {args:?}: exit {code}\n{}",
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (v, code)
}

fn strs(targets: &[std::path::PathBuf]) -> Vec<&str> {
    targets.iter().map(|t| t.to_str().unwrap()).collect()
}

/// Writes a binary project `name` depending on `deps`, with `extra` appended to its manifest.
fn write_project(dir: &Path, name: &str, deps: &str, extra: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::write(
        p.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{deps}\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(p.join("src/main.rs"), "fn main() {}\n").unwrap();
}

/// Sets the access and modification times of every file and directory under `root` (symlinks
/// left alone) to `secs_ago` seconds before now.
fn age_tree(root: &Path, secs_ago: u64) {
    let when = std::time::SystemTime::now() - Duration::from_secs(secs_ago);
    let times = std::fs::FileTimes::new()
        .set_accessed(when)
        .set_modified(when);
    fn go(p: &Path, times: std::fs::FileTimes) {
        let m = p.symlink_metadata().unwrap();
        if m.file_type().is_symlink() {
            return;
        }
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                go(&e.unwrap().path(), times);
            }
        }
        std::fs::File::open(p).unwrap().set_times(times).unwrap();
    }
    go(root, times);
}

/// The acceptance world of issue #14: [`world`]'s three target dirs, plus p4 (two dependency
/// generations, each built in debug and release: alpha 1.0/beta 0.1, then alpha 2/beta 0.2,
/// the first generation aged two days, as a dependency bump leaves it) and p5 (debug, and
/// release with `incremental = true`). Five target dirs, every kind of build.
fn world5() -> (Copy, Vec<PathBuf>) {
    let (c, mut targets) = world();
    let dir = c.dir.path();
    write_project(dir, "p4", "alpha = \"=1.0.0\"\nbeta = \"=0.1.0\"", "");
    for args in [&["build"][..], &["build", "--release"]] {
        assert_ok(&c.cargo("p4", args).output().unwrap(), "p4 generation 1");
    }
    age_tree(&dir.join("p4/target"), 2 * DAY);
    write_project(dir, "p4", "alpha = \"2\"\nbeta = \"0.2\"", "");
    for args in [&["build"][..], &["build", "--release"]] {
        assert_ok(&c.cargo("p4", args).output().unwrap(), "p4 generation 2");
    }
    write_project(
        dir,
        "p5",
        "alpha = \"1.1\"\ndelta = \"1\"",
        "\n[profile.release]\nincremental = true\n",
    );
    for args in [&["build"][..], &["build", "--release"]] {
        assert_ok(&c.cargo("p5", args).output().unwrap(), "p5");
    }
    assert!(dir.join("p5/target/release/incremental").is_dir());
    targets.push(dir.join("p4/target"));
    targets.push(dir.join("p5/target"));
    (c, targets)
}

/// Bytes on disk of `paths` together, as one `du -s` counts them (hard links once).
fn du_total(paths: &[&Path]) -> u64 {
    let out = command("du")
        .args(["-s", "-c", "--block-size=1"])
        .args(paths)
        .output()
        .unwrap();
    assert_ok(&out, "du -s -c");
    let text = stdout(&out);
    let last = text.lines().last().unwrap();
    assert!(last.ends_with("total"), "{text}");
    last.split_whitespace().next().unwrap().parse().unwrap()
}

/// The fingerprint and incremental-session directories left under a target dir.
fn units_left(target: &Path) -> Vec<String> {
    let mut left = Vec::new();
    for profile in ["debug", "release"] {
        for sub in [".fingerprint", "incremental"] {
            let d = target.join(profile).join(sub);
            if d.exists() {
                left.extend(
                    dirs_in(&d)
                        .into_iter()
                        .map(|n| format!("{profile}/{sub}/{n}")),
                );
            }
        }
    }
    left
}

/// Issue #14's acceptance: CARGO_HOME and five target dirs from real builds (two dependency
/// generations, debug and release, incremental); total T by `du`; `--budget T/3`.
#[test]
fn a_third_of_the_budget_removes_cheapest_first_and_every_project_still_builds_offline() {
    let (c, targets) = world5();
    let t = strs(&targets);
    let mut set: Vec<&Path> = vec![c.home.as_path()];
    set.extend(targets.iter().map(PathBuf::as_path));
    let total = du_total(&set);
    let budget = (total / 3).to_string();
    // The home and p1/p2/p3 were built seconds ago: this test is about the budget's order,
    // not about age, so the grace period (which would keep all of it) is off.
    let mut args = vec!["--budget", budget.as_str(), "--grace", "0 seconds"];
    args.extend(&t);
    let mut dry_args = vec!["--dry-run"];
    dry_args.extend(&args);
    let (dry, dry_code) = tidy_json(&c, &dry_args);
    let (real, code) = tidy_json(&c, &args);
    assert_eq!(code, 0, "{real:#}");
    assert_eq!(dry_code, code);
    assert_eq!(
        dry["removed"], real["removed"],
        "the dry run lists the real run"
    );
    assert_eq!(real["met"], true);
    assert_eq!(real["roots"].as_array().unwrap().len(), 6, "{real:#}");
    // What tidy measured is what du measures (within the few directory blocks its walk and
    // du's see differently).
    let measured = real["before_bytes"].as_u64().unwrap();
    assert!(
        measured.abs_diff(total) <= total / 100,
        "tidy measured {measured}, du {total}"
    );

    // Afterwards, measured independently: within the budget.
    let after = du_total(&set);
    assert!(
        after <= total / 3,
        "du after: {after} > {total} / 3\n{real:#}"
    );

    // The order, from --json: tiers never go back, and within a tier least recent use first.
    let removed = real["removed"].as_array().unwrap();
    let key = |r: &Value| (tier_rank(&r["tier"]), r["last_use"].as_u64().unwrap());
    let keys: Vec<(usize, u64)> = removed.iter().map(key).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    // p4's first generation (aged two days) is stale: all of it went, before any unit of
    // the second generation and before anything of CARGO_HOME.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let is_stale = |r: &Value| r["tier"] == "unit" && r["last_use"].as_u64().unwrap() + DAY < now;
    let stale: Vec<&Value> = removed.iter().filter(|r| is_stale(r)).collect();
    assert!(
        !stale.is_empty(),
        "p4's first generation is removed\n{real:#}"
    );
    assert!(
        stale
            .iter()
            .all(|r| r["path"].as_str().unwrap().contains("/p4/target/")),
        "{stale:#?}"
    );
    let first_home = removed.iter().position(|r| tier_rank(&r["tier"]) > 1);
    if let Some(first_home) = first_home {
        // Nothing of the home went while a session or unit remained in any target dir.
        assert!(
            removed[..first_home]
                .iter()
                .all(|r| tier_rank(&r["tier"]) <= 1)
        );
        for target in &targets {
            assert_eq!(
                units_left(target),
                Vec::<String>::new(),
                "{}",
                target.display()
            );
        }
    }
    let crates_removed = removed.iter().filter(|r| r["tier"] == "crate").count();
    if crates_removed > 0 {
        for target in &targets {
            assert_eq!(
                units_left(target),
                Vec::<String>::new(),
                "{}",
                target.display()
            );
        }
    }
    // Every removed path is gone.
    for r in removed {
        let p = Path::new(r["path"].as_str().unwrap());
        assert!(p.symlink_metadata().is_err(), "{} still there", p.display());
    }
    // The pinned .crate files stay (they cannot be recreated offline), so every project still
    // builds offline and locked; a profile none of whose units went is Fresh.
    let reg = c.registry_dir();
    for krate in [
        "alpha-1.0.0",
        "alpha-1.1.0",
        "alpha-2.0.0",
        "beta-0.1.0",
        "beta-0.2.0",
        "delta-1.0.0",
    ] {
        assert!(
            c.home
                .join("registry/cache")
                .join(&reg)
                .join(format!("{krate}.crate"))
                .is_file(),
            "{krate}.crate"
        );
    }
    let mut fresh_checked = 0;
    for (p, profile) in [
        ("p1", "debug"),
        ("p2", "debug"),
        ("p2", "release"),
        ("p3", "debug"),
        ("p4", "debug"),
        ("p4", "release"),
        ("p5", "debug"),
        ("p5", "release"),
    ] {
        let mut a = vec!["build", "--offline", "--locked", "-v"];
        if profile == "release" {
            a.push("--release");
        }
        let out = c.cargo(p, &a).output().unwrap();
        assert_ok(&out, &format!("{p} {profile} builds offline after tidy"));
        let prefix = format!("{}/{p}/target/{profile}/", c.dir.path().display());
        let units_went = removed
            .iter()
            .any(|r| r["tier"] == "unit" && r["path"].as_str().unwrap().starts_with(&prefix));
        if !units_went {
            fresh_checked += 1;
            let err = stderr(&out);
            assert!(!err.contains("Compiling"), "{p} {profile}: {err}");
            assert!(err.contains("Fresh alpha"), "{p} {profile}: {err}");
        }
    }
    eprintln!(
        "T = {total}, after = {after}, {} removals, {fresh_checked} profiles kept Fresh",
        removed.len()
    );
}

#[test]
fn a_budget_just_under_the_total_takes_incremental_sessions_only_and_builds_stay_fresh() {
    let (c, targets) = world();
    let t = strs(&targets);
    let incremental: u64 = targets
        .iter()
        .map(|t| t.join("debug/incremental"))
        .filter(|p| p.exists())
        .map(|p| du_disk(&p))
        .sum();
    assert!(incremental > 0, "debug builds of binaries are incremental");
    // Built seconds ago: the grace period is off (this is about the order).
    let mut measure = vec!["--dry-run", "--budget", "1000gb", "--grace", "0 seconds"];
    measure.extend(&t);
    let (before, _) = tidy_json(&c, &measure);
    let total = before["before_bytes"].as_u64().unwrap();
    let budget = (total - 1).to_string();
    let mut args = vec!["--budget", budget.as_str(), "--grace", "0 seconds"];
    args.extend(&t);
    let (v, code) = tidy_json(&c, &args);
    assert_eq!(code, 0, "{v:#}");
    let removed = v["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "one session is enough: {v:#}");
    assert_eq!(removed[0]["tier"], "incremental");
    assert_eq!(removed[0]["kind"], "incremental");
    // Every unit stayed: every dependency is Fresh.
    for p in ["p1", "p2", "p3"] {
        let out = c
            .cargo(p, &["build", "--offline", "--locked", "-v"])
            .output()
            .unwrap();
        assert_ok(&out, p);
        let err = stderr(&out);
        assert!(!err.contains("Compiling alpha"), "{p}: {err}");
        assert!(err.contains("Fresh alpha"), "{p}: {err}");
    }
}

#[test]
fn the_lockfiles_keep_what_cannot_be_recreated_offline_unless_hard() {
    let (c, targets) = world();
    let t = strs(&targets);
    let reg = c.registry_dir();
    let crate_file = |k: &str| {
        c.home
            .join("registry/cache")
            .join(&reg)
            .join(format!("{k}.crate"))
    };
    // Built seconds ago: the grace period is off (this is about the keep-set).
    let mut args = vec!["--budget", "0", "--grace", "0 seconds"];
    args.extend(&t);
    let (v, code) = tidy_json(&c, &args);
    assert_eq!(code, 1, "a budget of 0 cannot hold with pinned entries");
    assert_eq!(v["met"], false);
    assert!(v["kept_pinned"].as_u64().unwrap() > 0);
    assert_eq!(v["lockfiles"].as_array().unwrap().len(), 3);
    assert!(crate_file("alpha-1.0.0").is_file());
    assert!(c.home.join("registry/index").join(&reg).is_dir());
    // Every extracted source went (re-extracted from its .crate offline).
    assert!(dirs_in(&c.home.join("registry/src").join(&reg)).is_empty());
    let out = c
        .cargo("p1", &["build", "--offline", "--locked"])
        .output()
        .unwrap();
    assert_ok(&out, "p1 builds offline");

    let out = c
        .janitor(&["tidy", "--budget", "0", "--grace", "0 seconds"])
        .args(&t)
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("--hard removes them"),
        "{}",
        stderr(&out)
    );

    let mut hard = vec!["--hard"];
    hard.extend(&args);
    let (v, _) = tidy_json(&c, &hard);
    assert_eq!(v["kept_pinned"], 0);
    assert!(!crate_file("alpha-1.0.0").exists());
    assert!(!c.home.join("registry/index").join(&reg).exists());
}

#[test]
fn a_build_running_during_the_run_is_not_broken_and_its_units_survive() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    let other = c.dir.path().join("p2/target");
    let (build, hold) = held_build(&c, "p1");
    let mut build = Guard(build);
    let metrics = c.dir.path().join("tidy.prom");
    // The grace period is on (default): the held build uses its units now.
    let mut tidy = c
        .janitor(&[
            "tidy",
            "--json",
            "--budget",
            "0",
            "--metrics",
            metrics.to_str().unwrap(),
            target.to_str().unwrap(),
            other.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        tidy.try_wait().unwrap().is_none(),
        "tidy waits for the build"
    );
    std::fs::remove_file(&hold).unwrap();
    assert!(build.wait().success(), "the build tidy waited for succeeds");
    let out = tidy.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The metrics count the wait (for p1's build locks; the held build had the home's
    // `.package-cache-mutate` shared too).
    let text = std::fs::read_to_string(&metrics).unwrap();
    let out = command("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .unwrap();
    assert_ok(&out, &format!("promtool check metrics\n{text}"));
    assert!(sample(&text, "cargo_janitor_lock_waits") >= 1, "{text}");
    let waited: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("cargo_janitor_lock_wait_seconds "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(waited > 0.0, "{text}");
    // The build's units were built moments ago: kept, and the next build is Fresh.
    assert!(v["grace"]["kept"].as_u64().unwrap() > 0);
    assert!(
        v["removed"].as_array().unwrap().iter().all(|r| !r["path"]
            .as_str()
            .unwrap()
            .starts_with(target.to_str().unwrap())),
        "{v:#}"
    );
    // (With the held build's environment: gamma's build script reruns when it changes.)
    let out = c
        .cargo("p1", &["build", "--offline", "-v"])
        .env("JANITOR_TEST_HOLD", &hold)
        .output()
        .unwrap();
    assert_ok(&out, "p1 after tidy");
    assert!(!stderr(&out).contains("Compiling"), "{}", stderr(&out));
}

#[test]
fn bad_limits_are_refused_and_nothing_is_removed() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    for (args, needle) in [
        (vec!["tidy"], "needs a limit"),
        (vec!["tidy", "--budget", "10 parsecs"], "invalid size"),
        (vec!["tidy", "--min-free", "120%"], "percentage"),
    ] {
        let out = c.janitor(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(paths_under(&c.home), before);
}

#[test]
fn the_policy_file_sets_the_budget_and_target_dirs_and_flags_override_it() {
    let (c, targets) = world();
    let policy = c.dir.path().join("policy.toml");
    // Built seconds ago: the grace period is off (this is about where settings come from).
    std::fs::write(
        &policy,
        format!(
            "budget = \"1 GiB\"\ngrace = \"0 seconds\"\ntarget-dirs = [\"{}\", \"{}\", \"gone/target\"]\nexclude = [\"p3\"]\n",
            targets[0].display(),
            targets[2].display(),
        ),
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let (v, code) = tidy_json(&c, &["--dry-run", "--policy", p]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["policy"], p);
    assert_eq!(v["budget_bytes"], 1024u64 * 1024 * 1024);
    assert_eq!(v["grace"]["seconds"], 0);
    // p1 from the file; p3 excluded; the missing one left out.
    let roots: Vec<&str> = v["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        roots,
        [c.home.to_str().unwrap(), targets[0].to_str().unwrap()]
    );
    // A flag overrides the file's budget; PATHs replace its target dirs.
    let (v, code) = tidy_json(
        &c,
        &[
            "--dry-run",
            "--policy",
            p,
            "--budget",
            "1kb",
            targets[1].to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "1 kB cannot hold");
    assert_eq!(v["budget_bytes"], 1000);
    assert_eq!(v["roots"][1]["path"], targets[1].to_str().unwrap());
    // The environment variable names it too.
    let out = c
        .janitor(&["tidy", "--json", "--dry-run"])
        .env("CARGO_JANITOR_POLICY", &policy)
        .output()
        .unwrap();
    assert_ok(&out, "tidy with $CARGO_JANITOR_POLICY");
}

#[test]
fn a_bad_policy_file_is_refused_naming_the_file_the_key_and_the_form() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    let policy = c.dir.path().join("policy.toml");
    for (text, needles) in [
        ("budget = 5\n", vec!["`budget`", "a size string", "found 5"]),
        ("min-free = \"lots\"\n", vec!["`min-free`", "percentage"]),
        (
            "budgett = \"1 GiB\"\n",
            vec!["unknown key `budgett`", "budget, min-free"],
        ),
        (
            "roots = \"~/src\"\n",
            vec!["`roots`", "an array of path strings"],
        ),
        ("budget = \n", vec!["as TOML"]),
    ] {
        std::fs::write(&policy, text).unwrap();
        let out = c
            .janitor(&["tidy", "--policy", policy.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(err.contains(policy.to_str().unwrap()), "{text}: {err}");
        for n in needles {
            assert!(err.contains(n), "{text}: {err}");
        }
    }
    let out = c
        .janitor(&["tidy", "--policy", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
    assert_eq!(paths_under(&c.home), before);
}

#[test]
fn caches_on_a_network_filesystem_are_refused_unless_forced() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    let p1 = c.dir.path().join("p1");
    let target = p1.join("target");
    let targets_before = paths_under(&target);
    // The sys layer's test hook: paths under these read as NFS.
    let fake = std::env::join_paths([&c.home, &target]).unwrap();
    let t = target.to_str().unwrap();
    for (args, refused) in [
        (vec!["gc", "--max-download-age", "1 day"], c.home.clone()),
        (vec!["sweep", "--incremental", t], target.clone()),
        (vec!["trim", "--ci"], c.home.clone()),
        (vec!["tidy", "--budget", "0", t], c.home.clone()),
        (
            vec!["tidy", "--budget", "0", "--dry-run", t],
            c.home.clone(),
        ),
    ] {
        let out = c
            .janitor(&args)
            .current_dir(&p1)
            .env("__CARGO_JANITOR_TEST_NETWORK_FS", &fake)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "`{}` is on a network filesystem (nfs)",
                refused.display()
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("--force-network-fs"), "{args:?}: {err}");
        assert!(err.contains("nothing was removed"), "{args:?}: {err}");
    }
    assert_eq!(paths_under(&c.home), before);
    assert_eq!(paths_under(&target), targets_before);

    // status says so; --force-network-fs goes ahead.
    let out = c
        .janitor(&["status"])
        .env("__CARGO_JANITOR_TEST_NETWORK_FS", &fake)
        .output()
        .unwrap();
    assert_ok(&out, "status");
    assert!(
        stderr(&out).contains("is on a network filesystem (nfs)"),
        "{}",
        stderr(&out)
    );
    let out = c
        .janitor(&[
            "tidy",
            "--json",
            "--budget",
            "1000gb",
            "--force-network-fs",
            t,
        ])
        .env("__CARGO_JANITOR_TEST_NETWORK_FS", &fake)
        .output()
        .unwrap();
    assert_ok(&out, "tidy --force-network-fs");
}

/// The value of the sample `name` (with its labels, as written) in a metrics text.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_pass_promtool_and_equal_status_and_the_log_gets_a_line_per_run() {
    let (c, targets) = world();
    let t = strs(&targets);
    let metrics = c.dir.path().join("metrics/cargo_janitor.prom");
    std::fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    let log = c.dir.path().join("runs.jsonl");
    // Built seconds ago: the grace period is off (this is about the figures).
    let (before, _) = tidy_json(
        &c,
        &["--dry-run", "--budget", "1000gb", "--grace", "0", t[0]],
    );
    let budget = (before["before_bytes"].as_u64().unwrap() / 2).to_string();
    let mut args = vec![
        "--budget",
        &budget,
        "--grace",
        "0",
        "--metrics",
        metrics.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ];
    args.extend(&t);
    let (v, code) = tidy_json(&c, &args);
    assert_eq!(code, 0, "{v:#}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let out = command("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics).unwrap())
        .output()
        .unwrap();
    assert_ok(&out, &format!("promtool check metrics\n{text}"));
    assert_eq!(
        std::fs::read_dir(metrics.parent().unwrap())
            .unwrap()
            .count(),
        1,
        "only the metrics file is left beside it"
    );

    assert_eq!(sample(&text, "cargo_janitor_last_run_success"), 1);
    assert_eq!(sample(&text, "cargo_janitor_lock_waits"), 0, "no build ran");
    assert_eq!(sample(&text, "cargo_janitor_limits_met"), 1);
    assert_eq!(
        sample(&text, "cargo_janitor_reclaimed_bytes"),
        v["reclaimed_bytes"].as_u64().unwrap()
    );
    assert_eq!(
        sample(&text, "cargo_janitor_total_disk_bytes"),
        v["after_bytes"].as_u64().unwrap()
    );
    for (i, target) in targets.iter().enumerate() {
        assert_eq!(
            sample(
                &text,
                &format!(
                    "cargo_janitor_target_dir_disk_bytes{{path=\"{}\"}}",
                    target.display()
                )
            ),
            v["roots"][i + 1]["after_bytes"].as_u64().unwrap()
        );
    }
    // The home's figures are status's.
    let status = json(&mut c.janitor(&["status", "--exact", "--json"]));
    for comp in status["components"].as_array().unwrap() {
        let kind = comp["kind"].as_str().unwrap();
        assert_eq!(
            sample(
                &text,
                &format!("cargo_janitor_home_bytes{{component=\"{kind}\"}}")
            ),
            comp["bytes"].as_u64().unwrap(),
            "{kind}"
        );
        assert_eq!(
            sample(
                &text,
                &format!("cargo_janitor_home_disk_bytes{{component=\"{kind}\"}}")
            ),
            comp["disk_bytes"].as_u64().unwrap(),
            "{kind}"
        );
        assert_eq!(
            sample(
                &text,
                &format!("cargo_janitor_home_entries{{component=\"{kind}\"}}")
            ),
            comp["count"].as_u64().unwrap(),
            "{kind}"
        );
    }

    // A failed run (a bad policy file) still writes the file: not a success.
    let bad = c.dir.path().join("bad.toml");
    std::fs::write(&bad, "budget = 1\n").unwrap();
    let out = c
        .janitor(&[
            "tidy",
            "--policy",
            bad.to_str().unwrap(),
            "--metrics",
            metrics.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(sample(&text, "cargo_janitor_last_run_success"), 0);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["exit_code"], 0);
    assert_eq!(lines[0]["reclaimed_bytes"], v["reclaimed_bytes"]);
    assert_eq!(lines[1]["exit_code"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("`budget`"));
}

/// `--min-free` on a small tmpfs of our own, mounted in a user and mount namespace (nothing
/// outside this test sees it).
#[test]
fn min_free_on_a_small_tmpfs_is_met_afterwards() {
    let c = Copy::of(populated());
    let small = c.dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let probe = command("unshare").args(["-Urm", "true"]).output().unwrap();
    if !probe.status.success() {
        eprintln!("skipped: no user namespaces here ({})", stderr(&probe));
        return;
    }
    // Inside the namespace: a tmpfs 1.5 times the size of the home and p1's target dir, both
    // copied onto it; then ask for a third of what they use to be free on top of what is.
    let script = r#"set -eu
small=$1; home=$2; target=$3; janitor=$4
used=$(du -s --block-size=1 "$home" "$target" | awk '{s+=$1} END {print s}')
size=$(( (used * 3 / 2 / 1048576 + 1) * 1048576 ))
mount -t tmpfs -o size=$size tmpfs "$small"
cp -a "$home" "$small/cargo-home"
mkdir "$small/p1" && cp -a "$target" "$small/p1/target"
avail=$(df --output=avail -B1 "$small" | tail -1 | tr -d ' ')
want=$(( avail + used / 3 ))
echo "want=$want"
"$janitor" --cargo-home "$small/cargo-home" tidy --json --grace 0 --min-free "$want" "$small/p1/target" > "$small/../tidy.json" || echo "exit=$?"
echo "after=$(df --output=avail -B1 "$small" | tail -1 | tr -d ' ')"
"#;
    // Copied seconds ago: the grace period is off (this is about free space, not age).
    let out = command("unshare")
        .args(["-Urm", "bash", "-c", script, "bash"])
        .arg(&small)
        .arg(&c.home)
        .arg(c.dir.path().join("p1/target"))
        .arg(env!("CARGO_BIN_EXE_cargo-janitor"))
        .output()
        .unwrap();
    assert_ok(&out, "tidy --min-free in a namespace");
    let text = stdout(&out);
    let field = |k: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} in {text}"))
            .parse()
            .unwrap()
    };
    assert!(!text.contains("exit="), "{text}\n{}", stderr(&out));
    let v: Value =
        serde_json::from_slice(&std::fs::read(c.dir.path().join("tidy.json")).unwrap()).unwrap();
    assert_eq!(v["met"], true, "{v:#}");
    assert!(field("after") >= field("want"), "{text}\n{v:#}");
    let fs = &v["filesystems"][0];
    assert_eq!(fs["min_free_bytes"].as_u64(), Some(field("want")));
    assert!(!v["removed"].as_array().unwrap().is_empty());
}

/// Issue #14: tidy covers the target dirs earlier janitor runs worked on (recorded per
/// CARGO_HOME in the state dir); one that is no longer a target dir, or now resolves
/// elsewhere, is dropped and never cleaned.
#[test]
fn tidy_covers_target_dirs_earlier_runs_recorded_and_drops_those_that_changed() {
    let (c, targets) = world();
    let state = c.dir.path().join("state");
    let janitor = |args: &[&str]| {
        let mut cmd = c.janitor(args);
        cmd.env("XDG_STATE_HOME", &state);
        cmd
    };
    let [p1, p2, p3] = [&targets[0], &targets[1], &targets[2]];
    // Earlier runs: a sweep of p1 and p2 and a trim of p3 (real runs; the grace period keeps
    // everything built seconds ago, so they remove nothing). A dry run records nothing.
    let out = janitor(&["sweep", "--dry-run", "--incremental", p1.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out, "sweep --dry-run");
    assert!(!state.exists(), "a dry run records nothing");
    let out = janitor(&["sweep", "--incremental"])
        .args([p1, p2])
        .output()
        .unwrap();
    assert_ok(&out, "sweep");
    let out = janitor(&["trim", "--workspace", "p3"]).output().unwrap();
    assert_ok(&out, "trim");
    let records: Vec<PathBuf> = std::fs::read_dir(state.join("cargo-janitor/target-dirs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1, "one file for the one home: {records:?}");
    let record: Value = serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    let canon = |p: &Path| p.canonicalize().unwrap().to_str().unwrap().to_owned();
    assert_eq!(record["cargo_home"], canon(&c.home));
    assert_eq!(
        record["target_dirs"],
        serde_json::json!([canon(p1), canon(p2), canon(p3)])
    );

    // tidy with no PATH, from a directory that is no workspace: the recorded dirs.
    let (p1c, p2c, p3c) = (canon(p1), canon(p2), canon(p3));
    let roots = |v: &Value| -> Vec<String> {
        v["roots"].as_array().unwrap()[1..]
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let out = janitor(&[
        "tidy",
        "--json",
        "--dry-run",
        "--no-policy",
        "--budget",
        "1000gb",
    ])
    .output()
    .unwrap();
    assert_ok(&out, "tidy --dry-run");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(roots(&v), [p1c.clone(), p2c.clone(), p3c.clone()]);

    // p2's project is replaced by a symlink to p1's; p3's target dir by a plain directory
    // holding a file of the user's.
    let p2_project = p2.parent().unwrap();
    std::fs::rename(p2_project, c.dir.path().join("p2-moved")).unwrap();
    std::os::unix::fs::symlink(p1.parent().unwrap(), p2_project).unwrap();
    std::fs::remove_dir_all(p3).unwrap();
    std::fs::create_dir(p3).unwrap();
    std::fs::write(p3.join("notes.txt"), "mine").unwrap();
    let p1_before = paths_under(p1);

    // A real run with a budget of 0: p1 is cleaned (the grace period is off: built seconds
    // ago); the two that changed are dropped, named, and untouched.
    let out = janitor(&[
        "tidy",
        "--json",
        "--no-policy",
        "--budget",
        "0",
        "--grace",
        "0 seconds",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(roots(&v), std::slice::from_ref(&p1c));
    let err = stderr(&out);
    for gone in [p2c, p3c] {
        assert!(
            err.contains(&format!(
                "`{gone}` (recorded by an earlier run) is no longer a Cargo target directory"
            )),
            "{gone}: {err}"
        );
    }
    assert!(
        v["removed"].as_array().unwrap().iter().all(|r| r["path"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{p1c}/"))
            || r["path"]
                .as_str()
                .unwrap()
                .starts_with(c.home.to_str().unwrap())),
        "{v:#}"
    );
    assert_ne!(paths_under(p1), p1_before, "p1 was cleaned");
    assert_eq!(
        std::fs::read_to_string(p3.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(dirs_in(p3), Vec::<String>::new());
    assert!(
        c.dir
            .path()
            .join("p2-moved/target/debug/.fingerprint")
            .is_dir()
    );
    // Forgotten: the record holds p1 only, and the next run warns no more.
    let record: Value = serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    assert_eq!(record["target_dirs"], serde_json::json!([p1c]));
    let out = janitor(&["tidy", "--dry-run", "--no-policy", "--budget", "1000gb"])
        .output()
        .unwrap();
    assert_ok(&out, "tidy again");
    assert!(!stderr(&out).contains("recorded"), "{}", stderr(&out));
}
