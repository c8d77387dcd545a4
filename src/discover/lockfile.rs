//! `Cargo.lock`, read directly (no cargo run, no network), versions 1 to 4, and what each
//! pinned package is called in CARGO_HOME.
//!
//! A `source` is `registry+URL` (a git-protocol index, or crates.io whatever protocol it is
//! fetched with), `sparse+URL`, or `git+URL[?query]#COMMIT`; path packages have none. Cargo
//! names the cache directories by hashing the source *it fetches from*, so source replacement
//! (`[source.crates-io] replace-with = …`) and crates.io's protocol
//! (`registries.crates-io.protocol`, sparse by default) are applied first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use url::Url;

use super::CargoConfig;
use super::registry::{self, CRATES_IO_GIT, CRATES_IO_SPARSE, Scheme};

/// One `[[package]]` of a lockfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub name: String,
    pub version: String,
    pub source: Option<String>,
}

/// Reads a `Cargo.lock`. Errors name the file and, where it has one, the line.
pub fn read(path: &Path) -> Result<Vec<Pinned>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read lockfile `{}`: {e}", path.display()))?;
    parse(&text).map_err(|e| anyhow::anyhow!("lockfile `{}`: {e}", path.display()))
}

fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> usize {
    text.lines().position(pred).map_or(0, |i| i + 1)
}

/// Parses lockfile text.
pub fn parse(text: &str) -> Result<Vec<Pinned>> {
    let doc: toml::Table = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => bail!("line {l}: {}", e.message()),
                None => bail!("{}", e.message()),
            }
        }
    };
    if let Some(v) = doc.get("version") {
        let line = line_of(text, |l| l.trim_start().starts_with("version"));
        match v.as_integer() {
            Some(1..=4) => {}
            _ => bail!(
                "line {line}: lockfile version {v} is not one this tool reads (1 to 4); \
                 a newer cargo wrote it"
            ),
        }
    }
    let Some(packages) = doc.get("package") else {
        return Ok(Vec::new());
    };
    let Some(packages) = packages.as_array() else {
        bail!(
            "line {}: `package` must be an array of tables",
            line_of(text, |l| l.contains("package"))
        );
    };
    let mut out = Vec::new();
    let mut headers = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[package]]")
        .map(|(i, _)| i + 1);
    for (n, p) in packages.iter().enumerate() {
        let line = headers.next().unwrap_or(0);
        let field = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(name), Some(version)) = (field("name"), field("version")) else {
            bail!("line {line}: package #{} has no name or no version", n + 1);
        };
        out.push(Pinned {
            name,
            version,
            source: field("source"),
        });
    }
    Ok(out)
}

/// What a set of lockfiles keeps in CARGO_HOME.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepSet {
    /// Registry directory name → `<name>-<version>` pinned from it.
    pub registries: BTreeMap<String, BTreeSet<String>>,
    /// Registry directory name → package names pinned from it (for index pruning).
    pub names: BTreeMap<String, BTreeSet<String>>,
    /// Git database directory name → full commit hashes pinned.
    pub git: BTreeMap<String, BTreeSet<String>>,
    /// Pinned packages with a registry or git source (not path packages).
    pub packages: usize,
}

impl KeepSet {
    /// Whether checkout directory `co` of git db `db` is a pinned commit (its short id).
    pub fn keeps_checkout(&self, db: &str, co: &str) -> bool {
        self.git
            .get(db)
            .is_some_and(|commits| commits.iter().any(|c| co.len() >= 7 && c.starts_with(co)))
    }
}

