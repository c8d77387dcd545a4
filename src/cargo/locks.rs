//! Cargo's lock files, in Cargo's words, for every cargo version.
//!
//! Every lock Cargo takes is an advisory lock (`flock`, `LockFileEx`) on a small file that
//! holds no state: the file's *name and place* say what it guards, and the words Cargo prints
//! while it waits ("Blocking waiting for file lock on package cache") say which lock it waits
//! for. Both changed over the years; this module holds all of them, so that every part of
//! cargo-janitor (the lock doctor's listing, `wait --lock`, `locks --message`, the files the
//! remover must never delete) speaks one vocabulary.
//!
//! Versions were read from Cargo's own release branches (`rust-1.9.0` … `rust-1.99.0`):
//!
//! | words | cargo | file |
//! |---|---|---|
//! | `the git database`, `the git checkout` | 1.9–1.11 | `git/db/.cargo-lock-<name>`, `git/checkouts/<name>/.cargo-lock-<name>-<ref>` |
//! | `the git checkouts` | 1.12–1.35 | `git/.cargo-lock-git` |
//! | `the registry index` | 1.9–1.35 | `registry/index/<registry>/.cargo-index-lock` |
//! | `package cache lock` | 1.36 | `.package-cache` |
//! | `package cache` | 1.37+ | `.package-cache` |
//! | `shared package cache`, `package cache mutation` | 1.75+ | `.package-cache-mutate` |
//! | `build directory` | all | `<profile>/.cargo-lock`; 1.96+: `.cargo-build-lock` |
//! | `artifact directory` | 1.93+ | `<profile>/.cargo-lock` (1.93–1.95), `.cargo-artifact-lock` (1.96+) |
//! | `<package> (<hash>)` | nightly 1.94+, `-Zfine-grain-locking` | `build/<package>/<hash>/.lock` |
//! | `Cargo.lock file` | all | `<workspace>/Cargo.lock` |
//! | `crate metadata` | all | `.crates.toml`, `.crates2.json` |
//!
//! Since cargo 1.94, `-vv` adds the lock file's path: `… on package cache (/home/u/.cargo/.package-cache)`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::sys::process::Mode;

/// What a lock file guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockKind {
    /// `$CARGO_HOME/.package-cache` (cargo 1.36+).
    PackageCache,
    /// `$CARGO_HOME/.package-cache-mutate` (cargo 1.75+).
    PackageCacheMutate,
    /// `<build-dir>/<profile>/.cargo-build-lock` (cargo 1.96+) or `.cargo-lock`.
    BuildDir,
    /// `<target-dir>/<profile>/.cargo-artifact-lock` (cargo 1.96+).
    ArtifactDir,
    /// `<build-dir>/<profile>/build/<pkg>/<hash>/.lock` (`-Zfine-grain-locking`).
    Unit,
    /// `<workspace>/Cargo.lock`.
    CargoLock,
    /// `$CARGO_HOME/.crates.toml`, `.crates2.json` (`cargo install`).
    CrateMetadata,
    /// `$CARGO_HOME/registry/index/<registry>/.cargo-index-lock` (cargo 1.35 and older).
    RegistryIndex,
    /// `$CARGO_HOME/git/.cargo-lock-git` (cargo 1.12–1.35) and the `.cargo-lock-<name>`
    /// files of `git/db` and `git/checkouts` (cargo 1.9–1.11).
    Git,
}

impl LockKind {
    pub const ALL: [LockKind; 9] = [
        LockKind::PackageCache,
        LockKind::PackageCacheMutate,
        LockKind::BuildDir,
        LockKind::ArtifactDir,
        LockKind::Unit,
        LockKind::CargoLock,
        LockKind::CrateMetadata,
        LockKind::RegistryIndex,
        LockKind::Git,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LockKind::PackageCache => "package-cache",
            LockKind::PackageCacheMutate => "package-cache-mutate",
            LockKind::BuildDir => "build-dir",
            LockKind::ArtifactDir => "artifact-dir",
            LockKind::Unit => "unit",
            LockKind::CargoLock => "cargo-lock",
            LockKind::CrateMetadata => "crate-metadata",
            LockKind::RegistryIndex => "registry-index",
            LockKind::Git => "git",
        }
    }

    pub fn parse(s: &str) -> Option<LockKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The lock files Cargo keeps directly in a Cargo home (current cargos).
