//! Exit codes, documented in the README.

/// Success.
pub const OK: i32 = 0;
/// The command failed (an I/O error, a database error, …).
pub const FAILURE: i32 = 1;
/// Bad input: an unknown flag, a malformed duration or size, a path that is not a Cargo home.
/// Nothing was changed.
pub const BAD_INPUT: i32 = 2;
/// A Cargo lock was busy and `--no-wait` was given. Nothing was changed.
pub const LOCK_BUSY: i32 = 3;

/// An error caused by what the user typed. It maps to [`BAD_INPUT`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);
