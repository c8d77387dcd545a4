//! What every Unix shares: signals by pid and by process group, who we are, `run`'s process
//! group and signal handling, the terminal's width.

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};

use rustix::process::{Pid, Signal};

use super::{Rung, Supervision};

pub(super) fn signal(rung: Rung) -> Signal {
    match rung {
        Rung::Interrupt => Signal::INT,
        Rung::Terminate => Signal::TERM,
        Rung::Continue => Signal::CONT,
        Rung::Kill => Signal::KILL,
    }
}

fn pid(p: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(p).ok()?)
}

pub(super) fn current_pgid() -> u32 {
    rustix::process::getpgrp().as_raw_nonzero().get() as u32
}

pub(super) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `kill(pid, sig)`: only after the caller made sure the pid still names its process.
pub(super) fn kill(p: u32, rung: Rung) -> bool {
    pid(p).is_some_and(|p| rustix::process::kill_process(p, signal(rung)).is_ok())
}

/// `kill(-pgid, sig)`: every member of the process group.
pub(super) fn kill_group(pgid: u32, rung: Rung) -> bool {
    pid(pgid).is_some_and(|p| rustix::process::kill_process_group(p, signal(rung)).is_ok())
}

pub(super) fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The supervised command's process group, for the signal forwarder (0: none).
static CHILD_PGID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pgid = CHILD_PGID.load(Ordering::SeqCst);
    if pgid > 0 {
        // SAFETY: kill is async-signal-safe, and takes no pointers.
        unsafe { libc::kill(-pgid, sig) };
    }
}

pub(super) fn spawn_supervised(mut cmd: Command, how: Supervision) -> io::Result<Child> {
    match how {
        Supervision::Foreground => {
            // We ignore SIGINT and SIGQUIT below, and ignored signals stay ignored across
            // exec: give the command the defaults back.
            // SAFETY: the closure only calls `signal`, which is async-signal-safe, as
            // `pre_exec` requires; it allocates nothing and takes no locks.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGINT, libc::SIG_DFL);
                    libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                    Ok(())
                });
            }
        }
        Supervision::OwnGroup => {
            cmd.process_group(0);
        }
    }
    let child = cmd.spawn()?;
    match how {
        Supervision::Foreground => {
            // SAFETY: replacing the dispositions of SIGINT and SIGQUIT with SIG_IGN installs
            // no handler code; the command (in our group) gets the terminal's signals.
            unsafe {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            }
        }
        Supervision::OwnGroup => {
            CHILD_PGID.store(child.id() as i32, Ordering::SeqCst);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                // SAFETY: `forward` is an `extern "C" fn(c_int)` that only reads an atomic
                // and calls kill, both async-signal-safe.
                unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) };
            }
        }
    }
    Ok(child)
}

/// The command exited: nothing to forward signals to any more.
pub(super) fn forget_supervised(how: Supervision) {
    if how == Supervision::OwnGroup {
        CHILD_PGID.store(0, Ordering::SeqCst);
    }
}

pub(super) fn stop_supervised(child: u32, how: Supervision, tree: &[u32], rung: Rung) {
    match how {
        // The group we created for it, whose leader is our unreaped child.
        Supervision::OwnGroup => {
            kill_group(child, rung);
        }
        // Its descendants, found a moment ago, deepest first, then the command.
        Supervision::Foreground => {
            for p in tree.iter().filter(|p| **p != child) {
                kill(*p, rung);
            }
            kill(child, rung);
        }
    }
}

/// Unknown (`None`) unless both rows and columns are set, as the terminal library that draws
/// our spinner (console) decides, so that both agree on the width.
pub(super) fn stderr_columns() -> Option<usize> {
    let ws = rustix::termios::tcgetwinsize(std::io::stderr()).ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some(ws.ws_col as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert!(!kill(0, Rung::Continue), "pid 0 is never a target");
        assert!(!kill_group(0, Rung::Continue), "pgid 0 is never a target");
        assert_eq!(signal(Rung::Interrupt).as_raw(), 2);
        assert_eq!(Rung::Kill.name(), "SIGKILL");
        let st = Command::new("sh").args(["-c", "exit 7"]).status().unwrap();
        assert_eq!(exit_code(st), 7);
        let st = Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .status()
            .unwrap();
        assert_eq!(exit_code(st), 137);
    }
}
