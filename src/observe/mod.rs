//! *Observe*: read-only facts.
//!
//! The rows of Cargo's `.global-cache` ([`db`]), what is on disk under CARGO_HOME
//! ([`home`]), and sizes from the one walker ([`walk`]). Nothing here writes, takes a Cargo
//! lock, or opens a regular file for reading while scanning (opening would move atimes that
//! other tools, and our own `sweep`, rely on).

pub mod db;
pub mod home;
pub mod lockfiles;
pub mod procs;
pub mod target_dir;
pub mod toolchains;
pub mod walk;

/// The current time in unix seconds. Honours Cargo's `__CARGO_TEST_LAST_USE_NOW` (used by
/// tests to age caches exactly as Cargo records them), so that "now" means the same to us as
/// to the cargo we are compared with.
pub fn now() -> u64 {
    if let Some(t) = std::env::var("__CARGO_TEST_LAST_USE_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return t;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The real clock in unix seconds, never `__CARGO_TEST_LAST_USE_NOW`: what file times are
/// compared with (a file's mtime or atime is always real).
pub fn disk_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The modification time of `path` itself (a symlink is not followed), in unix seconds.
pub fn mtime(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    path.symlink_metadata()
        .ok()
        .map(|m| m.mtime().max(0) as u64)
}
