//! *Observe*: read-only facts.
//!
//! The rows of Cargo's `.global-cache` ([`db`]), what is on disk under CARGO_HOME
//! ([`home`]), sizes from the one walker ([`walk`]), Cargo's lock files ([`lockfiles`]) and
//! the processes using them ([`lock_doctor`], on [`crate::sys::process`]). Nothing here writes, takes a Cargo
//! lock, or opens a regular file for reading while scanning (opening would move atimes that
//! other tools, and our own `sweep`, rely on).

pub mod build_windows;
pub mod cargo_messages;
pub mod db;
pub mod home;
pub mod lock_doctor;
pub mod lockfiles;
pub mod target_dir;
pub mod toolchains;
pub mod use_record;
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

/// The modification time of each path itself (a symlink is not followed), in unix seconds;
/// paths that cannot be `lstat`ed are left out.
pub fn mtimes<'a>(
    paths: impl IntoIterator<Item = &'a std::path::Path>,
) -> std::collections::HashMap<std::path::PathBuf, u64> {
    paths
        .into_iter()
        .filter_map(|p| {
            let st = crate::sys::fs::lstat(p).ok()?;
            let secs = st.modified.duration_since(std::time::UNIX_EPOCH);
            Some((p.to_owned(), secs.map_or(0, |d| d.as_secs())))
        })
        .collect()
}
