//! The concurrency soak of issue #9: `gc` with aggressive limits, `sweep --all --max-age 0`,
//! `sweep --max-age 0` and `trim`, each in a loop, beside real `cargo build`, `check` and
//! `fetch` loops on the same Cargo home and target dirs, with downloads from a local registry
//! that serves every `.crate` slowly.
//!
//! It is a test of this crate (`soak::soak`, ignored: it takes minutes) so that it builds its
//! world with the harness of `tests/it/support`: the registry on 127.0.0.1 (a server thread
//! of this process), local git repositories, everything in one temp dir, and every process
//! made by `support::command` (an allow-listed environment). `tests/soak` runs it; see
//! BENCHMARKS.md for its figures. `soak::soak_short` is the same with 3 iterations of each
//! loop, in `cargo test`.
//!
//! # What makes the janitors work, and the builds download
//!
//! * **New versions all the time**: every build iteration depends on a version of `fresh`
//!   published just before it, and every fetch iteration on a new `churn`: each one downloads
//!   (slowly, `JANITOR_SOAK_DELAY_MS`, default 400 ms per `.crate`).
//! * **Generations**: the build and check loops rotate `lib0`…`lib3` over four versions each,
//!   so units of other versions pile up in their target dirs.
//! * **Old material, all the time** (the grace period keeps everything used in the last 10
//!   minutes, and the soak is shorter than that): a seeder loop `cargo fetch`es the `old*`
//!   crates and a new revision of a git repository with `__CARGO_TEST_LAST_USE_NOW` 30 days
//!   back (a project last fetched a month ago: rows Cargo wrote a month ago), and builds
//!   `oldbuild`, then ages its target dir 30 days (a project last built a month ago). The
//!   seeder only fetches with the old clock: a build with it would lose its sources to the
//!   first `gc` between its extraction and its compilation, as it would with Cargo's own gc.
//!   Cargo's timestamps only move forward, so the seeder never makes a row older.
//! * **Fresh profiles**: every 5th build iteration also builds a profile that does not exist
//!   yet (`--profile rN`), while `sweep` may be locking the others.
//!
//! # What is checked
//!
//! Every cargo run succeeds (each failure is printed with its output); every janitor run exits
//! 0; after the loops, a final quiet `gc`, `sweep` and `trim`, then: every extracted source
//! with a `.cargo-ok` has exactly the files and contents of its `.crate` (as the registry
//! serves it), every `.crate` on disk is byte-identical to the registry's, every git checkout
//! with a `.cargo-ok` has the files of its revision; no `.janitor-trash` is left anywhere;
//! the rows of `.global-cache` name exactly what is on disk (after that final `gc`, whose
//! sync is Cargo's); and every project builds offline.
//!
//! With `JANITOR_SOAK_GRACE="0 seconds"` the janitors run without the grace period: builds
//! then fail (that run is evidence of what the period protects, not a gate), and only the
//! integrity checks (sources, trash, database) are asserted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::*;

struct Config {
    /// Iterations of every loop (at least).
    iterations: usize,
    /// `--grace` for the janitors in the loops (`None`: the default).
    grace: Option<String>,
    /// Milliseconds spent serving each `.crate`.
    delay_ms: u64,
}

impl Config {
    fn from_env() -> Config {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Config {
            iterations: var("JANITOR_SOAK_ITERATIONS").map_or(50, |v| v.parse().unwrap()),
            grace: var("JANITOR_SOAK_GRACE"),
            delay_ms: var("JANITOR_SOAK_DELAY_MS").map_or(400, |v| v.parse().unwrap()),
        }
    }
}

/// The libraries the build and check loops rotate over (4 versions each), and the old ones
/// the seeder fetches.
const LIBS: &[&str] = &["lib0", "lib1", "lib2", "lib3"];
const OLD: &[&str] = &["old0", "old1", "old2", "old3"];
const VERSIONS: usize = 4;
/// Profiles `r0`… declared in app1 for the fresh-profile builds.
const PROFILES: usize = 64;

/// A crate with `files` data files (so that a source has something to compare).
fn lib(name: &str, version: &str, files: usize) -> CrateSpec {
    let mut c = CrateSpec::new(name, version);
    for f in 0..files {
        c = c.file(
            &format!("src/data/f{f}.txt"),
            &format!("{name} {version} file {f}\n").repeat(40),
        );
    }
    c
}

