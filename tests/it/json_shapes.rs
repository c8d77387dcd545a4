//! Every command's `--json` against the shapes written in `docs/json.md`: every key the page
//! lists is there (unless marked optional), no key is undocumented, every value has the
//! documented type, and every `kind` is one of the documented kinds.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::*;

/// The page, read from the repository.
fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap()
}

/// The ```` ```json shape:NAME ```` blocks of the page, parsed.
fn shapes(doc: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("```json shape:") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let shape = serde_json::from_str(&body.join("\n"))
            .unwrap_or_else(|e| panic!("shape {name} is not JSON: {e}"));
        out.insert(name.trim().to_owned(), shape);
    }
    out
}

/// The first column of the table under `heading` (each row's `` `name` ``).
fn kinds(doc: &str) -> BTreeSet<String> {
    let table = doc.split("## Kinds").nth(1).unwrap();
    table
        .lines()
        .skip_while(|l| !l.starts_with("| kind"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('`').nth(1).unwrap().to_owned())
        .collect()
}

/// The lock kinds named in the paragraph after the kinds table.
fn lock_kinds(doc: &str) -> BTreeSet<String> {
    let para = doc
        .split("Lock kinds (`locks`) are another set")
        .nth(1)
        .unwrap();
    let para = para.split("(see").next().unwrap();
    para.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| *w != "locks")
        .map(str::to_owned)
        .collect()
}

struct Checker<'a> {
    shapes: &'a BTreeMap<String, Value>,
    kinds: BTreeSet<String>,
    lock_kinds: BTreeSet<String>,
    errors: Vec<String>,
    /// Every `kind` seen, for the callers' own checks.
    seen_kinds: BTreeSet<String>,
}

impl Checker<'_> {
    fn check(&mut self, at: &str, shape: &Value, v: &Value) {
        match shape {
            Value::String(t) if t.starts_with('$') => {
                let s = self.shapes[&t[1..]].clone();
                self.check(at, &s, v);
            }
            Value::String(t) => self.leaf(at, t, v),
            Value::Array(elem) => {
                assert_eq!(elem.len(), 1, "{at}: an array shape has one element");
                match v.as_array() {
                    Some(items) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check(&format!("{at}[{i}]"), &elem[0], item);
                        }
                    }
                    None => self
                        .errors
                        .push(format!("{at}: expected an array, got {v}")),
                }
            }
            Value::Object(fields) if fields.contains_key("$nullable") => {
                if !v.is_null() {
                    self.check(at, &fields["$nullable"], v);
                }
            }
            Value::Object(fields) => {
                let Some(obj) = v.as_object() else {
                    self.errors
                        .push(format!("{at}: expected an object, got {v}"));
                    return;
                };
                for (key, s) in fields {
                    let (name, optional) = match key.strip_suffix('?') {
                        Some(n) => (n, true),
                        None => (key.as_str(), false),
                    };
                    match obj.get(name) {
                        Some(x) => self.check(&format!("{at}.{name}"), s, x),
                        None if optional => {}
                        None => self.errors.push(format!("{at}.{name}: missing")),
                    }
                }
                for key in obj.keys() {
                    if !fields.contains_key(key) && !fields.contains_key(&format!("{key}?")) {
                        self.errors.push(format!("{at}.{key}: not documented"));
                    }
                }
            }
            other => panic!("{at}: not a shape: {other}"),
        }
    }

    fn leaf(&mut self, at: &str, t: &str, v: &Value) {
        let (t, nullable) = match t.strip_suffix('?') {
            Some(t) => (t, true),
            None => (t, false),
        };
        if v.is_null() {
            if !nullable {
                self.errors.push(format!("{at}: null, documented as {t}"));
            }
            return;
        }
        let ok = match t {
            "bool" => v.is_boolean(),
            "u64" => v.is_u64(),
            "i64" => v.is_i64(),
            "f64" => v.is_number(),
            "string" => v.is_string(),
            "path" => v.as_str().is_some_and(|p| p.starts_with('/')),
            "kind" => {
                let k = v.as_str().unwrap_or_default();
                self.seen_kinds.insert(k.to_owned());
                self.kinds.contains(k)
            }
            "lock-kind" => v.as_str().is_some_and(|k| self.lock_kinds.contains(k)),
            _ => match t.strip_prefix("enum:") {
                Some(list) => v.as_str().is_some_and(|s| list.split('|').any(|x| x == s)),
                None => panic!("{at}: unknown type {t}"),
            },
        };
        if !ok {
            self.errors.push(format!("{at}: {v} is not a {t}"));
        }
    }
}