pub const HOME_FILES: [&str; 4] = [
    ".package-cache",
    ".package-cache-mutate",
    ".crates.toml",
    ".crates2.json",
];

/// The lock files Cargo keeps in a profile directory (`<dir>/<profile>/`,
/// `<dir>/<triple>/<profile>/`) of a target or build directory.
pub const PROFILE_FILES: [&str; 3] = [".cargo-lock", ".cargo-build-lock", ".cargo-artifact-lock"];

/// The lock file of cargo 1.12–1.35's git sources, in `$CARGO_HOME/git/`.
pub const OLD_GIT_FILE: &str = ".cargo-lock-git";

/// The lock file of cargo 1.35 and older's registry indexes, in
/// `$CARGO_HOME/registry/index/<registry>/`.
pub const OLD_INDEX_FILE: &str = ".cargo-index-lock";

/// Files never removed, wherever they are: Cargo's lock files (a cargo holding one would go on
/// while a new cargo locks a new file) and the `.global-cache` database with SQLite's own
/// files. The remover (`act::remove`) refuses a path whose last name is one of these.
/// Old cargos' lock files are here too: `git/.cargo-lock-git` is no unit's, and an index's
/// `.cargo-index-lock` goes only with its whole index directory.
pub const PROTECTED: &[&str] = &[
    ".package-cache",
    ".package-cache-mutate",
    ".crates.toml",
    ".crates2.json",
    ".global-cache",
    ".global-cache-journal",
    ".global-cache-wal",
    ".global-cache-shm",
    ".cargo-lock",
    ".cargo-build-lock",
    ".cargo-artifact-lock",
    OLD_GIT_FILE,
    OLD_INDEX_FILE,
];

/// Which of Cargo's lock files `path` is, by its name and place.
pub fn classify(path: &Path) -> Option<LockKind> {
    let name = path.file_name()?.to_str()?;
    let parent_name = |n: usize| {
        path.ancestors()
            .nth(n)
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
    };
    Some(match name {
        ".package-cache" => LockKind::PackageCache,
        ".package-cache-mutate" => LockKind::PackageCacheMutate,
        ".cargo-build-lock" | ".cargo-lock" => LockKind::BuildDir,
        ".cargo-artifact-lock" => LockKind::ArtifactDir,
        "Cargo.lock" => LockKind::CargoLock,
        ".crates.toml" | ".crates2.json" => LockKind::CrateMetadata,
        OLD_INDEX_FILE => LockKind::RegistryIndex,
        OLD_GIT_FILE => LockKind::Git,
        // git/db/.cargo-lock-<name>, git/checkouts/<name>/.cargo-lock-<name>-<ref>
        n if n.starts_with(".cargo-lock-")
            && (parent_name(1) == Some("db") || parent_name(2) == Some("checkouts")) =>
        {
            LockKind::Git
        }
        // build/<pkg>/<hash>/.lock
        ".lock" if parent_name(3) == Some("build") => LockKind::Unit,
        _ => return None,
    })
}

/// The `<pkg>` and `<hash>` of a unit lock `build/<pkg>/<hash>/.lock`.
fn unit_of(path: &Path) -> Option<(String, String)> {
    let hash = path.parent()?;
    let pkg = hash.parent()?;
    Some((
        pkg.file_name()?.to_string_lossy().into_owned(),
        hash.file_name()?.to_string_lossy().into_owned(),
    ))
}

