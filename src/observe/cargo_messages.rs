//! Cargo's JSON messages (`--message-format=json…`), read for what a build used.
//!
//! Cargo prints one JSON object per line on stdout. Two of them name every unit of a build,
//! fresh (`"fresh": true`) or rebuilt:
//! * `compiler-artifact`: a compiled unit (library, binary, test, proc-macro, compiled build
//!   script, doc), with the files it produced in `filenames` (and `executable`). These are
//!   the unit's own outputs (`deps/libfoo-<hash>.rmeta`, `build/<pkg>/<hash>/out/…`) or
//!   the copies uplifted into the profile directory (`target/debug/app`, hard links to the
//!   unit's own files);
//! * `build-script-executed`: a build-script *run*, with its `out_dir`
//!   (`build/<pkg>-<hash>/out` or, in the new layout, `build/<pkg>/<hash>/out`).
//!
//! The layout is Cargo's internal business (it changed in 2026); these messages are what
//! Cargo tells tools to use instead. `build-finished` says whether the build succeeded.
//! Every other line (other messages, a test binary's output under `cargo test`) is passed
//! on by the caller.

use std::path::PathBuf;

/// One line of cargo's stdout, as far as it matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A unit (`compiler-artifact` or `build-script-executed`): its package name and the
    /// paths cargo gave for it.
    Unit {
        package: String,
        paths: Vec<PathBuf>,
    },
    /// `build-finished`, with its `success`.
    Finished { success: bool },
    /// A `compiler-message` with the diagnostic rendered as text (when cargo did not render
    /// it itself).
    Diagnostic { rendered: String },
    /// Another JSON message: nothing to keep.
    Other,
    /// Not a JSON message (the output of a test binary, …): the caller passes it on.
    Text,
}

/// The package name in a package id: `path+file:///ws/app#0.1.0` → `app`,
/// `registry+https://…#alpha@1.0.0` → `alpha`, and the pre-1.77 form
/// `alpha 1.0.0 (registry+https://…)` → `alpha`.
pub fn package_name(id: &str) -> String {
    if let Some((url, frag)) = id.rsplit_once('#') {
        if let Some((name, _version)) = frag.split_once('@') {
            return name.to_string();
        }
        // `#<version>` alone: the name is the URL's last path segment.
        let url = url.split(['?', '#']).next().unwrap_or(url);
        return url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
    }
    id.split_whitespace().next().unwrap_or("").to_string()
}

/// Reads one line of cargo's stdout.
pub fn parse(line: &str) -> Message {
    let line = line.trim_end();
    if !line.starts_with('{') {
        return Message::Text;
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return Message::Text;
    };
    let package = || {
        v.get("package_id")
            .and_then(|p| p.as_str())
            .map(package_name)
            .unwrap_or_default()
    };
    match v.get("reason").and_then(|r| r.as_str()) {
        Some("compiler-artifact") => {
            let mut paths: Vec<PathBuf> = v
                .get("filenames")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .map(PathBuf::from)
                .collect();
            if let Some(exe) = v.get("executable").and_then(|e| e.as_str()) {
                paths.push(PathBuf::from(exe));
            }
            paths.sort();
            paths.dedup();
            Message::Unit {
                package: package(),
                paths,
            }
        }
        Some("build-script-executed") => Message::Unit {
            package: package(),
            paths: v
                .get("out_dir")
                .and_then(|o| o.as_str())
                .map(PathBuf::from)
                .into_iter()
                .collect(),
        },
        Some("build-finished") => Message::Finished {
            success: v.get("success").and_then(|s| s.as_bool()) == Some(true),
        },
        Some("compiler-message") => match v
            .get("message")
            .and_then(|m| m.get("rendered"))
            .and_then(|r| r.as_str())
        {
            Some(r) => Message::Diagnostic {
                rendered: r.to_string(),
            },
            None => Message::Other,
        },
        Some(_) => Message::Other,
        None => Message::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_of_every_form() {
        assert_eq!(package_name("path+file:///tmp/ws/app#0.1.0"), "app");
        assert_eq!(
            package_name("path+file:///tmp/ws/dir#my-app@0.1.0"),
            "my-app"
        );
        assert_eq!(
            package_name("registry+https://github.com/rust-lang/crates.io-index#cfg-if@1.0.0"),
            "cfg-if"
        );
        assert_eq!(
            package_name("git+https://example.com/r.git?branch=main#c0ffee00"),
            "r.git"
        );
        assert_eq!(
            package_name("alpha 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)"),
            "alpha"
        );
    }

    #[test]
    fn real_messages_of_cargo_1_95() {
        // Lines as cargo 1.95 printed them (shortened where nothing is read).
        let art = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/lib#0.1.0","manifest_path":"/w/lib/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"lib","src_path":"/w/lib/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":0,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/w/target/debug/liblib.rlib","/w/target/debug/deps/liblib-1355ca1674b8ef2b.rmeta"],"executable":null,"fresh":true}"#;
        assert_eq!(
            parse(art),
            Message::Unit {
                package: "lib".into(),
                paths: vec![
                    "/w/target/debug/deps/liblib-1355ca1674b8ef2b.rmeta".into(),
                    "/w/target/debug/liblib.rlib".into()
                ]
            }
        );
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/app#0.1.0","filenames":["/w/target/debug/app"],"executable":"/w/target/debug/app","fresh":false}"#;
        assert_eq!(
            parse(bin),
            Message::Unit {
                package: "app".into(),
                paths: vec!["/w/target/debug/app".into()]
            }
        );
        let run = r#"{"reason":"build-script-executed","package_id":"path+file:///w/app#0.1.0","linked_libs":[],"linked_paths":[],"cfgs":[],"env":[],"out_dir":"/w/target/debug/build/app-91a0b120e31eda27/out"}"#;
        assert_eq!(
            parse(run),
            Message::Unit {
                package: "app".into(),
                paths: vec!["/w/target/debug/build/app-91a0b120e31eda27/out".into()]
            }
        );
        assert_eq!(
            parse(r#"{"reason":"build-finished","success":false}"#),
            Message::Finished { success: false }
        );
        assert_eq!(
            parse(r#"{"reason":"build-finished","success":true}"#),
            Message::Finished { success: true }
        );
        assert_eq!(
            parse(r#"{"reason":"compiler-message","message":{"rendered":"error: x\n"}}"#),
            Message::Diagnostic {
                rendered: "error: x\n".into()
            }
        );
        assert_eq!(parse(r#"{"reason":"timing-info","x":1}"#), Message::Other);
        assert_eq!(parse("running 3 tests"), Message::Text);
        assert_eq!(parse("{not json"), Message::Text);
        assert_eq!(parse(r#"{"json": "but no reason"}"#), Message::Text);
    }
}
