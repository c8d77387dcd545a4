//! `sweep --used-by` and `trim --used-by`: real cargo commands say which units they use
//! (`--message-format=json`), and exactly those are kept; the record of use they leave lets
//! `--max-age` work without atimes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde_json::Value;

use crate::support::*;

/// alpha and a proc-macro in two versions each, and gamma with a build script.
fn crates() -> Vec<CrateSpec> {
    vec![
        CrateSpec::new("alpha", "1.0.0"),
        CrateSpec::new("alpha", "2.0.0"),
        CrateSpec::new("pmac", "0.1.0").proc_macro(),
        CrateSpec::new("pmac", "0.2.0").proc_macro(),
        CrateSpec::new("gamma", "0.1.0").build_rs(HOLD_BUILD_RS),
    ]
}

/// A workspace: `lib` (a library on alpha) and `app` (a binary with a build script, on
/// `lib`, the proc-macro `pmac` and gamma), pinned to generation 1 or 2 of the dependencies.
fn workspace(env: &Env, generation: u8) -> PathBuf {
    let ws = env.path("ws");
    let (alpha, pmac) = match generation {
        1 => ("=1.0.0", "=0.1.0"),
        _ => ("=2.0.0", "=0.2.0"),
    };
    let files = [
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"lib\", \"app\"]\nresolver = \"2\"\n".to_string(),
        ),
        (
            "lib/Cargo.toml",
            format!(
                "[package]\nname = \"lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\nalpha = \"{alpha}\"\n"
            ),
        ),
        ("lib/src/lib.rs", "pub use alpha;\n".to_string()),
        (
            "app/Cargo.toml",
            format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\nlib = {{ path = \"../lib\" }}\npmac = \"{pmac}\"\ngamma = \"0.1\"\n"
            ),
        ),
        (
            "app/build.rs",
            "fn main() { println!(\"cargo:rerun-if-changed=build.rs\"); }\n".to_string(),
        ),
        (
            "app/src/main.rs",
            "pmac::pmac_version!();\nfn main() { let _ = lib::alpha::alpha_version(); }\n"
                .to_string(),
        ),
    ];
    for (path, text) in files {
        let p = ws.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    ws
}

/// Every unit of a target dir, as `<profile dir, relative>:<pkg>-<hash>`, both layouts, any
/// profile (`debug`, `release`, `<triple>/debug`, …).
fn units(target: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn go(root: &Path, dir: &Path, depth: usize, out: &mut BTreeSet<String>) {
        let rel = dir.strip_prefix(root).unwrap().display().to_string();
        for n in dirs_in(&dir.join(".fingerprint")) {
            out.insert(format!("{rel}:{n}"));
        }
        for pkg in dirs_in(&dir.join("build")) {
            for h in dirs_in(&dir.join("build").join(&pkg)) {
                if dir
                    .join("build")
                    .join(&pkg)
                    .join(&h)
                    .join("fingerprint")
                    .is_dir()
                {
                    out.insert(format!("{rel}:{pkg}-{h}"));
                }
            }
        }
        if depth > 0 {
            for d in dirs_in(dir) {
                if !d.starts_with('.') && !["build", "deps", "incremental"].contains(&d.as_str()) {
                    go(root, &dir.join(d), depth - 1, out);
                }
            }
        }
    }
    go(target, target, 2, &mut out);
    out
}

/// Every incremental directory, as `<profile dir, relative>:<name>`.
fn incremental(target: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in ["debug", "release"].into_iter().map(String::from).chain(
        dirs_in(target)
            .into_iter()
            .filter(|d| d.contains('-'))
            .map(|t| format!("{t}/debug")),
    ) {
        for n in dirs_in(&target.join(&p).join("incremental")) {
            out.insert(format!("{p}:{n}"));
        }
    }
    out
}

/// Sets the access time of every file and directory below `dir` to now, as reading the
/// whole tree does (a CI cache restore, `grep -r`, an indexer); modification times stay.
fn touch_atimes(dir: &Path) {
    let times = std::fs::FileTimes::new().set_accessed(SystemTime::now());
    fn go(p: &Path, times: std::fs::FileTimes) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                go(&e.path(), times);
            }
            if ft.is_dir() || ft.is_file() {
                std::fs::File::open(e.path())
                    .unwrap()
                    .set_times(times)
                    .unwrap();
            }
        }
    }
    go(dir, times);
}

