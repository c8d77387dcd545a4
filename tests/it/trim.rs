//! `cargo janitor trim` with the real cargo: keep exactly what lockfiles pin.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

fn deps_toml(project: &Path, deps: &str) {
    let name = project.file_name().unwrap().to_string_lossy();
    std::fs::write(
        project.join("Cargo.toml"),
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}\n"),
    )
    .unwrap();
}

/// The real clock, in unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn trim(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    // (--yes: these tests remove most of small homes on purpose; the question has its own
    // test, in previews.rs.)
    let mut a = vec!["trim", "--yes"];
    a.extend_from_slice(args);
    env.janitor(&a).current_dir(dir).output().unwrap()
}

fn crates(env: &Env) -> Vec<String> {
    let reg = only_registry(&env.home);
    let mut v: Vec<String> = std::fs::read_dir(env.home.join("registry/cache").join(reg))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn all_dep_info(target: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(target.join("debug/deps")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "d") {
            s.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    s
}

/// The text of every dep-info file below `dir` (either build-dir layout).
fn dep_info_below(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            s.push_str(&dep_info_below(&p));
        } else if p.extension().is_some_and(|x| x == "d") {
            s.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    s
}

#[test]
fn ci_keeps_exactly_the_current_generation_and_builds_offline() {
    let mut env = Env::new();
    let git = env.git_repo("gitdep");
    let app = env.project("app", "");
    deps_toml(
        &app,
        &format!(
            "alpha = \"=1.0.0\"\nbeta = \"=0.1.0\"\ngamma = \"0.1\"\ndelta = \"1\"\ngitdep = {{ git = \"{}\" }}",
            git.url()
        ),
    );
    assert_ok(
        &env.cargo(&app, &["build"]).output().unwrap(),
        "first generation",
    );
    let old_rev = git.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let new_rev = git.commit("second");
    deps_toml(
        &app,
        &format!(
            "alpha = \"2\"\nbeta = \"0.2\"\ngamma = \"0.1\"\ngitdep = {{ git = \"{}\" }}",
            git.url()
        ),
    );
    assert_ok(
        &env.cargo(&app, &["update", "-p", "gitdep"])
            .output()
            .unwrap(),
        "update",
    );
    assert_ok(
        &env.cargo(&app, &["build"]).output().unwrap(),
        "second generation",
    );
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).unwrap();
    assert!(lock.contains(&new_rev) && !lock.contains(&old_rev));
    assert!(
        crates(&env).contains(&"alpha-1.0.0.crate".to_string()),
        "both generations are cached"
    );

    // The end of a CI job: its build is done and nothing else builds, so the grace period
    // (which would keep all that this build used seconds ago) is off, as the README's CI
    // steps say.
    let dry = trim(
        &env,
        &app,
        &["--ci", "--grace", "0 seconds", "--json", "--dry-run"],
    );
    assert_ok(&dry, "trim --ci --dry-run");
    let dry: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let out = trim(&env, &app, &["--ci", "--grace", "0 seconds", "--json"]);
    assert_ok(&out, "trim --ci");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["parts"][0]["removed"], v["parts"][0]["removed"]);
    assert_eq!(dry["parts"][1]["removed"], v["parts"][1]["removed"]);
    assert_eq!(v["parts"][0]["part"], "home");
    assert!(v["parts"][0]["after_bytes"].as_u64() < v["parts"][0]["before_bytes"].as_u64());

    // Nothing of the old generation remains in the home …
    assert_eq!(
        crates(&env),
        ["alpha-2.0.0.crate", "beta-0.2.0.crate", "gamma-0.1.0.crate"],
        "only pinned .crate files"
    );
    assert!(dirs_in(&env.home.join("registry/src").join(only_registry(&env.home))).is_empty());
    let db = dirs_in(&env.home.join("git/db"));
    assert_eq!(db.len(), 1);
    assert!(dirs_in(&env.home.join("git/checkouts").join(&db[0])).is_empty());
    let index = env
        .home
        .join("registry/index")
        .join(only_registry(&env.home))
        .join(".cache");
    assert!(
        !index.join("de/lt/delta").exists(),
        "delta's index entry is pruned"
    );
    assert!(index.join("al/ph/alpha").exists());
    // … nor in the target dir.
    let dep_info = all_dep_info(&app.join("target"));
    for old in ["alpha-1.0.0", "beta-0.1.0", "delta-1.0.0", &old_rev[..7]] {
        assert!(!dep_info.contains(old), "{old} left in target");
    }
    assert!(dirs_in(&app.join("target/debug/incremental")).is_empty());

    // With the registry gone, the build is offline and only the workspace member compiles.
    let served = env.registry.requests();
    env.registry.stop();
    let out = env
        .cargo(&app, &["build", "--locked", "--offline", "-v"])
        .output()
        .unwrap();
    assert_ok(&out, "cargo build --locked --offline after trim --ci");
    let err = stderr(&out);
    assert!(err.contains("Compiling app"), "{err}\n{v:#}");
    for dep in ["alpha", "beta", "gamma", "gitdep"] {
        assert!(
            !err.contains(&format!("Compiling {dep} ")),
            "{dep} rebuilt:\n{err}"
        );
        assert!(
            err.contains(&format!("Fresh {dep} ")),
            "{dep} not fresh:\n{err}"
        );
    }
    assert_eq!(env.registry.requests(), served, "nothing fetched");
}

