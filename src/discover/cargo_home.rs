//! Resolving and validating `CARGO_HOME`, the way Cargo does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

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
    /// `--cargo-home`, else `CARGO_HOME`, else `~/.cargo` (relative paths are taken from the
    /// current directory, as Cargo does).
    pub fn locate(flag: Option<&Path>) -> Result<CargoHome> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let (path, origin) = if let Some(p) = flag {
            (p.to_path_buf(), Origin::Flag)
        } else if let Some(p) = std::env::var_os("CARGO_HOME").filter(|v| !v.is_empty()) {
            (PathBuf::from(p), Origin::Env)
        } else {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .context(
                    "cannot find CARGO_HOME: neither --cargo-home, CARGO_HOME nor HOME is set",
                )?;
            (home.join(".cargo"), Origin::Default)
        };
        Ok(CargoHome {
            path: cwd.join(path),
            origin,
        })
    }

    /// Like [`CargoHome::locate`], and the directory must exist and look like a Cargo home.
    pub fn resolve(flag: Option<&Path>) -> Result<CargoHome> {
        let home = Self::locate(flag)?;
        home.validate()?;
        Ok(home)
    }

    pub fn validate(&self) -> Result<()> {
        let p = &self.path;
        let from = self.origin.describe();
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "Cargo home `{}` (from {from}) does not exist\n\
                     help: pass the directory Cargo uses, e.g. --cargo-home ~/.cargo, or set CARGO_HOME",
                    p.display()
                )
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read Cargo home `{}`", p.display()));
            }
        };
        if !meta.is_dir() {
            bail!(
                "Cargo home `{}` (from {from}) is not a directory\n\
                 help: pass the directory Cargo uses, e.g. --cargo-home ~/.cargo",
                p.display()
            );
        }
        if !MARKERS.iter().any(|m| p.join(m).symlink_metadata().is_ok()) {
            bail!(
                "`{}` (from {from}) does not look like a Cargo home: it has none of registry/, git/, bin/, \
                 .package-cache, .global-cache, config.toml or .crates.toml\n\
                 help: pass the directory Cargo uses, e.g. --cargo-home ~/.cargo",
                p.display()
            );
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
