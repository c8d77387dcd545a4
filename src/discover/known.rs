//! Known target dirs: those earlier janitor runs worked on, so that `tidy` (and the scheduled
//! run) can hold one budget over them without being told each one again.
//!
//! # Where, and why there
//!
//! One small JSON file per CARGO_HOME, in cargo-janitor's own state directory:
//! `cargo-janitor/target-dirs/<hash>.json` under `$XDG_STATE_HOME` (else `~/.local/state`) on
//! Linux and other Unixes, `~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on
//! Windows. `<hash>` is the FNV-1a 64-bit hash of the CARGO_HOME's canonical path (in hex),
//! and the file names that path too (a file naming another home is ignored). Not inside
//! CARGO_HOME: Cargo owns that directory and its layout, and a record there would be removed
//! with it, or shared by every user of a shared home; not beside the target dirs: it is a list
//! *of* them. One file per home, because the target dirs a budget covers are those built with
//! that home's packages.
//!
//! ```json
//! {"cargo_home": "/home/me/.cargo", "target_dirs": ["/home/me/src/app/target"]}
//! ```
//!
//! # Recording
//!
//! Every run of `sweep`, `sweep --used-by`, `trim` and `tidy` that is not `--dry-run` adds the
//! target dirs it worked on, canonical (no symlink in them), to its home's file. The file is
//! replaced atomically (written under a temporary name in the same directory, synced, renamed
//! over the old one), and opened, created and renamed only through directory handles that
//! never follow a symlink (a symlink where the file or its directories should be is refused).
//! A failure to record is a warning, never a failed run. Two runs recording at the same
//! instant may lose one's additions; its next run records them again.
//!
//! # Reading
//!
//! `tidy` adds the recorded dirs to its own (unless PATHs are given, which say exactly what to
//! work on). A recorded dir that no longer exists, is no longer a Cargo target dir
//! ([`super::target::is_target_dir`]), or whose path now resolves elsewhere (a component
//! became a symlink) is dropped: never cleaned, and forgotten by the next real run.
//! Paths that are not UTF-8 are not recorded.

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sys::fs::{Dir, FileOptions};

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    cargo_home: PathBuf,
    target_dirs: Vec<PathBuf>,
}

/// cargo-janitor's state directory (`…/cargo-janitor`), from the environment; `None` when
/// the environment names none.
pub fn state_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        env("XDG_STATE_HOME").or_else(|| env("HOME").map(|h| h.join(".local/state")))
    }?;
    base.is_absolute().then(|| base.join("cargo-janitor"))
}

/// FNV-1a, 64 bits: a hash that stays the same across versions and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

/// The record's file name for a home.
fn file_name(home: &Path) -> String {
    format!(
        "{:016x}.json",
        fnv1a(canonical(home).as_os_str().as_encoded_bytes())
    )
}

/// Opens (creating if asked) `sub` in `dir` without following a symlink.
fn sub_dir(dir: &Dir, sub: &str, create: bool) -> io::Result<Dir> {
    if create {
        match dir.create_dir(sub) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    dir.open_dir(sub)
}

/// The `target-dirs` directory of the state dir `state`.
fn records_dir(state: &Path, create: bool) -> io::Result<Dir> {
    let base = state.parent().unwrap_or(state);
    if create {
        // The user's own state directory (`~/.local/state`): the one path resolved.
        std::fs::create_dir_all(base)?;
    }
    let base = Dir::open(base)?;
    let ours = sub_dir(&base, "cargo-janitor", create)?;
    sub_dir(&ours, "target-dirs", create)
}

/// The target dirs recorded for `home` in the state dir `state`, as written (unchecked).
fn read_in(state: &Path, home: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = match records_dir(state, false) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut f = match dir.open_file(file_name(home), FileOptions::default()) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let r: Record = serde_json::from_str(&text).map_err(io::Error::other)?;
    if r.cargo_home != canonical(home) {
        return Ok(Vec::new());
    }
    Ok(r.target_dirs)
}

/// Replaces the record of `home` in `state` with `dirs`.
fn write_in(state: &Path, home: &Path, dirs: &[PathBuf]) -> io::Result<()> {
    let dir = records_dir(state, true)?;
    let r = Record {
        cargo_home: canonical(home),
        target_dirs: dirs.to_vec(),
    };
    let mut text = serde_json::to_string(&r).map_err(io::Error::other)?;
    text.push('\n');
    let name = file_name(home);
    let tmp = format!(".{name}.tmp-{}", std::process::id());
    let result = (|| {
        let opts = FileOptions {
            write: true,
            create: true,
        };
        let mut f = dir.open_file(&tmp, opts)?;
        f.set_len(0)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        dir.replace_file(&tmp, &name)
    })();
    if result.is_err() {
        let _ = dir.remove_file(&tmp);
    }
    result
}

/// Whether a recorded path still names the target dir it named: it exists, is a Cargo target
/// dir, and resolves to itself (no component became a symlink).
fn still_a_target_dir(p: &Path) -> bool {
    p.is_absolute() && p.canonicalize().is_ok_and(|c| c == p) && super::target::is_target_dir(p)
}

/// What [`read`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// Recorded dirs that are still target dirs.
    pub dirs: Vec<PathBuf>,
    /// Recorded dirs dropped: gone, no longer target dirs, or resolving elsewhere.
    pub dropped: Vec<PathBuf>,
}

