//! Directory names Cargo derives from registry and git URLs, and the way back.
//!
//! Cargo names `registry/{index,cache,src}/<host>-<hash16>` and `git/db/<ident>-<hash16>` by
//! hashing the source's kind and canonical URL (`SourceId`'s `Hash`, `short_name`, `ident`).
//! The hash is one-way, so to say which URL a directory belongs to we hash every URL we know
//! of (crates.io, the cargo config, lockfiles) and compare. Since Rust 1.85 the hasher is
//! `StableSipHasher128`; before, it was std's `SipHasher`, and those directories stay on disk,
//! unused by any current cargo. We compute both so we can point at the dead ones.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use url::Url;

/// crates.io's sparse index, the default since Rust 1.70.
pub const CRATES_IO_SPARSE: &str = "sparse+https://index.crates.io/";
/// crates.io's git index, the default before 1.70.
pub const CRATES_IO_GIT: &str = "https://github.com/rust-lang/crates.io-index";

/// Cargo's `SourceKind` discriminants for registries, as declared in Cargo (`Git = 0`,
/// `Path = 1`, `Registry = 2`, …): the number is part of the hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Registry = 2,
    SparseRegistry = 3,
}

/// Which hasher produced a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Rust 1.85 and later.
    Current,
    /// Before Rust 1.85: no current cargo reads these directories.
    Legacy,
}

/// Cargo's `CanonicalUrl`: drop a trailing slash, force https and lowercase the path on
/// github.com, and drop a trailing `.git`.
pub fn canonical_url(url: &Url) -> Url {
    let mut url = url.clone();
    if url.cannot_be_a_base() {
        return url;
    }
    if url.path().ends_with('/')
        && let Ok(mut segs) = url.path_segments_mut()
    {
        segs.pop_if_empty();
    }
    if url.host_str() == Some("github.com") {
        if let Ok(u) = format!("https{}", &url[url::Position::AfterScheme..]).parse::<Url>() {
            url = u;
        }
        let path = url.path().to_lowercase();
        url.set_path(&path);
    }
    if url.path().ends_with(".git") {
        let last = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .map(|l| l[..l.len() - 4].to_owned());
        if let (Some(last), Ok(mut segs)) = (last, url.path_segments_mut()) {
            segs.pop().push(&last);
        }
    }
    url
}

/// What a registry source string (`sparse+https://…` or a git index URL) hashes as.
pub fn parse_registry_source(source: &str) -> Option<(SourceKind, Url)> {
    let source = source.trim();
    let source = source.strip_prefix("registry+").unwrap_or(source);
    let url = Url::parse(source).ok()?;
    let kind = if source.starts_with("sparse+") {
        SourceKind::SparseRegistry
    } else {
        SourceKind::Registry
    };
    Some((kind, url))
}

fn hex_le(v: u64) -> String {
    v.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn stable_hash(data: impl Hash) -> String {
    let mut h = rustc_stable_hash::StableSipHasher128::new();
    data.hash(&mut h);
    hex_le(Hasher::finish(&h))
}

#[allow(deprecated)]
fn legacy_hash(data: impl Hash) -> String {
    let mut h = std::hash::SipHasher::new();
    data.hash(&mut h);
    hex_le(h.finish())
}

/// The `(kind, url)` pair that `impl Hash for SourceId` feeds to the hasher.
struct SourceIdHash<'a> {
    kind: SourceKind,
    url: &'a str,
}

impl Hash for SourceIdHash<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // `#[derive(Hash)]` on an enum hashes its discriminant as an isize.
        (self.kind as isize).hash(state);
        self.url.hash(state);
    }
}

/// The directory name under `registry/{index,cache,src}` for a registry URL.
pub fn registry_dir_name(kind: SourceKind, url: &Url, scheme: Scheme) -> String {
    // Since 1.85 `impl Hash for SourceId` feeds the canonical URL; before, registries fed
    // the URL as written (so a trailing slash mattered).
    let hash = match scheme {
        Scheme::Current => stable_hash(SourceIdHash {
            kind,
            url: canonical_url(url).as_str(),
        }),
        Scheme::Legacy => legacy_hash(SourceIdHash {
            kind,
            url: url.as_str(),
        }),
    };
    format!("{}-{hash}", url.host_str().unwrap_or(""))
}

