//! The one portable fact about the filesystem holding a path ([`Filesystem`]): which one it
//! is, its size and free space, whether reading a file moves its access time, and whether it
//! is a network (or user-space) filesystem, where Cargo's locks mean nothing.
//!
//! Cargo itself does not lock on NFS (`is_on_nfs_mount` in its `flock.rs`): a `flock` there
//! may not reach the other machines using the same cache, so nothing we hold keeps their
//! builds from our removals. Destructive commands therefore refuse such a cache unless told
//! (`--force-network-fs`). SMB/CIFS, 9p, AFS, Ceph and FUSE (sshfs and friends) are refused
//! alike: their locks are just as uncertain.
//!
//! How each system tells the kind (each OS module's `filesystem`; the naming here is pure and
//! tested on every platform):
//!
//! * Linux: `statfs`'s `f_type` magic number ([`network_by_magic`]); `ST_NOATIME` from
//!   `statvfs`.
//! * macOS and FreeBSD: `statfs`'s `f_fstypename` (`nfs`, `smbfs`, `macfuse`, …,
//!   [`network_by_name`]); `MNT_NOATIME` from `f_flags`.
//! * Windows: `GetDriveTypeW` of the volume (`DRIVE_REMOTE`) and the file system name
//!   `GetVolumeInformationW` reports ([`network_on_windows`]); NTFS last-access times are
//!   treated as absent.
//!
//! # The test hook
//!
//! No network mount can be made where the integration tests run (NFS and 9p need root; FUSE
//! needs `/dev/fuse`, which only root may open there), so those tests fake one:
//! `__CARGO_JANITOR_TEST_NETWORK_FS=<path>[:<path>…]` makes a path at or under one of those
//! read as `nfs` (as Cargo's tests set `__CARGO_TEST_LAST_USE_NOW`). It is read here, in
//! [`facts`], and nowhere else, so the whole command (refusal, message, nothing removed) runs
//! as on a real mount. Unix only; not for users.

use std::io;
use std::path::Path;

/// The facts of one filesystem, as seen from a path on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    /// Equal for two paths on the same filesystem (the device number; the volume serial
    /// number on Windows).
    pub device: u64,
    /// Size and space available to an unprivileged user, in bytes.
    pub size_bytes: u64,
    pub free_bytes: u64,
    /// Reading a file moves its access time (true under Linux's `relatime` and
    /// `strictatime`; false on a `noatime` mount, and on Windows, where NTFS keeps
    /// last-access times only when configured to and then only to the hour).
    pub keeps_atime: bool,
    /// The network filesystem's kind (`nfs`, `smb`, `9p`, `fuse`, …), or `None` when local.
    pub network: Option<&'static str>,
}

/// The network filesystem a Linux `statfs` magic number names, if it is one.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub fn network_by_magic(magic: u32) -> Option<&'static str> {
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

/// The network filesystem a file system type name names (macOS's and FreeBSD's
/// `f_fstypename`, Windows' `GetVolumeInformationW`), if it is one. Case does not matter.
#[cfg_attr(
    not(any(target_os = "macos", target_os = "ios", target_os = "freebsd", windows)),
    allow(dead_code)
)]
pub fn network_by_name(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "nfs" | "nfs4" => "nfs",
        "smbfs" | "smb" => "smb",
        "cifs" => "cifs",
        "afpfs" => "afp",
        "webdav" => "webdav",
        "ftp" => "ftp",
        "9p" => "9p",
        "afs" => "afs",
        "ceph" | "cephfs" => "ceph",
        _ if n.contains("fuse") || n == "osxfuse" => "fuse",
        _ => return None,
    })
}

/// Windows: a volume of drive type `DRIVE_REMOTE` is a network filesystem, named by its file
/// system name when that is known, else `remote`; other drive types are local.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn network_on_windows(remote: bool, fs_name: &str) -> Option<&'static str> {
    remote.then(|| network_by_name(fs_name).unwrap_or("remote"))
}

#[cfg(unix)]
fn faked_network(path: &Path) -> bool {
    std::env::var_os("__CARGO_JANITOR_TEST_NETWORK_FS").is_some_and(|v| {
        std::env::split_paths(&v).any(|p| !p.as_os_str().is_empty() && path.starts_with(&p))
    })
}

#[cfg(not(unix))]
fn faked_network(_path: &Path) -> bool {
    false
}

/// The facts of the filesystem holding `path` (followed if it is a symlink: the root the user
/// named).
pub fn facts(path: &Path) -> io::Result<Filesystem> {
    let mut f = super::imp::filesystem(path)?;
    if faked_network(path) {
        f.network = Some("nfs");
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_magics_are_named_and_local_ones_are_not() {
        assert_eq!(network_by_magic(0x6969), Some("nfs"));
        assert_eq!(network_by_magic(0xFF53_4D42), Some("cifs"));
        assert_eq!(network_by_magic(0x0102_1997), Some("9p"));
        assert_eq!(network_by_magic(0x6573_5546), Some("fuse"));
        // ext4, tmpfs, btrfs, xfs, overlayfs.
        for local in [0xEF53, 0x0102_1994, 0x9123_683E, 0x5846_5342, 0x794C_7630] {
            assert_eq!(network_by_magic(local), None, "{local:#x}");
        }
    }

    #[test]
    fn network_type_names_are_named_and_local_ones_are_not() {
        // macOS's and FreeBSD's f_fstypename.
        assert_eq!(network_by_name("nfs"), Some("nfs"));
        assert_eq!(network_by_name("smbfs"), Some("smb"));
        assert_eq!(network_by_name("macfuse"), Some("fuse"));
        assert_eq!(network_by_name("fusefs.sshfs"), Some("fuse"));
        assert_eq!(network_by_name("webdav"), Some("webdav"));
        for local in [
            "apfs", "hfs", "ufs", "zfs", "tmpfs", "msdos", "exfat", "devfs",
        ] {
            assert_eq!(network_by_name(local), None, "{local}");
        }
        // Windows' file system names.
        assert_eq!(network_on_windows(true, "NFS"), Some("nfs"));
        assert_eq!(network_on_windows(true, "NTFS"), Some("remote"));
        assert_eq!(network_on_windows(false, "NTFS"), None);
        assert_eq!(network_on_windows(false, "ReFS"), None);
    }

    #[test]
    fn facts_of_a_local_directory() {
        let dir = tempfile::tempdir().unwrap();
        let f = facts(dir.path()).unwrap();
        assert!(f.size_bytes >= f.free_bytes);
        assert!(f.size_bytes > 0);
        assert_eq!(f.network, None);
        let again = facts(&dir.path().join(".")).unwrap();
        assert_eq!(again.device, f.device);
    }
}
