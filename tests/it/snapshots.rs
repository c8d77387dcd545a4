//! Snapshot tests of every command's human output, so that a change of wording is reviewed,
//! not accidental. Each output is normalised (the temp dir, the registry's directory name,
//! sizes, times, hashes, pids and alignment, which vary from run to run) and compared with
//! `tests/it/snapshots/<name>.txt`. `JANITOR_BLESS=1 cargo test --test it snapshots` writes
//! the files instead; review the diff before committing it.

use std::path::Path;
use std::process::Output;

use crate::support::*;

const SIZE_UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
const TIME_UNITS: [&str; 12] = [
    "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
    "month", "months",
];

/// Runs of 8 or more hex digits (unit hashes, registry and repository ids) become `[HASH]`,
/// and so does a short hash as the output shows it, `(1a2b3c4d)` (incremental session ids are
/// base 36).
fn hashes(word: &str) -> String {
    if let Some(inner) = word.strip_prefix('(').and_then(|w| w.strip_suffix(')'))
        && inner.len() == 8
        && inner.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return "([HASH])".into();
    }
    let mut out = String::new();
    let mut run = String::new();
    for ch in word.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_hexdigit() {
            run.push(ch);
            continue;
        }
        if run.len() >= 8 && run.chars().any(|c| c.is_ascii_digit()) {
            out.push_str("[HASH]");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(ch);
    }
    out.pop();
    out
}

/// What follows a number of seconds as the output writes it (`0.28s` → `Some("")`,
/// `3s,` → `Some(",")`), or `None` for any other word.
fn seconds(word: &str) -> Option<&str> {
    let end = word.trim_end_matches([',', ')', ';', '.', ':']);
    let n = end.strip_suffix('s')?;
    (!n.is_empty() && n.parse::<f64>().is_ok()).then(|| &word[end.len()..])
}

