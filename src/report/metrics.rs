//! `tidy --metrics FILE`: the Prometheus text format, for node_exporter's textfile collector;
//! and `tidy --log FILE`: one JSON line per run.
//!
//! The metrics file is replaced atomically (written beside it under a temporary name, synced,
//! then renamed over it), so the collector never reads half a file. Every name starts with
//! `cargo_janitor_`. The component figures are those `status --exact --json` prints for the
//! home as the run left it (`bytes` apparent, `disk_bytes` on disk).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What one run leaves for the collector.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// Unix seconds when the run ended.
    pub time: u64,
    pub success: bool,
    pub dry_run: bool,
    /// Per CARGO_HOME component (`registry-index`, …, `bin`, `other`): count, apparent bytes,
    /// bytes on disk.
    pub components: Vec<(String, u64, u64, u64)>,
    /// Per target dir: bytes on disk after the run.
    pub target_dirs: Vec<(PathBuf, u64)>,
    /// Per filesystem holding a cache: free bytes after the run.
    pub free: Vec<(PathBuf, u64)>,
    pub total_bytes: u64,
    pub budget_bytes: Option<u64>,
    pub met: bool,
    pub reclaimed_bytes: u64,
    /// Removals per tier (`incremental`, `unit`, …).
    pub removed: Vec<(String, u64)>,
    /// Roots left alone because a build held their locks (`--no-wait`).
    pub busy_skipped: u64,
    /// How many times the run waited for a lock a build held, and the seconds it waited.
    pub lock_waits: u64,
    pub lock_wait_seconds: f64,
    /// The error that ended the run, if one did.
    pub error: Option<String>,
    pub exit_code: i32,
}

/// A label value escaped as the text format wants it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP cargo_janitor_{name} {help}");
    let _ = writeln!(out, "# TYPE cargo_janitor_{name} {kind}");
}

/// The metrics in the Prometheus text format (version 0.0.4).
pub fn render(m: &Metrics) -> String {
    let mut o = String::new();
    family(
        &mut o,
        "last_run_timestamp_seconds",
        "gauge",
        "When the last tidy run ended (unix seconds).",
    );
    let _ = writeln!(o, "cargo_janitor_last_run_timestamp_seconds {}", m.time);
    family(
        &mut o,
        "last_run_success",
        "gauge",
        "1 if the last tidy run ended without an error and within its limits, else 0.",
    );
    let _ = writeln!(o, "cargo_janitor_last_run_success {}", u8::from(m.success));
    family(
        &mut o,
        "last_run_dry_run",
        "gauge",
        "1 if the last run was a dry run (nothing removed).",
    );
    let _ = writeln!(o, "cargo_janitor_last_run_dry_run {}", u8::from(m.dry_run));
    if m.error.is_none() {
        family(
            &mut o,
            "home_entries",
            "gauge",
            "Entries (files for bin and other) per CARGO_HOME component.",
        );
        for (c, count, _, _) in &m.components {
            let _ = writeln!(
                o,
                "cargo_janitor_home_entries{{component=\"{}\"}} {count}",
                label(c)
            );
        }
        family(
            &mut o,
            "home_bytes",
            "gauge",
            "Apparent bytes per CARGO_HOME component.",
        );
        for (c, _, bytes, _) in &m.components {
            let _ = writeln!(
                o,
                "cargo_janitor_home_bytes{{component=\"{}\"}} {bytes}",
                label(c)
            );
        }
        family(
            &mut o,
            "home_disk_bytes",
            "gauge",
            "Bytes on disk per CARGO_HOME component.",
        );
        for (c, _, _, disk) in &m.components {
            let _ = writeln!(
                o,
                "cargo_janitor_home_disk_bytes{{component=\"{}\"}} {disk}",
                label(c)
            );
        }
        family(
            &mut o,
            "target_dir_disk_bytes",
            "gauge",
            "Bytes on disk per target dir.",
        );
        for (p, b) in &m.target_dirs {
            let _ = writeln!(
                o,
                "cargo_janitor_target_dir_disk_bytes{{path=\"{}\"}} {b}",
                label(&p.to_string_lossy())
            );
        }
        family(
            &mut o,
            "filesystem_free_bytes",
            "gauge",
            "Free bytes (for unprivileged users) on each filesystem holding a cache.",
        );
        for (p, b) in &m.free {
            let _ = writeln!(
                o,
                "cargo_janitor_filesystem_free_bytes{{path=\"{}\"}} {b}",
                label(&p.to_string_lossy())
            );
        }
        family(
            &mut o,
            "total_disk_bytes",
            "gauge",
            "Bytes on disk of CARGO_HOME and every target dir together.",
        );
        let _ = writeln!(o, "cargo_janitor_total_disk_bytes {}", m.total_bytes);
        if let Some(b) = m.budget_bytes {
            family(&mut o, "budget_bytes", "gauge", "The budget (--budget).");
            let _ = writeln!(o, "cargo_janitor_budget_bytes {b}");
        }
        family(
            &mut o,
            "limits_met",
            "gauge",
            "1 if the budget and --min-free held after the last run.",
        );
        let _ = writeln!(o, "cargo_janitor_limits_met {}", u8::from(m.met));
        family(
            &mut o,
            "reclaimed_bytes",
            "gauge",
            "Bytes on disk the last run freed.",
        );
        let _ = writeln!(o, "cargo_janitor_reclaimed_bytes {}", m.reclaimed_bytes);
        family(
            &mut o,
            "removed_items",
            "gauge",
            "Items the last run removed, per tier.",
        );
        for (tier, n) in &m.removed {
            let _ = writeln!(
                o,
                "cargo_janitor_removed_items{{tier=\"{}\"}} {n}",
                label(tier)
            );
        }
        family(
            &mut o,
            "busy_skipped",
            "gauge",
            "Caches the last run left alone because a build held their locks.",
        );
        let _ = writeln!(o, "cargo_janitor_busy_skipped {}", m.busy_skipped);
    }
    family(
        &mut o,
        "lock_waits",
        "gauge",
        "Times the last run waited for a Cargo lock a build held.",
    );
    let _ = writeln!(o, "cargo_janitor_lock_waits {}", m.lock_waits);
    family(
        &mut o,
        "lock_wait_seconds",
        "gauge",
        "Seconds the last run waited for Cargo locks builds held.",
    );
    let _ = writeln!(
        o,
        "cargo_janitor_lock_wait_seconds {:.3}",
        m.lock_wait_seconds
    );
    o
}

