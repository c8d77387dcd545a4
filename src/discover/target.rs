//! The current workspace and its target and build directories, found the way Cargo finds
//! them but without running cargo (running `cargo metadata` would take the package-cache lock
//! the user may be waiting on).

use std::path::{Path, PathBuf};

use super::{CargoConfig, CargoHome};

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
/// paths are taken from the workspace root.
pub fn target_dirs(cwd: &Path, config: &CargoConfig, home: &CargoHome) -> Vec<PathBuf> {
    let Some(root) = workspace_root(cwd) else {
        return Vec::new();
    };
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(t) => cwd.join(t),
        None => match config.get_str(&["build", "target-dir"]) {
            Some(t) => root.join(t),
            None => root.join("target"),
        },
    };
    let mut dirs = vec![target];
    if let Some(b) = config.get_str(&["build", "build-dir"])
        && !b.contains("{workspace-path-hash}")
    {
        let b = b
            .replace("{workspace-root}", &root.to_string_lossy())
            .replace("{cargo-cache-home}", &home.path.to_string_lossy());
        let b = root.join(b);
        if !dirs.contains(&b) {
            dirs.push(b);
        }
    }
    dirs
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
