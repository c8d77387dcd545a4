//! What Cargo's GC keeps: the ages and sizes of `cargo clean gc`, and the defaults of
//! Cargo's automatic clean.

use crate::discover::CargoConfig;
use crate::quantity::{self, Frequency, MONTH_SECS, Span};

/// Cargo's `DEFAULT_MAX_AGE_EXTRACTED`: extracted sources and git checkouts.
pub const DEFAULT_MAX_AGE_EXTRACTED: Span = Span(MONTH_SECS);
/// Cargo's `DEFAULT_MAX_AGE_DOWNLOADED`: `.crate` files, indexes and git databases.
pub const DEFAULT_MAX_AGE_DOWNLOADED: Span = Span(3 * MONTH_SECS);

/// Where an age limit came from, said in each reason it gives ("last used 2 months ago
/// (default max-src-age 1 month)"): a limit nobody typed is never shown as a flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// Its own flag (`--max-src-age`).
    #[default]
    Flag,
    /// `--max-download-age`, smaller than its own flag or given alone.
    DownloadAge,
    /// Cargo's automatic-clean default.
    Default,
    /// `cache.global-clean.<name>` in cargo config (a file or its `CARGO_…` variable).
    Config,
}

impl Origin {
    /// The limit's words in a reason: `name` is the limit's key (`max-src-age`).
    pub fn describe(self, name: &str, value: &str) -> String {
        match self {
            Origin::Flag => format!("--{name} {value}"),
            Origin::DownloadAge => format!("--max-download-age {value}"),
            Origin::Default => format!("default {name} {value}"),
            Origin::Config => format!("cache.global-clean.{name} {value}"),
        }
    }
}

/// Where each age limit came from (size limits only come from flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origins {
    pub index: Origin,
    pub src: Origin,
    pub crate_: Origin,
    pub git_db: Origin,
    pub git_co: Origin,
}

impl Origins {
    fn all(o: Origin) -> Origins {
        Origins {
            index: o,
            src: o,
            crate_: o,
            git_db: o,
            git_co: o,
        }
    }
}

/// The limits of one clean. `None` means "no limit of that kind".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub max_index_age: Option<Span>,
    pub max_src_age: Option<Span>,
    pub max_crate_age: Option<Span>,
    pub max_git_db_age: Option<Span>,
    pub max_git_co_age: Option<Span>,
    pub max_crate_size: Option<u64>,
    pub max_src_size: Option<u64>,
    pub max_git_size: Option<u64>,
    pub max_download_size: Option<u64>,
    /// Where the ages came from (for reasons only; not a limit).
    pub origins: Origins,
}

impl Policy {
    /// What Cargo's automatic clean uses when nothing is configured.
    pub fn auto_defaults() -> Policy {
        Policy {
            max_index_age: Some(DEFAULT_MAX_AGE_DOWNLOADED),
            max_src_age: Some(DEFAULT_MAX_AGE_EXTRACTED),
            max_crate_age: Some(DEFAULT_MAX_AGE_DOWNLOADED),
            max_git_db_age: Some(DEFAULT_MAX_AGE_DOWNLOADED),
            max_git_co_age: Some(DEFAULT_MAX_AGE_EXTRACTED),
            origins: Origins::all(Origin::Default),
            ..Policy::default()
        }
    }

    /// Cargo's automatic-clean ages, overridden by `[cache.global-clean]` in cargo config
    /// (`max-src-age`, `max-crate-age`, `max-index-age`, `max-git-co-age`, `max-git-db-age`).
    /// A malformed value is an error naming the key.
    pub fn from_config(config: &CargoConfig) -> Result<Policy, String> {
        let mut p = Policy::auto_defaults();
        let o = &mut p.origins;
        for (key, slot, origin) in [
            ("max-src-age", &mut p.max_src_age, &mut o.src),
            ("max-crate-age", &mut p.max_crate_age, &mut o.crate_),
            ("max-index-age", &mut p.max_index_age, &mut o.index),
            ("max-git-co-age", &mut p.max_git_co_age, &mut o.git_co),
            ("max-git-db-age", &mut p.max_git_db_age, &mut o.git_db),
        ] {
            if let Some(v) = config.get_str(&["cache", "global-clean", key]) {
                let path = ["cache", "global-clean", key];
                *slot = Some(
                    quantity::parse_span(&v)
                        .map_err(|_| config.invalid(&path, quantity::CONFIG_DURATION, &v))?,
                );
                *origin = Origin::Config;
            }
        }
        Ok(p)
    }

    /// Whether any size limit is set (Cargo then measures missing sizes during its sync).
    pub fn has_size_limit(&self) -> bool {
        self.max_crate_size.is_some()
            || self.max_src_size.is_some()
            || self.max_git_size.is_some()
            || self.max_download_size.is_some()
    }

    /// Whether any limit at all is set.
    pub fn is_empty(&self) -> bool {
        Policy {
            origins: Origins::default(),
            ..*self
        } == Policy::default()
    }

    /// Cargo's `--max-download-age`: every age becomes the smaller of it and what was given.
    pub fn set_max_download_age(&mut self, age: Span) {
        let o = &mut self.origins;
        for (slot, origin) in [
            (&mut self.max_src_age, &mut o.src),
            (&mut self.max_crate_age, &mut o.crate_),
            (&mut self.max_index_age, &mut o.index),
            (&mut self.max_git_co_age, &mut o.git_co),
            (&mut self.max_git_db_age, &mut o.git_db),
        ] {
            if slot.is_none_or(|s| age < s) {
                *origin = Origin::DownloadAge;
            }
            *slot = Some(slot.map_or(age, |s| s.min(age)));
        }
    }
}

/// Cargo's `should_run_auto_gc`: strictly more than the frequency since the last one.
pub fn auto_due(freq: Frequency, last: Option<u64>, now: u64) -> bool {
    match freq {
        Frequency::Never => false,
        Frequency::Always => last.is_none_or(|l| l < now),
        Frequency::Every(span) => last.is_none_or(|l| l.saturating_add(span.secs()) < now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_age_takes_the_minimum() {
        let mut p = Policy {
            max_src_age: Some(Span(10)),
            ..Policy::default()
        };
        p.set_max_download_age(Span(100));
        assert_eq!(p.max_src_age, Some(Span(10)));
        assert_eq!(p.max_crate_age, Some(Span(100)));
        assert_eq!(p.max_git_db_age, Some(Span(100)));
        assert!(!p.has_size_limit());
    }

    #[test]
    fn auto_gc_is_due_strictly_after_the_frequency() {
        let day = Frequency::Every(Span(86_400));
        assert!(!auto_due(day, Some(1000), 1000 + 86_400));
        assert!(auto_due(day, Some(1000), 1000 + 86_401));
        assert!(auto_due(day, None, 5));
        assert!(!auto_due(Frequency::Never, None, 5));
        assert!(!auto_due(Frequency::Always, Some(5), 5));
        assert!(auto_due(Frequency::Always, Some(4), 5));
    }
}
