//! The policy file of `tidy` for unattended runs: one TOML file per user.
//!
//! # Where, and why there
//!
//! `--policy FILE`, else `$CARGO_JANITOR_POLICY`, else `cargo-janitor/policy.toml` in the
//! user's config directory (`$XDG_CONFIG_HOME`, else `~/.config`, on Linux and other Unixes;
//! `~/Library/Application Support` on macOS; `%APPDATA%` on Windows). A budget covers every
//! cache a user has, whichever directory a command runs in, so it is not a key of Cargo's
//! config (whose files depend on the current directory, and which Cargo reads as its own). A
//! default file that does not exist means no policy; a file named by `--policy` or the
//! variable must exist.
//!
//! # Keys
//!
//! ```toml
//! budget = "20 GiB"          # CARGO_HOME and target dirs together (Cargo's size grammar)
//! min-free = "10%"           # on each filesystem holding a cache: a size or a percentage
//! hard = false               # true: the budget wins over the lockfiles
//! grace = "10 minutes"       # never remove what was used this recently
//! max-age = "30 days"        # also remove what was unused this long, budget or not
//! roots = ["~/src"]          # searched for target dirs (as `tidy --recursive`)
//! target-dirs = ["/srv/ci/target"]
//! exclude = ["~/src/keep"]   # target dirs at or under these are never touched
//! lockfiles = ["~/src/app/Cargo.lock"]
//! ```
//!
//! A leading `~/` is the home directory; relative paths are relative to the file's directory.
//! Command-line flags override the file: a limit given on the command line replaces the
//! file's, and PATHs given replace `roots` and `target-dirs`. Anything else (an unknown key, a
//! value of the wrong type or grammar) is refused, naming the file, the key and the accepted
//! form.

use std::path::{Path, PathBuf};

use crate::exit::BadInput;
use crate::plan::tidy::MinFree;
use crate::quantity::{self, Span};

/// What a policy file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub budget: Option<u64>,
    pub min_free: Option<MinFree>,
    pub hard: Option<bool>,
    pub grace: Option<Span>,
    pub max_age: Option<Span>,
    pub roots: Vec<PathBuf>,
    pub target_dirs: Vec<PathBuf>,
    pub exclude: Vec<PathBuf>,
    pub lockfiles: Vec<PathBuf>,
}

const KEYS: &str = "budget, min-free, hard, grace, max-age, roots, target-dirs, exclude, lockfiles";

/// The default file: `cargo-janitor/policy.toml` in the user's config directory.
pub fn default_path() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = if cfg!(windows) {
        env("APPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))
    }?;
    Some(dir.join("cargo-janitor").join("policy.toml"))
}

/// Finds and reads the policy: `given` (`--policy`), else `$CARGO_JANITOR_POLICY`, else the
/// default file if it exists.
pub fn load(given: Option<&Path>) -> Result<Option<PolicyFile>, BadInput> {
    let (path, must_exist) = match given {
        Some(p) => (p.to_owned(), true),
        None => match std::env::var_os("CARGO_JANITOR_POLICY").filter(|v| !v.is_empty()) {
            Some(p) => (PathBuf::from(p), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok(None),
            },
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BadInput(format!(
                "could not read the policy file `{}`: {e}",
                path.display()
            )));
        }
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    parse(&text, &path, home.as_deref()).map(Some)
}

fn bad(path: &Path, key: &str, expected: &str, found: &toml::Value) -> BadInput {
    BadInput(format!(
        "error in the policy file `{}`: `{key}` expected {expected}, but found {found}",
        path.display()
    ))
}

