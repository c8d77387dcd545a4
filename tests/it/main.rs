//! Integration tests: the real cargo, a local registry, our binary.

mod support;

mod full_disk;
mod gc;
mod hermetic;
mod locks;
mod removal;
mod status;
mod sweep;
mod trim;
mod used_by;
