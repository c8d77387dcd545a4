//! The lock doctor's words: the one holder line every command prints ([`holder_line`],
//! [`lock_line`]: `locks`, `wait`, `run`, and the Blocking line of `gc`, `sweep` and `trim`),
//! and `locks`' own paragraphs.

use std::fmt::Write;
use std::path::Path;

use super::Output;
use crate::cargo::locks::{LockKind, Meaning, WORDINGS};
use crate::observe::lock_doctor::Look;
use crate::observe::lockfiles::{Probe, Unlisted};
use crate::plan::locks::{Activity, ActivityKind, Holder, Lock, Report, Verdict, duration};
use crate::sys::process::{Evidence, Rung};

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
    let kind = crate::cargo::locks::classify(path).map_or("lock", LockKind::name);
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

/// "running build script `gamma` for 12s (and 2 more jobs)"
pub fn activity_words(a: &Activity) -> String {
    let what = match a.kind {
        ActivityKind::BuildScript => format!("running build script `{}`", a.name),
        ActivityKind::Compiling => format!("compiling `{}`", a.name),
        ActivityKind::Documenting => format!("documenting `{}`", a.name),
        ActivityKind::Linking => format!("linking with `{}`", a.name),
        ActivityKind::TestBinary => format!("running test binary `{}`", a.name),
        ActivityKind::Fetching => format!("fetching with `{}`", a.name),
        ActivityKind::Running => format!("running `{}`", a.name),
    };
    let mut s = what;
    if let Some(e) = a.elapsed_s {
        let _ = write!(s, " for {}", duration(e));
    }
    match a.others {
        0 => {}
        1 => s.push_str(" (and 1 more job)"),
        n => {
            let _ = write!(s, " (and {n} more jobs)");
        }
    }
    s
}

/// The sample's length (`0.5s`).
fn sample(h: &Holder) -> String {
    crate::plan::locks::sample_words(h.sample)
}

/// The verdict and its one-line reason: "building: running build script `gamma` for 12s".
pub fn detail(h: &Holder) -> String {
    let activity = h.activity.as_ref().map(activity_words);
    let why = match h.verdict {
        Verdict::Deadlock => Some("a cargo it started waits for it".to_string()),
        Verdict::Stopped | Verdict::Editor => activity,
        Verdict::Orphaned => Some(match activity {
            Some(a) => format!("its parent is gone; {a}"),
            None => "its parent is gone".to_string(),
        }),
        Verdict::Building | Verdict::Fetching => activity,
        Verdict::Busy => h
            .cpu_share
            .map(|c| format!("{c:.2} CPU, no build step yet")),
        Verdict::Idle if !h.is_cargo => Some(format!("no CPU in {}, not cargo", sample(h))),
        Verdict::Idle => Some(match &h.offline {
            Some(_) => format!("no CPU in {}, offline", sample(h)),
            None => format!("no CPU in {}, may be stuck on the network", sample(h)),
        }),
        Verdict::Holding => Some("not sampled".to_string()),
    };
    match why {
        Some(w) => format!("{}: {w}", h.verdict.name()),
        None => h.verdict.name().to_string(),
    }
}

/// The holder line: "pid 123 `cargo build --offline` (building: running build script
/// `gamma` for 12s)".
pub fn holder_line(h: &Holder) -> String {
    format!("pid {} `{}` ({})", h.pid, h.cmdline, detail(h))
}

/// "held by <holder line>", or "probably held by …" where the platform only says who has
/// the lock file open.
pub fn held_by(h: &Holder) -> String {
    match h.evidence {
        Evidence::Exact => format!("held by {}", holder_line(h)),
        Evidence::Probable => format!(
            "probably held by {} (it has the lock file open; this platform does not say who \
             holds a lock)",
            holder_line(h)
        ),
    }
}

fn waiting_holder_words(l: &Lock) -> Vec<String> {
    l.waiting_holders
        .iter()
        .map(|w| {
            let what = w.waiting_kind.map_or("another", LockKind::name);
            format!(
                "pid {} `{}` ({}), itself waiting for the {what} lock (`{}`)",
                w.pid,
                w.cmdline,
                w.mode.words(),
                super::shown(&w.waiting_for)
            )
        })
        .collect()
}