#[test]
fn git_and_alternative_registry_sources_are_kept() {
    let env = Env::new();
    let alt = Registry::start(&[
        CrateSpec::new("omega", "1.0.0"),
        CrateSpec::new("omega", "2.0.0"),
    ]);
    let mut cfg = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[registries.alt]\nindex = \"{}\"\n",
        alt.index_url()
    ));
    std::fs::write(env.home.join("config.toml"), cfg).unwrap();
    let git = env.git_repo("gitdep");
    let old = env.project(
        "old",
        "omega = { version = \"=2.0.0\", registry = \"alt\" }",
    );
    // Built yesterday (as Cargo records it): what trim removes was not used moments ago.
    env.build_at(&old, unix_now() - DAY);
    let app = env.project(
        "app",
        &format!(
            "alpha = \"2\"\nomega = {{ version = \"=1.0.0\", registry = \"alt\" }}\ngitdep = {{ git = \"{}\" }}",
            git.url()
        ),
    );
    assert_ok(&env.cargo(&app, &["build"]).output().unwrap(), "build app");
    let out = trim(&env, &app, &["--json"]);
    assert_ok(&out, "trim");
    let alt_dirs = dirs_in(&env.home.join("registry/cache"));
    assert_eq!(alt_dirs.len(), 2, "{alt_dirs:?}");
    let all: Vec<String> = alt_dirs
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(env.home.join("registry/cache").join(d))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
        })
        .collect();
    assert!(all.contains(&"omega-1.0.0.crate".to_string()), "{all:?}");
    assert!(!all.contains(&"omega-2.0.0.crate".to_string()), "{all:?}");
    assert!(all.contains(&"alpha-2.0.0.crate".to_string()), "{all:?}");
    let db = dirs_in(&env.home.join("git/db"));
    assert_eq!(db.len(), 1);
    assert_eq!(
        dirs_in(&env.home.join("git/checkouts").join(&db[0])).len(),
        1,
        "the pinned checkout is kept"
    );
    assert_ok(
        &env.cargo(&app, &["build", "--offline", "--locked"])
            .output()
            .unwrap(),
        "offline build",
    );
}

