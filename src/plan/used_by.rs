//! `--used-by`: what to keep in a target dir when real cargo commands said what they used.
//! Pure: from the scanned units, what the commands reported, the incremental sessions' build
//! windows, and the grace period.
//!
//! # Which units the commands used
//!
//! Cargo reports every unit of a build, fresh or rebuilt, with the files it produced
//! ([`crate::observe::cargo_messages`]). A unit is *reported* when one of its files (or
//! directories) is one of those paths, by name or by identity (device and inode): an uplifted
//! binary (`target/debug/app`) is a hard link to the unit's own file, and in a split
//! `build.build-dir` the link is in the other directory. A build-script run is found by its
//! `out_dir`, which is a directory of the unit. Both layouts work alike, and so does
//! `--target` (host units in `<dir>/<profile>`, target units in `<dir>/<triple>/<profile>`):
//! nothing here depends on where a unit lives.
//!
//! A reported path that is part of no unit (a `cargo doc` page, a binary Cargo copied instead
//! of linking) leaves its unit unknown: then every unit of that *package* is kept.
//!
//! # Incremental sessions
//!
//! `incremental/<crate>-<hash>/` is named by rustc, from a hash Cargo never prints, so it is
//! tied to a unit by what rustc does when it compiles one: it creates a session directory
//! `s-<start time>-…` (the time, in microseconds, is in its name, so no file time has to be
//! trusted for it) between the moment Cargo marks the unit's compilation started
//! (`invoked.timestamp`) and the moment Cargo writes the unit's fingerprint. An incremental
//! directory is kept when its crate name is a kept unit's crate and one of its sessions
//! started within that unit's build window; every other one goes. A unit rebuilt by the
//! commands has its window during the run; a fresh one keeps the window of its last build.
//! (Removing an incremental cache never breaks a build: rustc then compiles that crate from
//! scratch once.)
//!
//! # The grace period
//!
//! A unit no command reported but that was built or written within the grace period (the
//! newest modification time of its files and directories) is kept: another build may have
//! made it moments ago. Access times do not count here, unlike in `sweep`'s other criteria:
//! they are exactly what `--used-by` does not trust (a CI cache restore, `cp -a` or an
//! indexer makes every one of them new). Reported units are kept whatever their age.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::grace::Grace;
use super::sweep::{self, DirPlan};
use crate::observe::target_dir::{Incremental, TargetDir, Unit};

/// One path a command reported, with its package and its identity when it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedPath {
    pub path: PathBuf,
    pub package: String,
    /// `(device, inode)`, as in [`crate::observe::target_dir::FileFact::key`].
    pub id: Option<(u64, u64)>,
}

/// Everything the commands reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported {
    pub paths: Vec<ReportedPath>,
}

impl Reported {
    fn ids(&self) -> HashSet<(u64, u64)> {
        self.paths.iter().filter_map(|p| p.id).collect()
    }

    fn names(&self) -> HashSet<&Path> {
        self.paths.iter().map(|p| p.path.as_path()).collect()
    }
}

/// Whether one of the unit's files or directories is a reported path.
fn unit_reported(u: &Unit, ids: &HashSet<(u64, u64)>, names: &HashSet<&Path>) -> bool {
    u.files
        .iter()
        .any(|f| ids.contains(&f.key) || names.contains(&*f.path))
}

/// The hashes of the units of `td` the commands reported.
pub fn reported_hashes(td: &TargetDir, rep: &Reported) -> Vec<String> {
    let (ids, names) = (rep.ids(), rep.names());
    td.units
        .iter()
        .filter(|u| unit_reported(u, &ids, &names))
        .map(|u| u.hash.clone())
        .collect()
}

/// The reported paths that belong to no unit of any of `dirs` (by name or identity).
pub fn unmatched<'a>(dirs: &[&TargetDir], rep: &'a Reported) -> Vec<&'a ReportedPath> {
    let mut ids: HashSet<(u64, u64)> = HashSet::new();
    let mut names: HashSet<&Path> = HashSet::new();
    for td in dirs {
        for u in &td.units {
            for f in &u.files {
                ids.insert(f.key);
                names.insert(&f.path);
            }
        }
    }
    rep.paths
        .iter()
        .filter(|p| !p.id.is_some_and(|id| ids.contains(&id)) && !names.contains(p.path.as_path()))
        .collect()
}

