//! The paths a user gives on the command line, checked once, before a command does anything.
//!
//! A path that does not exist, or is not what the command needs, is bad input (exit 2): a
//! typo must never read as "nothing there" (`wait target/typo` returning at once as if the
//! locks were free, `sweep -r notes.txt` sweeping nothing and succeeding). Each message names
//! the path, the argument it came from and the accepted form. The Cargo home has its own
//! checks in [`super::cargo_home`].

use std::path::{Path, PathBuf};

use super::target;
use crate::exit::BadInput;

/// What a command needs a path to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A Cargo target or build directory to clean (`sweep PATH`, `trim --target-dir`): a real
    /// directory (never a symlink: nothing is removed through one) that
    /// [`target::is_target_dir`] recognises.
    TargetDir,
    /// A target or build directory whose lock files to probe (`locks PATH`, `wait PATH`): a
    /// directory with Cargo's `CACHEDIR.TAG`, which Cargo writes before it takes any lock
    /// there. Read-only, so a symlinked target dir is fine.
    LockDir,
    /// A directory to search for target dirs (`sweep --recursive PATH`).
    SearchRoot,
    /// A workspace root (`trim --workspace`): a directory with a `Cargo.toml`.
    Workspace,
    /// A lockfile (`trim --lockfile`): anything but a directory (what it holds is checked when
    /// it is read).
    Lockfile,
}

impl Need {
    /// The accepted form, for messages.
    fn form(self) -> &'static str {
        match self {
            Need::TargetDir => {
                "a Cargo target or build directory (a directory with Cargo's CACHEDIR.TAG and \
                 .rustc_info.json or build fingerprints)"
            }
            Need::LockDir => {
                "a Cargo target or build directory (a directory with Cargo's CACHEDIR.TAG, such \
                 as `target`)"
            }
            Need::SearchRoot => "a directory to search for target dirs",
            Need::Workspace => "a workspace root (a directory with Cargo.toml and Cargo.lock)",
            Need::Lockfile => "a Cargo.lock file",
        }
    }
}

