//! Facts about the filesystem holding a path: which one it is, its size and free space, and
//! whether it is a network (or FUSE) filesystem, where Cargo's locks mean nothing.
//!
//! Cargo itself does not lock on NFS (`is_on_nfs_mount` in its `flock.rs`): a `flock` there
//! may not reach the other machines using the same cache, so nothing we hold keeps their
//! builds from our removals. Destructive commands therefore refuse such a cache unless told
//! (`--force-network-fs`). SMB/CIFS, 9p and FUSE (sshfs and friends) are refused alike: their
//! locks are just as uncertain.
//!
//! Linux tells the kind by `statfs`'s `f_type`; other systems are not classified yet (every
//! filesystem there reads as local). Tests fake a network mount with
//! `__CARGO_JANITOR_TEST_NETWORK_FS=<path>[:<path>…]`: a path at or under one of those reads
//! as `nfs` (as Cargo's tests set `__CARGO_TEST_LAST_USE_NOW`).

use std::io;
use std::path::Path;

/// The facts of one filesystem, as seen from a path on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsFacts {
    /// The device number of the path: equal for two paths on the same filesystem.
    pub device: u64,
    /// Size and space available to an unprivileged user, in bytes.
    pub size_bytes: u64,
    pub free_bytes: u64,
    /// The network filesystem's kind (`nfs`, `smb`, `9p`, `fuse`, …), or `None` when local
    /// (or unknown).
    pub network: Option<&'static str>,
}

/// The network filesystem a Linux `statfs` magic number names, if it is one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn network_kind(magic: u32) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "nfs",
        0x517B => "smb",
        0xFF53_4D42 => "cifs",
        0xFE53_4D42 => "smb2",
        0x0102_1997 => "9p",
        0x6573_5546 => "fuse",
        0x00C3_6400 => "ceph",
        0x5346_414F => "afs",
        0x7375_7245 => "coda",
        0x564C => "ncp",
        0x0BD0_0BD0 => "lustre",
        0x4750_4653 => "gpfs",
        _ => return None,
    })
}

#[cfg(unix)]
fn faked_network(path: &Path) -> bool {
    std::env::var_os("__CARGO_JANITOR_TEST_NETWORK_FS").is_some_and(|v| {
        std::env::split_paths(&v).any(|p| !p.as_os_str().is_empty() && path.starts_with(&p))
    })
}

/// The facts of the filesystem holding `path` (followed if it is a symlink: the root the user
/// named).
#[cfg(unix)]
pub fn facts(path: &Path) -> io::Result<FsFacts> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::metadata(path)?.dev();
    let v = rustix::fs::statvfs(path)?;
    let block = if v.f_frsize > 0 {
        v.f_frsize
    } else {
        v.f_bsize
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[allow(clippy::unnecessary_cast)]
    let network = network_kind(rustix::fs::statfs(path)?.f_type as u32);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let network = None;
    Ok(FsFacts {
        device,
        size_bytes: v.f_blocks.saturating_mul(block),
        free_bytes: v.f_bavail.saturating_mul(block),
        network: if faked_network(path) {
            Some("nfs")
        } else {
            network
        },
    })
}

/// Not known here yet: every call fails with `Unsupported`.
#[cfg(not(unix))]
pub fn facts(_path: &Path) -> io::Result<FsFacts> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "filesystem facts are not available on this platform yet",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_magics_are_named_and_local_ones_are_not() {
        assert_eq!(network_kind(0x6969), Some("nfs"));
        assert_eq!(network_kind(0xFF53_4D42), Some("cifs"));
        assert_eq!(network_kind(0x0102_1997), Some("9p"));
        assert_eq!(network_kind(0x6573_5546), Some("fuse"));
        // ext4, tmpfs, btrfs, xfs, overlayfs.
        for local in [0xEF53, 0x0102_1994, 0x9123_683E, 0x5846_5342, 0x794C_7630] {
            assert_eq!(network_kind(local), None, "{local:#x}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn facts_of_a_local_directory() {
        let dir = tempfile::tempdir().unwrap();
        let f = facts(dir.path()).unwrap();
        assert!(f.size_bytes >= f.free_bytes);
        assert!(f.size_bytes > 0);
        let again = facts(&dir.path().join(".")).unwrap();
        assert_eq!(again.device, f.device);
    }
}
