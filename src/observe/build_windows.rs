//! When each unit was last built: from the moment Cargo marked its compilation started to
//! the moment it wrote the unit's fingerprint, read from the file times in the unit's
//! fingerprint directory (`invoked.timestamp`, `dep-*`, the hash files). Used to tie an
//! incremental session, whose start time rustc writes in its name, to the unit it was made
//! for ([`crate::plan::used_by`]). Only `stat`s: nothing read moves an atime.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use super::target_dir::TargetDir;

/// Unit hash → (earliest, latest) modification time in its fingerprint directory, in
/// microseconds since the epoch. Units whose fingerprint cannot be listed are left out.
pub fn of(td: &TargetDir) -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for u in &td.units {
        let Ok(rd) = std::fs::read_dir(&u.fingerprint) else {
            continue;
        };
        let times: Vec<u64> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let m = e.path().symlink_metadata().ok()?;
                if !m.is_file() {
                    return None;
                }
                let t = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
                u64::try_from(t.as_micros()).ok()
            })
            .collect();
        if let (Some(&from), Some(&to)) = (times.iter().min(), times.iter().max()) {
            out.insert(u.hash.clone(), (from, to));
        }
    }
    out
}
