//! The current workspace and its target and build directories, found the way Cargo finds
//! them but without running cargo (running `cargo metadata` would take the package-cache lock
//! the user may be waiting on).

use std::path::{Path, PathBuf};

use super::{CargoConfig, CargoHome};
use crate::observe::target_dir::{PROFILE_DEPTH, profile_marker};

/// The workspace root: the nearest `Cargo.toml` above `cwd`, or the outermost ancestor whose
/// `Cargo.toml` has a `[workspace]` table.
pub fn workspace_root(cwd: &Path) -> Option<PathBuf> {
    let nearest = cwd.ancestors().find(|d| d.join("Cargo.toml").is_file())?;
    let root = nearest
        .ancestors()
        .filter(|d| {
            std::fs::read_to_string(d.join("Cargo.toml"))
                .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .last()
        .unwrap_or(nearest);
    Some(root.to_owned())
}

/// The workspace's target directory and, when different, its build directory:
/// `CARGO_TARGET_DIR`, else `build.target-dir`, else `<root>/target`; `build.build-dir`
/// (with `{workspace-root}` and `{cargo-cache-home}` expanded) when set. Relative config
/// paths are taken from where their config file is, as Cargo takes them.
pub fn target_dirs(cwd: &Path, config: &CargoConfig, home: &CargoHome) -> Vec<PathBuf> {
    let Some(root) = workspace_root(cwd) else {
        return Vec::new();
    };
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(t) => cwd.join(t),
        None => config
            .get_path(&["build", "target-dir"], cwd)
            .unwrap_or_else(|| root.join("target")),
    };
    let mut dirs = vec![target];
    if let Some(b) = config.get_str(&["build", "build-dir"])
        && !b.contains("{workspace-path-hash}")
    {
        let b = b
            .replace("{workspace-root}", &root.to_string_lossy())
            .replace("{cargo-cache-home}", &home.path.to_string_lossy());
        let b = config.base_dir(&["build", "build-dir"], cwd).join(b);
        if !dirs.contains(&b) {
            dirs.push(b);
        }
    }
    dirs
}

/// Cargo's `CACHEDIR.TAG` signature (`validate_target_dir_tag`).
const CACHEDIR_SIGNATURE: &str = "Signature: 8a477f597d28d172789f06886806bc55";

/// Whether `dir` is a Cargo target or build directory: a valid `CACHEDIR.TAG` with Cargo's
/// signature, plus a Cargo marker (`.rustc_info.json`, or a profile directory up to
/// [`PROFILE_DEPTH`] levels down: one with `.fingerprint/`, a new-layout
/// `build/<pkg>/<hash>/fingerprint/`, or a build lock file). Symlinks are not target dirs, and
/// are never followed.
pub fn is_target_dir(dir: &Path) -> bool {
    if !dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return false;
    }
    if !has_cargo_tag(dir) {
        return false;
    }
    dir.join(".rustc_info.json").is_file() || holds_a_profile(dir, PROFILE_DEPTH)
}

/// Whether `dir` holds a `CACHEDIR.TAG` (a file, not a symlink) with Cargo's signature, which
/// Cargo writes when it creates a target or build directory, before it takes any lock there.
pub fn has_cargo_tag(dir: &Path) -> bool {
    let tag = dir.join("CACHEDIR.TAG");
    tag.symlink_metadata().is_ok_and(|m| m.is_file())
        && std::fs::read(&tag).is_ok_and(|b| b.starts_with(CACHEDIR_SIGNATURE.as_bytes()))
}

/// The real directories in `dir` (symlinks are not followed).
fn subdirs(dir: &Path) -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
}

/// Whether `p` is a Cargo profile directory, told by its contents.
fn is_profile(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|rd| {
        rd.filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            profile_marker(&name, is_dir)
                || (name == "build"
                    && is_dir
                    && subdirs(&e.path()).any(|pkg| {
                        subdirs(&pkg.path()).any(|h| {
                            h.path()
                                .join("fingerprint")
                                .symlink_metadata()
                                .is_ok_and(|m| m.is_dir())
                        })
                    }))
        })
    })
}

/// Whether a profile directory is within `depth` levels below `dir`.
fn holds_a_profile(dir: &Path, depth: usize) -> bool {
    subdirs(dir)
        .any(|e| is_profile(&e.path()) || (depth > 1 && holds_a_profile(&e.path(), depth - 1)))
}

/// Finds target dirs below `root`: no symlink is followed, a found target dir is not entered,
/// and hidden directories are skipped unless `hidden`.
pub fn find_target_dirs(root: &Path, hidden: bool, out: &mut Vec<PathBuf>) {
    if is_target_dir(root) {
        out.push(root.to_owned());
        return;
    }
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| hidden || !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        find_target_dirs(&d, hidden, out);
    }
}

/// The project a target dir belongs to: its parent, when that has a `Cargo.toml`.
pub fn project_of(dir: &Path) -> Option<PathBuf> {
    dir.parent()
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_outermost_workspace() {
        let t = tempfile::tempdir().unwrap();
        let ws = t.path().join("ws");
        std::fs::create_dir_all(ws.join("crates/a/src")).unwrap();
        std::fs::write(
            ws.join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/a\"]\n",
        )
        .unwrap();
        std::fs::write(ws.join("crates/a/Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
        assert_eq!(workspace_root(&ws.join("crates/a/src")).unwrap(), ws);
        assert!(workspace_root(t.path()).is_none());
    }
}
