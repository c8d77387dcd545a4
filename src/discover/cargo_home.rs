//! Resolving and validating `CARGO_HOME`, the way Cargo does.

use std::path::{Path, PathBuf};

use crate::exit::BadInput;

/// Names that only a Cargo home has at its top level. One of them is enough. (`bin/`, `env`
/// and `config` are left out: a home directory often has those too.)
const MARKERS: &[&str] = &[
    "registry",
    "git",
    ".package-cache",
    ".package-cache-mutate",
    ".global-cache",
    "config.toml",
    ".crates.toml",
    ".crates2.json",
    "credentials.toml",
];

/// A resolved Cargo home directory.
#[derive(Clone, Debug)]
pub struct CargoHome {
    /// Absolute path, as given (not canonicalized, so messages show what the user typed).
    pub path: PathBuf,
    /// Where the path came from, for messages.
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    Default,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Flag => "--cargo-home",
            Origin::Env => "CARGO_HOME",
            Origin::Default => "the default ~/.cargo",
        }
    }
}

impl CargoHome {
    /// `--cargo-home`, else `CARGO_HOME`, else `~/.cargo`, as Cargo finds it (relative paths
    /// are taken from the current directory; the home directory is `HOME`, else the user
    /// database's, as in Cargo). Nothing is checked on disk. With no home directory at all,
    /// the one "cannot find the Cargo home" error, for every command.
    pub fn locate(flag: Option<&Path>) -> Result<CargoHome, BadInput> {
        let cwd = std::env::current_dir().map_err(|e| {
            BadInput(format!(
                "cannot find the Cargo home: cannot read the current directory: {e}"
            ))
        })?;
        let (path, origin) = if let Some(p) = flag {
            (p.to_path_buf(), Origin::Flag)
        } else if let Some(p) = std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
            (PathBuf::from(p), Origin::Env)
        } else {
            let home = std::env::home_dir()
                .filter(|h| !h.as_os_str().is_empty())
                .ok_or_else(|| {
                    BadInput(
                        "cannot find the Cargo home: --cargo-home is not given, CARGO_HOME is \
                         not set, and this user has no home directory (HOME is not set, nor is \
                         one in the user database)\n\
                         help: pass --cargo-home PATH, or set CARGO_HOME"
                            .into(),
                    )
                })?;
            (home.join(".cargo"), Origin::Default)
        };
        Ok(CargoHome {
            path: super::paths::clean(&cwd.join(path)),
            origin,
        })
    }

    /// Like [`CargoHome::locate`], and the directory must exist and look like a Cargo home
    /// (`status`, `gc`, `trim`).
    pub fn resolve(flag: Option<&Path>) -> Result<CargoHome, BadInput> {
        let home = Self::locate(flag)?;
        home.validate()?;
        Ok(home)
    }

    /// Like [`CargoHome::locate`], for the commands that only look for lock files and config
    /// there (`locks`, `wait`, `sweep`): a home that was named (`--cargo-home`, `CARGO_HOME`)
    /// must be an existing directory, so that a typo is not reported as "no lock held"; the
    /// default `~/.cargo` may be missing (nothing of Cargo's is there yet).
    pub fn locate_existing(flag: Option<&Path>) -> Result<CargoHome, BadInput> {
        let home = Self::locate(flag)?;
        if home.origin != Origin::Default {
            home.check_dir()?;
        }
        Ok(home)
    }

    /// That the home exists and is a directory.
    fn check_dir(&self) -> Result<(), BadInput> {
        let p = &self.path;
        let from = self.origin.describe();
        let help =
            "help: pass the directory Cargo uses, e.g. --cargo-home ~/.cargo, or set CARGO_HOME";
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(BadInput(format!(
                "Cargo home `{}` (from {from}) is not a directory\n{help}",
                p.display()
            ))),
            Err(e) if super::paths::is_missing(&e) => Err(BadInput(format!(
                "Cargo home `{}` (from {from}) does not exist\n{help}",
                p.display()
            ))),
            Err(e) => Err(BadInput(format!(
                "cannot read Cargo home `{}` (from {from}): {e}",
                p.display()
            ))),
        }
    }

    /// That the home exists, is a directory and has something only a Cargo home has.
    pub fn validate(&self) -> Result<(), BadInput> {
        self.check_dir()?;
        let p = &self.path;
        let from = self.origin.describe();
        if !MARKERS.iter().any(|m| p.join(m).symlink_metadata().is_ok()) {
            return Err(BadInput(format!(
                "`{}` (from {from}) does not look like a Cargo home: it has none of registry/, git/, \
                 .package-cache, .global-cache, config.toml or .crates.toml\n\
                 help: pass the directory Cargo uses, e.g. --cargo-home ~/.cargo",
                p.display()
            )));
        }
        Ok(())
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    pub fn db_path(&self) -> PathBuf {
        self.join(".global-cache")
    }

    /// Whether Cargo has cached anything here that its GC manages.
    pub fn has_caches(&self) -> bool {
        ["registry", "git", ".global-cache"]
            .iter()
            .any(|m| self.join(m).symlink_metadata().is_ok())
    }
}