const BUILD_RS: &str = r#"fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for i in 0..20 {
        std::fs::write(out.join(format!("gen{i}.rs")), format!("pub const X{i}: u32 = {i};\n")).unwrap();
    }
}
"#;

fn initial_crates() -> Vec<CrateSpec> {
    let mut v = Vec::new();
    for name in LIBS.iter().chain(OLD) {
        for ver in 0..VERSIONS {
            v.push(lib(name, &format!("1.0.{ver}"), 12));
        }
    }
    v.push(lib("bs", "0.1.0", 4).build_rs(BUILD_RS));
    v
}

/// One failed run, kept to be printed.
struct Failure {
    what: String,
    output: String,
}

#[derive(Default)]
struct Stats {
    /// Iterations of each loop.
    loops: BTreeMap<&'static str, usize>,
    /// Runs of each command.
    runs: BTreeMap<&'static str, usize>,
    failures: Vec<Failure>,
    janitor_failures: Vec<Failure>,
    /// trim's refusals of a lockfile a cargo was rewriting.
    lockfile_refusals: Vec<String>,
    /// Janitor removals by kind.
    removed: BTreeMap<String, u64>,
}

struct Soak {
    cfg: Config,
    env: Env,
    gitdep: GitRepo,
    /// What the registry serves, by `(name, version)`.
    published: Mutex<HashMap<(String, String), CrateSpec>>,
    stats: Mutex<Stats>,
    stop: AtomicBool,
    /// How many loops have done their iterations.
    done: AtomicUsize,
    targets: Vec<PathBuf>,
    workspaces: Vec<PathBuf>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Writes `path` through a rename, so that a cargo reading it never sees half of it.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn manifest(name: &str, deps: &str, extra: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\n{deps}\n{extra}"
    )
}

/// Sets the access and modification times of everything below `dir` to `at`, ignoring what
/// vanishes meanwhile (a sweep may be removing it).
fn age_tree(dir: &Path, at: SystemTime) {
    let times = std::fs::FileTimes::new().set_accessed(at).set_modified(at);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            age_tree(&e.path(), at);
        }
        if (ft.is_dir() || ft.is_file())
            && let Ok(f) = std::fs::File::open(e.path())
        {
            let _ = f.set_times(times);
        }
    }
}

impl Soak {
    fn new(cfg: Config) -> Soak {
        let crates = initial_crates();
        let env = Env::with_crates(&crates);
        let gitdep = env.git_repo("gitdep");
        let published = crates
            .into_iter()
            .map(|c| ((c.name.clone(), c.version.clone()), c))
            .collect();
        let mut profiles = String::new();
        for p in 0..PROFILES {
            profiles.push_str(&format!("[profile.r{p}]\ninherits = \"release\"\n"));
        }
        for (name, extra) in [
            ("app1", profiles.as_str()),
            ("app2", ""),
            ("fetcher", ""),
            ("oldfetch", ""),
            ("oldbuild", ""),
        ] {
            let p = env.project(name, "");
            // Kept in the manifest so that every rewrite keeps the profiles.
            std::fs::write(p.join("extra.toml"), extra).unwrap();
        }
        let targets = ["app1", "app2", "oldbuild"]
            .iter()
            .map(|p| env.path(p).join("target"))
            .collect();
        let workspaces = ["app1", "app2", "oldbuild"]
            .iter()
            .map(|p| env.path(p))
            .collect();
        Soak {
            cfg,
            env,
            gitdep,
            published: Mutex::new(published),
            stats: Mutex::default(),
            stop: AtomicBool::new(false),
            done: AtomicUsize::new(0),
            targets,
            workspaces,
        }
    }

    fn publish(&self, c: CrateSpec) {
        self.env.registry.publish(&c);
        self.published
            .lock()
            .unwrap()
            .insert((c.name.clone(), c.version.clone()), c);
    }

    fn set_deps(&self, project: &str, deps: &str) {
        let p = self.env.path(project);
        let extra = std::fs::read_to_string(p.join("extra.toml")).unwrap();
        write_atomic(&p.join("Cargo.toml"), &manifest(project, deps, &extra));
    }

