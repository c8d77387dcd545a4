//! Processes: who we are, and signals (locks.md §A.3).
//!
//! A signal sent by pid can reach a process that reused the pid; a pidfd (Linux 5.3+) names
//! one process for good. [`Handle`] holds one when the kernel gives it, and callers check the
//! process's start time again before falling back to [`kill`].

use rustix::process::{Pid, Signal};

/// The signals of the stop ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    Int,
    Term,
    Cont,
    Kill,
}

impl Sig {
    fn raw(self) -> Signal {
        match self {
            Sig::Int => Signal::INT,
            Sig::Term => Signal::TERM,
            Sig::Cont => Signal::CONT,
            Sig::Kill => Signal::KILL,
        }
    }

    /// The signal's number (for masks such as `/proc/PID/status`'s `SigIgn`).
    pub fn number(self) -> i32 {
        self.raw().as_raw()
    }

    pub fn name(self) -> &'static str {
        match self {
            Sig::Int => "SIGINT",
            Sig::Term => "SIGTERM",
            Sig::Cont => "SIGCONT",
            Sig::Kill => "SIGKILL",
        }
    }
}

fn pid(p: u32) -> Option<Pid> {
    Pid::from_raw(i32::try_from(p).ok()?)
}

/// This process's pid.
pub fn current_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// This process's parent's pid (0 when it has none in this PID namespace).
pub fn parent_pid() -> u32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32)
}

/// This process's process group.
pub fn current_pgid() -> u32 {
    rustix::process::getpgrp().as_raw_nonzero().get() as u32
}

/// This process's effective user id.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `kill(pid, sig)`: only after the caller made sure the pid still names its process.
pub fn kill(p: u32, sig: Sig) -> bool {
    pid(p).is_some_and(|p| rustix::process::kill_process(p, sig.raw()).is_ok())
}

/// `kill(-pgid, sig)`: every member of the process group.
pub fn kill_group(pgid: u32, sig: Sig) -> bool {
    pid(pgid).is_some_and(|p| rustix::process::kill_process_group(p, sig.raw()).is_ok())
}

/// One process, held by a pidfd where the kernel has them.
pub struct Handle {
    #[cfg(target_os = "linux")]
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl Handle {
    /// Opens a handle to whatever process `p` names now: check its identity afterwards.
    pub fn open(p: u32) -> Handle {
        #[cfg(target_os = "linux")]
        {
            Handle {
                pidfd: pid(p).and_then(|p| {
                    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok()
                }),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = p;
            Handle {}
        }
    }

    /// Sends `sig` through the pidfd: `None` when there is none (use [`kill`] after checking
    /// the process's identity), otherwise whether it was delivered.
    pub fn signal(&self, sig: Sig) -> Option<bool> {
        #[cfg(target_os = "linux")]
        {
            self.pidfd
                .as_ref()
                .map(|fd| rustix::process::pidfd_send_signal(fd, sig.raw()).is_ok())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = sig;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_we_are() {
        assert_eq!(current_pid(), std::process::id());
        assert_eq!(parent_pid(), std::os::unix::process::parent_id());
        assert!(current_pgid() > 0);
        assert_eq!(Sig::Int.number(), 2);
        assert_eq!(Sig::Kill.name(), "SIGKILL");
        assert!(!kill(0, Sig::Cont), "pid 0 is never a target");
        assert!(!kill_group(0, Sig::Cont), "pgid 0 is never a target");
    }
}
