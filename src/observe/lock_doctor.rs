//! The lock doctor's facts: which lock files to probe, one look at the processes using Cargo's
//! locks, the CPU their trees use over a short sample, and whether each cargo that holds a
//! lock may use the network.
//!
//! # Network
//!
//! An idle cargo is said to be possibly stuck on the network only when it can use the
//! network. It cannot when, by Cargo's own precedence: its command line has `--offline`,
//! `--frozen` or `--config net.offline=true`; else its environment (readable only for our own
//! user's processes) sets `CARGO_NET_OFFLINE`; else `net.offline` is set in the cargo config
//! files that apply in its working directory (its `.cargo/config.toml` and its ancestors',
//! then its `CARGO_HOME`'s, or `$HOME/.cargo`'s, as its environment says). `--config FILE`
//! arguments and `include`d config files are not read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cargo::locks as vocab;
use crate::discover::{CargoConfig, CargoHome};
use crate::observe::lockfiles::{self, LockFiles, Probe, Probed};
use crate::sys::fs::FileId;
use crate::sys::process::{Mode, ProcInfo, ProcessTable, Snapshot};

/// How long the commands that only mention a holder (`wait`, the Blocking line) watch its
/// CPU before saying whether it is busy.
pub const SHORT_SAMPLE: Duration = Duration::from_millis(250);

/// The Cargo home to assume for a holder whose environment cannot be read.
pub fn assumed_home() -> PathBuf {
    CargoHome::locate(None)
        .map(|h| h.path)
        .unwrap_or_else(|_| PathBuf::from(".cargo"))
}

/// The lock files to probe: the Cargo home's, and those of these target or build dirs.
pub fn lock_files(home: &Path, dirs: &[PathBuf]) -> LockFiles {
    let mut files = lockfiles::home_lock_files(home);
    for d in dirs {
        files.extend(lockfiles::target_lock_files(d));
    }
    files
}

/// Whether a path is one of Cargo's lock files (what a snapshot looks for).
pub fn is_lock_file(p: &Path) -> bool {
    vocab::classify(p).is_some()
}

/// One look at the system, for the lock doctor.
#[derive(Clone, Debug, Default)]
pub struct Look {
    pub snap: Snapshot,
    /// The lock files probed directly (their holders may be invisible to us).
    pub probes: Vec<Probed>,
    /// CPU seconds per second of every process in the holders' trees over the sample
    /// (`None`: not sampled).
    pub cpu: Option<BTreeMap<u32, f64>>,
    /// How long the sample was.
    pub sample: Duration,
    /// For each cargo that holds a lock and cannot use the network: why (`--offline`).
    pub offline: BTreeMap<u32, String>,
    /// Why no process could be looked at (not implemented on this platform), if so.
    pub blind: Option<String>,
}

/// A snapshot of the processes using Cargo's lock files; on a platform where that is not
/// implemented, an empty one and the reason.
pub fn snapshot(table: &dyn ProcessTable) -> (Snapshot, Option<String>) {
    match table.snapshot(&is_lock_file) {
        Ok(s) => (s, None),
        Err(e) => (Snapshot::default(), Some(e.to_string())),
    }
}

/// Looks at the processes, probes `files`, samples the holders' CPU for `sample` (none when
/// zero), and reads which cargo holders are offline. `home` is the Cargo home to assume for a
/// holder whose environment cannot be read.
pub fn look(table: &dyn ProcessTable, files: &[PathBuf], sample: Duration, home: &Path) -> Look {
    let (snap, blind) = snapshot(table);
    let cpu = (!sample.is_zero()).then(|| sample_cpu(table, &snap, sample));
    finish(table, snap, blind, files, cpu, sample, home, false)
}

