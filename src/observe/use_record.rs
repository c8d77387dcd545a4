//! The record of use: when each unit of a target dir was last reported used by a
//! `--used-by` command (`sweep`, `trim`). Read here; written by [`crate::act::use_record`].
//!
//! # Why a record
//!
//! `sweep --max-age` otherwise reads atimes, a signal that is absent on `noatime` mounts and
//! on most Windows volumes and that every reader of the tree moves (a CI cache restore, `cp
//! -a`, `grep -r`, an indexer). What Cargo reported with `--message-format=json` is exact:
//! kept, it gives `--max-age` a last use that nothing but a build moves.
//!
//! # Format and place
//!
//! `<target dir>/.janitor-use.json`, next to `CACHEDIR.TAG`, so that `cargo clean` (which
//! removes the whole directory) removes it too, and `sweep --all` keeps it (it empties
//! everything but `CACHEDIR.TAG`, the lock files and this record). One JSON object:
//! `{"format": "cargo-janitor use record", "version": 1, "units": {"<unit hash>": <unix
//! seconds>, …}}`: the unit hash is the 16 hex digits of its fingerprint directory (unique
//! within a target dir: it covers the profile and the target), the time is when a command
//! last reported it (Cargo's clock: `__CARGO_TEST_LAST_USE_NOW` applies). A few dozen bytes
//! a unit.
//!
//! # Tolerance
//!
//! A missing record is no record. One that cannot be read, is not this JSON, or is a
//! symlink (never followed) is ignored with a warning, never failing a sweep, and is replaced
//! by the next `--used-by` run. A record of a newer version is ignored with a warning and
//! left as it is (its writer may know more).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The record's file name, directly in the target (or build) dir.
pub const NAME: &str = ".janitor-use.json";
/// The name it is written under before the rename that makes it the record.
pub const TMP_NAME: &str = ".janitor-use.json.tmp";
/// What the `format` field says.
pub const FORMAT: &str = "cargo-janitor use record";
/// The version this build reads and writes.
pub const VERSION: u64 = 1;
/// Larger files are not read (ignored with a warning): a unit takes a few dozen bytes.
pub const MAX_BYTES: u64 = 16 << 20;

/// The record as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFile {
    pub format: String,
    pub version: u64,
    pub units: HashMap<String, u64>,
}

/// What reading a target dir's record found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reading {
    /// No record there.
    Missing,
    /// Unit hash → last reported use (unix seconds).
    Found(HashMap<String, u64>),
    /// A record that is ignored (why, for a warning); `newer` when a newer version wrote it
    /// (then it is not overwritten either).
    Ignored { why: String, newer: bool },
}

/// Parses a record's text.
pub fn parse(text: &[u8]) -> Reading {
    let v: serde_json::Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            return Reading::Ignored {
                why: format!("it is not valid JSON ({e})"),
                newer: false,
            };
        }
    };
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Reading::Ignored {
            why: format!("it is not a {FORMAT}"),
            newer: false,
        };
    }
    match v.get("version").and_then(|n| n.as_u64()) {
        Some(VERSION) => {}
        Some(n) if n > VERSION => {
            return Reading::Ignored {
                why: format!(
                    "it is of version {n}, newer than this cargo-janitor's ({VERSION}); it is left as it is"
                ),
                newer: true,
            };
        }
        _ => {
            return Reading::Ignored {
                why: "it has no version this cargo-janitor knows".into(),
                newer: false,
            };
        }
    }
    match serde_json::from_value::<RecordFile>(v) {
        Ok(r) => Reading::Found(
            r.units
                .into_iter()
                .filter(|(h, _)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect(),
        ),
        Err(e) => Reading::Ignored {
            why: format!("its units are not unit hashes with times ({e})"),
            newer: false,
        },
    }
}

/// Reads the record of the target dir `dir`, opened without following a symlink.
pub fn read(dir: &Path) -> Reading {
    let ignored = |why: String| Reading::Ignored { why, newer: false };
    let d = match crate::sys::fs::Dir::open(dir) {
        Ok(d) => d,
        Err(e) => return ignored(format!("its directory cannot be opened ({e})")),
    };
    let mut f = match d.open_file(NAME, crate::sys::fs::FileOptions::default()) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Reading::Missing,
        Err(e) => return ignored(format!("it cannot be opened ({e})")),
    };
    let mut text = Vec::new();
    match (&mut f).take(MAX_BYTES + 1).read_to_end(&mut text) {
        Ok(_) if text.len() as u64 > MAX_BYTES => {
            ignored(format!("it is larger than {MAX_BYTES} bytes"))
        }
        Ok(_) => parse(&text),
        Err(e) => ignored(format!("it cannot be read ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_this_version_and_tolerates_the_rest() {
        let ok = br#"{"format":"cargo-janitor use record","version":1,"units":{"1355ca1674b8ef2b":1767225600,"bad":1}}"#;
        assert_eq!(
            parse(ok),
            Reading::Found([("1355ca1674b8ef2b".to_string(), 1_767_225_600)].into())
        );
        assert!(matches!(
            parse(b"\0\0garbage"),
            Reading::Ignored { newer: false, .. }
        ));
        assert!(matches!(
            parse(b"{}"),
            Reading::Ignored { newer: false, .. }
        ));
        assert!(matches!(
            parse(br#"{"format":"cargo-janitor use record","version":2,"units":[]}"#),
            Reading::Ignored { newer: true, .. }
        ));
        assert!(matches!(
            parse(br#"{"format":"cargo-janitor use record","version":1,"units":{"1355ca1674b8ef2b":-1}}"#),
            Reading::Ignored { newer: false, .. }
        ));
        // Unknown extra fields are fine.
        assert!(matches!(
            parse(br#"{"format":"cargo-janitor use record","version":1,"units":{},"extra":true}"#),
            Reading::Found(_)
        ));
    }
}