/// Who holds a lock: "held by pid 123 `…` (idle: …)", each holder's [`held_by`] line.
pub fn holders_words(l: &Lock) -> String {
    if !l.holders.is_empty() {
        l.holders
            .iter()
            .map(held_by)
            .collect::<Vec<_>>()
            .join(", and ")
    } else if !l.waiting_holders.is_empty() {
        format!("held by {}", waiting_holder_words(l).join(", and "))
    } else if l.probe == Some(Probe::Unknown) {
        format!(
            "could not probe it: {}; it may be held",
            l.probe_error.as_deref().unwrap_or("unknown error")
        )
    } else {
        "held by a process this user cannot see".to_string()
    }
}

/// One lock in one line, for every command that mentions a holder:
/// "package-cache (`/h/.package-cache`), held by pid 123 `…` (idle: …)".
pub fn lock_line(l: &Lock) -> String {
    if l.holders.is_empty() && l.waiting_holders.is_empty() && l.probe == Some(Probe::Unknown) {
        return not_probed_kind(&l.path, l.probe_error.as_deref());
    }
    format!(
        "{} (`{}`), {}",
        l.kind.name(),
        super::shown(&l.path),
        holders_words(l)
    )
}

/// The same, shorter, for a spinner's single line: "package-cache: pid 123 `…` (idle: …)"
/// (no path; "held by" is understood).
pub fn short_line(l: &Lock) -> String {
    if l.holders.is_empty() && l.waiting_holders.is_empty() && l.probe == Some(Probe::Unknown) {
        return not_probed_kind(&l.path, l.probe_error.as_deref());
    }
    let who = holders_words(l);
    let who = who.strip_prefix("held by ").unwrap_or(&who);
    format!("{}: {who}", l.kind.name())
}

/// Shortens `text` to `width` characters, keeping its end (the verdict): the longest
/// `…`-quoted parts (command lines, paths) are cut in their middle first, down to 8
/// characters each, then to 2; only then is the end cut.
pub fn fit(text: &str, width: usize) -> String {
    let out = shrink_quoted(text, width, 2);
    if out.chars().count() > width {
        return out
            .chars()
            .take(width.saturating_sub(1))
            .collect::<String>()
            + "…";
    }
    out
}

/// `text` with its longest `…`-quoted parts cut in their middle (`cargo b…--offline`) until
/// it is `width` characters or fewer, none cut below 8 characters, then none below `least`.
pub fn shrink_quoted(text: &str, width: usize, least: usize) -> String {
    let mut parts: Vec<String> = text.split('`').map(str::to_string).collect();
    let len = |parts: &[String]| -> usize {
        parts.iter().map(|p| p.chars().count()).sum::<usize>() + parts.len() - 1
    };
    for least in [8.max(least), least] {
        while len(&parts) > width {
            // Odd indices are inside backticks.
            let Some(i) = (1..parts.len())
                .step_by(2)
                .filter(|i| parts[*i].chars().count() > least + 1)
                .max_by_key(|i| parts[*i].chars().count())
            else {
                break;
            };
            let now = parts[i].chars().count();
            let q: Vec<char> = parts[i].chars().filter(|c| *c != '…').collect();
            let excess = len(&parts) - width;
            let keep = now.saturating_sub(excess + 1).max(least).min(q.len());
            let head = keep / 2;
            parts[i] = q[..head]
                .iter()
                .chain(std::iter::once(&'…'))
                .chain(&q[q.len() - (keep - head)..])
                .collect();
        }
    }
    parts.join("`")
}