/// [`look`] with the CPU measured between an earlier snapshot and this one (as `run` and
/// `wait` take them anyway), instead of a sample of its own. It is taken often, so whether a
/// holder is offline is read only for the holders of `files` and of locks someone waits for.
pub fn look_since(
    table: &dyn ProcessTable,
    files: &[PathBuf],
    earlier: Option<&(Snapshot, Instant)>,
    home: &Path,
) -> Look {
    let (snap, blind) = snapshot(table);
    let cpu = earlier.map(|(before, at)| cpu_between(before, &snap, at.elapsed()));
    let sample = earlier.map_or(Duration::ZERO, |(_, at)| at.elapsed());
    finish(table, snap, blind, files, cpu, sample, home, true)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    table: &dyn ProcessTable,
    mut snap: Snapshot,
    blind: Option<String>,
    files: &[PathBuf],
    cpu: Option<BTreeMap<u32, f64>>,
    sample: Duration,
    home: &Path,
    only_waited: bool,
) -> Look {
    let probes: Vec<Probed> = files.iter().map(|f| lockfiles::probe(f)).collect();
    // Held, but by no process the snapshot saw: the platform's second source may see more.
    let unseen: Vec<(PathBuf, FileId, Mode)> = (probes.iter())
        .filter_map(|p| {
            let mode = match p.probe {
                Probe::HeldShared => Mode::Shared,
                Probe::HeldExclusive => Mode::Exclusive,
                _ => return None,
            };
            let file = p.file?;
            let seen = (snap.uses.iter()).any(|u| u.file == file && u.holding.is_some());
            (!seen).then(|| (p.path.clone(), file, mode))
        })
        .collect();
    if !unseen.is_empty() {
        let found = table.second_source(&unseen, &snap);
        snap.uses.extend(found);
    }
    let waited = |u: &crate::sys::process::LockUse| {
        !only_waited
            || files.contains(&u.path)
            || probes.iter().any(|p| p.file == Some(u.file))
            || snap
                .uses
                .iter()
                .any(|w| w.file == u.file && w.waiting.is_some())
    };
    let mut holders: Vec<u32> = snap
        .uses
        .iter()
        .filter(|u| u.holding.is_some() && waited(u))
        .map(|u| u.pid)
        .collect();
    holders.sort_unstable();
    holders.dedup();
    let offline = holders
        .into_iter()
        .filter_map(|pid| {
            let info = snap.procs.get(&pid)?;
            if !crate::cargo::is_cargo(info.program()) {
                return None;
            }
            Some((pid, offline_reason(table, info, home)?))
        })
        .collect();
    Look {
        snap,
        probes,
        cpu,
        sample,
        offline,
        blind,
    }
}

