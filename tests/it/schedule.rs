//! `cargo janitor schedule`: the generated units, agent and task, always into a temp dir
//! (`--dir`): no test touches the machine's systemd, launchd or Task Scheduler.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.toml"), "").unwrap();
    let units = t.path().join("units");
    std::fs::create_dir_all(&units).unwrap();
    // A file that is not ours: remove leaves it.
    std::fs::write(units.join("other.service"), "[Service]\n").unwrap();
    (t, home, units)
}

#[test]
fn systemd_units_pass_systemd_analyze_and_remove_deletes_exactly_them() {
    let (t, home, units) = setup();
    let policy = t.path().join("policy.toml");
    // Limits every machine meets (a min-free percentage would make the dry run below fail
    // on a machine whose disk is fuller than that).
    std::fs::write(&policy, "budget = \"20 GiB\"\nmin-free = \"1 MiB\"\n").unwrap();
    let metrics = t.path().join("m.prom");
    let out = janitor_in(
        &home,
        t.path(),
        &[
            "schedule",
            "install",
            "--platform",
            "systemd",
            "--dir",
            units.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--metrics",
            metrics.to_str().unwrap(),
            "--every",
            "6h",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert_ok(&out, "schedule install");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["activated"], false);
    assert_eq!(
        names_in(&units),
        [
            "cargo-janitor-tidy.service",
            "cargo-janitor-tidy.timer",
            "other.service"
        ]
    );
    let service = std::fs::read_to_string(units.join("cargo-janitor-tidy.service")).unwrap();
    assert!(service.contains(&format!(
        "\"--cargo-home\" \"{}\" \"--quiet\" \"tidy\" \"--no-wait\" \"--policy\" \"{}\" \"--metrics\" \"{}\"",
        home.display(),
        policy.display(),
        metrics.display()
    )), "{service}");
    let timer = std::fs::read_to_string(units.join("cargo-janitor-tidy.timer")).unwrap();
    assert!(timer.contains("OnUnitActiveSec=21600s\n"), "{timer}");
    let out = command("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(units.join("cargo-janitor-tidy.service"))
        .arg(units.join("cargo-janitor-tidy.timer"))
        .output()
        .unwrap();
    assert_ok(&out, "systemd-analyze verify");
    assert_eq!(stderr(&out), "", "no warning either");
    // Nothing went to the real per-user place.
    assert!(!run_dir().home.join(".config/systemd").exists());

    // The command the unit runs works as written (a dry run of it).
    let exec: Vec<String> = v["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let out = command(&exec[0])
        .args(&exec[1..])
        .arg("--dry-run")
        .current_dir(t.path())
        .output()
        .unwrap();
    assert_ok(&out, "the unit's command");

    let status = |units: &Path| -> Value {
        json(&mut janitor_in(
            &home,
            t.path(),
            &[
                "schedule",
                "status",
                "--platform",
                "systemd",
                "--dir",
                units.to_str().unwrap(),
                "--json",
            ],
        ))
    };
    let s = status(&units);
    assert!(
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["installed"] == true)
    );
    let out = janitor_in(
        &home,
        t.path(),
        &[
            "schedule",
            "remove",
            "--platform",
            "systemd",
            "--dir",
            units.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_ok(&out, "schedule remove");
    assert_eq!(names_in(&units), ["other.service"]);
    let s = status(&units);
    assert!(
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["installed"] == false)
    );
}

#[test]
fn launchd_plist_and_task_xml_parse_and_run_the_same_command() {
    let (t, home, units) = setup();
    let args = ["--", "--budget", "5 GiB", "--hard"];
    for platform in ["launchd", "windows"] {
        let mut a = vec![
            "schedule",
            "install",
            "--platform",
            platform,
            "--dir",
            units.to_str().unwrap(),
            "--json",
        ];
        a.extend(args);
        let v = json(&mut janitor_in(&home, t.path(), &a));
        let file = v["files"][0]["path"].as_str().unwrap().to_owned();
        let expected: Vec<String> = v["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert!(
            expected.ends_with(&["--no-policy", "--budget", "5 GiB", "--hard"].map(String::from)),
            "{expected:?}"
        );
        let script = match platform {
            "launchd" => {
                "import plistlib,sys,json\np=plistlib.load(open(sys.argv[1],'rb'))\nassert p['Label']=='io.github.cargo-janitor.tidy'\nassert p['StartInterval']==86400\nprint(json.dumps(p['ProgramArguments']))"
            }
            _ => {
                "import xml.etree.ElementTree as E,sys,json\nns={'t':'http://schemas.microsoft.com/windows/2004/02/mit/task'}\nr=E.parse(sys.argv[1]).getroot()\nassert r.find('t:Triggers/t:TimeTrigger/t:Repetition/t:Interval',ns).text=='PT86400S'\nprint(json.dumps([r.find('t:Actions/t:Exec/t:Command',ns).text, r.find('t:Actions/t:Exec/t:Arguments',ns).text]))"
            }
        };
        let out = command("python3")
            .args(["-c", script, &file])
            .output()
            .unwrap();
        assert_ok(&out, platform);
        let got: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        match platform {
            "launchd" => assert_eq!(got, expected),
            _ => {
                assert_eq!(got[0], expected[0]);
                assert!(
                    got[1].ends_with("--no-policy --budget \"5 GiB\" --hard"),
                    "{}",
                    got[1]
                );
            }
        }
    }
    assert_eq!(
        names_in(&units),
        [
            "cargo-janitor-tidy.xml",
            "io.github.cargo-janitor.tidy.plist",
            "other.service"
        ]
    );
}

#[test]
fn bad_schedules_are_refused_and_write_nothing() {
    let (t, home, units) = setup();
    let d = units.to_str().unwrap();
    for (args, needle) in [
        (vec!["--platform", "systemd", "--dir", d], "no policy file"),
        (
            vec![
                "--platform",
                "systemd",
                "--dir",
                d,
                "--every",
                "10s",
                "--",
                "--budget",
                "1gb",
            ],
            "1 minute to 31 days",
        ),
        (
            vec![
                "--platform",
                "systemd",
                "--dir",
                d,
                "--",
                "--budget",
                "lots",
            ],
            "invalid size",
        ),
        (
            vec!["--platform", "systemd", "--dir", d, "--policy", "nope.toml"],
            "nope.toml",
        ),
        (
            vec!["--platform", "launchd", "--", "--budget", "1gb"],
            "--dir",
        ),
    ] {
        let mut a = vec!["schedule", "install"];
        a.extend(&args);
        let out = janitor_in(&home, t.path(), &a).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(names_in(&units), ["other.service"]);
}