/// Whether an error from looking up a path means it is not there (a component that is a
/// file, `a/file/b`, counts too).
pub fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// `path` without its `.` components and trailing slashes (`/w/./p1/` is `/w/p1`), lexically:
/// `..` stays, since `a/link/..` is not `a` when `link` is a symlink. A trailing slash is no
/// mere spelling either: `link/` follows the symlink, `link` does not, and a target dir to
/// clean is looked at without following one.
pub fn clean(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Checks `given` (taken from `cwd` when relative) against what the command needs; `arg` names
/// the argument it came from (`PATH`, `--target-dir`, …). Returns the absolute path, without
/// `.` components or trailing slashes ([`clean`]).
pub fn check(cwd: &Path, given: &Path, need: Need, arg: &str) -> Result<PathBuf, BadInput> {
    let p = clean(&cwd.join(given));
    let shown = p.display();
    let form = need.form();
    let bad = |what: String| Err(BadInput(format!("`{shown}` {what}: {arg} must be {form}")));
    // Only a target dir to clean is looked at without following a symlink.
    let meta = if need == Need::TargetDir {
        p.symlink_metadata()
    } else {
        p.metadata()
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) if is_missing(&e) => return bad("does not exist".into()),
        // Not allowed to look: the lock doctor reports such a directory itself ("could not
        // look for lock files … they may be held"); anything else cannot use it.
        Err(_) if need == Need::LockDir => return Ok(p),
        Err(e) => return bad(format!("cannot be read ({e})")),
    };
    let is_dir = meta.is_dir();
    // A directory this user may not look into: the lock doctor reports it itself (its locks
    // "may be held"); nothing else can use it.
    if is_dir
        && need != Need::Lockfile
        && let Err(e) = std::fs::read_dir(&p).and_then(|_| {
            std::fs::symlink_metadata(p.join("CACHEDIR.TAG"))
                .map(drop)
                .or_else(|e| if is_missing(&e) { Ok(()) } else { Err(e) })
        })
    {
        return match need {
            Need::LockDir => Ok(p),
            _ => bad(format!("cannot be read ({e})")),
        };
    }
    match need {
        Need::Lockfile if is_dir => Err(BadInput(format!(
            "`{shown}` is a directory: {arg} must be {form} (for a workspace, pass --workspace \
             {shown})"
        ))),
        Need::Lockfile => Ok(p),
        _ if meta.file_type().is_symlink() => bad(
            "is a symlink, and target directories to clean are never followed (pass the \
             directory it points to)"
                .into(),
        ),
        _ if !is_dir => bad("is not a directory".into()),
        Need::TargetDir if !target::is_target_dir(&p) => Err(BadInput(format!(
            "`{shown}` is not a Cargo target directory: {arg} must be {form}; use --recursive \
             to search below it"
        ))),
        Need::LockDir if !target::has_cargo_tag(&p) => {
            bad("has no CACHEDIR.TAG with Cargo's signature".into())
        }
        Need::Workspace if !p.join("Cargo.toml").is_file() => bad("has no Cargo.toml".into()),
        _ => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_need_names_the_path_the_argument_and_the_form() {
        if crate::sys::fs::skip_without_symlinks() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let cwd = t.path();
        let file = cwd.join("notes.txt");
        std::fs::write(&file, "x").unwrap();
        let dir = cwd.join("plain");
        std::fs::create_dir(&dir).unwrap();
        let target = cwd.join("target");
        std::fs::create_dir_all(target.join("debug/.fingerprint")).unwrap();
        std::fs::write(
            target.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55\n",
        )
        .unwrap();
        crate::sys::fs::symlink(&target, cwd.join("link")).unwrap();

        let err =
            |given: &str, need, arg| check(cwd, Path::new(given), need, arg).expect_err(given).0;
        for need in [
            Need::TargetDir,
            Need::LockDir,
            Need::SearchRoot,
            Need::Workspace,
            Need::Lockfile,
        ] {
            let e = err("nope", need, "PATH");
            assert!(
                e.starts_with(&format!(
                    "`{}` does not exist: PATH must be ",
                    cwd.join("nope").display()
                )),
                "{e}"
            );
            assert!(e.contains(need.form()), "{e}");
            // A component that is a file: not there either.
            assert!(err("notes.txt/x", need, "PATH").contains("does not exist"));
        }
        for need in [
            Need::TargetDir,
            Need::LockDir,
            Need::SearchRoot,
            Need::Workspace,
        ] {
            let e = err("notes.txt", need, "--x");
            assert!(e.contains("is not a directory: --x must be"), "{e}");
        }
        assert!(err("plain", Need::TargetDir, "PATH").contains("is not a Cargo target directory"));
        assert!(err("plain", Need::LockDir, "PATH").contains("has no CACHEDIR.TAG"));
        assert!(err("plain", Need::Workspace, "--workspace").contains("has no Cargo.toml"));
        assert!(err("plain", Need::Lockfile, "--lockfile").contains("is a directory"));
        assert!(err("link", Need::TargetDir, "PATH").contains("is a symlink"));
        // `link/` would follow it: cleaned to `link`, it is refused all the same.
        assert!(err("link/", Need::TargetDir, "PATH").contains("is a symlink"));
        assert!(err("./link/.", Need::TargetDir, "PATH").contains("is a symlink"));
        // `.` components and trailing slashes go; `..` stays (lexical, never through a link).
        assert_eq!(
            check(cwd, Path::new("./target/."), Need::TargetDir, "PATH").unwrap(),
            target
        );
        assert_eq!(
            check(cwd, Path::new("plain/../target/"), Need::LockDir, "PATH").unwrap(),
            cwd.join("plain/../target")
        );

        assert_eq!(
            check(cwd, Path::new("target"), Need::TargetDir, "PATH").unwrap(),
            target
        );
        assert_eq!(
            check(cwd, Path::new("target"), Need::LockDir, "PATH").unwrap(),
            target
        );
        // Only probed for locks: a symlinked target dir is fine.
        assert!(check(cwd, Path::new("link"), Need::LockDir, "PATH").is_ok());
        assert!(check(cwd, Path::new("plain"), Need::SearchRoot, "PATH").is_ok());
        assert!(check(cwd, Path::new("link"), Need::SearchRoot, "PATH").is_ok());
        assert!(check(cwd, Path::new("notes.txt"), Need::Lockfile, "--lockfile").is_ok());
        assert!(check(cwd, Path::new("/dev/null"), Need::Lockfile, "--lockfile").is_ok());
    }
}
