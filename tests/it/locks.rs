//! The lock doctor (`locks`, `wait`, `run`, `stop`) with real processes: real cargo builds,
//! `flock(1)` holders, a nested cargo in a build script. Every process signalled here was
//! started by the test.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

fn locks_json(c: &Copy, args: &[&str]) -> Value {
    let mut a = vec!["locks", "--json", "--sample", "0"];
    a.extend_from_slice(args);
    json(&mut c.janitor(&a))
}

/// The lock at exactly `path` (the listing is system-wide: other tests hold locks too).
fn find_lock<'a>(v: &'a Value, path: &Path) -> Option<&'a Value> {
    v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| Path::new(l["path"].as_str().unwrap()) == path)
}

fn pid(v: &Value) -> u32 {
    v["pid"].as_u64().unwrap() as u32
}

#[test]
fn names_a_building_cargo_its_locks_and_a_waiting_cargo() {
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    let (build, hold) = held_build(&c, "p1");
    let build = Guard(build);
    let v = locks_json(&c, &[target.to_str().unwrap()]);

    let dir_lock =
        find_lock(&v, &target.join("debug/.cargo-lock")).unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(dir_lock["kind"], "build-dir");
    assert_eq!(dir_lock["visible"], true);
    assert_eq!(pid(&dir_lock["holders"][0]), build.pid(), "{v:#}");
    assert_eq!(dir_lock["holders"][0]["mode"], "exclusive");
    let mutate =
        find_lock(&v, &c.home.join(".package-cache-mutate")).unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(mutate["kind"], "package-cache-mutate");
    assert_eq!(pid(&mutate["holders"][0]), build.pid());
    assert_eq!(mutate["holders"][0]["mode"], "shared");
    assert_eq!(
        mutate["message"],
        "Blocking waiting for file lock on package cache mutation"
    );
    assert!(
        mutate["holders"][0]["cmdline"]
            .as_str()
            .unwrap()
            .contains("build"),
        "{v:#}"
    );

    // A second build of the same target dir waits behind the first.
    let second = Guard(
        c.cargo("p1", &["build", "--offline"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let v = eventually(60, "the second build to wait", || {
        let v = locks_json(&c, &[target.to_str().unwrap()]);
        let l = find_lock(&v, &target.join("debug/.cargo-lock"))?;
        (!l["waiters"].as_array()?.is_empty()).then_some(v)
    });
    let l = find_lock(&v, &target.join("debug/.cargo-lock")).unwrap();
    assert_eq!(pid(&l["waiters"][0]), second.pid());
    assert_eq!(l["waiters"][0]["mode"], "exclusive");
    assert!(
        l["message"]
            .as_str()
            .unwrap()
            .starts_with("Blocking waiting for file lock on build directory"),
        "{l:#}"
    );
    // Both builds finish once the first is released.
    std::fs::remove_file(&hold).unwrap();
    let (mut build, mut second) = (build, second);
    assert!(build.wait().success());
    assert!(second.wait().success());
}

#[test]
fn a_plain_holder_of_the_package_cache_and_a_cargo_waiting_behind_it() {
    let c = Copy::of(populated());
    let file = c.home.join(".package-cache");
    let holder = hold_with_flock(&file, "-x");
    let waiter = Guard(
        c.cargo("p2", &["build", "--offline"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let v = eventually(30, "cargo to wait", || {
        let v = locks_json(&c, &[]);
        let l = find_lock(&v, &c.home.join(".package-cache"))?;
        (!l["waiters"].as_array()?.is_empty()).then_some(v)
    });
    let l = find_lock(&v, &c.home.join(".package-cache")).unwrap();
    assert_eq!(l["kind"], "package-cache");
    assert_eq!(
        l["message"],
        "Blocking waiting for file lock on package cache"
    );
    let holders = l["holders"].as_array().unwrap();
    assert_eq!(
        holders.len(),
        1,
        "flock's `sleep` child shares the lock: named once, as flock"
    );
    assert_eq!(pid(&holders[0]), holder.pid());
    assert_eq!(holders[0]["mode"], "exclusive");
    assert_eq!(pid(&l["waiters"][0]), waiter.pid());
    // Human form.
    let out = c.janitor(&["locks", "--sample", "0"]).output().unwrap();
    assert_ok(&out, "locks");
    let text = stdout(&out);
    assert!(
        text.contains(&format!("held by pid {}", holder.pid())),
        "{text}"
    );
    assert!(text.contains("never stale"), "{text}");
    drop(holder);
    let mut waiter = waiter;
    assert!(waiter.wait().success());
}

#[test]
fn verdicts_stopped_orphaned_and_inherited() {
    let c = Copy::of(populated());
    // Stopped.
    let file = c.home.join(".package-cache");
    let holder = hold_with_flock(&file, "-x");
    command("kill")
        .args(["-STOP", &holder.pid().to_string()])
        .status()
        .unwrap();
    let v = locks_json(&c, &[]);
    let h = &find_lock(&v, &c.home.join(".package-cache")).unwrap()["holders"][0];
    assert_eq!(pid(h), holder.pid());
    assert_eq!(h["verdict"], "stopped", "{v:#}");
    assert!(h["suggestion"].as_str().unwrap().contains("kill -CONT"));
    drop(holder);

    // Inherited by a child after the locking parent exited: the child is named. The orphan is
    // not our child (its pid could be reused once it is gone), so it is never signalled: it
    // exits by itself once the hold file is removed.
    let hold = c.dir.path().join("hold-orphan");
    std::fs::write(&hold, "").unwrap();
    let _release = RemoveOnDrop(hold.clone());
    let script = format!(
        "import fcntl, os, sys, time\n\
         f = open('{}', 'w')\n\
         fcntl.flock(f, fcntl.LOCK_EX)\n\
         pid = os.fork()\n\
         if pid:\n    print(pid, flush=True)\n    os._exit(0)\n\
         os.close(0); os.close(1); os.close(2)\n\
         start = time.time()\n\
         while os.path.exists('{}') and time.time() - start < 120:\n    time.sleep(0.05)\n",
        file.display(),
        hold.display()
    );
    let out = command("python3")
        .args(["-c", &script])
        .process_group(0)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let child: u32 = stdout(&out).trim().parse().unwrap();
    let v = eventually(10, "the orphan to be re-parented", || {
        let v = locks_json(&c, &[]);
        let h = &find_lock(&v, &c.home.join(".package-cache"))?["holders"][0];
        (h["verdict"] == "orphaned").then_some(v)
    });
    let h = &find_lock(&v, &c.home.join(".package-cache")).unwrap()["holders"][0];
    assert_eq!(pid(h), child, "the live child, not the dead parent");
    assert!(
        h["suggestion"]
            .as_str()
            .unwrap()
            .contains(&format!("cargo janitor stop {child}"))
    );
}

/// Removes a hold file when dropped: what makes a holder the test did not start exit.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_nested_cargo_waiting_on_its_parent_is_a_deadlock() {
    let env = Env::new();
    let inner = env.path("inner");
    std::fs::create_dir_all(inner.join("src")).unwrap();
    std::fs::write(
        inner.join("Cargo.toml"),
        "[package]\nname = \"inner\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(inner.join("src/lib.rs"), "").unwrap();
    let outer = env.project("outer", "");
    std::fs::write(
        outer.join("Cargo.toml"),
        "[package]\nname = \"outer\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n",
    )
    .unwrap();
    std::fs::write(outer.join("build.rs"), nested_cargo_build_rs(&inner)).unwrap();
    let build = Guard(
        env.cargo(&outer, &["build", "--offline"])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let c = Copy {
        dir: tempfile::tempdir().unwrap(),
        home: env.home.clone(),
    };
    let target = outer.join("target");
    let v = eventually(120, "the nested cargo to block", || {
        // A PATH that is not (yet) a target dir is refused (exit 2): wait for cargo to make it.
        target.join("CACHEDIR.TAG").is_file().then_some(())?;
        let v = locks_json(&c, &[target.to_str().unwrap()]);
        let l = find_lock(&v, &target.join("debug/.cargo-lock"))?;
        (!l["waiters"].as_array()?.is_empty()).then_some(v)
    });
    let l = find_lock(&v, &target.join("debug/.cargo-lock")).unwrap();
    let h = &l["holders"][0];
    assert_eq!(pid(h), build.pid());
    assert_eq!(h["verdict"], "deadlock", "{v:#}");
    assert!(
        h["suggestion"]
            .as_str()
            .unwrap()
            .contains("CARGO_TARGET_DIR")
    );
    let w = pid(&l["waiters"][0]);
    assert_ne!(w, build.pid());
    drop(build);
}

#[test]
fn wait_returns_when_the_lock_is_released_and_times_out_otherwise() {
    let c = Copy::of(populated());
    let file = c.home.join(".package-cache");
    let holder = hold_with_flock(&file, "-x");

    let t = Instant::now();
    let out = c
        .janitor(&["wait", "--timeout", "2 seconds"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(t.elapsed() >= Duration::from_secs(2));
    let err = stderr(&out);
    assert!(err.contains("timed out"), "{err}");
    assert!(err.contains(&format!("pid {}", holder.pid())), "{err}");

    let mut waiting = c
        .janitor(&["wait", "--timeout", "60 seconds", "--lock", "package-cache"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(waiting.try_wait().unwrap().is_none(), "still waiting");
    let released = Instant::now();
    drop(holder);
    let status = waiting.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        released.elapsed() < Duration::from_secs(1),
        "{:?}",
        released.elapsed()
    );

    let out = c.janitor(&["wait", "--lock", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("package-cache"), "{}", stderr(&out));
}

#[test]
fn run_explains_a_wait_passes_the_exit_code_and_times_out() {
    let c = Copy::of(populated());
    let file = c.home.join(".package-cache");
    let holder = hold_with_flock(&file, "-x");
    let holder_pid = holder.pid();
    let cargo_env = |cmd: &mut Command| {
        cmd.env("CARGO_HOME", &c.home)
            .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(c.dir.path().join("p2"));
    };
    let mut cmd = c.janitor(&["run", "--", "cargo", "build", "--offline"]);
    cargo_env(&mut cmd);
    let mut running = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr_pipe = running.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr_pipe, &mut s).unwrap();
        s
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        running.try_wait().unwrap().is_none(),
        "blocked behind the holder"
    );
    drop(holder);
    let status = running.wait().unwrap();
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("blocked on the package-cache lock"), "{err}");
    assert!(err.contains("flock"), "names the holder: {err}");
    // The holder line of `locks`, with a verdict from a real CPU sample, and advice that
    // names no flag `run` does not have (it used to say "run without `--sample 0`").
    assert!(
        err.contains(&format!("held by pid {holder_pid} `flock -x ")),
        "{err}"
    );
    assert!(err.contains("(idle: no CPU in "), "{err}");
    assert!(!err.contains("--sample"), "{err}");

    let out = c
        .janitor(&["run", "--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));

    let holder = hold_with_flock(&file, "-x");
    let mut cmd = c.janitor(&[
        "run",
        "--timeout",
        "2 seconds",
        "--",
        "cargo",
        "build",
        "--offline",
    ]);
    cargo_env(&mut cmd);
    let t = Instant::now();
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(stderr(&out).contains("stopping"), "{}", stderr(&out));
    drop(holder);
}

/// A bash holder of `.package-cache` that logs the signals it gets.
fn logging_holder(c: &Copy, log: &Path) -> Guard {
    let file = c.home.join(".package-cache");
    let script = format!(
        "exec 9>'{}'; flock -x 9; trap 'echo INT >> {log}' INT; trap 'echo TERM >> {log}; exit 0' TERM; \
         touch {log}.ready; while true; do sleep 0.1; done",
        file.display(),
        log = log.display()
    );
    let g = Guard(
        command("bash")
            .args(["-c", &script])
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    eventually(10, "the holder to be ready", || {
        Path::new(&format!("{}.ready", log.display()))
            .exists()
            .then_some(())
    });
    g
}

/// `stop 1` is refused. Asked in a PID namespace of its own where PID 1 is the janitor itself,
/// so that a janitor that failed to refuse would signal no process the test did not start;
/// skipped where no PID namespace can be made.
fn refuses_to_stop_pid_1(c: &Copy) {
    for userns in [&[][..], &["--user", "--map-root-user"]] {
        let Ok(out) = command("unshare")
            .args(userns)
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(env!("CARGO_BIN_EXE_cargo-janitor"))
            .arg("--cargo-home")
            .arg(&c.home)
            .args(["stop", "--yes", "1"])
            .current_dir(c.dir.path())
            .output()
        else {
            break;
        };
        if stderr(&out).starts_with("unshare:") {
            continue;
        }
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stderr(&out).contains("init process"), "{}", stderr(&out));
        return;
    }
    eprintln!("skipped `stop 1`: cannot make a PID namespace here");
}

#[test]
fn stop_climbs_the_ladder_and_refuses_what_it_must() {
    let c = Copy::of(populated());
    let log = c.dir.path().join("signals.log");
    let holder = logging_holder(&c, &log);
    let pid = holder.pid();

    // Refusals first: a wrong start time (a reused pid), a process without a Cargo lock,
    // PID 1.
    let out = c
        .janitor(&["stop", "--yes", &format!("{pid}:1")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("names another process"),
        "{}",
        stderr(&out)
    );
    let sleeper = Guard(command("sleep").arg("60").spawn().unwrap());
    let out = c
        .janitor(&["stop", "--yes", &sleeper.pid().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("neither holds nor waits"),
        "{}",
        stderr(&out)
    );
    refuses_to_stop_pid_1(&c);
    let out = c.janitor(&["stop", "--yes", "abc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&log).unwrap_or_default(), "");

    // The ladder: SIGINT (the trap logs it and carries on), then SIGTERM.
    let out = c
        .janitor(&["stop", "--yes", "--grace", "1 second", &pid.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "INT\nTERM\n");
    let err = stderr(&out);
    let int = err.find("SIGINT").unwrap();
    let term = err.find("SIGTERM").unwrap();
    assert!(int < term, "{err}");
    assert!(err.contains("released their locks"), "{err}");
    let f = std::fs::File::open(c.home.join(".package-cache")).unwrap();
    f.try_lock().expect("the lock is free");
    drop(holder);
}

#[test]
fn a_symlinked_home_and_a_deleted_lock_file_are_seen_for_what_they_are() {
    let c = Copy::of(populated());
    let link = c.dir.path().join("home-link");
    std::os::unix::fs::symlink(&c.home, &link).unwrap();
    let holder = hold_with_flock(&c.home.join(".package-cache"), "-x");
    // Probed through the symlink, held through the real path: one lock, and visible.
    let v = json(&mut janitor_in(
        &link,
        c.dir.path(),
        &["locks", "--json", "--sample", "0"],
    ));
    let mine: Vec<&Value> = v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l["holders"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| pid(h) == holder.pid()))
                || l["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(link.to_str().unwrap())
        })
        .collect();
    assert_eq!(mine.len(), 1, "{v:#}");
    assert_eq!(mine[0]["visible"], true);
    assert_eq!(mine[0]["deleted"], false);

    // Someone "fixes" the wait by deleting the lock file: the holder is still named, and the
    // deletion is called out.
    std::fs::remove_file(c.home.join(".package-cache")).unwrap();
    let v = locks_json(&c, &[]);
    let l = v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["holders"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| pid(h) == holder.pid()))
        })
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(l["deleted"], true);
    let out = c.janitor(&["locks", "--sample", "0"]).output().unwrap();
    assert!(
        stdout(&out).contains("deleted while held"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn stopping_one_of_two_shared_holders_succeeds() {
    let c = Copy::of(populated());
    let file = c.home.join(".package-cache-mutate");
    let a = hold_with_flock(&file, "-s");
    let b = hold_with_flock(&file, "-s");
    let out = c
        .janitor(&["stop", "--yes", "--grace", "1 second", &a.pid().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = std::fs::File::open(&file).unwrap();
    assert!(f.try_lock().is_err(), "the other holder still holds it");
    drop(b);
}

#[test]
fn run_on_a_terminal_lets_the_command_read_it() {
    if command("script").arg("--version").output().is_err() {
        eprintln!("skipped: needs script(1) to make a terminal");
        return;
    }
    let cmd = format!(
        "{} run -- sh -c 'read x; echo got:$x; exit 3'",
        env!("CARGO_BIN_EXE_cargo-janitor")
    );
    let mut child = command("timeout")
        .args(["20", "script", "-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("got:hello"), "{text}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "the exit code comes through: {text}"
    );
}

/// A project whose build script runs `cargo-janitor stop --yes <its cargo>` and logs what it
/// printed and how it exited.
fn self_stopping_project(env: &Env) -> std::path::PathBuf {
    let p = env.project("selfstop", "");
    std::fs::write(p.join("build.rs"), SELF_STOP_BUILD_RS).unwrap();
    p
}

#[test]
fn stop_run_from_inside_the_holders_tree_refuses_instead_of_killing_itself() {
    let env = Env::new();
    let project = self_stopping_project(&env);
    // Cargo in the test's process group (its tree is signalled), then leading its own (the
    // group is signalled): either way cargo-janitor is in it.
    for (i, own_group) in [false, true].into_iter().enumerate() {
        let log = env.path(&format!("stop-{i}.log"));
        let mut cmd = env.cargo(&project, &["build", "--offline"]);
        cmd.env("JANITOR_LOG", &log)
            .env("JANITOR_BIN", env!("CARGO_BIN_EXE_cargo-janitor"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if own_group {
            cmd.process_group(0);
        }
        let mut build = Guard(cmd.spawn().unwrap());
        let cargo = build.pid();
        let status = build.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "the build was not signalled: {text}");
        assert!(
            text.starts_with(&format!("cargo={cargo}\ncode=Some(5)\n")),
            "cargo-janitor survived and refused: {text}"
        );
        assert!(
            text.contains(&format!(
                "not stopping pid {cargo}: it is an ancestor of this cargo-janitor"
            )),
            "{text}"
        );
        assert!(text.contains("build-script-build"), "the chain: {text}");
        assert!(text.contains("nothing was sent"), "{text}");
        assert!(!text.contains("Sent"), "{text}");
    }
}

#[test]
fn stop_signals_a_group_it_is_in_one_by_one_without_itself() {
    let c = Copy::of(populated());
    let log = c.dir.path().join("stop.log");
    // The holder leads its process group. A grandchild of it, re-parented when its parent
    // exits (so not in the holder's tree, but still in its group), runs cargo-janitor stop
    // against the holder and logs the result.
    let script = format!(
        "import fcntl, os, subprocess, sys, time\n\
         os.setpgid(0, 0)\n\
         fd = os.open('{lock}', os.O_RDWR)\n\
         fcntl.flock(fd, fcntl.LOCK_EX)\n\
         holder = os.getpid()\n\
         if os.fork() == 0:\n\
         \x20   middle = os.getpid()\n\
         \x20   if os.fork() == 0:\n\
         \x20       os.close(fd)\n\
         \x20       while os.getppid() == middle: time.sleep(0.05)\n\
         \x20       r = subprocess.run(['{bin}', '--cargo-home', '{home}', 'stop', '--yes', \
                        '--grace', '2 seconds', str(holder)], capture_output=True, text=True)\n\
         \x20       open('{log}.tmp', 'w').write('code=%s\\n%s' % (r.returncode, r.stderr))\n\
         \x20       os.rename('{log}.tmp', '{log}')\n\
         \x20       os._exit(0)\n\
         \x20   os._exit(0)\n\
         time.sleep(120)\n",
        lock = c.home.join(".package-cache").display(),
        bin = env!("CARGO_BIN_EXE_cargo-janitor"),
        home = c.home.display(),
        log = log.display(),
    );
    let holder = Guard(
        command("python3")
            .args(["-c", &script])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let text = eventually(60, "the grandchild's log", || {
        std::fs::read_to_string(&log).ok()
    });
    assert!(text.starts_with("code=0\n"), "{text}");
    assert!(
        text.contains("(this command) from every signal: it is in process group"),
        "{text}"
    );
    assert!(text.contains("(an ancestor of this command)"), "{text}");
    assert!(
        text.contains(&format!(
            "SIGINT to process group {} one process at a time",
            holder.pid()
        )),
        "{text}"
    );
    assert!(text.contains("Stopped"), "{text}");
    let f = std::fs::File::open(c.home.join(".package-cache")).unwrap();
    f.try_lock()
        .expect("the holder is gone and the lock is free");
    let mut holder = holder;
    assert!(!holder.wait().success(), "the holder died of SIGINT");
}

/// `cmd` (made by [`janitor_in`]) run as user and group 65534 ("nobody"), without groups.
fn as_nobody(cmd: &Command) -> Command {
    let mut c = command("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        c.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

#[test]
fn a_lock_this_user_cannot_open_is_reported_and_never_called_free() {
    use std::os::unix::fs::PermissionsExt;
    if command("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs setpriv(1) to run cargo-janitor as another user");
        return;
    }
    // Root's Cargo home, readable by others except its lock file (0600), which root holds.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("cargo-home");
    std::fs::create_dir_all(home.join("registry")).unwrap();
    let lock = home.join(".package-cache");
    std::fs::write(&lock, "").unwrap();
    std::fs::write(home.join(".package-cache-mutate"), "").unwrap();
    for (p, mode) in [(dir.path(), 0o755), (&home, 0o755), (&lock, 0o600)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let holder = hold_with_flock(&lock, "-x");

    let out = as_nobody(&janitor_in(
        &home,
        dir.path(),
        &["locks", "--json", "--sample", "0"],
    ))
    .output()
    .unwrap();
    assert_ok(&out, "locks as nobody");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = find_lock(&v, &lock).unwrap_or_else(|| panic!("reported: {v:#}"));
    assert_eq!(l["visible"], false, "{v:#}");
    assert_eq!(l["probe"], "unknown", "{v:#}");
    assert_eq!(l["probe_error"], "permission denied", "{v:#}");
    assert_eq!(l["holders"], serde_json::json!([]));
    // The other lock file is readable and free: not listed.
    assert!(find_lock(&v, &home.join(".package-cache-mutate")).is_none());

    let out = as_nobody(&janitor_in(&home, dir.path(), &["locks", "--sample", "0"]))
        .output()
        .unwrap();
    assert_ok(&out, "locks as nobody");
    assert!(
        flat(&stdout(&out)).contains(&format!(
            "could not probe `{}`: permission denied; it may be held",
            lock.display()
        )),
        "{}",
        stdout(&out)
    );

    for args in [
        &["wait", "--timeout", "2 seconds"][..],
        &["wait", "--timeout", "2 seconds", "--lock", "package-cache"][..],
    ] {
        let out = as_nobody(&janitor_in(&home, dir.path(), args))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(!err.to_lowercase().contains("free"), "{err}");
        assert!(
            err.contains(&format!(
                "timed out after 2s waiting for package-cache (`{}`): could not probe it: \
                 permission denied; it may be held",
                lock.display()
            )),
            "{err}"
        );
    }
    // Waiting only for another lock is not held up by this one.
    let out = as_nobody(&janitor_in(
        &home,
        dir.path(),
        &[
            "wait",
            "--timeout",
            "2 seconds",
            "--lock",
            "package-cache-mutate",
        ],
    ))
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(holder);
}

/// The paragraphs of `locks`' human output about `path`.
fn paragraphs_about(text: &str, path: &Path) -> String {
    let full = path.display().to_string();
    text.split("\n\n")
        .filter(|p| {
            // The heading names the lock file relative to the current directory when below it.
            p.lines()
                .next()
                .and_then(|l| l.rsplit("  ").next())
                .is_some_and(|shown| {
                    full == shown || full.ends_with(&format!("/{shown}")) && !shown.is_empty()
                })
        })
        .map(flat)
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Human output with the lines it wrapped to fit 80 columns joined again (a continuation
/// line's indentation becomes the one space it was wrapped at).
fn flat(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push(if line.starts_with(' ') { ' ' } else { '\n' });
        }
        out.push_str(line.trim_start());
    }
    out
}

/// Every pid `v` lists as a holder with a verdict, in any lock.
fn holder_pids(v: &Value) -> Vec<u32> {
    v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["holders"].as_array().unwrap().iter().map(pid))
        .collect()
}

#[test]
fn a_sleeping_build_script_is_a_build_and_a_waiting_cargo_only_a_waiter() {
    // Issue #10: `cargo build --offline` whose build script sleeps is building (not "idle, may
    // be stuck on the network, stop it"), and a second cargo that waits behind it is a waiter,
    // not a second holder with the same verdict.
    let c = Copy::of(populated());
    let target = c.dir.path().join("p1/target");
    let dir_lock = target.join("debug/.cargo-lock");
    let mutate_lock = c.home.join(".package-cache-mutate");
    let (build, hold) = held_build(&c, "p1");
    let build = Guard(build);
    let second = Guard(
        c.cargo("p1", &["build", "--offline"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // With the CPU sample `locks` takes by default.
    let sampled = |extra: &[&str]| {
        let mut a = vec!["locks", "--json", "--sample", "0.3s"];
        a.extend_from_slice(extra);
        a.push(target.to_str().unwrap());
        json(&mut c.janitor(&a))
    };
    eventually(60, "the second build to wait", || {
        let v = sampled(&[]);
        let l = find_lock(&v, &dir_lock)?;
        (!l["waiters"].as_array()?.is_empty()).then_some(v)
    });
    // Let the first build settle into its sleeping build script: a CPU sample alone now
    // sees no CPU anywhere in its tree (what made the old verdict "idle … network").
    std::thread::sleep(Duration::from_secs(1));
    let v = sampled(&[]);
    let l = find_lock(&v, &dir_lock).unwrap_or_else(|| panic!("{v:#}"));
    let h = &l["holders"][0];
    assert_eq!(pid(h), build.pid(), "{v:#}");
    assert_eq!(h["verdict"], "building", "{v:#}");
    assert_eq!(h["activity"]["kind"], "build-script", "{v:#}");
    assert_eq!(h["activity"]["name"], "gamma", "{v:#}");
    assert_eq!(h["offline"], "`--offline`", "{v:#}");
    let advice = h["suggestion"].as_str().unwrap();
    assert!(!advice.contains("network"), "{advice}");
    assert!(!advice.contains("cargo janitor stop"), "{advice}");
    // The waiting cargo is a waiter, and never a holder with a verdict, though it does hold
    // the mutate lock (shared) while it waits.
    assert_eq!(pid(&l["waiters"][0]), second.pid());
    assert!(
        !holder_pids(&v).contains(&second.pid()),
        "a waiter is never shown as a holder: {v:#}"
    );
    let m = find_lock(&v, &mutate_lock).unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(pid(&m["holders"][0]), build.pid(), "{v:#}");
    assert_eq!(pid(&m["waiting_holders"][0]), second.pid(), "{v:#}");
    assert_eq!(
        m["waiting_holders"][0]["waiting_kind"], "build-dir",
        "{v:#}"
    );

    // The human form says the same, and `-v` shows the tree down to the build script.
    let out = c
        .janitor(&["locks", "-v", "--sample", "0.3s", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out, "locks -v");
    let text = paragraphs_about(&stdout(&out), &dir_lock);
    assert!(
        text.contains(&format!("held by pid {} `", build.pid())),
        "{text}"
    );
    assert!(
        text.contains("cargo build --offline` (building: running build script `gamma` for "),
        "{text}"
    );
    assert!(!text.contains("network"), "{text}");
    assert!(!text.contains("cargo janitor stop"), "{text}");
    assert!(text.contains("process tree:"), "{text}");
    assert!(text.contains("build-script-build"), "{text}");
    assert!(
        text.contains(&format!("waiting: pid {} `", second.pid())),
        "{text}"
    );
    let text = paragraphs_about(&stdout(&out), &mutate_lock);
    assert!(
        text.contains(&format!("also held by pid {} `", second.pid())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "cargo build --offline` (shared), itself waiting for the build-dir lock (`{}`)",
            // Shown relative to the current directory.
            dir_lock.strip_prefix(c.dir.path()).unwrap().display()
        )),
        "{text}"
    );

    std::fs::remove_file(&hold).unwrap();
    let (mut build, mut second) = (build, second);
    assert!(build.wait().success());
    assert!(second.wait().success());
}

#[test]
fn the_wait_spinner_names_the_holder_within_the_terminal_width() {
    // Issue #10: the spinner showed "Waiting: 0 entries" instead of the holder unless the
    // terminal was wide enough for the whole line.
    if command("script").arg("--version").output().is_err() {
        eprintln!("skipped: needs script(1) to make a terminal");
        return;
    }
    let c = Copy::of(populated());
    let holder = hold_with_flock(&c.home.join(".package-cache"), "-x");
    let cmd = format!(
        "stty rows 24 cols 80; {} --cargo-home '{}' wait --timeout '2 seconds' --lock package-cache",
        env!("CARGO_BIN_EXE_cargo-janitor"),
        c.home.display()
    );
    let out = command("timeout")
        .args(["30", "script", "-qec", &cmd, "/dev/null"])
        .current_dir(c.dir.path())
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The spinner's frames, without the terminal's control sequences.
    let mut frames: Vec<String> = Vec::new();
    for f in text.split(['\r', '\n']) {
        let mut plain = String::new();
        let mut chars = f.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(ch);
            }
        }
        if plain.contains("Waiting") {
            frames.push(plain);
        }
    }
    assert!(!frames.is_empty(), "{text:?}");
    let expected = format!("Waiting for package-cache: pid {} `", holder.pid());
    for f in &frames {
        assert!(!f.contains("entries"), "{f:?}");
        assert!(f.contains(&expected), "{f:?}");
        assert!(
            f.chars().count() <= 80,
            "{} columns: {f:?}",
            f.chars().count()
        );
    }
    assert!(
        text.contains(&format!(
            "timed out after 2s waiting for package-cache (`{}`), held by pid {}",
            // Shown relative to the current directory, which holds the home.
            c.home
                .join(".package-cache")
                .strip_prefix(c.dir.path())
                .unwrap()
                .display(),
            holder.pid()
        )),
        "{text}"
    );
}

#[test]
fn a_pasted_message_of_any_cargo_version_narrows_locks_to_its_lock() {
    // Issue #12: every cargo version's wording maps to its lock; the old "the registry index"
    // (cargo 1.35 and older) is the package cache lock to a current cargo.
    let c = Copy::of(populated());
    let file = c.home.join(".package-cache");
    let holder = hold_with_flock(&file, "-x");
    let mutate = hold_with_flock(&c.home.join(".package-cache-mutate"), "-s");
    let ask = |message: &str| {
        let out = c
            .janitor(&["locks", "--sample", "0", "--message", message])
            .output()
            .unwrap();
        assert_ok(&out, message);
        flat(&stdout(&out))
    };
    for message in [
        "Blocking waiting for file lock on the registry index",
        "    Blocking waiting for file lock on package cache",
        "Blocking waiting for file lock on package cache lock",
        "the git checkouts",
    ] {
        let text = ask(message);
        assert!(
            text.contains(&format!("held by pid {} `", holder.pid())),
            "{message}: {text}"
        );
        assert!(
            !text.contains(&format!("pid {} `", mutate.pid())),
            "only the lock the message means: {message}: {text}"
        );
    }
    let text = ask("Blocking waiting for file lock on the registry index");
    assert!(text.contains("printed by cargo 1.35 and older"), "{text}");
    assert!(
        text.contains("Cargo 1.36 and newer guard this with the package cache lock"),
        "{text}"
    );
    // `-vv`'s path (cargo 1.94+) narrows to that very file.
    let v = json(&mut c.janitor(&[
        "locks",
        "--json",
        "--sample",
        "0",
        "--message",
        &format!(
            "Blocking waiting for file lock on package cache mutation ({})",
            c.home.join(".package-cache-mutate").display()
        ),
    ]));
    let locks = v["locks"].as_array().unwrap();
    assert_eq!(locks.len(), 1, "{v:#}");
    assert_eq!(pid(&locks[0]["holders"][0]), mutate.pid());
    assert_eq!(v["meaning"]["wording"]["words"], "package cache mutation");
    // Not one of Cargo's messages: bad input, with the accepted forms.
    let out = c
        .janitor(&["locks", "--message", "Blocking waiting for the moon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"the registry index\""),
        "{}",
        stderr(&out)
    );
}
