//! Dry runs wait for nobody (they read a snapshot without Cargo's locks, and say so), and
//! `trim` asks before it removes more than a tenth of the cache.

use crate::support::*;

const SNAPSHOT: &str = "(a snapshot, read without waiting for Cargo's locks: builds may change it)";

#[test]
fn dry_runs_wait_for_nobody_and_say_they_are_a_snapshot() {
    let c = Copy::of(populated());
    // A build of p1 holds `.package-cache-mutate` shared and p1's build locks until `hold`
    // goes; a gc, trim or sweep that removes anything would wait for it.
    let (build, hold) = held_build(&c, "p1");
    let before = paths_under(&c.home);
    let p1 = c.dir.path().join("p1");
    let now = (T0 + 100 * DAY).to_string();
    let runs: [&[&str]; 3] = [
        &["gc", "-n"],
        // (`--grace "0 seconds"`: p1 was built moments ago; the dry run is to list it.)
        &["trim", "-n", "--grace", "0 seconds"],
        &["sweep", "-n", "--max-age", "0", "--grace", "0 seconds"],
    ];
    for args in runs {
        let out = c
            .janitor(args)
            .env("__CARGO_TEST_LAST_USE_NOW", &now)
            .current_dir(&p1)
            .output()
            .unwrap();
        assert_ok(&out, &args.join(" "));
        let err = stderr(&out);
        assert!(!err.contains("Blocking"), "{args:?} waited:\n{err}");
        assert!(
            stdout(&out).contains(SNAPSHOT),
            "{args:?}:\n{}",
            stdout(&out)
        );
        assert!(!stdout(&out).is_empty(), "{args:?}");
    }
    // The gc preview still lists what a real run would remove.
    let v = json(
        c.janitor(&["gc", "-n", "--json"])
            .env("__CARGO_TEST_LAST_USE_NOW", &now),
    );
    assert!(!v["removed"].as_array().unwrap().is_empty(), "{v:#}");
    std::fs::remove_file(&hold).unwrap();
    let built = build.wait_with_output().unwrap();
    assert_ok(&built, "the build the previews did not wait for");
    assert_eq!(paths_under(&c.home), before, "the previews removed nothing");
}

#[test]
fn trim_asks_before_removing_more_than_a_tenth_of_the_cache() {
    let c = Copy::of(populated());
    let p1 = c.dir.path().join("p1");
    let src = c.home.join("registry/src").join(c.registry_dir());
    let trim = |args: &[&str]| {
        c.janitor(&[&["trim", "--grace", "0 seconds"], args].concat())
            .current_dir(&p1)
            .output()
            .unwrap()
    };
    // p2's alpha 2.0.0 and delta (their .crate files and sources: 4 of the home's 13
    // entries) are not pinned by p1 and would go. Not on a terminal and no --yes: refused, nothing removed.
    let before = tree_state(&c.home);
    let out = trim(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let head = format!(
        "error: trim would remove 4 of the 13 entries in `{}` (",
        c.home.display()
    );
    let tail = "), more than a tenth; not on a terminal to ask: pass --yes to remove them (or \
                --dry-run to list them); nothing was removed\n";
    assert!(err.starts_with(&head) && err.ends_with(tail), "{err}");
    assert_eq!(
        tree_diff(&before, &tree_state(&c.home)),
        "",
        "nothing removed"
    );
    // A dry run lists without asking.
    assert_ok(&trim(&["-n"]), "trim -n");
    assert_eq!(tree_diff(&before, &tree_state(&c.home)), "");
    // --yes: removed.
    assert_ok(&trim(&["--yes"]), "trim --yes");
    assert!(!src.join("delta-1.0.0").exists());
    assert!(src.join("alpha-1.0.0").exists(), "pinned by p1");
    // Nothing more to remove: no question.
    assert_ok(&trim(&[]), "trim with nothing to remove");
    // --ci (a CI cache: nobody to ask) goes ahead without --yes.
    let c = Copy::of(populated());
    let out = c
        .janitor(&["trim", "--ci", "--grace", "0 seconds"])
        .current_dir(c.dir.path().join("p1"))
        .output()
        .unwrap();
    assert_ok(&out, "trim --ci");
}