/// Parses a policy file's text. `path` names it in errors and anchors relative paths; `home`
/// expands a leading `~/`.
pub fn parse(text: &str, path: &Path, home: Option<&Path>) -> Result<PolicyFile, BadInput> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        BadInput(format!(
            "could not parse the policy file `{}` as TOML: {}",
            path.display(),
            e.message()
        ))
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut p = PolicyFile {
        path: path.to_owned(),
        ..PolicyFile::default()
    };
    let string = |key: &str, v: &toml::Value, expected: &str| -> Result<String, BadInput> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad(path, key, expected, v))
    };
    let duration = |key: &str, v: &toml::Value| -> Result<Span, BadInput> {
        let expected = format!("a duration string ({})", quantity::CONFIG_DURATION);
        let s = string(key, v, &expected)?;
        quantity::parse_duration(&s)
            .map(Span::from_duration)
            .map_err(|_| bad(path, key, &expected, v))
    };
    let paths = |key: &str, v: &toml::Value| -> Result<Vec<PathBuf>, BadInput> {
        let expected = "an array of path strings ([\"~/src\", \"/srv/target\"])";
        let arr = v.as_array().ok_or_else(|| bad(path, key, expected, v))?;
        arr.iter()
            .map(|x| {
                let s = x.as_str().ok_or_else(|| bad(path, key, expected, v))?;
                if s.is_empty() {
                    return Err(bad(path, key, expected, v));
                }
                Ok(match (s.strip_prefix("~/"), home) {
                    (Some(rest), Some(h)) => h.join(rest),
                    (Some(_), None) => {
                        return Err(BadInput(format!(
                            "error in the policy file `{}`: `{key}` uses `~/` but HOME is not set",
                            path.display()
                        )));
                    }
                    (None, _) => base.join(s),
                })
            })
            .collect()
    };
    for (key, v) in &table {
        match key.as_str() {
            "budget" => {
                let expected = format!("a size string ({})", quantity::SIZE_GRAMMAR);
                let s = string(key, v, &expected)?;
                p.budget =
                    Some(quantity::parse_size(&s).map_err(|_| bad(path, key, &expected, v))?);
            }
            "min-free" => {
                let expected = format!(
                    "a size or a percentage string (\"10%\", or {})",
                    quantity::SIZE_GRAMMAR
                );
                let s = string(key, v, &expected)?;
                p.min_free = Some(MinFree::parse(&s).map_err(|_| bad(path, key, &expected, v))?);
            }
            "hard" => {
                p.hard = Some(
                    v.as_bool()
                        .ok_or_else(|| bad(path, key, "true or false", v))?,
                );
            }
            "grace" => p.grace = Some(duration(key, v)?),
            "max-age" => p.max_age = Some(duration(key, v)?),
            "roots" => p.roots = paths(key, v)?,
            "target-dirs" => p.target_dirs = paths(key, v)?,
            "exclude" => p.exclude = paths(key, v)?,
            "lockfiles" => p.lockfiles = paths(key, v)?,
            other => {
                return Err(BadInput(format!(
                    "error in the policy file `{}`: unknown key `{other}` (the keys are: {KEYS})",
                    path.display()
                )));
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> PolicyFile {
        parse(
            text,
            Path::new("/etc/p/policy.toml"),
            Some(Path::new("/home/u")),
        )
        .unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(
            text,
            Path::new("/etc/p/policy.toml"),
            Some(Path::new("/home/u")),
        )
        .unwrap_err()
        .0
    }

    #[test]
    fn every_key() {
        let p = parse_ok(
            "budget = \"20 GiB\"\nmin-free = \"12.5%\"\nhard = true\ngrace = \"5 minutes\"\n\
             max-age = \"30 days\"\nroots = [\"~/src\", \"ci\"]\ntarget-dirs = [\"/t\"]\n\
             exclude = [\"~/src/keep\"]\nlockfiles = [\"/a/Cargo.lock\"]\n",
        );
        assert_eq!(p.budget, Some(20 * 1024 * 1024 * 1024));
        assert_eq!(p.min_free, Some(MinFree::PerMille(125)));
        assert_eq!(p.hard, Some(true));
        assert_eq!(p.grace, Some(Span(300)));
        assert_eq!(p.max_age, Some(Span(30 * 86_400)));
        assert_eq!(
            p.roots,
            [PathBuf::from("/home/u/src"), PathBuf::from("/etc/p/ci")]
        );
        assert_eq!(p.target_dirs, [PathBuf::from("/t")]);
        assert_eq!(p.exclude, [PathBuf::from("/home/u/src/keep")]);
        assert_eq!(p.lockfiles, [PathBuf::from("/a/Cargo.lock")]);
        assert_eq!(
            parse_ok(""),
            PolicyFile {
                path: "/etc/p/policy.toml".into(),
                ..PolicyFile::default()
            }
        );
    }

    #[test]
    fn bad_input_names_the_file_the_key_and_the_accepted_form() {
        for (text, key, form) in [
            ("budget = 20", "`budget`", "a size string"),
            ("budget = \"20 parsecs\"", "`budget`", "kib"),
            ("min-free = \"200%\"", "`min-free`", "percentage"),
            ("hard = \"yes\"", "`hard`", "true or false"),
            ("grace = \"soon\"", "`grace`", "N seconds|minutes"),
            ("max-age = 30", "`max-age`", "a duration string"),
            ("roots = \"~/src\"", "`roots`", "an array of path strings"),
            ("exclude = [1]", "`exclude`", "an array of path strings"),
            (
                "bugdet = \"1 GiB\"",
                "unknown key `bugdet`",
                "budget, min-free",
            ),
            ("budget = ", "as TOML", ""),
        ] {
            let e = parse_err(text);
            assert!(e.contains("`/etc/p/policy.toml`"), "{text}: {e}");
            assert!(e.contains(key), "{text}: {e}");
            assert!(e.contains(form), "{text}: {e}");
        }
    }
}