/// Our binary, with the settings [`cargo_in`] gives cargo, so that the cargo it runs for
/// `--used-by` builds the same units as the test's own cargo commands.
fn janitor(env: &Env, dir: &Path, args: &[&str]) -> Command {
    let mut c = janitor_in(&env.home, dir, args);
    c.env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_PROFILE_DEV_DEBUG", "0");
    c
}

fn cargo_ok(env: &Env, dir: &Path, args: &[&str]) -> String {
    let out = env.cargo(dir, args).output().unwrap();
    assert_ok(&out, &format!("cargo {args:?}"));
    stderr(&out)
}

fn host() -> String {
    let out = command("rustc").arg("-vV").output().unwrap();
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .unwrap()
        .to_string()
}

/// Builds generation 1 and then generation 2 of the workspace in debug and release, and
/// returns its target dir, the cargo arguments of the two builds, and the units and
/// incremental directories a build of generation 2 alone has (made in another target dir).
fn two_generations(
    env: &Env,
    prefix: &[&str],
    suffix: &[&str],
) -> (
    PathBuf,
    [Vec<String>; 2],
    BTreeSet<String>,
    BTreeSet<String>,
) {
    let builds: [Vec<String>; 2] = [vec![], vec!["--release"]].map(|extra: Vec<&str>| {
        prefix
            .iter()
            .chain(&["build"])
            .chain(suffix)
            .chain(&extra)
            .map(|s| s.to_string())
            .collect()
    });
    let run = |ws: &Path, target: Option<&Path>| {
        for b in &builds {
            let args: Vec<&str> = b.iter().map(String::as_str).collect();
            let mut c = env.cargo(ws, &args);
            if let Some(t) = target {
                c.env("CARGO_TARGET_DIR", t);
            }
            assert_ok(&c.output().unwrap(), &format!("cargo {args:?}"));
        }
    };
    let ws = workspace(env, 1);
    run(&ws, None);
    workspace(env, 2);
    run(&ws, None);
    let fresh = env.path("fresh-target");
    run(&ws, Some(&fresh));
    let (current, inc) = (units(&fresh), incremental(&fresh));
    std::fs::remove_dir_all(&fresh).unwrap();
    let target = ws.join("target");
    assert!(
        units(&target).len() > current.len(),
        "two generations: {:?}",
        units(&target)
    );
    (target, builds, current, inc)
}

/// Sets the access and modification times of `p` and everything below it to `when`.
fn set_times_below(p: &Path, when: SystemTime) {
    let times = std::fs::FileTimes::new()
        .set_accessed(when)
        .set_modified(when);
    let ft = p.symlink_metadata().unwrap().file_type();
    if ft.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            set_times_below(&e.unwrap().path(), when);
        }
    }
    if ft.is_dir() || ft.is_file() {
        // Contents first: setting them changes no directory's times.
        std::fs::File::open(p).unwrap().set_times(times).unwrap();
    }
}

/// Gives what only generation 1 has (every unit not in `current`, with its files named by
/// its hash, and every incremental directory not in `inc`) the file times of a build `days`
/// ago, as a restored cache has them: what a build of generation 2 uses or made keeps its own.
fn age_old_generation(
    target: &Path,
    current: &BTreeSet<String>,
    inc: &BTreeSet<String>,
    days: u64,
) {
    let when = SystemTime::now() - std::time::Duration::from_secs(days * DAY);
    let old: BTreeSet<String> = units(target)
        .difference(current)
        .map(|u| u[u.len() - 16..].to_string())
        .collect();
    assert!(!old.is_empty());
    // A unit's files and directories carry its hash: `<pkg>-<hash>` (fingerprint, build
    // dirs), `…-<hash>.rlib` and friends in deps/, or `build/<pkg>/<hash>/` (new layout).
    fn go(p: &Path, old: &BTreeSet<String>, when: SystemTime) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().unwrap().is_dir();
            if old
                .iter()
                .any(|h| name == *h || name.contains(&format!("-{h}")))
            {
                set_times_below(&e.path(), when);
            } else if is_dir && name != "incremental" {
                go(&e.path(), old, when);
            }
        }
    }
    go(target, &old, when);
    for i in incremental(target).difference(inc) {
        let (profile, name) = i.split_once(':').unwrap();
        set_times_below(&target.join(profile).join("incremental").join(name), when);
    }
}

