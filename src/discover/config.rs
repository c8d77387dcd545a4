//! The cargo config values this tool needs, read from the same files Cargo reads, without
//! running cargo (running cargo would take the package-cache lock we are trying to explain).
//!
//! Files, highest priority first: `.cargo/config.toml` (or `.cargo/config`) in the current
//! directory and each of its ancestors, then `$CARGO_HOME/config.toml`. Environment variables
//! `CARGO_<KEY>` override files, as in Cargo. Only string values are looked up.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use toml::{Table, Value};

use super::CargoHome;

#[derive(Clone, Debug, Default)]
pub struct CargoConfig {
    /// Merged view, highest priority wins.
    merged: Table,
    /// The files read, highest priority first.
    pub files: Vec<PathBuf>,
    /// Each file's own table, highest priority first (for paths relative to their file).
    layers: Vec<(PathBuf, Table)>,
}

impl CargoConfig {
    /// Reads the config that applies in `cwd` with this Cargo home. A file that cannot be
    /// parsed is an error naming the file: Cargo would refuse it too.
    pub fn load(cwd: &Path, home: &CargoHome) -> Result<CargoConfig> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        for dir in cwd.ancestors() {
            candidates.push(dir.join(".cargo"));
        }
        candidates.push(home.path.clone());
        let mut seen = std::collections::HashSet::new();
        let mut cfg = CargoConfig::default();
        for dir in candidates {
            let canon = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            if !seen.insert(canon) {
                continue;
            }
            // Cargo prefers `config.toml` and falls back to the extension-less `config`.
            let file = ["config.toml", "config"]
                .iter()
                .map(|n| dir.join(n))
                .find(|f| f.is_file());
            let Some(file) = file else { continue };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read cargo config `{}`", file.display()))?;
            let table: Table = toml::from_str(&text)
                .with_context(|| format!("cannot parse cargo config `{}`", file.display()))?;
            cfg.layers.push((file.clone(), table.clone()));
            merge_lower(&mut cfg.merged, table);
            cfg.files.push(file);
        }
        Ok(cfg)
    }

    /// A config built from TOML text, for tests.
    pub fn from_toml(text: &str) -> Result<CargoConfig> {
        Ok(CargoConfig {
            merged: toml::from_str(text)?,
            files: Vec::new(),
            layers: Vec::new(),
        })
    }

    /// A string value at `path` (e.g. `["cache", "auto-clean-frequency"]`): the environment
    /// variable `CARGO_CACHE_AUTO_CLEAN_FREQUENCY` first, then the files.
    pub fn get_str(&self, path: &[&str]) -> Option<String> {
        let env = format!(
            "CARGO_{}",
            path.join("_").to_ascii_uppercase().replace(['-', '.'], "_")
        );
        if let Ok(v) = std::env::var(&env) {
            return Some(v);
        }
        self.get_file_str(path)
    }

    /// The directory a relative path value of `path` is taken from, as in Cargo: the
    /// directory holding the defining config file's `.cargo/` directory (for
    /// `$CARGO_HOME/config.toml`, the home's parent), or `cwd` for an environment variable.
    pub fn base_dir(&self, path: &[&str], cwd: &Path) -> PathBuf {
        let env = format!(
            "CARGO_{}",
            path.join("_").to_ascii_uppercase().replace(['-', '.'], "_")
        );
        if std::env::var_os(&env).is_some() {
            return cwd.to_owned();
        }
        for (file, table) in &self.layers {
            let mut cur = Some(table);
            for key in &path[..path.len() - 1] {
                cur = cur.and_then(|t| t.get(*key)).and_then(|v| v.as_table());
            }
            if cur.is_some_and(|t| t.contains_key(path[path.len() - 1])) {
                return file
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(cwd)
                    .to_owned();
            }
        }
        cwd.to_owned()
    }

    /// A path value, resolved from [`CargoConfig::base_dir`].
    pub fn get_path(&self, path: &[&str], cwd: &Path) -> Option<PathBuf> {
        self.get_str(path).map(|v| self.base_dir(path, cwd).join(v))
    }

    fn get_file_str(&self, path: &[&str]) -> Option<String> {
        let mut cur = &self.merged;
        for (i, key) in path.iter().enumerate() {
            let v = cur.get(*key)?;
            if i + 1 == path.len() {
                return v.as_str().map(str::to_owned);
            }
            cur = v.as_table()?;
        }
        None
    }

    /// A boolean value at `path` in the files only (not the environment, which may be
    /// another process's), with the file that sets it (the highest-priority one).
    pub fn file_bool(&self, path: &[&str]) -> Option<(bool, PathBuf)> {
        self.layers.iter().find_map(|(file, table)| {
            let (last, dirs) = path.split_last()?;
            let mut cur = table;
            for key in dirs {
                cur = cur.get(*key)?.as_table()?;
            }
            Some((cur.get(*last)?.as_bool()?, file.clone()))
        })
    }

    /// Names of the sub-tables of `key` (e.g. the registries in `[registries.*]`).
    pub fn table_names(&self, key: &str) -> Vec<String> {
        self.merged
            .get(key)
            .and_then(Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every registry index URL the config names: `[registries.*].index`, `registry.index`,
    /// and `[source.*].registry`, plus `CARGO_REGISTRIES_<NAME>_INDEX` variables.
    pub fn registry_urls(&self) -> Vec<String> {
        let mut urls = Vec::new();
        for name in self.table_names("registries") {
            if let Some(u) = self.get_str(&["registries", &name, "index"]) {
                urls.push(u);
            }
        }
        if let Some(u) = self.get_str(&["registry", "index"]) {
            urls.push(u);
        }
        for name in self.table_names("source") {
            if let Some(u) = self.get_file_str(&["source", &name, "registry"]) {
                urls.push(u);
            }
        }
        for (k, v) in std::env::vars() {
            if k.starts_with("CARGO_REGISTRIES_") && k.ends_with("_INDEX") {
                urls.push(v);
            }
        }
        urls.sort();
        urls.dedup();
        urls
    }
}

/// Merges `lower` into `acc`, where `acc` already holds higher-priority values.
fn merge_lower(acc: &mut Table, lower: Table) {
    for (k, v) in lower {
        match (acc.get_mut(&k), v) {
            (Some(Value::Table(hi)), Value::Table(lo)) => merge_lower(hi, lo),
            (Some(_), _) => {}
            (None, v) => {
                acc.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_wins_and_tables_merge() {
        let mut acc: Table = toml::from_str("[cache]\nauto-clean-frequency = \"never\"").unwrap();
        let lower: Table = toml::from_str(
            "[cache]\nauto-clean-frequency = \"1 day\"\n[cache.global-clean]\nmax-src-age = \"2 days\"",
        )
        .unwrap();
        merge_lower(&mut acc, lower);
        let cfg = CargoConfig {
            merged: acc,
            files: vec![],
            layers: vec![],
        };
        assert_eq!(
            cfg.get_file_str(&["cache", "auto-clean-frequency"])
                .as_deref(),
            Some("never")
        );
        assert_eq!(
            cfg.get_file_str(&["cache", "global-clean", "max-src-age"])
                .as_deref(),
            Some("2 days")
        );
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_files_place() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let proj = src.join("proj");
        std::fs::create_dir_all(src.join(".cargo")).unwrap();
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(
            src.join(".cargo/config.toml"),
            "[build]\ntarget-dir = \"shared-target\"\n",
        )
        .unwrap();
        let home = crate::discover::CargoHome {
            path: t.path().join("no-home"),
            origin: crate::discover::cargo_home::Origin::Flag,
        };
        let cfg = CargoConfig::load(&proj, &home).unwrap();
        // The variable, when the developer's environment sets it, wins and is taken from
        // the current directory.
        let expected = match std::env::var_os("CARGO_BUILD_TARGET_DIR") {
            None => src.join("shared-target"),
            Some(v) => proj.join(v),
        };
        assert_eq!(
            cfg.get_path(&["build", "target-dir"], &proj),
            Some(expected)
        );
    }

    #[test]
    fn registry_urls_from_tables() {
        let cfg = CargoConfig::from_toml(
            "[registries.my]\nindex = \"sparse+https://my.example/index/\"\n\
             [source.mirror]\nregistry = \"https://mirror.example/git-index\"\n\
             [source.crates-io]\nreplace-with = \"mirror\"",
        )
        .unwrap();
        let urls = cfg.registry_urls();
        assert!(urls.contains(&"sparse+https://my.example/index/".to_string()));
        assert!(urls.contains(&"https://mirror.example/git-index".to_string()));
    }
}
