//! Platforms where naming lock holders is not implemented yet (macOS, Windows, the BSDs).
//! The commands still compile and say so plainly; probing a lock (is it free?) works
//! everywhere, because it uses the same std `File::try_lock` Cargo uses.

use std::collections::BTreeMap;
use std::io;

use super::{Snapshot, System};

pub struct Unsupported;

impl System for Unsupported {
    fn snapshot(&self, _: &dyn Fn(&std::path::Path) -> bool) -> io::Result<Snapshot> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "naming lock holders is not supported on this platform yet (Linux only)",
        ))
    }

    fn cpu_ticks(&self, _: &[u32]) -> BTreeMap<u32, u64> {
        BTreeMap::new()
    }

    fn signals_ignored(&self, _: u32) -> u64 {
        0
    }

    fn device(&self, dev: u64) -> (u32, u32) {
        ((dev >> 8) as u32, (dev & 0xff) as u32)
    }
}
