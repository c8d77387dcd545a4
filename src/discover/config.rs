//! The cargo config values this tool needs, read from the same files Cargo reads, without
//! running cargo (running cargo would take the package-cache lock we are trying to explain).
//!
//! Files, highest priority first: `.cargo/config.toml` (or `.cargo/config`) in the current
//! directory and each of its ancestors, then `$CARGO_HOME/config.toml`. Environment variables
//! `CARGO_<KEY>` override files, as in Cargo. Only string values are looked up.
//!
//! **Wrong types are errors, as in Cargo.** Every key this tool reads ([`KEYS`]) is checked
//! when a file is loaded: a value of the wrong type (`max-src-age = 5`, `build = "x"`) is bad
//! input (exit 2) in Cargo's words, naming the file, the key and the type expected:
//! ``error in /p/.cargo/config.toml: `cache.global-clean.max-src-age` expected a string like
//! "1 month", but found an integer``. A value of the right type that does not parse (a
//! duration Cargo would refuse) is reported by its reader the same way ([`CargoConfig::invalid`]),
//! naming the file or the environment variable it came from.

use std::path::{Path, PathBuf};

use anyhow::Result;
use toml::{Table, Value};

use super::CargoHome;
use crate::exit::BadInput;

/// What a key must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Table,
    /// A string; the words say what kind (for the message).
    Str(&'static str),
    /// One of these strings.
    OneOf(&'static [&'static str]),
}

const DURATION: Kind = Kind::Str("a string like \"1 month\"");
const STRING: Kind = Kind::Str("a string");
const PROTOCOL: Kind = Kind::OneOf(&["sparse", "git"]);

/// Every key this tool reads, with the type Cargo gives it (`*`: any name), parents first.
const KEYS: &[(&[&str], Kind)] = &[
    (&["cache"], Kind::Table),
    (
        &["cache", "auto-clean-frequency"],
        Kind::Str("a string like \"1 day\", \"always\" or \"never\""),
    ),
    (&["cache", "global-clean"], Kind::Table),
    (&["cache", "global-clean", "max-src-age"], DURATION),
    (&["cache", "global-clean", "max-crate-age"], DURATION),
    (&["cache", "global-clean", "max-index-age"], DURATION),
    (&["cache", "global-clean", "max-git-co-age"], DURATION),
    (&["cache", "global-clean", "max-git-db-age"], DURATION),
    (&["build"], Kind::Table),
    (&["build", "target-dir"], STRING),
    (&["build", "build-dir"], STRING),
    (&["registry"], Kind::Table),
    (&["registry", "index"], STRING),
    (&["registries"], Kind::Table),
    (&["registries", "*"], Kind::Table),
    (&["registries", "*", "index"], STRING),
    (&["registries", "crates-io", "protocol"], PROTOCOL),
    (&["source"], Kind::Table),
    (&["source", "*"], Kind::Table),
    (&["source", "*", "registry"], STRING),
    (&["source", "*", "replace-with"], STRING),
];

/// `"a" or "b"`.
fn one_of(ok: &[&str]) -> String {
    let quoted: Vec<String> = ok.iter().map(|s| format!("\"{s}\"")).collect();
    quoted.join(" or ")
}

