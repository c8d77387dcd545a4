//! `cargo janitor stop PID…`: stop a stuck lock holder (or waiter) safely.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::act::stop;
use crate::cli::{GlobalArgs, StopArgs};
use crate::exit::{self, BadInput};
use crate::observe::lock_doctor::is_lock_file;
use crate::plan::locks;
use crate::report::Output;
use crate::sys::process::{self, Rung, StartStamp};

/// `PID` or `PID:START` (the start time `locks --json` prints), as given.
fn parse_target(s: &str) -> Result<(u32, Option<StartStamp>), BadInput> {
    let bad = || {
        BadInput(format!(
            "invalid process `{s}`: expected a pid, or PID:START as `cargo janitor locks --json` prints it"
        ))
    };
    let (pid, start) = match s.split_once(':') {
        Some((p, t)) => (p, Some(t.parse::<StartStamp>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let pid: u32 = pid.parse().map_err(|_| bad())?;
    if pid == 0 {
        return Err(bad());
    }
    Ok((pid, start))
}

pub fn run(_global: &GlobalArgs, args: &StopArgs, out: &Output) -> Result<i32> {
    let targets: Vec<(u32, Option<StartStamp>)> = args
        .pids
        .iter()
        .map(|s| parse_target(s))
        .collect::<Result<_, _>>()?;
    let table = process::table();
    let ctl = process::control();
    let snap = table.snapshot(&is_lock_file)?;
    let me = process::current_user();
    // This process and its ancestors: never signalled.
    let ours = stop::protected(&snap);
    let mut code = exit::OK;
    for (pid, start) in targets {
        let refuse = |why: String| {
            out.error(format!("not stopping pid {pid}: {why}"));
        };
        if pid == 1 {
            refuse("it is the init process".into());
            code = exit::NOT_STOPPED;
            continue;
        }
        let Some(info) = snap.procs.get(&pid) else {
            refuse("no such process".into());
            code = exit::NOT_STOPPED;
            continue;
        };
        if let Some(start) = start
            && start != info.start
        {
            refuse(format!(
                "the pid now names another process (started at {}, not {start})",
                info.start
            ));
            code = exit::NOT_STOPPED;
            continue;
        }
        if let Some(i) = ours.iter().position(|p| *p == pid) {
            let chain: Vec<String> = ours[..=i]
                .iter()
                .map(|p| {
                    // The program's name (`comm` is cut at 15 bytes).
                    let name = snap.procs.get(p).map_or("?", |i| i.program());
                    format!("{name} ({p})")
                })
                .collect();
            refuse(if i == 0 {
                "it is this cargo-janitor process".to_string()
            } else {
                format!(
                    "it is an ancestor of this cargo-janitor ({}), which never signals itself \
                     or its ancestors, so nothing was sent; run `cargo janitor stop {pid}` from \
                     outside its process tree",
                    chain.join(" <- ")
                )
            });
            code = exit::NOT_STOPPED;
            continue;
        }
        if info.uid.is_some_and(|u| Some(u) != me) {
            refuse("it belongs to another user".into());
            code = exit::NOT_STOPPED;
            continue;
        }
        if locks::is_editor(&snap, pid) {
            refuse(format!(
                "`{}` is an editor: stop the cargo it started instead (see `cargo janitor locks`)",
                info.program()
            ));
            code = exit::NOT_STOPPED;
            continue;
        }
        let held: Vec<PathBuf> = snap
            .uses
            .iter()
            .filter(|u| u.pid == pid && (u.holding.is_some() || u.waiting.is_some()))
            .map(|u| u.path.clone())
            .collect();
        if held.is_empty() {
            refuse("it neither holds nor waits on a Cargo lock".into());
            code = exit::NOT_STOPPED;
            continue;
        }
        let cmd = info.command();
        let steps = match crate::plan::stop::ladder(
            ctl.rungs(),
            table.ignores(pid, Rung::Interrupt),
            args.force,
        ) {
            Ok(s) => s,
            Err(e) => {
                refuse(e.to_string());
                code = exit::NOT_STOPPED;
                continue;
            }
        };
        if !args.yes {
            if !std::io::stdin().is_terminal() {
                refuse("not confirmed: pass --yes when not on a terminal".into());
                code = exit::NOT_STOPPED;
                continue;
            }
            out.prompt(format!(
                "Stop pid {pid} `{cmd}` (it uses {})? [y/N] ",
                held.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                out.status("Skipped", format!("pid {pid}"));
                code = exit::NOT_STOPPED;
                continue;
            }
        }
        let Some(pinned) = ctl.pin(info.id()) else {
            refuse("it exited, or the pid was reused, while we asked".into());
            code = exit::NOT_STOPPED;
            continue;
        };
        // The tree as it is now, not as it was before the question.
        let fresh = table
            .snapshot(&is_lock_file)
            .unwrap_or_else(|_| snap.clone());
        let outcome = stop::ladder(
            table.as_ref(),
            ctl.as_ref(),
            &fresh,
            &pinned,
            &steps,
            Duration::from_secs(args.grace.secs().max(1)),
            &mut |event| match event {
                stop::Event::Excluded(e) => out.status(
                    "Excluding",
                    format!(
                        "pid {} `{}` ({}) from every signal: it is in process group {}, whose \
                         other members are signalled one by one",
                        e.pid, e.cmdline, e.who, e.group
                    ),
                ),
                stop::Event::Step(step) => {
                    out.status("Sent", format!("{} to {}", step.signal, step.to))
                }
            },
        );
        if outcome.released {
            out.status(
                "Stopped",
                if outcome.excluded.is_empty() {
                    format!("pid {pid} and its processes are gone; the kernel released their locks")
                } else {
                    format!(
                        "pid {pid} and the processes signalled are gone; the kernel released \
                         their locks (not signalled: {})",
                        outcome
                            .excluded
                            .iter()
                            .map(|e| format!("pid {}", e.pid))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            );
        } else {
            code = exit::NOT_STOPPED;
            if !outcome.uninterruptible.is_empty() {
                out.error(format!(
                    "pid {pid}: {:?} in uninterruptible sleep (a hung disk or network filesystem?): \
                     signals take effect only when its I/O returns",
                    outcome.uninterruptible
                ));
            } else if args.force {
                out.error(format!(
                    "pid {pid} still holds its lock after {}",
                    Rung::Kill.name()
                ));
            } else {
                out.error(format!(
                    "pid {pid} did not stop after {}; `cargo janitor stop --force {pid}` sends {}",
                    Rung::Terminate.name(),
                    Rung::Kill.name()
                ));
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn targets() {
        assert_eq!(super::parse_target("42").unwrap(), (42, None));
        assert_eq!(
            super::parse_target("42:1234").unwrap(),
            (42, Some("1234".parse().unwrap()))
        );
        for bad in ["0", "-1", "x", "42:", "42:x", ""] {
            assert!(super::parse_target(bad).is_err(), "{bad}");
        }
    }
}
