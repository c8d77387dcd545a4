//! *sys*: the only code that talks to the operating system.
//!
//! Everything above this module sees portable types; each platform's calls (and every
//! `unsafe` block, each with a `SAFETY` comment) live here, one module per platform where
//! they differ. Nothing outside `src/sys/` uses `libc`, `rustix`, `windows-sys`, `/proc` or
//! `unsafe`.
//!
//! [`fs`]: directory handles that never follow a symlink, for walking, removing and locking.

pub mod fs;
#[cfg(unix)]
pub mod probe;
#[cfg(unix)]
pub mod process;
