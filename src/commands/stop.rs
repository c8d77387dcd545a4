//! `cargo janitor stop PID…`: stop a stuck lock holder (or waiter) safely.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::act::stop;
use crate::cli::{GlobalArgs, StopArgs};
use crate::exit::{self, BadInput};
use crate::observe::lock_doctor::is_lock_file;
use crate::report::{self, Output};
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
        let held = match crate::plan::stop::check(&snap, &ours, me, pid, start) {
            Ok(held) => held,
            Err(why) => {
                refuse(why);
                code = exit::NOT_STOPPED;
                continue;
            }
        };
        let info = &snap.procs[&pid];
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
            if !confirmed(pid, &cmd, &held, out)? {
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
            &mut |event| report::locks::stop_event(event, out),
        );
        if !report::locks::stopped(pid, &outcome, args.force, out) {
            code = exit::NOT_STOPPED;
        }
    }
    Ok(code)
}

/// Asks on the terminal whether to stop `pid` (running `cmd`, using the lock files `held`).
fn confirmed(pid: u32, cmd: &str, held: &[PathBuf], out: &Output) -> Result<bool> {
    out.prompt(format!(
        "Stop pid {pid} `{cmd}` (it uses {})? [y/N] ",
        held.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
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