/// Checks `v` against the shape called `name`, and returns the kinds it used.
fn assert_shape(name: &str, v: &Value) -> BTreeSet<String> {
    let doc = doc();
    let shapes = shapes(&doc);
    let mut c = Checker {
        shapes: &shapes,
        kinds: kinds(&doc),
        lock_kinds: lock_kinds(&doc),
        errors: Vec::new(),
        seen_kinds: BTreeSet::new(),
    };
    let shape = shapes
        .get(name)
        .unwrap_or_else(|| panic!("docs/json.md has no shape {name}"));
    c.check(name, shape, v);
    assert!(
        c.errors.is_empty(),
        "`{name} --json` does not match docs/json.md:\n  {}\n{v:#}",
        c.errors.join("\n  ")
    );
    c.seen_kinds
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn the_page_lists_every_kind_and_every_shape() {
    let doc = doc();
    let shapes = shapes(&doc);
    assert_eq!(
        shapes.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "gc", "grace", "locks", "schedule", "status", "sweep", "tidy", "trim"
        ]
    );
    let k = kinds(&doc);
    for name in [
        "registry-index",
        "registry-crate",
        "registry-src",
        "registry-cache-dir",
        "registry-src-dir",
        "index-entry",
        "git-db",
        "git-checkout",
        "git-checkouts-dir",
        "unit",
        "incremental",
        "target-dir",
        "bin",
        "other",
    ] {
        assert!(k.contains(name), "{name} is not in the kinds table: {k:?}");
    }
    assert_eq!(k.len(), 14, "{k:?}");
    assert_eq!(lock_kinds(&doc).len(), 9, "{:?}", lock_kinds(&doc));
}

#[test]
fn status_gc_sweep_and_trim_print_the_documented_shapes() {
    let c = Copy::of(populated());
    let now = (T0 + 100 * DAY).to_string();
    let run = |args: &[&str]| {
        json(
            c.janitor(args)
                .env("__CARGO_TEST_LAST_USE_NOW", &now)
                .current_dir(c.dir.path().join("p1")),
        )
    };

    let s = run(&["status", "--json"]);
    let seen = assert_shape("status", &s);
    assert!(
        seen.contains("registry-src") && seen.contains("bin"),
        "{seen:?}"
    );
    assert_eq!(len(&s["registries"]), 1, "{s:#}");

    let g = run(&["gc", "--json", "-n"]);
    let seen = assert_shape("gc", &g);
    assert!(seen.contains("registry-src"), "{g:#}");

    // Sources used a minute before "now": the grace period keeps them (grace items).
    let g = json(
        c.janitor(&["gc", "--json", "-n", "--max-src-age", "0 days"])
            .env("__CARGO_TEST_LAST_USE_NOW", (T40 + 60).to_string()),
    );
    assert_shape("gc", &g);
    assert!(len(&g["grace"]["items"]) > 0, "{g:#}");

    // p1's target dir, unused for 10 days: units, its incremental cache, the whole dir.
    // (Target dirs are dated by the real clock, not cargo's test clock.)
    crate::sweep::age_times(&c.dir.path().join("p1/target"), 10);
    let run = |args: &[&str]| json(c.janitor(args).current_dir(c.dir.path().join("p1")));
    let s = run(&[
        "sweep",
        "--json",
        "-n",
        "--max-age",
        "1 day",
        "--incremental",
    ]);
    let seen = assert_shape("sweep", &s);
    assert!(
        seen.contains("unit") && seen.contains("incremental"),
        "{s:#}"
    );
    let s = run(&["sweep", "--json", "-n", "--all", "--max-age", "1 day"]);
    let seen = assert_shape("sweep", &s);
    assert!(seen.contains("target-dir"), "{s:#}");

    // p1 pins alpha 1.0.0: p2's alpha 2 and delta go from the home, p1's own units from its
    // target dir, and with --ci every source and the unpinned index entries.
    let t = run(&["trim", "--json", "-n", "--ci", "--grace", "0 seconds"]);
    let seen = assert_shape("trim", &t);
    for k in ["registry-crate", "registry-src", "index-entry", "unit"] {
        assert!(seen.contains(k), "{k}: {t:#}");
    }
    // Nothing of the Rust type names of old.
    assert!(!t.to_string().contains("RegistryCrate"), "{t:#}");
}