    /// Runs a cargo command in `project` and records it (with its output if it failed).
    fn cargo(&self, what: &'static str, project: &str, args: &[&str], env: &[(&str, String)]) {
        let mut c = self.env.cargo(&self.env.path(project), args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let mut s = self.stats.lock().unwrap();
        *s.runs.entry(what).or_default() += 1;
        if !out.status.success() {
            s.failures.push(Failure {
                what: format!(
                    "{what}: cargo {} in {project} ({})",
                    args.join(" "),
                    out.status
                ),
                output: stderr(&out),
            });
        }
    }

    /// Runs a janitor command with `--json` (and the soak's `--grace`), and records it.
    fn janitor(&self, what: &'static str, args: &[&str]) {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push("--json".into());
        if let Some(g) = &self.cfg.grace {
            a.push("--grace".into());
            a.push(g.clone());
        }
        for t in &self.targets {
            if args[0] == "sweep" {
                a.push(t.display().to_string());
            }
        }
        if args[0] == "trim" {
            for w in &self.workspaces {
                a.push("--workspace".into());
                a.push(w.display().to_string());
            }
        }
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = self.env.janitor(&a).output().unwrap();
        let mut s = self.stats.lock().unwrap();
        *s.runs.entry(what).or_default() += 1;
        // trim refuses (exit 2, nothing removed) a Cargo.lock it read while a cargo was
        // rewriting it (cargo truncates it, then writes it): counted and shown, not a failure.
        if out.status.code() == Some(2) && stderr(&out).contains("it lists no packages") {
            s.lockfile_refusals.push(stderr(&out));
            return;
        }
        if !out.status.success() {
            s.janitor_failures.push(Failure {
                what: format!("{what}: cargo-janitor {} ({})", a.join(" "), out.status),
                output: format!("{}{}", stdout(&out), stderr(&out)),
            });
            return;
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut add = |k: String, n: u64| *s.removed.entry(k).or_default() += n;
        match args[0] {
            "gc" => {
                for r in v["removed"].as_array().into_iter().flatten() {
                    add(format!("gc {}", r["kind"].as_str().unwrap_or("?")), 1);
                }
            }
            "sweep" => {
                for d in v["dirs"].as_array().into_iter().flatten() {
                    for r in d["removed"].as_array().into_iter().flatten() {
                        add(format!("{what} {}", r["kind"].as_str().unwrap_or("?")), 1);
                    }
                }
            }
            _ => {
                for p in v["parts"].as_array().into_iter().flatten() {
                    let part = p["part"].as_str().unwrap_or("?");
                    for r in p["removed"].as_array().into_iter().flatten() {
                        let kind = r["kind"].as_str().unwrap_or("?");
                        if kind != "index-entry" {
                            add(format!("trim {part} {kind}"), 1);
                        }
                    }
                }
            }
        }
    }

    /// Runs `step(i)` for i = 0, 1, … until every loop has done its iterations (or a stop).
    fn run_loop(&self, name: &'static str, step: impl Fn(usize)) {
        let n = self.cfg.iterations;
        let loops = LOOPS;
        let mut i = 0;
        while !self.stop.load(Ordering::SeqCst) {
            if i == n {
                self.done.fetch_add(1, Ordering::SeqCst);
            }
            if i >= n && self.done.load(Ordering::SeqCst) >= loops {
                break;
            }
            step(i);
            *self.stats.lock().unwrap().loops.entry(name).or_default() += 1;
            i += 1;
        }
    }

    /// A pause of 0.2 to 1.5 s between janitor runs, varied by iteration.
    fn pause(&self, i: usize, salt: usize) {
        let ms = 200 + (i * 7919 + salt * 104_729) % 1300;
        std::thread::sleep(Duration::from_millis(ms as u64));
    }

    fn build_step(&self, i: usize) {
        let v = format!("1.0.{i}");
        self.publish(lib("fresh", &v, 6));
        self.set_deps(
            "app1",
            &format!(
                "lib0 = \"=1.0.{}\"\nlib1 = \"=1.0.{}\"\nbs = \"0.1\"\nfresh = \"={v}\"\n\
                 gitdep = {{ git = \"{}\" }}",
                i % VERSIONS,
                (i / 2) % VERSIONS,
                self.gitdep.url()
            ),
        );
        self.cargo("cargo build", "app1", &["build"], &[]);
        if i % 5 == 4 {
            let profile = format!("r{}", (i / 5) % PROFILES);
            self.cargo(
                "cargo build --profile (new)",
                "app1",
                &["build", "--profile", &profile],
                &[],
            );
        }
    }

    fn check_step(&self, i: usize) {
        self.set_deps(
            "app2",
            &format!(
                "lib2 = \"=1.0.{}\"\nlib3 = \"=1.0.{}\"\nbs = \"0.1\"\ngitdep = {{ git = \"{}\" }}",
                i % VERSIONS,
                (i / 3) % VERSIONS,
                self.gitdep.url()
            ),
        );
        self.cargo("cargo check", "app2", &["check"], &[]);
        self.cargo("cargo check", "app1", &["check"], &[]);
    }

    fn fetch_step(&self, i: usize) {
        let v = format!("1.0.{i}");
        self.publish(lib("churn", &v, 6));
        self.set_deps(
            "fetcher",
            &format!("churn = \"={v}\"\nlib0 = \"1\"\nlib3 = \"1\""),
        );
        self.cargo("cargo fetch", "fetcher", &["fetch"], &[]);
    }

    /// A new commit on `gitdep`'s branch `seed`, made without moving `main` (which the
    /// build and check loops follow).
    fn seed_commit(&self, i: usize) -> String {
        let repo = &self.gitdep;
        let parent = repo.git(&["rev-parse", "main"]).trim().to_owned();
        let tree = repo.git(&["rev-parse", "main^{tree}"]).trim().to_owned();
        let c = repo
            .git(&[
                "commit-tree",
                &tree,
                "-p",
                &parent,
                "-m",
                &format!("seed {i}"),
            ])
            .trim()
            .to_owned();
        repo.git(&["update-ref", "refs/heads/seed", &c]);
        c
    }

    fn seed_step(&self, i: usize) {
        // A project last fetched a month ago. Its git dependency is a new revision of the
        // repository the builds use (a checkout with a month-old row); a git database of its
        // own would be deleted between the two saves of the month-old cargo, which Cargo's
        // cache of row ids does not survive (its own gc would do the same).
        let rev = self.seed_commit(i);
        let mut deps = String::new();
        for (k, name) in OLD.iter().enumerate() {
            deps.push_str(&format!("{name} = \"=1.0.{}\"\n", (i + k) % VERSIONS));
        }
        deps.push_str(&format!(
            "gitdep = {{ git = \"{}\", rev = \"{rev}\" }}",
            self.gitdep.url()
        ));
        self.set_deps("oldfetch", &deps);
        let month_ago = unix_now() - 30 * DAY;
        self.cargo(
            "cargo fetch (a month ago)",
            "oldfetch",
            &["fetch"],
            &[("__CARGO_TEST_LAST_USE_NOW", month_ago.to_string())],
        );
        // A project last built a month ago.
        self.set_deps(
            "oldbuild",
            &format!(
                "lib0 = \"=1.0.{}\"\nlib2 = \"=1.0.{}\"\nbs = \"0.1\"",
                (i + 2) % VERSIONS,
                (i + 1) % VERSIONS
            ),
        );
        self.cargo("cargo build (then aged)", "oldbuild", &["build"], &[]);
        age_tree(
            &self.env.path("oldbuild/target"),
            SystemTime::now() - Duration::from_secs(30 * DAY),
        );
    }

    fn gc_step(&self, i: usize) {
        if i.is_multiple_of(2) {
            self.janitor(
                "gc (ages 0)",
                &[
                    "gc",
                    "--max-src-age",
                    "0 days",
                    "--max-crate-age",
                    "0 days",
                    "--max-git-co-age",
                    "0 days",
                    "--max-git-db-age",
                    "0 days",
                    "--max-index-age",
                    "0 days",
                ],
            );
        } else {
            self.janitor(
                "gc (sizes 0)",
                &[
                    "gc",
                    "--max-src-size",
                    "0",
                    "--max-crate-size",
                    "0",
                    "--max-git-size",
                    "0",
                    "--max-download-size",
                    "0",
                ],
            );
        }
        self.pause(i, 1);
    }

    fn sweep_step(&self, i: usize) {
        if i.is_multiple_of(2) {
            self.janitor("sweep --all", &["sweep", "--all", "--max-age", "0 days"]);
        } else {
            self.janitor(
                "sweep --max-age",
                &["sweep", "--max-age", "0 days", "--incremental"],
            );
        }
        self.pause(i, 2);
    }

    fn trim_step(&self, i: usize) {
        self.janitor("trim", &["trim", "--yes"]);
        self.pause(i, 3);
    }
}

/// The loops of [`run`]: build, check, fetch, seed, gc, sweep, trim.
const LOOPS: usize = 7;

/// Every file below `dir` (relative, `/`-separated) with its contents, except `.cargo-ok`.
fn files_below(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn go(base: &Path, p: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                go(base, &e.path(), out);
            } else if rel != ".cargo-ok" {
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    go(dir, dir, &mut out);
    out
}

/// The files of a `.crate` below its `<name>-<version>/` prefix.
fn crate_files(tarball: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().into_owned();
        let rel: PathBuf = path.components().skip(1).collect();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        out.insert(rel.display().to_string(), body);
    }
    out
}

/// Every `.janitor-trash` below `dir`.
fn trash_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if e.file_name() == ".janitor-trash" {
            out.push(e.path());
        } else {
            trash_below(&e.path(), out);
        }
    }
}