/// Writes `text` to `path` atomically: a temporary file beside it, synced, renamed over it.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    write_atomic_bytes(path, text.as_bytes())
}

/// [`write_atomic`] for bytes.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Appends one line to the run log (created if missing), in one write.
pub fn append_line(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_string(value).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let m = Metrics {
            time: 1_800_000_000,
            success: true,
            components: vec![("registry-crate".into(), 3, 3000, 12288)],
            target_dirs: vec![("/a \"b\"\\c".into(), 4096)],
            free: vec![("/".into(), 1 << 30)],
            total_bytes: 20000,
            budget_bytes: Some(30000),
            met: true,
            reclaimed_bytes: 5,
            removed: vec![("unit".into(), 2)],
            ..Metrics::default()
        };
        let t = render(&m);
        assert!(t.contains("cargo_janitor_last_run_success 1\n"));
        assert!(t.contains("cargo_janitor_home_disk_bytes{component=\"registry-crate\"} 12288\n"));
        assert!(
            t.contains("cargo_janitor_target_dir_disk_bytes{path=\"/a \\\"b\\\"\\\\c\"} 4096\n")
        );
        assert!(t.contains("cargo_janitor_removed_items{tier=\"unit\"} 2\n"));
        assert!(t.contains("cargo_janitor_lock_waits 0\n"));
        assert!(t.contains("cargo_janitor_lock_wait_seconds 0.000\n"));
        assert!(
            t.lines()
                .all(|l| l.starts_with("# ") || l.starts_with("cargo_janitor_"))
        );
        // A failed run: only when, and that it failed.
        let failed = render(&Metrics {
            error: Some("x".into()),
            ..Metrics::default()
        });
        assert!(failed.contains("cargo_janitor_last_run_success 0\n"));
        assert!(!failed.contains("home_bytes"));
    }

    #[test]
    fn writes_atomically_and_appends_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.prom");
        write_atomic(&p, "a 1\n").unwrap();
        write_atomic(&p, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a 2\n");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        let l = d.path().join("log.jsonl");
        append_line(&l, &serde_json::json!({"a": 1})).unwrap();
        append_line(&l, &serde_json::json!({"a": 2})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&l).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
    }
}
