//! Integration tests: the real cargo, a local registry, our binary.
//!
//! Unix only: they run the machine's cargo and Unix tools (`flock`, `unshare`, signals).
//! On Windows the unit tests run instead (under Wine in CI: `.ci/cross`).
#![cfg(unix)]

mod support;

mod exits;
mod full_disk;
mod gc;
mod hermetic;
mod json_shapes;
mod kill;
mod locks;
mod previews;
mod removal;
mod schedule;
mod snapshots;
mod soak;
mod status;
mod sweep;
mod tidy;
mod trim;
mod used_by;
mod wine;
