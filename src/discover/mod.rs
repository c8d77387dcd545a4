//! *Discover*: where things are.
//!
//! CARGO_HOME as Cargo resolves it, the cargo config files that apply, and the registry and
//! git URLs whose directory names Cargo derives by hashing. Nothing here reads cache contents
//! or sizes; that is [`crate::observe`].

pub mod cargo_home;
pub mod config;
pub mod known;
pub mod lockfile;
pub mod paths;
pub mod policy;
pub mod registry;
pub mod target;

pub use cargo_home::CargoHome;
pub use config::CargoConfig;
pub use registry::RegistryNames;