/// What a pasted message means, in a few lines.
pub fn meaning_text(m: &Meaning) -> String {
    let w = &m.wording;
    let what = match &m.unit {
        Some((p, h)) => format!("{p} ({h})"),
        None => w.words.to_string(),
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\"Blocking waiting for file lock on {what}\": printed by cargo {}, waiting for {}.",
        w.cargo, w.place
    );
    let _ = writeln!(t, "  {}.", capitalize(w.meaning));
    if let Some(p) = &m.path {
        let _ = writeln!(t, "  The lock file: `{}`.", p.display());
    }
    let same: Vec<&str> = WORDINGS
        .iter()
        .filter(|o| o.words != w.words && o.kinds.first() == w.kinds.first())
        .map(|o| o.words)
        .collect();
    if !same.is_empty() && w.kinds.len() == 1 {
        let _ = writeln!(
            t,
            "  Other cargos say \"{}\" for the same lock.",
            same.join("\", \"")
        );
    }
    t
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The facts under a holder line: mode, state, age, CPU, where.
fn facts(h: &Holder) -> String {
    let mut facts = vec![h.mode.words().to_string(), h.state.clone()];
    if let Some(e) = h.elapsed_s {
        facts.push(format!("running {}", duration(e)));
    }
    if let Some(c) = h.cpu_share {
        facts.push(format!("{c:.2} CPU over {}", sample(h)));
    }
    if let Some(why) = &h.offline {
        facts.push(format!("offline ({why})"));
    }
    let mut s = facts.join(", ");
    if let Some(cwd) = &h.cwd {
        let _ = write!(s, "; in {}", cwd.display());
    }
    s
}

/// A holder's process tree, one line per process.
fn tree_text(h: &Holder) -> String {
    let mut t = String::new();
    for n in &h.tree {
        let indent = "  ".repeat(n.depth);
        let mut facts = vec![n.state.clone()];
        if let Some(e) = n.elapsed_s {
            facts.push(duration(e));
        }
        if let Some(c) = n.cpu_share {
            facts.push(format!("{c:.2} CPU"));
        }
        let branch = if n.depth == 0 { "" } else { "└ " };
        let _ = writeln!(
            t,
            "      {indent}{branch}{} {}  ({})",
            n.pid,
            n.cmdline,
            facts.join(", ")
        );
    }
    t
}

/// One paragraph per lock.
pub fn lock_text(l: &Lock, out: &Output) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}  {}", out.bold(l.kind.name()), super::shown(&l.path));
    let _ = writeln!(t, "  cargo says: \"{}\"", l.message);
    if l.deleted {
        let _ = writeln!(
            t,
            "  this lock file was deleted while held: a new cargo locks a new file, so two cargos \
             can run at once; never delete lock files"
        );
    }
    if l.probe == Some(Probe::Unknown) && l.holders.is_empty() && l.waiting_holders.is_empty() {
        let _ = writeln!(t, "  {}", not_probed(&l.path, l.probe_error.as_deref()));
    } else if !l.visible {
        let _ = writeln!(
            t,
            "  held by a process this user cannot see (another user, another PID namespace or \
             container, or another machine sharing this directory)"
        );
    }
    for h in &l.holders {
        let _ = writeln!(t, "  {}", held_by(h));
        let _ = writeln!(t, "    {}", facts(h));
        if !h.ancestors.is_empty() {
            let chain: Vec<String> = h
                .ancestors
                .iter()
                .map(|a| format!("{} ({})", a.comm, a.pid))
                .collect();
            let _ = writeln!(t, "    started by {}", chain.join(" <- "));
        }
        let _ = writeln!(t, "    {}: {}", out.bold(h.verdict.name()), h.suggestion);
        if out.verbose > 0 {
            let _ = writeln!(t, "    process tree:");
            t.push_str(&tree_text(h));
        }
    }
    for w in waiting_holder_words(l) {
        let _ = writeln!(t, "  also held by {w}");
    }
    for w in &l.waiters {
        let mut line = format!(
            "  waiting: pid {} `{}` ({}",
            w.pid,
            w.cmdline,
            w.mode.words()
        );
        if let Some(e) = w.elapsed_s {
            let _ = write!(line, ", for up to {}", duration(e));
        }
        line.push(')');
        let _ = writeln!(t, "{line}");
    }
    t
}

