//! `Cargo.lock`, read directly (no cargo run, no network), versions 1 to 4, and what each
//! pinned package is called in CARGO_HOME.
//!
//! A `source` is `registry+URL` (a git-protocol index, or crates.io whatever protocol it is
//! fetched with), `sparse+URL`, or `git+URL[?query]#COMMIT`; path packages have none. Cargo
//! names the cache directories by hashing the source *it fetches from*, so source replacement
//! (`[source.crates-io] replace-with = …`) and crates.io's protocol
//! (`registries.crates-io.protocol`, sparse by default) are applied first, with the config
//! that applies to the lockfile's workspace.
//!
//! A lockfile is refused (nothing is removed) unless it is whole: it lists at least one
//! package (every lockfile lists the workspace's own), it is not a manifest, and every
//! `dependencies`/`replace` entry names a package it lists. Entries are `"name"`,
//! `"name version"` or `"name version (source)"`: version 1 always writes the version, later
//! versions only what tells packages of the same name apart (cargo's `resolver/encode.rs`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use anyhow::Result;
use url::Url;

use super::CargoConfig;
use super::registry::{self, CRATES_IO_GIT, CRATES_IO_SPARSE, Scheme};

/// What the tool accepts, for error messages.
pub const ACCEPTED: &str = "a Cargo.lock as cargo writes it (versions 1 to 4)";

/// One `[[package]]` of a lockfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub name: String,
    pub version: String,
    pub source: Option<String>,
}

impl Pinned {
    /// A path package: no source (or a `path+` one).
    pub fn is_path(&self) -> bool {
        self.source
            .as_deref()
            .is_none_or(|s| s.starts_with("path+"))
    }
}

/// Why a text is not a usable lockfile.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    /// A `Cargo.toml` (package or virtual manifest).
    Manifest,
    /// Anything else: what is wrong, with its line where it has one.
    Bad(String),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Manifest => write!(f, "is a manifest, not a Cargo.lock"),
            Malformed::Bad(m) => write!(f, "{m}"),
        }
    }
}

/// How many times a lockfile that does not parse is read again while it keeps changing.
const REREADS: usize = 10;
/// The pause before reading a lockfile that did not parse again (doubled for each read that
/// agreed with the one before, so a writer paused by a busy machine is waited for longer).
const REREAD_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
/// How many reads in a row must agree with the first bad one before it is refused.
const AGREEING: u32 = 2;

/// Reads a `Cargo.lock`. Errors name the file, what is wrong (with the line, where it has
/// one) and the accepted form.
pub fn read(path: &Path) -> Result<Vec<Pinned>> {
    if path.is_dir() {
        anyhow::bail!(
            "`{}` is a directory, not a Cargo.lock; pass a workspace with --workspace",
            path.display()
        );
    }
    let read_text = || {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read lockfile `{}`: {e}", path.display()))
    };
    // Cargo rewrites a `Cargo.lock` in place (truncate, then write), so a read beside a build
    // can see it empty or cut short. A text that does not parse is read again after a pause,
    // and refused only once three reads in a row, 50 then 100 ms apart, agree (or after
    // `REREADS`).
    // The modification time is part of what must agree: a file rewritten to the same bad text
    // is still being written.
    let read_stamped = || -> Result<(String, Option<std::time::SystemTime>)> {
        let text = read_text()?;
        Ok((
            text,
            std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        ))
    };
    let mut seen = read_stamped()?;
    let mut result = parse(&seen.0);
    let mut agreed = 0;
    for _ in 0..REREADS {
        if !matches!(result, Err(Malformed::Bad(_))) {
            break;
        }
        std::thread::sleep(REREAD_PAUSE * (1 << agreed));
        let again = read_stamped()?;
        if again == seen {
            agreed += 1;
            if agreed == AGREEING {
                break;
            }
            continue;
        }
        agreed = 0;
        seen = again;
        result = parse(&seen.0);
    }
    result.map_err(|e| match e {
        Malformed::Manifest => anyhow::anyhow!(
            "`{}` is a manifest, not a Cargo.lock; pass the workspace with --workspace \
             (or its Cargo.lock with --lockfile)",
            path.display()
        ),
        Malformed::Bad(m) => {
            anyhow::anyhow!("lockfile `{}`: {m}; expected {ACCEPTED}", path.display())
        }
    })
}

fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> usize {
    text.lines().position(pred).map_or(0, |i| i + 1)
}

macro_rules! bad {
    ($($t:tt)*) => { return Err(Malformed::Bad(format!($($t)*))) };
}

/// Top-level keys only a manifest has (a lockfile has `version`, `package`, `root`,
/// `metadata` and `patch`).
const MANIFEST_KEYS: &[&str] = &[
    "workspace",
    "project",
    "lib",
    "bin",
    "example",
    "test",
    "bench",
    "dependencies",
    "dev-dependencies",
    "build-dependencies",
    "target",
    "features",
    "profile",
    "badges",
    "lints",
];

/// Parses lockfile text.
pub fn parse(text: &str) -> Result<Vec<Pinned>, Malformed> {
    let doc: toml::Table = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => bad!("line {l}: {}", e.message()),
                None => bad!("{}", e.message()),
            }
        }
    };
    if doc.get("package").is_some_and(toml::Value::is_table)
        || MANIFEST_KEYS.iter().any(|k| doc.contains_key(*k))
    {
        return Err(Malformed::Manifest);
    }
    if let Some(v) = doc.get("version") {
        let line = line_of(text, |l| l.trim_start().starts_with("version"));
        match v.as_integer() {
            Some(1..=4) => {}
            _ => bad!(
                "line {line}: lockfile version {v} is not one this tool reads (1 to 4); \
                 a newer cargo wrote it"
            ),
        }
    }
    let packages = match doc.get("package") {
        None => &Vec::new(),
        Some(toml::Value::Array(a)) => a,
        Some(_) => bad!(
            "line {}: `package` must be an array of tables",
            line_of(text, |l| l.contains("package"))
        ),
    };
    // Very old lockfiles (version 1) hold the root package in `[root]`.
    let root = doc.get("root");
    if packages.is_empty() && root.is_none() {
        bad!("it lists no packages (no [[package]] table), so it pins nothing");
    }
    let mut headers = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[package]]")
        .map(|(i, _)| i + 1);
    let root_line = line_of(text, |l| l.trim() == "[root]");
    let mut out = Vec::new();
    // The package ids each package refers to: (line, package, relation, id).
    let mut refs: Vec<(usize, String, &str, String)> = Vec::new();
    let entries = root
        .map(|r| (root_line, "[root]".to_string(), r))
        .into_iter()
        .chain(packages.iter().enumerate().map(|(n, p)| {
            (
                headers.next().unwrap_or(0),
                format!("package #{}", n + 1),
                p,
            )
        }));
    for (line, what, p) in entries {
        let Some(p) = p.as_table() else {
            bad!("line {line}: {what} is not a table");
        };
        let field = |k: &str| -> Result<Option<String>, Malformed> {
            match p.get(k) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => bad!("line {line}: `{k}` of {what} is not a string"),
            }
        };
        let (Some(name), Some(version)) = (field("name")?, field("version")?) else {
            bad!("line {line}: {what} has no name or no version");
        };
        let source = field("source")?;
        let id = format!("{name} {version}");
        if let Some(r) = field("replace")? {
            refs.push((line, id.clone(), "is replaced by", r));
        }
        match p.get("dependencies") {
            None => {}
            Some(toml::Value::Array(deps)) => {
                for d in deps {
                    let Some(d) = d.as_str() else {
                        bad!("line {line}: `dependencies` of `{id}` holds a non-string");
                    };
                    refs.push((line, id.clone(), "depends on", d.to_owned()));
                }
            }
            Some(_) => bad!("line {line}: `dependencies` of `{id}` is not an array"),
        }
        out.push(Pinned {
            name,
            version,
            source,
        });
    }
    // Every package id referred to must be listed: a file cut short loses the packages its
    // remaining entries depend on.
    let names: HashSet<&str> = out.iter().map(|p| p.name.as_str()).collect();
    let ids: HashSet<(&str, &str)> = out
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    for (line, from, relation, to) in &refs {
        let mut parts = to.splitn(3, ' ');
        let name = parts.next().unwrap_or("");
        let listed = match parts.next() {
            None => names.contains(name),
            Some(version) => ids.contains(&(name, version)),
        };
        if !listed {
            bad!(
                "line {line}: `{from}` {relation} `{to}`, which the lockfile does not list \
                 (is the file cut short?)"
            );
        }
    }
    Ok(out)
}