/// The crate names a unit compiles, from its fingerprint hash files (`lib-<target>`,
/// `bin-<target>`, `test-lib-<target>`, `build-script-build-script-build`): `-` read as `_`.
/// Whether `krate` is one of them.
fn compiles_crate(u: &Unit, krate: &str) -> bool {
    let suffix = format!("_{krate}");
    u.files.iter().any(|f| {
        f.path.parent() == Some(u.fingerprint.as_path())
            && f.path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                !n.contains('.')
                    && !n.starts_with("dep-")
                    && !n.starts_with("output-")
                    && n.replace('-', "_").ends_with(&suffix)
            })
    })
}

/// The start times (microseconds) of an incremental directory's sessions, from their names
/// (`s-<base36 micros>-…`).
pub fn session_starts(inc: &Incremental) -> Vec<u64> {
    inc.files
        .iter()
        .filter(|f| f.is_dir && f.path.parent() == Some(inc.path.as_path()))
        .filter_map(|f| {
            let name = f.path.file_name()?.to_str()?;
            let ts = name.strip_prefix("s-")?.split('-').next()?;
            u64::from_str_radix(ts, 36).ok()
        })
        .collect()
}

/// Slack after a unit's build window (microseconds): the session's start and the file
/// times are read on the same clock, but a filesystem may keep file times in whole seconds
/// (rounded down), so the fingerprint can look written before the session started. None
/// before the window: the session starts after `invoked.timestamp` is written, and a
/// rounded-down start only widens the window.
pub const WINDOW_SLACK_MICROS: u64 = 1_000_000;

/// What `--used-by` keeps and removes in one target dir.
pub struct Keep<'a> {
    pub reported: &'a Reported,
    /// Packages with a reported path that belongs to no unit: all their units are kept.
    pub unknown_packages: &'a HashSet<String>,
    /// Each unit's build window (microseconds, from `invoked.timestamp` to its fingerprint),
    /// by unit hash, when it could be read.
    pub windows: &'a HashMap<String, (u64, u64)>,
}

/// The plan for one target dir: every unit neither reported nor of a package with an
/// unmatched path, and every incremental directory tied to no kept unit, minus what the
/// grace period keeps. Also returns how many units are kept because they were reported.
pub fn plan_dir(td: &TargetDir, keep: &Keep, grace: &Grace) -> (DirPlan, usize) {
    let ids = keep.reported.ids();
    let names = keep.reported.names();
    let mut plan = DirPlan {
        units: td.units.len(),
        ..DirPlan::default()
    };
    let mut kept: Vec<&Unit> = Vec::new();
    let mut reported = 0;
    let mut files = Vec::new();
    for u in &td.units {
        if unit_reported(u, &ids, &names) {
            reported += 1;
            kept.push(u);
        } else if keep.unknown_packages.contains(&u.pkg) {
            kept.push(u);
        } else {
            let mut r = sweep::unit_removal(u, "used by none of the --used-by commands".into());
            // The grace period looks at when the unit was built or written, not read:
            // access times are what `--used-by` does not trust.
            r.touched = u.modified;
            plan.removals.push(r);
            files.extend(u.files.iter());
        }
    }
    plan.removed_units = plan.removals.len();
    for inc in &td.incremental {
        let name = inc
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let krate = name.rsplit_once('-').map_or(name.as_str(), |(c, _)| c);
        let starts = session_starts(inc);
        let tied = kept.iter().any(|u| {
            u.profile == inc.profile
                && compiles_crate(u, krate)
                && keep.windows.get(&u.hash).is_some_and(|&(from, to)| {
                    starts
                        .iter()
                        .any(|&s| s >= from && s <= to + WINDOW_SLACK_MICROS)
                })
        });
        if !tied {
            let mut r = sweep::incremental_removal(
                inc,
                "incremental session of no unit the --used-by commands used".into(),
            );
            r.touched = inc.last_use;
            plan.removals.push(r);
            files.extend(inc.files.iter());
        }
    }
    let (disk, apparent) = sweep::freed(files);
    plan.reclaimed_bytes = disk;
    plan.reclaimed_apparent_bytes = apparent;
    (sweep::keep_recent(plan, td, grace), reported)
}

