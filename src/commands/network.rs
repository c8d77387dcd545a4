//! Caches on network filesystems: destructive commands refuse them unless
//! `--force-network-fs`, and `status` and `locks` say so (see [`crate::sys::fs::kind`]).

use std::path::Path;

use anyhow::Result;

use crate::exit::BadInput;
use crate::report::Output;
use crate::sys::fs::kind;

/// Refuses caches on a network filesystem unless `force` (see [`kind`]): a clear error naming
/// the path, the filesystem and the flag. A path whose filesystem cannot be read is not
/// refused here (what reads it next reports the problem).
pub fn refuse(paths: &[&Path], force: bool, flag_for: &str) -> Result<()> {
    if force {
        return Ok(());
    }
    for p in paths {
        if let Ok(f) = kind::facts(p)
            && let Some(k) = f.network
        {
            return Err(BadInput(format!(
                "`{}` is on a network filesystem ({k}): Cargo's locks do not reach the other \
                 machines using it, so nothing here can be removed safely; nothing was removed. \
                 Pass --force-network-fs to {flag_for} if only this machine uses it",
                p.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Warns (for `status` and `locks`) when `path` is on a network filesystem.
pub fn note(path: &Path, out: &Output) {
    if let Ok(f) = kind::facts(path)
        && let Some(k) = f.network
    {
        out.warn(format!(
            "`{}` is on a network filesystem ({k}): Cargo does not lock there, and gc, sweep, \
             trim and tidy refuse it unless --force-network-fs",
            path.display()
        ));
    }
}