fn normalise(text: &str, tmp: &Path, home: &Path) -> String {
    let reg = std::fs::read_dir(home.join("registry/index"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned());
    let mut text = text.replace(&tmp.display().to_string(), "[TMP]");
    // The test registry's port.
    while let Some(i) = text.find("127.0.0.1:") {
        let rest = &text[i + 10..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        text = format!("{}127.0.0.1/[PORT]{}", &text[..i], &rest[digits..]);
    }
    if let Some(reg) = reg {
        text = text.replace(&reg, "[REG]");
    }
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut norm: Vec<String> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            let next = words.get(i + 1).copied().unwrap_or("");
            let number = w.parse::<f64>().is_ok();
            let unit = next.trim_end_matches([',', ')', ';', '.', ':']);
            if number && SIZE_UNITS.contains(&unit) {
                norm.push(format!("[SIZE]{}", &next[unit.len()..]));
                i += 2;
            } else if number
                && TIME_UNITS.contains(&unit)
                && words.get(i + 2).is_some_and(|a| a.starts_with("ago"))
            {
                norm.push(format!("[AGO]{}", &words[i + 2][3..]));
                i += 3;
            } else if let Some(d) = seconds(w) {
                // A measured duration (`0.28s`, `3s`).
                norm.push(format!("[SECS]{d}"));
                i += 1;
            } else if (w == "group" || w == "stop")
                && next.trim_end_matches(['`', ')']).parse::<u32>().is_ok()
            {
                // `process group 4104`, `cargo janitor stop 3728`.
                let digits = next.trim_end_matches(['`', ')']);
                norm.push(w.to_owned());
                norm.push(format!("[PID]{}", &next[digits.len()..]));
                i += 2;
            } else if (w == "pid" || w == "pids") && next.parse::<u32>().is_ok() {
                norm.push(w.to_owned());
                norm.push("[PID]".into());
                i += 2;
            } else {
                norm.push(hashes(w));
                i += 1;
            }
        }
        // A line with nothing normalised keeps its layout.
        if norm.iter().zip(&words).all(|(n, w)| n == w) && norm.len() == words.len() {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // Else alignment depends on the widths of what was normalised: one space between
        // words, and lines starting with spaces keep a two-space indent.
        let indent = if line.starts_with(' ') { "  " } else { "" };
        out.push_str(indent);
        out.push_str(&norm.join(" "));
        out.push('\n');
    }
    // Lists of items (indented lines) are ordered by path or hash, which vary: sorted.
    let mut sorted = String::new();
    let mut block: Vec<&str> = Vec::new();
    for line in out.lines() {
        if line.starts_with("  ") {
            block.push(line);
            continue;
        }
        block.sort();
        for l in block.drain(..) {
            sorted.push_str(l);
            sorted.push('\n');
        }
        sorted.push_str(line);
        sorted.push('\n');
    }
    block.sort();
    for l in block {
        sorted.push_str(l);
        sorted.push('\n');
    }
    sorted
}

/// Compares (or, with `JANITOR_BLESS=1`, writes) the snapshot `name`.
fn snap(name: &str, text: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("JANITOR_BLESS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file)
        .unwrap_or_else(|_| panic!("no snapshot {}: run with JANITOR_BLESS=1", file.display()));
    if want != text {
        panic!(
            "snapshot {name} changed (JANITOR_BLESS=1 to accept):\n--- want\n{want}--- got\n{text}"
        );
    }
}

/// stdout, then stderr after a `--- stderr` line when there is any, and the exit code.
fn both(out: &Output) -> String {
    let mut s = stdout(out);
    let err = stderr(out);
    if !err.is_empty() {
        s.push_str("--- stderr\n");
        s.push_str(&err);
    }
    s.push_str(&format!("--- exit {}\n", out.status.code().unwrap_or(-1)));
    s
}

#[test]
fn every_command_says_what_the_snapshots_say() {
    let c = Copy::of(populated());
    let now = (T0 + 100 * DAY).to_string();
    let p1 = c.dir.path().join("p1");
    let run = |dir: &Path, args: &[&str]| {
        let out = c
            .janitor(args)
            .env("__CARGO_TEST_LAST_USE_NOW", &now)
            // `--help` as an 80-column terminal shows it; other output unwrapped, since
            // where a line wraps depends on sizes, times and paths that vary.
            .env(
                "COLUMNS",
                if args.contains(&"--help") {
                    "80"
                } else {
                    "1000"
                },
            )
            .current_dir(dir)
            .output()
            .unwrap();
        normalise(&both(&out), c.dir.path(), &c.home)
    };
    let home = c.dir.path();
    snap("status", &run(home, &["status"]));
    snap("status-top", &run(home, &["status", "--top", "3"]));
    snap("gc-dry-run", &run(home, &["gc", "-n"]));
    // `locks` sees every lock on the machine (other tests' too): only what a pasted message
    // means, its first paragraph, is the same in every run.
    let meaning = run(
        &p1,
        &[
            "locks",
            "--sample",
            "0",
            "--message",
            "Blocking waiting for file lock on package cache",
        ],
    );
    snap(
        "locks-message",
        meaning.split("\n\n").next().unwrap_or_default(),
    );
    snap("wait-free", &run(&p1, &["wait", "--timeout", "1s"]));
    snap("run-true", &run(&p1, &["run", "--", "true"]));
    // (Above Linux's largest pid_max: no process has it.)
    snap("stop-no-such-pid", &run(&p1, &["stop", "--yes", "4194305"]));
    snap("sweep-report", &run(&p1, &["sweep"]));
    // Target dirs are dated by the real clock.
    let run = |dir: &Path, args: &[&str]| {
        let out = c
            .janitor(args)
            // `--help` as an 80-column terminal shows it; other output unwrapped, since
            // where a line wraps depends on sizes, times and paths that vary.
            .env(
                "COLUMNS",
                if args.contains(&"--help") {
                    "80"
                } else {
                    "1000"
                },
            )
            .current_dir(dir)
            .output()
            .unwrap();
        normalise(&both(&out), c.dir.path(), &c.home)
    };
    crate::sweep::age_times(&p1.join("target"), 10);
    snap(
        "sweep-dry-run",
        &run(&p1, &["sweep", "-n", "--max-age", "1 day", "--incremental"]),
    );
    snap("trim-refused", &run(&p1, &["trim", "--grace", "0 seconds"]));
    snap(
        "trim-dry-run",
        &run(&p1, &["trim", "-n", "--grace", "0 seconds"]),
    );
    snap(
        "trim",
        &run(&p1, &["trim", "--yes", "--grace", "0 seconds"]),
    );
    snap("gc", &run(home, &["gc"]));
    snap("sweep", &run(&p1, &["sweep", "--max-age", "1 day"]));
    snap("help", &run(home, &["--help"]));
}

/// Every command's human output (stdout) fits 80 columns on realistic data: long crate
/// names and versions, a project deep in long directories, a lock held and waited on by
/// processes with long command lines, every removal listed. JSON keeps every value whole.
#[test]
fn every_commands_output_fits_80_columns() {
    let long = [
        ("fallible-streaming-iterator", "0.1.9"),
        ("icu_properties_data", "2.4.0"),
        ("toml_datetime", "1.1.3+spec-1.1.0"),
        ("windows-targets-with-a-longer-name", "0.52.6-beta.12"),
    ];
    let crates: Vec<CrateSpec> = (long.iter())
        .map(|(n, v)| CrateSpec::new(n, v).build_rs(HOLD_BUILD_RS))
        .collect();
    let env = Env::with_crates(&crates);
    let deps: String = (long.iter())
        .map(|(n, v)| format!("{n} = \"={v}\"\n"))
        .collect();
    let rel = "work/an-organisation-with-a-long-name/a-project-with-a-rather-long-name";
    let project = env.path(rel);
    std::fs::create_dir_all(project.parent().unwrap()).unwrap();
    std::fs::rename(
        env.project("a-project-with-a-rather-long-name", &deps),
        &project,
    )
    .unwrap();
    env.build_at(&project, T0);
    // A second profile and an incremental session, all aged.
    let out = env
        .cargo(&project, &["build", "--release", "--offline"])
        .env("__CARGO_TEST_LAST_USE_NOW", T0.to_string())
        .output()
        .unwrap();
    assert_ok(&out, "cargo build --release");
    crate::sweep::age_times(&project.join("target"), 10);

    // A lock held, and waited on, by processes with long command lines.
    let lockdir = env.path(rel).join("target/debug");
    let lock = lockdir.join(".cargo-lock");
    let _holder = hold_with_flock(&lock, "-x");
    let _waiter = {
        use std::os::unix::process::CommandExt;
        Guard(
            command("flock")
                .arg("-x")
                .arg(&lock)
                .args(["sleep", "1", "--", &"a-long-argument-".repeat(8)])
                .process_group(0)
                .spawn()
                .unwrap(),
        )
    };
    let runs: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--top", "5"],
        vec!["status", "--exact"],
        vec!["gc", "-n"],
        vec![
            "gc",
            "-n",
            "--max-src-age",
            "0 days",
            "--max-crate-age",
            "0 days",
        ],
        vec![
            "sweep",
            "-n",
            "--max-age",
            "1 day",
            "--incremental",
            "--grace",
            "0 seconds",
        ],
        vec![
            "sweep",
            "-n",
            "-r",
            "../..",
            "--max-age",
            "1 day",
            "--grace",
            "0 seconds",
        ],
        vec!["trim", "-n", "--ci", "--grace", "0 seconds"],
        vec![
            "tidy",
            "-n",
            "--budget",
            "1 B",
            "--grace",
            "0 seconds",
            "target",
        ],
        vec!["locks", "--sample", "0", "target"],
        vec!["locks", "-v", "--sample", "0", "target"],
        vec![
            "locks",
            "--message",
            "Blocking waiting for file lock on build directory",
        ],
        vec!["wait", "--timeout", "1s", "target"],
        vec!["run", "--timeout", "1s", "--", "true"],
        vec!["stop", "--yes", "4194305"],
        vec!["schedule", "status"],
    ];
    let mut helps: Vec<Vec<&str>> = vec![vec!["--help"]];
    for c in [
        "status",
        "gc",
        "locks",
        "wait",
        "run",
        "stop",
        "sweep",
        "trim",
        "tidy",
        "schedule",
        "completions",
    ] {
        helps.push(vec![c, "--help"]);
    }
    for args in runs.iter().chain(&helps) {
        let out = env
            .janitor(args)
            .env("COLUMNS", "80")
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0..=5)),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let text = stdout(&out);
        assert!(
            !text.is_empty() || args[0] == "wait" || args[0] == "run" || args[0] == "stop",
            "{args:?}: no output"
        );
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{args:?}: wider than 80 columns:\n{line}"
            );
        }
    }
}