/// What the final checks found.
#[derive(Default, Debug)]
struct Integrity {
    sources_checked: usize,
    sources_incomplete: usize,
    corrupt: Vec<String>,
    crates_checked: usize,
    checkouts_checked: usize,
    trash: Vec<PathBuf>,
    db_mismatches: Vec<String>,
}

impl Soak {
    fn check_integrity(&self) -> Integrity {
        let mut r = Integrity::default();
        let home = &self.env.home;
        let reg = only_registry(home);
        let published = self.published.lock().unwrap();
        let split = |d: &str| -> Option<(String, String)> {
            let (n, v) = d.rsplit_once('-')?;
            Some((n.to_owned(), v.to_owned()))
        };
        let src = home.join("registry/src").join(&reg);
        for d in dirs_in(&src) {
            if !src.join(&d).join(".cargo-ok").exists() {
                r.sources_incomplete += 1;
                continue;
            }
            r.sources_checked += 1;
            let Some(spec) = split(&d).and_then(|k| published.get(&k)) else {
                r.corrupt.push(format!("{d}: not a published crate"));
                continue;
            };
            let want = crate_files(&spec.tarball());
            let have = files_below(&src.join(&d));
            if want != have {
                let w: BTreeSet<_> = want.keys().collect();
                let h: BTreeSet<_> = have.keys().collect();
                r.corrupt.push(format!(
                    "registry/src/{reg}/{d}: differs from its .crate (missing {:?}, extra {:?}, \
                     changed {:?})",
                    w.difference(&h).collect::<Vec<_>>(),
                    h.difference(&w).collect::<Vec<_>>(),
                    w.intersection(&h)
                        .filter(|k| want[**k] != have[**k])
                        .collect::<Vec<_>>()
                ));
            }
        }
        let cache = home.join("registry/cache").join(&reg);
        for e in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".crate") else {
                continue;
            };
            r.crates_checked += 1;
            let ok = split(stem)
                .and_then(|k| published.get(&k))
                .is_some_and(|spec| std::fs::read(e.path()).unwrap() == spec.tarball());
            if !ok {
                r.corrupt
                    .push(format!("registry/cache/{reg}/{name}: not the registry's"));
            }
        }
        // Git checkouts: the files of their revision.
        let checkouts = home.join("git/checkouts");
        for db in dirs_in(&checkouts) {
            for rev in dirs_in(&checkouts.join(&db)) {
                let dir = checkouts.join(&db).join(&rev);
                if !dir.join(".cargo-ok").exists() {
                    continue;
                }
                r.checkouts_checked += 1;
                let repo = &self.gitdep;
                let mut want = BTreeMap::new();
                for path in repo.git(&["ls-tree", "-r", "--name-only", &rev]).lines() {
                    let out = command("git")
                        .args(["show", &format!("{rev}:{path}")])
                        .current_dir(&repo.path)
                        .output()
                        .unwrap();
                    assert_ok(&out, "git show");
                    want.insert(path.to_owned(), out.stdout);
                }
                let mut have = files_below(&dir);
                have.remove(".git");
                have.retain(|k, _| !k.starts_with(".git/") && k != ".git");
                if want != have {
                    r.corrupt.push(format!(
                        "git/checkouts/{db}/{rev}: differs from its revision"
                    ));
                }
            }
        }
        trash_below(self.env.dir.path(), &mut r.trash);
        // The database names exactly what is on disk.
        let conn = rusqlite::Connection::open(home.join(".global-cache")).unwrap();
        let rows = |sql: &str| -> BTreeSet<String> {
            let mut st = conn.prepare(sql).unwrap();
            st.query_map([], |row| row.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let files = |dir: &Path| -> BTreeSet<String> {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        let mut compare = |what: &str, db: BTreeSet<String>, disk: BTreeSet<String>| {
            for x in db.difference(&disk) {
                r.db_mismatches
                    .push(format!("{what}: row without an entry on disk: {x}"));
            }
            for x in disk.difference(&db) {
                r.db_mismatches
                    .push(format!("{what}: entry on disk without a row: {x}"));
            }
        };
        compare(
            "registry_index",
            rows("SELECT name FROM registry_index"),
            files(&home.join("registry/index")),
        );
        compare(
            "registry_crate",
            rows("SELECT name FROM registry_crate"),
            files(&cache),
        );
        compare(
            "registry_src",
            rows("SELECT name FROM registry_src"),
            files(&src),
        );
        compare(
            "git_db",
            rows("SELECT name FROM git_db"),
            files(&home.join("git/db")),
        );
        let mut co_disk = BTreeSet::new();
        for db in dirs_in(&checkouts) {
            for rev in files(&checkouts.join(&db)) {
                co_disk.insert(format!("{db}/{rev}"));
            }
        }
        compare(
            "git_checkout",
            rows(
                "SELECT d.name || '/' || c.name FROM git_checkout c JOIN git_db d ON c.git_id = d.id",
            ),
            co_disk,
        );
        r
    }
}

/// What a failed cargo run ran into, in a few words.
fn failure_kind(stderr: &str) -> &'static str {
    if stderr.contains("global_cache_tracker.rs") {
        "cargo panicked: a .global-cache row it had read was deleted before its next save"
    } else if stderr.contains("failed to run custom build command") {
        "a build script's sources or outputs vanished"
    } else if stderr.contains("could not compile") || stderr.contains("No such file") {
        "sources vanished while compiling"
    } else {
        "other"
    }
}

