//! *Act*: the one place that changes anything.
//!
//! [`lock`] takes Cargo's own locks in Cargo's order, [`db`] writes `.global-cache` the way
//! Cargo does (its schema, its migrations, short transactions), and [`remove`] deletes whole
//! units inside a Cargo home or target dir on directory handles ([`crate::sys::fs`]: nothing
//! followed, no path resolved twice), so that a SIGKILL at any instant leaves a cache Cargo
//! uses without error and no race reaches outside the root. Lock files and `.global-cache` are
//! opened the same way, never through a symlink. [`executor`] puts them together for a
//! [`crate::plan::Plan`].

pub mod db;
pub mod executor;
pub mod lock;
pub mod remove;
pub mod stop;
pub mod target;
pub mod use_record;
