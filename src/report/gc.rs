//! The human and JSON output of `gc`.

use std::fmt::Write;

use serde::Serialize;

use super::Output;
use super::table::Table;
use crate::act::executor::{Outcome, RemovedItem};
use crate::plan::grace;
use crate::quantity::HumanBytes;

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub dry_run: bool,
    pub removed: &'a [RemovedItem],
    pub removed_bytes: u64,
    pub removed_files: u64,
    /// Apparent bytes of the caches (indexes, .crate files, sources, git) before the run.
    pub before_bytes: u64,
    /// The same after the run (for a dry run: what it would be).
    pub after_bytes: u64,
    /// What the grace period kept.
    pub grace: &'a grace::Report,
    /// Why `.global-cache` could not be updated after the removals (`null` when it was): it
    /// then still lists removed entries.
    pub database_error: Option<String>,
}

impl<'a> Report<'a> {
    pub fn new(
        dry_run: bool,
        o: &'a Outcome,
        before: u64,
        after: u64,
        grace: &'a grace::Report,
    ) -> Report<'a> {
        Report {
            dry_run,
            removed: &o.items,
            removed_bytes: o.bytes,
            removed_files: o.files,
            before_bytes: before,
            after_bytes: after,
            grace,
            database_error: None,
        }
    }
}

/// The limit in parentheses that ends every one of `reasons` (`last used 6 weeks ago
/// (default max-src-age 1 month)` → `default max-src-age 1 month`), if they all end with
/// the same one and it is the only parenthesis in each.
fn shared_limit<'r>(mut reasons: impl Iterator<Item = &'r str>) -> Option<&'r str> {
    let limit = |r: &'r str| -> Option<&'r str> {
        let inner = r.strip_suffix(')')?;
        let (head, l) = inner.rsplit_once(" (")?;
        (!head.contains('(') && !l.contains(['(', ')'])).then_some(l)
    };
    let first = limit(reasons.next()?)?;
    reasons.all(|r| limit(r) == Some(first)).then_some(first)
}

pub fn render(r: &Report<'_>, o: &Outcome, detailed: bool, out: &Output) -> String {
    let mut text = String::new();
    if detailed && !o.items.is_empty() {
        let mut kinds: Vec<_> = o.items.iter().map(|i| i.kind).collect();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let items: Vec<&RemovedItem> = o.items.iter().filter(|i| i.kind == kind).collect();
            let total: u64 = items.iter().map(|i| i.bytes).sum();
            // The limit every item of the kind was removed by, said once in the heading.
            let limit = shared_limit(items.iter().map(|i| i.reason.as_str()));
            let _ = writeln!(
                text,
                "{} ({}, {}){}",
                out.bold(kind.label()),
                items.len(),
                HumanBytes(total),
                limit.map_or(String::new(), |l| format!(": {l}"))
            );
            let mut t = Table::new(&["", "size", "why"]).left_align(2);
            for i in items {
                // A unit by its name and version (the heading gives its kind); JSON has the
                // path.
                let name = super::entry_name(&i.path, kind.name());
                let why = match limit {
                    Some(l) => i.reason[..i.reason.len() - l.len() - 3].to_owned(),
                    None => i.reason.clone(),
                };
                t.row(vec![
                    format!("  {name}"),
                    HumanBytes(i.bytes).to_string(),
                    why,
                ]);
            }
            // No header row for the per-item tables.
            text.push_str(t.render().split_once('\n').map(|x| x.1).unwrap_or(""));
        }
    }
    let verb = if r.dry_run { "Summary" } else { "Removed" };
    let _ = writeln!(
        text,
        "{verb} {} files, {} total (caches: {} before, {} after)",
        r.removed_files,
        HumanBytes(r.removed_bytes),
        HumanBytes(r.before_bytes),
        HumanBytes(r.after_bytes)
    );
    text.push_str(&super::grace_lines(r.grace, detailed));
    if o.leftover.files > 0 {
        let _ = writeln!(
            text,
            "Also emptied the trash of an interrupted run: {} files, {}",
            o.leftover.files,
            HumanBytes(o.leftover.bytes)
        );
    }
    if r.dry_run {
        let _ = writeln!(text, "{}", out.dim(super::SNAPSHOT_NOTE));
    }
    text
}
