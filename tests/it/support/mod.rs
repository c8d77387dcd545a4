//! The test harness: a temp CARGO_HOME per test, a local sparse registry on 127.0.0.1, local
//! git repositories, the real cargo from PATH, and our binary.
//!
//! Every process a test starts is made by [`command`] (which [`cargo_in`] and [`janitor_in`]
//! use), and gets an environment built from an allow list, not the developer's: see
//! [`command`]. Projects and Cargo homes live in temp dirs, so no `.cargo/config.toml` of the
//! developer's applies either.

#![allow(dead_code)]

pub mod registry;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

pub use registry::{CrateSpec, Registry};

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// A fixed "now" for time travel: 2026-01-01T00:00:00Z. Tests age entries relative to it.
pub const T0: u64 = 1_767_225_600;

/// A build script that waits while the file named by `JANITOR_TEST_HOLD` exists (at most 120 s).
pub const HOLD_BUILD_RS: &str = r#"fn main() {
    println!("cargo:rerun-if-env-changed=JANITOR_TEST_HOLD");
    if let Ok(p) = std::env::var("JANITOR_TEST_HOLD") {
        std::fs::write(format!("{p}.started"), b"").unwrap();
        let start = std::time::Instant::now();
        while std::path::Path::new(&p).exists() && start.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
"#;

/// The crates every test registry serves.
pub fn standard_crates() -> Vec<CrateSpec> {
    let data = "x".repeat(3000);
    vec![
        CrateSpec::new("alpha", "1.0.0").file("src/data.txt", &data),
        CrateSpec::new("alpha", "1.1.0").file("src/data.txt", &data),
        CrateSpec::new("alpha", "2.0.0").file("src/data.txt", &data),
        CrateSpec::new("beta", "0.1.0").dep("alpha", "^1"),
        CrateSpec::new("beta", "0.2.0").dep("alpha", "^2"),
        CrateSpec::new("gamma", "0.1.0").build_rs(HOLD_BUILD_RS),
        CrateSpec::new("delta", "1.0.0"),
    ]
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub registry: Registry,
}

impl Env {
    /// A temp dir with an empty CARGO_HOME whose config replaces crates.io with the local
    /// registry.
    pub fn new() -> Env {
        Self::with_crates(&standard_crates())
    }

    pub fn with_crates(crates: &[CrateSpec]) -> Env {
        Self::with_crates_in(
            crates,
            tempfile::Builder::new()
                .prefix("janitor-test")
                .tempdir()
                .unwrap(),
        )
    }

    pub fn with_crates_in(crates: &[CrateSpec], dir: tempfile::TempDir) -> Env {
        let home = dir.path().join("cargo-home");
        std::fs::create_dir_all(&home).unwrap();
        let registry = Registry::start(crates);
        std::fs::write(
            home.join("config.toml"),
            format!(
                "[source.crates-io]\nreplace-with = \"janitor-test\"\n\n\
                 [source.janitor-test]\nregistry = \"{}\"\n",
                registry.index_url()
            ),
        )
        .unwrap();
        Env {
            dir,
            home,
            registry,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A binary project `name` with the given `[dependencies]` lines.
    pub fn project(&self, name: &str, deps: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.join("src")).unwrap();
        std::fs::write(
            p.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\n{deps}\n"
            ),
        )
        .unwrap();
        std::fs::write(p.join("src/main.rs"), "fn main() {}\n").unwrap();
        p
    }

    /// The real cargo, in `dir`, with this test's CARGO_HOME and no automatic clean.
    pub fn cargo(&self, dir: &Path, args: &[&str]) -> Command {
        cargo_in(&self.home, dir, args)
    }

    /// `cargo build` at time `now` (unix seconds, as cargo records last use).
    pub fn build_at(&self, dir: &Path, now: u64) -> Output {
        let out = self
            .cargo(dir, &["build"])
            .env("__CARGO_TEST_LAST_USE_NOW", now.to_string())
            .output()
            .unwrap();
        assert_ok(&out, "cargo build");
        out
    }

    /// Our binary, with `--cargo-home` set to this test's home and no colour.
    pub fn janitor(&self, args: &[&str]) -> Command {
        janitor_in(&self.home, self.dir.path(), args)
    }

    /// A local git repository holding a library crate `name`, committed once.
    pub fn git_repo(&self, name: &str) -> GitRepo {
        let path = self.path(&format!("git-{name}"));
        std::fs::create_dir_all(path.join("src")).unwrap();
        std::fs::write(
            path.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        )
        .unwrap();
        std::fs::write(path.join("src/lib.rs"), "pub fn hello() {}\n").unwrap();
        let repo = GitRepo { path };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.commit("first");
        repo
    }
}

/// The variables [`command`] sets, and the only ones a process the tests start gets unless the
/// test sets more itself. `RUSTUP_HOME` is left out when there is no rustup.
pub const ALLOWED_ENV: &[&str] = &[
    "PATH",
    "RUSTUP_HOME",
    "RUSTUP_AUTO_INSTALL",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
];

/// Every process a test starts is made here, directly (`flock`, `bash`, `python3`, `git`,
/// `kill`, `du`, …) or through [`cargo_in`] and [`janitor_in`].
///
/// Its environment is built from an allow list ([`ALLOWED_ENV`]), never inherited: `PATH`;
/// `RUSTUP_HOME` (this process's, or `$HOME/.rustup`), so that rustup's proxies and
/// `cargo +nightly` work; `RUSTUP_AUTO_INSTALL=0`, so that no test downloads a toolchain;
/// `HOME` and `TMPDIR` inside this test process's own temp dir ([`run_dir`]); `LANG` and
/// `LC_ALL` set to `C`, for messages in one language; a git identity, no system git config
/// and an empty global one. Nothing else of the developer's reaches cargo, rustc, git or our
/// binary: not `CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_BUILD_*`, `CARGO_INCREMENTAL`,
/// `RUSTFLAGS`, `RUSTC_WRAPPER`, `RUSTUP_TOOLCHAIN`, `__CARGO_TEST_LAST_USE_NOW`, `CI`,
/// `GIT_*`, … A test adds what it needs with `.env(…)`.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let run = run_dir();
    let mut c = Command::new(program);
    c.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    if let Some(rustup) = rustup_home() {
        c.env("RUSTUP_HOME", rustup);
    }
    c.env("RUSTUP_AUTO_INSTALL", "0")
        .env("HOME", &run.home)
        .env("TMPDIR", &run.tmp)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", &run.gitconfig)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
    c
}

