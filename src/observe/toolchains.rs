//! Installed Rust toolchains and the `rustc` hash each one writes into fingerprints: Cargo
//! hashes the whole `rustc -vV` output (StableSipHasher128 since 1.85, std's SipHasher before),
//! so we compute both for every installed toolchain.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toolchain {
    pub name: String,
    /// The `rustc` hashes fingerprints built by it carry (both hash schemes).
    pub hashes: [u64; 2],
}

/// The hashes of one `rustc -vV` output.
pub fn rustc_hashes(verbose_version: &str) -> [u64; 2] {
    let mut stable = rustc_stable_hash::StableSipHasher128::new();
    verbose_version.hash(&mut stable);
    #[allow(deprecated)]
    let mut legacy = std::hash::SipHasher::new();
    verbose_version.hash(&mut legacy);
    [Hasher::finish(&stable), legacy.finish()]
}

fn verbose_version(rustc: &std::path::Path) -> Option<String> {
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every toolchain rustup has installed (`$RUSTUP_HOME/toolchains/*`), or else the `rustc` on
/// PATH.
pub fn installed() -> Vec<Toolchain> {
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    let mut out = Vec::new();
    if let Some(dir) = rustup_home.map(|h| h.join("toolchains"))
        && let Ok(rd) = std::fs::read_dir(&dir)
    {
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = verbose_version(&e.path().join("bin/rustc")) {
                out.push(Toolchain {
                    name,
                    hashes: rustc_hashes(&v),
                });
            }
        }
    }
    if out.is_empty()
        && let Some(v) = verbose_version(std::path::Path::new("rustc"))
    {
        out.push(Toolchain {
            name: "rustc".into(),
            hashes: rustc_hashes(&v),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The installed toolchains a name refers to: `nightly` matches
/// `nightly-x86_64-unknown-linux-gnu`, `1.95` matches `1.95.0-…`, a full name matches itself.
pub fn matching<'a>(all: &'a [Toolchain], name: &str) -> Vec<&'a Toolchain> {
    all.iter()
        .filter(|t| {
            t.name == name
                || t.name.starts_with(&format!("{name}-"))
                || t.name.starts_with(&format!("{name}."))
        })
        .collect()
}

/// The `rustc` hashes of the toolchain rustup picks in `dir` (its `rust-toolchain` file
/// applies), or an empty list when `rustc` cannot run.
pub fn current(dir: &std::path::Path) -> Vec<u64> {
    Command::new("rustc")
        .arg("-vV")
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| rustc_hashes(&String::from_utf8_lossy(&o.stdout)).to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_match_prefixes() {
        let all = vec![
            super::Toolchain {
                name: "nightly-x86_64-unknown-linux-gnu".into(),
                hashes: [1, 2],
            },
            super::Toolchain {
                name: "1.95.0-x86_64-unknown-linux-gnu".into(),
                hashes: [3, 4],
            },
            super::Toolchain {
                name: "stable-x86_64-unknown-linux-gnu".into(),
                hashes: [3, 4],
            },
        ];
        assert_eq!(super::matching(&all, "nightly").len(), 1);
        assert_eq!(super::matching(&all, "1.95").len(), 1);
        assert_eq!(super::matching(&all, "1.9").len(), 0);
        assert_eq!(super::matching(&all, "beta").len(), 0);
    }
}
