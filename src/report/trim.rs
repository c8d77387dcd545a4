//! The human rendering of `trim`.

use std::fmt::Write;

use super::Output;
use super::table::Table;
use crate::commands::trim::Report;
use crate::units::HumanBytes;

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