/// Where rustup keeps its toolchains for the developer: `RUSTUP_HOME`, else `$HOME/.rustup`
/// when it exists (read before [`command`] moves `HOME`). `None` without rustup.
pub fn rustup_home() -> Option<PathBuf> {
    static R: OnceLock<Option<PathBuf>> = OnceLock::new();
    R.get_or_init(|| {
        std::env::var_os("RUSTUP_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".rustup"))
                    .filter(|p| p.is_dir())
            })
    })
    .clone()
}

/// Our binary with `--cargo-home home`, in `dir`, with [`command`]'s environment.
pub fn janitor_in(home: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = command(env!("CARGO_BIN_EXE_cargo-janitor"));
    c.arg("--cargo-home").arg(home).args(args).current_dir(dir);
    c
}

/// The real cargo from PATH with CARGO_HOME `home`, in `dir`, with [`command`]'s environment,
/// no automatic clean, no colour and no debug info.
pub fn cargo_in(home: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut c = command("cargo");
    c.args(args)
        .current_dir(dir)
        .env("CARGO_HOME", home)
        .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_PROFILE_DEV_DEBUG", "0");
    c
}

/// This test process's own directory under the system temp dir: the `HOME` (empty), `TMPDIR`
/// and empty global git config that [`command`] gives every process, and [`populated`]'s
/// build. It is removed when the process exits; one left by a killed run is removed by the
/// next (its `.alive` file is locked while its process lives).
pub struct RunDir {
    pub path: PathBuf,
    pub home: PathBuf,
    pub tmp: PathBuf,
    pub gitconfig: PathBuf,
}

const RUN_DIR_PREFIX: &str = "janitor-run-";

pub fn run_dir() -> &'static RunDir {
    static R: OnceLock<RunDir> = OnceLock::new();
    R.get_or_init(|| {
        let base = std::env::temp_dir();
        remove_stale_run_dirs(&base);
        let path = tempfile::Builder::new()
            .prefix(RUN_DIR_PREFIX)
            .tempdir_in(&base)
            .unwrap()
            .keep();
        remove_at_exit(&path);
        // Locked before it gets its name, so that no other run ever sees it unlocked.
        let alive = std::fs::File::create(path.join(".alive.new")).unwrap();
        alive.lock().unwrap();
        std::fs::rename(path.join(".alive.new"), path.join(".alive")).unwrap();
        static ALIVE: OnceLock<std::fs::File> = OnceLock::new();
        ALIVE.set(alive).unwrap();
        let run = RunDir {
            home: path.join("home"),
            tmp: path.join("tmp"),
            gitconfig: path.join("gitconfig"),
            path,
        };
        std::fs::create_dir(&run.home).unwrap();
        std::fs::create_dir(&run.tmp).unwrap();
        std::fs::write(&run.gitconfig, "").unwrap();
        run
    })
}

