//! SIGKILL at many points of `sweep`, `trim` and `tidy` runs that remove a lot, on target dirs and a
//! Cargo home made by real cargo builds (issue #9): after each kill, cargo builds offline
//! (Fresh wherever the plan kept the units), a rerun of the same command completes with exit
//! 0, no `.janitor-trash` is left, and what is left equals what an uninterrupted run leaves.
//!
//! Each test builds its fixture once and puts it back for every kill point: a project built
//! with an old generation of dependencies, then with a new one. Many small crates
//! give the detach step many units to rename; three crates whose build scripts write 300
//! files each give the trash something to empty, and the scan something to walk.
//!
//! **Where the kills land.** A probe run, watched by polling, gives three instants: the first
//! removal (a planned path gone or the trash created), the end of the detach step (every
//! planned path gone), and the end of the process. A third of the kill points are spread over
//! each of the three spans (scan and locks; detach; emptying the trash and the report). Where
//! each one really landed is then read off the state it left: nothing moved (before the first
//! removal), some planned paths still in place (while detaching), every planned path gone but
//! trash left (while emptying), or done. The test prints that count and asserts that at least 90% of
//! the kill points are distinct (33 for sweep and trim, 12 for tidy), at least one killed run before any removal and at least one in the
//! middle of removing (detaching or emptying).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::support::*;

/// Small crates (one unit each) and crates with a build script writing many files.
const SMALL: usize = 24;
const BIG: usize = 3;
const OUT_FILES: usize = 300;

fn big_build_rs() -> String {
    format!(
        r#"fn main() {{
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for i in 0..{OUT_FILES} {{
        std::fs::write(out.join(format!("g{{i}}.txt")), format!("{{i}}\n")).unwrap();
    }}
}}
"#
    )
}

fn crates() -> Vec<CrateSpec> {
    let data = "d".repeat(2000);
    let mut v = Vec::new();
    for ver in ["1.0.0", "2.0.0"] {
        for i in 0..SMALL {
            v.push(CrateSpec::new(&format!("s{i:02}"), ver).file("src/data.txt", &data));
        }
        for i in 0..BIG {
            let mut c = CrateSpec::new(&format!("b{i}"), ver).build_rs(&big_build_rs());
            for f in 0..40 {
                c = c.file(&format!("src/data/f{f}.txt"), &data);
            }
            v.push(c);
        }
    }
    v
}

fn deps(ver: &str) -> String {
    let mut d = String::new();
    for i in 0..SMALL {
        d.push_str(&format!("s{i:02} = \"={ver}\"\n"));
    }
    for i in 0..BIG {
        d.push_str(&format!("b{i} = \"={ver}\"\n"));
    }
    d
}

/// Three days ago: what the fixture's builds record as their last use (beyond any grace
/// period), on the real clock.
fn three_days_ago() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3 * DAY
}

/// The fixture of one test: `app` built with every dependency at 1.0.0, then at 2.0.0,
/// both recorded three days ago, in a temp dir, and a pristine copy of it. Every run of the
/// test happens in that same temp dir, put back as it was ([`Fixture::reset`]): Cargo's
/// fingerprints name the sources by their path in the Cargo home, so a copy elsewhere would
/// rebuild everything.
struct Fixture {
    env: Env,
    pristine: tempfile::TempDir,
}

/// The fixture as one run sees it.
struct Copy<'a> {
    dir: &'a Path,
    home: PathBuf,
    app: PathBuf,
    target: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("janitor-kill")
            .tempdir()
            .unwrap();
        let env = Env::with_crates_in(&crates(), dir);
        let at = three_days_ago();
        let app = env.project("app", &deps("1.0.0"));
        env.build_at(&app, at);
        env.project("app", &deps("2.0.0"));
        env.build_at(&app, at);
        let pristine = tempfile::Builder::new()
            .prefix("janitor-kill-pristine")
            .tempdir()
            .unwrap();
        let out = command("cp")
            .arg("-a")
            .arg(env.dir.path().join("."))
            .arg(pristine.path())
            .output()
            .unwrap();
        assert_ok(&out, "cp -a");
        Fixture { env, pristine }
    }

    /// The fixture's dir, put back as it was built.
    fn reset(&self) -> Copy<'_> {
        let dir = self.env.dir.path();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
        let out = command("cp")
            .arg("-a")
            .arg(self.pristine.path().join("."))
            .arg(dir)
            .output()
            .unwrap();
        assert_ok(&out, "cp -a");
        Copy {
            dir,
            home: dir.join("cargo-home"),
            app: dir.join("app"),
            target: dir.join("app/target"),
        }
    }
}