pub fn render(r: &Report, checked: usize, out: &Output) -> String {
    let mut t = String::new();
    if let Some(m) = &r.meaning {
        let _ = writeln!(t, "{}", meaning_text(m));
    }
    for u in &r.unlisted {
        let _ = writeln!(t, "{}\n", not_listed(u));
    }
    if r.locks.is_empty() {
        let what = if r.meaning.is_some() {
            "No such lock"
        } else {
            "No Cargo lock"
        };
        let _ = writeln!(
            t,
            "{what} is held or waited on ({checked} lock files probed, every visible process checked)."
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

/// What `stop` says once the ladder for `pid` is climbed: stopped (`true`), or why not.
pub fn stopped(pid: u32, outcome: &crate::act::stop::Outcome, force: bool, out: &Output) -> bool {
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
    } else if !outcome.uninterruptible.is_empty() {
        out.error(format!(
            "pid {pid}: {:?} in uninterruptible sleep (a hung disk or network filesystem?): \
             signals take effect only when its I/O returns",
            outcome.uninterruptible
        ));
    } else if force {
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
    outcome.released
}

/// A step of `stop`'s ladder as it happens.
pub fn stop_event(event: crate::act::stop::Event<'_>, out: &Output) {
    use crate::act::stop::Event;
    match event {
        Event::Excluded(e) => out.status(
            "Excluding",
            format!(
                "pid {} `{}` ({}) from every signal: it is in process group {}, whose \
                 other members are signalled one by one",
                e.pid, e.cmdline, e.who, e.group
            ),
        ),
        Event::Step(step) => out.status("Sent", format!("{} to {}", step.signal, step.to)),
    }
}

/// Warns when processes cannot be looked at here.
pub fn warn_blind(look: &Look, out: &Output) {
    if let Some(why) = &look.blind {
        out.warn(format!("{why}; only whether each lock is held is shown"));
    }
}

/// Who holds these lock files, in one line: the lock doctor's holder line, for every
/// command that waits.
pub fn who_holds(look: &Look, held: &[std::path::PathBuf]) -> String {
    let parts: Vec<String> = crate::plan::locks::locks_of(look, held)
        .iter()
        .map(lock_line)
        .collect();
    if parts.is_empty() {
        "a Cargo lock".into()
    } else {
        parts.join("; ")
    }
}

/// Cargo's "Blocking waiting for file lock on …" status line, naming the holder the way
/// `locks` does: for every command that waits for a lock.
pub fn blocking_notice(out: &Output) -> impl FnMut(&'static str, &std::path::Path) + '_ {
    use crate::observe::lock_doctor;
    move |what, path| {
        let table = crate::sys::process::table();
        let files = [path.to_owned()];
        let look = lock_doctor::look(
            table.as_ref(),
            &files,
            lock_doctor::SHORT_SAMPLE,
            &lock_doctor::assumed_home(),
        );
        out.status(
            "Blocking",
            format!(
                "waiting for file lock on {what}: {}",
                who_holds(&look, &files)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_keeps_the_verdict() {
        let line = "package-cache (`/home/u/.cargo/.package-cache`), held by pid 42 \
                    `flock -x /home/u/.cargo/.package-cache sleep 120` (idle: no CPU in 0.5s, not cargo)";
        assert_eq!(fit(line, 500), line);
        for w in [60, 80, 100, 120] {
            let f = fit(line, w);
            assert!(f.chars().count() <= w, "{w}: {f}");
            assert!(f.contains('…'), "{f}");
        }
        for w in [100, 120] {
            let f = fit(line, w);
            assert!(f.ends_with("(idle: no CPU in 0.5s, not cargo)"), "{w}: {f}");
            assert!(f.contains("held by pid 42 `"), "{w}: {f}");
        }
        assert_eq!(fit("short", 3), "sh…");
        let s = "Waiting for package-cache: pid 25450 `flock -x /tmp/wt-spin/home/.package-cache \
                 sleep 10` (orphaned: its parent is gone)";
        let f = fit(s, 78);
        assert_eq!(f.chars().count(), 78, "{f}");
        assert!(f.ends_with("` (orphaned: its parent is gone)"), "{f}");
    }

    #[test]
    fn meanings_in_words() {
        let m = crate::cargo::locks::parse_message(
            "Blocking waiting for file lock on the registry index",
        )
        .unwrap();
        let t = meaning_text(&m);
        assert!(t.contains("printed by cargo 1.35 and older"), "{t}");
        assert!(t.contains("`$CARGO_HOME/.package-cache`"), "{t}");
        let m = crate::cargo::locks::parse_message("package cache").unwrap();
        let t = meaning_text(&m);
        assert!(t.contains("\"package cache lock\""), "{t}");
    }
}