/// `sweep --used-by` for both builds of [`two_generations`] removes exactly generation 1's
/// units and incremental sessions, its dry run lists exactly that, and both builds are all
/// Fresh afterwards.
fn removes_exactly_the_old_generation(prefix: &[&str], suffix: &[&str]) {
    let env = Env::with_crates(&crates());
    let (target, builds, current, inc) = two_generations(&env, prefix, suffix);
    let ws = env.path("ws");
    // As in a CI cache restored a month after generation 1 was built: its files have the
    // modification times of that build, and every atime is now (the restore wrote them; so
    // would anything that reads the whole tree).
    age_old_generation(&target, &current, &inc, 30);
    touch_atimes(&target);
    assert!(units(&target).len() > current.len());

    let used_by: Vec<String> = builds
        .iter()
        .flat_map(|b| ["--used-by".to_string(), format!("cargo {}", b.join(" "))])
        .collect();
    // The default grace period: it keeps what was built or written in the last 10 minutes,
    // and atimes, all new, do not count.
    let mut args: Vec<&str> = vec!["sweep", "--json"];
    args.extend(used_by.iter().map(String::as_str));
    let before = units(&target);
    let mut dry_args = args.clone();
    dry_args.push("--dry-run");
    let dry = json(&mut janitor(&env, &ws, &dry_args));
    assert_eq!(units(&target), before, "a dry run removes nothing");
    assert!(
        !target.join(".janitor-use.json").exists(),
        "a dry run writes no record"
    );
    let v = json(&mut janitor(&env, &ws, &args));
    assert_eq!(
        dry["dirs"][0]["removed"], v["dirs"][0]["removed"],
        "the dry run lists what the run removes"
    );
    assert_eq!(v["dirs"].as_array().unwrap().len(), 1, "{v:#}");
    let d = &v["dirs"][0];
    assert_eq!(d["path"], target.to_str().unwrap());
    assert_eq!(d["signal"], "used-by");
    assert_eq!(d["reported_units"], current.len());
    assert_eq!(d["removed_units"], before.len() - current.len());
    assert_eq!(v["used_by"].as_array().unwrap().len(), 2);
    assert_eq!(units(&target), current, "exactly generation 2 is left");
    assert_eq!(
        incremental(&target),
        inc,
        "exactly generation 2's incremental sessions are left"
    );
    // The record of use names every unit left.
    let record: Value =
        serde_json::from_slice(&std::fs::read(target.join(".janitor-use.json")).unwrap()).unwrap();
    assert_eq!(record["version"], 1);
    assert_eq!(record["units"].as_object().unwrap().len(), current.len());

    for b in &builds {
        let mut args: Vec<&str> = b.iter().map(String::as_str).collect();
        args.extend(["--offline", "-v"]);
        let err = cargo_ok(&env, &ws, &args);
        assert!(!err.contains("Compiling"), "nothing rebuilt:\n{err}");
        assert!(err.contains("Fresh"), "{err}");
    }
}

#[test]
fn used_by_removes_exactly_the_old_generation_and_nothing_rebuilds() {
    removes_exactly_the_old_generation(&[], &[]);
}

#[test]
fn used_by_on_nightlys_new_build_dir_layout() {
    if !nightly() {
        eprintln!("skipped: the new build-dir layout needs a nightly toolchain");
        return;
    }
    removes_exactly_the_old_generation(&["+nightly", "-Zbuild-dir-new-layout"], &[]);
}