/// What a waiting cargo prints after "Blocking waiting for file lock on " for this lock file,
/// given the mode its holder holds it in.
pub fn words(path: &Path, kind: LockKind, holder_mode: Option<Mode>) -> String {
    match kind {
        LockKind::PackageCache => "package cache".to_string(),
        // Held exclusively (by a clean), builds print "shared package cache"; held shared (by
        // builds), a clean prints "package cache mutation".
        LockKind::PackageCacheMutate => match holder_mode {
            Some(Mode::Shared) => "package cache mutation".to_string(),
            _ => "shared package cache".to_string(),
        },
        LockKind::BuildDir if path.file_name().is_some_and(|n| n == ".cargo-lock") => {
            "build directory (`cargo check`) or artifact directory (`cargo build`)".to_string()
        }
        LockKind::BuildDir => "build directory".to_string(),
        LockKind::ArtifactDir => "artifact directory".to_string(),
        LockKind::Unit => match unit_of(path) {
            Some((p, h)) => format!("{p} ({h})"),
            None => "a build unit".to_string(),
        },
        LockKind::CargoLock => "Cargo.lock file".to_string(),
        LockKind::CrateMetadata => "crate metadata".to_string(),
        LockKind::RegistryIndex => "the registry index".to_string(),
        LockKind::Git => match path.file_name().and_then(|n| n.to_str()) {
            Some(OLD_GIT_FILE) => "the git checkouts".to_string(),
            _ if path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "db") =>
            {
                "the git database".to_string()
            }
            _ => "the git checkout".to_string(),
        },
    }
}

/// Cargo's whole message for a wait on this lock file.
pub fn message(path: &Path, kind: LockKind, holder_mode: Option<Mode>) -> String {
    format!(
        "Blocking waiting for file lock on {}",
        words(path, kind, holder_mode)
    )
}

/// One of the things Cargo has printed after "Blocking waiting for file lock on ".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Wording {
    /// The words themselves (`<package> (<hash>)` stands for a unit's).
    pub words: &'static str,
    /// The cargo versions that print them.
    pub cargo: &'static str,
    /// The lock files they can mean, as kinds …
    pub kinds: &'static [LockKind],
    /// … and, when not every file of those kinds, the file names.
    pub names: &'static [&'static str],
    /// Where the lock file is.
    pub place: &'static str,
    /// What the wait means, in one sentence.
    pub meaning: &'static str,
}

const NEW_PACKAGE_CACHE: &str = "cargo 1.36 and newer guard this with the package cache lock \
                                 (`$CARGO_HOME/.package-cache`): a current cargo waiting here \
                                 waits on that";

/// Every wording, newest first.
pub const WORDINGS: &[Wording] = &[
    Wording {
        words: "package cache",
        cargo: "1.37 and newer",
        kinds: &[LockKind::PackageCache],
        names: &[],
        place: "`$CARGO_HOME/.package-cache`",
        meaning: "another cargo is resolving, downloading or updating the index (every build, \
                  check, fetch, update or metadata takes it, even with --offline), or a clean \
                  of the caches is running",
    },
    Wording {
        words: "shared package cache",
        cargo: "1.75 and newer",
        kinds: &[LockKind::PackageCacheMutate],
        names: &[],
        place: "`$CARGO_HOME/.package-cache-mutate`",
        meaning: "a clean of the caches (`cargo clean gc`, Cargo's automatic clean, \
                  `cargo janitor gc` or `trim`) holds it exclusively; builds wait to read the caches",
    },
    Wording {
        words: "package cache mutation",
        cargo: "1.75 and newer",
        kinds: &[LockKind::PackageCacheMutate],
        names: &[],
        place: "`$CARGO_HOME/.package-cache-mutate`",
        meaning: "a clean of the caches waits for the builds that hold it shared (every build \
                  holds it while it reads sources)",
    },
    Wording {
        words: "build directory",
        cargo: "every version",
        kinds: &[LockKind::BuildDir],
        names: &[],
        place: "`<target-dir>/<profile>/.cargo-lock`; cargo 1.96 and newer: \
                `<build-dir>/<profile>/.cargo-build-lock`",
        meaning: "another cargo compiles into the same build directory (same target dir and \
                  profile)",
    },
    Wording {
        words: "artifact directory",
        cargo: "1.93 and newer",
        kinds: &[LockKind::BuildDir, LockKind::ArtifactDir],
        names: &[".cargo-lock", ".cargo-artifact-lock"],
        place: "`<target-dir>/<profile>/.cargo-lock` (1.93–1.95); \
                `<target-dir>/<profile>/.cargo-artifact-lock` (1.96 and newer)",
        meaning: "another cargo build, run or test writes its final artifacts into the same \
                  target dir and profile",
    },
    Wording {
        words: "<package> (<hash>)",
        cargo: "nightly 1.94 and newer with -Zfine-grain-locking",
        kinds: &[LockKind::Unit],
        names: &[],
        place: "`<build-dir>/<profile>/build/<package>/<hash>/.lock`",
        meaning: "another cargo compiles that unit",
    },
    Wording {
        words: "Cargo.lock file",
        cargo: "every version",
        kinds: &[LockKind::CargoLock],
        names: &[],
        place: "`<workspace>/Cargo.lock`",
        meaning: "another cargo reads or writes the workspace's lockfile",
    },
    Wording {
        words: "crate metadata",
        cargo: "every version",
        kinds: &[LockKind::CrateMetadata],
        names: &[],
        place: "`$CARGO_HOME/.crates.toml`, `.crates2.json`",
        meaning: "another `cargo install` or `cargo uninstall` is running",
    },
    Wording {
        words: "package cache lock",
        cargo: "1.36",
        kinds: &[LockKind::PackageCache],
        names: &[],
        place: "`$CARGO_HOME/.package-cache`",
        meaning: "the same as \"package cache\" in later cargos: another cargo is resolving, \
                  downloading or updating the index",
    },
    Wording {
        words: "the registry index",
        cargo: "1.35 and older",
        kinds: &[LockKind::RegistryIndex, LockKind::PackageCache],
        names: &[],
        place: "`$CARGO_HOME/registry/index/<registry>/.cargo-index-lock`",
        meaning: NEW_PACKAGE_CACHE,
    },
    Wording {
        words: "the git checkouts",
        cargo: "1.12 to 1.35",
        kinds: &[LockKind::Git, LockKind::PackageCache],
        names: &[],
        place: "`$CARGO_HOME/git/.cargo-lock-git`",
        meaning: NEW_PACKAGE_CACHE,
    },
    Wording {
        words: "the git database",
        cargo: "1.9 to 1.11",
        kinds: &[LockKind::Git, LockKind::PackageCache],
        names: &[],
        place: "`$CARGO_HOME/git/db/.cargo-lock-<name>`",
        meaning: NEW_PACKAGE_CACHE,
    },
    Wording {
        words: "the git checkout",
        cargo: "1.9 to 1.11",
        kinds: &[LockKind::Git, LockKind::PackageCache],
        names: &[],
        place: "`$CARGO_HOME/git/checkouts/<name>/.cargo-lock-<name>-<ref>`",
        meaning: NEW_PACKAGE_CACHE,
    },
];