#[test]
fn two_workspaces_keep_the_union() {
    let env = Env::new();
    let a = env.project("wa", "alpha = \"=1.0.0\"");
    let b = env.project("wb", "alpha = \"=2.0.0\"\ndelta = \"1\"");
    // Built yesterday (as Cargo records it): what trim removes was not used moments ago.
    for p in [&a, &b] {
        env.build_at(p, unix_now() - DAY);
    }
    let out = trim(
        &env,
        env.dir.path(),
        &["--workspace", "wa", "--workspace", "wb"],
    );
    assert_ok(&out, "trim both");
    assert_eq!(
        crates(&env),
        [
            "alpha-1.0.0.crate",
            "alpha-2.0.0.crate",
            "delta-1.0.0.crate"
        ]
    );
    let out = trim(&env, env.dir.path(), &["--workspace", "wa"]);
    assert_ok(&out, "trim one");
    assert_eq!(crates(&env), ["alpha-1.0.0.crate"]);
    assert_ok(
        &env.cargo(&a, &["build", "--offline", "--locked"])
            .output()
            .unwrap(),
        "wa still builds",
    );
}

#[test]
fn bad_lockfiles_name_the_file_and_line_and_delete_nothing() {
    let c = Copy::of(populated());
    let before = paths_under(&c.home);
    let bad = c.dir.path().join("bad.lock");
    for (text, line) in [
        (
            "version = 3\n\n[[package]]\nname = \"alpha\"\nversion = 1\n",
            "line 3",
        ),
        ("version = 3\n[[package]\nname = \"a\"\n", "line 2"),
        ("# future\nversion = 7\n", "line 2"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = c
            .janitor(&["trim", "--lockfile", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(err.contains(&bad.display().to_string()), "{err}");
        assert!(err.contains(line), "{err}");
    }
    assert_eq!(paths_under(&c.home), before);
    // Not in a workspace: a temp dir with no Cargo.toml above it.
    let out = janitor_in(&c.home, &std::env::temp_dir(), &["trim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no Cargo.lock"), "{}", stderr(&out));
}

/// Three days before now: old enough for any grace period on recent use.
fn long_ago() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    now - 3 * DAY
}

/// `cargo build` with CARGO_HOME `home` in `dir`, recording its use at `at` (unix seconds).
fn build_with(home: &Path, dir: &Path, at: u64) {
    build_args(home, dir, at, &["build"]);
}

/// `cargo <args>` (a build) with CARGO_HOME `home` in `dir`, recording its use at `at`.
fn build_args(home: &Path, dir: &Path, at: u64, args: &[&str]) {
    assert_ok(
        &cargo_in(home, dir, args)
            .env("__CARGO_TEST_LAST_USE_NOW", at.to_string())
            .output()
            .unwrap(),
        "cargo build",
    );
}

/// Sets the access and modification times of everything below `dirs` to `at`: nothing in
/// them counts as used recently.
fn age(dirs: &[&Path], at: u64) {
    for d in dirs {
        let out = command("find")
            .arg(d)
            .args(["-exec", "touch", "-h", "-d", &format!("@{at}"), "{}", "+"])
            .output()
            .unwrap();
        assert_ok(&out, "find -exec touch");
    }
}

/// Every path below `dir` with its contents (files), its target (symlinks), or `/` (dirs).
fn contents(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn go(base: &Path, p: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                out.insert(rel, b"/".to_vec());
                go(base, &e.path(), out);
            } else if t.is_symlink() {
                let l = std::fs::read_link(e.path()).unwrap();
                out.insert(rel, l.display().to_string().into_bytes());
            } else {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    go(dir, dir, &mut out);
    out
}

/// The target part of a `trim --json` report.
fn target_part(v: &Value) -> &Value {
    let parts = v["parts"].as_array().unwrap();
    let t: Vec<&Value> = parts.iter().filter(|p| p["part"] == "target").collect();
    assert_eq!(t.len(), 1, "{v:#}");
    t[0]
}

/// `(package, reason)` of each unit a target part removed, sorted.
fn removed_units(part: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = part["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "unit")
        .map(|i| {
            let path = Path::new(i["path"].as_str().unwrap());
            let name = path.file_name().unwrap().to_string_lossy();
            // Legacy `.fingerprint/<pkg>-<hash>`, new layout `build/<pkg>/<hash>`.
            let pkg = match name.rsplit_once('-') {
                Some((pkg, _)) => pkg.to_owned(),
                None => path
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            };
            (pkg, i["reason"].as_str().unwrap().to_owned())
        })
        .collect();
    v.sort();
    v
}

const MEMBER: &str = "a workspace member or path package (rebuilt every commit)";
const UNPINNED: &str = "a dependency version no lockfile pins";

#[test]
fn a_target_built_with_another_cargo_home_keeps_its_pinned_dependencies() {
    another_cargo_home(&[]);
}

#[test]
fn another_cargo_home_on_nightlys_new_build_dir_layout() {
    if !nightly() {
        eprintln!("skipped: the new build-dir layout needs a nightly toolchain");
        return;
    }
    another_cargo_home(&["+nightly", "-Zbuild-dir-new-layout"]);
}

/// Builds with another home (with `toolchain` cargo flags: `+nightly` and `-Z…`), trims with
/// this test's home, and checks exactly what went and that the rest is fresh.
fn another_cargo_home(toolchain: &[&str]) {
    let (plus, zflags) = toolchain.split_at(toolchain.len().min(1));
    let cargo_args = |cmd: &'static str, extra: &[&'static str]| -> Vec<&str> {
        let mut a: Vec<&str> = plus.to_vec();
        a.push(cmd);
        a.extend_from_slice(zflags);
        a.extend_from_slice(extra);
        a
    };
    let mut env = Env::new();
    // The project is built with another CARGO_HOME (same registry), as a CI job or another
    // user would; the janitor runs with this test's home.
    let other = env.path("other-home");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(env.home.join("config.toml"), other.join("config.toml")).unwrap();
    let git = env.git_repo("gitdep");
    let app = env.project("app", "");
    let old = long_ago();
    deps_toml(
        &app,
        &format!(
            "alpha = \"=1.0.0\"\nbeta = \"0.1\"\ngamma = \"0.1\"\ndelta = \"1\"\ngitdep = {{ git = \"{}\" }}",
            git.url()
        ),
    );
    build_args(&other, &app, old, &cargo_args("build", &[]));
    deps_toml(
        &app,
        &format!(
            "alpha = \"=1.1.0\"\nbeta = \"0.1\"\ngamma = \"0.1\"\ngitdep = {{ git = \"{}\" }}",
            git.url()
        ),
    );
    build_args(&other, &app, old, &cargo_args("build", &[]));
    age(&[&other, &app], old);
    assert_eq!(
        app.join("target/debug/build/alpha").is_dir(),
        !zflags.is_empty(),
        "the layout asked for"
    );
    let dep_info = dep_info_below(&app.join("target"));
    assert!(dep_info.contains(&format!("{}/registry/src/", other.display())));
    assert!(!dep_info.contains(&env.home.display().to_string()));

    let mut cmd = env.janitor(&["trim", "--yes", "--target-dir", "target", "--json"]);
    if !plus.is_empty() {
        // The toolchain the janitor takes as current.
        cmd.env("RUSTUP_TOOLCHAIN", "nightly");
    }
    let out = cmd.current_dir(&app).output().unwrap();
    assert_ok(&out, "trim");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let part = target_part(&v);
    // Both generations of the member, and the two dependency versions no longer pinned.
    assert_eq!(
        removed_units(part),
        [
            ("alpha".to_string(), UNPINNED.to_string()),
            ("app".to_string(), MEMBER.to_string()),
            ("app".to_string(), MEMBER.to_string()),
            ("delta".to_string(), UNPINNED.to_string()),
        ],
        "{v:#}"
    );
    // Kept: alpha 1.1.0, beta 0.1.0 built against each alpha, gamma's library, build script
    // and its run, and gitdep.
    assert_eq!(part["removed_units"], 4, "{v:#}");
    assert_eq!(part["kept_units"], 7, "{v:#}");
    assert_eq!(part["kept_unknown"], 0, "{v:#}");
    let dep_info = dep_info_below(&app.join("target"));
    for gone in ["alpha-1.0.0", "delta-1.0.0"] {
        assert!(!dep_info.contains(gone), "{gone} left in target");
    }
    assert!(dep_info.contains("alpha-1.1.0"));

    // With that other home, offline, the pinned dependencies are still fresh.
    env.registry.stop();
    let out = cargo_in(
        &other,
        &app,
        &cargo_args("build", &["--locked", "--offline", "-v"]),
    )
    .output()
    .unwrap();
    assert_ok(&out, "cargo build --offline with the other home");
    let err = stderr(&out);
    assert!(err.contains("Compiling app"), "{err}");
    for dep in ["alpha", "beta", "gamma", "gitdep"] {
        assert!(
            err.contains(&format!("Fresh {dep} ")),
            "{dep} not fresh:\n{err}"
        );
    }
}

#[test]
fn units_that_cannot_be_identified_are_kept_and_counted() {
    let mut env = Env::new();
    let old = long_ago();
    // A workspace with a path dependency `util` and vendored registry dependencies.
    let app = env.project(
        "app",
        "alpha = \"=2.0.0\"\ngamma = \"0.1\"\nutil = { path = \"util\" }",
    );
    std::fs::create_dir_all(app.join("util/src")).unwrap();
    std::fs::write(
        app.join("util/Cargo.toml"),
        "[package]\nname = \"util\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(app.join("util/src/lib.rs"), "pub fn f() {}\n").unwrap();
    // `cargo vendor` ignores the home's source replacement unless told.
    assert_ok(
        &env.cargo(&app, &["vendor", "--respect-source-config"])
            .output()
            .unwrap(),
        "cargo vendor",
    );
    std::fs::create_dir_all(app.join(".cargo")).unwrap();
    std::fs::write(
        app.join(".cargo/config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
         [source.vendored-sources]\ndirectory = \"vendor\"\n",
    )
    .unwrap();
    build_with(&env.home, &app, old);
    assert!(
        all_dep_info(&app.join("target"))
            .contains(&format!("{}/vendor/alpha/src/lib.rs", app.display()))
    );
    // util's dep-info is lost.
    let mut lost = 0;
    for e in std::fs::read_dir(app.join("target/debug/deps")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("util-") && name.ends_with(".d") {
            std::fs::remove_file(&p).unwrap();
            lost += 1;
        }
    }
    assert_eq!(lost, 1);
    age(&[&env.home, &app], old);

    let dry = trim(&env, &app, &["--json", "--dry-run"]);
    assert_ok(&dry, "trim --dry-run");
    let out = trim(&env, &app, &["--json"]);
    assert_ok(&out, "trim");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(target_part(&d)["removed"], target_part(&v)["removed"]);
    let part = target_part(&v);
    // Only the member is identified; the vendored alpha and gamma (library, build script and
    // its run) have sources in no registry and are listed with a source, and util has no
    // dep-info: all kept, and counted.
    assert_eq!(
        removed_units(part),
        [("app".to_string(), MEMBER.to_string())],
        "{v:#}"
    );
    assert_eq!(part["kept_units"], 5, "{v:#}");
    assert_eq!(part["kept_unknown"], 5, "{v:#}");
    let human = trim(&env, &app, &["--dry-run"]);
    assert_ok(&human, "trim --dry-run (text)");
    assert!(
        stdout(&human).contains("Kept 5 units in target whose package could not be identified\n"),
        "{}",
        stdout(&human)
    );

    env.registry.stop();
    let out = env
        .cargo(&app, &["build", "--locked", "--offline", "-v"])
        .output()
        .unwrap();
    assert_ok(&out, "offline build");
    let err = stderr(&out);
    for dep in ["alpha", "gamma", "util"] {
        assert!(
            err.contains(&format!("Fresh {dep} ")),
            "{dep} not fresh:\n{err}"
        );
    }
}

#[test]
fn malformed_lockfiles_are_refused_and_nothing_is_removed() {
    let env = Env::new();
    let old = long_ago();
    // `aardvark` sorts before its dependencies, so a lockfile cut after it names packages
    // it no longer lists.
    let ws = env.project(
        "aardvark",
        "alpha = \"=1.0.0\"\nbeta = \"0.1\"\ngamma = \"0.1\"",
    );
    build_with(&env.home, &ws, old);
    let virt = env.path("virtual");
    std::fs::create_dir_all(&virt).unwrap();
    std::fs::write(
        virt.join("Cargo.toml"),
        "[workspace]\nmembers = [\"../aardvark\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    let lock = std::fs::read_to_string(ws.join("Cargo.lock")).unwrap();
    let blocks: Vec<&str> = lock.split("[[package]]").collect();
    assert!(blocks[1].contains("name = \"aardvark\""), "{lock}");
    std::fs::write(
        env.path("cut.lock"),
        format!("{}[[package]]{}", blocks[0], blocks[1]),
    )
    .unwrap();
    std::fs::write(env.path("empty.lock"), "").unwrap();
    age(&[&env.home, &ws], old);
    let home_before = contents(&env.home);
    let target_before = contents(&ws.join("target"));

    let manifest = "is a manifest, not a Cargo.lock; pass the workspace with --workspace";
    let accepted = "expected a Cargo.lock as cargo writes it (versions 1 to 4)";
    let cases = [
        (env.path("empty.lock"), "lists no packages"),
        (std::path::PathBuf::from("/dev/null"), "lists no packages"),
        (virt.join("Cargo.toml"), manifest),
        (ws.join("Cargo.toml"), manifest),
        (env.path("cut.lock"), "which the lockfile does not list"),
    ];
    for (file, why) in &cases {
        let f = file.to_str().unwrap();
        let out = trim(
            &env,
            env.dir.path(),
            &["--lockfile", f, "--target-dir", "aardvark/target"],
        );
        assert_eq!(out.status.code(), Some(2), "{f}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("`{f}`")), "{err}");
        assert!(err.contains(why), "{err}");
        if *why != manifest {
            assert!(err.contains(accepted), "{err}");
        }
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert!(contents(&env.home) == home_before, "{f}: the home changed");
        assert!(
            contents(&ws.join("target")) == target_before,
            "{f}: the target changed"
        );
    }
    let cut = stderr(&trim(&env, env.dir.path(), &["--lockfile", "cut.lock"]));
    assert!(cut.contains("`aardvark 0.1.0` depends on `alpha`"), "{cut}");
}

#[test]
fn a_workspaces_own_cargo_config_maps_its_lockfile() {
    let mut env = Env::new();
    let old = long_ago();
    // The source replacement is in the workspace's config only, not in the home's.
    let replacement = std::fs::read_to_string(env.home.join("config.toml")).unwrap();
    std::fs::write(env.home.join("config.toml"), "").unwrap();
    let app = env.project("app", "alpha = \"=1.0.0\"\nbeta = \"0.1\"");
    std::fs::create_dir_all(app.join(".cargo")).unwrap();
    std::fs::write(app.join(".cargo/config.toml"), &replacement).unwrap();
    build_with(&env.home, &app, old);
    deps_toml(&app, "alpha = \"2\"\nbeta = \"0.2\"");
    build_with(&env.home, &app, old);
    age(&[&env.home, &app], old);
    assert_eq!(
        crates(&env),
        [
            "alpha-1.0.0.crate",
            "alpha-2.0.0.crate",
            "beta-0.1.0.crate",
            "beta-0.2.0.crate"
        ]
    );
    let reg = only_registry(&env.home);

    // Run from the parent directory, whose config (none) is not the workspace's. A lockfile
    // given by path takes its directory's config.
    let dry = trim(
        &env,
        env.dir.path(),
        &["--lockfile", "app/Cargo.lock", "--json", "--dry-run"],
    );
    assert_ok(&dry, "trim --lockfile --dry-run");
    let d: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let mut listed: Vec<String> = d["parts"][0]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            Path::new(i["path"].as_str().unwrap())
                .strip_prefix(&env.home)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("registry/cache/{reg}/alpha-1.0.0.crate"),
            format!("registry/cache/{reg}/beta-0.1.0.crate"),
            format!("registry/src/{reg}/alpha-1.0.0"),
            format!("registry/src/{reg}/beta-0.1.0"),
        ],
        "{d:#}"
    );

    let out = trim(&env, env.dir.path(), &["--workspace", "app", "--json"]);
    assert_ok(&out, "trim --workspace");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(crates(&env), ["alpha-2.0.0.crate", "beta-0.2.0.crate"]);
    assert_eq!(
        removed_units(target_part(&v)),
        [
            ("alpha".to_string(), UNPINNED.to_string()),
            ("app".to_string(), MEMBER.to_string()),
            ("app".to_string(), MEMBER.to_string()),
            ("beta".to_string(), UNPINNED.to_string()),
        ],
        "{v:#}"
    );
    assert_eq!(target_part(&v)["kept_units"], 2, "{v:#}");

    env.registry.stop();
    let out = env
        .cargo(&app, &["build", "--locked", "--offline", "-v"])
        .output()
        .unwrap();
    assert_ok(&out, "offline build");
    let err = stderr(&out);
    for dep in ["alpha", "beta"] {
        assert!(
            err.contains(&format!("Fresh {dep} ")),
            "{dep} not fresh:\n{err}"
        );
    }
}

#[test]
fn sources_extracted_moments_ago_are_kept_by_the_grace_period() {
    // Issue #9: a build extracts its sources, releases Cargo's package-cache lock, and only
    // then compiles them; a trim for another lockfile in between must not take them away.
    // Here `app` was built seconds ago, and the lockfile given is `other`'s.
    let env = Env::new();
    let app = env.project("app", "alpha = \"=1.0.0\"");
    assert_ok(&env.cargo(&app, &["build"]).output().unwrap(), "build app");
    let other = env.project("other", "alpha = \"=2.0.0\"");
    assert_ok(
        &env.cargo(&other, &["generate-lockfile"]).output().unwrap(),
        "lockfile",
    );
    let reg = only_registry(&env.home);
    let src = env.home.join("registry/src").join(&reg);
    let lock = other.join("Cargo.lock");
    let args = |extra: &[&str]| -> Vec<String> {
        ["--lockfile", lock.to_str().unwrap()]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = trim(&env, env.dir.path(), &a);
        assert_ok(&out, &format!("trim {a:?}"));
        out
    };

    let dry: Value = serde_json::from_slice(&run(&["--json", "--dry-run"]).stdout).unwrap();
    assert_eq!(dry["parts"][0]["removed"], Value::Array(vec![]));
    assert_eq!(dry["grace"]["kept"], 2, "{dry:#}");
    let out = run(&[]);
    assert!(src.join("alpha-1.0.0/.cargo-ok").exists(), "kept");
    assert!(crates(&env).contains(&"alpha-1.0.0.crate".to_string()));
    assert!(
        stdout(&out).contains(
            "Kept 2 items used in the last 10 minutes (a build may be using them; --grace)"
        ),
        "{}",
        stdout(&out)
    );

    // Without its row (a cargo whose database write failed), the source is dated by its own
    // modification time: still moments ago.
    let conn = rusqlite::Connection::open(env.home.join(".global-cache")).unwrap();
    conn.execute("DELETE FROM registry_src", []).unwrap();
    drop(conn);
    let v: Value = serde_json::from_slice(&run(&["--json"]).stdout).unwrap();
    assert!(src.join("alpha-1.0.0/.cargo-ok").exists(), "kept: {v:#}");
    let kinds: Vec<&str> = v["grace"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["registry-crate", "registry-src"]);

    // With the grace period off, what the lockfile does not pin goes.
    let v: Value =
        serde_json::from_slice(&run(&["--grace", "0 seconds", "--json"]).stdout).unwrap();
    assert_eq!(v["grace"]["kept"], 0);
    assert_eq!(v["parts"][0]["removed_units"], 2, "{v:#}");
    assert!(!src.join("alpha-1.0.0").exists());
    assert!(!crates(&env).contains(&"alpha-1.0.0.crate".to_string()));
}