#[test]
fn used_by_with_a_target_triple_host_and_target_units() {
    let host = host();
    removes_exactly_the_old_generation(&[], &["--target", &host]);
}

#[test]
fn a_failing_command_removes_nothing_and_says_why() {
    let env = Env::with_crates(&crates());
    let (target, _, _, _) = two_generations(&env, &[], &[]);
    let ws = env.path("ws");
    std::fs::write(
        ws.join("app/src/main.rs"),
        "fn main() { let x: u32 = \"no\"; }\n",
    )
    .unwrap();
    let before = units(&target);
    let inc = incremental(&target);
    let out = janitor(
        &env,
        &ws,
        &["sweep", "--grace", "0 seconds", "--used-by", "cargo build"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error[E0308]: mismatched types"),
        "cargo's message: {err}"
    );
    assert!(
        err.contains("`cargo build` failed") && err.contains("nothing was removed"),
        "{err}"
    );
    let after = units(&target);
    assert!(
        before.is_subset(&after),
        "nothing removed: {:?}",
        before.difference(&after)
    );
    assert!(inc.is_subset(&incremental(&target)));
    assert!(!target.join(".janitor-use.json").exists());
}

#[test]
fn commands_that_are_not_cargo_builds_are_refused_before_anything_runs() {
    let env = Env::with_crates(&crates());
    let ws = workspace(&env, 1);
    for (cmd, says) in [
        ("make all", "it starts with `make`, not `cargo`"),
        ("cargo build; rm -rf /", "`;` needs a shell"),
        ("cargo build $FLAGS", "`$` needs a shell"),
        (
            "cargo install ripgrep",
            "`install` is not a subcommand that builds",
        ),
        ("cargo build 'unclosed", "a single quote is not closed"),
        (
            "cargo build\nrm -rf target",
            "a line break separates commands in a shell",
        ),
        ("cargo", "it names no subcommand"),
        ("cargo build --message-format=xml", "`--message-format xml`"),
    ] {
        let out = janitor(&env, &ws, &["sweep", "--used-by", cmd])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{cmd}: {err}");
        assert!(err.contains("expected `cargo [+TOOLCHAIN]"), "{cmd}: {err}");
        assert!(!ws.join("target").exists(), "{cmd}: nothing ran");
    }
    // Criteria and paths are not combined with --used-by.
    let out = janitor(
        &env,
        &ws,
        &["sweep", "--used-by", "cargo build", "--max-age", "1day"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn user_flags_are_kept_and_quoted_arguments_split_like_a_shell() {
    let env = Env::with_crates(&crates());
    let ws = workspace(&env, 1);
    std::fs::write(
        ws.join("lib/src/lib.rs"),
        "pub use alpha;\npub fn f() { let unused = 1; }\n",
    )
    .unwrap();
    // `--message-format short` merges with ours (diagnostics still reach the terminal, in
    // the short form); a quoted `--config` value stays one word; `-p` restricts the build,
    // so only lib's and alpha's units are reported.
    let config = "profile.dev.opt-level = 1";
    let out = janitor(
        &env,
        &ws,
        &[
            "sweep",
            "--json",
            "--used-by",
            &format!("cargo build --message-format short -p lib --config '{config}'"),
        ],
    )
    .output()
    .unwrap();
    assert_ok(&out, "sweep --used-by");
    let err = stderr(&out);
    assert!(
        err.contains("lib/src/lib.rs:2:18: warning: unused variable"),
        "short diagnostics: {err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dirs"][0]["reported_units"], 2, "{v:#}");
    assert_eq!(units(&ws.join("target")).len(), 2);
    // The --config value came through whole: the same build with it is Fresh.
    let err = cargo_ok(
        &env,
        &ws,
        &["build", "-p", "lib", "--config", config, "--offline", "-v"],
    );
    assert!(!err.contains("Compiling"), "{err}");
}

#[test]
fn trim_used_by_keeps_exactly_what_the_commands_use() {
    let env = Env::with_crates(&crates());
    let (target, builds, current, _) = two_generations(&env, &[], &[]);
    let ws = env.path("ws");
    let v = json(&mut janitor(
        &env,
        &ws,
        &[
            "trim",
            "--ci",
            "--json",
            "--grace",
            "0 seconds",
            "--used-by",
            "cargo build",
            "--used-by",
            "cargo build --release",
        ],
    ));
    assert_eq!(units(&target), current, "{v:#}");
    let parts = v["parts"].as_array().unwrap();
    assert_eq!(parts.iter().filter(|p| p["part"] == "target").count(), 1);
    assert_eq!(v["used_by"].as_array().unwrap().len(), 2);
    for b in &builds {
        let mut args: Vec<&str> = b.iter().map(String::as_str).collect();
        args.extend(["--offline", "--locked", "-v"]);
        let err = cargo_ok(&env, &ws, &args);
        assert!(!err.contains("Compiling"), "nothing rebuilt:\n{err}");
    }
}

#[test]
fn a_corrupt_record_is_ignored_with_a_warning_and_replaced() {
    let env = Env::with_crates(&crates());
    let ws = workspace(&env, 1);
    cargo_ok(&env, &ws, &["build"]);
    let target = ws.join("target");
    let record = target.join(".janitor-use.json");
    std::fs::write(&record, b"{\"format\": \"cargo-janitor use rec").unwrap();
    let out = janitor(&env, &ws, &["sweep", "--json", "--max-age", "30days"])
        .output()
        .unwrap();
    assert_ok(&out, "sweep");
    assert!(
        stderr(&out).contains("ignoring the record of use")
            && stderr(&out).contains("not valid JSON"),
        "{}",
        stderr(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dirs"][0]["signal"], "atime");
    // A newer version is ignored and left as it is.
    let newer = b"{\"format\":\"cargo-janitor use record\",\"version\":9,\"units\":{}}";
    std::fs::write(&record, newer).unwrap();
    let out = janitor(&env, &ws, &["sweep", "--used-by", "cargo build"])
        .output()
        .unwrap();
    assert_ok(&out, "sweep --used-by");
    assert!(stderr(&out).contains("not updating"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&record).unwrap(), newer);
    // A corrupt one is replaced by the next --used-by run.
    std::fs::write(&record, b"garbage").unwrap();
    let out = janitor(&env, &ws, &["sweep", "--used-by", "cargo build"])
        .output()
        .unwrap();
    assert_ok(&out, "sweep --used-by");
    assert!(stderr(&out).contains("replacing"), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    // A symlink there is never followed: ignored when read, and replaced (the link itself,
    // not its target) when written.
    let elsewhere = env.path("elsewhere.json");
    std::fs::write(&elsewhere, b"keep me").unwrap();
    std::fs::remove_file(&record).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &record).unwrap();
    let out = janitor(&env, &ws, &["sweep", "--max-age", "30days"])
        .output()
        .unwrap();
    assert_ok(&out, "sweep");
    assert!(
        stderr(&out).contains("ignoring the record of use"),
        "{}",
        stderr(&out)
    );
    let out = janitor(&env, &ws, &["sweep", "--used-by", "cargo build"])
        .output()
        .unwrap();
    assert_ok(&out, "sweep --used-by");
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep me");
    assert!(!record.symlink_metadata().unwrap().is_symlink());
}

/// A tmpfs mounted `noatime` in a mount namespace of its own (kept alive by a `sleep`);
/// commands run in it through `nsenter`.
struct NoatimeMount {
    ns: Guard,
    mnt: PathBuf,
}

impl NoatimeMount {
    fn new(dir: &Path) -> Option<NoatimeMount> {
        for tool in ["unshare", "nsenter", "mount", "cp"] {
            if command(tool).arg("--version").output().is_err() {
                eprintln!("skipped: needs {tool}(1) to mount a noatime filesystem");
                return None;
            }
        }
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        let ready = dir.join("mounted");
        let failed = dir.join("mount-failed");
        let script = format!(
            "if mount -t tmpfs -o noatime,size=512m janitor-test '{mnt}'; then touch '{ready}'; \
             exec sleep 600; else touch '{failed}'; fi",
            mnt = mnt.display(),
            ready = ready.display(),
            failed = failed.display(),
        );
        let ns = Guard(
            command("unshare")
                .args(["-m", "--propagation", "private", "sh", "-c", &script])
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let ok = eventually(30, "the tmpfs to be mounted", || {
            if ready.exists() {
                Some(true)
            } else if failed.exists() {
                Some(false)
            } else {
                None
            }
        });
        if !ok {
            eprintln!("skipped: could not mount a tmpfs in a mount namespace (not root?)");
            return None;
        }
        Some(NoatimeMount { ns, mnt })
    }

    fn run(&self, cmd: &Command) -> Command {
        let mut c = command("nsenter");
        c.arg("-t")
            .arg(self.ns.pid().to_string())
            .arg("-m")
            .arg("--");
        // The directory exists only on the tmpfs, which nsenter's --wd does not see: a shell
        // inside changes to it.
        let dir = cmd.get_current_dir().unwrap_or(Path::new("/"));
        c.args(["sh", "-c", "cd \"$0\" && exec \"$@\""])
            .arg(dir)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }
}

#[test]
fn max_age_uses_the_record_on_a_noatime_mount() {
    let env = Env::with_crates(&crates());
    let Some(m) = NoatimeMount::new(env.dir.path()) else {
        return;
    };
    let outside = workspace(&env, 1);
    let mut cp = command("cp");
    cp.arg("-a").arg(&outside).arg(&m.mnt);
    assert_ok(&m.run(&cp).output().unwrap(), "cp");
    let ws = m.mnt.join("ws");
    let target = ws.join("target");
    let ls = |p: &Path| {
        let mut c = command("ls");
        c.arg("-A").arg(p);
        stdout(&m.run(&c).output().unwrap())
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sweep = |args: &[&str], at: Option<u64>| {
        let mut c = janitor(&env, &ws, args);
        if let Some(t) = at {
            c.env("__CARGO_TEST_LAST_USE_NOW", t.to_string());
        }
        let out = m.run(&c).output().unwrap();
        assert_ok(&out, &format!("sweep {args:?}"));
        out
    };
    // Generation 1, recorded as used 40 days ago (Cargo's clock variable moves ours too),
    // and built then: the workspace's files get that build's times.
    sweep(&["sweep", "--used-by", "cargo build"], Some(now - 40 * DAY));
    // Sources too: Cargo rebuilds a path package whose sources are newer than its outputs.
    let mut age = command("find");
    age.arg(&ws)
        .args(["-exec", "touch", "-h", "-d"])
        .arg(format!("@{}", now - 40 * DAY))
        .args(["{}", "+"]);
    assert_ok(&m.run(&age).output().unwrap(), "age generation 1");
    let gen1 = stdout(&{
        let mut c = command("find");
        c.arg(&target)
            .args(["-path", "*/.fingerprint/*", "-maxdepth", "3", "-type", "d"]);
        m.run(&c).output().unwrap()
    });
    // Generation 2, recorded now. A grace period longer than generation 1's age keeps its
    // units from this --used-by run (which would remove them), so that the record keeps
    // their time for --max-age below.
    let mut w = command("sh");
    w.arg("-c").arg(format!(
        "sed -i 's/=1.0.0/=2.0.0/; s/=0.1.0/=0.2.0/' '{ws}/lib/Cargo.toml' '{ws}/app/Cargo.toml'",
        ws = ws.display()
    ));
    assert_ok(&m.run(&w).output().unwrap(), "bump");
    let out = sweep(
        &[
            "sweep",
            "--json",
            "--grace",
            "60 days",
            "--used-by",
            "cargo build",
        ],
        None,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dirs"][0]["removed_units"], 0, "{v:#}");
    assert!(ls(&target).contains(".janitor-use.json"));

    // Without a record, a noatime mount has no signal: nothing is known to be old.
    let mut mv = command("mv");
    mv.arg(target.join(".janitor-use.json"))
        .arg(ws.join("record"));
    assert_ok(&m.run(&mv).output().unwrap(), "mv");
    let out = sweep(
        &[
            "sweep",
            "--json",
            "--max-age",
            "30days",
            "--grace",
            "0 seconds",
        ],
        None,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dirs"][0]["signal"], "none", "{v:#}");
    assert_eq!(v["dirs"][0]["removed_units"], 0);
    let mut mv = command("mv");
    mv.arg(ws.join("record"))
        .arg(target.join(".janitor-use.json"));
    assert_ok(&m.run(&mv).output().unwrap(), "mv back");

    // With it, --max-age removes what the record last saw 40 days ago: generation 1's
    // units that generation 2 does not use. The grace period is off: they were built
    // seconds ago here.
    let out = sweep(
        &[
            "sweep",
            "--json",
            "--max-age",
            "30days",
            "--grace",
            "0 seconds",
        ],
        None,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["dirs"][0];
    assert_eq!(d["signal"], "record", "{v:#}");
    let removed: BTreeSet<String> = d["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["package"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        removed,
        ["alpha", "lib", "app", "pmac"].map(String::from).into(),
        "generation 1's alpha, pmac and what was built on them; gamma is shared: {v:#}"
    );
    for r in d["removed"].as_array().unwrap() {
        let fp = r["paths"][0].as_str().unwrap();
        assert!(gen1.contains(fp), "{fp} is of generation 1");
    }
    let out = m
        .run(&env.cargo(&ws, &["build", "--offline", "-v"]))
        .output()
        .unwrap();
    assert_ok(&out, "cargo build");
    assert!(!stderr(&out).contains("Compiling"), "{}", stderr(&out));
}

#[test]
fn a_target_dir_tag_further_up_does_not_make_other_projects_ours() {
    let env = Env::with_crates(&crates());
    let ws = workspace(&env, 1);
    let other = env.project("other", "alpha = \"=1.0.0\"");
    cargo_ok(&env, &other, &["build"]);
    let other_units = units(&other.join("target"));
    assert!(!other_units.is_empty());
    // The directory holding both projects looks like a target dir (someone once pointed
    // CARGO_TARGET_DIR there).
    std::fs::write(
        env.path("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    std::fs::write(env.path(".rustc_info.json"), "{}").unwrap();
    let v = json(&mut janitor(
        &env,
        &ws,
        &[
            "sweep",
            "--json",
            "--grace",
            "0 seconds",
            "--used-by",
            "cargo build",
        ],
    ));
    let dirs: Vec<&str> = v["dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, [ws.join("target").to_str().unwrap()], "{v:#}");
    assert_eq!(units(&other.join("target")), other_units);
}

#[test]
fn what_the_build_runs_is_never_read_as_cargos_messages() {
    // `cargo test` prints `build-finished`, then runs the tests, whose output shares Cargo's
    // stdout. A test printing a line shaped like Cargo's `compiler-artifact` named another
    // project's target dir, which was then swept: every unit of it went.
    let env = Env::with_crates(&crates());
    let other = env.project("other", "alpha = \"=1.0.0\"");
    cargo_ok(&env, &other, &["build"]);
    let other_target = other.join("target");
    let other_units = units(&other_target);
    assert!(!other_units.is_empty());
    let named = std::fs::read_dir(other_target.join("debug/deps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "rlib"))
        .unwrap();
    let line = serde_json::json!({
        "reason": "compiler-artifact",
        "package_id": "path+file:///nowhere#ghost@0.1.0",
        "filenames": [named],
        "executable": null,
        "fresh": true,
    });
    let proj = env.project("proj", "");
    std::fs::write(
        proj.join("src/main.rs"),
        format!("fn main() {{}}\n#[test]\nfn prints() {{ println!(\"{{}}\", r#\"{line}\"#); }}\n"),
    )
    .unwrap();
    // Both were built seconds ago: this is about what is read, not about age.
    let out = janitor(
        &env,
        &proj,
        &[
            "sweep",
            "--json",
            "--grace",
            "0 seconds",
            "--used-by",
            "cargo test -- --nocapture",
        ],
    )
    .output()
    .unwrap();
    assert_ok(&out, "sweep --used-by \"cargo test\"");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dirs: Vec<&str> = v["dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, [proj.join("target").to_str().unwrap()], "{v:#}");
    assert_eq!(
        units(&other_target),
        other_units,
        "the other project is untouched"
    );
    assert!(
        stderr(&out).contains("\"package_id\":\"path+file:///nowhere#ghost@0.1.0\""),
        "the test's output reaches stderr: {}",
        stderr(&out)
    );
}

#[test]
fn all_keeps_a_noatime_dir_holding_units_no_record_knows() {
    // On a noatime mount the record is the only age there is, and it knows only the units a
    // `--used-by` run saw. `--all` emptied the whole directory when those were old, with the
    // units a plain `cargo build` made since (whose last use is unknown) in it.
    let env = Env::with_crates(&crates());
    let Some(m) = NoatimeMount::new(env.dir.path()) else {
        return;
    };
    let outside = workspace(&env, 1);
    let mut cp = command("cp");
    cp.arg("-a").arg(&outside).arg(&m.mnt);
    assert_ok(&m.run(&cp).output().unwrap(), "cp");
    let ws = m.mnt.join("ws");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Generation 1, built and recorded 40 days ago (the workspace's files get that build's
    // times).
    let mut c = janitor(&env, &ws, &["sweep", "--used-by", "cargo build"]);
    c.env("__CARGO_TEST_LAST_USE_NOW", (now - 40 * DAY).to_string());
    assert_ok(&m.run(&c).output().unwrap(), "sweep --used-by");
    // Sources too: Cargo rebuilds a path package whose sources are newer than its outputs.
    let mut age = command("find");
    age.arg(&ws)
        .args(["-exec", "touch", "-h", "-d"])
        .arg(format!("@{}", now - 40 * DAY))
        .args(["{}", "+"]);
    assert_ok(&m.run(&age).output().unwrap(), "age generation 1");
    // Generation 2, built by a plain cargo: in no record.
    let mut w = command("sh");
    w.arg("-c").arg(format!(
        "sed -i 's/=1.0.0/=2.0.0/; s/=0.1.0/=0.2.0/' '{ws}/lib/Cargo.toml' '{ws}/app/Cargo.toml'",
        ws = ws.display()
    ));
    assert_ok(&m.run(&w).output().unwrap(), "bump");
    assert_ok(
        &m.run(&env.cargo(&ws, &["build"])).output().unwrap(),
        "cargo build",
    );

    // Generation 2 was built seconds ago: this is about what is known, not the grace period.
    let out = m
        .run(&janitor(
            &env,
            &ws,
            &[
                "sweep",
                "--json",
                "--all",
                "--max-age",
                "30days",
                "--grace",
                "0 seconds",
            ],
        ))
        .output()
        .unwrap();
    assert_ok(&out, "sweep --all");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &v["dirs"][0];
    assert_eq!(d["signal"], "record", "{v:#}");
    let removed = d["removed"].as_array().unwrap();
    assert!(
        removed.iter().all(|r| r["kind"] != "target-dir"),
        "not emptied as a whole: {v:#}"
    );
    // What the record saw 40 days ago and nothing rebuilt since goes by --max-age; the
    // units of unknown age stay.
    assert!(!removed.is_empty(), "{v:#}");
    let out = m
        .run(&env.cargo(&ws, &["build", "--offline", "-v"]))
        .output()
        .unwrap();
    assert_ok(&out, "cargo build");
    let err = stderr(&out);
    for kept in ["Fresh alpha v2.0.0", "Fresh pmac v0.2.0"] {
        assert!(err.contains(kept), "{kept}:\n{err}");
    }
}