/// Removes the run dirs of test processes that are gone: those whose `.alive` lock we get.
fn remove_stale_run_dirs(base: &Path) {
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        if !e.file_name().to_string_lossy().starts_with(RUN_DIR_PREFIX)
            || !e.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let Ok(alive) = std::fs::File::open(e.path().join(".alive")) else {
            continue;
        };
        if alive.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes `dir` when this process exits normally (statics are never dropped).
fn remove_at_exit(dir: &Path) {
    static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    extern "C" fn remove_all() {
        if let Ok(dirs) = DIRS.lock() {
            for d in dirs.iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let mut dirs = DIRS.lock().unwrap();
    if dirs.is_empty() {
        // SAFETY: registers a plain function, which neither unwinds nor needs anything
        // but the static above.
        assert_eq!(unsafe { libc::atexit(remove_all) }, 0);
    }
    dirs.push(dir.to_owned());
}

/// Whether `cargo +nightly` can run here.
pub fn nightly() -> bool {
    static N: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        let run = run_dir();
        cargo_in(
            &run.path.join("no-cargo-home"),
            &run.tmp,
            &["+nightly", "--version"],
        )
        .output()
        .is_ok_and(|o| o.status.success())
    })
}

/// Every path below `home`, relative, except the database files (which both sides change).
pub fn paths_under(home: &Path) -> std::collections::BTreeSet<String> {
    fn go(base: &Path, p: &Path, out: &mut std::collections::BTreeSet<String>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if rel.starts_with(".global-cache") {
                continue;
            }
            out.insert(rel);
            if e.file_type().unwrap().is_dir() {
                go(base, &e.path(), out);
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    go(home, home, &mut out);
    out
}

/// Everything about the tree at `root` that a write could change, access times aside: for
/// `root` and every path below it (relative, in order), its type, permissions, size and
/// modification time, and a file's content hash or a symlink's target. Symlinks are not
/// followed.
pub fn tree_state(root: &Path) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    fn go(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let m = p
            .symlink_metadata()
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let t = m.file_type();
        let what = if t.is_file() {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let hash: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("file sha256:{hash}")
        } else if t.is_symlink() {
            format!("symlink -> {}", std::fs::read_link(p).unwrap().display())
        } else if t.is_dir() {
            "dir".to_owned()
        } else {
            "other".to_owned()
        };
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        out.insert(
            format!("./{rel}"),
            format!(
                "{what} mode:{:o} size:{} mtime:{}.{:09}",
                m.mode(),
                m.len(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
        if t.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                go(root, &e.unwrap().path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, root, &mut out);
    out
}

/// The differences between two [`tree_state`]s, one line each, or an empty string.
pub fn tree_diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut d = String::new();
    for (p, b) in before {
        match after.get(p) {
            None => d.push_str(&format!("removed  {p}: {b}\n")),
            Some(a) if a != b => d.push_str(&format!("changed  {p}: {b}\n      to {a}\n")),
            _ => {}
        }
    }
    for (p, a) in after {
        if !before.contains_key(p) {
            d.push_str(&format!("added    {p}: {a}\n"));
        }
    }
    d
}

/// Every row of `.global-cache`, with parent names instead of ids.
pub fn db_dump(home: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(home.join(".global-cache")).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT 'index', name, '', NULL, timestamp FROM registry_index",
        "SELECT 'crate', p.name, c.name, c.size, c.timestamp FROM registry_crate c JOIN registry_index p ON c.registry_id = p.id",
        "SELECT 'src', p.name, c.name, c.size, c.timestamp FROM registry_src c JOIN registry_index p ON c.registry_id = p.id",
        "SELECT 'git', name, '', NULL, timestamp FROM git_db",
        "SELECT 'co', p.name, c.name, c.size, c.timestamp FROM git_checkout c JOIN git_db p ON c.git_id = p.id",
        "SELECT 'gc', '', '', NULL, last_auto_gc FROM global_data",
    ] {
        let mut st = conn.prepare(sql).unwrap();
        let rows = st
            .query_map([], |r| {
                Ok(format!(
                    "{} {} {} {:?} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out.sort();
    out
}

pub struct GitRepo {
    pub path: PathBuf,
}

impl GitRepo {
    pub fn url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    pub fn git(&self, args: &[&str]) -> String {
        // The identity comes from `command`'s environment.
        let out = command("git")
            .args(args)
            .current_dir(&self.path)
            .output()
            .unwrap();
        assert_ok(&out, "git");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Commits a change and returns the new revision.
    pub fn commit(&self, msg: &str) -> String {
        std::fs::write(
            self.path.join("src/lib.rs"),
            format!("pub fn hello() {{}}\n// {msg}\n"),
        )
        .unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs and parses `--json` output.
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().unwrap();
    assert_ok(&out, "janitor");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}):\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        )
    })
}

/// Apparent bytes of the regular files below `p` (hard links once), computed without the
/// crate's walker.
pub fn file_bytes(p: &Path) -> u64 {
    file_bytes_in_order(&[p])[0]
}

/// [`file_bytes`] of several paths in order, a hard-linked file counting only where it is
/// first met.
pub fn file_bytes_in_order(paths: &[&Path]) -> Vec<u64> {
    fn go(p: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(m) = p.symlink_metadata() else {
            return 0;
        };
        if m.is_dir() {
            let mut total = 0;
            for e in std::fs::read_dir(p).unwrap() {
                total += go(&e.unwrap().path(), seen);
            }
            total
        } else if m.is_file() && seen.insert((m.dev(), m.ino())) {
            m.len()
        } else {
            0
        }
    }
    let mut seen = HashSet::new();
    paths.iter().map(|p| go(p, &mut seen)).collect()
}

/// `du -s --block-size=1`: bytes on disk, hard links once, directories included.
pub fn du_disk(p: &Path) -> u64 {
    let out = command("du")
        .args(["-s", "--block-size=1"])
        .arg(p)
        .output()
        .unwrap();
    assert_ok(&out, "du");
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Names of the real directories in `p`.
pub fn dirs_in(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_type().unwrap().is_dir())
                .map(|e| e.file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The one registry directory name under `registry/src` (tests use one registry).
pub fn only_registry(home: &Path) -> String {
    let regs = dirs_in(&home.join("registry/index"));
    assert_eq!(regs.len(), 1, "{regs:?}");
    regs[0].clone()
}

/// Reads rows of `.global-cache` in a test, independently of the crate.
pub fn db_rows(home: &Path, sql: &str) -> Vec<(String, Option<i64>, i64)> {
    let conn = rusqlite::Connection::open(home.join(".global-cache")).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A Cargo home filled by real cargo builds, made once per test binary and copied per test:
/// project `p1` (alpha =1.0.0, beta 0.1, gamma with a build script, a git dependency) built
/// at [`T0`], and project `p2` (alpha 2, delta) built 40 days later.
pub struct Populated {
    pub env: Env,
    pub git: GitRepo,
}

/// When `p2` was built.
pub const T40: u64 = T0 + 40 * DAY;

pub fn populated() -> &'static Populated {
    static P: std::sync::OnceLock<Populated> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        // A static is never dropped: it lives in this process's run dir, which goes at exit.
        // (Not under the target dir: a test run must leave the target dir as it found it.)
        let dir = tempfile::Builder::new()
            .prefix("populated-")
            .tempdir_in(&run_dir().path)
            .unwrap();
        let env = Env::with_crates_in(&standard_crates(), dir);
        let git = env.git_repo("gitdep");
        let p1 = env.project(
            "p1",
            &format!(
                "alpha = \"=1.0.0\"\nbeta = \"0.1\"\ngamma = \"0.1\"\ngitdep = {{ git = \"{}\" }}",
                git.url()
            ),
        );
        env.build_at(&p1, T0);
        let p2 = env.project("p2", "alpha = \"2\"\ndelta = \"1\"");
        env.build_at(&p2, T40);
        Populated { env, git }
    })
}

/// A private copy of [`populated`]'s whole temp dir (home and projects) for one test.
pub struct Copy {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
}

impl Copy {
    pub fn of(p: &Populated) -> Copy {
        let dir = tempfile::Builder::new()
            .prefix("janitor-copy")
            .tempdir()
            .unwrap();
        let out = command("cp")
            .arg("-a")
            .arg(p.env.dir.path().join("."))
            .arg(dir.path())
            .output()
            .unwrap();
        assert_ok(&out, "cp -a");
        let home = dir.path().join("cargo-home");
        Copy { dir, home }
    }

    pub fn janitor(&self, args: &[&str]) -> Command {
        janitor_in(&self.home, self.dir.path(), args)
    }

    pub fn cargo(&self, project: &str, args: &[&str]) -> Command {
        cargo_in(&self.home, &self.dir.path().join(project), args)
    }

    pub fn registry_dir(&self) -> String {
        only_registry(&self.home)
    }

    /// The one registry directory inside `src_dir` (a moved `registry/src`).
    pub fn registry_dir_via(&self, src_dir: &Path) -> String {
        let v = dirs_in(src_dir);
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].clone()
    }
}

/// A build script for `outer` that runs a nested `cargo build` of `inner`'s manifest with the
/// same target dir: the cargo that runs a build script sets `CARGO` to itself, so the nested
/// cargo is the one the test started (and inherits the environment [`cargo_in`] gave it).
pub fn nested_cargo_build_rs(inner: &Path) -> String {
    format!(
        r#"fn main() {{
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target = out.ancestors().nth(4).unwrap().to_owned();
    let status = std::process::Command::new(std::env::var("CARGO").unwrap())
        .args(["build", "--offline", "--manifest-path", "{}/Cargo.toml", "--target-dir"])
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success());
}}
"#,
        inner.display()
    )
}

/// Starts `cargo build --offline` in `project` of `c`, whose build script (gamma's) waits
/// while the returned hold file exists, and returns once the build script runs: the build
/// then holds its target dir's lock and the shared package-cache-mutate lock.
pub fn held_build(c: &Copy, project: &str) -> (std::process::Child, PathBuf) {
    let hold = c.dir.path().join(format!("hold-{project}"));
    std::fs::write(&hold, "").unwrap();
    let child = c
        .cargo(project, &["build", "--offline"])
        .env("JANITOR_TEST_HOLD", &hold)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = PathBuf::from(format!("{}.started", hold.display()));
    let t = std::time::Instant::now();
    while !started.exists() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(120),
            "build script never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (child, hold)
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed().as_secs() < secs, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A child process this test started, killed (with its process group, when it leads one)
/// when dropped.
///
/// It is reaped only then, after the signal: until the guard is dropped its pid, and its
/// group's id, cannot name a process this test did not start (an unreaped child keeps its
/// pid). [`Guard::wait`] therefore waits without reaping. Never wait on `.0` directly.
pub struct Guard(pub std::process::Child);

impl Guard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits for the process to exit by itself, and leaves it unreaped until the drop.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        use rustix::process::{WaitId, WaitIdOptions, waitid};
        use std::os::unix::process::ExitStatusExt;
        let pid = rustix::process::Pid::from_child(&self.0);
        let s = loop {
            match waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            ) {
                Ok(Some(s)) => break s,
                Ok(None) | Err(rustix::io::Errno::INTR) => continue,
                Err(e) => panic!("waitid({pid:?}): {e}"),
            }
        };
        let raw = match (s.exit_status(), s.terminating_signal()) {
            (Some(code), _) => (code & 0xff) << 8,
            (None, Some(sig)) => sig | if s.dumped() { 0x80 } else { 0 },
            (None, None) => panic!("waitid({pid:?}): neither exited nor killed"),
        };
        std::process::ExitStatus::from_raw(raw)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        use rustix::process::{Signal, getpgid, kill_process, kill_process_group};
        // Still unreaped here (alive or a zombie): the pid is our child's, and a group with
        // its id is the one our child leads.
        let pid = rustix::process::Pid::from_child(&self.0);
        if getpgid(Some(pid)).is_ok_and(|g| g == pid) {
            let _ = kill_process_group(pid, Signal::KILL);
        } else {
            let _ = kill_process(pid, Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

/// `flock -x FILE sleep 120` in its own process group: a plain process holding a Cargo lock.
pub fn hold_with_flock(file: &Path, mode: &str) -> Guard {
    use std::os::unix::process::CommandExt;
    let child = command("flock")
        .arg(mode)
        .arg(file)
        .args(["sleep", "120"])
        .process_group(0)
        .spawn()
        .unwrap();
    let g = Guard(child);
    // Wait until the kernel lists it as holding.
    eventually(10, "flock to take the lock", || {
        let f = std::fs::File::open(file).ok()?;
        match f.try_lock_shared() {
            Err(std::fs::TryLockError::WouldBlock) => Some(()),
            Ok(()) if mode == "-s" => {
                f.unlock().ok()?;
                match f.try_lock() {
                    Err(std::fs::TryLockError::WouldBlock) => Some(()),
                    _ => {
                        let _ = f.unlock();
                        None
                    }
                }
            }
            Ok(()) => {
                let _ = f.unlock();
                None
            }
            Err(_) => None,
        }
    });
    g
}

/// A build script that runs `cargo-janitor stop` (the binary named by `JANITOR_BIN`) on the
/// cargo running it, and logs what came back to the file named by `JANITOR_LOG`: `stop` from
/// inside the holder's own tree.
pub const SELF_STOP_BUILD_RS: &str = r#"fn main() {
    println!("cargo:rerun-if-env-changed=JANITOR_LOG");
    let log = std::env::var("JANITOR_LOG").unwrap();
    let cargo = std::os::unix::process::parent_id();
    let out = std::process::Command::new(std::env::var("JANITOR_BIN").unwrap())
        .args(["stop", "--yes", "--grace", "1 second", &cargo.to_string()])
        .output()
        .unwrap();
    std::fs::write(
        log,
        format!(
            "cargo={cargo}\ncode={:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
    .unwrap();
}
"#;

/// The Windows build of cargo-janitor, run under Wine by `tests/it/wine.rs`. Set by
/// `JANITOR_WINE_EXE` (the `cargo-janitor.exe` built for `x86_64-pc-windows-gnu`), with
/// `WINEPREFIX` (a prefix it runs in: `.ci/cross` makes one, with the `bcryptprimitives.dll`
/// shim std needs under Wine 8) and optionally `JANITOR_WINE` (the Wine program; default
/// `/usr/lib/wine/wine64`). Read from this test process's environment; only
/// [`Wine::janitor_in`] passes them on (they are not in [`ALLOWED_ENV`]).
pub struct Wine {
    pub wine: PathBuf,
    pub exe: PathBuf,
    pub prefix: PathBuf,
}

/// The [`Wine`] setup, or `None` when `JANITOR_WINE_EXE` is unset (the Wine tests then print
/// that they were skipped and pass). Half a setup is an error, not a skip.
pub fn wine() -> Option<&'static Wine> {
    static W: OnceLock<Option<Wine>> = OnceLock::new();
    W.get_or_init(|| {
        let exe = PathBuf::from(std::env::var_os("JANITOR_WINE_EXE").filter(|v| !v.is_empty())?);
        assert!(
            exe.is_file(),
            "JANITOR_WINE_EXE={}: no such file",
            exe.display()
        );
        let prefix = PathBuf::from(
            std::env::var_os("WINEPREFIX")
                .filter(|v| !v.is_empty())
                .expect("JANITOR_WINE_EXE is set: WINEPREFIX must name the Wine prefix"),
        );
        assert!(
            prefix.is_dir(),
            "WINEPREFIX={}: no such directory",
            prefix.display()
        );
        let wine = std::env::var_os("JANITOR_WINE")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("/usr/lib/wine/wine64"), PathBuf::from);
        Some(Wine { wine, exe, prefix })
    })
    .as_ref()
}

impl Wine {
    /// The Windows binary under Wine with `--cargo-home home` (as a Windows path), in `dir`,
    /// with [`command`]'s environment plus the prefix (Wine gives the Windows process the
    /// Unix environment, so `.env(…)` reaches it).
    pub fn janitor_in(&self, home: &Path, dir: &Path, args: &[&str]) -> Command {
        let mut c = command(&self.wine);
        c.arg(&self.exe)
            .arg("--cargo-home")
            .arg(win_path(home))
            .args(args)
            .current_dir(dir)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("DISPLAY", "");
        c
    }
}

/// An absolute Unix path as a Windows program under Wine names it: Wine maps drive `Z:` to `/`.
pub fn win_path(p: &Path) -> String {
    let s = p.to_str().expect("a UTF-8 path");
    assert!(s.starts_with('/'), "not absolute: {s}");
    format!("Z:{}", s.replace('/', "\\"))
}

/// The Unix path of a Windows path under `Z:` (the inverse of [`win_path`]); other strings
/// are returned unchanged.
pub fn unix_path(s: &str) -> String {
    match s.strip_prefix("Z:").or_else(|| s.strip_prefix("z:")) {
        Some(rest) if rest.starts_with('\\') => rest.replace('\\', "/"),
        _ => s.to_owned(),
    }
}
