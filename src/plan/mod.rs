//! *Plan*: pure functions from facts and policy to what to report or delete.
//!
//! Nothing in here touches the filesystem, the database or the clock: every input is a value
//! (an inventory, a policy, `now`), so every rule is unit-tested without a disk. The executor
//! in [`crate::act`] carries a [`Plan`] out; the dry run prints the same [`Plan`].

pub mod clean;
pub mod grace;
pub mod locks;
pub mod policy;
pub mod schedule;
pub mod status;
pub mod stop;
pub mod sweep;
pub mod sync;
pub mod tidy;
pub mod trim;
pub mod used_by;

use std::path::PathBuf;

use serde::Serialize;

/// What one planned removal is, for reports and for the database update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemKind {
    /// `registry/index/<reg>`.
    RegistryIndex,
    /// `registry/cache/<reg>/<pkg>-<ver>.crate`.
    RegistryCrate,
    /// `registry/src/<reg>/<pkg>-<ver>`.
    RegistrySrc,
    /// `registry/cache/<reg>` as a whole (its index went away).
    RegistryCacheDir,
    /// `registry/src/<reg>` as a whole (its index went away).
    RegistrySrcDir,
    /// `git/db/<repo>`.
    GitDb,
    /// `git/checkouts/<repo>/<rev>`.
    GitCheckout,
    /// `git/checkouts/<repo>` as a whole (its database went away).
    GitCheckoutsDir,
    /// A path of a target-dir unit (fingerprint, `deps/` files, `build/` dirs, uplifted links).
    Unit,
    /// `<profile>/incremental/<crate>-<hash>`.
    Incremental,
    /// Part of a whole target directory (`sweep --all`).
    TargetDir,
    /// `registry/index/<reg>/.cache/…/<name>`: one package's cached index entry.
    IndexEntry,
}

impl ItemKind {
    /// The kind's name in JSON (kebab-case), as every command writes it.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::RegistryIndex => "registry-index",
            ItemKind::RegistryCrate => "registry-crate",
            ItemKind::RegistrySrc => "registry-src",
            ItemKind::RegistryCacheDir => "registry-cache-dir",
            ItemKind::RegistrySrcDir => "registry-src-dir",
            ItemKind::GitDb => "git-db",
            ItemKind::GitCheckout => "git-checkout",
            ItemKind::GitCheckoutsDir => "git-checkouts-dir",
            ItemKind::Unit => "unit",
            ItemKind::Incremental => "incremental",
            ItemKind::TargetDir => "target-dir",
            ItemKind::IndexEntry => "index-entry",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ItemKind::RegistryIndex => "registry index",
            ItemKind::RegistryCrate => ".crate archive",
            ItemKind::RegistrySrc => "extracted source",
            ItemKind::RegistryCacheDir => ".crate archives of a registry",
            ItemKind::RegistrySrcDir => "extracted sources of a registry",
            ItemKind::GitDb => "git database",
            ItemKind::GitCheckout => "git checkout",
            ItemKind::GitCheckoutsDir => "git checkouts of a repository",
            ItemKind::Unit => "build unit",
            ItemKind::Incremental => "incremental cache",
            ItemKind::TargetDir => "target directory",
            ItemKind::IndexEntry => "index cache entry",
        }
    }
}

/// The `.global-cache` row a removal takes with it (child rows of a removed parent go with
/// Cargo's `ON DELETE CASCADE`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Row {
    None,
    RegistryIndex { name: String },
    RegistryCrate { registry: String, name: String },
    RegistrySrc { registry: String, name: String },
    GitDb { name: String },
    GitCheckout { db: String, name: String },
}

/// One path to remove, as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanItem {
    pub path: PathBuf,
    pub kind: ItemKind,
    /// Apparent bytes (what Cargo counts).
    pub bytes: u64,
    /// Bytes on disk, when they were measured.
    pub disk_bytes: Option<u64>,
    pub reason: String,
    pub row: Row,
    /// Remove only if the item before it was removed (the rest of a unit whose fingerprint
    /// could not be moved away stays, so Cargo's view of the unit stays whole).
    pub after_previous: bool,
}

/// An ordered list of removals. Order matters: it is the order Cargo removes in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<PlanItem>,
}

impl Plan {
    pub fn bytes(&self) -> u64 {
        self.items.iter().map(|i| i.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::ItemKind;

    #[test]
    fn kind_names_are_what_json_says() {
        use ItemKind::*;
        for k in [
            RegistryIndex,
            RegistryCrate,
            RegistrySrc,
            RegistryCacheDir,
            RegistrySrcDir,
            GitDb,
            GitCheckout,
            GitCheckoutsDir,
            Unit,
            Incremental,
            TargetDir,
            IndexEntry,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }
}