/// What a pasted "Blocking waiting for file lock on …" message means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Meaning {
    pub wording: Wording,
    /// For a unit's lock: its package and hash.
    pub unit: Option<(String, String)>,
    /// The lock file's path, when the message had one (`-vv`, cargo 1.94+).
    pub path: Option<PathBuf>,
}

impl Meaning {
    /// Whether the lock file at `path` is one this message can mean.
    pub fn matches(&self, path: &Path) -> bool {
        if let Some(p) = &self.path {
            return p == path;
        }
        let Some(kind) = classify(path) else {
            return false;
        };
        let named = self.wording.names.is_empty()
            || path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| self.wording.names.contains(&n));
        let unit = match &self.unit {
            Some(u) => unit_of(path).as_ref() == Some(u),
            None => true,
        };
        self.wording.kinds.contains(&kind) && named && unit
    }
}

/// The accepted form of `--message`, for errors.
pub fn message_grammar() -> String {
    let words: Vec<String> = WORDINGS
        .iter()
        .map(|w| format!("\"{}\"", w.words))
        .collect();
    format!(
        "Cargo's \"Blocking waiting for file lock on WHAT\" (or just WHAT), where WHAT is one of {}, \
         optionally followed by the lock file's path in parentheses, as `-vv` prints it",
        words.join(", ")
    )
}

/// Whether `s` looks like an absolute path (Unix, or Windows with a drive or `\\`).
fn is_path(s: &str) -> bool {
    let b = s.as_bytes();
    s.starts_with('/')
        || s.starts_with("\\\\")
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && matches!(b[2], b'\\' | b'/'))
}