/// Which signal `--max-age`, `--max-size` and `--all` use in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The record of use: units in it use its time; the others, atimes (or nothing on a
    /// `noatime` mount).
    Record,
    Atime,
    None,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Record => "record",
            Signal::Atime => "atime",
            Signal::None => "none",
        }
    }
}

/// The signal a directory uses: the record when it has one for any of its units, else
/// atimes where the mount has them.
pub fn signal(td: &TargetDir, record: Option<&HashMap<String, u64>>, atime_ok: bool) -> Signal {
    if record.is_some_and(|r| td.units.iter().any(|u| r.contains_key(&u.hash))) {
        Signal::Record
    } else if atime_ok {
        Signal::Atime
    } else {
        Signal::None
    }
}

/// Applies a record of use (unit hash → last seen, unix seconds) to a scan: a unit in the
/// record takes as its last use the newer of the record's time and the moment it was last
/// built or written (a plain `cargo build` since the record rebuilt it then; its atime is not
/// trusted); on a `noatime` mount (`atime_ok` false) a unit not in it has no known last use.
/// Returns the signal the directory uses, and whether ages may be compared at all (they may
/// when there is a record).
pub fn apply_record(
    td: &mut TargetDir,
    record: Option<&HashMap<String, u64>>,
    atime_ok: bool,
) -> (Signal, bool) {
    let signal = signal(td, record, atime_ok);
    let Some(record) = record.filter(|_| signal == Signal::Record) else {
        return (signal, atime_ok);
    };
    for u in &mut td.units {
        match record.get(&u.hash) {
            Some(&t) => u.last_use = Some(t.max(u.modified.unwrap_or(0))),
            None if !atime_ok => u.last_use = None,
            None => {}
        }
    }
    (Signal::Record, true)
}

