//! Writes the record of use ([`crate::observe::use_record`] explains it): atomically, by
//! writing `.janitor-use.json.tmp` and renaming it over `.janitor-use.json`, both through a
//! handle on the target dir and never through a symlink (a symlink at either name is
//! refused: nothing is created where it points).

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use crate::observe::use_record::{FORMAT, NAME, RecordFile, TMP_NAME, VERSION};
use crate::sys::fs::{Dir, FileOptions};

/// Replaces the record of `dir` with `units` (unit hash → last reported use).
pub fn write(dir: &Path, units: HashMap<String, u64>) -> io::Result<()> {
    let d = Dir::open(dir)?;
    match d.remove_file(TMP_NAME) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let text = serde_json::to_vec(&RecordFile {
        format: FORMAT.into(),
        version: VERSION,
        units,
    })
    .map_err(io::Error::other)?;
    let mut f = d.open_file(
        TMP_NAME,
        FileOptions {
            write: true,
            create: true,
        },
    )?;
    f.write_all(&text)?;
    f.sync_all()?;
    drop(f);
    d.rename(TMP_NAME, &d, NAME)
}