/// The processes whose CPU matters: every holder's whole tree.
fn holder_trees(snap: &Snapshot) -> Vec<u32> {
    let mut pids: Vec<u32> = snap
        .uses
        .iter()
        .filter(|u| u.holding.is_some())
        .flat_map(|u| snap.subtree(u.pid))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// CPU share (seconds per second) of every process in the holders' trees over `sample`.
pub fn sample_cpu(
    table: &dyn ProcessTable,
    snap: &Snapshot,
    sample: Duration,
) -> BTreeMap<u32, f64> {
    let pids = holder_trees(snap);
    let before = table.cpu(&pids);
    let t = Instant::now();
    std::thread::sleep(sample);
    let after = table.cpu(&pids);
    shares(&before, &after, t.elapsed())
}

/// CPU share of every process seen in both snapshots, over `wall`.
pub fn cpu_between(before: &Snapshot, after: &Snapshot, wall: Duration) -> BTreeMap<u32, f64> {
    let take = |s: &Snapshot| -> BTreeMap<u32, Duration> {
        s.procs.values().map(|p| (p.pid, p.cpu)).collect()
    };
    // A pid in both with a different start is another process: left out.
    let mut b = take(before);
    b.retain(|pid, _| {
        after
            .procs
            .get(pid)
            .is_some_and(|a| before.procs.get(pid).is_some_and(|p| p.start == a.start))
    });
    shares(&b, &take(after), wall)
}

fn shares(
    before: &BTreeMap<u32, Duration>,
    after: &BTreeMap<u32, Duration>,
    wall: Duration,
) -> BTreeMap<u32, f64> {
    let secs = wall.as_secs_f64().max(1e-3);
    after
        .iter()
        .filter_map(|(pid, t1)| {
            let t0 = before.get(pid)?;
            Some((*pid, t1.saturating_sub(*t0).as_secs_f64() / secs))
        })
        .collect()
}

/// Why cargo's command line keeps it off the network, if it does: `--offline`, `--frozen`,
/// `--config net.offline=true` (before a `--`, after which arguments are the program's).
pub fn offline_args(cmdline: &[String]) -> Option<String> {
    let is_offline_config = |v: &str| {
        let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        v == "net.offline=true"
    };
    let mut args = cmdline.iter().skip(1).map(String::as_str);
    while let Some(a) = args.next() {
        match a {
            "--" => break,
            "--offline" | "--frozen" => return Some(format!("`{a}`")),
            "--config" => {
                if args.next().is_some_and(is_offline_config) {
                    return Some("`--config net.offline=true`".into());
                }
            }
            _ => {
                if a.strip_prefix("--config=").is_some_and(is_offline_config) {
                    return Some("`--config net.offline=true`".into());
                }
            }
        }
    }
    None
}

/// Why this cargo cannot use the network, if it cannot (see the module docs).
pub fn offline_reason(table: &dyn ProcessTable, info: &ProcInfo, home: &Path) -> Option<String> {
    if let Some(why) = offline_args(&info.cmdline) {
        return Some(why);
    }
    let env = table.environ(info.pid);
    let var = |k: &str| {
        env.as_ref()
            .and_then(|e| e.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()))
    };
    if let Some(v) = var("CARGO_NET_OFFLINE") {
        return (v == "true").then(|| format!("`CARGO_NET_OFFLINE={v}`"));
    }
    let cwd = info.cwd.as_ref()?;
    let its_home = match (var("CARGO_HOME"), var("HOME")) {
        (Some(h), _) if !h.is_empty() => cwd.join(h),
        (_, Some(h)) if !h.is_empty() => PathBuf::from(h).join(".cargo"),
        _ => home.to_owned(),
    };
    let home = CargoHome {
        path: its_home,
        origin: crate::discover::cargo_home::Origin::Env,
    };
    let config = CargoConfig::load(cwd, &home).ok()?;
    match config.file_bool(&["net", "offline"])? {
        (true, file) => Some(format!("`net.offline = true` in `{}`", file.display())),
        (false, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process table that sees nothing, and whose second source names pid 4242 for every
    /// file it is asked about (recording what it was asked).
    struct Blind {
        asked: std::cell::RefCell<Vec<(PathBuf, Mode)>>,
        sees: Vec<crate::sys::process::LockUse>,
    }

    impl ProcessTable for Blind {
        fn snapshot(&self, _: &dyn Fn(&Path) -> bool) -> std::io::Result<Snapshot> {
            Ok(Snapshot {
                procs: BTreeMap::new(),
                uses: self.sees.clone(),
            })
        }
        fn cpu(&self, _: &[u32]) -> BTreeMap<u32, Duration> {
            BTreeMap::new()
        }
        fn environ(&self, _: u32) -> Option<Vec<(String, String)>> {
            None
        }
        fn ignores(&self, _: u32, _: crate::sys::process::Rung) -> bool {
            false
        }
        fn second_source(
            &self,
            held: &[(PathBuf, FileId, Mode)],
            _: &Snapshot,
        ) -> Vec<crate::sys::process::LockUse> {
            (held.iter())
                .map(|(path, file, mode)| {
                    self.asked.borrow_mut().push((path.clone(), *mode));
                    crate::sys::process::LockUse {
                        pid: 4242,
                        path: path.clone(),
                        deleted: false,
                        file: *file,
                        holding: Some(*mode),
                        waiting: None,
                        evidence: crate::sys::process::Evidence::Probable,
                    }
                })
                .collect()
        }
    }

    #[test]
    fn a_lock_held_by_nobody_seen_is_asked_of_the_second_source_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let held = dir.path().join(".package-cache");
        let free = dir.path().join(".package-cache-mutate");
        std::fs::write(&held, "").unwrap();
        std::fs::write(&free, "").unwrap();
        // Another open file description: our own flock conflicts with it like another
        // process's would.
        let holder = std::fs::File::open(&held).unwrap();
        holder.lock().unwrap();
        let files = [held.clone(), free.clone()];
        let blind = Blind {
            asked: Default::default(),
            sees: Vec::new(),
        };
        let look = look(&blind, &files, Duration::ZERO, dir.path());
        assert_eq!(*blind.asked.borrow(), [(held.clone(), Mode::Exclusive)]);
        assert_eq!(look.snap.uses.len(), 1);
        assert_eq!(look.snap.uses[0].pid, 4242);

        // When the snapshot already shows the holder, the second source is not asked.
        let seen = look.snap.uses.clone();
        let sighted = Blind {
            asked: Default::default(),
            sees: seen,
        };
        let again = super::look(&sighted, &files, Duration::ZERO, dir.path());
        assert!(sighted.asked.borrow().is_empty());
        assert_eq!(again.snap.uses.len(), 1);
        drop(holder);
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn offline_from_the_command_line() {
        let o = |a: &[&str]| offline_args(&args(a));
        assert_eq!(
            o(&["cargo", "build", "--offline"]).as_deref(),
            Some("`--offline`")
        );
        assert_eq!(
            o(&["cargo", "build", "--frozen"]).as_deref(),
            Some("`--frozen`")
        );
        assert!(o(&["cargo", "--config", "net.offline = true", "build"]).is_some());
        assert!(o(&["cargo", "--config=net.offline=true", "build"]).is_some());
        assert!(o(&["cargo", "--config", "net.offline=false", "build"]).is_none());
        assert!(o(&["cargo", "build"]).is_none());
        assert!(
            o(&["cargo", "run", "--", "--offline"]).is_none(),
            "the program's own"
        );
        assert!(o(&["--offline"]).is_none(), "argv[0] is the program");
    }

    #[test]
    fn cpu_between_snapshots() {
        use crate::sys::process::{ProcInfo, ProcState, StartStamp};
        let p = |pid, cpu_ms, start: &str| ProcInfo {
            pid,
            ppid: 1,
            pgid: pid,
            name: "x".into(),
            cmdline: vec![],
            cwd: None,
            state: ProcState::Running,
            cpu: Duration::from_millis(cpu_ms),
            age: None,
            start: start.parse::<StartStamp>().unwrap(),
            uid: None,
            parent_exited: false,
        };
        let snap = |v: Vec<ProcInfo>| Snapshot {
            procs: v.into_iter().map(|p| (p.pid, p)).collect(),
            uses: vec![],
        };
        let before = snap(vec![p(1, 100, "5"), p(2, 100, "5")]);
        let after = snap(vec![p(1, 600, "5"), p(2, 900, "6"), p(3, 50, "7")]);
        let c = cpu_between(&before, &after, Duration::from_secs(1));
        assert_eq!(
            c.len(),
            1,
            "a reused pid and a new process are not measured: {c:?}"
        );
        assert!((c[&1] - 0.5).abs() < 1e-9);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn offline_from_the_environment_and_the_config_of_the_process_itself() {
        use crate::sys::process;
        let t = tempfile::tempdir().unwrap();
        let project = t.path().join("p");
        std::fs::create_dir_all(project.join(".cargo")).unwrap();
        std::fs::write(
            project.join(".cargo/config.toml"),
            "[net]\noffline = true\n",
        )
        .unwrap();
        let home = t.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let reason = |env: &[(&str, &str)], dir: &Path| {
            let mut cmd = std::process::Command::new("sleep");
            cmd.arg("30").current_dir(dir).env_clear();
            cmd.env("CARGO_HOME", &home);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().unwrap();
            let table = process::table();
            let snap = table.snapshot(&|_| false).unwrap();
            let info = snap.procs[&child.id()].clone();
            let r = offline_reason(table.as_ref(), &info, Path::new("/nonexistent"));
            child.kill().unwrap();
            child.wait().unwrap();
            r
        };
        assert_eq!(
            reason(&[("CARGO_NET_OFFLINE", "true")], t.path()).as_deref(),
            Some("`CARGO_NET_OFFLINE=true`")
        );
        let from_file = reason(&[], &project).unwrap();
        assert!(
            from_file.starts_with("`net.offline = true` in `"),
            "{from_file}"
        );
        assert!(from_file.contains("p/.cargo/config.toml"), "{from_file}");
        assert_eq!(
            reason(&[("CARGO_NET_OFFLINE", "false")], &project),
            None,
            "the environment overrides the files, as in Cargo"
        );
        assert_eq!(reason(&[], t.path()), None);
    }
}