/// Whether `--all` may judge the directory as a whole. Not when the record is its signal on
/// a `noatime` mount and some unit in it is in no record (no `--used-by` run saw it, so its
/// last use is unknown): a directory is emptied only when every unit in it is known to be
/// unused, never because the units whose use is known are old.
pub fn whole_dir_known(td: &TargetDir, signal: Signal, atime_ok: bool) -> bool {
    signal != Signal::Record || atime_ok || td.units.iter().all(|u| u.last_use.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::target_dir::{FileFact, Layout};
    use crate::quantity::Span;

    fn fact(path: &str, ino: u64, is_dir: bool) -> FileFact {
        FileFact {
            path: Path::new(path).into(),
            key: (1, ino),
            nlink: 1,
            bytes: 100,
            disk_bytes: 4096,
            is_dir,
        }
    }

    fn unit(pkg: &str, hash: &str, files: Vec<FileFact>) -> Unit {
        Unit {
            pkg: pkg.into(),
            hash: hash.into(),
            layout: Layout::Legacy,
            profile: "/t/debug".into(),
            fingerprint: format!("/t/debug/.fingerprint/{pkg}-{hash}").into(),
            paths: vec![],
            files,
            last_use: Some(0),
            touched: Some(0),
            modified: Some(0),
        }
    }

    const OFF: Grace = Grace {
        period: Span(0),
        db_now: 0,
        disk_now: 0,
    };

    fn rep(paths: &[(&str, &str, Option<u64>)]) -> Reported {
        Reported {
            paths: paths
                .iter()
                .map(|(p, pkg, ino)| ReportedPath {
                    path: p.into(),
                    package: pkg.to_string(),
                    id: ino.map(|i| (1, i)),
                })
                .collect(),
        }
    }

    fn hashes(p: &DirPlan) -> Vec<String> {
        p.removals
            .iter()
            .filter_map(|r| r.unit.hash.clone())
            .collect()
    }

    #[test]
    fn reported_by_name_or_by_hard_link_kept_the_rest_removed() {
        let lib = unit(
            "lib",
            "1111111111111111",
            vec![fact(
                "/t/debug/deps/liblib-1111111111111111.rmeta",
                1,
                false,
            )],
        );
        // A binary reported only by its uplifted hard link (inode 2).
        let bin = unit(
            "app",
            "2222222222222222",
            vec![fact("/t/debug/deps/app-2222222222222222", 2, false)],
        );
        // A build-script run reported by its out dir.
        let run = unit(
            "app",
            "3333333333333333",
            vec![
                fact("/t/debug/build/app-3333333333333333", 3, true),
                fact("/t/debug/build/app-3333333333333333/out", 4, true),
            ],
        );
        let old = unit(
            "lib",
            "4444444444444444",
            vec![fact(
                "/t/debug/deps/liblib-4444444444444444.rmeta",
                5,
                false,
            )],
        );
        let td = TargetDir {
            path: "/t".into(),
            units: vec![lib, bin, run, old],
            ..TargetDir::default()
        };
        let r = rep(&[
            ("/t/debug/deps/liblib-1111111111111111.rmeta", "lib", None),
            ("/t/debug/app", "app", Some(2)),
            ("/t/debug/build/app-3333333333333333/out", "app", Some(4)),
        ]);
        let none = HashSet::new();
        let windows = HashMap::new();
        let keep = Keep {
            reported: &r,
            unknown_packages: &none,
            windows: &windows,
        };
        let (p, reported) = plan_dir(&td, &keep, &OFF);
        assert_eq!(hashes(&p), ["4444444444444444"]);
        assert_eq!(reported, 3);
        assert_eq!(p.removed_units, 1);
        assert!(unmatched(&[&td], &r).is_empty());

        // A path of no unit: every unit of its package is kept.
        let r = rep(&[("/t/doc/lib/index.html", "lib", Some(99))]);
        assert_eq!(unmatched(&[&td], &r).len(), 1);
        let unknown: HashSet<String> = ["lib".to_string()].into();
        let keep = Keep {
            reported: &r,
            unknown_packages: &unknown,
            windows: &windows,
        };
        let (p, _) = plan_dir(&td, &keep, &OFF);
        assert_eq!(hashes(&p), ["2222222222222222", "3333333333333333"]);
    }

    #[test]
    fn grace_keeps_unreported_units_built_moments_ago_not_merely_read() {
        // Built a few seconds ago.
        let mut built = unit("x", "5555555555555555", vec![fact("/a", 1, false)]);
        built.touched = Some(1_000_000);
        built.modified = Some(1_000_000);
        // Built long ago, read a few seconds ago (a cache restore, an indexer).
        let mut read = unit("y", "6666666666666666", vec![fact("/b", 2, false)]);
        read.touched = Some(1_000_000);
        read.modified = Some(10);
        let td = TargetDir {
            path: "/t".into(),
            units: vec![built, read],
            ..TargetDir::default()
        };
        let r = Reported::default();
        let none = HashSet::new();
        let windows = HashMap::new();
        let keep = Keep {
            reported: &r,
            unknown_packages: &none,
            windows: &windows,
        };
        let grace = Grace {
            period: Span(600),
            db_now: 1_000_010,
            disk_now: 1_000_010,
        };
        let (p, _) = plan_dir(&td, &keep, &grace);
        assert_eq!(hashes(&p), ["6666666666666666"]);
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].last_use, 1_000_000);
    }

    #[test]
    fn incremental_sessions_tied_by_crate_and_build_window() {
        let fp = "/t/debug/.fingerprint/app-2222222222222222";
        let bin = unit(
            "app",
            "2222222222222222",
            vec![
                fact("/t/debug/deps/app-2222222222222222", 2, false),
                fact(&format!("{fp}/bin-app"), 3, false),
            ],
        );
        let session = |t: u64| {
            let mut s = String::new();
            let mut n = t;
            while n > 0 {
                s.insert(0, char::from_digit((n % 36) as u32, 36).expect("digit"));
                n /= 36;
            }
            s
        };
        let inc = |dir: &str, start: u64| Incremental {
            path: format!("/t/debug/incremental/{dir}").into(),
            profile: "/t/debug".into(),
            last_use: Some(0),
            touched: Some(0),
            files: vec![
                fact(&format!("/t/debug/incremental/{dir}"), 10, true),
                fact(
                    &format!("/t/debug/incremental/{dir}/s-{}-0abc-xyz", session(start)),
                    11,
                    true,
                ),
                fact(
                    &format!("/t/debug/incremental/{dir}/s-{}-0abc.lock", session(start)),
                    12,
                    false,
                ),
            ],
        };
        let t = 1_795_896_325_397_692;
        let td = TargetDir {
            path: "/t".into(),
            units: vec![bin],
            incremental: vec![
                inc("app-1xpi6ecp89avu", t),
                inc("app-0000000000000", t - 86_400_000_000),
                inc("lib-351qf0u6orhef", t),
            ],
            ..TargetDir::default()
        };
        assert_eq!(session_starts(&td.incremental[0]), [t]);
        let r = rep(&[("/t/debug/app", "app", Some(2))]);
        let none = HashSet::new();
        let windows: HashMap<String, (u64, u64)> =
            [("2222222222222222".to_string(), (t - 20_000, t + 80_000))].into();
        let keep = Keep {
            reported: &r,
            unknown_packages: &none,
            windows: &windows,
        };
        let (p, _) = plan_dir(&td, &keep, &OFF);
        let gone: Vec<_> = p.removals.iter().map(|r| r.paths[0].clone()).collect();
        assert_eq!(
            gone,
            [
                PathBuf::from("/t/debug/incremental/app-0000000000000"),
                PathBuf::from("/t/debug/incremental/lib-351qf0u6orhef")
            ],
            "another build's session and another crate's go"
        );
    }

    #[test]
    fn record_precedence() {
        let mut a = unit("a", "aaaaaaaaaaaaaaaa", vec![]);
        a.last_use = Some(500);
        let mut b = unit("b", "bbbbbbbbbbbbbbbb", vec![]);
        b.last_use = Some(500);
        let td = TargetDir {
            units: vec![a, b],
            ..TargetDir::default()
        };
        let rec: HashMap<String, u64> = [("aaaaaaaaaaaaaaaa".to_string(), 100)].into();
        // With atimes: a takes the record, b keeps its atime.
        let mut t = td.clone();
        assert_eq!(
            apply_record(&mut t, Some(&rec), true),
            (Signal::Record, true)
        );
        assert_eq!(t.units[0].last_use, Some(100));
        assert_eq!(t.units[1].last_use, Some(500));
        // noatime: b's atime means nothing.
        let mut t = td.clone();
        assert_eq!(
            apply_record(&mut t, Some(&rec), false),
            (Signal::Record, true)
        );
        assert_eq!(t.units[1].last_use, None);
        // No record (or none of its units here): atime, or none.
        let mut t = td.clone();
        assert_eq!(apply_record(&mut t, None, true), (Signal::Atime, true));
        let other: HashMap<String, u64> = [("cccccccccccccccc".to_string(), 1)].into();
        assert_eq!(
            apply_record(&mut t, Some(&other), false),
            (Signal::None, false)
        );
        assert_eq!(t.units[0].last_use, Some(500));
        // A unit rebuilt since the record (by a plain build) was used then.
        let mut t = td.clone();
        t.units[0].modified = Some(300);
        apply_record(&mut t, Some(&rec), false);
        assert_eq!(t.units[0].last_use, Some(300));
    }

    #[test]
    fn all_needs_every_units_last_use_known() {
        let mut a = unit("a", "aaaaaaaaaaaaaaaa", vec![]);
        a.last_use = Some(100);
        let mut b = unit("b", "bbbbbbbbbbbbbbbb", vec![]);
        b.last_use = None;
        let mut td = TargetDir {
            units: vec![a, b],
            ..TargetDir::default()
        };
        assert!(!whole_dir_known(&td, Signal::Record, false));
        // With atimes every unit has its own; without a record, ages are not compared.
        assert!(whole_dir_known(&td, Signal::Record, true));
        assert!(whole_dir_known(&td, Signal::None, false));
        td.units[1].last_use = Some(50);
        assert!(whole_dir_known(&td, Signal::Record, false));
    }
}