/// The target dirs earlier runs recorded for `home`, checked.
pub fn read(home: &Path) -> io::Result<Known> {
    match state_dir() {
        Some(state) => read_checked(&state, home),
        None => Ok(Known::default()),
    }
}

fn read_checked(state: &Path, home: &Path) -> io::Result<Known> {
    let mut k = Known::default();
    for d in read_in(state, home)? {
        if still_a_target_dir(&d) {
            k.dirs.push(d);
        } else {
            k.dropped.push(d);
        }
    }
    Ok(k)
}

/// Records `dirs` (target dirs a real run worked on) for `home`, and forgets `dropped`.
pub fn record(home: &Path, dirs: &[PathBuf], dropped: &[PathBuf]) -> io::Result<()> {
    let Some(state) = state_dir() else {
        return Ok(());
    };
    record_in(&state, home, dirs, dropped)
}

fn record_in(state: &Path, home: &Path, dirs: &[PathBuf], dropped: &[PathBuf]) -> io::Result<()> {
    let old = read_in(state, home).unwrap_or_default();
    let mut all: Vec<PathBuf> = old
        .iter()
        .filter(|d| !dropped.contains(d))
        .cloned()
        .collect();
    for d in dirs {
        let c = canonical(d);
        if c.to_str().is_some() && c.is_absolute() && !all.contains(&c) {
            all.push(c);
        }
    }
    all.sort();
    if all == old {
        return Ok(());
    }
    write_in(state, home, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target_dir(p: &Path) {
        std::fs::create_dir_all(p.join("debug/.fingerprint")).unwrap();
        std::fs::write(
            p.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55\n",
        )
        .unwrap();
        std::fs::write(p.join(".rustc_info.json"), "{}").unwrap();
    }

    #[test]
    fn fnv_is_the_reference_function() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn records_add_up_per_home_and_gone_dirs_are_dropped_not_kept() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let state = root.join("state/cargo-janitor");
        let (home, other) = (root.join("home"), root.join("other-home"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let (a, b) = (root.join("a/target"), root.join("b/target"));
        target_dir(&a);
        target_dir(&b);
        assert_eq!(read_checked(&state, &home).unwrap(), Known::default());
        record_in(&state, &home, std::slice::from_ref(&a), &[]).unwrap();
        record_in(&state, &home, &[b.clone(), a.clone()], &[]).unwrap();
        assert_eq!(
            read_checked(&state, &home).unwrap().dirs,
            [a.clone(), b.clone()]
        );
        assert!(read_checked(&state, &other).unwrap().dirs.is_empty());

        // b is no longer a target dir (its tag went), a is gone: dropped, and forgotten.
        std::fs::remove_file(b.join("CACHEDIR.TAG")).unwrap();
        std::fs::remove_dir_all(&a).unwrap();
        let k = read_checked(&state, &home).unwrap();
        assert!(k.dirs.is_empty());
        assert_eq!(k.dropped, [a.clone(), b.clone()]);
        record_in(&state, &home, &[], &k.dropped).unwrap();
        assert!(read_in(&state, &home).unwrap().is_empty());
        // Only the record is left in the directory (no temporary file).
        let files: Vec<_> = std::fs::read_dir(state.join("target-dirs"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_recorded_path_that_now_resolves_elsewhere_is_dropped() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let state = root.join("state/cargo-janitor");
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let a = root.join("p/target");
        target_dir(&a);
        record_in(&state, &home, std::slice::from_ref(&a), &[]).unwrap();
        // The project directory is replaced by a symlink to another target dir's project.
        let elsewhere = root.join("elsewhere/target");
        target_dir(&elsewhere);
        std::fs::rename(root.join("p"), root.join("p-old")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("p")).unwrap();
        let k = read_checked(&state, &home).unwrap();
        assert!(k.dirs.is_empty(), "{k:?}");
        assert_eq!(k.dropped, [a]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_place_of_the_record_or_its_directory_is_refused_and_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let a = root.join("p/target");
        target_dir(&a);
        let victim = root.join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        // The records directory is a symlink.
        let state = root.join("s1/cargo-janitor");
        std::fs::create_dir_all(&state).unwrap();
        std::os::unix::fs::symlink(&victim, state.join("target-dirs")).unwrap();
        assert!(record_in(&state, &home, std::slice::from_ref(&a), &[]).is_err());
        // The record itself is a (dangling) symlink.
        let state = root.join("s2/cargo-janitor");
        std::fs::create_dir_all(state.join("target-dirs")).unwrap();
        let link = state.join("target-dirs").join(file_name(&home));
        std::os::unix::fs::symlink(victim.join("file.json"), &link).unwrap();
        assert!(read_in(&state, &home).is_err());
        // Written by rename over it: the link is replaced, its target never created.
        record_in(&state, &home, std::slice::from_ref(&a), &[]).unwrap();
        assert!(!link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    }
}