/// Runs the soak with `cfg` and asserts what the mode promises (see the module docs).
fn run(cfg: Config) {
    let grace_off = cfg.grace.is_some();
    let started = Instant::now();
    let s = Soak::new(cfg);
    // Setup: one of each cargo step, so that every target dir exists; then slow downloads.
    s.build_step(0);
    s.check_step(0);
    s.fetch_step(0);
    s.seed_step(0);
    s.env
        .registry
        .slow_downloads(Duration::from_millis(s.cfg.delay_ms));
    let downloads_before = s.env.registry.downloads();
    let loops_started = Instant::now();
    std::thread::scope(|sc| {
        let s = &s;
        sc.spawn(move || s.run_loop("build", |i| s.build_step(i + 1)));
        sc.spawn(move || s.run_loop("check", |i| s.check_step(i + 1)));
        sc.spawn(move || s.run_loop("fetch", |i| s.fetch_step(i + 1)));
        sc.spawn(move || s.run_loop("seed", |i| s.seed_step(i + 1)));
        sc.spawn(move || s.run_loop("gc", |i| s.gc_step(i)));
        sc.spawn(move || s.run_loop("sweep", |i| s.sweep_step(i)));
        sc.spawn(move || s.run_loop("trim", |i| s.trim_step(i)));
    });
    let loops_took = loops_started.elapsed();
    let downloads = s.env.registry.downloads() - downloads_before;
    // A final quiet run of each janitor command, with the default grace period.
    let quiet = |args: &[&str]| {
        let mut a: Vec<String> = args.iter().map(|x| x.to_string()).collect();
        if args[0] == "sweep" {
            a.extend(s.targets.iter().map(|t| t.display().to_string()));
        }
        if args[0] == "trim" {
            for w in &s.workspaces {
                a.push("--workspace".into());
                a.push(w.display().to_string());
            }
        }
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = s.env.janitor(&a).output().unwrap();
        assert_ok(&out, &format!("final quiet {}", a.join(" ")));
    };
    quiet(&["sweep", "--max-age", "0 days"]);
    quiet(&["trim", "--yes"]);
    quiet(&["gc", "--max-src-age", "0 days", "--max-crate-age", "0 days"]);
    let integrity = s.check_integrity();
    // Every project builds offline afterwards.
    let mut offline = Vec::new();
    for p in ["app1", "app2", "oldbuild"] {
        let out = s
            .env
            .cargo(&s.env.path(p), &["build", "--offline"])
            .output()
            .unwrap();
        if !out.status.success() {
            offline.push(format!("{p}: {}", stderr(&out)));
        }
    }

    let st = s.stats.lock().unwrap();
    let cargo_runs: usize = st
        .runs
        .iter()
        .filter(|(k, _)| k.starts_with("cargo"))
        .map(|(_, v)| v)
        .sum();
    println!(
        "== soak: grace {:?}, delay {} ms per .crate",
        s.cfg.grace.as_deref().unwrap_or("10 minutes (default)"),
        s.cfg.delay_ms
    );
    println!(
        "loops ran {:.0} s, whole soak {:.0} s",
        loops_took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for (k, v) in &st.loops {
        println!("  {v:4} iterations of the {k} loop");
    }
    for (k, v) in &st.runs {
        println!("  {v:4} × {k}");
    }
    println!(".crate downloads during the loops: {downloads}");
    for (k, v) in &st.removed {
        println!("  removed {v:5} × {k}");
    }
    println!(
        "cargo runs: {cargo_runs}, failed: {}; janitor runs failed: {}",
        st.failures.len(),
        st.janitor_failures.len()
    );
    println!(
        "sources checked {} (incomplete, without .cargo-ok: {}), .crate files {}, git checkouts {}; \
         corrupt: {}; trash left: {}; database mismatches: {}; offline builds failed: {}",
        integrity.sources_checked,
        integrity.sources_incomplete,
        integrity.crates_checked,
        integrity.checkouts_checked,
        integrity.corrupt.len(),
        integrity.trash.len(),
        integrity.db_mismatches.len(),
        offline.len()
    );
    println!(
        "trim runs that refused a Cargo.lock a cargo was rewriting (exit 2, nothing removed): {}",
        st.lockfile_refusals.len()
    );
    for r in &st.lockfile_refusals {
        print!("  {r}");
    }
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &st.failures {
        *kinds.entry(failure_kind(&f.output)).or_default() += 1;
    }
    for (k, v) in &kinds {
        println!("  failed {v:4} × {k}");
    }
    for f in st.failures.iter().chain(&st.janitor_failures) {
        println!("---- FAILED {}\n{}", f.what, f.output);
    }
    for c in &integrity.corrupt {
        println!("CORRUPT {c}");
    }
    for m in &integrity.db_mismatches {
        println!("DB {m}");
    }
    for o in &offline {
        println!("OFFLINE BUILD FAILED {o}");
    }
    // Every loop did its iterations; each kind of run happened (loops alternate some kinds,
    // e.g. gc's ages and sizes, so a kind's own count depends on timing).
    for (k, v) in &st.loops {
        assert!(*v >= s.cfg.iterations, "the {k} loop ran {v} times");
    }
    for (k, v) in &st.runs {
        assert!(*v > 0, "{k} never ran");
    }
    assert!(integrity.corrupt.is_empty(), "corrupt sources");
    assert!(
        integrity.trash.is_empty(),
        "trash left: {:?}",
        integrity.trash
    );
    assert!(
        integrity.db_mismatches.is_empty(),
        "database and disk differ"
    );
    if !grace_off {
        assert!(st.failures.is_empty(), "cargo runs failed");
        assert!(st.janitor_failures.is_empty(), "janitor runs failed");
        assert!(offline.is_empty(), "offline builds failed");
    }
}

#[test]
#[ignore = "minutes long: run by tests/soak"]
fn soak() {
    run(Config::from_env());
}

/// The soak with 3 iterations of each loop: every check of the long run, in `cargo test`.
#[test]
fn soak_short() {
    run(Config {
        iterations: 3,
        grace: None,
        delay_ms: 400,
    });
}
