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

fn trim(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut a = vec!["trim"];
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

    let dry = trim(&env, &app, &["--ci", "--json", "--dry-run"]);
    assert_ok(&dry, "trim --ci --dry-run");
    let dry: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let out = trim(&env, &app, &["--ci", "--json"]);
    assert_ok(&out, "trim --ci");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        dry["parts"][0]["removed_items"],
        v["parts"][0]["removed_items"]
    );
    assert_eq!(
        dry["parts"][1]["removed_items"],
        v["parts"][1]["removed_items"]
    );
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
    assert_ok(&env.cargo(&old, &["build"]).output().unwrap(), "build old");
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
    for p in [&a, &b] {
        assert_ok(&env.cargo(p, &["build"]).output().unwrap(), "build");
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
    let out = janitor_in(&c.home, &std::env::temp_dir(), &["trim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no Cargo.lock"), "{}", stderr(&out));
}
