//! The human rendering of `locks`.

use std::fmt::Write;
use std::path::Path;

use super::Output;
use crate::observe::lockfiles::{Probe, Unlisted};
use crate::plan::locks::{Holder, Lock, Report};

/// "could not probe `…`: permission denied; it may be held"
pub fn not_probed(path: &Path, error: Option<&str>) -> String {
    format!(
        "could not probe `{}`: {}; it may be held",
        path.display(),
        error.unwrap_or("unknown error")
    )
}

/// "package-cache (`…`): could not probe it: permission denied; it may be held"
pub fn not_probed_kind(path: &Path, error: Option<&str>) -> String {
    let kind = crate::observe::lockfiles::classify(path).map_or("lock", |k| k.name());
    format!(
        "{kind} (`{}`): could not probe it: {}; it may be held",
        path.display(),
        error.unwrap_or("unknown error")
    )
}

/// "could not look for lock files in `…`: permission denied; they may be held"
pub fn not_listed(u: &Unlisted) -> String {
    format!(
        "could not look for lock files in `{}`: {}; they may be held",
        u.path.display(),
        u.error
    )
}

pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn holder_line(h: &Holder) -> String {
    let mut s = format!("pid {}  {}", h.pid, h.cmdline);
    let mut facts = vec![format!("{:?}", h.mode).to_lowercase(), h.state.clone()];
    if let Some(e) = h.elapsed_s {
        facts.push(format!("running {}", duration(e)));
    }
    if let Some(c) = h.cpu_share {
        facts.push(format!("{c:.2} CPU"));
    }
    let _ = write!(s, "  ({})", facts.join(", "));
    s
}

/// One paragraph per lock.
pub fn lock_text(l: &Lock, out: &Output) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}  {}", out.bold(l.kind.name()), l.path.display());
    let _ = writeln!(t, "  cargo says: \"{}\"", l.message);
    if l.deleted {
        let _ = writeln!(
            t,
            "  this lock file was deleted while held: a new cargo locks a new file, so two cargos \
             can run at once; never delete lock files"
        );
    }
    if l.probe == Some(Probe::Unknown) && l.holders.is_empty() {
        let _ = writeln!(t, "  {}", not_probed(&l.path, l.probe_error.as_deref()));
    } else if !l.visible {
        let _ = writeln!(
            t,
            "  held by a process this user cannot see (another user, another PID namespace or \
             container, or another machine sharing this directory)"
        );
    }
    for h in &l.holders {
        let _ = writeln!(t, "  held by {}", holder_line(h));
        if let Some(cwd) = &h.cwd {
            let _ = writeln!(t, "    in {}", cwd.display());
        }
        if !h.ancestors.is_empty() {
            let chain: Vec<String> = h
                .ancestors
                .iter()
                .map(|a| format!("{} ({})", a.comm, a.pid))
                .collect();
            let _ = writeln!(t, "    started by {}", chain.join(" <- "));
        }
        let _ = writeln!(
            t,
            "    {}: {}",
            out.bold(&format!("{:?}", h.verdict).to_lowercase()),
            h.suggestion
        );
    }
    for w in &l.waiters {
        let mut line = format!("  waiting: pid {}  {}  ({:?}", w.pid, w.cmdline, w.mode);
        if let Some(e) = w.elapsed_s {
            let _ = write!(line, ", for up to {}", duration(e));
        }
        line.push(')');
        let _ = writeln!(
            t,
            "{}",
            line.replace("(Shared", "(shared")
                .replace("(Exclusive", "(exclusive")
        );
    }
    t
}

pub fn render(r: &Report, checked: usize, out: &Output) -> String {
    let mut t = String::new();
    for u in &r.unlisted {
        let _ = writeln!(t, "{}\n", not_listed(u));
    }
    if r.locks.is_empty() {
        let _ = writeln!(
            t,
            "No Cargo lock is held or waited on ({checked} lock files probed, every visible process checked)."
        );
        return t;
    }
    for l in &r.locks {
        t.push_str(&lock_text(l, out));
        t.push('\n');
    }
    t.push_str(
        "Lock files are never stale: the kernel releases a lock when its holder exits. Do not delete \
         them (a new cargo would lock a new file and two cargos would run at once).\n",
    );
    t
}