/// What a set of lockfiles keeps in CARGO_HOME and target dirs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepSet {
    /// Registry directory name → `<name>-<version>` pinned from it.
    pub registries: BTreeMap<String, BTreeSet<String>>,
    /// Registry directory name → package names pinned from it (for index pruning).
    pub names: BTreeMap<String, BTreeSet<String>>,
    /// Git database directory name → full commit hashes pinned.
    pub git: BTreeMap<String, BTreeSet<String>>,
    /// Names of the packages listed without a source: workspace members and path
    /// dependencies.
    pub path_packages: BTreeSet<String>,
    /// Pinned packages with a registry or git source (`name version source`), each once.
    pub pinned: BTreeSet<(String, String, String)>,
}

impl KeepSet {
    /// Whether checkout directory `co` of git db `db` is a pinned commit (its short id).
    pub fn keeps_checkout(&self, db: &str, co: &str) -> bool {
        self.git
            .get(db)
            .is_some_and(|commits| commits.iter().any(|c| co.len() >= 7 && c.starts_with(co)))
    }

    /// How many distinct packages with a registry or git source are pinned.
    pub fn packages(&self) -> usize {
        self.pinned.len()
    }

    /// Adds what `other` keeps (another lockfile, mapped with its own config).
    pub fn merge(&mut self, other: KeepSet) {
        fn union(
            a: &mut BTreeMap<String, BTreeSet<String>>,
            b: BTreeMap<String, BTreeSet<String>>,
        ) {
            for (k, v) in b {
                a.entry(k).or_default().extend(v);
            }
        }
        union(&mut self.registries, other.registries);
        union(&mut self.names, other.names);
        union(&mut self.git, other.git);
        self.path_packages.extend(other.path_packages);
        self.pinned.extend(other.pinned);
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

/// The keep set of one lockfile's packages, mapped with the config that applies to it.
pub fn keep_set(packages: &[Pinned], config: &CargoConfig) -> KeepSet {
    let mut keep = KeepSet::default();
    for p in packages {
        if p.is_path() {
            keep.path_packages.insert(p.name.clone());
            continue;
        }
        let Some(source) = &p.source else { continue };
        keep.pinned
            .insert((p.name.clone(), p.version.clone(), source.clone()));
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
        assert_eq!(keep.packages(), 2);
        assert_eq!(keep.path_packages, BTreeSet::from(["app".to_string()]));
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

    fn bad(text: &str) -> String {
        match parse(text) {
            Err(Malformed::Bad(m)) => m,
            other => panic!("expected a malformed lockfile, got {other:?}"),
        }
    }

    /// Cargo rewrites `Cargo.lock` in place: a reader at that instant sees it empty or cut.
    /// An attacker thread keeps truncating and rewriting it; every read must get the packages
    /// (found in the soak: `trim` beside builds refused a lockfile cargo was rewriting).
    #[test]
    fn a_lockfile_being_rewritten_is_read_whole() {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Cargo.lock");
        let text = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\n\n\
                    [[package]]\nname = \"b\"\nversion = \"1.2.3\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        std::fs::write(&path, text).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let attacker = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut f = std::fs::File::create(&path).unwrap(); // truncates
                    std::thread::yield_now();
                    f.write_all(&text.as_bytes()[..text.len() / 2]).unwrap();
                    std::thread::yield_now();
                    f.write_all(&text.as_bytes()[text.len() / 2..]).unwrap();
                    drop(f);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            })
        };
        for i in 0..300 {
            let pinned = read(&path).unwrap_or_else(|e| panic!("read {i}: {e:#}"));
            assert_eq!(pinned.len(), 2, "read {i}");
        }
        stop.store(true, Ordering::Relaxed);
        attacker.join().unwrap();
    }

