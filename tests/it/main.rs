//! Integration tests: the real cargo, a local registry, our binary.

mod support;

mod exits;
mod full_disk;
mod gc;
mod hermetic;
mod kill;
mod locks;
mod removal;
mod schedule;
mod soak;
mod status;
mod sweep;
mod tidy;
mod trim;
mod used_by;
