//! The human rendering of `sweep`.

use std::fmt::Write;

use super::Output;
use super::table::Table;
use crate::commands::sweep::Report;
use crate::units::HumanBytes;

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