/// Source replacement: the URL cargo fetches from for a lockfile's registry URL.
fn effective_registry(url: &str, config: &CargoConfig) -> String {
    // The named source whose registry is this URL (crates.io is `crates-io`).
    let canonical = |u: &str| u.trim_end_matches('/').to_owned();
    let mut name = None;
    if canonical(url) == canonical(CRATES_IO_GIT) {
        name = Some("crates-io".to_string());
    } else {
        for n in config.table_names("source") {
            if config
                .get_str(&["source", &n, "registry"])
                .is_some_and(|u| canonical(&u) == canonical(url))
            {
                name = Some(n);
            }
        }
    }
    let mut cur = url.to_owned();
    let mut hops = 0;
    while let Some(n) = name.take() {
        let Some(next) = config.get_str(&["source", &n, "replace-with"]) else {
            break;
        };
        hops += 1;
        if hops > 8 {
            break;
        }
        if let Some(u) = config.get_str(&["source", &next, "registry"]) {
            cur = u;
        }
        name = Some(next);
    }
    if canonical(&cur) == canonical(CRATES_IO_GIT) {
        let proto = config
            .get_str(&["registries", "crates-io", "protocol"])
            .unwrap_or_else(|| "sparse".into());
        return if proto == "git" {
            CRATES_IO_GIT.into()
        } else {
            CRATES_IO_SPARSE.into()
        };
    }
    cur
}

/// The keep set of these lockfiles' packages.
pub fn keep_set(packages: &[Pinned], config: &CargoConfig) -> KeepSet {
    let mut keep = KeepSet::default();
    for p in packages {
        let Some(source) = &p.source else { continue };
        keep.packages += 1;
        if let Some(git) = source.strip_prefix("git+") {
            let (url, commit) = git.split_once('#').unwrap_or((git, ""));
            let url = url.split('?').next().unwrap_or(url);
            let Ok(u) = Url::parse(url) else { continue };
            keep.git
                .entry(registry::git_dir_name(&u, Scheme::Current))
                .or_default()
                .insert(commit.to_owned());
            continue;
        }
        let url = source
            .strip_prefix("registry+")
            .map(str::to_owned)
            .unwrap_or_else(|| source.clone());
        let url = effective_registry(&url, config);
        let Some((kind, u)) = registry::parse_registry_source(&url) else {
            continue;
        };
        let dir = registry::registry_dir_name(kind, &u, Scheme::Current);
        keep.registries
            .entry(dir.clone())
            .or_default()
            .insert(format!("{}-{}", p.name, p.version));
        keep.names
            .entry(dir)
            .or_default()
            .insert(p.name.to_lowercase());
    }
    keep
}

/// The lockfiles of these workspaces (`<dir>/Cargo.lock`).
pub fn of_workspaces(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter().map(|d| d.join("Cargo.lock")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.18"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"

[[package]]
name = "gitdep"
version = "0.1.0"
source = "git+https://github.com/Rust-Lang/CFG-IF.git?branch=main#157c27d1234567890abcdef1234567890abcdef"
"#;

    #[test]
    fn reads_v4_and_maps_sources() {
        let p = parse(V4).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].source, None);
        let keep = keep_set(&p, &CargoConfig::default());
        assert_eq!(keep.packages, 2);
        assert!(keep.registries["index.crates.io-1949cf8c6b5b557f"].contains("itoa-1.0.18"));
        assert!(keep.keeps_checkout("cfg-if-1c9d4c25eca3252c", "157c27d"));
        assert!(!keep.keeps_checkout("cfg-if-1c9d4c25eca3252c", "abcdef0"));
    }

    #[test]
    fn v1_without_version_and_replacement() {
        let v1 = "[[package]]\nname = \"itoa\"\nversion = \"0.4.8\"\n\
                  source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
                  [metadata]\n\"checksum itoa 0.4.8 (registry+https://github.com/rust-lang/crates.io-index)\" = \"x\"\n";
        let p = parse(v1).unwrap();
        let cfg = CargoConfig::from_toml(
            "[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\nregistry = \"sparse+https://my-registry.example/index/\"\n",
        )
        .unwrap();
        let keep = keep_set(&p, &cfg);
        assert!(keep.registries["my-registry.example-3785c38eb2de1d1f"].contains("itoa-0.4.8"));
        let git = CargoConfig::from_toml("[registries.crates-io]\nprotocol = \"git\"\n").unwrap();
        assert!(
            keep_set(&p, &git)
                .registries
                .contains_key("github.com-25cdd57fae9f0462")
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("version = 9\n[[package]]\nname = \"a\"\nversion = \"1\"\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(e.to_string().contains("version 9"), "{e}");
        let e = parse("version = 3\n\n[[package]]\nname = \"a\"\nversion = 1.0\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse("version = 3\n[[package]\nname = \"a\"\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
