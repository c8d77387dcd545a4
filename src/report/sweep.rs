//! The report of `sweep` (its JSON types) and its human rendering.

use std::fmt::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::Output;
use super::table::Table;
use crate::plan::grace;
use crate::plan::sweep;
use crate::quantity::HumanBytes;

#[derive(Debug, Serialize)]
pub struct DirReport {
    pub path: PathBuf,
    /// The project the directory belongs to (its parent, when that has a Cargo.toml).
    pub project: Option<PathBuf>,
    /// `atime`; `record` when the directory's record of use gives its units' last use
    /// (`--used-by` writes it); `none` on a `noatime` mount without a record (then ages are
    /// unknown and age or size limits remove nothing there); `used-by` with `--used-by`.
    pub signal: &'static str,
    /// With `--used-by`: how many of its units the commands reported (all kept).
    pub reported_units: Option<usize>,
    pub units: usize,
    pub removed_units: usize,
    pub kept_units: usize,
    /// Apparent bytes and bytes on disk of the whole directory, hard links once.
    pub bytes: u64,
    pub disk_bytes: u64,
    /// Bytes on disk freed (or that a dry run would free), hard links once.
    pub reclaimed_bytes: u64,
    pub removed: Vec<sweep::Removal>,
    /// Why the directory was left alone, if it was (`busy` with --no-wait).
    pub skipped: Option<String>,
    /// Profile directories that appeared while sweeping and whose build locks a build held:
    /// left alone.
    pub busy_profiles: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    /// The `--used-by` commands, as given.
    pub used_by: Vec<String>,
    pub dirs: Vec<DirReport>,
    pub removed_units: usize,
    pub reclaimed_bytes: u64,
    /// What the grace period kept.
    pub grace: grace::Report,
}

impl DirReport {
    /// One target dir's line: `td` as last scanned, the plan carried out (or previewed),
    /// `skipped` if it was left alone; `project` is the project it belongs to.
    pub fn new(
        path: &std::path::Path,
        project: Option<PathBuf>,
        signal: &'static str,
        reported_units: Option<usize>,
        td: crate::observe::target_dir::TargetDir,
        plan: sweep::DirPlan,
        skipped: Option<String>,
    ) -> DirReport {
        DirReport {
            path: path.to_owned(),
            project,
            signal,
            reported_units,
            units: plan.units,
            removed_units: plan.removed_units,
            kept_units: plan.units - plan.removed_units,
            bytes: td.total_bytes,
            disk_bytes: td.total_disk_bytes,
            reclaimed_bytes: plan.reclaimed_bytes,
            removed: plan.removals,
            skipped,
            busy_profiles: td.busy_profiles,
        }
    }
}

impl Report {
    /// An empty report of a run (`used_by`: the `--used-by` commands).
    pub fn new(dry_run: bool, used_by: Vec<String>) -> Report {
        Report {
            dry_run,
            used_by,
            dirs: Vec::new(),
            removed_units: 0,
            reclaimed_bytes: 0,
            grace: grace::Report::default(),
        }
    }

    /// Adds a directory's line to the report and its totals.
    pub fn add(&mut self, d: DirReport) {
        self.removed_units += d.removed_units;
        self.reclaimed_bytes += d.reclaimed_bytes;
        self.dirs.push(d);
    }
}

pub fn render(r: &Report, criteria: bool, detailed: bool, out: &Output) -> String {
    let mut text = String::new();
    if r.dirs.is_empty() {
        return "No Cargo target directory found.\n".into();
    }
    let verb = if r.dry_run { "would free" } else { "freed" };
    let mut t = Table::new(&[
        "target dir",
        "units",
        "removed",
        "kept",
        "size",
        verb,
        "signal",
    ]);
    for d in &r.dirs {
        t.row(vec![
            super::shown(&d.path),
            d.units.to_string(),
            d.removed_units.to_string(),
            d.kept_units.to_string(),
            HumanBytes(d.disk_bytes).to_string(),
            match &d.skipped {
                Some(why) => format!("skipped ({why})"),
                None => HumanBytes(d.reclaimed_bytes).to_string(),
            },
            d.signal.to_string(),
        ]);
    }
    let total_units: usize = r.dirs.iter().map(|d| d.units).sum();
    let total_size: u64 = r.dirs.iter().map(|d| d.disk_bytes).sum();
    t.row(vec![
        format!("total ({} dirs)", r.dirs.len()),
        total_units.to_string(),
        r.removed_units.to_string(),
        (total_units - r.removed_units).to_string(),
        HumanBytes(total_size).to_string(),
        HumanBytes(r.reclaimed_bytes).to_string(),
        String::new(),
    ]);
    text.push_str(&t.render());
    if detailed {
        for d in r.dirs.iter().filter(|d| !d.removed.is_empty()) {
            let _ = writeln!(text, "\n{}", out.bold(&super::shown(&d.path)));
            let items: Vec<_> = d.removed.iter().collect();
            let labels = super::unit_labels(&d.path, &items);
            for (rm, what) in d.removed.iter().zip(labels) {
                let _ = writeln!(text, "  {what}  {}  {}", HumanBytes(rm.bytes), rm.reason);
            }
        }
    }
    text.push_str(&super::grace_lines(&r.grace, detailed));
    for d in &r.dirs {
        for p in &d.busy_profiles {
            let _ = writeln!(
                text,
                "Left `{}` alone: it appeared while sweeping and a build holds its lock",
                super::shown(p)
            );
        }
    }
    if r.dry_run && criteria {
        let _ = writeln!(text, "{}", out.dim(super::SNAPSHOT_NOTE));
    }
    if !criteria {
        let _ = writeln!(
            text,
            "{}",
            out.dim("(a report only: give --max-age, --toolchains, --max-size, --incremental or --all to remove)")
        );
    }
    text
}

/// The warnings of a real run in one target dir: skipped as busy, or the profile
/// directories left alone and what could not be removed.
pub fn warn_acted(dir: &std::path::Path, done: &crate::act::target::Acted, out: &Output) {
    if let Some(e) = &done.busy {
        out.warn(format!("skipping `{}`: {e} (--no-wait)", dir.display()));
        return;
    }
    for p in &done.td.busy_profiles {
        out.warn(format!(
            "leaving `{}` alone: it appeared while sweeping and a build holds its lock",
            p.display()
        ));
    }
    for (path, err) in &done.errors {
        out.warn(format!("could not remove `{}`: {err}", path.display()));
    }
}