/// Removes terminal colour codes (`ESC [ … m`), as a pasted message may carry them.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a trailing ` (…)` off `s`: `("package cache", "/h/.package-cache")`.
fn split_paren(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_suffix(')')?;
    // The last " (" whose contents close at the end (paths may hold parentheses).
    let mut depth = 0usize;
    for (i, c) in inner.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth > 0 => depth -= 1,
            '(' => return Some((inner[..i].trim_end(), &inner[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Reads a message as Cargo prints it (any version, with or without the `-vv` path, with or
/// without "Blocking waiting for file lock on"), or `None` when it is not one of Cargo's.
pub fn parse_message(text: &str) -> Option<Meaning> {
    let text = strip_ansi(text);
    let text = text.trim();
    let rest = match text.find("waiting for file lock on ") {
        Some(i) => &text[i + "waiting for file lock on ".len()..],
        None => text.strip_prefix("Blocking").unwrap_or(text),
    };
    let rest = rest.trim().trim_end_matches(['.', ' ']);
    let (what, path) = match split_paren(rest) {
        Some((w, p)) if is_path(p) => (w, Some(PathBuf::from(p))),
        _ => (rest, None),
    };
    let what = what.trim();
    if let Some(w) = WORDINGS
        .iter()
        .find(|w| !w.words.starts_with('<') && w.words.eq_ignore_ascii_case(what))
    {
        return Some(Meaning {
            wording: *w,
            unit: None,
            path,
        });
    }
    // `<package> (<hash>)`: a package name, then a hex hash.
    let (pkg, hash) = split_paren(what)?;
    let plausible_pkg = !pkg.is_empty()
        && pkg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let plausible_hash = hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit());
    if !(plausible_pkg && plausible_hash) {
        return None;
    }
    let w = WORDINGS.iter().find(|w| w.kinds == [LockKind::Unit])?;
    Some(Meaning {
        wording: *w,
        unit: Some((pkg.to_owned(), hash.to_owned())),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_cargo_lock_files() {
        let k = |p: &str| classify(Path::new(p));
        assert_eq!(k("/h/.package-cache"), Some(LockKind::PackageCache));
        assert_eq!(
            k("/h/.package-cache-mutate"),
            Some(LockKind::PackageCacheMutate)
        );
        assert_eq!(k("/p/target/debug/.cargo-lock"), Some(LockKind::BuildDir));
        assert_eq!(
            k("/p/target/debug/.cargo-build-lock"),
            Some(LockKind::BuildDir)
        );
        assert_eq!(
            k("/p/target/debug/.cargo-artifact-lock"),
            Some(LockKind::ArtifactDir)
        );
        assert_eq!(
            k("/p/target/debug/build/itoa/0123abcd/.lock"),
            Some(LockKind::Unit)
        );
        assert_eq!(k("/p/Cargo.lock"), Some(LockKind::CargoLock));
        assert_eq!(k("/h/.crates2.json"), Some(LockKind::CrateMetadata));
        assert_eq!(
            k("/h/registry/index/github.com-1ecc6299db9ec823/.cargo-index-lock"),
            Some(LockKind::RegistryIndex)
        );
        assert_eq!(k("/h/git/.cargo-lock-git"), Some(LockKind::Git));
        assert_eq!(k("/h/git/db/.cargo-lock-foo-abc"), Some(LockKind::Git));
        assert_eq!(
            k("/h/git/checkouts/foo-abc/.cargo-lock-foo-abc-master"),
            Some(LockKind::Git)
        );
        assert_eq!(k("/p/.git/index.lock"), None);
        assert_eq!(k("/p/x/.lock"), None);
        assert_eq!(k("/p/x/.cargo-lock-other"), None);
    }

    #[test]
    fn messages_follow_cargo() {
        let m = |p: &str, mode| message(Path::new(p), classify(Path::new(p)).unwrap(), mode);
        assert_eq!(
            m("/h/.package-cache", None),
            "Blocking waiting for file lock on package cache"
        );
        assert_eq!(
            m("/h/.package-cache-mutate", Some(Mode::Exclusive)),
            "Blocking waiting for file lock on shared package cache"
        );
        assert_eq!(
            m("/h/.package-cache-mutate", Some(Mode::Shared)),
            "Blocking waiting for file lock on package cache mutation"
        );
        assert_eq!(
            m("/p/t/debug/build/itoa/6a6d3f3d53caa1d6/.lock", None),
            "Blocking waiting for file lock on itoa (6a6d3f3d53caa1d6)"
        );
        assert_eq!(
            m("/h/git/.cargo-lock-git", None),
            "Blocking waiting for file lock on the git checkouts"
        );
        assert_eq!(
            m("/h/git/db/.cargo-lock-x-1", None),
            "Blocking waiting for file lock on the git database"
        );
        assert_eq!(
            m("/h/registry/index/r/.cargo-index-lock", None),
            "Blocking waiting for file lock on the registry index"
        );
    }

    #[test]
    fn every_wording_of_every_version_parses_back_to_its_locks() {
        let words = |t: &str| parse_message(t).map(|m| m.wording.words);
        for w in WORDINGS.iter().filter(|w| !w.words.starts_with('<')) {
            let line = format!("    Blocking waiting for file lock on {}", w.words);
            assert_eq!(words(&line), Some(w.words), "{line}");
            assert_eq!(words(w.words), Some(w.words));
            let vv = format!("{line} (/home/u/.cargo/x (1)/.package-cache)");
            let m = parse_message(&vv).unwrap();
            assert_eq!(m.wording.words, w.words);
            assert_eq!(
                m.path.as_deref(),
                Some(Path::new("/home/u/.cargo/x (1)/.package-cache"))
            );
        }
        // Old wordings mean the package cache lock to a current cargo.
        let home = |n: &str| PathBuf::from("/h").join(n);
        let old = parse_message("Blocking waiting for file lock on the registry index").unwrap();
        assert!(old.matches(&home(".package-cache")));
        assert!(old.matches(&home("registry/index/r/.cargo-index-lock")));
        assert!(!old.matches(&home(".package-cache-mutate")));
        let git = parse_message("the git checkouts").unwrap();
        assert!(git.matches(&home(".package-cache")));
        assert!(git.matches(&home("git/.cargo-lock-git")));
        // "artifact directory" is `.cargo-lock` before 1.96, and never `.cargo-build-lock`.
        let art = parse_message("Blocking waiting for file lock on artifact directory").unwrap();
        assert!(art.matches(Path::new("/t/debug/.cargo-lock")));
        assert!(art.matches(Path::new("/t/debug/.cargo-artifact-lock")));
        assert!(!art.matches(Path::new("/t/debug/.cargo-build-lock")));
        let build = parse_message("build directory").unwrap();
        assert!(build.matches(Path::new("/t/debug/.cargo-build-lock")));
        assert!(!build.matches(Path::new("/t/debug/.cargo-artifact-lock")));
        // A unit, with and without -vv; colours and a trailing period are tolerated.
        let u = parse_message(
            "\u{1b}[1m\u{1b}[36m    Blocking\u{1b}[0m waiting for file lock on itoa (6a6d3f3d53caa1d6).",
        )
        .unwrap();
        assert_eq!(u.unit, Some(("itoa".into(), "6a6d3f3d53caa1d6".into())));
        assert!(u.matches(Path::new("/t/debug/build/itoa/6a6d3f3d53caa1d6/.lock")));
        assert!(!u.matches(Path::new("/t/debug/build/itoa/0000000000000000/.lock")));
        let u = parse_message("gamma (0123456789abcdef) (C:\\t\\debug\\build\\gamma\\x\\.lock)")
            .unwrap();
        assert_eq!(u.unit.unwrap().0, "gamma");
        assert!(u.path.is_some());
        // A -vv path narrows to that file only.
        let p = parse_message("package cache (/h/.package-cache)").unwrap();
        assert!(p.matches(Path::new("/h/.package-cache")));
        assert!(!p.matches(Path::new("/other/.package-cache")));
        for bad in [
            "",
            "Blocking waiting for file lock on the moon",
            "package",
            "itoa (xyz)",
            "Compiling foo",
        ] {
            assert!(parse_message(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_readme_lists_every_wording() {
        let readme = include_str!("../../README.md");
        for w in WORDINGS {
            assert!(
                readme.contains(&format!("`{}`", w.words)),
                "README's table of Cargo's wordings misses {:?}",
                w.words
            );
        }
    }

    #[test]
    fn lock_files_are_protected() {
        for n in HOME_FILES.iter().chain(&PROFILE_FILES) {
            assert!(PROTECTED.contains(n), "{n}");
        }
        assert!(PROTECTED.contains(&".global-cache"));
    }
}
