//! *Cargo's names*: what Cargo calls things, with no I/O. [`locks`] is the vocabulary of its
//! lock files and of its "Blocking waiting for file lock on …" messages, for every version.

pub mod locks;

/// Whether a program (a file name, as [`crate::sys::process::ProcInfo::program`] gives it)
/// is cargo itself (`cargo`, `cargo.exe`, a rustup proxy named so).
pub fn is_cargo(program: &str) -> bool {
    let p = program.strip_suffix(".exe").unwrap_or(program);
    p == "cargo"
}

#[cfg(test)]
mod tests {
    #[test]
    fn cargo_by_name() {
        assert!(super::is_cargo("cargo"));
        assert!(super::is_cargo("cargo.exe"));
        assert!(!super::is_cargo("cargo-janitor"));
        assert!(!super::is_cargo("rustc"));
    }
}
