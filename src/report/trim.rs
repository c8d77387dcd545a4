//! The report of `trim` (its JSON types) and its human rendering.

use std::fmt::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::Output;
use super::table::Table;
use crate::plan::grace;
use crate::quantity::HumanBytes;

#[derive(Debug, Serialize)]
pub struct Part {
    /// `home` or `target`.
    pub part: &'static str,
    pub path: PathBuf,
    /// Apparent bytes before and after (the home's caches, sized as `status` sizes them; a
    /// target dir's bytes on disk).
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// Entries (home) or units (target dir) kept.
    pub kept_units: usize,
    /// Of `kept_units`, the units kept because their package could not be identified
    /// (always 0 for the home, whose entries are named by registry and package).
    pub kept_unknown: usize,
    /// Entries (home; index cache entries are listed, not counted) or units removed.
    pub removed_units: usize,
    /// What was removed (a dry run: what would be), failures left out.
    pub removed: Vec<RemovedItem>,
    pub skipped: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RemovedItem {
    pub path: PathBuf,
    /// A kind of the one vocabulary (`registry-crate`, `unit`, …: docs/json.md).
    pub kind: String,
    /// Bytes freed: apparent bytes in the home, bytes on disk in a target dir.
    pub bytes: u64,
    pub reason: String,
    /// How the human output names a target dir's removal ([`super::unit_labels`]).
    #[serde(skip)]
    pub label: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub ci: bool,
    pub lockfiles: Vec<PathBuf>,
    /// The `--used-by` commands, as given (their units are what target dirs keep).
    pub used_by: Vec<String>,
    /// Packages with a registry or git source pinned by the lockfiles.
    pub pinned_packages: usize,
    pub parts: Vec<Part>,
    /// What the grace period kept, in the home and the target dirs.
    pub grace: grace::Report,
}

impl Report {
    /// An empty report of a run: the lockfiles read, the `--used-by` commands, how many
    /// packages the lockfiles pin.
    pub fn new(
        dry_run: bool,
        ci: bool,
        lockfiles: Vec<PathBuf>,
        used_by: Vec<String>,
        pinned_packages: usize,
    ) -> Report {
        Report {
            dry_run,
            ci,
            lockfiles,
            used_by,
            pinned_packages,
            parts: Vec::new(),
            grace: grace::Report::default(),
        }
    }
}

pub fn render(r: &Report, detailed: bool, out: &Output) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Keeping what {} lockfile{} pin{} ({} packages from registries and git){}.",
        r.lockfiles.len(),
        if r.lockfiles.len() == 1 { "" } else { "s" },
        if r.lockfiles.len() == 1 { "s" } else { "" },
        r.pinned_packages,
        if r.ci {
            ", plus only what CI cannot re-create cheaply (--ci)"
        } else {
            ""
        }
    );
    let mut t = Table::new(&["", "kept", "removed", "before", "after"]);
    for p in &r.parts {
        t.row(vec![
            format!("{} {}", p.part, super::shown(&p.path)),
            p.kept_units.to_string(),
            match &p.skipped {
                Some(why) => format!("skipped ({why})"),
                None => p.removed_units.to_string(),
            },
            HumanBytes(p.before_bytes).to_string(),
            HumanBytes(p.after_bytes).to_string(),
        ]);
    }
    text.push_str(&t.render());
    for p in r.parts.iter().filter(|p| p.kept_unknown > 0) {
        let _ = writeln!(
            text,
            "Kept {} unit{} in {} whose package could not be identified\n  (no dep-info, or \
             sources in no registry, git checkout or path package the lockfiles\n  list).",
            p.kept_unknown,
            if p.kept_unknown == 1 { "" } else { "s" },
            super::shown(&p.path)
        );
    }
    text.push_str(&super::grace_lines(&r.grace, detailed));
    if detailed {
        for p in r.parts.iter().filter(|p| !p.removed.is_empty()) {
            let _ = writeln!(text, "\n{}", out.bold(&super::shown(&p.path)));
            for i in &p.removed {
                // Home entries by name and version (their kind said), units by name, version,
                // profile and what they build.
                let what = match &i.label {
                    Some(label) => label.clone(),
                    None => format!("{} {}", super::entry_name(&i.path, &i.kind), i.kind),
                };
                let _ = writeln!(text, "  {what}  {}", i.reason);
            }
        }
    }
    if r.dry_run {
        let _ = writeln!(text, "{}", out.dim(super::SNAPSHOT_NOTE));
    }
    text
}