/// The directory name under `git/db` and `git/checkouts` for a git dependency URL.
pub fn git_dir_name(url: &Url, scheme: Scheme) -> String {
    let canonical = canonical_url(url);
    let ident = canonical
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .unwrap_or("_empty")
        .to_owned();
    let hash = match scheme {
        Scheme::Current => stable_hash(canonical.as_str()),
        Scheme::Legacy => legacy_hash(canonical.as_str()),
    };
    format!("{ident}-{hash}")
}

/// What we know about one registry directory name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownRegistry {
    pub url: String,
    pub scheme: Scheme,
}

/// A table from directory names to the URLs that produce them, built from every URL we know.
#[derive(Clone, Debug, Default)]
pub struct RegistryNames {
    by_dir: BTreeMap<String, KnownRegistry>,
}

impl RegistryNames {
    /// crates.io (sparse and git) plus the given registry URLs.
    pub fn with_urls<'a>(urls: impl IntoIterator<Item = &'a str>) -> RegistryNames {
        let mut names = RegistryNames::default();
        for u in [CRATES_IO_SPARSE, CRATES_IO_GIT].into_iter().chain(urls) {
            names.add(u);
        }
        names
    }

    pub fn add(&mut self, source: &str) {
        let Some((kind, url)) = parse_registry_source(source) else {
            return;
        };
        let display = source
            .trim()
            .strip_prefix("registry+")
            .unwrap_or(source.trim());
        for scheme in [Scheme::Current, Scheme::Legacy] {
            self.by_dir
                .entry(registry_dir_name(kind, &url, scheme))
                .or_insert_with(|| KnownRegistry {
                    url: display.to_owned(),
                    scheme,
                });
        }
    }

    pub fn lookup(&self, dir_name: &str) -> Option<&KnownRegistry> {
        self.by_dir.get(dir_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str, scheme: Scheme) -> String {
        let (k, u) = parse_registry_source(s).unwrap();
        registry_dir_name(k, &u, scheme)
    }

    #[test]
    fn current_registry_names_match_cargo() {
        assert_eq!(
            reg(CRATES_IO_SPARSE, Scheme::Current),
            "index.crates.io-1949cf8c6b5b557f"
        );
        assert_eq!(
            reg(CRATES_IO_GIT, Scheme::Current),
            "github.com-25cdd57fae9f0462"
        );
        assert_eq!(
            reg("sparse+https://my-registry.example/index/", Scheme::Current),
            "my-registry.example-3785c38eb2de1d1f"
        );
        assert_eq!(
            reg("https://my-registry.example/git-index", Scheme::Current),
            "my-registry.example-410408a62693719b"
        );
        assert_eq!(
            reg("sparse+https://my-crates.io", Scheme::Current),
            "my-crates.io-327cfdbd92dd81e1"
        );
        assert_eq!(
            reg("https://my-crates.io", Scheme::Current),
            "my-crates.io-b2d65deb64f05373"
        );
    }

    #[test]
    fn legacy_registry_names_match_old_cargo() {
        assert_eq!(
            reg(CRATES_IO_SPARSE, Scheme::Legacy),
            "index.crates.io-6f17d22bba15001f"
        );
        assert_eq!(
            reg(CRATES_IO_GIT, Scheme::Legacy),
            "github.com-1ecc6299db9ec823"
        );
    }

    #[test]
    fn git_db_names_match_cargo() {
        let u = Url::parse("https://github.com/Rust-Lang/CFG-IF.git").unwrap();
        assert_eq!(git_dir_name(&u, Scheme::Current), "cfg-if-1c9d4c25eca3252c");
    }

    #[test]
    fn lookup_both_schemes() {
        let names = RegistryNames::with_urls([]);
        let cur = names.lookup("index.crates.io-1949cf8c6b5b557f").unwrap();
        assert_eq!(cur.scheme, Scheme::Current);
        assert_eq!(cur.url, CRATES_IO_SPARSE);
        assert_eq!(
            names
                .lookup("index.crates.io-6f17d22bba15001f")
                .unwrap()
                .scheme,
            Scheme::Legacy
        );
        assert!(names.lookup("example.com-0000000000000000").is_none());
    }
}
