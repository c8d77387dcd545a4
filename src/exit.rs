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
/// `wait` or `run --timeout`: the lock was still held when the time ran out.
pub const TIMED_OUT: i32 = 4;
/// `stop`: refused (not a lock holder or waiter, PID 1, another user's process, an editor,
/// or a pid that now names another process), or the holder survived.
pub const NOT_STOPPED: i32 = 5;

/// An error caused by what the user typed. It maps to [`BAD_INPUT`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);