/// A TOML value's type in Cargo's words ("an integer").
fn found(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Checks the keys this tool reads in one file's table, naming the file in the error.
fn check_types(file: &Path, table: &Table) -> Result<(), BadInput> {
    /// The values at `pattern` (with `*` expanded), with their dotted keys. A parent that is
    /// not a table yields nothing here: its own entry reports it.
    fn matches<'a>(
        t: &'a Table,
        pattern: &[&str],
        key: String,
        out: &mut Vec<(String, &'a Value)>,
    ) {
        let Some((first, rest)) = pattern.split_first() else {
            return;
        };
        let join = |k: &str| {
            if key.is_empty() {
                k.to_owned()
            } else {
                format!("{key}.{k}")
            }
        };
        let hits: Vec<(&String, &Value)> = if *first == "*" {
            t.iter().collect()
        } else {
            t.get_key_value(*first).into_iter().collect()
        };
        for (k, v) in hits {
            if rest.is_empty() {
                out.push((join(k), v));
            } else if let Value::Table(sub) = v {
                matches(sub, rest, join(k), out);
            }
        }
    }
    for (pattern, kind) in KEYS {
        let mut hits = Vec::new();
        matches(table, pattern, String::new(), &mut hits);
        for (key, v) in hits {
            let expected = match (kind, v) {
                (Kind::Table, Value::Table(_)) | (Kind::Str(_), Value::String(_)) => continue,
                (Kind::OneOf(ok), Value::String(s)) if ok.contains(&s.as_str()) => continue,
                (Kind::Table, _) => "a table".to_owned(),
                (Kind::Str(words), _) => (*words).to_owned(),
                (Kind::OneOf(ok), _) => one_of(ok),
            };
            // A string of the wrong value is quoted; any other value is named by its type.
            let found = match (kind, v) {
                (Kind::OneOf(_), Value::String(s)) => format!("\"{s}\""),
                (_, v) => found(v).to_owned(),
            };
            return Err(BadInput(format!(
                "error in {}: `{key}` expected {expected}, but found {found}",
                file.display(),
            )));
        }
    }
    Ok(())
}

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
    pub fn load(cwd: &Path, home: &CargoHome) -> Result<CargoConfig, BadInput> {
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
            let text = std::fs::read_to_string(&file).map_err(|e| {
                BadInput(format!(
                    "cannot read cargo config `{}`: {e}",
                    file.display()
                ))
            })?;
            let table: Table = toml::from_str(&text).map_err(|e| {
                BadInput(format!(
                    "cannot parse cargo config `{}`: {}",
                    file.display(),
                    e.to_string().trim_end()
                ))
            })?;
            check_types(&file, &table)?;
            cfg.layers.push((file.clone(), table.clone()));
            merge_lower(&mut cfg.merged, table);
            cfg.files.push(file);
        }
        // Values from the environment are strings; those that must be one of a few are
        // checked here too.
        for (pattern, kind) in KEYS {
            if let (Kind::OneOf(ok), false) = (kind, pattern.contains(&"*"))
                && let Ok(v) = std::env::var(env_name(pattern))
                && !ok.contains(&v.as_str())
            {
                return Err(BadInput(cfg.invalid(pattern, &one_of(ok), &v)));
            }
        }
        Ok(cfg)
    }

    /// Where the value at `path` comes from, as Cargo names it: the environment variable, or
    /// the file that defines it.
    pub fn definition(&self, path: &[&str]) -> String {
        let env = env_name(path);
        if std::env::var_os(&env).is_some() {
            return format!("environment variable `{env}`");
        }
        self.defining_file(path)
            .map_or_else(|| "cargo config".into(), |f| f.display().to_string())
    }

    /// Bad input for a value at `path` that does not parse, in Cargo's words: "error in
    /// <file or variable>: `<key>` expected <expected>, but found \"<value>\"".
    pub fn invalid(&self, path: &[&str], expected: &str, value: &str) -> String {
        format!(
            "error in {}: `{}` expected {expected}, but found \"{value}\"",
            self.definition(path),
            path.join(".")
        )
    }

    /// The highest-priority file that defines `path`.
    fn defining_file(&self, path: &[&str]) -> Option<&Path> {
        self.layers.iter().find_map(|(file, table)| {
            let mut cur = Some(table);
            for key in &path[..path.len() - 1] {
                cur = cur.and_then(|t| t.get(*key)).and_then(|v| v.as_table());
            }
            cur.is_some_and(|t| t.contains_key(path[path.len() - 1]))
                .then_some(file.as_path())
        })
    }

    #[cfg(test)]
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
        if let Ok(v) = std::env::var(env_name(path)) {
            return Some(v);
        }
        self.get_file_str(path)
    }

    /// The directory a relative path value of `path` is taken from, as in Cargo: the
    /// directory holding the defining config file's `.cargo/` directory (for
    /// `$CARGO_HOME/config.toml`, the home's parent), or `cwd` for an environment variable.
    pub fn base_dir(&self, path: &[&str], cwd: &Path) -> PathBuf {
        if std::env::var_os(env_name(path)).is_some() {
            return cwd.to_owned();
        }
        match self.defining_file(path) {
            Some(file) => file
                .parent()
                .and_then(Path::parent)
                .unwrap_or(cwd)
                .to_owned(),
            None => cwd.to_owned(),
        }
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

/// The environment variable Cargo reads for a key: `CARGO_CACHE_AUTO_CLEAN_FREQUENCY`.
fn env_name(path: &[&str]) -> String {
    format!(
        "CARGO_{}",
        path.join("_").to_ascii_uppercase().replace(['-', '.'], "_")
    )
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
    fn wrong_types_name_the_file_the_key_and_the_type_expected() {
        let t = tempfile::tempdir().unwrap();
        let proj = t.path().join("proj");
        std::fs::create_dir_all(proj.join(".cargo")).unwrap();
        let home = crate::discover::CargoHome {
            path: t.path().join("no-home"),
            origin: crate::discover::cargo_home::Origin::Flag,
        };
        let file = proj.join(".cargo").join("config.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            CargoConfig::load(&proj, &home).map(|_| ()).map_err(|e| e.0)
        };
        let at =
            |key: &str, rest: &str| format!("error in {}: `{key}` expected {rest}", file.display());
        for (text, key, rest) in [
            (
                "[cache.global-clean]\nmax-src-age = 5",
                "cache.global-clean.max-src-age",
                "a string like \"1 month\", but found an integer",
            ),
            (
                "[cache]\nauto-clean-frequency = 1.5",
                "cache.auto-clean-frequency",
                "a string like \"1 day\", \"always\" or \"never\", but found a float",
            ),
            ("cache = \"x\"", "cache", "a table, but found a string"),
            (
                "[cache]\nglobal-clean = []",
                "cache.global-clean",
                "a table, but found an array",
            ),
            (
                "[build]\ntarget-dir = true",
                "build.target-dir",
                "a string, but found a boolean",
            ),
            (
                "[build]\nbuild-dir = 1",
                "build.build-dir",
                "a string, but found an integer",
            ),
            (
                "registries = 1",
                "registries",
                "a table, but found an integer",
            ),
            (
                "[registries]\nmine = 1",
                "registries.mine",
                "a table, but found an integer",
            ),
            (
                "[registries.mine]\nindex = 1",
                "registries.mine.index",
                "a string, but found an integer",
            ),
            (
                "[registries.crates-io]\nprotocol = \"ftp\"",
                "registries.crates-io.protocol",
                "\"sparse\" or \"git\", but found \"ftp\"",
            ),
            (
                "[registry]\nindex = {}",
                "registry.index",
                "a string, but found a table",
            ),
            (
                "[source.m]\nregistry = 1",
                "source.m.registry",
                "a string, but found an integer",
            ),
            (
                "[source.crates-io]\nreplace-with = 1",
                "source.crates-io.replace-with",
                "a string, but found an integer",
            ),
        ] {
            assert_eq!(load(text), Err(at(key, rest)), "{text}");
        }
        // Keys this tool does not read are Cargo's business.
        assert_eq!(
            load("[net]\noffline = \"yes\"\n[build]\njobs = \"x\""),
            Ok(())
        );
        assert_eq!(
            load(
                "[cache.global-clean]\nmax-src-age = \"2 days\"\n[registries.crates-io]\nprotocol = \"git\""
            ),
            Ok(())
        );
        // A value that does not parse names where it is defined.
        std::fs::write(&file, "[cache.global-clean]\nmax-src-age = \"5\"").unwrap();
        let cfg = CargoConfig::load(&proj, &home).unwrap();
        if std::env::var_os("CARGO_CACHE_GLOBAL_CLEAN_MAX_SRC_AGE").is_none() {
            let err = crate::plan::policy::Policy::from_config(&cfg).unwrap_err();
            assert_eq!(
                err,
                at(
                    "cache.global-clean.max-src-age",
                    &format!("{}, but found \"5\"", crate::quantity::CONFIG_DURATION)
                )
            );
        }
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
