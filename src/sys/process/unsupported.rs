//! Platforms where naming lock holders and stopping processes are not implemented yet
//! (the BSDs and other platforms). Everything compiles and says so plainly; probing a lock
//! (is it free?) works everywhere, because it uses the same std `File::try_lock` Cargo uses,
//! and `run` still runs its command.
//!
//! Linux, macOS (`macos.rs`) and Windows (`windows.rs`) fill the same [`ProcessTable`].

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::{Pinned, ProcId, ProcState, ProcessControl, ProcessTable, Rung, Snapshot};

pub struct Unsupported;

/// The words every refusal here uses.
pub const NOT_YET: &str = "not implemented on this platform yet (Linux, macOS and Windows only)";

impl ProcessTable for Unsupported {
    fn snapshot(&self, _: &dyn Fn(&Path) -> bool) -> io::Result<Snapshot> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("naming lock holders is {NOT_YET}"),
        ))
    }

    fn cpu(&self, _: &[u32]) -> BTreeMap<u32, Duration> {
        BTreeMap::new()
    }

    fn environ(&self, _: u32) -> Option<Vec<(String, String)>> {
        None
    }

    fn ignores(&self, _: u32, _: Rung) -> bool {
        false
    }
}

impl ProcessControl for Unsupported {
    fn rungs(&self) -> &'static [Rung] {
        &[]
    }

    fn pin(&self, _: ProcId) -> Option<Pinned> {
        None
    }

    fn state(&self, _: &Pinned) -> Option<ProcState> {
        None
    }

    fn send(&self, _: &Pinned, _: Rung) -> bool {
        false
    }

    fn send_group(&self, _: &Pinned, _: Rung) -> bool {
        false
    }
}