impl Copy<'_> {
    fn janitor(&self, args: &[&str]) -> std::process::Command {
        janitor_in(&self.home, &self.app, args)
    }

    fn build(&self, what: &str) -> String {
        let out = cargo_in(&self.home, &self.app, &["build", "--offline", "-v"])
            .output()
            .unwrap();
        assert_ok(&out, what);
        stderr(&out)
    }
}

/// Sets the access and modification times of everything below `dir` to `at`.
fn age(dir: &Path, at: SystemTime) {
    let times = std::fs::FileTimes::new().set_accessed(at).set_modified(at);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            age(&e.path(), at);
        }
        if ft.is_dir() || ft.is_file() {
            std::fs::File::open(e.path())
                .unwrap()
                .set_times(times)
                .unwrap();
        }
    }
}

/// Every `.janitor-trash` below `dir`.
fn trash_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
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

fn trash_in(c: &Copy) -> Vec<PathBuf> {
    let mut v = Vec::new();
    trash_below(c.dir, &mut v);
    v
}

/// Every path below `root` (relative), but the database files, and the session directories
/// inside incremental caches (named after the time they were made).
fn state(root: &Path) -> BTreeSet<String> {
    fn go(base: &Path, p: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().display().to_string();
            if rel.contains(".global-cache") {
                continue;
            }
            let parent = p.file_name().unwrap_or_default();
            let grandparent = p.parent().and_then(Path::file_name).unwrap_or_default();
            if grandparent == "incremental" && parent != "incremental" {
                continue;
            }
            out.insert(rel);
            if e.file_type().unwrap().is_dir() {
                go(base, &e.path(), out);
            }
        }
    }
    let mut out = BTreeSet::new();
    go(root, root, &mut out);
    out
}

fn diff(want: &BTreeSet<String>, have: &BTreeSet<String>) -> String {
    let mut s = String::new();
    for p in want.difference(have) {
        s.push_str(&format!("missing {p}\n"));
    }
    for p in have.difference(want) {
        s.push_str(&format!("left    {p}\n"));
    }
    s
}

/// Where a kill landed, read off the state it left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Landed {
    /// Nothing planned had moved and there was no trash: scanning, planning, locking.
    BeforeRemoving,
    /// Some planned paths were still in place, others gone.
    Detaching,
    /// Every planned path was gone, and trash was left.
    Emptying,
    /// Every planned path gone, no trash: the removals were over (the report, or exited).
    Done,
}

fn landed(c: &Copy, planned: &[PathBuf]) -> Landed {
    let in_place = planned
        .iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .count();
    let trash = trash_in(c)
        .iter()
        .any(|t| std::fs::read_dir(t).is_ok_and(|mut rd| rd.next().is_some()));
    if in_place == planned.len() && !trash {
        Landed::BeforeRemoving
    } else if in_place > 0 {
        Landed::Detaching
    } else if trash {
        Landed::Emptying
    } else {
        Landed::Done
    }
}

/// What the kill test of one command needs.
struct Scenario {
    name: &'static str,
    args: Vec<String>,
    /// Makes a fresh copy ready for the command (ages it, refreshes what must count as used).
    prepare: fn(&Copy),
    /// The planned paths of a `--json` report.
    planned: fn(&Value) -> Vec<PathBuf>,
    /// Checks the offline build after a kill (its `-v` output).
    check_build: fn(&str),
    /// How many kill points (a multiple of 3; at least 90% of them distinct).
    points: usize,
}