    #[test]
    fn a_lockfile_without_packages_is_malformed() {
        for text in [
            "",
            "\n",
            "# This file is automatically @generated by Cargo.\nversion = 4\n",
        ] {
            assert!(bad(text).contains("lists no packages"), "{text:?}");
        }
    }

    #[test]
    fn manifests_are_recognised() {
        for text in [
            "[workspace]\nmembers = [\"a\", \"b\"]\nresolver = \"2\"\n",
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\n\n[dependencies]\nalpha = \"1\"\n",
            "[project]\nname = \"a\"\nversion = \"0.1.0\"\n",
            "[dependencies]\nalpha = \"1\"\n",
        ] {
            assert_eq!(parse(text), Err(Malformed::Manifest), "{text}");
        }
    }

    #[test]
    fn a_lockfile_cut_at_a_package_boundary_is_malformed() {
        // V4 without its last package: `app` depends on `itoa` (still listed) only, so
        // cutting `gitdep` alone is not detectable; cutting `itoa` is.
        let cut = V4.split("[[package]]\nname = \"itoa\"").next().unwrap();
        let m = bad(cut);
        assert!(m.contains("line 4"), "{m}");
        assert!(m.contains("`app 0.1.0` depends on `itoa`"), "{m}");
        assert!(m.contains("does not list"), "{m}");
        // A version given must match too (versions 1 and 2 always give it).
        let v2 = "[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\
                  dependencies = [\"itoa 1.0.18 (registry+https://github.com/rust-lang/crates.io-index)\"]\n\n\
                  [[package]]\nname = \"itoa\"\nversion = \"1.0.17\"\n\
                  source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        assert!(bad(v2).contains("`itoa 1.0.18 (registry+"), "{}", bad(v2));
        let ok = v2.replace("1.0.17", "1.0.18");
        assert_eq!(parse(&ok).unwrap().len(), 2);
        // `replace` entries are package ids too.
        let replaced = format!("{ok}replace = \"itoa 9.9.9\"\n");
        assert!(bad(&replaced).contains("is replaced by `itoa 9.9.9`"));
    }

    #[test]
    fn old_root_tables_and_wrong_types() {
        let root = "[root]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\"itoa 0.4.8 (registry+https://github.com/rust-lang/crates.io-index)\"]\n\n\
                    [[package]]\nname = \"itoa\"\nversion = \"0.4.8\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let p = parse(root).unwrap();
        assert_eq!(p[0].name, "app");
        assert!(p[0].is_path() && !p[1].is_path());
        let only_root = "[root]\nname = \"app\"\nversion = \"0.1.0\"\n";
        assert_eq!(parse(only_root).unwrap().len(), 1);
        assert!(
            bad("[[package]]\nname = \"a\"\nversion = \"1\"\nsource = 1\n")
                .contains("not a string")
        );
        assert!(
            bad("[[package]]\nname = \"a\"\nversion = \"1\"\ndependencies = \"b\"\n")
                .contains("not an array")
        );
    }

    #[test]
    fn keep_sets_merge_with_each_lockfiles_config() {
        let p = parse(V4).unwrap();
        let mirror = CargoConfig::from_toml(
            "[source.crates-io]\nreplace-with = \"mirror\"\n[source.mirror]\nregistry = \"sparse+https://my-registry.example/index/\"\n",
        )
        .unwrap();
        let mut keep = keep_set(&p, &CargoConfig::default());
        keep.merge(keep_set(&p, &mirror));
        assert!(keep.registries["index.crates.io-1949cf8c6b5b557f"].contains("itoa-1.0.18"));
        assert!(keep.registries["my-registry.example-3785c38eb2de1d1f"].contains("itoa-1.0.18"));
        assert_eq!(keep.packages(), 2, "the same packages, counted once");
    }
}
