//! The human rendering of `status`.

use std::fmt::Write;

use super::Output;
use super::table::Table;
use crate::plan::status::Status;
use crate::quantity::{HumanBytes, ago};

fn label(kind: &str) -> &'static str {
    match kind {
        "registry-index" => "registry indexes",
        "registry-crate" => ".crate archives",
        "registry-src" => "extracted sources",
        "git-db" => "git databases",
        "git-checkout" => "git checkouts",
        "bin" => "installed binaries",
        _ => "everything else",
    }
}

fn size(b: Option<u64>) -> String {
    b.map(|b| HumanBytes(b).to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn render(s: &Status, out: &Output) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} {}",
        out.bold("Cargo home"),
        s.cargo_home.display()
    );
    let mut t = Table::new(&["", "count", "size", "on disk", "last used"]).left_align(4);
    for c in &s.components {
        let used = match (c.oldest_use, c.newest_use) {
            (Some(o), Some(n)) if o == n => ago(s.now, o),
            (Some(o), Some(n)) => format!("{} .. {}", ago(s.now, o), ago(s.now, n)),
            _ => String::new(),
        };
        let used = if c.untracked > 0 && c.count > c.untracked {
            format!("{used} ({} untracked)", c.untracked)
        } else if c.untracked > 0 {
            "untracked".to_string()
        } else {
            used
        };
        t.row(vec![
            label(c.kind).into(),
            c.count.to_string(),
            HumanBytes(c.bytes).to_string(),
            size(c.disk_bytes),
            used,
        ]);
    }
    t.row(vec![
        "total".into(),
        String::new(),
        HumanBytes(s.total_bytes).to_string(),
        size(s.total_disk_bytes),
        String::new(),
    ]);
    text.push_str(&t.render());
    if s.components.iter().any(|c| c.disk_bytes.is_none()) {
        let _ = writeln!(
            text,
            "{}",
            out.dim("(-: sizes Cargo stored have no on-disk figure; `status --exact` walks all)")
        );
    }

    if !s.registries.is_empty() {
        let _ = writeln!(text, "\n{}", out.bold("Registries"));
        // Named by URL (shorter than the directory's name, and what the user configured);
        // the directory's name where the URL is unknown. `--json` has both.
        let mut t = Table::new(&["", "index", ".crate", "sources"]);
        let mut legacy = false;
        for r in &s.registries {
            let name = match (&r.url, r.scheme) {
                (Some(u), Some(crate::discover::registry::Scheme::Legacy)) => {
                    legacy = true;
                    format!("{} *", short_url(u))
                }
                (Some(u), _) => short_url(u),
                (None, _) => r.name.clone(),
            };
            t.row(vec![
                name,
                HumanBytes(r.index_bytes).to_string(),
                format!("{} in {}", HumanBytes(r.crate_bytes), r.crate_count),
                format!("{} in {}", HumanBytes(r.src_bytes), r.src_count),
            ]);
        }
        text.push_str(&t.render());
        if legacy {
            let _ = writeln!(
                text,
                "{}",
                out.dim("* a directory named by cargo before 1.85")
            );
        }
    }

    if !s.git_repos.is_empty() {
        let _ = writeln!(text, "\n{}", out.bold("Git repositories"));
        let mut t = Table::new(&["", "checkouts", "size", "last used"]).left_align(3);
        for g in &s.git_repos {
            t.row(vec![
                g.name.clone(),
                g.checkout_count.to_string(),
                HumanBytes(g.bytes).to_string(),
                g.last_use
                    .map_or_else(|| "untracked".into(), |t| ago(s.now, t)),
            ]);
        }
        text.push_str(&t.render());
    }

    if !s.top.is_empty() {
        let _ = writeln!(text, "\n{}", out.bold(&format!("Largest {}", s.top.len())));
        let mut t = Table::new(&["", "", "on disk", "last used"])
            .left_align(1)
            .left_align(3);
        for i in &s.top {
            t.row(vec![
                if i.kind == "git-db" {
                    i.name.clone()
                } else {
                    crate::quantity::name_version(i.name.trim_end_matches(".crate"))
                },
                match i.kind {
                    "registry-src" => "source",
                    "registry-crate" => ".crate",
                    _ => "git repo",
                }
                .into(),
                size(i.disk_bytes.or(Some(i.bytes))),
                i.last_use
                    .map_or_else(|| "untracked".into(), |t| ago(s.now, t)),
            ]);
        }
        text.push_str(&t.render());
    }

    let _ = writeln!(
        text,
        "\nCargo's automatic clean would remove {} today (sources and checkouts\n\
         unused for 1 month; archives, indexes and git databases unused for 3 months).",
        HumanBytes(s.auto_clean_reclaimable_bytes)
    );
    if !s.stale_registries.is_empty() {
        let total: u64 = s.stale_registries.iter().map(|r| r.bytes).sum();
        let _ = writeln!(
            text,
            "Dead weight: {} in {} registry director{} named by cargo before 1.85, which no current cargo uses:",
            HumanBytes(total),
            s.stale_registries.len(),
            if s.stale_registries.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
        for r in &s.stale_registries {
            let _ = writeln!(text, "  {}  {}  ({})", r.name, HumanBytes(r.bytes), r.url);
        }
        let _ = writeln!(
            text,
            "  Cargo's automatic clean removes them 3 months after it first sees them unused."
        );
    }
    for n in &s.next_steps {
        let _ = writeln!(
            text,
            "Next: run `{}` to reclaim {} now.",
            n.command,
            HumanBytes(n.bytes)
        );
    }
    if s.top.is_empty() {
        let _ = writeln!(
            text,
            "{}",
            out.dim("(`status --top 10` lists the largest sources, archives and git repos)")
        );
    }
    text
}

/// A registry URL without its protocol (`sparse+https://index.crates.io/` reads
/// `index.crates.io/`).
fn short_url(u: &str) -> String {
    let u = u.strip_prefix("sparse+").unwrap_or(u);
    let u = u.split_once("://").map_or(u, |(_, rest)| rest);
    u.to_owned()
}