/// `wait`, `run` and `stop` with a real holder: `flock` holding the package cache lock, as a
/// script might. `wait` times out naming it, `run` shows the cargo it runs blocked behind it
/// and stops it at `--timeout`, `stop` ends the holder (a process this test started). Pids and
/// times are normalised; the CPU sample of an idle `sleep` reads the same every run.
#[test]
fn wait_run_and_stop_with_a_real_holder_say_what_the_snapshots_say() {
    let c = Copy::of(populated());
    let file = c.home.join(".package-cache");
    let mut holder = hold_with_flock(&file, "-x");
    let run = |dir: &Path, args: &[&str]| {
        let out = c
            .janitor(args)
            .env("CARGO_HOME", &c.home)
            .env("CARGO_CACHE_AUTO_CLEAN_FREQUENCY", "never")
            .env_remove("CARGO_TARGET_DIR")
            .env("COLUMNS", "1000")
            .current_dir(dir)
            .output()
            .unwrap();
        normalise(&both(&out), c.dir.path(), &c.home)
    };
    let p2 = c.dir.path().join("p2");
    snap(
        "wait-held",
        &run(&p2, &["wait", "--timeout", "1s", "--lock", "package-cache"]),
    );
    snap(
        "run-blocked",
        &run(
            &p2,
            &[
                "run",
                "--timeout",
                "3s",
                "--",
                "cargo",
                "build",
                "--offline",
            ],
        ),
    );
    let pid = holder.pid().to_string();
    snap("stop-holder", &run(&p2, &["stop", "--yes", &pid]));
    // It was stopped: the holder exited, by a signal.
    assert!(!holder.wait().success());
}
