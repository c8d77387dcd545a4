//! Caches on network filesystems: destructive commands refuse them unless
//! `--force-network-fs`, and `status` and `locks` say so (see [`crate::sys::fs::kind`]).

use std::path::Path;

use anyhow::Result;

use crate::exit::BadInput;
use crate::report::Output;
use crate::sys::fs::{Filesystem, kind};

/// Refuses caches on a network filesystem unless `force` (see [`kind`]): a clear error naming
/// the path, the filesystem and the flag. A path whose filesystem cannot be read is not
/// refused here (what reads it next reports the problem).
pub fn refuse(paths: &[&Path], force: bool, flag_for: &str) -> Result<()> {
    refuse_with(paths, force, flag_for, &kind::facts)
}

/// [`refuse`] with the filesystem facts from `facts` (the sys layer's, or a test's fakes).
fn refuse_with(
    paths: &[&Path],
    force: bool,
    flag_for: &str,
    facts: &dyn Fn(&Path) -> std::io::Result<Filesystem>,
) -> Result<()> {
    if force {
        return Ok(());
    }
    for p in paths {
        if let Ok(f) = facts(p)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Fake facts: paths under `/mnt/<kind>` are on that network filesystem (as each OS's
    /// facts name them: Linux's `nfs` and `9p`, macOS's `smb`, Windows' `remote`), others
    /// local; `/gone` cannot be read.
    fn fake(p: &Path) -> std::io::Result<Filesystem> {
        if p.starts_with("/gone") {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        let network = ["nfs", "9p", "smb", "fuse", "remote"]
            .into_iter()
            .find(|k| p.starts_with(PathBuf::from("/mnt").join(k)));
        Ok(Filesystem {
            device: 1,
            size_bytes: 1 << 30,
            free_bytes: 1 << 29,
            keeps_atime: true,
            network,
        })
    }

    #[test]
    fn a_cache_on_a_network_filesystem_is_refused_naming_it_the_kind_and_the_flag() {
        for kind in ["nfs", "9p", "smb", "fuse", "remote"] {
            let home = PathBuf::from(format!("/mnt/{kind}/me/.cargo"));
            let target = Path::new("/home/me/app/target");
            let e = refuse_with(&[target, &home], false, "tidy", &fake).unwrap_err();
            assert!(e.chain().any(|c| c.is::<BadInput>()), "exit 2");
            assert_eq!(
                e.to_string(),
                format!(
                    "`{}` is on a network filesystem ({kind}): Cargo's locks do not reach the \
                     other machines using it, so nothing here can be removed safely; nothing \
                     was removed. Pass --force-network-fs to tidy if only this machine uses it",
                    home.display()
                )
            );
            refuse_with(&[target, &home], true, "tidy", &fake).unwrap();
        }
    }

    #[test]
    fn local_and_unreadable_filesystems_are_not_refused_here() {
        let paths = [Path::new("/home/me/.cargo"), Path::new("/gone/target")];
        refuse_with(&paths, false, "sweep", &fake).unwrap();
    }
}
