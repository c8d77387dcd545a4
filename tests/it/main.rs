//! Integration tests: the real cargo, a local registry, our binary.

mod support;

mod gc;
mod locks;
mod removal;
mod status;
mod sweep;
mod trim;
