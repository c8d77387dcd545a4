//! *sys*: the only code that talks to the operating system.
//!
//! Everything above this module sees portable types; each platform's calls (and every
//! `unsafe` block, each with a `SAFETY` comment) live here, one module per platform where
//! they differ. Nothing outside `src/sys/` uses `libc`, `rustix`, `windows-sys`, `/proc` or
//! `unsafe`.
//!
//! [`fs`]: directory handles that never follow a symlink, for walking, removing and locking.
//! [`process`]: processes, their use of Cargo's lock files, and stopping them.
//! [`probe`]: opening a lock file to probe it.
//! [`sqlite`]: which file SQLite opened (Windows, where it follows links).

pub mod fs;
pub mod probe;
pub mod process;
pub mod sqlite;