fn kill_at_many_points(s: Scenario) {
    let args: Vec<&str> = s.args.iter().map(String::as_str).collect();
    let f = Fixture::new();
    // The reference: an uninterrupted run, then an offline build.
    let reference = f.reset();
    (s.prepare)(&reference);
    let mut json_args = args.clone();
    json_args.push("--json");
    let v = json(&mut reference.janitor(&json_args));
    assert!(s.points.is_multiple_of(3));
    let planned = (s.planned)(&v);
    assert!(
        planned.len() >= 80,
        "{}: a run that removes a lot ({} paths)",
        s.name,
        planned.len()
    );
    (s.check_build)(&reference.build("offline build after the uninterrupted run"));
    let want_home = state(&reference.home);
    let want_target = state(&reference.target);

    // How long a run takes, unwatched; then a run watched (polled every 0.5 ms): when
    // removing starts, when detaching ends, when it exits. The instants are scaled to the
    // unwatched run's length (the polling takes CPU from it).
    let plain = f.reset();
    (s.prepare)(&plain);
    let t = Instant::now();
    let out = plain.janitor(&args).output().unwrap();
    let unwatched = t.elapsed();
    assert_ok(&out, "an unwatched run");
    let probe = f.reset();
    (s.prepare)(&probe);
    let t = Instant::now();
    let mut child = probe
        .janitor(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut first, mut detached) = (None, None);
    let exited = loop {
        if child.try_wait().unwrap().is_some() {
            break t.elapsed();
        }
        let l = landed(&probe, &planned);
        if first.is_none() && l != Landed::BeforeRemoving {
            first = Some(t.elapsed());
        }
        if detached.is_none() && l >= Landed::Emptying {
            detached = Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let scale = unwatched.as_secs_f64() / exited.as_secs_f64();
    // Each span gets at least a tenth of the run, so that the points stay distinct.
    let first = first
        .unwrap_or(exited / 3)
        .mul_f64(scale)
        .clamp(unwatched / 10, unwatched.mul_f64(0.6));
    let detached = detached
        .unwrap_or(exited)
        .mul_f64(scale)
        .clamp(first + unwatched / 10, unwatched.mul_f64(0.9));
    eprintln!(
        "{}: an unwatched run took {unwatched:?}; watched: removing from {first:?}, detached at \
         {detached:?} (scaled)",
        s.name
    );

    // A third of the points in each span.
    let spans = [
        (Duration::ZERO, first),
        (first, detached),
        (detached, unwatched),
    ];
    let mut delays: Vec<Duration> = Vec::new();
    for (a, b) in &spans {
        let n = s.points / 3;
        for i in 0..n {
            delays.push(*a + (*b - *a).mul_f64((i as f64 + 0.5) / n as f64));
        }
    }
    delays.sort();
    delays.dedup();
    assert!(delays.len() >= s.points * 9 / 10, "{delays:?}");

    let mut tally: BTreeMap<Landed, usize> = BTreeMap::new();
    for (i, delay) in delays.iter().enumerate() {
        let c = f.reset();
        (s.prepare)(&c);
        let mut child = c
            .janitor(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(*delay);
        // SIGKILL, to our own child, not yet reaped.
        child.kill().unwrap();
        child.wait().unwrap();
        let l = landed(&c, &planned);
        *tally.entry(l).or_default() += 1;
        let what = format!("{} killed after {delay:?} ({l:?}, point {i})", s.name);
        // Cargo builds offline from what the kill left.
        let log = c.build(&format!("{what}: cargo build --offline"));
        (s.check_build)(&log);
        // A rerun completes, empties the trash and leaves what an uninterrupted run leaves.
        let out = c.janitor(&args).output().unwrap();
        assert_ok(&out, &format!("{what}: rerun"));
        assert_eq!(trash_in(&c), Vec::<PathBuf>::new(), "{what}: trash left");
        let d = diff(&want_home, &state(&c.home)) + &diff(&want_target, &state(&c.target));
        assert!(
            d.is_empty(),
            "{what}: after the rerun, not what an uninterrupted run leaves:\n{d}"
        );
    }
    eprintln!(
        "{}: where the {} kills landed: {tally:?}",
        s.name,
        delays.len()
    );
    assert!(
        tally.contains_key(&Landed::BeforeRemoving),
        "no kill before removing: {tally:?}"
    );
    assert!(
        tally.contains_key(&Landed::Detaching) || tally.contains_key(&Landed::Emptying),
        "no kill in the middle of removing: {tally:?}"
    );
}

/// The builds after a sweep that kept the current generation: nothing compiles.
fn all_fresh(log: &str) {
    let compiled: Vec<&str> = log.lines().filter(|l| l.contains("Compiling")).collect();
    assert!(
        compiled.is_empty(),
        "rebuilt after sweep: {compiled:?}\n{log}"
    );
    assert!(log.contains("Fresh s00 v2.0.0"), "{log}");
}

/// The builds after trim: the workspace member (which trim removes) may compile, no
/// dependency does.
fn deps_fresh(log: &str) {
    let compiled: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Compiling") && !l.contains("Compiling app v0.1.0"))
        .collect();
    assert!(
        compiled.is_empty(),
        "dependencies rebuilt after trim: {compiled:?}\n{log}"
    );
    for i in 0..BIG {
        assert!(log.contains(&format!("Fresh b{i} v2.0.0")), "{log}");
    }
}

#[test]
fn sigkill_during_sweep_leaves_a_target_dir_cargo_builds_from() {
    kill_at_many_points(Scenario {
        name: "sweep --max-age 30days",
        args: vec!["sweep".into(), "--max-age".into(), "30 days".into()],
        // Everything unused for 60 days, then the current generation used by a build: sweep
        // removes exactly the old generation (and the grace period keeps its default).
        prepare: |c| {
            age(&c.target, SystemTime::now() - Duration::from_secs(60 * DAY));
            c.build("the build that uses the current generation");
        },
        planned: |v| {
            let mut out = Vec::new();
            for d in v["dirs"].as_array().unwrap() {
                for r in d["removed"].as_array().unwrap() {
                    for p in r["paths"].as_array().unwrap() {
                        out.push(PathBuf::from(p.as_str().unwrap()));
                    }
                }
            }
            out
        },
        check_build: all_fresh,
        points: 33,
    });
}

#[test]
fn sigkill_during_trim_leaves_a_home_and_target_cargo_builds_from() {
    kill_at_many_points(Scenario {
        name: "trim",
        // (--yes: the old generation is most of the home; not asked here.)
        args: vec!["trim".into(), "--yes".into()],
        // Nothing used for three days (rows and file times): trim removes the old
        // generation in the home and the target dir, and the workspace member's units.
        prepare: |c| {
            age(&c.target, SystemTime::now() - Duration::from_secs(3 * DAY));
        },
        planned: |v| {
            let mut out = Vec::new();
            for p in v["parts"].as_array().unwrap() {
                for r in p["removed"].as_array().unwrap() {
                    if r["kind"] != "index-entry" {
                        out.push(PathBuf::from(r["path"].as_str().unwrap()));
                    }
                }
            }
            out
        },
        check_build: deps_fresh,
        points: 33,
    });
}

#[test]
fn sigkill_during_tidy_leaves_a_home_and_target_cargo_builds_from() {
    kill_at_many_points(Scenario {
        name: "tidy --max-age 2days",
        args: vec!["tidy".into(), "--max-age".into(), "2 days".into()],
        // As for sweep: the old generation's units unused for 60 days, the current one used
        // by a build now (and kept by the grace period); in the home, the old generation's
        // sources and `.crate` files unused for three days. tidy removes both, target dir
        // first, then the home under Cargo's lock; the lockfile keeps the current `.crate`s.
        prepare: |c| {
            age(&c.target, SystemTime::now() - Duration::from_secs(60 * DAY));
            c.build("the build that uses the current generation");
        },
        planned: |v| {
            let removed = v["removed"].as_array().unwrap();
            // Both parts: units of the target dir, and sources and `.crate` files of the home.
            for tier in ["unit", "source", "crate"] {
                assert!(removed.iter().any(|r| r["tier"] == tier), "{tier}: {v:#}");
            }
            (removed.iter())
                .map(|r| PathBuf::from(r["path"].as_str().unwrap()))
                .collect()
        },
        check_build: all_fresh,
        points: 12,
    });
}
