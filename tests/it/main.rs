//! Integration tests: the real cargo, a local registry, our binary.

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
mod snapshots;
mod soak;
mod status;
mod sweep;
mod trim;
mod used_by;