#[test]
fn locks_prints_the_documented_shape() {
    let c = Copy::of(populated());
    let lock = c.home.join(".package-cache");
    std::fs::write(&lock, "").unwrap();
    let _held = hold_with_flock(&lock, "-x");
    let target = c.dir.path().join("p1/target");
    let v = json(&mut c.janitor(&["locks", "--json", "--sample", "0", target.to_str().unwrap()]));
    assert_shape("locks", &v);
    let ours = v["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["path"] == lock.to_str().unwrap())
        .unwrap_or_else(|| panic!("the held lock is listed: {v:#}"));
    assert_eq!(len(&ours["holders"]), 1, "{v:#}");
    assert!(v.get("meaning").is_none(), "only with --message: {v:#}");

    let v = json(&mut c.janitor(&[
        "locks",
        "--json",
        "--sample",
        "0",
        "--message",
        "Blocking waiting for file lock on package cache",
    ]));
    assert_shape("locks", &v);
    assert!(v["meaning"].is_object(), "{v:#}");
}

#[test]
fn tidy_and_schedule_print_the_documented_shapes() {
    let c = Copy::of(populated());
    let p1 = c.dir.path().join("p1");
    // p1's target dir unused for 10 days; a budget of 1 byte takes everything it may, in
    // every tier (the limits then do not hold: exit 1). `--grace "0 seconds"`: the home's
    // entries were used when the fixture was built, seconds ago.
    crate::sweep::age_times(&p1.join("target"), 10);
    let out = c
        .janitor(&[
            "tidy",
            "--json",
            "-n",
            "--budget",
            "1 B",
            "--min-free",
            "1 B",
            "--hard",
            "--grace",
            "0 seconds",
        ])
        .current_dir(&p1)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seen = assert_shape("tidy", &v);
    for k in ["unit", "incremental", "registry-src", "registry-crate"] {
        assert!(seen.contains(k), "{k}: {v:#}");
    }
    assert_eq!(v["met"], false, "{v:#}");
    assert_eq!(v["min_free"], "1 B", "{v:#}");
    assert!(v["filesystems"][0]["min_free_bytes"].is_u64(), "{v:#}");
    let parts: Vec<&str> = (v["roots"].as_array().unwrap().iter())
        .map(|r| r["part"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["home", "target"], "{v:#}");
    let removed = v["removed"].as_array().unwrap();
    // Each root counts what the list removes from it.
    for r in v["roots"].as_array().unwrap() {
        let root = r["path"].as_str().unwrap();
        let n = (removed.iter())
            .filter(|x| x["path"].as_str().unwrap().starts_with(root))
            .count();
        assert_eq!(r["removed_units"], n as u64, "{root}: {v:#}");
    }
    // Nothing without a limit in reach: `removed` empty, `met` true, the shape the same.
    let v = json(
        c.janitor(&["tidy", "--json", "-n", "--budget", "1000 GiB"])
            .current_dir(&p1),
    );
    assert_shape("tidy", &v);
    assert_eq!(v["met"], true, "{v:#}");
    assert_eq!(v["min_free"], Value::Null, "{v:#}");

    // The schedule's files written to a directory of the test's (nothing activated).
    let units = c.dir.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    let dir = units.to_str().unwrap();
    let install = json(&mut c.janitor(&[
        "schedule",
        "install",
        "--platform",
        "systemd",
        "--dir",
        dir,
        "--json",
        "--",
        "--budget",
        "20 GiB",
    ]));
    assert_shape("schedule", &install);
    assert_eq!(install["platform"], "systemd", "{install:#}");
    assert_eq!(install["activated"], false, "{install:#}");
    assert!(len(&install["command"]) > 0, "{install:#}");
    let status = json(&mut c.janitor(&[
        "schedule",
        "status",
        "--platform",
        "systemd",
        "--dir",
        dir,
        "--json",
    ]));
    assert_shape("schedule", &status);
    let installed: Vec<bool> = (status["files"].as_array().unwrap().iter())
        .map(|f| f["installed"].as_bool().unwrap())
        .collect();
    assert_eq!(installed, [true, true], "{status:#}");
    let remove = json(&mut c.janitor(&[
        "schedule",
        "remove",
        "--platform",
        "launchd",
        "--dir",
        dir,
        "--json",
    ]));
    assert_shape("schedule", &remove);
    assert_eq!(remove["platform"], "launchd", "{remove:#}");
}
